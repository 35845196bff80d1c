//! A peer serving a tampered block is refused and the node completes sync from an honest one,
//! in-process on the simulated network (`cluster_support`; the scripted peer is its
//! counterpart of `native/tests/common/fake_peer.rs`): for every invalid variant of block 3 in
//! the conformance chain (`vectors/chain.json`), a scripted peer answers a fresh node's sync
//! request with blocks 1, 2 and the variant, then points it to an honest node (PEER_LIST). The
//! fresh node must refuse the variant, say why in its log, score the peer as documented, and
//! end on the honest tip. The chain follows MiniLedger 0.2's stateRoot rule, so the nodes run
//! with compat mode's rules (`--compat miniledger-0.2`). Was the real-process
//! `native/tests/tampered_peer.rs` (27 process starts).

mod cluster_support;

use cluster_support::{envelope, Layout, Sim};
use miniledger_core::pipeline::Rules;
use miniledger_core::protocol::{Message, PeerInfo, PeerList};
use miniledger_core::validation::{Limits, ReplayRule, ValidatorSet};
use miniledger_core::{Block, Chain, Governance, Keypair, StateRootRule};
use serde_json::Value;
use std::collections::BTreeMap;

const CHAIN: &str = include_str!("vectors/chain.json");

/// The chain's blocks are stamped from 1,700,000,010,000 ms on, after the simulator's clock
/// starts: the nodes' wall clocks run a day ahead (else the honest blocks would be "future").
const DAY_MS: i64 = 86_400_000;
const WALL: u64 = 1_700_000_000_000 + DAY_MS as u64;

/// Compat mode's rules (`--compat miniledger-0.2`, as the native node sets them up).
fn compat_rules(proposer: &str) -> Rules {
    Rules {
        validators: ValidatorSet::new([proposer]),
        limits: Limits {
            replay: ReplayRule::TxHash,
            reserved_keys: false,
            ..Limits::default()
        },
        state_root: StateRootRule::MiniLedgerBefore,
        governance: Governance::Recorded,
    }
}

/// What core says of the variant under compat rules (on an in-memory chain), so the node can
/// be held to it: `Ok(Some(rule))` for the rule it breaks, `Ok(None)` if it does not decode,
/// `Err(())` if it is a valid block on a 0.2 chain.
fn verdict(proposer: &str, honest: &[Block], variant: &Value) -> Result<Option<String>, ()> {
    let Ok(block) = serde_json::from_value::<Block>(variant["block"].clone()) else {
        return Ok(None);
    };
    let rules = compat_rules(proposer);
    let mut chain = Chain::new(rules.validators, rules.limits, rules.state_root);
    for b in &honest[1..3] {
        chain.apply(b, WALL).unwrap();
    }
    match chain.apply(&block, WALL) {
        Ok(()) => Err(()),
        Err(e) => Ok(Some(e.rule.to_string())),
    }
}

