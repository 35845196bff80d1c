//! Raft against a scripted validator, in-process on the simulated network (`cluster_support`'s
//! scripted peers, the in-process counterpart of `native/tests/common/fake_peer.rs`):
//! - a "leader" whose block is invalid is not followed: the real validators refuse its entry,
//!   never commit it, elect one of themselves and keep committing;
//! - a follower forwards a pending transaction again, periodically, to a leader that dropped the
//!   first copy, without any leader change.
//!
//! Were the real-process `native/tests/raft_byzantine.rs`.

mod cluster_support;

use cluster_support::{envelope, Layout, Sim};
use miniledger_core::protocol::{AppendEntries, AppendEntriesReply, LogEntry, Message};
use miniledger_core::raft::Role;
use miniledger_core::{Block, Envelope, Keypair};
use std::cell::RefCell;
use std::rc::Rc;

/// The fake validator's unprompted frames go out this often (ms).
const TICK_MS: u64 = 100;

#[test]
fn a_leader_proposing_an_invalid_block_is_not_followed() {
    let fake_key = Keypair::from_seed([42; 32]);
    let mut sim = Sim::layout(Layout {
        nodes: 2,
        validators: 2,
        seeds: vec![vec![], vec![0]],
        started: vec![],
        extra_validators: vec![fake_key.public_hex().to_string()],
    });
    sim.keep_logs();
    // Every AppendEntries reply the fake receives, with its sender.
    let replies: Rc<RefCell<Vec<(String, AppendEntriesReply)>>> = Rc::default();
    let recorded = replies.clone();
    let script = Box::new(move |message: Option<&Message>, text: &str, _wall: u64| {
        if let Some(Message::AppendEntriesReply(r)) = message {
            let from = Envelope::decode(text).unwrap().from;
            recorded.borrow_mut().push((from, r.clone()));
        }
        Vec::new()
    });
    // The claim to lead, once armed: sent on every connection each tick.
    let claim: Rc<RefCell<Option<String>>> = Rc::default();
    let armed = claim.clone();
    let ticker = Box::new(move |_wall: u64| armed.borrow().iter().cloned().collect());
    let fake = sim.add_fake(fake_key.clone(), 0, script, Some((TICK_MS, ticker)));
    for i in 0..2 {
        sim.add_seed(i, &Sim::fake_address(fake));
        sim.start_node(i);
    }
    let fake_id = fake_key.node_id().to_string();
    // Two of three validators: the real nodes elect without the fake.
    let leader = sim.await_leader(&[0, 1], 10_000).unwrap();
    sim.commit_set(leader, "before", "1", 10_000).unwrap();
    sim.run_until(
        10_000,
        "both connected to the fake, a settled identical log",
        |s| {
            let views: Vec<_> = (0..2).map(|i| s.raft_status(i).unwrap()).collect();
            (0..2).all(|i| s.peer_ids(i).contains(&fake_id))
                && views
                    .iter()
                    .all(|v| v.last_index == v.commit_index && v.last_index == views[0].last_index)
                && s.tip(0) == s.tip(1)
                && s.tip(0).0 == views[0].commit_index
        },
    )
    .unwrap();
    let view = sim.raft_status(0).unwrap();
    let (height, last_term) = (sim.tip(0).0, view.last_term.unwrap());
    let claim_term = view.term + 10;
    let parent = sim.block(0, height).unwrap();
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
        leader_id: fake_id.clone(),
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
    *claim.borrow_mut() = Some(envelope(&fake_key, sim.wall(), Message::AppendEntries(ae)));

    let ids = [sim.node_id(0), sim.node_id(1)];
    sim.run_until(
        5_000,
        "both real nodes refused the entry in the claimed term",
        |_| {
            let replies = replies.borrow();
            ids.iter().all(|id| {
                (replies.iter()).any(|(from, r)| from == id && r.term == claim_term && !r.success)
            })
        },
    )
    .unwrap();
    let rejection = format!("raft:rejected entry {} from {fake_id}", height + 1);
    for i in 0..2 {
        let line = (sim.logs(i).iter())
            .find(|l| l.contains(&rejection))
            .unwrap_or_else(|| panic!("n{i}: no rejection logged: {:?}", sim.logs(i)));
        assert!(line.contains("stateRoot"), "{line}");
    }

    // The real nodes elect one of themselves in a later term and keep committing.
    sim.run_until(30_000, "a real leader after the claim", |s| {
        s.agreed_leader(&[0, 1])
            .is_some_and(|l| s.raft_status(l).unwrap().term > claim_term)
    })
    .unwrap();
    for i in 0..2 {
        sim.commit_set(i, "after", &i.to_string(), 10_000).unwrap();
    }
    sim.run_until(5_000, "identical tips", |s| s.tip(0) == s.tip(1))
        .unwrap();
    for i in 0..2 {
        assert_ne!(sim.block(i, height + 1).unwrap().hash, bad.hash, "n{i}");
        assert!(sim.state(i, "before").is_some() && sim.state(i, "after").is_some());
    }
    let replies = replies.borrow();
    assert!(
        replies.iter().all(|(_, r)| !r.success),
        "a real node acknowledged the fake leader: {replies:?}"
    );
}

