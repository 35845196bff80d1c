//! A validator's wall clock stepped by an hour mid-run (an NTP step, an operator's `date -s`),
//! in-process on the simulated network (`cluster_support`): the leader's back an hour, a
//! follower's forward an hour, then both back. Timers run on the monotonic clock, so through
//! every step the cluster keeps its leader and term (no election), keeps committing, drops no
//! connection and scores nobody. Transactions go through the leader, which signs them: protocol
//! timestamps do follow each node's wall clock (RELIABILITY.md, "Clock steps").
//!
//! `native/tests/clock_step.rs` keeps the real-process version: there the step is a real
//! CLOCK_REALTIME offset (an LD_PRELOAD shim), which is what shows the native driver reads
//! its timers from the monotonic clock.

mod cluster_support;

use cluster_support::{Layout, Sim};
use miniledger_core::PayloadBody;
use std::collections::BTreeMap;

const HOUR_MS: i64 = 3_600_000;

/// After each step the cluster idles this long: longer than the longest election timeout, so
/// followers that stopped hearing from the leader would elect another.
const IDLE_MS: u64 = 4_000;

/// Every node's connection ids by peer: a reconnect changes them.
fn connections(sim: &Sim) -> Vec<BTreeMap<String, u64>> {
    (0..3).map(|i| sim.peer_conns(i)).collect()
}

#[test]
fn a_wall_clock_step_moves_no_timer() {
    let mut sim = Sim::layout(Layout::chain_of(3, 3));
    let leader = sim.await_leader(&[0, 1, 2], 5_000).unwrap();
    sim.run_until(10_000, "a full mesh", |s| {
        (0..3).all(|i| s.peer_ids(i).len() == 2)
    })
    .unwrap();
    let term = sim.raft_status(leader).unwrap().term;
    let follower = (leader + 1) % 3;
    let conns = connections(&sim);
    let mut sent = 0;
    for (who, offset) in [
        (leader, -HOUR_MS),
        (follower, HOUR_MS),
        (leader, 0),
        (follower, 0),
    ] {
        sim.set_wall_offset(who, offset);
        // No load first: only heartbeats keep the followers from campaigning.
        sim.run_for(IDLE_MS);
        let what = format!("after stepping n{who}'s clock to {offset} ms");
        assert_eq!(sim.agreed_leader(&[0, 1, 2]), Some(leader), "{what}");
        assert_eq!(sim.raft_status(leader).unwrap().term, term, "{what}");
        for _ in 0..5 {
            let body = PayloadBody::state_set(format!("k{sent}"), &sent.to_string()).unwrap();
            sim.commit_own(leader, body, 5_000)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            sent += 1;
            sim.run_for(200);
        }
        assert_eq!(sim.agreed_leader(&[0, 1, 2]), Some(leader), "{what}");
        assert_eq!(sim.raft_status(leader).unwrap().term, term, "{what}");
    }
    assert_eq!(connections(&sim), conns, "a connection was dropped");
    for i in 0..3 {
        assert_eq!(sim.offences(i), vec![], "n{i} scored a peer");
    }
    let tip = sim.tip(leader);
    sim.run_until(5_000, "every node at the leader's tip", |s| {
        (0..3).all(|i| s.tip(i) == tip)
    })
    .unwrap();
}
