//! The nemesis: network faults between real node processes, with client histories checked.
//!
//! Three Raft validators, each in its own network namespace (`common::netns`), under a seeded
//! schedule of fault windows: a majority/minority partition, an isolated leader, a bridge node
//! (A–B and B–C but not A–C), one-way drops, random loss, 100–500 ms link delay with jitter
//! (a relay, `common::delay_proxy`: this kernel has no netem), SIGSTOP pauses, `kill -9` and
//! restart, and a wall-clock jump on one node (the LD_PRELOAD shim). Meanwhile clients write
//! (`POST /tx?wait=commit`) and read (plain and `?consistency=linearizable`) keys through every
//! node; after healing, the history is checked per key (`common::history`) and the chains by
//! `common::checker`: identical everywhere, every acknowledged write committed exactly once.
//!
//! `scripts/nemesis.sh` runs it with `ROUNDS`, `SEED`, `FAULTS`; it prints
//! `N ops, K anomalies, L lost`. Needs root, `ip` and `iptables` (skips with a message
//! otherwise).

mod common;

use common::checker;
use common::history::{self, History, Op, Outcome};
use common::linearizable::{check, Operation, RegisterOp, Verdict};
use common::netns::Net;
use common::{init_node, NodeProcess, Operator};
use miniledger_core::rng::SplitMix;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const NODES: usize = 3;
const CLIENTS: u64 = 6;
/// Keys per round: few enough that each key sees concurrency, enough to spread the load.
const KEYS_PER_ROUND: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Majority,
    IsolateLeader,
    Bridge,
    OneWay,
    Loss,
    Pause,
    Kill,
    Clock,
    Delay,
}

const ALL_FAULTS: [Fault; 9] = [
    Fault::Majority,
    Fault::IsolateLeader,
    Fault::Bridge,
    Fault::OneWay,
    Fault::Loss,
    Fault::Pause,
    Fault::Kill,
    Fault::Clock,
    Fault::Delay,
];

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::Majority => "majority",
            Fault::IsolateLeader => "isolate-leader",
            Fault::Bridge => "bridge",
            Fault::OneWay => "one-way",
            Fault::Loss => "loss",
            Fault::Pause => "pause",
            Fault::Kill => "kill",
            Fault::Clock => "clock",
            Fault::Delay => "delay",
        }
    }

    fn parse(list: &str) -> Vec<Fault> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|name| {
                *ALL_FAULTS
                    .iter()
                    .find(|f| f.name() == name)
                    .unwrap_or_else(|| panic!("unknown fault {name:?}"))
            })
            .collect()
    }
}

struct Settings {
    rounds: usize,
    seed: u64,
    faults: Vec<Fault>,
    window: Duration,
}

impl Settings {
    fn from_env() -> Settings {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let number =
            |name: &str, default: u64| var(name).map_or(default, |v| v.parse().expect("a number"));
        Settings {
            rounds: number("NEMESIS_ROUNDS", 8) as usize,
            seed: number("NEMESIS_SEED", 1),
            faults: var("NEMESIS_FAULTS").map_or(ALL_FAULTS.to_vec(), |f| Fault::parse(&f)),
            window: Duration::from_millis(number("NEMESIS_WINDOW_MS", 4_000)),
        }
    }
}

