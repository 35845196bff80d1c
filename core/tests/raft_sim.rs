//! Seeded simulation of Raft clusters under faults: message loss, duplication, reordering and
//! delay; partitions that form and heal; crashes (also in the middle of handling a Ready) and
//! restarts that keep only persisted state; leaders that propose invalid blocks. Safety is
//! checked after every step (see `raft_support::Checker`); after the faults heal, a leader must
//! be elected and a new block must commit on every node.
//!
//! Two seeds in three also change the membership: the leader adds or removes a random node of
//! the pool (validators and learners) one at a time, under all the faults above; nodes that
//! hear no leader chase their peers' chains (as the driver does), which is how a node whose
//! configuration is behind learns of validators added since. The checker also holds each
//! node's committed validator set (Raft's) to the one its applied chain makes.
//!
//! `RAFT_SIM_EVENTS=1` adds each node's last Raft events to a violation's dump.
//!
//! `RAFT_SIM_SEEDS=n` runs seeds 0..n (default 300; `RAFT_SIM_FIRST` moves the start);
//! `RAFT_SIM_SEED=s` replays one seed;
//! `RAFT_SIM_THREADS` sets the parallelism. `scripts/raft-sim.sh` runs 10,000 in release.

mod raft_support;

use miniledger_core::rng::SplitMix;
use raft_support::{Cluster, NetConfig, Opts};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    committed: u64,
    terms: u64,
    rejected: usize,
    syncs: usize,
    truncations: usize,
    ready_crashes: usize,
    reads_served: usize,
    reads_refused: usize,
    added: usize,
    removed: usize,
}

fn run_seed(seed: u64) -> Stats {
    let mut rng = SplitMix::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xA5A5);
    let validators = if rng.range(0, 2) == 0 { 3 } else { 5 };
    let membership = rng.range(0, 3) != 0;
    let learners = match membership {
        true => rng.range(1, 3) as usize,
        false => (rng.range(0, 3) == 0) as usize,
    };
    let opts = Opts {
        validators,
        learners,
        retained: rng.range(2, 17) as usize,
        max_message_bytes: rng.range(2_500, 12_000) as usize,
        max_uncommitted: rng.range(4, 33) as usize,
        max_inflight: rng.range(1, 5) as usize,
        ..Opts::default()
    };
    let net = NetConfig {
        loss: rng.next_unit() * 0.25,
        duplicate: rng.next_unit() * 0.1,
        delay_ms: (1, rng.range(2, 40)),
        long_delay: rng.next_unit() * 0.05,
        long_delay_ms: 400,
    };
    let partitions = rng.range(0, 3) != 0;
    let crashes = rng.range(0, 3) != 0;
    let invalid = if rng.range(0, 5) == 0 { 0.2 } else { 0.0 };
    let total = opts.validators + opts.learners;
    let mut c = Cluster::new(opts, net.clone(), seed);
    c.eager_blocks = rng.range(0, 2) == 0;
    // Odd seeds sync with block terms (as from our validators), even ones without (0.2).
    // Membership changes are ours only (0.2 networks have a fixed set), and our validators
    // serve terms; without them, nodes synced past a removed leader could not vote.
    c.sync_terms = seed % 2 == 1 || membership;
    if crashes {
        c.crash_in_ready = 0.005;
    }
    c.chase = membership;

    // Per-seed weights of the fault actions, so some seeds are calm and some brutal.
    let weights = [
        rng.range(5, 40),                              // leaders propose
        if partitions { rng.range(1, 8) } else { 0 },  // random partition
        if partitions { rng.range(0, 4) } else { 0 },  // isolate the leader (with maybe one other)
        rng.range(2, 8),                               // heal partitions
        if crashes { rng.range(0, 4) } else { 0 },     // crash any node
        if crashes { rng.range(0, 6) } else { 0 },     // crash the leader
        if crashes { rng.range(0, 4) } else { 0 },     // leader proposes, then crashes soon after
        rng.range(3, 15),                              // restart a node
        rng.range(5, 30),                              // a linearizable read on any node
        if membership { rng.range(2, 12) } else { 0 }, // add or remove a validator
    ];
    let fault_end = c.now + rng.range(3_000, 6_000);
    while c.now < fault_end {
        c.run_for(rng.range(1, 50));
        match pick(&mut rng, &weights) {
            0 => {
                for leader in c.leaders() {
                    let _ = c.propose(leader, rng.next_unit() < invalid);
                }
            }
            1 => {
                let groups = (0..total).map(|_| rng.range(0, 2) as u8).collect();
                c.groups = Some(groups);
            }
            2 => {
                if let Some(leader) = c.leader() {
                    let mut groups = vec![0u8; total];
                    groups[leader] = 1;
                    if rng.range(0, 2) == 0 {
                        groups[rng.range(0, total as u64) as usize] = 1;
                    }
                    c.groups = Some(groups);
                }
            }
            3 => c.groups = None,
            4 => c.crash(rng.range(0, total as u64) as usize),
            5 => {
                if let Some(leader) = c.leader() {
                    c.crash(leader);
                }
            }
            6 => {
                if let Some(leader) = c.leader() {
                    let _ = c.propose(leader, false);
                    c.run_for(rng.range(0, 20));
                    c.crash(leader);
                }
            }
            7 => {
                let i = rng.range(0, total as u64) as usize;
                if !c.nodes[i].is_up() {
                    c.start(i);
                }
            }
            8 => {
                c.read(rng.range(0, total as u64) as usize);
            }
            _ => {
                if let Some(leader) = c.leader() {
                    let node = rng.range(0, total as u64) as usize;
                    let config = c.config_of(leader);
                    let add = !config.contains(&node);
                    // A leader proposing invalid blocks is routed around by a majority of the
                    // others: with fewer than 3 validators there is none.
                    let floor = if invalid > 0.0 { 3 } else { 1 };
                    if add || config.len() > floor {
                        let _ = c.propose_change(leader, add, node);
                    }
                }
            }
        }
    }

    // Heal everything, then demand progress.
    c.groups = None;
    c.crash_in_ready = 0.0;
    c.eager_blocks = true;
    c.net = NetConfig {
        loss: 0.0,
        duplicate: 0.0,
        long_delay: 0.0,
        ..net
    };
    for i in 0..total {
        if !c.nodes[i].is_up() {
            c.start(i);
        }
    }
    let before = c.max_committed();
    if c.await_leader(10_000).is_none() {
        c.violation("liveness: no leader within 10 s after the faults healed".into());
    }
    match c.commit_one(20_000) {
        Some(h) if h > before => {}
        Some(h) => c.violation(format!(
            "new block at {h} does not extend committed height {before}"
        )),
        None => c.violation("liveness: a new block did not commit on every node in 20 s".into()),
    }
    // A leader that removed itself stepped down once that block committed its removal: the
    // next one must be elected and commit as well.
    if membership && c.commit_one(20_000).is_none() {
        c.violation("liveness: no block committed after the last change in 20 s".into());
    }
    // Every node, learners too, answers a linearizable read once the cluster is whole (and a
    // node that caught up by chasing has heard the leader).
    c.run_for(500);
    let finals: Vec<(usize, u64)> = (0..total)
        .filter_map(|i| c.read(i).map(|id| (i, id)))
        .collect();
    c.run_for(3_000);
    let unserved: Vec<_> = finals
        .iter()
        .filter(|read| !c.checker.served.contains(read))
        .collect();
    if !unserved.is_empty() {
        c.violation(format!(
            "liveness: (node, read) {unserved:?} not served within 3 s after healing"
        ));
    }
    c.check_state();
    Stats {
        committed: c.max_committed(),
        terms: c.checker.leaders.keys().next_back().copied().unwrap_or(0),
        rejected: c.checker.rejected_entries,
        syncs: c.checker.syncs,
        truncations: c.checker.truncations,
        ready_crashes: c.checker.ready_crashes,
        reads_served: c.checker.reads_served,
        reads_refused: c.checker.reads_refused,
        added: c.checker.added,
        removed: c.checker.removed,
    }
}

