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
//! `--payload node-set` posts `{key, value}` for the node to sign (the same keys and values
//! as `set`): MiniLedger 0.2's only way to submit, so the benchmarks run it against both. Ours
//! needs the operator token for it (`--token` or `--token-file <data-dir>/operator.token`).
//! The node is the one sender and commits its transactions in the order it signed them, so
//! the last answered hash of every stream being committed means all are. With `--rate`, 0.2
//! has no `?wait=commit`: a watcher polls `GET /blocks/<next height>` every 2 ms and a
//! transaction's latency runs from its scheduled time to the first poll showing its block.
//!
//! `--spread API,…` spreads the clients over more nodes (a follower forwards to the leader).
//!
//! ```sh
//! cargo run --release -p miniledger-native --example load -- --api http://127.0.0.1:3000
//! ```

use clap::Parser;
use miniledger_core::{Keypair, PayloadBody, Transaction};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
    /// The operator token sent with `--payload node-set` (`Authorization: Bearer`).
    #[arg(long, conflicts_with = "token_file")]
    token: Option<String>,
    /// A file holding the operator token (our node's `<data-dir>/operator.token`).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// More nodes' APIs (comma-separated) to spread the clients over, client `c` posting to the
    /// `c % n`-th of `--api` and these: a follower forwards to the leader. Signed payloads only
    /// (each node signs `node-set` with its own key and token). Commits are awaited at `--api`.
    #[arg(long, value_delimiter = ',')]
    spread: Vec<String>,
}