/// The three nodes, their namespaces and what restarts them.
struct Cluster {
    net: Net,
    dirs: Vec<TempDir>,
    keys: Vec<String>,
    nodes: Vec<Option<NodeProcess>>,
    shim: PathBuf,
    clock_files: Vec<PathBuf>,
    _shim_dir: TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        let net = Net::create(NODES, 9000);
        let dirs: Vec<TempDir> = (0..NODES).map(|_| tempfile::tempdir().unwrap()).collect();
        let keys: Vec<String> = dirs.iter().map(|d| init_node(d.path())).collect();
        let shim_dir = tempfile::tempdir().unwrap();
        let shim = common::build_wall_clock_shim(shim_dir.path());
        let clock_files = (0..NODES)
            .map(|i| {
                let f = shim_dir.path().join(format!("offset-{i}"));
                std::fs::write(&f, "0").unwrap();
                f
            })
            .collect();
        let mut cluster = Cluster {
            net,
            dirs,
            keys,
            nodes: (0..NODES).map(|_| None).collect(),
            shim,
            clock_files,
            _shim_dir: shim_dir,
        };
        for i in 0..NODES {
            cluster.launch(i);
        }
        cluster
    }

    fn launch(&mut self, i: usize) {
        let validators = self.keys.join(",");
        let peers: Vec<String> = (0..NODES)
            .filter(|&j| j != i)
            .map(|j| format!("ws://{}:9000", self.net.hosts[j].ip))
            .collect();
        let peers = peers.join(",");
        let extra = [
            "--consensus",
            "raft",
            "--validators",
            &validators,
            "--peers",
            &peers,
        ];
        let env: [(&str, &OsStr); 2] = [
            ("LD_PRELOAD", self.shim.as_os_str()),
            ("WALL_OFFSET_FILE", self.clock_files[i].as_os_str()),
        ];
        let name = ["A", "B", "C"][i];
        let node =
            NodeProcess::start_on(name, &self.net.hosts[i], self.dirs[i].path(), &extra, &env);
        self.nodes[i] = Some(node);
    }

    fn operators(&self) -> Vec<Operator> {
        self.nodes
            .iter()
            .map(|n| n.as_ref().expect("all up at the start").operator())
            .collect()
    }

    fn signal(&self, i: usize, signal: i32) {
        if let Some(node) = &self.nodes[i] {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(node.pid() as i32, signal) };
        }
    }

    /// The node that says it leads, if any answers so.
    fn leader(&self) -> Option<usize> {
        (0..NODES).find(|&i| {
            self.nodes[i].as_ref().is_some_and(
                |n| matches!(n.try_get("/consensus"), Ok((200, v)) if v["role"] == "leader"),
            )
        })
    }

    fn set_clock_offset(&self, i: usize, ms: i64) {
        std::fs::write(&self.clock_files[i], ms.to_string()).unwrap();
    }

    fn live(&self) -> Vec<&NodeProcess> {
        self.nodes.iter().flatten().collect()
    }
}

/// What a fault window changed, to undo at its end.
enum Undo {
    Filters,
    Resume(usize),
    Restart(usize),
    Clock(usize),
    Delay,
}

fn inject(c: &mut Cluster, fault: Fault, rng: &mut SplitMix) -> (Undo, String) {
    let pick = |rng: &mut SplitMix| rng.range(0, NODES as u64) as usize;
    let others = |i: usize| -> Vec<usize> { (0..NODES).filter(|&j| j != i).collect() };
    match fault {
        Fault::Majority => {
            let alone = pick(rng);
            c.net.partition(&[vec![alone], others(alone)]);
            (Undo::Filters, format!("{alone} cut off from the majority"))
        }
        Fault::IsolateLeader => {
            let leader = c.leader().unwrap_or_else(|| pick(rng));
            c.net.partition(&[vec![leader], others(leader)]);
            (Undo::Filters, format!("leader {leader} isolated"))
        }
        Fault::Bridge => {
            let bridge = pick(rng);
            let ends = others(bridge);
            c.net.cut(ends[0], ends[1]);
            (
                Undo::Filters,
                format!("{bridge} bridges {} and {}", ends[0], ends[1]),
            )
        }
        Fault::OneWay => {
            let from = pick(rng);
            let to = others(from)[rng.range(0, 2) as usize];
            c.net.drop_from(from, to, None);
            (Undo::Filters, format!("{from} → {to} dropped"))
        }
        Fault::Loss => {
            for a in 0..NODES {
                for b in others(a) {
                    c.net.drop_from(a, b, Some(0.3));
                }
            }
            (Undo::Filters, "30% loss on every link".into())
        }
        Fault::Pause => {
            let i = if rng.range(0, 2) == 0 {
                c.leader().unwrap_or_else(|| pick(rng))
            } else {
                pick(rng)
            };
            c.signal(i, libc::SIGSTOP);
            (Undo::Resume(i), format!("{i} paused"))
        }
        Fault::Kill => {
            let i = if rng.range(0, 2) == 0 {
                c.leader().unwrap_or_else(|| pick(rng))
            } else {
                pick(rng)
            };
            c.signal(i, libc::SIGKILL);
            c.nodes[i] = None; // reaps it
            (Undo::Restart(i), format!("{i} killed"))
        }
        Fault::Clock => {
            let i = pick(rng);
            let sign = if rng.range(0, 2) == 0 { -1 } else { 1 };
            let ms = sign * rng.range(60_000, 600_000) as i64;
            c.set_clock_offset(i, ms);
            (Undo::Clock(i), format!("{i}'s wall clock jumps {ms} ms"))
        }
        Fault::Delay => {
            let base = rng.range(100, 501);
            let jitter = rng.range(0, base / 2 + 1);
            c.net.delay.set(base, jitter);
            (
                Undo::Delay,
                format!("every link delayed {base} ms + up to {jitter} ms"),
            )
        }
    }
}

