//! `miniledger demo`: a three-validator Raft cluster on loopback, fed sample transactions, so a
//! newcomer can open the page and watch blocks arrive and verify. The nodes are ordinary
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
        let targets: Vec<(String, OperatorToken)> = apis.iter().cloned().zip(tokens).collect();
        std::thread::spawn(move || feed(&targets, Duration::from_millis(every), &stop))
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

/// Posts a sample `state:set` to each node in turn until `stop`.
fn feed(targets: &[(String, OperatorToken)], every: Duration, stop: &AtomicBool) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .build();
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let (api, token) = &targets[(n % targets.len() as u64) as usize];
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let body = serde_json::json!({
            "key": format!("demo:sensor-{}", n % 12),
            "value": {"reading": (n * 37) % 100, "seq": n, "at": at},
        });
        // A node still electing a leader may refuse for a moment; the next one is tried.
        let _ = agent
            .post(&format!("{api}/tx"))
            .set("Authorization", &format!("Bearer {}", token.expose()))
            .send_json(body);
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
