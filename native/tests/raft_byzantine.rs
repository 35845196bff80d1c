//! Raft against a scripted validator (a FakePeer whose key is in `--validators`), with real
//! node processes on loopback:
//! - a "leader" whose block is invalid is not followed: the real validators refuse its entry,
//!   never commit it, elect one of themselves and keep committing;
//! - a follower forwards a pending transaction again, periodically, to a leader that dropped
//!   the first copy, without any leader change.

mod common;

use common::fake_peer::{envelope, FakePeer};
use common::raft::{agreed_leader, consensus, identities, start_dialing};
use common::{wait_until, wait_until_within};
use miniledger_core::protocol::{AppendEntries, AppendEntriesReply, LogEntry, Message};
use miniledger_core::{Block, Envelope, Keypair};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The fake validator's unprompted frames go out this often.
const TICK: Duration = Duration::from_millis(100);

/// Every AppendEntries reply the fake received, with its sender.
type Replies = Arc<Mutex<Vec<(String, AppendEntriesReply)>>>;

#[test]
fn a_leader_proposing_an_invalid_block_is_not_followed() {
    let (dirs, mut keys) = identities(2);
    let fake_key = Keypair::from_seed([42; 32]);
    keys.push(fake_key.public_hex().to_string());
    // The claim to lead, once armed: sent on every connection each tick.
    let claim: Arc<Mutex<Option<String>>> = Arc::default();
    let replies: Replies = Arc::default();
    let recorded = replies.clone();
    let script = move |message: Option<&Message>, text: &str| {
        if let Some(Message::AppendEntriesReply(r)) = message {
            let from = Envelope::decode(text).unwrap().from;
            recorded.lock().unwrap().push((from, r.clone()));
        }
        Vec::new()
    };
    let armed = claim.clone();
    let ticker = move || armed.lock().unwrap().iter().cloned().collect();
    let fake = FakePeer::start_ticking(
        fake_key.clone(),
        0,
        Arc::new(script),
        Some((TICK, Arc::new(ticker))),
    );
    let a = start_dialing(
        "A",
        dirs[0].path(),
        &keys,
        std::slice::from_ref(&fake.address),
    );
    let b = start_dialing(
        "B",
        dirs[1].path(),
        &keys,
        &[a.p2p.clone(), fake.address.clone()],
    );
    let nodes = [&a, &b];
    let ids = [a.node_id(), b.node_id()];
    // Two of three validators: the real nodes elect without the fake.
    let mut leader = None;
    wait_until("a real leader", || {
        leader = agreed_leader(&nodes);
        leader.is_some()
    });
    let (code, answer) = a.post("/tx?wait=commit", &json!({"key": "before", "value": 1}));
    assert_eq!(code, 200, "{answer}");
    wait_until("both connected to the fake", || {
        nodes
            .iter()
            .all(|n| n.peer_ids().iter().any(|id| id == fake.node_id()))
    });
    // A settled log: the fake's entry must chain on it to be checked at all.
    wait_until("a settled, identical log", || {
        let views: Vec<_> = nodes.iter().map(|n| consensus(n)).collect();
        views
            .iter()
            .all(|v| v["lastIndex"] == v["commitIndex"] && v["lastIndex"] == views[0]["lastIndex"])
            && a.tip() == b.tip()
            && a.tip().0 == views[0]["commitIndex"]
    });
    let view = consensus(&a);
    let (height, last_term) = (a.tip().0, view["lastTerm"].as_u64().unwrap());
    let claim_term = view["term"].as_u64().unwrap() + 10;
    let parent: Block = serde_json::from_value(a.get_ok(&format!("/blocks/{height}"))).unwrap();
    // Signed by a validator, chained correctly, but with a stateRoot no execution gives.
    let bad = Block::build(
        &parent.header(),
        parent.timestamp + 1,
        Vec::new(),
        "ab".repeat(32),
        &fake_key,
    );
    let ae = AppendEntries {
        term: claim_term,
        leader_id: fake.node_id().to_string(),
        prev_log_index: height,
        prev_log_term: last_term,
        entries: vec![LogEntry {
            term: claim_term,
            index: height + 1,
            block: bad.clone(),
        }],
        leader_commit: height,
        first_index: None,
        ..AppendEntries::default()
    };
    *claim.lock().unwrap() = Some(envelope(&fake_key, Message::AppendEntries(ae)));

    wait_until(
        "both real nodes refused the entry in the claimed term",
        || {
            let replies = replies.lock().unwrap();
            ids.iter().all(|id| {
                replies
                    .iter()
                    .any(|(from, r)| from == id && r.term == claim_term && !r.success)
            })
        },
    );
    let rejection = format!("raft:rejected entry {} from {}", height + 1, fake.node_id());
    for n in nodes {
        let log = n.log();
        let line = log
            .lines()
            .find(|l| l.contains(&rejection))
            .unwrap_or_else(|| panic!("{}: no rejection logged:\n{log}", n.name));
        assert!(line.contains("stateRoot"), "{line}");
    }

    // The real nodes elect one of themselves in a later term and keep committing.
    let mut leader = None;
    wait_until_within("a real leader after the claim", common::DEADLINE, || {
        leader = agreed_leader(&nodes).filter(|&l| {
            consensus(nodes[l])["term"]
                .as_u64()
                .is_some_and(|t| t > claim_term)
        });
        leader.is_some()
    });
    for (i, n) in nodes.iter().enumerate() {
        let (code, answer) = n.post("/tx?wait=commit", &json!({"key": "after", "value": i}));
        assert_eq!(code, 200, "{answer}");
    }
    wait_until("identical tips", || a.tip() == b.tip());
    for n in nodes {
        let block = n.get_ok(&format!("/blocks/{}", height + 1));
        assert_ne!(block["hash"], bad.hash.as_str(), "{}", n.name);
        assert_eq!(n.get_ok("/state")["total"], 2);
    }
    let replies = replies.lock().unwrap();
    assert!(
        replies.iter().all(|(_, r)| !r.success),
        "a real node acknowledged the fake leader: {replies:?}"
    );
}

