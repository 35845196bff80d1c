//! kill -9 at seeded-random moments of a loaded 3-validator Raft cluster, round after round:
//! afterwards every node holds the same chain, every acknowledged transaction is in it exactly
//! once (a 200 to `?wait=commit` always; a 202 unless the node that gave it was killed later),
//! and no transaction or nonce appears twice (`common::checker`).
//!
//! `ROUNDS` and `SEED` (environment) change the run; `scripts/fault-kill.sh` runs many rounds.

mod common;

use common::loaded::LoadedCluster;
use common::raft::ELECTION;
use common::{wait_until, NodeProcess, DEADLINE};
use miniledger_core::rng::SplitMix;
use serde_json::json;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v:?}: not a number"))
        })
        .unwrap_or(default)
}

/// Waits until the clients have sent `more` further requests (a moment defined by the load
/// itself, so a seed gives the same kind of moment on a fast or a slow machine).
fn after_requests(cluster: &LoadedCluster, more: u64) {
    let target = cluster.sent() + more as usize;
    wait_until(&format!("{more} more requests"), || {
        cluster.sent() >= target
    });
}

#[test]
fn repeated_kill_9_under_load_loses_and_doubles_nothing() {
    let rounds = env_or("ROUNDS", 5);
    let seed = env_or("SEED", 1);
    eprintln!("replay: SEED={seed} ROUNDS={rounds} cargo test -p miniledger-native --test fault_kill -- --nocapture");
    let started = Instant::now();
    let mut rng = SplitMix::new(seed);
    let mut cluster = LoadedCluster::start();
    cluster.load(6, Duration::from_millis(5));
    let mut leader_kills = 0;
    // Rounds where the two survivors elected no leader until the killed node returned.
    let mut stalls = 0;
    for round in 0..rounds {
        // A random moment under load, then the leader or a random follower.
        after_requests(&cluster, 50 + rng.range(0, 400));
        let leader = cluster.await_leader(ELECTION);
        let victim = match rng.range(0, 2) {
            0 => leader,
            _ => (leader + 1 + rng.range(0, 2) as usize) % 3,
        };
        leader_kills += usize::from(victim == leader);
        let killed_at = Instant::now();
        cluster.kill(victim);
        // The two survivors must elect a leader without the killed node. (Before SYNC_RESPONSE
        // carried block terms, a survivor that had just caught up through BlockSync could
        // neither vote nor campaign, and such rounds stalled: RELIABILITY.md.) Counted, then
        // asserted to be zero once the chain has been checked.
        let next = cluster.try_await_leader(2 * ELECTION);
        let stalled = next.is_none();
        if stalled {
            stalls += 1;
        } else {
            // Down for a random stretch of load, then back on its data.
            after_requests(&cluster, rng.range(0, 300));
        }
        cluster.restart(victim);
        let next = next.unwrap_or_else(|| cluster.await_leader(2 * ELECTION));
        cluster.await_caught_up(victim, DEADLINE);
        eprintln!(
            "round {round}: killed {} ({}), leader {} after{}, back and caught up {:?} after the kill",
            ["A", "B", "C"][victim],
            if victim == leader { "leader" } else { "follower" },
            ["A", "B", "C"][next],
            if stalled {
                " (STALLED: no leader until the killed node was back)"
            } else {
                ""
            },
            killed_at.elapsed()
        );
    }
    cluster.stop_load_and_settle(DEADLINE);
    let report = cluster.check();
    println!(
        "FAULT-KILL SUMMARY seed={seed} rounds={rounds} leader_kills={leader_kills} \
         follower_kills={} stalls={stalls} {} elapsed={:?}",
        rounds as usize - leader_kills,
        report.summary(),
        started.elapsed()
    );
    report.assert_clean();
    assert!(report.acked > 0 && report.committed >= report.acked);
    assert_eq!(stalls, 0, "rounds where the survivors elected no leader");
}

/// The mechanism behind "a 202 after a restart is kept": a node killed -9 signs its next
/// transaction above the nonces it had reserved, and fills the ones between with no-ops, so its
/// nonce sequence has no gap and no nonce is used twice.
#[test]
fn a_restarted_node_signs_above_its_reserved_nonces_and_fills_the_gap() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::start_in("solo", dir.path(), None, &[]);
    let mut acked = Vec::new();
    for i in 0..3 {
        let (code, answer) = node.post("/tx?wait=commit", &json!({"key": "k", "value": i}));
        assert_eq!(code, 200, "{answer}");
        acked.push(answer["hash"].as_str().unwrap().to_string());
    }
    drop(node); // kill -9
    let node = NodeProcess::start_in("solo", dir.path(), None, &[]);
    let (code, answer) = node.post("/tx?wait=commit", &json!({"key": "k", "value": 3}));
    assert_eq!(code, 200, "{answer}");
    let hash = answer["hash"].as_str().unwrap().to_string();
    assert_eq!(node.get_ok(&format!("/tx/{hash}"))["nonce"], 256);
    acked.push(hash);
    let report = common::checker::check(&[&node], &acked);
    report.assert_clean();
    assert_eq!(report.committed, 257, "3 + 253 fillers + 1");
    assert!(node.log().contains("signing no-op transactions for them"));
}
