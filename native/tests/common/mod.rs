//! Real `miniledger` node processes on loopback for the API and cluster tests: temp data dirs,
//! free ports, readiness and conditions polled with deadlines, children killed on drop.

#![allow(dead_code)]

pub mod checker;
pub mod delay_proxy;
pub mod fake_peer;
pub mod history;
pub mod linearizable;
pub mod loaded;
pub mod netns;
pub mod raft;
pub mod raw_peer;
pub mod ref02;

use serde_json::Value;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_miniledger");

/// How long any awaited condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub struct NodeProcess {
    child: Child,
    pub name: String,
    /// `http://127.0.0.1:PORT` (`https://` with TLS)
    pub api: String,
    /// `ws://127.0.0.1:PORT` (`wss://` with TLS)
    pub p2p: String,
    /// The certificate the node serves, trusted by this handle's HTTP client and CLI runs.
    pub tls: Option<TestCert>,
    /// The node's operator token (`<data-dir>/operator.token`), sent with every POST.
    pub token: String,
    pub data_dir: PathBuf,
    agent: ureq::Agent,
    log: PathBuf,
    _dir: TempDir,
}

/// Where and as whom to POST to a node: its API and operator token, cloneable into threads
/// that outlive a [`NodeProcess`] handle (a restarted node keeps its data dir, so its token).
#[derive(Debug, Clone)]
pub struct Operator {
    pub api: String,
    pub token: String,
}

/// A self-signed certificate for `localhost` and 127.0.0.1, in PEM files.
#[derive(Clone)]
pub struct TestCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    _dir: std::sync::Arc<TempDir>,
}

impl TestCert {
    pub fn localhost() -> TestCert {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let generated = rcgen::generate_simple_self_signed(names).unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, generated.cert.pem()).unwrap();
        std::fs::write(&key, generated.key_pair.serialize_pem()).unwrap();
        TestCert {
            cert,
            key,
            _dir: std::sync::Arc::new(dir),
        }
    }

    /// A blocking HTTP client that trusts this certificate.
    pub fn agent(&self) -> ureq::Agent {
        let config = miniledger_native::tls::client_config(&[self.cert.as_path()]).unwrap();
        ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(10))
            .tls_config(config)
            .build()
    }
}

/// Two distinct free loopback ports (both held while picking, so they differ).
pub fn free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

impl NodeProcess {
    /// Starts `miniledger start` (or `join <peer>`) on a fresh data dir and waits until its API
    /// answers.
    pub fn start(name: &str, join: Option<&str>, extra: &[&str]) -> NodeProcess {
        Self::start_with(name, None, join, extra, None, &[])
    }

    /// As [`NodeProcess::start`], serving `cert` on both ports (`https://`, `wss://`).
    pub fn start_tls(
        name: &str,
        cert: &TestCert,
        join: Option<&str>,
        extra: &[&str],
    ) -> NodeProcess {
        Self::start_with(name, None, join, extra, Some(cert), &[])
    }

    /// As [`NodeProcess::start`], on an existing data dir (which the caller keeps).
    pub fn start_in(
        name: &str,
        data_dir: &Path,
        join: Option<&str>,
        extra: &[&str],
    ) -> NodeProcess {
        Self::start_with(name, Some(data_dir), join, extra, None, &[])
    }