#[test]
fn every_tampered_block_of_the_conformance_chain_is_rejected_and_sync_completes() {
    let vectors: Value = serde_json::from_str(CHAIN).unwrap();
    let proposer = vectors["proposer"]["publicKey"]
        .as_str()
        .unwrap()
        .to_string();
    let honest_json = vectors["blocks"].as_array().unwrap().clone();
    let honest: Vec<Block> = (honest_json.iter())
        .map(|b| serde_json::from_value(b.clone()).unwrap())
        .collect();
    let tip_hash = vectors["tipHash"].as_str().unwrap().to_string();
    let rules = compat_rules(&proposer);
    let variants = vectors["invalidVariants"].as_array().unwrap();
    assert_eq!(variants.len(), 27);
    let mut checked = 0;
    for (i, variant) in variants.iter().enumerate() {
        let name = variant["name"].as_str().unwrap();
        // On a 0.2 chain nonces are not checked (0.2 signs several transactions with one
        // nonce), so a validly signed transaction with a skipped nonce, in a block the proposer
        // signed, is a valid block there, and compat mode takes it (README, "Running beside
        // MiniLedger 0.2"). Without compat mode it is `tx.nonce-gap`
        // (`core/tests/conformance.rs`). Only that variant may be valid here.
        let Ok(expected) = verdict(&proposer, &honest, variant) else {
            assert_eq!(name, "tx_nonce_gap", "{name} is valid under compat rules");
            continue;
        };
        // n0: honest, blocks 1..=5 in its store. n1: fresh; knows only the scripted peer.
        let mut sim = Sim::layout(Layout {
            nodes: 2,
            validators: 0,
            seeds: vec![vec![], vec![]],
            started: vec![],
            extra_validators: Vec::new(),
        });
        for n in 0..2 {
            sim.configure(n, |c| {
                c.rules = rules.clone();
                c.produce = false;
                c.authenticated_consensus = false;
            });
            sim.set_wall_offset(n, DAY_MS);
        }
        sim.preload(0, &honest[1..], &rules);
        sim.keep_logs();
        let honest_peer = PeerInfo {
            node_id: sim.node_id(0),
            public_key: sim.public_key(0),
            address: Sim::address(0),
            org_id: "sim".into(),
        };
        let key = Keypair::from_seed([100 + i as u8; 32]);
        let me = key.clone();
        let (blocks, tampered) = (honest_json.clone(), variant["block"].clone());
        // Answers SYNC_REQUEST with the honest blocks of the range, block 3 replaced by the
        // variant (raw JSON: some variants are not even blocks), then advertises the honest node.
        let script = Box::new(move |message: Option<&Message>, _: &str, wall: u64| {
            let Some(Message::SyncRequest(range)) = message else {
                return Vec::new();
            };
            let served: Vec<String> = (range.from_height..=range.to_height.min(5))
                .map(|h| match h {
                    3 => tampered.to_string(),
                    h => blocks[h as usize].to_string(),
                })
                .collect();
            let response = format!(
                r#"{{"version":1,"type":"SYNC_RESPONSE","from":"{}","timestamp":{wall},"payload":{{"blocks":[{}],"hasMore":false}}}}"#,
                me.node_id(),
                served.join(",")
            );
            let peers = Message::PeerList(PeerList {
                peers: vec![honest_peer.clone()],
            });
            vec![response, envelope(&me, wall, peers)]
        });
        let fake = sim.add_fake(key.clone(), 5, script, None);
        sim.add_seed(1, &Sim::fake_address(fake));
        sim.start_node(0);
        sim.start_node(1);
        sim.run_until(30_000, &format!("{name}: n1 reaches the honest tip"), |s| {
            s.tip(1) == (5, tip_hash.clone())
        })
        .unwrap();
        let fake_id = key.node_id();
        let refusal = (sim.logs(1).iter())
            .find(|l| l.contains(fake_id) && l.starts_with("Warn"))
            .unwrap_or_else(|| {
                panic!(
                    "{name}: no refusal of the fake peer logged: {:?}",
                    sim.logs(1)
                )
            });
        match expected.as_deref() {
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
        let record = sim.misbehaviour(1, fake_id);
        let want: Option<BTreeMap<&str, u64>> = match expected.as_deref() {
            None => Some(BTreeMap::from([("malformedPayload", 1)])),
            Some("block.height" | "block.previous-hash" | "block.timestamp-future") => None,
            Some(_) => Some(BTreeMap::from([("invalidBlock", 1)])),
        };
        assert_eq!(record.as_ref().map(|r| r.offences.clone()), want, "{name}");
        assert!(record.is_none_or(|r| r.bans == 0), "{name}");
        // Block 3 is the honest one.
        assert_eq!(sim.block(1, 3).unwrap().hash, honest[3].hash, "{name}");
        checked += 1;
    }
    assert_eq!(checked, 26);
}
