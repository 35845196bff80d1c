//! A concurrent REST client for throughput benchmarks: pre-signs `--txs` `state:set`
//! transactions from `--senders` keys (each sender's nonces 0, 1, …), then POSTs them to
//! `--api` from `--clients` threads (each sender owned by one thread, so its nonces arrive in
//! order) over keep-alive connections, and waits until the last transaction of every sender
//! is committed. Prints one `key value` line per figure.
//!
//! `--batch N` posts N transactions per request to `POST /txs` (signatures verified in one
//! batch by the node) instead of one per `POST /tx`.
//!
//! `--payload transfer` sends token contract calls instead (the contract deployed as `token`,
//! `examples/contracts/token.js`): each sender mints once, then transfers 1 per transaction;
//! the last call of every sender must have a successful receipt (`failed_receipts` counts
//! those that do not).
//!
//! ```sh
//! cargo run --release -p miniledger-native --example load -- --api http://127.0.0.1:3000
//! ```

use clap::Parser;
use miniledger_core::{Keypair, PayloadBody, Transaction};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    api: String,
    #[arg(long, default_value_t = 20_000)]
    txs: u64,
    #[arg(long, default_value_t = 200)]
    senders: u64,
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Seed byte for the sender keys (use distinct ones for repeated runs on one chain).
    #[arg(long, default_value_t = 1)]
    seed: u8,
    /// Latency mode: post at this many transactions per second in total (spread over the
    /// clients, each on a fixed schedule) with `?wait=commit`, and report commit latency
    /// percentiles (from each transaction's scheduled time to its commit answer).
    #[arg(long)]
    rate: Option<f64>,
    /// Post this many transactions per request to `POST /txs` (1: each to `POST /tx`).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// What each transaction does.
    #[arg(long, value_enum, default_value_t = Load::Set)]
    payload: Load,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Load {
    /// `state:set` of a small value.
    Set,
    /// `token.transfer(to, 1)` (after one `token.mint`).
    Transfer,
}

fn body(load: Load, sender: u64, n: u64) -> PayloadBody {
    let invoke = |method: &str, args: String| PayloadBody::ContractInvoke {
        contract: "token".into(),
        method: method.into(),
        args: serde_json::value::RawValue::from_string(args).expect("valid JSON"),
    };
    match load {
        Load::Set => PayloadBody::state_set(format!("load:{sender}:{}", n % 10), &n.to_string())
            .expect("valid JSON"),
        Load::Transfer if n == 0 => invoke("mint", "[1000000000]".into()),
        Load::Transfer => invoke("transfer", format!(r#"["sink:{}", 1]"#, sender % 10)),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
    let per_sender = args.txs.div_ceil(args.senders);
    // Sign everything before the clock starts: the node's rate is measured, not ours.
    let streams: Vec<Vec<(String, String)>> = (0..args.senders)
        .map(|s| {
            let mut seed = [args.seed; 32];
            seed[..8].copy_from_slice(&s.to_le_bytes());
            let key = Keypair::from_seed(seed);
            (0..per_sender)
                .map(|n| {
                    let tx = Transaction::new_signed(&key, n, now, body(args.payload, s, n));
                    (
                        tx.hash.clone(),
                        serde_json::to_string(&tx).expect("encodes"),
                    )
                })
                .collect()
        })
        .collect();
    let total: usize = streams.iter().map(Vec::len).sum();
    if let Some(rate) = args.rate {
        return latency(&args, &streams, rate);
    }
    let url = if args.batch > 1 {
        format!("{}/txs", args.api)
    } else {
        format!("{}/tx", args.api)
    };
    let started = Instant::now();
    std::thread::scope(|s| {
        for c in 0..args.clients {
            let (streams, url) = (&streams, &url);
            s.spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(30))
                    .build();
                let mine: Vec<&str> = (streams.iter().skip(c).step_by(args.clients))
                    .flatten()
                    .map(|(_, json)| json.as_str())
                    .collect();
                for chunk in mine.chunks(args.batch.max(1)) {
                    let body = if args.batch > 1 {
                        format!("[{}]", chunk.join(","))
                    } else {
                        chunk[0].to_string()
                    };
                    let result = agent
                        .post(url)
                        .set("Content-Type", "application/json")
                        .send_string(&body);
                    match result {
                        Err(e) => panic!("POST {url} failed: {e}"),
                        Ok(r) if args.batch > 1 => {
                            let answers: Vec<serde_json::Value> =
                                r.into_json().expect("POST /txs answers an array");
                            if let Some(refused) = answers.iter().find(|a| a.get("error").is_some())
                            {
                                panic!("POST /txs refused a transaction: {refused}");
                            }
                        }
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    let submitted = started.elapsed();
    // Committed when the last transaction of every sender is (nonce order).
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let mut failed_receipts = 0;
    for stream in &streams {
        let (hash, _) = stream.last().expect("non-empty");
        loop {
            let answer = agent.get(&format!("{}/tx/{hash}", args.api)).call();
            if let Ok(r) = answer {
                let v: serde_json::Value = r.into_json()?;
                if v.get("blockHeight").is_some() {
                    if args.payload == Load::Transfer && v["receipt"]["status"] != "success" {
                        failed_receipts += 1;
                    }
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let committed = started.elapsed();
    if args.payload == Load::Transfer {
        println!("failed_receipts {failed_receipts}");
    }
    println!("txs {total}");
    println!("clients {}", args.clients);
    println!("submit_secs {:.3}", submitted.as_secs_f64());
    println!("commit_secs {:.3}", committed.as_secs_f64());
    println!(
        "committed_per_sec {:.0}",
        total as f64 / committed.as_secs_f64()
    );
    Ok(())
}

/// `--rate`: scheduled posts with `?wait=commit`; prints latency percentiles.
fn latency(
    args: &Args,
    streams: &[Vec<(String, String)>],
    rate: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let url = format!("{}/tx?wait=commit", args.api);
    let interval = Duration::from_secs_f64(args.clients as f64 / rate);
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..args.clients)
            .map(|c| {
                let url = &url;
                s.spawn(move || {
                    let agent = ureq::AgentBuilder::new()
                        .timeout(Duration::from_secs(30))
                        .build();
                    // Stagger the clients over one interval.
                    let mut due = started + interval.mul_f64(c as f64 / args.clients as f64);
                    let mut out = Vec::new();
                    for stream in streams.iter().skip(c).step_by(args.clients) {
                        for (_, json) in stream {
                            let now = Instant::now();
                            if due > now {
                                std::thread::sleep(due - now);
                            }
                            let result = agent
                                .post(url)
                                .set("Content-Type", "application/json")
                                .send_string(json);
                            if let Err(e) = result {
                                panic!("POST /tx?wait=commit failed: {e}");
                            }
                            out.push(due.elapsed());
                            due += interval;
                        }
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("client"))
            .collect()
    });
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1_000.0
    };
    println!("txs {}", latencies.len());
    println!("clients {}", args.clients);
    println!("target_rate {rate:.0}");
    println!(
        "achieved_rate {:.0}",
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!("latency_p50_ms {:.1}", pct(0.50));
    println!("latency_p99_ms {:.1}", pct(0.99));
    println!("latency_max_ms {:.1}", pct(1.0));
    Ok(())
}
