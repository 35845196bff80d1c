//! The node's block application: a synced run is validated block by block over the effects of
//! the earlier blocks, and only its valid prefix is committed.

mod common;

use common::now_ms;
use miniledger_core::validation::{Limits, Rule, ValidatorSet};
use miniledger_core::Governance;
use miniledger_core::{Block, Keypair, PayloadBody, StateRootRule, Transaction};
use miniledger_native::node::{apply_block, apply_blocks, ApplyError, Rules};
use miniledger_native::storage::Reads;
use miniledger_native::storage::Store;
use tempfile::TempDir;

fn proposer() -> Keypair {
    Keypair::from_seed([200; 32])
}

fn rules() -> Rules {
    Rules {
        validators: ValidatorSet::new([proposer().public_hex()]),
        limits: Limits::default(),
        state_root: StateRootRule::Tree,
        governance: Governance::OnChain,
    }
}

fn set(sender: &Keypair, nonce: u64, k: &str, value_json: &str) -> Transaction {
    let body = PayloadBody::state_set(k, value_json).unwrap();
    Transaction::new_signed(sender, nonce, 1_000 + nonce, body)
}

/// Consecutive blocks on the store's tip, one per entry of `txs`, with correct state roots.
fn chain(store: &Store, txs: Vec<Vec<Transaction>>) -> Vec<Block> {
    common::chain_on(store, &proposer(), txs)
}

#[test]
fn a_run_sees_its_own_earlier_blocks() {
    let dir = TempDir::new().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let a = Keypair::from_seed([1; 32]);
    let run = chain(
        &store,
        vec![
            vec![set(&a, 0, "k", "1")],
            vec![set(&a, 1, "k", "2")],
            vec![set(&a, 2, "k", "3"), set(&a, 3, "j", "1")],
        ],
    );
    let outcome = apply_blocks(&mut store, &run, &rules(), now_ms());
    assert!(outcome.error.is_none(), "{outcome:?}");
    assert_eq!(outcome.committed, 3);
    assert_eq!(store.tip(), run[2].header());
    assert_eq!(store.state_entry("k").unwrap().unwrap().version, 3);
    assert_eq!(store.nonce(a.public_hex()).unwrap(), 4);

    // The next single block follows on as usual; an empty run does nothing.
    let next = chain(&store, vec![vec![set(&a, 4, "k", "4")]]);
    apply_block(&mut store, &next[0], &rules(), now_ms()).unwrap();
    let outcome = apply_blocks(&mut store, &[], &rules(), now_ms());
    assert_eq!((outcome.committed, outcome.error.is_none()), (0, true));
    assert_eq!(store.height(), 4);
}

#[test]
fn only_the_prefix_before_an_invalid_block_is_committed() {
    let dir = TempDir::new().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let a = Keypair::from_seed([1; 32]);
    // Block 2 replays the nonce block 1 used; block 3 would be fine on its own.
    let run = chain(
        &store,
        vec![
            vec![set(&a, 0, "k", "1")],
            vec![set(&a, 0, "k", "2")],
            vec![set(&a, 1, "other", "1")],
        ],
    );
    let outcome = apply_blocks(&mut store, &run, &rules(), now_ms());
    assert_eq!(outcome.committed, 1);
    match outcome.error {
        Some(ApplyError::Invalid { height: 2, error }) => assert_eq!(error.rule, Rule::TxReplay),
        other => panic!("expected block 2 to be refused as a replay, got {other:?}"),
    }
    assert_eq!(store.tip(), run[0].header());
    assert_eq!(store.state_entry("k").unwrap().unwrap().value, "1");
    assert_eq!(store.state_entry("other").unwrap(), None);
    assert_eq!(store.nonce(a.public_hex()).unwrap(), 1);

    // A run whose first block is invalid commits nothing.
    let bad = chain(&store, vec![vec![set(&a, 5, "k", "9")]]);
    let outcome = apply_blocks(&mut store, &bad, &rules(), now_ms());
    assert_eq!(outcome.committed, 0);
    assert!(
        matches!(outcome.error, Some(ApplyError::Invalid { height: 2, .. })),
        "{outcome:?}"
    );
    assert_eq!(store.height(), 1);
}

#[test]
fn a_block_with_a_wrong_state_root_is_refused_and_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let a = Keypair::from_seed([1; 32]);
    let good = chain(&store, vec![vec![set(&a, 0, "k", "1")]]).remove(0);
    let forged = Block::build(
        &store.tip(),
        good.timestamp,
        good.transactions.clone(),
        miniledger_core::hash::sha256_hex("not the state"),
        &proposer(),
    );
    let err = apply_block(&mut store, &forged, &rules(), now_ms()).unwrap_err();
    match err {
        ApplyError::Invalid { height: 1, error } => assert_eq!(error.rule, Rule::BlockStateRoot),
        other => panic!("expected a stateRoot refusal, got {other:?}"),
    }
    assert_eq!((store.height(), store.state_entry("k").unwrap()), (0, None));
    apply_block(&mut store, &good, &rules(), now_ms()).expect("the honest block");
    assert_eq!(store.state_entry("k").unwrap().unwrap().value, "1");
}

#[test]
fn a_wrong_state_root_inside_a_run_commits_only_the_blocks_before_it() {
    let dir = TempDir::new().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let a = Keypair::from_seed([1; 32]);
    let honest = chain(
        &store,
        vec![vec![set(&a, 0, "k", "1")], vec![set(&a, 1, "k", "2")]],
    );
    // Block 2 claims another root; block 3 builds on it (its own root is never looked at).
    let forged = Block::build(
        &honest[0].header(),
        honest[1].timestamp,
        honest[1].transactions.clone(),
        miniledger_core::hash::sha256_hex("not the state"),
        &proposer(),
    );
    let after = Block::build(
        &forged.header(),
        forged.timestamp,
        vec![set(&a, 2, "other", "1")],
        forged.state_root.clone(),
        &proposer(),
    );
    let run = [honest[0].clone(), forged, after];
    let outcome = apply_blocks(&mut store, &run, &rules(), now_ms());
    assert_eq!(outcome.committed, 1, "{outcome:?}");
    match outcome.error {
        Some(ApplyError::Invalid { height: 2, error }) => {
            assert_eq!(error.rule, Rule::BlockStateRoot)
        }
        other => panic!("expected block 2's stateRoot to be refused, got {other:?}"),
    }
    assert_eq!(store.tip(), honest[0].header());
    assert_eq!(store.state_entry("k").unwrap().unwrap().value, "1");
    assert_eq!(store.state_entry("other").unwrap(), None);
    assert_eq!(store.nonce(a.public_hex()).unwrap(), 1);
    // The stored tree is block 1's: the honest block 2 applies on it.
    let outcome = apply_blocks(&mut store, &honest[1..], &rules(), now_ms());
    assert_eq!(
        (outcome.committed, outcome.error.is_none()),
        (1, true),
        "{outcome:?}"
    );
    assert_eq!(store.state_entry("k").unwrap().unwrap().value, "2");
}
