//! A validator's wall clock stepped by an hour mid-run (an NTP step, an operator's `date -s`):
//! the leader's back an hour, then a follower's forward an hour. Timers run on the monotonic
//! clock, so through both steps the cluster keeps its leader and term (no election), keeps
//! committing, drops no connection and scores nobody.
//!
//! The behaviour (four steps: also both back again) is tested in-process on the cluster
//! simulator (`core/tests/node_clock.rs`); this test keeps a real CLOCK_REALTIME step in each
//! direction, which is what shows the native driver reads its timers from the monotonic clock.
//!
//! The step is real: each node runs with an LD_PRELOAD shim (`common/wall_offset.c`, built
//! here with `cc`) that offsets the process's CLOCK_REALTIME by what the test writes in a file.
//! Against a node timing with the wall clock (main before the two clocks) the test fails at
//! the first step: the leader's heartbeat deadline lies an hour ahead, so the idle followers
//! elect another leader; a clock stepped forward closes every connection of its
//! node at once ("silent for 3600000 ms").
//!
//! Transactions go through the leader, which signs them: protocol timestamps do follow each
//! node's wall clock, and a block may not hold a transaction stamped more than 15 s after it
//! (RELIABILITY.md, "Clock steps").

mod common;

use common::raft::{agreed_leader, await_leader, consensus, identities};
use common::{wait_until, NodeProcess};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const HOUR_MS: i64 = 3_600_000;

/// After each step the cluster idles this long before the load: longer than the longest
/// election timeout, so followers that stopped hearing from the leader would elect another.
const IDLE: Duration = Duration::from_secs(4);

/// The node's wall clock minus ours, in ms, as `/peers` shows it: the `lastSeen` of its
/// peers' latest frame (peers send several a second).
fn wall_offset_ms(node: &NodeProcess) -> i64 {
    let peers = node.get_ok("/peers");
    let last = peers["peers"].as_array().unwrap().iter();
    let last = last
        .filter_map(|p| p["lastSeen"].as_i64())
        .max()
        .unwrap_or(0);
    last - SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn step(file: &Path, node: &NodeProcess, offset_ms: i64) {
    std::fs::write(file, offset_ms.to_string()).unwrap();
    wait_until(
        &format!("{}'s wall clock at {offset_ms} ms", node.name),
        || (wall_offset_ms(node) - offset_ms).abs() <= 2_000,
    );
}

fn same_leader_and_term(
    nodes: &[NodeProcess],
    leader: usize,
    term: &Value,
    who: &str,
    offset: i64,
) {
    for node in nodes {
        let view = consensus(node);
        assert_eq!(
            view["term"], *term,
            "after stepping {who}'s clock by {offset} ms, {} is in another term: {view}",
            node.name
        );
    }
    let all: Vec<&NodeProcess> = nodes.iter().collect();
    assert_eq!(agreed_leader(&all), Some(leader), "the leader changed");
}

#[test]
fn a_wall_clock_step_moves_no_timer() {
    let shim_dir = tempfile::tempdir().unwrap();
    let shim = common::build_wall_clock_shim(shim_dir.path());
    let (dirs, keys) = identities(3);
    let offsets: Vec<PathBuf> = (0..3)
        .map(|i| shim_dir.path().join(format!("offset{i}")))
        .collect();
    let mut nodes: Vec<NodeProcess> = Vec::new();
    for (i, name) in ["A", "B", "C"].into_iter().enumerate() {
        std::fs::write(&offsets[i], "0").unwrap();
        let validators = keys.join(",");
        let peers: Vec<String> = nodes.iter().map(|n| n.p2p.clone()).collect();
        let peers = peers.join(",");
        let mut extra = vec!["--consensus", "raft", "--validators", &validators];
        if !peers.is_empty() {
            extra.extend(["--peers", &peers]);
        }
        let env = [
            ("LD_PRELOAD", shim.as_os_str()),
            ("WALL_OFFSET_FILE", offsets[i].as_os_str()),
        ];
        nodes.push(NodeProcess::start_in_env(
            name,
            dirs[i].path(),
            &extra,
            &env,
        ));
    }
    let all: Vec<&NodeProcess> = nodes.iter().collect();
    let leader = await_leader(&all);
    wait_until("a full mesh", || {
        nodes
            .iter()
            .all(|n| n.get_ok("/peers")["peers"].as_array().unwrap().len() == 2)
    });
    let term = consensus(&nodes[leader])["term"].clone();
    let follower = (leader + 1) % 3;
    // Connections closed before now (dial races at start) are not the steps'.
    let logged: Vec<usize> = nodes.iter().map(|n| n.log().len()).collect();
    let mut sent = 0;
    for (who, offset) in [(leader, -HOUR_MS), (follower, HOUR_MS)] {
        step(&offsets[who], &nodes[who], offset);
        // No load first: only heartbeats keep the followers from campaigning.
        std::thread::sleep(IDLE);
        same_leader_and_term(&nodes, leader, &term, &nodes[who].name, offset);
        for _ in 0..5 {
            let (code, body) = nodes[leader].post(
                "/tx?wait=commit",
                &json!({"key": format!("k{sent}"), "value": sent}),
            );
            assert_eq!(code, 200, "step {offset} ms on {}: {body}", nodes[who].name);
            sent += 1;
            std::thread::sleep(Duration::from_millis(200));
        }
        same_leader_and_term(&nodes, leader, &term, &nodes[who].name, offset);
    }
    for (node, logged) in nodes.iter().zip(logged) {
        let peers = node.get_ok("/peers");
        assert_eq!(
            peers["peers"].as_array().unwrap().len(),
            2,
            "{}: {peers}",
            node.name
        );
        assert_eq!(
            peers["misbehaviour"],
            json!([]),
            "{} scored a peer",
            node.name
        );
        let log = node.log()[logged..].to_string();
        assert!(
            !log.contains("peer:disconnected"),
            "{} lost a connection:\n{log}",
            node.name
        );
    }
    // One chain everywhere.
    let tip = nodes[leader].tip();
    wait_until("every node at the leader's tip", || {
        nodes.iter().all(|n| n.tip().0 >= tip.0)
    });
    let hashes: Vec<Value> = nodes
        .iter()
        .map(|n| n.get_ok(&format!("/blocks/{}", tip.0))["hash"].clone())
        .collect();
    assert!(hashes.iter().all(|h| *h == json!(tip.1)), "{hashes:?}");
}