fn undo(c: &mut Cluster, undo: Undo) {
    match undo {
        Undo::Filters => c.net.heal(),
        Undo::Resume(i) => c.signal(i, libc::SIGCONT),
        Undo::Restart(i) => c.launch(i),
        Undo::Clock(i) => c.set_clock_offset(i, 0),
        Undo::Delay => c.net.delay.clear(),
    }
}

/// The clients' shared state.
struct Load {
    history: History,
    stop: AtomicBool,
    round: Mutex<usize>,
    /// Hashes of acknowledged writes (must be in the chain exactly once).
    acked: Mutex<Vec<String>>,
}

fn client(load: &Load, nodes: &[Operator], id: u64, seed: u64) {
    let mut rng = SplitMix::new(seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(8))
        .build();
    let mut process = id;
    let mut written = 0u64;
    while !load.stop.load(Ordering::Relaxed) {
        let node_index = rng.range(0, nodes.len() as u64) as usize;
        let node = &nodes[node_index];
        let mut status = String::new();
        let round = *load.round.lock().unwrap();
        let key = format!("r{round}-k{}", rng.range(0, KEYS_PER_ROUND as u64));
        let choice = rng.range(0, 4);
        let op = match choice {
            0 | 1 => {
                written += 1;
                Op::Write(format!("p{process}-{written}"))
            }
            2 => Op::Read,
            _ => Op::LinearizableRead,
        };
        load.history.invoke(process, &key, op.clone());
        let outcome = match &op {
            Op::Write(value) => {
                let body = json!({ "key": key, "value": value });
                let result = agent
                    .post(&format!("{}/tx?wait=commit", node.api))
                    .set("Authorization", &format!("Bearer {}", node.token))
                    .send_json(body);
                status = match &result {
                    Ok(r) => r.status().to_string(),
                    Err(ureq::Error::Status(code, _)) => code.to_string(),
                    Err(e) => e.kind().to_string(),
                };
                match result {
                    Ok(r) if r.status() == 200 => {
                        let v: Value = r.into_json().unwrap_or(Value::Null);
                        if let Some(hash) = v["hash"].as_str() {
                            load.acked.lock().unwrap().push(hash.to_string());
                        }
                        Outcome::Ok(None)
                    }
                    // Refused before admission: it never happened.
                    Err(ureq::Error::Status(400 | 401 | 403 | 409 | 413 | 415 | 422, _)) => {
                        Outcome::Fail
                    }
                    _ => Outcome::Unknown,
                }
            }
            Op::Read | Op::LinearizableRead => {
                let query = if op == Op::Read {
                    ""
                } else {
                    "?consistency=linearizable"
                };
                match agent
                    .get(&format!("{}/state/{key}{query}", node.api))
                    .call()
                {
                    Ok(r) => {
                        let v: Value = r.into_json().unwrap_or(Value::Null);
                        Outcome::Ok(v["value"].as_str().map(str::to_string))
                    }
                    Err(ureq::Error::Status(404, _)) => Outcome::Ok(None),
                    // A read that failed saw nothing; it cannot be wrong.
                    Err(_) => Outcome::Fail,
                }
            }
        };
        let unknown = outcome == Outcome::Unknown;
        load.history.complete_noted(
            process,
            &key,
            outcome,
            format!("node {node_index} {status}"),
        );
        if unknown {
            process += CLIENTS; // Jepsen: a process whose operation hangs is replaced
        }
        std::thread::sleep(Duration::from_millis(rng.range(0, 30)));
    }
}

