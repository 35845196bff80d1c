//! Helpers for Raft cluster tests: node identities, starting validators, who leads.

use super::{wait_until_within, NodeProcess};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tempfile::TempDir;

/// Leader election must finish within this (the acceptance bound).
pub const ELECTION: Duration = Duration::from_secs(5);

/// `n` data directories with their node keys.
pub fn identities(n: usize) -> (Vec<TempDir>, Vec<String>) {
    let dirs: Vec<TempDir> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
    let keys = dirs.iter().map(|d| super::init_node(d.path())).collect();
    (dirs, keys)
}

/// A Raft node on `dir` with these validators, dialing `peers`.
pub fn start(name: &str, dir: &Path, validators: &[String], peers: &[&NodeProcess]) -> NodeProcess {
    let addresses: Vec<String> = peers.iter().map(|p| p.p2p.clone()).collect();
    start_dialing(name, dir, validators, &addresses)
}

/// Validators A, B and C on the first three `dirs`, each dialing the ones started before it.
pub fn start_three(dirs: &[TempDir], validators: &[String]) -> [NodeProcess; 3] {
    let a = start("A", dirs[0].path(), validators, &[]);
    let b = start("B", dirs[1].path(), validators, &[&a]);
    let c = start("C", dirs[2].path(), validators, &[&a, &b]);
    [a, b, c]
}

/// As [`start`], dialing addresses (`ws://…`, e.g. a fake peer's).
pub fn start_dialing(
    name: &str,
    dir: &Path,
    validators: &[String],
    addresses: &[String],
) -> NodeProcess {
    let validators = validators.join(",");
    let peers = addresses.join(",");
    let mut extra = vec!["--consensus", "raft", "--validators", &validators];
    if !peers.is_empty() {
        extra.extend(["--peers", &peers]);
    }
    NodeProcess::start_in(name, dir, None, &extra)
}

pub fn consensus(node: &NodeProcess) -> Value {
    node.get_ok("/consensus")
}

/// The index of the node every live node agrees leads (in one term), if any.
pub fn agreed_leader(nodes: &[&NodeProcess]) -> Option<usize> {
    let views: Vec<Value> = nodes.iter().map(|n| consensus(n)).collect();
    let leader = views.iter().position(|v| v["role"] == "leader")?;
    let id = nodes[leader].get_ok("/identity")["nodeId"].clone();
    let term = &views[leader]["term"];
    views
        .iter()
        .all(|v| v["leader"] == id && v["term"] == *term)
        .then_some(leader)
}

pub fn await_leader(nodes: &[&NodeProcess]) -> usize {
    let mut found = None;
    wait_until_within("a leader all nodes agree on", ELECTION, || {
        found = agreed_leader(nodes);
        found.is_some()
    });
    found.unwrap()
}