impl Args {
    /// The URL of `path` at the API client `c` posts to.
    fn url_of(&self, client: usize, path: &str) -> String {
        let api = match client % (1 + self.spread.len()) {
            0 => &self.api,
            n => &self.spread[n - 1],
        };
        format!("{api}/{path}")
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Load {
    /// `state:set` of a small value.
    Set,
    /// `token.transfer(to, 1)` (after one `token.mint`).
    Transfer,
    /// `{key, value}` signed by the node (the keys and values of `set`).
    NodeSet,
}

/// One request body, with its hash when we signed it (else the node's answer names it).
struct Item {
    hash: Option<String>,
    json: String,
}

fn body(load: Load, sender: u64, n: u64) -> PayloadBody {
    let invoke = |method: &str, args: String| PayloadBody::ContractInvoke {
        contract: "token".into(),
        method: method.into(),
        args: serde_json::value::RawValue::from_string(args).expect("valid JSON"),
    };
    match load {
        Load::Set | Load::NodeSet => {
            PayloadBody::state_set(format!("load:{sender}:{}", n % 10), &n.to_string())
                .expect("valid JSON")
        }
        Load::Transfer if n == 0 => invoke("mint", "[1000000000]".into()),
        Load::Transfer => invoke("transfer", format!(r#"["sink:{}", 1]"#, sender % 10)),
    }
}

/// `per_sender` items of stream `sender`: signed transactions, or `{key, value}` bodies.
fn stream(args: &Args, now: u64, sender: u64, per_sender: u64) -> Vec<Item> {
    if args.payload == Load::NodeSet {
        // `set`'s key and value, distinct per item: 0.2 may give two pending transactions one
        // nonce, and equal payloads then one hash.
        return (0..per_sender)
            .map(|n| {
                let PayloadBody::StateSet { key, value } = body(Load::Set, sender, n) else {
                    unreachable!("`set` bodies are state:set");
                };
                Item {
                    hash: None,
                    json: serde_json::json!({ "key": key, "value": value }).to_string(),
                }
            })
            .collect();
    }
    let mut seed = [args.seed; 32];
    seed[..8].copy_from_slice(&sender.to_le_bytes());
    let key = Keypair::from_seed(seed);
    (0..per_sender)
        .map(|n| {
            let tx = Transaction::new_signed(&key, n, now, body(args.payload, sender, n));
            Item {
                json: serde_json::to_string(&tx).expect("encodes"),
                hash: Some(tx.hash),
            }
        })
        .collect()
}

fn operator_token(args: &Args) -> std::io::Result<Option<String>> {
    match (&args.token, &args.token_file) {
        (Some(token), _) => Ok(Some(token.clone())),
        (None, Some(file)) => Ok(Some(std::fs::read_to_string(file)?.trim().to_string())),
        (None, None) => Ok(None),
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

/// POSTs `body` as JSON (with the operator token if any); panics on a refusal.
fn post(agent: &ureq::Agent, url: &str, token: Option<&str>, body: &str) -> ureq::Response {
    let mut request = agent.post(url).set("Content-Type", "application/json");
    if let Some(token) = token {
        request = request.set("Authorization", &format!("Bearer {token}"));
    }
    request
        .send_string(body)
        .unwrap_or_else(|e| panic!("POST {url} failed: {e}"))
}

/// The hash the node answered for one `POST /tx`.
fn answered_hash(response: ureq::Response) -> String {
    let answer: serde_json::Value = response.into_json().expect("POST /tx answers JSON");
    answer["hash"].as_str().expect("a hash").to_string()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if args.payload == Load::NodeSet && !args.spread.is_empty() {
        return Err(
            "--spread takes signed payloads only: each node signs node-set with its own key".into(),
        );
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
    let per_sender = args.txs.div_ceil(args.senders);
    let token = operator_token(&args)?;
    // Sign everything before the clock starts: the node's rate is measured, not ours.
    let streams: Vec<Vec<Item>> = (0..args.senders)
        .map(|s| stream(&args, now, s, per_sender))
        .collect();
    let total: usize = streams.iter().map(Vec::len).sum();
    if let Some(rate) = args.rate {
        return latency(&args, &streams, rate, token.as_deref());
    }
    let started = Instant::now();
    let last_hashes = submit(&args, &streams, token.as_deref());
    let submitted = started.elapsed();
    let failed_receipts = await_commits(&args, &last_hashes)?;
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

/// Posts every stream from the clients (stream `i` from client `i % clients`); returns the
/// hash of each stream's last transaction.
fn submit(args: &Args, streams: &[Vec<Item>], token: Option<&str>) -> Vec<String> {
    let path = if args.batch > 1 { "txs" } else { "tx" };
    std::thread::scope(|s| {
        let clients: Vec<_> = (0..args.clients)
            .map(|c| {
                let url = args.url_of(c, path);
                s.spawn(move || {
                    let url = &url;
                    let agent = agent();
                    // (is the last of its stream, item)
                    let mine: Vec<(bool, &Item)> = (streams.iter().skip(c).step_by(args.clients))
                        .flat_map(|stream| {
                            let last = stream.len() - 1;
                            stream
                                .iter()
                                .enumerate()
                                .map(move |(i, item)| (i == last, item))
                        })
                        .collect();
                    let mut last_hashes = Vec::new();
                    for chunk in mine.chunks(args.batch.max(1)) {
                        if args.batch > 1 {
                            let jsons: Vec<&str> =
                                chunk.iter().map(|(_, i)| i.json.as_str()).collect();
                            let body = format!("[{}]", jsons.join(","));
                            let answers: Vec<serde_json::Value> = post(&agent, url, token, &body)
                                .into_json()
                                .expect("POST /txs answers an array");
                            if let Some(refused) = answers.iter().find(|a| a.get("error").is_some())
                            {
                                panic!("POST /txs refused a transaction: {refused}");
                            }
                            for ((last, item), answer) in chunk.iter().zip(&answers) {
                                if *last {
                                    let hash = item
                                        .hash
                                        .clone()
                                        .or_else(|| answer["hash"].as_str().map(str::to_string));
                                    last_hashes.push(hash.expect("a hash"));
                                }
                            }
                        } else {
                            let (last, item) = chunk[0];
                            let response = post(&agent, url, token, &item.json);
                            if last {
                                last_hashes.push(match &item.hash {
                                    Some(hash) => hash.clone(),
                                    None => answered_hash(response),
                                });
                            }
                        }
                    }
                    last_hashes
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|c| c.join().expect("client"))
            .collect()
    })
}

/// Waits until every hash is committed (`GET /tx/:hash` finds it, not pending); returns how many
/// of them have a failed receipt (`--payload transfer`).
fn await_commits(args: &Args, hashes: &[String]) -> Result<usize, Box<dyn std::error::Error>> {
    let agent = agent();
    let mut failed_receipts = 0;
    for hash in hashes {
        loop {
            let answer = agent.get(&format!("{}/tx/{hash}", args.api)).call();
            if let Ok(r) = answer {
                let v: serde_json::Value = r.into_json()?;
                // Ours answers a pending transaction `status: "pending"`; 0.2 knows only
                // committed ones (404 before), without `blockHeight`.
                if v["status"] != "pending" {
                    if args.payload == Load::Transfer && v["receipt"]["status"] != "success" {
                        failed_receipts += 1;
                    }
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    Ok(failed_receipts)
}

/// `--rate`: scheduled posts, each timed to its commit (`?wait=commit`, or for `node-set` the
/// block watcher); prints latency percentiles.
fn latency(
    args: &Args,
    streams: &[Vec<Item>],
    rate: f64,
    token: Option<&str>,
) -> Result<(), Box<dyn std::error::Error>> {
    let watcher = (args.payload == Load::NodeSet)
        .then(|| BlockWatcher::start(&args.api))
        .transpose()?;
    let path = match watcher {
        Some(_) => "tx",
        None => "tx?wait=commit",
    };
    let interval = Duration::from_secs_f64(args.clients as f64 / rate);
    let started = Instant::now();
    // Per transaction: its latency (waited for), or its hash and scheduled time (watched).
    let sent: Vec<Result<Duration, (String, Instant)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..args.clients)
            .map(|c| {
                let (url, watched) = (args.url_of(c, path), watcher.is_some());
                s.spawn(move || {
                    let url = &url;
                    let agent = agent();
                    // Stagger the clients over one interval.
                    let mut due = started + interval.mul_f64(c as f64 / args.clients as f64);
                    let mut out = Vec::new();
                    for stream in streams.iter().skip(c).step_by(args.clients) {
                        for item in stream {
                            let now = Instant::now();
                            if due > now {
                                std::thread::sleep(due - now);
                            }
                            let response = post(&agent, url, token, &item.json);
                            out.push(match watched {
                                true => Err((answered_hash(response), due)),
                                false => Ok(due.elapsed()),
                            });
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
    let mut latencies = match watcher {
        Some(watcher) => {
            let scheduled: Vec<(String, Instant)> =
                sent.into_iter().filter_map(Result::err).collect();
            watcher.latencies(&scheduled)
        }
        None => sent.into_iter().filter_map(Result::ok).collect(),
    };
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

/// When each transaction was first seen committed: polls `GET /blocks/<next height>` (the
/// same on 0.2 and ours) from the current tip on, every 2 ms while there is no new block.
struct BlockWatcher {
    seen: Arc<Mutex<HashMap<String, Instant>>>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

const WATCH_POLL: Duration = Duration::from_millis(2);
const WATCH_LIMIT: Duration = Duration::from_secs(120);

impl BlockWatcher {
    fn start(api: &str) -> Result<BlockWatcher, Box<dyn std::error::Error>> {
        let agent = agent();
        let status: serde_json::Value = agent.get(&format!("{api}/status")).call()?.into_json()?;
        let mut next = status["chainHeight"]
            .as_u64()
            .ok_or("no chainHeight in /status")?
            + 1;
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (api, seen_by_thread, stop_thread) = (api.to_string(), seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stop_thread.load(Ordering::Relaxed) {
                let block: Option<serde_json::Value> = (agent.get(&format!("{api}/blocks/{next}")))
                    .call()
                    .ok()
                    .and_then(|r| r.into_json().ok());
                let Some(block) = block else {
                    std::thread::sleep(WATCH_POLL);
                    continue;
                };
                let at = Instant::now();
                let mut seen = seen_by_thread.lock().expect("watcher lock");
                for tx in block["transactions"].as_array().into_iter().flatten() {
                    if let Some(hash) = tx["hash"].as_str() {
                        seen.insert(hash.to_string(), at);
                    }
                }
                next += 1;
            }
        });
        Ok(BlockWatcher { seen, stop, thread })
    }

    /// Each (hash, scheduled time)'s latency, once all are seen; panics after `WATCH_LIMIT`.
    fn latencies(self, scheduled: &[(String, Instant)]) -> Vec<Duration> {
        let deadline = Instant::now() + WATCH_LIMIT;
        let latencies = loop {
            let seen = self.seen.lock().expect("watcher lock");
            let found: Option<Vec<Duration>> = scheduled
                .iter()
                .map(|(hash, due)| seen.get(hash).map(|at| at.saturating_duration_since(*due)))
                .collect();
            if let Some(found) = found {
                break found;
            }
            drop(seen);
            assert!(
                Instant::now() < deadline,
                "transactions not committed within {WATCH_LIMIT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("watcher");
        latencies
    }
}