/// An index drawn with probability proportional to its weight.
fn pick(rng: &mut SplitMix, weights: &[u64]) -> usize {
    let mut x = rng.range(0, weights.iter().sum());
    for (i, &w) in weights.iter().enumerate() {
        if x < w {
            return i;
        }
        x -= w;
    }
    unreachable!("weights sum to more than x")
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number"))
    })
}

#[test]
fn simulated_clusters_stay_safe_and_live() {
    if let Some(seed) = env_u64("RAFT_SIM_SEED") {
        // Replay: run in this thread, with the default panic output and backtrace.
        let stats = run_seed(seed);
        println!("seed {seed}: {stats:?}");
        return;
    }
    let first = env_u64("RAFT_SIM_FIRST").unwrap_or(0);
    let seeds: Vec<u64> = (first..first + env_u64("RAFT_SIM_SEEDS").unwrap_or(300)).collect();
    let threads = env_u64("RAFT_SIM_THREADS")
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u64));
    let next = AtomicU64::new(0);
    let failures: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());
    let totals: Mutex<Stats> = Mutex::new(Stats::default());
    let started = Instant::now();
    // Quiet the default hook: a violation is reported once below, with its replay command.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(&seed) = seeds.get(k) else { break };
                match std::panic::catch_unwind(|| run_seed(seed)) {
                    Ok(stats) => {
                        let mut t = totals.lock().unwrap();
                        t.committed += stats.committed;
                        t.terms += stats.terms;
                        t.rejected += stats.rejected;
                        t.syncs += stats.syncs;
                        t.truncations += stats.truncations;
                        t.ready_crashes += stats.ready_crashes;
                        t.reads_served += stats.reads_served;
                        t.reads_refused += stats.reads_refused;
                        t.added += stats.added;
                        t.removed += stats.removed;
                    }
                    Err(panic) => {
                        let text = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        failures.lock().unwrap().push((seed, text));
                    }
                }
            });
        }
    });
    std::panic::set_hook(hook);
    let elapsed = started.elapsed().as_secs_f64();
    let t = *totals.lock().unwrap();
    println!(
        "raft_sim: {} seeds in {elapsed:.2} s ({:.1} seeds/s, {threads} threads); {} blocks committed, {} terms, {} invalid entries refused, {} BlockSyncs, {} log truncations, {} crashes mid-Ready, {} linearizable reads served ({} refused), {} validators added and {} removed by committed changes",
        seeds.len(),
        seeds.len() as f64 / elapsed,
        t.committed,
        t.terms,
        t.rejected,
        t.syncs,
        t.truncations,
        t.ready_crashes,
        t.reads_served,
        t.reads_refused,
        t.added,
        t.removed
    );
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    if let Some((seed, text)) = failures.first() {
        let all: Vec<u64> = failures.iter().map(|(s, _)| *s).take(50).collect();
        panic!(
            "{} of {} seeds failed ({all:?}); first: seed {seed}:\n{text}\nreplay: RAFT_SIM_SEED={seed} cargo test -p miniledger-core --test raft_sim -- --nocapture",
            failures.len(),
            seeds.len()
        );
    }
}
