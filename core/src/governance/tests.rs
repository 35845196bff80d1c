use super::*;
use crate::model::{Block, Transaction};
use crate::state::MemoryState;
use crate::Keypair;
use serde_json::value::RawValue;

fn key(n: u8) -> Keypair {
    Keypair::from_seed([n; 32])
}

fn pk(n: u8) -> String {
    key(n).public_hex().to_string()
}

fn raw(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.into()).unwrap()
}

fn propose(by: u8, nonce: u64, action: &str) -> Transaction {
    let body = PayloadBody::GovernancePropose {
        title: "t".into(),
        description: "d".into(),
        action: raw(action),
    };
    Transaction::new_signed(&key(by), nonce, 1_700_000_000_000, body)
}

fn add(by: u8, nonce: u64, who: u8) -> Transaction {
    propose(
        by,
        nonce,
        &format!(r#"{{"type":"add-peer","publicKey":"{}"}}"#, pk(who)),
    )
}

fn remove(by: u8, nonce: u64, who: u8) -> Transaction {
    propose(
        by,
        nonce,
        &format!(r#"{{"type":"remove-peer","publicKey":"{}"}}"#, pk(who)),
    )
}

fn vote(by: u8, nonce: u64, id: &str, yes: bool) -> Transaction {
    let body = PayloadBody::GovernanceVote {
        proposal_id: id.into(),
        vote: yes,
    };
    Transaction::new_signed(&key(by), nonce, 1_700_000_000_000, body)
}

/// A chain's state under governance, block by block.
struct Net {
    genesis: Vec<String>,
    state: MemoryState,
    height: u64,
}

impl Net {
    fn new(validators: &[u8]) -> Net {
        let mut genesis: Vec<String> = validators.iter().map(|&n| pk(n)).collect();
        genesis.sort();
        Net {
            genesis,
            state: MemoryState::default(),
            height: 0,
        }
    }

    /// Executes a block of `txs`; returns its change and each transaction's receipt.
    fn block(&mut self, txs: Vec<Transaction>) -> (Option<ConfigChange>, Vec<String>) {
        self.height += 1;
        let mut block = Block::genesis();
        block.height = self.height;
        block.transactions = txs;
        let mut delta = StateDelta::new();
        let change = execute(&block, &self.state, &mut delta, &self.genesis);
        let receipts = block
            .transactions
            .iter()
            .map(|tx| delta[&receipt_key(&tx.hash)].clone().unwrap().value)
            .collect();
        self.state.apply(delta);
        (change, receipts)
    }

    fn validators(&self) -> Vec<String> {
        validators(&self.state, &self.genesis)
    }

    fn proposal(&self, id: &str) -> Proposal {
        proposal(&self.state, id).unwrap()
    }
}

fn failed(receipt: &str) -> &str {
    let start = receipt.find("governance.").expect(receipt);
    let rest = &receipt[start..];
    &rest[..rest.find(':').unwrap()]
}

#[test]
fn a_lone_validator_adds_a_second_by_proposing() {
    let mut net = Net::new(&[1]);
    let tx = add(1, 0, 2);
    let (change, receipts) = net.block(vec![tx.clone()]);
    assert_eq!(change, Some(ConfigChange::AddValidator(pk(2))));
    assert!(
        receipts[0].contains(r#""proposalStatus":"approved""#),
        "{}",
        receipts[0]
    );
    let mut both = vec![pk(1), pk(2)];
    both.sort();
    assert_eq!(net.validators(), both);
    let p = net.proposal(&tx.hash);
    assert_eq!(
        (p.status, p.decided_at, p.created_at),
        (Status::Approved, Some(1), 1)
    );
    assert_eq!(p.votes.get(&pk(1)), Some(true), "the proposer votes yes");
}

#[test]
fn a_strict_majority_of_the_set_in_force_approves() {
    let mut net = Net::new(&[1, 2, 3, 4]);
    let tx = add(1, 0, 5);
    let (change, _) = net.block(vec![tx.clone()]);
    assert_eq!(change, None);
    let (change, _) = net.block(vec![vote(2, 0, &tx.hash, true)]);
    assert_eq!(change, None, "2 of 4 is not more than half");
    assert_eq!(net.proposal(&tx.hash).status, Status::Active);
    let (change, _) = net.block(vec![vote(3, 0, &tx.hash, true)]);
    assert_eq!(change, Some(ConfigChange::AddValidator(pk(5))));
    assert_eq!(net.validators().len(), 5);
    // The new validator votes from the next block on.
    let tx2 = remove(5, 0, 4);
    let (_, receipts) = net.block(vec![tx2.clone()]);
    assert!(receipts[0].contains("active"), "{}", receipts[0]);
}

#[test]
fn no_votes_reject_once_approval_is_impossible() {
    let mut net = Net::new(&[1, 2, 3]);
    let tx = add(1, 0, 4);
    net.block(vec![tx.clone()]);
    net.block(vec![vote(2, 0, &tx.hash, false)]);
    assert_eq!(net.proposal(&tx.hash).status, Status::Active);
    let (change, _) = net.block(vec![vote(3, 0, &tx.hash, false)]);
    assert_eq!(change, None);
    assert_eq!(net.proposal(&tx.hash).status, Status::Rejected);
    assert_eq!(net.validators().len(), 3);
}

#[test]
fn refusals_are_named_and_change_nothing_but_the_receipt() {
    let mut net = Net::new(&[1, 2, 3]);
    let tx = add(1, 0, 4);
    net.block(vec![tx.clone()]);
    let before = net.proposal(&tx.hash);
    let cases: Vec<(Transaction, &str)> = vec![
        (vote(9, 0, &tx.hash, true), "governance.not-validator"),
        (add(9, 1, 5), "governance.not-validator"),
        (vote(1, 1, &tx.hash, true), "governance.double-vote"),
        (
            vote(2, 0, &"ab".repeat(32), true),
            "governance.unknown-proposal",
        ),
        (add(2, 1, 3), "governance.already-validator"),
        (remove(2, 2, 7), "governance.unknown-validator"),
        (
            propose(2, 3, r#"{"type":"add-peer","publicKey":"zz"}"#),
            "governance.malformed-key",
        ),
        (
            propose(
                2,
                4,
                &format!(
                    r#"{{"type":"add-peer","publicKey":"{}"}}"#,
                    pk(5).to_uppercase()
                ),
            ),
            "governance.malformed-key",
        ),
        (
            propose(2, 5, r#"{"type":"mint","amount":5}"#),
            "governance.action",
        ),
        (
            propose(
                2,
                6,
                r#"{"type":"update-config","key":"chainName","value":1}"#,
            ),
            "governance.action",
        ),
    ];
    for (tx, rule) in cases {
        let state = net.state.clone();
        let (change, receipts) = net.block(vec![tx.clone()]);
        assert_eq!(failed(&receipts[0]), rule, "{}", receipts[0]);
        assert_eq!(change, None);
        let mut expected = state.clone();
        let mut delta = StateDelta::new();
        delta.insert(
            receipt_key(&tx.hash),
            Some(StateEntry {
                value: receipts[0].clone(),
                version: 1,
            }),
        );
        expected.apply(delta);
        assert_eq!(net.state, expected, "{rule}: only the receipt is written");
        // The API's admission check says the same.
        let err = check(&tx, net.height + 1, &state, &net.genesis).unwrap_err();
        assert_eq!(err.to_string().split(':').next(), Some(rule));
    }
    assert_eq!(net.proposal(&tx.hash), before);
}

#[test]
fn decided_and_expired_proposals_take_no_votes() {
    let mut net = Net::new(&[1, 2, 3]);
    let tx = add(1, 0, 4);
    net.block(vec![tx.clone(), vote(2, 0, &tx.hash, true)]);
    assert_eq!(net.proposal(&tx.hash).status, Status::Approved);
    let (_, r) = net.block(vec![vote(3, 0, &tx.hash, true)]);
    assert_eq!(failed(&r[0]), "governance.decided");

    let late = add(1, 1, 5);
    net.block(vec![late.clone()]);
    net.height += VOTING_PERIOD_BLOCKS;
    let (_, r) = net.block(vec![vote(2, 1, &late.hash, true)]);
    assert_eq!(failed(&r[0]), "governance.expired");
    assert_eq!(
        net.proposal(&late.hash).status_at(net.height),
        Status::Expired
    );
}

#[test]
fn the_last_validator_cannot_be_removed_and_one_change_per_block() {
    let mut net = Net::new(&[1]);
    let (_, r) = net.block(vec![remove(1, 0, 1)]);
    assert_eq!(failed(&r[0]), "governance.last-validator");
    let mut net = Net::new(&[1, 2, 3, 4, 5]);
    let (a, b) = (remove(1, 0, 4), remove(1, 1, 5));
    net.block(vec![
        a.clone(),
        b.clone(),
        vote(2, 0, &a.hash, true),
        vote(2, 1, &b.hash, true),
    ]);
    let (change, r) = net.block(vec![vote(3, 0, &a.hash, true), vote(3, 1, &b.hash, true)]);
    assert_eq!(change, Some(ConfigChange::RemoveValidator(pk(4))));
    assert_eq!(failed(&r[1]), "governance.change-in-block");
    assert_eq!(
        net.proposal(&b.hash).status,
        Status::Active,
        "the vote can come again"
    );
    assert_eq!(net.validators().len(), 4);
}

#[test]
fn a_validator_removes_itself_and_its_votes_stop_counting() {
    let mut net = Net::new(&[1, 2, 3]);
    let other = add(3, 0, 4); // 3 votes yes, then leaves
    net.block(vec![other.clone()]);
    let tx = remove(1, 0, 3);
    net.block(vec![tx.clone()]);
    let (change, _) = net.block(vec![vote(2, 0, &tx.hash, true)]);
    assert_eq!(change, Some(ConfigChange::RemoveValidator(pk(3))));
    // {1, 2} now: 3's yes on `other` no longer counts; 1 alone is not a majority of 2.
    let (change, _) = net.block(vec![vote(1, 1, &other.hash, true)]);
    assert_eq!(change, None);
    assert_eq!(net.proposal(&other.hash).status, Status::Active);
    let (change, _) = net.block(vec![vote(2, 1, &other.hash, true)]);
    assert_eq!(change, Some(ConfigChange::AddValidator(pk(4))));
}

#[test]
fn update_config_is_stored_and_stored_proposals_read_back() {
    let mut net = Net::new(&[1]);
    let tx = propose(
        1,
        0,
        r#"{"value":["acme"],"type":"update-config","key":"allowedOrgs"}"#,
    );
    let (change, r) = net.block(vec![tx.clone()]);
    assert_eq!(change, None, "{}", r[0]);
    assert_eq!(
        net.state.get("_gov:config:allowedOrgs").unwrap().value,
        r#"["acme"]"#
    );
    let p = net.proposal(&tx.hash);
    let json: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
    assert_eq!(json["type"], "update-config");
    assert_eq!(json["status"], "approved");
    assert_eq!(json["id"], tx.hash.as_str());
    assert_eq!(json["votes"][pk(1)], true);
}