/// The values written to each key, in chain order (from a node's blocks).
fn commit_order(node: &NodeProcess) -> HashMap<String, Vec<String>> {
    let mut order: HashMap<String, Vec<String>> = HashMap::new();
    let height = node.tip().0;
    for h in 1..=height {
        let block = node.get_ok(&format!("/blocks/{h}"));
        for tx in block["transactions"].as_array().unwrap() {
            let payload = &tx["payload"];
            if let (Some(k), Some(v)) = (payload["key"].as_str(), payload["value"].as_str()) {
                order.entry(k.to_string()).or_default().push(v.to_string());
            }
        }
    }
    order
}

/// Waits until every node is up, agrees on the tip and has an empty mempool.
fn settle(c: &Cluster, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let live = c.live();
        let tips: Vec<(u64, String)> = live.iter().map(|n| n.tip()).collect();
        let idle = live
            .iter()
            .all(|n| n.status()["mempool"].as_u64() == Some(0));
        if live.len() == NODES && idle && tips.windows(2).all(|w| w[0] == w[1]) {
            return true;
        }
        if Instant::now() > deadline {
            eprintln!("nemesis: not settled after {limit:?}: tips {tips:?}, idle {idle}");
            for n in &live {
                eprintln!("nemesis: {} status {}", n.name, n.status());
            }
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn nemesis() {
    if let Some(why) = Net::unavailable() {
        eprintln!("SKIP nemesis: {why}");
        return;
    }
    let settings = Settings::from_env();
    let mut rng = SplitMix::new(settings.seed);
    let mut c = Cluster::start();
    let operators = c.operators();
    common::wait_until("a leader", || c.leader().is_some());

    let load = Arc::new(Load {
        history: History::default(),
        stop: AtomicBool::new(false),
        round: Mutex::new(0),
        acked: Mutex::new(Vec::new()),
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (load, nodes, seed) = (load.clone(), operators.clone(), settings.seed);
            std::thread::spawn(move || client(&load, &nodes, id, seed))
        })
        .collect();

    let mut windows: HashMap<&str, usize> = HashMap::new();
    for round in 0..settings.rounds {
        *load.round.lock().unwrap() = round;
        let fault = settings.faults[rng.range(0, settings.faults.len() as u64) as usize];
        let (to_undo, what) = inject(&mut c, fault, &mut rng);
        eprintln!("nemesis: round {round}: {} ({what})", fault.name());
        *windows.entry(fault.name()).or_default() += 1;
        std::thread::sleep(settings.window);
        undo(&mut c, to_undo);
        std::thread::sleep(settings.window / 2); // heal
    }
    load.stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }

    let settled = settle(&c, Duration::from_secs(60));
    let live = c.live();
    let acked = load.acked.lock().unwrap().clone();
    let mut report = checker::check(&live, &acked);
    report.unsettled = !settled;
    let order = commit_order(live[0]);
    let analysis = history::analyse(&load.history, &order);
    let chain_anomalies = report.duplicated.len()
        + report.nonce_breaks.len()
        + report.diverged.len()
        + usize::from(report.unsettled);
    eprintln!("nemesis: fault windows {windows:?}");
    eprintln!("nemesis: chain {}", report.summary());
    eprintln!(
        "nemesis: {} linearizable reads, {} plain reads ({} stale, max {} ms), {} unknown, {} failed",
        analysis.linearizable_reads,
        analysis.plain_reads,
        analysis.stale_reads,
        analysis.max_staleness.as_millis(),
        analysis.unknown,
        analysis.failed
    );
    if !analysis.undecided.is_empty() {
        eprintln!("nemesis: too large to check: keys {:?}", analysis.undecided);
    }
    if !analysis.non_linearizable.is_empty() {
        eprintln!(
            "nemesis: not linearizable: keys {:?}",
            analysis.non_linearizable
        );
        let first = &analysis.non_linearizable[0];
        eprintln!("nemesis: history of {first}:\n{}", load.history.dump(first));
    }
    println!(
        "{} ops, {} anomalies, {} lost",
        analysis.ops,
        analysis.anomalies() + chain_anomalies,
        report.lost.len()
    );
    assert!(
        analysis.linearizable_reads > 0,
        "no linearizable read succeeded"
    );
    assert_eq!(analysis.anomalies(), 0, "linearizability anomalies");
    assert!(
        analysis.undecided.is_empty(),
        "histories too large to check"
    );
    report.assert_clean();
}

/// The delay relay holds a node's P2P traffic for the delay set, both ways, and passes it at
/// once when none is set.
#[test]
fn the_delay_relay_holds_p2p_traffic() {
    if let Some(why) = Net::unavailable() {
        eprintln!("SKIP: {why}");
        return;
    }
    let net = Net::create(2, 9000);
    let server_ip = net.hosts[1].ip.clone();
    let server_ns = net.hosts[1].ns.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        common::delay_proxy::enter(&server_ns);
        let listener = std::net::TcpListener::bind((server_ip.as_str(), 9000)).unwrap();
        ready_tx.send(()).unwrap();
        for mut conn in listener.incoming().flatten() {
            std::thread::spawn(move || std::io::copy(&mut conn.try_clone().unwrap(), &mut conn));
        }
    });
    ready_rx.recv().unwrap();
    let client_ns = net.hosts[0].ns.clone();
    let target = format!("{}:9000", net.hosts[1].ip);
    let round_trip = move || {
        let (client_ns, target) = (client_ns.clone(), target.clone());
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            common::delay_proxy::enter(&client_ns);
            let mut s = std::net::TcpStream::connect(&target).unwrap();
            let started = Instant::now();
            s.write_all(b"ping").unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"ping");
            started.elapsed()
        })
        .join()
        .unwrap()
    };
    assert!(round_trip() < Duration::from_millis(100), "no delay set");
    net.delay.set(200, 0);
    let held = round_trip();
    assert!(
        held >= Duration::from_millis(400),
        "200 ms each way: {held:?}"
    );
    net.delay.clear();
    assert!(round_trip() < Duration::from_millis(100), "cleared");
}

