//! `miniledger demo`: a three-validator Raft cluster on loopback, fed sample transactions, so a
//! newcomer can open the page and watch blocks arrive and verify. It deploys the two example
//! contracts (`examples/contracts/token.js` as `token`, `supply_chain.js` as `supply-chain`)
//! and keeps calling them beside plain `state:set`s, so contracts are seen at work. The nodes are ordinary
//! `miniledger start` processes of this same binary; the demo only picks their keys, ports and
//! data directories, feeds them, and stops them on Ctrl-C.

use crate::cli::DemoArgs;
use crate::identity::{Identity, Missing, OperatorToken, Passphrase};
use crate::storage::Store;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const NODES: u16 = 3;
const TOKEN: &str = include_str!("../../examples/contracts/token.js");
const SUPPLY_CHAIN: &str = include_str!("../../examples/contracts/supply_chain.js");

pub fn run(args: &DemoArgs) -> Result<(), String> {
    let root = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("miniledger-demo-{}", std::process::id()))
    });
    // Each node's key is made here first, so every node can be told the whole validator set.
    let dirs: Vec<PathBuf> = (0..NODES).map(|i| root.join(format!("node{i}"))).collect();
    let keys = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| node_key(dir, &format!("org{}", i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    let validators = keys.join(",");
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut nodes = Nodes(Vec::new());
    for (i, dir) in dirs.iter().enumerate() {
        let i = i as u16;
        let mut cmd = Command::new(&exe);
        cmd.arg("start")
            .arg("--data-dir")
            .arg(dir)
            .args(["--listen-address", "127.0.0.1"])
            .args(["--p2p-port", &(args.p2p_port + i).to_string()])
            .args(["--api-port", &(args.api_port + i).to_string()])
            .args(["--consensus", "raft", "--validators", &validators]);
        if i > 0 {
            cmd.args(["--peers", &format!("ws://127.0.0.1:{}", args.p2p_port)]);
        }
        let log = std::fs::File::create(dir.join("node.log")).map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start node {i}: {e}"))?;
        nodes.0.push(child);
    }
    let apis: Vec<String> = (0..NODES)
        .map(|i| format!("http://127.0.0.1:{}", args.api_port + i))
        .collect();
    for (api, dir) in apis.iter().zip(&dirs) {
        wait_ready(api, &mut nodes, dir)?;
    }
    println!(
        "MiniLedger demo: three Raft validators on loopback (data in {})",
        root.display()
    );
    for (i, api) in apis.iter().enumerate() {
        println!(
            "  node {i}: {api}  (log: {})",
            dirs[i].join("node.log").display()
        );
    }
    println!(
        "\n  open {}/ to watch blocks arrive and verify in your browser\n",
        apis[0]
    );
    println!("Ctrl-C stops the cluster.");

    let stop = Arc::new(AtomicBool::new(false));
    // The feeder asks the nodes to sign, as their operator: it reads their tokens.
    let tokens = dirs
        .iter()
        .map(|dir| OperatorToken::load_or_create(dir).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let feeder = (args.tx_interval_ms > 0).then(|| {
        let (stop, every) = (stop.clone(), args.tx_interval_ms);
        let targets: Vec<Target> = apis
            .iter()
            .cloned()
            .zip(tokens)
            .zip(keys)
            .map(|((api, token), key)| Target { api, token, key })
            .collect();
        std::thread::spawn(move || {
            deploy_examples(&targets[0], &stop);
            feed(&targets, Duration::from_millis(every), &stop)
        })
    });
    wait_for_signal()?;
    stop.store(true, Ordering::Relaxed);
    if let Some(feeder) = feeder {
        let _ = feeder.join();
    }
    println!("stopping the demo cluster");
    Ok(())
}

/// The node's public key, creating its identity (key, operator token) in `dir` if needed.
fn node_key(dir: &Path, org: &str) -> Result<String, String> {
    let store = Store::open(dir).map_err(|e| e.to_string())?;
    let identity = Identity::load(dir, &store, org, &Passphrase::default(), Missing::Create)
        .map_err(|e| e.to_string())?;
    OperatorToken::load_or_create(dir).map_err(|e| e.to_string())?;
    Ok(identity.key.public_hex().to_string())
}

/// The child processes, killed when the demo ends however it ends.
struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_ready(api: &str, nodes: &mut Nodes, dir: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if ureq::get(&format!("{api}/status")).call().is_ok() {
            return Ok(());
        }
        if nodes
            .0
            .iter_mut()
            .any(|c| matches!(c.try_wait(), Ok(Some(_))))
            || Instant::now() > deadline
        {
            let log = std::fs::read_to_string(dir.join("node.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            return Err(format!(
                "a demo node did not start; end of {}:\n{}",
                dir.join("node.log").display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A node the feeder writes through, as its operator.
struct Target {
    api: String,
    token: OperatorToken,
    /// The node's public key (the sender of what it signs).
    key: String,
}

impl Target {
    fn post(
        &self,
        agent: &ureq::Agent,
        path: &str,
        body: serde_json::Value,
    ) -> Option<serde_json::Value> {
        agent
            .post(&format!("{}{path}", self.api))
            .set("Authorization", &format!("Bearer {}", self.token.expose()))
            .send_json(body)
            .ok()?
            .into_json()
            .ok()
    }
}

fn contract_tx(payload: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"type": payload["kind"].clone(), "payload": payload})
}

/// Deploys the two example contracts through `target`, each once committed (retried while the
/// cluster elects its leader), and says so.
fn deploy_examples(target: &Target, stop: &AtomicBool) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(35))
        .build();
    for (name, code) in [("token", TOKEN), ("supply-chain", SUPPLY_CHAIN)] {
        let body = contract_tx(serde_json::json!({
            "kind": "contract:deploy", "name": name, "version": "1.0.0", "code": code,
        }));
        while !stop.load(Ordering::Relaxed) {
            if let Some(answer) = target.post(&agent, "/tx?wait=commit", body.clone()) {
                let status = &answer["receipt"]["status"];
                println!(
                    "contract {name} deployed in block {} ({status}); try: miniledger contract show {name} --api {}",
                    answer["blockHeight"], target.api
                );
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Posts sample transactions to each node in turn until `stop`: a `state:set`, a token mint,
/// a token transfer to the next node, a supply-chain step (a new crate, then its moves).
fn feed(targets: &[Target], every: Duration, stop: &AtomicBool) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .build();
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let i = (n % targets.len() as u64) as usize;
        // Crates are made and moved by one node (their owner); the rest goes round.
        let target = if n % 4 == 3 { &targets[0] } else { &targets[i] };
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let round = n / 4;
        let body = match n % 4 {
            0 => serde_json::json!({
                "key": format!("demo:sensor-{}", n % 12),
                "value": {"reading": (n * 37) % 100, "seq": n, "at": at},
            }),
            1 => contract_tx(serde_json::json!({
                "kind": "contract:invoke", "contract": "token", "method": "mint", "args": [10],
            })),
            2 => contract_tx(serde_json::json!({
                "kind": "contract:invoke", "contract": "token", "method": "transfer",
                "args": [targets[(i + 1) % targets.len()].key, 1 + round % 5],
            })),
            _ if round.is_multiple_of(3) => contract_tx(serde_json::json!({
                "kind": "contract:invoke", "contract": "supply-chain", "method": "createProduct",
                "args": [format!("crate-{round}"), "demo crate", "Rotterdam"],
            })),
            _ => contract_tx(serde_json::json!({
                "kind": "contract:invoke", "contract": "supply-chain", "method": "updateLocation",
                "args": [format!("crate-{}", round - round % 3), format!("hub {}", round % 3), ""],
            })),
        };
        // A node still electing a leader may refuse for a moment; the next one is tried.
        let _ = target.post(&agent, "/tx", body);
        n += 1;
        std::thread::sleep(every);
    }
}

/// Blocks until Ctrl-C or SIGTERM.
fn wait_for_signal() -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        Ok(())
    })
}