#[test]
fn a_pending_transaction_is_forwarded_again_to_a_leader_that_dropped_it() {
    let fake_key = Keypair::from_seed([43; 32]);
    let mut sim = Sim::layout(Layout {
        nodes: 1,
        validators: 1,
        seeds: vec![vec![]],
        started: vec![],
        extra_validators: vec![fake_key.public_hex().to_string()],
    });
    sim.keep_logs();
    // The fake leads term 1 on genesis (heartbeats only) and drops every forwarded transaction.
    let forwarded: Rc<RefCell<Vec<String>>> = Rc::default();
    let recorded = forwarded.clone();
    let script = Box::new(move |message: Option<&Message>, _: &str, _wall: u64| {
        if let Some(Message::TxForward(m)) = message {
            recorded.borrow_mut().push(m.transaction.hash.clone());
        }
        Vec::new()
    });
    let me = fake_key.clone();
    let heartbeat = move |wall: u64| {
        let ae = AppendEntries {
            term: 1,
            leader_id: me.node_id().to_string(),
            prev_log_index: 0,
            prev_log_term: 0,
            entries: Vec::new(),
            leader_commit: 0,
            first_index: None,
            ..AppendEntries::default()
        };
        vec![envelope(&me, wall, Message::AppendEntries(ae))]
    };
    let fake = sim.add_fake(
        fake_key.clone(),
        0,
        script,
        Some((TICK_MS, Box::new(heartbeat))),
    );
    sim.add_seed(0, &Sim::fake_address(fake));
    sim.start_node(0);
    let fake_id = fake_key.node_id().to_string();
    sim.run_until(10_000, "the node follows the fake leader", |s| {
        let view = s.raft_status(0).unwrap();
        view.leader.as_deref() == Some(fake_id.as_str()) && view.role == Role::Follower
    })
    .unwrap();
    let hash = sim.submit_set(0, "k", "1").unwrap();
    sim.run_until(30_000, "the transaction forwarded twice", |_| {
        forwarded.borrow().iter().filter(|h| **h == hash).count() >= 2
    })
    .unwrap();
    // Without a leader change in between (which forwards everything anyway).
    let view = sim.raft_status(0).unwrap();
    assert_eq!(view.term, 1);
    assert_eq!(view.leader.as_deref(), Some(fake_id.as_str()));
    let changes = (sim.logs(0).iter())
        .filter(|l| l.contains("raft:leader "))
        .count();
    assert_eq!(changes, 1, "{:?}", sim.logs(0));
    assert_eq!(sim.mempool_len(0), Some(1));
}
