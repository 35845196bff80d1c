//! The whole-cluster simulator (`cluster_support`): many seeds, each a random cluster under
//! random faults, every invariant checked after every step and convergence after healing.
//!
//! `FIRST` (default 1) and `SEEDS` (default 200) choose the seeds; a failing seed prints its
//! trace and the one command that replays it. `scripts/cluster-sim.sh` runs this with the
//! same variables and ends with `N seeds, K violations`.

mod cluster_support;

use cluster_support::{Mutation, Opts, Sim};

/// Simulated time with faults, then time allowed to converge once everything is healed.
const CHAOS_MS: u64 = 30_000;
const SETTLE_MS: u64 = 90_000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run(seed: u64, mutation: Mutation) -> Sim {
    let mut sim = Sim::new(Opts { seed, mutation });
    sim.run(CHAOS_MS, SETTLE_MS);
    sim
}

#[test]
fn every_seed_keeps_every_invariant() {
    let (first, count) = (env("FIRST", 1), env("SEEDS", 200));
    let mut failed = Vec::new();
    let started = std::time::Instant::now();
    for seed in first..first + count {
        let sim = run(seed, Mutation::None);
        if !sim.violations.is_empty() {
            if count == 1 || failed.is_empty() {
                for line in &sim.log {
                    eprintln!("{line}");
                }
            }
            eprintln!("seed {seed}: {}", sim.violations.join("; "));
            eprintln!("replay: FIRST={seed} SEEDS=1 scripts/cluster-sim.sh");
            failed.push(seed);
        } else if count == 1 {
            eprintln!("seed {seed}: {:?}", sim.stats);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("seeds {first}..={}: {secs:.1} s", first + count - 1);
    println!("{count} seeds, {} violations", failed.len());
    assert!(failed.is_empty(), "failing seeds: {failed:?}");
}

/// Each bug put in by hand is caught by some seed among the first few.
#[test]
fn every_mutation_is_caught() {
    for mutation in Mutation::ALL {
        let caught = (1..=40).find(|&seed| !run(seed, mutation).violations.is_empty());
        let seed = caught.unwrap_or_else(|| panic!("{mutation:?} went unnoticed in 40 seeds"));
        println!("{mutation:?}: caught by seed {seed}");
    }
}
