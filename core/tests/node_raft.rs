//! Raft in-process, on the simulated network (`cluster_support`): three validators elect a leader
//! and commit what every node receives into one chain; an observer follows as a learner; a
//! leader that crashes under load is replaced and nothing acknowledged is lost or committed
//! twice; a validator down past the leader's retained window catches up through BlockSync, and
//! if the leader then dies at once the survivors still elect one. These were real-process tests
//! (`native/tests/raft_cluster.rs` keeps one cluster over real sockets). Every invariant of the
//! simulator (one chain, no committed block lost, no transaction twice) is checked at every
//! step too.

mod cluster_support;

use cluster_support::{Layout, Sim};
use miniledger_core::raft::Role;
use std::collections::HashSet;

/// The bound for an election (the real-process tests' `ELECTION`).
const ELECTION_MS: u64 = 5_000;

#[test]
fn validators_elect_commit_identical_chains_and_an_observer_follows() {
    let mut layout = Layout::chain_of(4, 3);
    layout.started = vec![0, 1, 2];
    let mut sim = Sim::layout(layout);
    let leader = sim.await_leader(&[0, 1, 2], ELECTION_MS).unwrap();
    let view = sim.raft_status(leader).unwrap();
    let mut validators: Vec<String> = (0..3).map(|i| sim.public_key(i)).collect();
    validators.sort();
    assert_eq!(view.validators, validators);

    // Transactions to every node (followers forward them to the leader), interleaved.
    let mut hashes = Vec::new();
    for round in 0..20 {
        for i in 0..3 {
            hashes.push(sim.submit_set(i, &format!("n{i}:{round}"), "1").unwrap());
        }
        sim.run_for(7);
    }
    // `?wait=commit` through a follower answers once its own chain holds the transaction.
    let follower = (leader + 1) % 3;
    assert!(sim.commit_set(follower, "w", "1", 10_000).unwrap() >= 1);
    sim.run_until(10_000, "every validator committed everything", |s| {
        (0..3).all(|i| s.chain_tx_hashes(i).len() == 61 && s.mempool_len(i) == Some(0))
    })
    .unwrap();
    let chain = sim.chain_tx_hashes(0);
    assert_eq!(chain.iter().collect::<HashSet<_>>().len(), 61);
    assert!(hashes.iter().all(|h| chain.contains(h)));
    let tip = sim.tip(leader);
    for i in 0..3 {
        assert_eq!(sim.tip(i), tip);
        assert_eq!(sim.raft_status(i).unwrap().commit_index, tip.0);
    }

    // An observer (not a validator) follows as a learner.
    sim.start_node(3);
    let observer = sim.node_id(3);
    sim.run_until(10_000, "the observer at the tip, a learner", |s| {
        s.tip(3) == tip && (s.raft_status(leader).unwrap().learners).contains(&observer)
    })
    .unwrap();
    let extra: Vec<String> = (0..10)
        .map(|i| sim.submit_set(leader, &format!("o{i}"), "2").unwrap())
        .collect();
    sim.run_until(10_000, "the observer commits what the leader does", |s| {
        extra.iter().all(|h| s.committed_at(3, h)) && s.tip(3) == s.tip(leader)
    })
    .unwrap();
    let view = sim.raft_status(3).unwrap();
    assert_eq!(view.role, Role::Learner);
    assert_eq!(view.voted_for, None);
    assert_eq!(view.leader, Some(sim.node_id(leader)));
    assert_eq!(
        sim.agreed_leader(&[0, 1, 2]),
        Some(leader),
        "the observer disturbed nobody"
    );
}

#[test]
fn a_crashed_leader_is_replaced_under_load_and_catches_up_without_losing_transactions() {
    let mut sim = Sim::layout(Layout::chain_of(3, 3));
    let leader = sim.await_leader(&[0, 1, 2], ELECTION_MS).unwrap();
    let survivors: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    // Steady load on the two followers (every 10 ms); the leader crashes half a second in.
    let mut acked = Vec::new();
    let mut new_leader = None;
    for step in 0..400 {
        let to = survivors[step % 2];
        if let Ok(hash) = sim.submit_set(to, &format!("w{step}"), &step.to_string()) {
            acked.push(hash);
        }
        if step == 50 {
            sim.crash_node(leader);
        }
        sim.run_for(10);
        if step > 50 && new_leader.is_none() {
            new_leader = sim.agreed_leader(&survivors);
            if new_leader.is_some() {
                assert!(
                    (step - 50) * 10 <= ELECTION_MS as usize,
                    "a new leader {} ms after the crash",
                    (step - 50) * 10
                );
            }
        }
    }
    let new_leader = new_leader.expect("the survivors elected a new leader");
    assert_ne!(new_leader, leader);
    assert_eq!(acked.len(), 400, "the followers admit through the election");
    sim.run_until(20_000, "every acknowledged transaction committed", |s| {
        acked.iter().all(|h| s.committed_at(survivors[0], h))
    })
    .unwrap();
    let chain = sim.chain_tx_hashes(survivors[0]);
    assert_eq!(
        chain.iter().collect::<HashSet<_>>().len(),
        chain.len(),
        "a transaction committed twice"
    );

    // The crashed node restarts on its store and catches up; it follows.
    sim.start_node(leader);
    sim.settle(30_000)
        .expect("one tip, every acknowledged transaction once");
    let height = sim.commit_set(survivors[1], "after", "1", 10_000).unwrap();
    sim.run_until(5_000, "the restarted node commits the next block", |s| {
        s.tip(leader).0 >= height
    })
    .unwrap();
    assert_eq!(sim.raft_status(leader).unwrap().role, Role::Follower);
}