/// The checker itself: a linearizable read that misses an acknowledged write is caught, and
/// the same read is fine while the write is still in flight.
#[test]
fn the_history_checker_catches_a_stale_linearizable_read() {
    let order = HashMap::from([("k".to_string(), vec!["a".to_string()])]);
    let stale = History::default();
    stale.invoke(0, "k", Op::Write("a".into()));
    stale.complete(0, "k", Outcome::Ok(None));
    stale.invoke(1, "k", Op::LinearizableRead);
    stale.complete(1, "k", Outcome::Ok(None));
    assert_eq!(history::analyse(&stale, &order).anomalies(), 1);

    let concurrent = History::default();
    concurrent.invoke(0, "k", Op::Write("a".into()));
    concurrent.invoke(1, "k", Op::LinearizableRead);
    concurrent.complete(1, "k", Outcome::Ok(None));
    concurrent.complete(0, "k", Outcome::Ok(None));
    assert_eq!(history::analyse(&concurrent, &order).anomalies(), 0);

    // A plain read may be stale: counted, not an anomaly.
    let plain = History::default();
    plain.invoke(0, "k", Op::Write("a".into()));
    plain.complete(0, "k", Outcome::Ok(None));
    plain.invoke(1, "k", Op::Read);
    plain.complete(1, "k", Outcome::Ok(None));
    let analysis = history::analyse(&plain, &order);
    assert_eq!((analysis.anomalies(), analysis.stale_reads), (0, 1));

    // An unknown write may have happened, or not.
    let unknown = History::default();
    unknown.invoke(0, "k", Op::Write("a".into()));
    unknown.complete(0, "k", Outcome::Unknown);
    unknown.invoke(1, "k", Op::LinearizableRead);
    unknown.complete(1, "k", Outcome::Ok(Some("a".into())));
    unknown.invoke(1, "k", Op::LinearizableRead);
    unknown.complete(1, "k", Outcome::Ok(Some("a".into())));
    assert_eq!(history::analyse(&unknown, &order).anomalies(), 0);
}