    /// As [`NodeProcess::start_in`], with these environment variables set.
    pub fn start_in_env(
        name: &str,
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> NodeProcess {
        Self::start_with(name, Some(data_dir), None, extra, None, env)
    }

    fn start_with(
        name: &str,
        data_dir: Option<&Path>,
        join: Option<&str>,
        extra: &[&str],
        tls: Option<&TestCert>,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> NodeProcess {
        // A port picked free can be taken by someone else before the node binds it: retry.
        for _ in 0..3 {
            match Self::try_start(name, data_dir, join, extra, tls, env, None) {
                Ok(node) => return node,
                Err(log) if log.contains("Address already in use") => continue,
                Err(log) => panic!("node {name} did not start:\n{log}"),
            }
        }
        panic!("node {name}: no free ports after 3 tries");
    }

    /// As [`NodeProcess::start_in_env`], inside `host`'s network namespace, listening on its
    /// address with the default ports (the namespace is the node's own).
    pub fn start_on(
        name: &str,
        host: &netns::Host,
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> NodeProcess {
        Self::try_start(name, Some(data_dir), None, extra, None, env, Some(host))
            .unwrap_or_else(|log| panic!("node {name} did not start:\n{log}"))
    }

    fn try_start(
        name: &str,
        data_dir: Option<&Path>,
        join: Option<&str>,
        extra: &[&str],
        tls: Option<&TestCert>,
        env: &[(&str, &std::ffi::OsStr)],
        host: Option<&netns::Host>,
    ) -> Result<NodeProcess, String> {
        let dir = tempfile::tempdir().unwrap();
        let ((p2p_port, api_port), address) = match host {
            Some(host) => ((9000, 3000), host.ip.as_str()),
            None => (free_ports(), "127.0.0.1"),
        };
        let log = dir.path().join("node.log");
        // `ip netns exec` execs the node, so the child's pid is the node's (for signals).
        let mut cmd = match host {
            Some(host) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", &host.ns, BIN]);
                cmd
            }
            None => Command::new(BIN),
        };
        match join {
            Some(peer) => cmd.args(["join", peer]),
            None => cmd.arg("start"),
        };
        let data_dir = data_dir.map_or_else(|| dir.path().join("data"), Path::to_path_buf);
        cmd.arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen-address", address])
            .args(["--p2p-port", &p2p_port.to_string()])
            .args(["--api-port", &api_port.to_string()])
            .args(extra)
            .env("RUST_LOG", "info")
            .env_remove("MINILEDGER_DATA_DIR")
            .env_remove("MINILEDGER_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap());
        cmd.envs(env.iter().copied());
        if let Some(tls) = tls {
            cmd.arg("--tls-cert").arg(&tls.cert);
            cmd.arg("--tls-key").arg(&tls.key);
        }
        let child = cmd.spawn().expect("spawn miniledger");
        let s = if tls.is_some() { "s" } else { "" };
        let mut node = NodeProcess {
            child,
            name: name.to_string(),
            api: format!("http{s}://{address}:{api_port}"),
            p2p: format!("ws{s}://{address}:{p2p_port}"),
            tls: tls.cloned(),
            token: String::new(),
            data_dir: data_dir.clone(),
            agent: tls.map_or_else(Self::agent, TestCert::agent),
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Ok(Some(status)) = node.child.try_wait() {
                return Err(format!("exited with {status}:\n{}", node.log()));
            }
            if matches!(node.try_get("/status"), Ok((200, _))) {
                // Written before the API listens.
                node.token = std::fs::read_to_string(data_dir.join("operator.token"))
                    .expect("operator.token")
                    .trim()
                    .to_string();
                return Ok(node);
            }
            if Instant::now() > deadline {
                return Err(format!("API not up in time:\n{}", node.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The node's process id (for /proc sampling).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, once the process has ended by itself.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn agent() -> ureq::Agent {
        ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(10))
            .build()
    }

    pub fn try_get(&self, path: &str) -> Result<(u16, Value), String> {
        response(self.agent.get(&format!("{}{path}", self.api)).call())
    }

    /// GET; status code and JSON body.
    pub fn get(&self, path: &str) -> (u16, Value) {
        self.try_get(path)
            .unwrap_or_else(|e| panic!("{}: GET {path}: {e}", self.name))
    }

    /// GET that must succeed.
    /// This node's nodeId (from `/identity`).
    pub fn node_id(&self) -> String {
        self.get_ok("/identity")["nodeId"]
            .as_str()
            .expect("nodeId")
            .to_string()
    }

    pub fn get_ok(&self, path: &str) -> Value {
        let (code, body) = self.get(path);
        assert_eq!(code, 200, "{}: GET {path} -> {body}", self.name);
        body
    }

    /// POST of a JSON body; status code and JSON body.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.try_post(path, body)
            .unwrap_or_else(|e| panic!("{}: POST {path}: {e}", self.name))
    }

    /// POST that may fail to connect (a node being killed).
    pub fn try_post(&self, path: &str, body: &Value) -> Result<(u16, Value), String> {
        response(
            self.agent
                .post(&format!("{}{path}", self.api))
                .set("Authorization", &format!("Bearer {}", self.token))
                .send_json(body),
        )
    }

    /// POST without the operator token: what anyone who reaches the port can do.
    pub fn post_anonymous(&self, path: &str, body: &Value) -> (u16, Value) {
        response(
            self.agent
                .post(&format!("{}{path}", self.api))
                .send_json(body),
        )
        .unwrap_or_else(|e| panic!("{}: POST {path}: {e}", self.name))
    }

    /// This node's API and operator token, for threads.
    pub fn operator(&self) -> Operator {
        Operator {
            api: self.api.clone(),
            token: self.token.clone(),
        }
    }

    /// POST of raw text with a content type; status code and the body text.
    pub fn post_raw(&self, path: &str, content_type: &str, body: &str) -> (u16, String) {
        let result = self
            .agent
            .post(&format!("{}{path}", self.api))
            .set("Content-Type", content_type)
            .send_string(body);
        match result {
            Ok(r) => (r.status(), r.into_string().unwrap()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
            Err(e) => panic!("{}: POST {path}: {e}", self.name),
        }
    }

    pub fn status(&self) -> Value {
        self.get_ok("/status")
    }

    /// The hashes of the transactions in blocks `heights`, in chain order.
    pub fn tx_hashes(&self, heights: std::ops::RangeInclusive<u64>) -> Vec<String> {
        heights
            .flat_map(|h| {
                let block = self.get_ok(&format!("/blocks/{h}"));
                block["transactions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|tx| tx["hash"].as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The (height, tip hash) the node reports.
    pub fn tip(&self) -> (u64, String) {
        let status = self.status();
        (
            status["height"].as_u64().unwrap(),
            status["tipHash"].as_str().unwrap().to_string(),
        )
    }

    /// Polls `/tx/{hash}` until the transaction is in a block; returns the answer.
    pub fn wait_committed(&self, hash: &str) -> Value {
        let mut last = Value::Null;
        wait_until(&format!("{}: tx {hash} committed", self.name), || {
            let (code, body) = self.get(&format!("/tx/{hash}"));
            let done = code == 200 && body.get("blockHeight").is_some();
            last = body;
            done
        });
        last
    }

    /// POSTs `threads × per_thread` transactions from that many threads at once (body `i` of
    /// thread `t` from `body(t, i)`); each must be accepted. Returns their hashes.
    pub fn submit_concurrently(
        &self,
        threads: usize,
        per_thread: usize,
        body: impl Fn(usize, usize) -> Value + Sync,
    ) -> Vec<String> {
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let body = &body;
                    s.spawn(move || {
                        (0..per_thread)
                            .map(|i| {
                                let request = body(t, i);
                                let (code, answer) = self.post("/tx", &request);
                                assert_eq!(code, 202, "POST /tx {request} -> {answer}");
                                answer["hash"].as_str().unwrap().to_string()
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect()
        })
    }

    /// nodeIds of the peers this node lists in GET /peers.
    pub fn peer_ids(&self) -> Vec<String> {
        self.get_ok("/peers")["peers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["nodeId"].as_str().unwrap().to_string())
            .collect()
    }

    /// Runs the CLI against this node's API.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut full: Vec<&str> = args.to_vec();
        // As an operator on the node's machine runs it: the CLI finds the token in the data dir.
        let data_dir = self.data_dir.to_string_lossy().into_owned();
        full.extend(["--api", &self.api, "--data-dir", &data_dir]);
        let ca = self
            .tls
            .as_ref()
            .map(|t| t.cert.to_string_lossy().into_owned());
        if let Some(ca) = &ca {
            full.extend(["--ca", ca]);
        }
        run_cli(&full)
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- log of node {} ----\n{}", self.name, self.log());
        }
    }
}

fn response(result: Result<ureq::Response, ureq::Error>) -> Result<(u16, Value), String> {
    let (code, response) = match result {
        Ok(r) => (r.status(), r),
        Err(ureq::Error::Status(code, r)) => (code, r),
        Err(e) => return Err(e.to_string()),
    };
    let text = response.into_string().map_err(|e| e.to_string())?;
    let body = serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text:?}"))?;
    Ok((code, body))
}

/// POST of a JSON body to a node's API, as its operator; fails if it cannot connect.
pub fn post_to(to: &Operator, path: &str, body: &Value) -> Result<(u16, Value), String> {
    response(
        NodeProcess::agent()
            .post(&format!("{}{path}", to.api))
            .set("Authorization", &format!("Bearer {}", to.token))
            .send_json(body),
    )
}

/// Builds the LD_PRELOAD shim that offsets a process's wall clock (`wall_offset.c`) into `dir`.
pub fn build_wall_clock_shim(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/wall_offset.c");
    let shim = dir.join("wall_offset.so");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&shim)
        .arg(&source)
        .arg("-ldl")
        .status()
        .expect("cc (needed to build the wall-clock shim)");
    assert!(status.success(), "building {}", source.display());
    shim
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Polls `condition` until it holds, failing the test after [`DEADLINE`].
pub fn wait_until(what: &str, condition: impl FnMut() -> bool) {
    wait_until_within(what, DEADLINE, condition)
}

/// Polls `condition` until it holds, failing the test after `limit`.
pub fn wait_until_within(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// `miniledger init` in `dir`, as an operator does before sharing the node's public key;
/// returns that key (from `keys show`).
pub fn init_node(dir: &Path) -> String {
    let dir = dir.to_str().unwrap();
    let out = run_cli(&["init", "--data-dir", dir]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_cli(&["keys", "show", "--data-dir", dir]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    v["publicKey"].as_str().unwrap().to_string()
}

pub fn run_cli(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("MINILEDGER_API")
        .env_remove("MINILEDGER_CA")
        .env_remove("MINILEDGER_DATA_DIR")
        .env_remove("MINILEDGER_OPERATOR_TOKEN")
        .env_remove("MINILEDGER_KEY_PASSPHRASE")
        .stdin(Stdio::null())
        .output()
        .expect("run miniledger")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Consecutive blocks on `store`'s tip, one per entry of `txs`, proposed by `key` 1 s apart,
/// each carrying the stateRoot (our tree rule) that executing its transactions on top of the
/// store and the blocks before it gives. Nonces are not checked: tests build invalid runs too.
pub fn chain_on(
    store: &miniledger_native::storage::Store,
    key: &miniledger_core::Keypair,
    txs: Vec<Vec<miniledger_core::Transaction>>,
) -> Vec<miniledger_core::Block> {
    use miniledger_core::hash::ZERO_HASH;
    use miniledger_core::state::commitment::MemoryTree;
    use miniledger_core::state::{execute_block, MemoryState, StateDelta, StateEntry};
    use miniledger_core::Block;
    use miniledger_native::storage::Reads;

    // A replica of the stored state: the tree root depends on the state only, not its history.
    let stored: StateDelta = store
        .state_entries(None, i64::MAX as usize, 0)
        .unwrap()
        .into_iter()
        .map(|r| {
            let entry = StateEntry {
                value: r.value,
                version: r.version,
            };
            (r.key, Some(entry))
        })
        .collect();
    let (mut state, mut tree) = (MemoryState::default(), MemoryTree::default());
    tree.apply(&stored).unwrap();
    state.apply(stored);
    let mut parent = store.tip();
    txs.into_iter()
        .map(|txs| {
            let ts = parent.timestamp + 1_000;
            let draft = Block::build(&parent, ts, txs, ZERO_HASH.into(), key);
            let delta = execute_block(&draft, &state);
            let (root, _) = tree.apply(&delta).unwrap();
            state.apply(delta);
            let block = Block::build(&parent, ts, draft.transactions, root, key);
            parent = block.header();
            block
        })
        .collect()
}

/// Every consistency rule a store must satisfy after a crash or a failed write (rows
/// contiguous, transactions and state no higher than the tip, the state tree's root equal to the
/// tip's stateRoot); returns its height.
pub fn check_store_consistent(dir: &Path) -> u64 {
    use miniledger_native::storage::Reads;
    let store = miniledger_native::storage::Store::open(dir).unwrap();
    let height = store.height();
    let one = |sql: &str| {
        let result = store
            .query_readonly(sql, 1, Duration::from_secs(5))
            .unwrap();
        result.rows[0][0].as_u64().unwrap_or(0)
    };
    assert_eq!(one("SELECT count(*) FROM blocks"), height + 1, "contiguous");
    let listed: u64 = (1..=height)
        .map(|h| store.block(h).unwrap().unwrap().transactions.len() as u64)
        .sum();
    assert_eq!(one("SELECT count(*) FROM transactions"), listed);
    assert!(one("SELECT max(block_height) FROM transactions") <= height);
    assert!(one("SELECT max(block_height) FROM world_state") <= height);
    let tip = store.block(height).unwrap().unwrap();
    let root = miniledger_core::state::commitment::root_at(&store, store.tree_version()).unwrap();
    assert_eq!(root, tip.state_root, "state tree matches the tip");
    height
}

/// Runs `miniledger start` on `data_dir` with `args` (ports that cannot be bound: the node
/// must stop before it listens) and waits for it to exit by itself (killed after 20 s).
pub fn start_until_exit(data_dir: &Path, args: &[&str]) -> Output {
    node_until_exit(&["start"], data_dir, args, Duration::from_secs(20))
}

/// Runs a node `command` (`start`, `join ws://…`) on `data_dir` with `args`, on ports that
/// cannot be bound, and waits for it to exit by itself (killed after `limit`).
pub fn node_until_exit(
    command: &[&str],
    data_dir: &Path,
    args: &[&str],
    limit: Duration,
) -> Output {
    let data_dir = data_dir.to_str().expect("UTF-8 path");
    let mut argv = command.to_vec();
    argv.extend(["--data-dir", data_dir, "--listen-address", "127.0.0.1"]);
    argv.extend(["--p2p-port", "1", "--api-port", "2"]);
    argv.extend_from_slice(args);
    run_until_exit(&argv, limit)
}

/// Runs the binary with `args` (no data dir or config from the environment) and waits for it
/// to exit by itself, killing it and failing after `limit`.
pub fn run_until_exit(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("MINILEDGER_DATA_DIR")
        .env_remove("MINILEDGER_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{args:?} did not exit: {:?}", child.wait_with_output());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}
