//! Node behaviour in-process: hand-laid clusters of core's `FullNode` on the simulated
//! network (`cluster_support`), for the topologies that once needed real processes to show
//! (they replaced `native/tests/raft_topology.rs`). Every invariant of the
//! simulator is checked at every step here too.

mod cluster_support;

use cluster_support::{Layout, Sim};
use miniledger_core::PayloadBody;

#[test]
fn two_lone_validators_and_one_dialing_both_become_a_mesh_with_one_chain() {
    let mut sim = Sim::layout(Layout {
        nodes: 3,
        validators: 3,
        seeds: vec![vec![], vec![], vec![0, 1]],
        started: vec![0, 1, 2],
        extra_validators: Vec::new(),
    });
    sim.settle(60_000).expect("a mesh and a leader");
    let tx = sim.submit_to(0).expect("admitted");
    sim.settle(30_000).expect("committed everywhere");
    assert!(sim.committed(&tx));
    assert!((0..3).all(|i| sim.height(i) >= 1));
}

#[test]
fn a_validator_that_first_reaches_only_an_observer_catches_up_past_the_retained_log() {
    // Validators 0 and 1 know each other, the observer 3 knows 0; validator 2 starts late
    // and knows only the observer.
    let mut sim = Sim::layout(Layout {
        nodes: 4,
        validators: 3,
        seeds: vec![vec![1], vec![0], vec![3], vec![0]],
        started: vec![0, 1, 3],
        extra_validators: Vec::new(),
    });
    sim.settle(60_000).expect_err("validator 2 is down");
    // More blocks than the leader keeps in memory (16): validator 2 needs BlockSync.
    let mut txs = Vec::new();
    for _ in 0..24 {
        txs.push(sim.submit_to(0).expect("admitted"));
        sim.run_for(400);
    }
    let height = sim.height(0);
    assert!(height >= 17, "{height} blocks");
    sim.start_node(2);
    sim.settle(90_000)
        .expect("validator 2 meshed and caught up");
    assert!(sim.height(2) >= height);
    assert!(txs.iter().all(|tx| sim.committed(tx)));
}

#[test]
fn solo_transactions_admitted_while_the_producer_is_down_commit_once_it_is_back() {
    let mut sim = Sim::layout(Layout {
        nodes: 3,
        validators: 0,
        seeds: vec![vec![], vec![0], vec![0, 1]],
        started: vec![0, 1, 2],
        extra_validators: Vec::new(),
    });
    sim.settle(30_000).expect("a mesh");
    sim.crash_node(0);
    let tx = sim.submit_to(2).expect("a follower admits it");
    sim.run_for(2_000);
    assert!(!sim.committed(&tx), "no producer, no block");
    sim.start_node(0);
    // Before the handoff (core/src/node/handoff.rs) the transaction stayed in the followers'
    // mempools for good.
    sim.settle(30_000)
        .expect("handed to the producer and committed");
    assert!(sim.committed(&tx));
}

/// Frames a node read from a peer whose socket it then dropped (the native driver does when a
/// peer's send queue is full) were handled after the peer had left the table: the leader's
/// AppendEntries were scored as "from an unauthenticated connection claiming a validator" and
/// an honest validator was banned for ten minutes (found by the nemesis: the node stayed cut
/// off from the leader).
#[test]
fn frames_read_before_a_dropped_socket_closed_are_not_held_against_the_peer() {
    let mut sim = Sim::layout(Layout {
        nodes: 3,
        validators: 3,
        seeds: vec![vec![], vec![0], vec![0, 1]],
        started: vec![0, 1, 2],
        extra_validators: Vec::new(),
    });
    sim.settle(60_000).expect("a mesh and a leader");
    let mut dropped = 0;
    for round in 0..20 {
        for _ in 0..3 {
            sim.submit_to(round % 3).expect("admitted");
        }
        sim.run_for(15);
        dropped += sim.deliver_then_close(round % 3);
        sim.run_for(3_000); // the peers redial
    }
    assert!(dropped >= 5, "{dropped} frames cut off");
    let tx = sim.submit_to(0).expect("admitted");
    sim.settle(60_000).expect("reconnected and committed");
    assert!(sim.committed(&tx));
    for i in 0..3 {
        assert_eq!(
            sim.offences(i),
            vec![],
            "node {i} holds honest peers' frames against them"
        );
    }
}

/// A validator that crashes after appending a block that changes the validator set, before the
/// block commits, must come back with that change in force: on restart its persisted entries are
/// checked again and the change they carry re-applied (was: restored as a static set, so the
/// node counted a quorum of the old configuration over an entry of the new one).
#[test]
fn a_change_appended_before_a_crash_is_in_force_after_the_restart() {
    let mut sim = Sim::layout(Layout {
        nodes: 4,
        validators: 3,
        seeds: vec![vec![], vec![0], vec![0, 1], vec![0]],
        started: vec![0, 1, 2, 3],
        extra_validators: Vec::new(),
    });
    sim.settle(60_000).expect("a mesh and a leader");
    sim.submit_to(0).expect("admitted");
    sim.settle(30_000).expect("a block of this term committed");
    let leader = (0..3)
        .find(|&i| {
            sim.raft_status(i)
                .is_some_and(|s| s.leader.as_deref() == Some(&s.node_id))
        })
        .expect("a leader");
    let newcomer = sim.public_key(3);
    let action = format!(r#"{{"type":"add-peer","publicKey":"{newcomer}"}}"#);
    let body = PayloadBody::GovernancePropose {
        title: "add 3".into(),
        description: String::new(),
        action: serde_json::value::RawValue::from_string(action).unwrap(),
    };
    let proposal = sim.submit_own_to(leader, body).expect("admitted");
    sim.settle(30_000)
        .expect("the proposal committed (1 of 3 votes: active)");
    // The second yes approves: the block holding it is the change entry.
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let (voter, follower) = (followers[0], followers[1]);
    let vote = PayloadBody::GovernanceVote {
        proposal_id: proposal,
        vote: true,
    };
    sim.submit_own_to(voter, vote).expect("admitted");
    // Step until a follower holds the change uncommitted, then crash it there.
    let mut caught = false;
    for _ in 0..5_000 {
        sim.run_for(1);
        let status = sim.raft_status(follower).expect("up");
        if status.change_in_progress {
            caught = true;
            break;
        }
    }
    assert!(
        caught,
        "the follower appended the change: leader mempool {:?} {:?}, follower {:?}",
        sim.mempool_len(leader),
        sim.raft_status(leader),
        sim.raft_status(follower)
    );
    sim.crash_node(follower);
    sim.start_node(follower);
    let status = sim.raft_status(follower).expect("restarted under Raft");
    assert!(
        status.validators.contains(&newcomer),
        "the restarted follower's configuration lacks the appended change: {:?}",
        status.validators
    );
    sim.settle(60_000).expect("the change commits everywhere");
    assert_eq!(sim.raft_status(0).unwrap().validators.len(), 4);
}