/// Blocks committed while a validator is down: past the leader's window (the simulator's
/// `retained_entries` is 16; a log holds up to 1.5× that between compactions).
const FAR_BEHIND: u64 = 40;

struct FarBehind {
    sim: Sim,
    leader: usize,
    behind: usize,
    other: usize,
    stopped_at: u64,
}

/// Three validators; one crashes, the chain moves `FAR_BEHIND` blocks (one per transaction),
/// and it restarts on its store and reaches the leader's tip (through BlockSync).
fn catch_up_far_behind() -> FarBehind {
    let mut sim = Sim::layout(Layout::chain_of(3, 3));
    sim.keep_logs();
    let leader = sim.await_leader(&[0, 1, 2], ELECTION_MS).unwrap();
    sim.commit_set(leader, "first", "0", 10_000).unwrap();
    let (behind, other) = ((leader + 1) % 3, (leader + 2) % 3);
    let stopped_at = sim.tip(behind).0;
    sim.crash_node(behind);
    for i in 0..FAR_BEHIND {
        sim.commit_set(leader, &format!("far{i}"), &i.to_string(), 10_000)
            .unwrap();
    }
    let tip = sim.tip(leader);
    assert!(tip.0 >= stopped_at + FAR_BEHIND, "{tip:?}");
    sim.start_node(behind);
    sim.run_until(30_000, "the restarted node at the tip", |s| {
        s.tip(behind) == tip
    })
    .unwrap();
    FarBehind {
        sim,
        leader,
        behind,
        other,
        stopped_at,
    }
}

#[test]
fn a_follower_far_behind_catches_up_through_block_sync() {
    let FarBehind {
        mut sim,
        behind,
        other,
        stopped_at,
        leader,
    } = catch_up_far_behind();
    let missed = sim.tip(leader).0 - stopped_at;
    let synced = sim.status(behind).unwrap().synced_blocks;
    // Only the last entries (at most the window) may come as AppendEntries.
    assert!(
        synced >= missed - 24,
        "{synced} blocks through BlockSync, {missed} behind"
    );
    assert!(
        (sim.logs(behind).iter()).any(|l| l.contains("catching up through BlockSync")),
        "{:?}",
        sim.logs(behind)
    );
    // It follows the log again afterwards.
    let height = sim.commit_set(other, "after", "1", 10_000).unwrap();
    sim.run_until(5_000, "the caught-up node commits the next block", |s| {
        s.tip(behind).0 >= height
    })
    .unwrap();
    assert_eq!(sim.raft_status(behind).unwrap().role, Role::Follower);
}

/// A validator that caught up through BlockSync used not to know its synced tip's Raft term, so
/// it neither voted nor campaigned until a leader appended to it; with the leader dead in that
/// window, the two survivors could elect no one (found by `native/tests/fault_kill.rs`). The
/// validators' SYNC_RESPONSEs carry the blocks' terms: the leader crashes the moment the
/// catch-up ends and the survivors elect a new one.
#[test]
fn survivors_elect_a_leader_when_it_dies_right_after_a_block_sync_catch_up() {
    let FarBehind {
        mut sim,
        leader,
        behind,
        other,
        ..
    } = catch_up_far_behind();
    sim.crash_node(leader);
    let new = sim.await_leader(&[behind, other], ELECTION_MS).unwrap();
    assert!(sim.status(behind).unwrap().synced_blocks > 0);
    assert!(
        !(sim.logs(behind).iter()).any(|l| l.contains("synced tip's term unknown")),
        "every synced run came with its tip's term"
    );
    sim.commit_set(new, "after", "1", 10_000).unwrap();
}

/// A validator that admits (and dials) only a follower never hears the leader, yet catches up
/// from the follower through BlockSync, keeps up as the chain grows, and does not disturb the
/// cluster (pre-votes only: the follower hears the leader and refuses them). Was the second
/// half of the real-process `native/tests/raft_topology.rs` (`--allowed-keys`).
#[test]
fn a_validator_that_reaches_only_a_follower_catches_up_from_it_and_keeps_up() {
    let mut sim = Sim::layout(Layout {
        nodes: 3,
        validators: 3,
        seeds: vec![vec![], vec![0], vec![]],
        started: vec![0, 1],
        extra_validators: Vec::new(),
    });
    let leader = sim.await_leader(&[0, 1], ELECTION_MS).unwrap();
    let follower = 1 - leader;
    for i in 0..10 {
        sim.commit_set(leader, &format!("a{i}"), "1", 10_000)
            .unwrap();
    }
    let only = sim.public_key(follower);
    sim.configure(2, |c| {
        c.seeds = vec![Sim::address(follower)];
        c.peer.admission.allowed_keys = Some(vec![only]);
    });
    sim.start_node(2);
    let tip = sim.tip(leader);
    sim.run_until(30_000, "n2 at the tip, synced from the follower", |s| {
        s.tip(2) == tip
    })
    .unwrap();
    let through = std::collections::BTreeSet::from([sim.node_id(follower)]);
    assert_eq!(sim.peer_ids(2), through);
    assert!(sim.status(2).unwrap().synced_blocks >= tip.0);

    let term = sim.raft_status(leader).unwrap().term;
    for i in 0..5 {
        sim.commit_set(follower, &format!("b{i}"), "2", 10_000)
            .unwrap();
    }
    let tip = sim.tip(leader);
    sim.run_until(30_000, "n2 at the new tip", |s| s.tip(2) == tip)
        .unwrap();
    sim.run_for(10_000);
    assert_eq!(sim.peer_ids(2), through, "n2 never hears the leader");
    assert_eq!(sim.agreed_leader(&[0, 1]), Some(leader));
    assert_eq!(
        sim.raft_status(leader).unwrap().term,
        term,
        "n2 disturbed the cluster"
    );
}