// The register checker (`common::linearizable`) on known histories.

fn op(op: RegisterOp, call: usize, ret: Option<usize>) -> Operation {
    Operation { op, call, ret }
}

fn w(v: &str) -> RegisterOp {
    RegisterOp::Write(v.into())
}

fn r(v: Option<&str>) -> RegisterOp {
    RegisterOp::Read(v.map(str::to_string))
}

#[test]
fn the_register_cases() {
    // A read after an acknowledged write must see it.
    assert_eq!(
        check(&[op(w("a"), 0, Some(1)), op(r(None), 2, Some(3))]),
        Verdict::NotLinearizable
    );
    assert_eq!(
        check(&[op(w("a"), 0, Some(1)), op(r(Some("a")), 2, Some(3))]),
        Verdict::Linearizable
    );
    // Concurrent: either value.
    assert_eq!(
        check(&[op(w("a"), 0, Some(3)), op(r(None), 1, Some(2))]),
        Verdict::Linearizable
    );
    assert_eq!(
        check(&[op(w("a"), 0, Some(3)), op(r(Some("a")), 1, Some(2))]),
        Verdict::Linearizable
    );
    // Once a read saw the new value, a later read cannot see the old one.
    assert_eq!(
        check(&[
            op(w("a"), 0, Some(5)),
            op(r(Some("a")), 1, Some(2)),
            op(r(None), 3, Some(4)),
        ]),
        Verdict::NotLinearizable
    );
    // An unknown write may take effect late, or seem never to.
    assert_eq!(
        check(&[op(w("a"), 0, None), op(r(None), 1, Some(2))]),
        Verdict::Linearizable
    );
    assert_eq!(
        check(&[
            op(w("a"), 0, None),
            op(r(None), 1, Some(2)),
            op(r(Some("a")), 3, Some(4)),
        ]),
        Verdict::Linearizable
    );
    // A value nobody wrote.
    assert_eq!(
        check(&[op(r(Some("z")), 0, Some(1))]),
        Verdict::NotLinearizable
    );
}

#[test]
fn a_long_non_linearizable_history_is_refuted_quickly() {
    // Twenty waves of six concurrent writes, then a read of a value a later write had
    // acknowledged before the read began. Without memoisation the search would try 6!^20
    // orders before giving up; stateright's tester never finished on shapes like this.
    let mut ops = Vec::new();
    for wave in 0..20 {
        for i in 0..6 {
            let t = wave * 100;
            ops.push(op(w(&format!("v{wave}-{i}")), t + i, Some(t + 50 + i)));
        }
    }
    ops.push(op(r(Some("v3-0")), 5_000, Some(5_001)));
    let started = std::time::Instant::now();
    assert_eq!(check(&ops), Verdict::NotLinearizable);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
