//! Linearizable reads in-process, on the simulated network (`cluster_support`): a read through
//! any node that starts after a write was acknowledged by any other node sees that write (a
//! plain read from a follower may not); refused with a reason when no leader can confirm it,
//! and by a solo follower. Was the real-process `native/tests/linearizable_reads.rs`; the REST
//! shape (`?consistency=linearizable`, 400 for an unknown consistency) stays in
//! `native/tests/raft_cluster.rs`, and `native/tests/nemesis.rs` checks reads under faults.

mod cluster_support;

use cluster_support::{Layout, Sim};

#[test]
fn a_linearizable_read_through_any_node_sees_every_acknowledged_write() {
    let mut sim = Sim::layout(Layout::chain_of(3, 3));
    sim.await_leader(&[0, 1, 2], 5_000).unwrap();
    for i in 0..60 {
        let (writer, reader) = (i % 3, (i * 7 + 1) % 3);
        let value = format!("\"v{i}\"");
        sim.commit_set(writer, "k", &value, 10_000).unwrap();
        let read = sim.linearizable_read(reader, "k", 5_000).unwrap();
        assert_eq!(
            read.as_deref(),
            Some(value.as_str()),
            "read {i} through n{reader} after the write through n{writer} was acknowledged"
        );
    }
}

#[test]
fn a_read_no_leader_can_confirm_is_refused_with_a_reason() {
    let mut sim = Sim::layout(Layout::chain_of(3, 3));
    let leader = sim.await_leader(&[0, 1, 2], 5_000).unwrap();
    sim.commit_set(leader, "k", "1", 10_000).unwrap();
    // The leader alone: it cannot confirm it still leads.
    for i in (0..3).filter(|&i| i != leader) {
        sim.crash_node(i);
    }
    let refused = sim.linearizable_read(leader, "k", 30_000);
    let reason = refused.expect_err("no quorum confirms the leader");
    assert!(reason.contains("ask again"), "{reason}");
}

#[test]
fn a_solo_follower_refuses_and_the_producer_answers() {
    let mut sim = Sim::layout(Layout::chain_of(2, 0));
    sim.run_until(10_000, "connected", |s| s.peer_ids(1).len() == 1)
        .unwrap();
    sim.commit_set(0, "k", "1", 10_000).unwrap();
    assert_eq!(
        sim.linearizable_read(0, "k", 1_000).unwrap().as_deref(),
        Some("1")
    );
    let reason = sim.linearizable_read(1, "k", 1_000).unwrap_err();
    assert!(reason.contains("read from the producer"), "{reason}");
}
