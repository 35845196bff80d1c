//! A peer serving a tampered block is rejected and the node completes sync from an honest one,
//! over real sockets and SQLite: a scripted peer answers a fresh node's sync request with blocks
//! 1, 2 and a variant of block 3 in the conformance chain (`chain.json`), then points it to an
//! honest node (PEER_LIST). The fresh node must refuse the variant, say why in its log, and end
//! on the honest tip. The chain follows MiniLedger 0.2's stateRoot rule, so the nodes run with
//! `--compat miniledger-0.2` (which checks that rule while it is reproducible).
//!
//! Every variant is checked in-process (`core/tests/node_sync.rs`, on the cluster simulator);
//! here one (`state_root_wrong`) is, as the real-process smoke of the same path.

mod common;

use common::fake_peer::{envelope, FakePeer, Script};
use common::{now_ms, wait_until, NodeProcess};
use miniledger_core::protocol::{Message, PeerInfo, PeerList};
use miniledger_core::validation::{Limits, ReplayRule, ValidatorSet};
use miniledger_core::Governance;
use miniledger_core::{Block, Chain, Keypair, StateRootRule};
use miniledger_native::node::{apply_blocks, Rules};
use miniledger_native::storage::Store;
use serde_json::{json, Value};
use std::sync::Arc;

const CHAIN: &str = include_str!("../../core/tests/vectors/chain.json");

struct Fixture {
    vectors: Value,
    proposer: String,
    honest: Vec<Value>,
}

fn fixture() -> Fixture {
    let vectors: Value = serde_json::from_str(CHAIN).unwrap();
    let proposer = vectors["proposer"]["publicKey"]
        .as_str()
        .unwrap()
        .to_string();
    let honest = vectors["blocks"].as_array().unwrap().clone();
    Fixture {
        vectors,
        proposer,
        honest,
    }
}

/// Compat mode's rules (`--compat miniledger-0.2`): replays by transaction hash.
fn compat_limits() -> Limits {
    Limits {
        replay: ReplayRule::TxHash,
        ..Limits::default()
    }
}

/// What core says of the variant under compat mode's rules (checked on an in-memory chain), so
/// the node can be held to it: `Ok(Some(rule))` for the rule it breaks, `Ok(None)` if it does
/// not decode, `Err(())` if it is a valid block on a 0.2 chain.
fn verdict(f: &Fixture, variant: &Value) -> Result<Option<String>, ()> {
    let Ok(block) = serde_json::from_value::<Block>(variant["block"].clone()) else {
        return Ok(None);
    };
    let mut chain = Chain::new(
        ValidatorSet::new([f.proposer.as_str()]),
        compat_limits(),
        StateRootRule::MiniLedgerBefore,
    );
    for b in &f.honest[1..3] {
        chain
            .apply(&serde_json::from_value(b.clone()).unwrap(), now_ms())
            .unwrap();
    }
    match chain.apply(&block, now_ms()) {
        Ok(()) => Err(()),
        Err(e) => Ok(Some(e.rule.to_string())),
    }
}

fn expected_rule(f: &Fixture, variant: &Value) -> Option<String> {
    verdict(f, variant).expect("a tampered variant")
}

/// The honest node: chain.json's blocks 1..=5 in its store, serving them.
fn honest_node(f: &Fixture, compat: &[&str]) -> (NodeProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let blocks: Vec<Block> = f.honest[1..]
        .iter()
        .map(|b| serde_json::from_value(b.clone()).unwrap())
        .collect();
    let rules = Rules {
        validators: ValidatorSet::new([f.proposer.as_str()]),
        limits: Limits::default(),
        state_root: StateRootRule::MiniLedgerBefore,
        governance: Governance::Recorded,
    };
    let outcome = apply_blocks(&mut store, &blocks, &rules, now_ms());
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    drop(store);
    let node = NodeProcess::start_in("honest", dir.path(), None, compat);
    (node, dir)
}

/// Answers SYNC_REQUEST with the honest blocks of the range, block 3 replaced by `tampered`,
/// then advertises the honest node.
fn script(me: Keypair, honest: Vec<Value>, tampered: Value, honest_peer: PeerInfo) -> Arc<Script> {
    Arc::new(move |message, _| {
        let Some(Message::SyncRequest(range)) = message else {
            return Vec::new();
        };
        let blocks: Vec<String> = (range.from_height..=range.to_height.min(5))
            .map(|h| match h {
                3 => tampered.to_string(),
                h => honest[h as usize].to_string(),
            })
            .collect();
        let response = format!(
            r#"{{"version":1,"type":"SYNC_RESPONSE","from":"{}","timestamp":{},"payload":{{"blocks":[{}],"hasMore":false}}}}"#,
            me.node_id(),
            now_ms(),
            blocks.join(",")
        );
        let peers = Message::PeerList(PeerList {
            peers: vec![honest_peer.clone()],
        });
        vec![response, envelope(&me, peers)]
    })
}

