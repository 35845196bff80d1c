//! Real MiniLedger 0.2 processes (the TypeScript reference) beside ours. The reference is
//! built by `../shared/reference/build.sh` into `target/ref02` (ignored); without `../shared`
//! (or `$MINILEDGER_SHARED_DIR`), node or npm, [`reference`] says why and the caller skips (a
//! clean clone still passes).

use super::{free_ports, wait_until, DEADLINE};
use serde_json::Value;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The repository root (the parent of `native/`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn has_program(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The built reference's CLI (`dist/bin/miniledger.cjs`), building it once per test binary;
/// `Err(why)` when it cannot be had here (the test then skips, saying so).
pub fn reference() -> Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = repo_root();
            // `../shared` beside the checkout; MINILEDGER_SHARED_DIR points elsewhere (or
            // nowhere, to see the skip).
            let shared = std::env::var_os("MINILEDGER_SHARED_DIR")
                .map_or_else(|| root.join("../shared"), PathBuf::from);
            let script = shared.join("reference/build.sh");
            if !script.exists() {
                return Err(format!("{} is absent", script.display()));
            }
            for program in ["node", "npm"] {
                if !has_program(program) {
                    return Err(format!("`{program}` is not installed"));
                }
            }
            let out = root.join("target/ref02");
            let build = Command::new("bash")
                .arg(&script)
                .arg(&out)
                .stdout(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            if !build.status.success() {
                return Err(format!(
                    "{} failed: {}",
                    script.display(),
                    String::from_utf8_lossy(&build.stderr)
                ));
            }
            Ok(out.join("dist/bin/miniledger.cjs"))
        })
        .clone()
}

/// The reference CLI, or a printed reason to skip the test.
#[macro_export]
macro_rules! reference_or_skip {
    () => {
        match common::ref02::reference() {
            Ok(cli) => cli,
            Err(why) => {
                eprintln!("SKIPPED: needs MiniLedger 0.2 (../shared/reference): {why}");
                return;
            }
        }
    };
}

/// A MiniLedger 0.2 node (`--consensus raft`: a solo 0.2 node runs no P2P), killed on drop.
pub struct RefNode {
    child: Child,
    pub name: String,
    pub api: String,
    pub p2p: String,
    pub public_key: String,
    pub node_id: String,
    log: PathBuf,
    agent: ureq::Agent,
    _dir: TempDir,
}

/// A 0.2 data directory after `init`, with the key it made: start it with [`RefData::start`].
pub struct RefData {
    cli: PathBuf,
    name: String,
    pub public_key: String,
    pub node_id: String,
    dir: TempDir,
}

impl RefData {
    pub fn init(cli: &Path, name: &str) -> RefData {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let data_arg = data.to_str().unwrap();
        let init = Command::new("node")
            .arg(cli)
            .args(["init", "-d", data_arg, "-n", name])
            .output()
            .expect("run node");
        assert!(init.status.success(), "0.2 init: {init:?}");
        let keys = Command::new("node")
            .arg(cli)
            .args(["keys", "show", "-d", data_arg])
            .output()
            .expect("run node");
        let keys = String::from_utf8_lossy(&keys.stdout).to_string();
        let field = |label: &str| {
            keys.lines()
                .find_map(|l| l.strip_prefix(label).map(|v| v.trim().to_string()))
                .unwrap_or_else(|| panic!("0.2 keys show: no {label} in {keys}"))
        };
        RefData {
            cli: cli.to_path_buf(),
            name: name.to_string(),
            public_key: field("Public Key:"),
            node_id: field("Node ID:"),
            dir,
        }
    }

    /// `start --consensus raft` dialing `peers`; waits until its API answers.
    pub fn start(self, peers: &[&str]) -> RefNode {
        let RefData {
            cli,
            name,
            public_key,
            node_id,
            dir,
        } = self;
        let data = dir.path().join("data");
        let (p2p_port, api_port) = free_ports();
        let log = dir.path().join("node.log");
        let mut cmd = Command::new("node");
        cmd.arg(&cli)
            .args(["start", "-d", data.to_str().unwrap(), "--consensus", "raft"])
            .args(["--p2p-port", &p2p_port.to_string()])
            .args(["--api-port", &api_port.to_string()]);
        if !peers.is_empty() {
            cmd.args(["--peers", &peers.join(",")]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn node");
        let mut node = RefNode {
            child,
            name: name.clone(),
            api: format!("http://127.0.0.1:{api_port}"),
            p2p: format!("ws://127.0.0.1:{p2p_port}"),
            public_key,
            node_id,
            log,
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(10))
                .build(),
            _dir: dir,
        };
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Ok(Some(status)) = node.child.try_wait() {
                panic!("0.2 node {name} exited with {status}:\n{}", node.log());
            }
            if matches!(node.try_get("/status"), Ok((200, _))) {
                return node;
            }
            assert!(
                Instant::now() < deadline,
                "0.2 node {name}: API not up:\n{}",
                node.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl RefNode {
    /// `init`, then `start` dialing `peers`; waits until its API answers.
    pub fn start(cli: &Path, name: &str, peers: &[&str]) -> RefNode {
        RefData::init(cli, name).start(peers)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn try_get(&self, path: &str) -> Result<(u16, Value), String> {
        super::response(self.agent.get(&format!("{}{path}", self.api)).call())
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.try_get(path)
            .unwrap_or_else(|e| panic!("0.2 {}: GET {path}: {e}", self.name))
    }

    pub fn get_ok(&self, path: &str) -> Value {
        let (code, body) = self.get(path);
        assert_eq!(code, 200, "0.2 {}: GET {path} -> {body}", self.name);
        body
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        super::response(
            self.agent
                .post(&format!("{}{path}", self.api))
                .send_json(body),
        )
        .unwrap_or_else(|e| panic!("0.2 {}: POST {path}: {e}", self.name))
    }

    /// Submits `{key, value}` (the 0.2 node signs it); returns its hash.
    pub fn submit(&self, key: &str, value: Value) -> String {
        let (code, body) = self.post("/tx", &serde_json::json!({"key": key, "value": value}));
        assert!(
            code == 200 || code == 201 || code == 202,
            "0.2 POST /tx -> {code} {body}"
        );
        body["hash"].as_str().expect("hash").to_string()
    }

    /// (chainHeight, latestBlockHash).
    pub fn tip(&self) -> (u64, String) {
        let s = self.get_ok("/status");
        (
            s["chainHeight"].as_u64().unwrap(),
            s["latestBlockHash"].as_str().unwrap().to_string(),
        )
    }

    /// Waits until the 0.2 node's Raft has a leader (itself when alone).
    pub fn await_leader(&self) {
        wait_until(&format!("0.2 {}: a Raft leader", self.name), || {
            !self.get_ok("/consensus")["state"]["leaderId"].is_null()
        });
    }

    /// Waits until world state holds `key` (its transaction committed); returns the entry.
    pub fn wait_state(&self, key: &str) -> Value {
        let mut last = Value::Null;
        wait_until(&format!("0.2 {}: state {key} written", self.name), || {
            let (code, body) = self.get(&format!("/state/{key}"));
            last = body;
            code == 200
        });
        last
    }
}

impl Drop for RefNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
