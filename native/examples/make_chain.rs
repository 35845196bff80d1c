//! Writes a synthetic, fully valid chain into a new data directory, for sync benchmarks:
//! `--blocks` blocks of `--txs-per-block` `state:set` transactions each, sent round-robin by
//! `--senders` keys, each writing one of `--keys` state keys (`0`: every transaction a new key,
//! state that grows as a ledger's does), proposed by the fixed key `Keypair::from_seed([42; 32])`, with block
//! timestamps 1 ms apart ending no later than now. Blocks are sealed in runs (one SQLite
//! transaction each) by the node's production path, `seal_run`.
//!
//! Prints the proposer's public key (the `--validators` value for nodes serving the chain), and
//! to stderr the production path's cost per transaction as the state grows: building (execution
//! and the state tree's new nodes and root) and committing (every SQLite write, the tree's
//! included), averaged over the runs that start with 10^k / 2 to 10^k keys in the state.
//!
//! ```sh
//! cargo run --release -p miniledger-native --example make_chain -- \
//!     --out /tmp/chain --blocks 400 --txs-per-block 500
//! ```

use clap::Parser;
use miniledger_core::validation::{Limits, ValidatorSet};
use miniledger_core::Governance;
use miniledger_core::{Keypair, PayloadBody, StateRootRule, Transaction};
use miniledger_native::node::{build_run, commit_run, Rules};
use miniledger_native::storage::Store;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser)]
struct Args {
    /// Data directory to create (must not hold a chain yet).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 400)]
    blocks: u64,
    #[arg(long, default_value_t = 500)]
    txs_per_block: u64,
    /// Distinct transaction senders.
    #[arg(long, default_value_t = 1_000)]
    senders: u64,
    /// Distinct state keys written, in turn (`acct:0`, `acct:1`, …); 0 = one new key per
    /// transaction.
    #[arg(long, default_value_t = 5_000)]
    keys: u64,
    /// Blocks per SQLite transaction.
    #[arg(long, default_value_t = 20)]
    chunk: u64,
}

/// The fixed proposer.
const PROPOSER_SEED: [u8; 32] = [42; 32];

fn sender_key(index: u64) -> Keypair {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&index.to_le_bytes());
    seed[8] = 0x5e;
    Keypair::from_seed(seed)
}

/// The `index`-th transaction of the chain (senders take turns; each one's nonces run 0, 1, …).
fn transaction(senders: &[Keypair], keys: u64, index: u64, timestamp: u64) -> Transaction {
    let count = senders.len() as u64;
    let key = if keys == 0 { index } else { index % keys };
    let sender = &senders[(index % count) as usize];
    let value = format!(r#"{{"n":{index},"memo":"synthetic transfer"}}"#);
    let body = PayloadBody::state_set(format!("acct:{key}"), &value).expect("valid JSON");
    Transaction::new_signed(sender, index / count, timestamp, body)
}

/// Distinct keys in the state after `txs` transactions.
fn state_size(keys: u64, txs: u64) -> u64 {
    if keys == 0 {
        txs
    } else {
        keys.min(txs)
    }
}

struct RunTiming {
    state_keys: u64,
    txs: u64,
    build: std::time::Duration,
    commit: std::time::Duration,
}

/// Per-transaction build and commit time of the runs starting with 10^k / 2 to 10^k state keys.
fn report_growth(timings: &[RunTiming]) {
    for decade in (3..=7).map(|k| 10u64.pow(k)) {
        let runs: Vec<_> = timings
            .iter()
            .filter(|t| (decade / 2..decade).contains(&t.state_keys))
            .collect();
        let txs: u64 = runs.iter().map(|t| t.txs).sum();
        if txs == 0 {
            continue;
        }
        let per_tx = |f: fn(&RunTiming) -> std::time::Duration| {
            runs.iter().map(|t| f(t).as_secs_f64()).sum::<f64>() * 1e6 / txs as f64
        };
        eprintln!(
            "make_chain: state of {}–{decade} keys ({} runs, {txs} txs): build {:.1} µs/tx, commit {:.1} µs/tx",
            decade / 2,
            runs.len(),
            per_tx(|t| t.build),
            per_tx(|t| t.commit),
        );
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if args.txs_per_block == 0 || args.senders == 0 || args.chunk == 0 {
        return Err("--txs-per-block, --senders and --chunk must be positive".into());
    }
    let started = Instant::now();
    let proposer = Keypair::from_seed(PROPOSER_SEED);
    let senders: Vec<Keypair> = (0..args.senders).map(sender_key).collect();
    let mut store = Store::open(&args.out)?;
    let rules = Rules {
        validators: ValidatorSet::new([proposer.public_hex()]),
        limits: Limits::default(),
        state_root: StateRootRule::Tree,
        governance: Governance::OnChain,
    };
    if store.height() != 0 {
        return Err(format!("{} already holds a chain", args.out.display()).into());
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
    let first_ts = now - 3_600_000;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());

    let mut height = 0;
    let mut timings = Vec::new();
    while height < args.blocks {
        let count = args.chunk.min(args.blocks - height);
        // Sign the chunk's transactions on every core, one slice of blocks per thread.
        let heights: Vec<u64> = (height + 1..=height + count).collect();
        let per_thread = heights.len().div_ceil(threads);
        let txs_by_block: Vec<Vec<Transaction>> = std::thread::scope(|s| {
            let workers: Vec<_> = heights
                .chunks(per_thread)
                .map(|slice| {
                    let senders = &senders;
                    let (per_block, keys) = (args.txs_per_block, args.keys);
                    s.spawn(move || {
                        slice
                            .iter()
                            .map(|&h| {
                                let first = (h - 1) * per_block;
                                (first..first + per_block)
                                    .map(|i| transaction(senders, keys, i, first_ts + h))
                                    .collect::<Vec<_>>()
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("signing thread"))
                .collect()
        });

        // The node's own production path, timed in its two halves: one SQLite transaction
        // per chunk.
        let state_keys = state_size(args.keys, height * args.txs_per_block);
        let batches = txs_by_block
            .into_iter()
            .enumerate()
            .map(|(k, txs)| (first_ts + height + k as u64 + 1, txs));
        let built_at = Instant::now();
        let run = build_run(&store, &rules, &proposer, batches)?;
        let committed_at = Instant::now();
        commit_run(&mut store, &run)?;
        timings.push(RunTiming {
            state_keys,
            txs: count * args.txs_per_block,
            build: committed_at - built_at,
            commit: committed_at.elapsed(),
        });
        height += count;
    }
    report_growth(&timings);
    eprintln!(
        "make_chain: {} blocks × {} txs ({} txs, {} senders) in {} in {:.1} s",
        args.blocks,
        args.txs_per_block,
        args.blocks * args.txs_per_block,
        args.senders,
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", proposer.public_hex());
    Ok(())
}