#[test]
fn a_pending_transaction_is_forwarded_again_to_a_leader_that_dropped_it() {
    let (dirs, mut keys) = identities(1);
    let fake_key = Keypair::from_seed([43; 32]);
    keys.push(fake_key.public_hex().to_string());
    // The fake leads term 1 on genesis (heartbeats only) and drops every forwarded transaction.
    let forwarded: Arc<Mutex<Vec<String>>> = Arc::default();
    let recorded = forwarded.clone();
    let script = move |message: Option<&Message>, _: &str| {
        if let Some(Message::TxForward(m)) = message {
            recorded.lock().unwrap().push(m.transaction.hash.clone());
        }
        Vec::new()
    };
    let heartbeat = envelope(
        &fake_key,
        Message::AppendEntries(AppendEntries {
            term: 1,
            leader_id: fake_key.node_id().to_string(),
            prev_log_index: 0,
            prev_log_term: 0,
            entries: Vec::new(),
            leader_commit: 0,
            first_index: None,
            ..AppendEntries::default()
        }),
    );
    let fake = FakePeer::start_ticking(
        fake_key.clone(),
        0,
        Arc::new(script),
        Some((TICK, Arc::new(move || vec![heartbeat.clone()]))),
    );
    let node = start_dialing(
        "F",
        dirs[0].path(),
        &keys,
        std::slice::from_ref(&fake.address),
    );
    wait_until("the node follows the fake leader", || {
        let view = consensus(&node);
        view["leader"] == fake.node_id() && view["role"] == "follower"
    });
    let (code, answer) = node.post("/tx", &json!({"key": "k", "value": 1}));
    assert_eq!(code, 202, "{answer}");
    let hash = answer["hash"].as_str().unwrap().to_string();
    wait_until("the transaction forwarded twice", || {
        forwarded
            .lock()
            .unwrap()
            .iter()
            .filter(|h| **h == hash)
            .count()
            >= 2
    });
    // Without a leader change in between (which forwards everything anyway).
    let view = consensus(&node);
    assert_eq!(view["term"], 1);
    assert_eq!(view["leader"], fake.node_id());
    let changes = node.log().matches("raft:leader ").count();
    assert_eq!(changes, 1, "{}", node.log());
    assert_eq!(node.status()["mempool"], 1);
}