#[test]
fn a_tampered_block_is_rejected_and_sync_completes_from_an_honest_peer() {
    let f = fixture();
    let compat = [
        "--compat",
        "miniledger-0.2",
        "--validators",
        f.proposer.as_str(),
    ];
    let (honest, _dir) = honest_node(&f, &compat);
    let tip_hash = f.vectors["tipHash"].as_str().unwrap();
    assert_eq!(honest.tip(), (5, tip_hash.to_string()));
    let identity = honest.get_ok("/identity");
    let honest_peer = PeerInfo {
        node_id: identity["nodeId"].as_str().unwrap().into(),
        public_key: identity["publicKey"].as_str().unwrap().into(),
        address: honest.p2p.clone(),
        org_id: "honest".into(),
    };

    let variants = f.vectors["invalidVariants"].as_array().unwrap();
    assert_eq!(variants.len(), 27);
    let smoke = |v: &&Value| v["name"] == "state_root_wrong";
    for (i, variant) in variants.iter().enumerate().filter(|(_, v)| smoke(v)) {
        let name = variant["name"].as_str().unwrap();
        // On a 0.2 chain nonces are not checked (0.2 signs several transactions with one
        // nonce), so a validly signed transaction with a skipped nonce, in a block the
        // proposer signed, is a valid block there, and compat mode takes it (README, "Running
        // beside MiniLedger 0.2"). Without compat mode it is `tx.nonce-gap`
        // (`core/tests/conformance.rs`). Only that variant may be valid here.
        if verdict(&f, variant).is_err() {
            assert_eq!(name, "tx_nonce_gap", "{name} is valid under compat rules");
            continue;
        }
        let key = Keypair::from_seed([100 + i as u8; 32]);
        let fake = FakePeer::start(
            key.clone(),
            5,
            script(
                key,
                f.honest.clone(),
                variant["block"].clone(),
                honest_peer.clone(),
            ),
        );
        let node = NodeProcess::start(name, Some(&fake.address), &compat);
        wait_until(&format!("{name}: the node reaches the honest tip"), || {
            node.tip() == (5, tip_hash.to_string())
        });
        let log = node.log();
        let refusal = log
            .lines()
            .find(|l| l.contains(fake.node_id()) && l.contains("WARN"))
            .unwrap_or_else(|| panic!("{name}: no refusal of the fake peer logged:\n{log}"));
        match expected_rule(&f, variant).as_deref() {
            // A block at the wrong height never reaches validation: the sync layer refuses a
            // response whose heights do not follow the request (or that does not even decode).
            Some("block.height") | None => assert!(
                refusal.contains("bad sync response")
                    || refusal.contains("malformed SYNC_RESPONSE"),
                "{name}: expected a refused sync response in {refusal:?}"
            ),
            Some(rule) => assert!(
                refusal.contains(rule),
                "{name}: expected {rule} in {refusal:?}"
            ),
        }
        // A forged block is an offence of the peer that served it (one does not ban); a block
        // that does not follow (height, previous hash) or a skewed clock could be an honest
        // peer's; one that does not even decode is a malformed payload.
        let peers = node.get_ok("/peers");
        let record = peers["misbehaviour"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["nodeId"] == fake.node_id());
        let expected = match expected_rule(&f, variant).as_deref() {
            None => Some(json!({"malformedPayload": 1})),
            Some("block.height" | "block.previous-hash" | "block.timestamp-future") => None,
            Some(_) => Some(json!({"invalidBlock": 1})),
        };
        assert_eq!(
            record.map(|r| r["offences"].clone()),
            expected,
            "{name}: {peers}"
        );
        assert!(record.is_none_or(|r| r["bans"] == 0), "{name}: {peers}");
        // Block 3 is the honest one.
        let stored = node.get_ok("/blocks/3");
        assert_eq!(stored["hash"], f.honest[3]["hash"], "{name}");
        eprintln!("{name}: {}", refusal.trim());
    }
}
