//! Interop with real MiniLedger 0.2 processes (the TypeScript reference, built from
//! `../shared/reference`): our node following a 0.2 network in compat mode, a 0.2 node beside
//! our Raft validators, and 0.2's REST shapes on ours. Skipped, saying why, when `../shared`,
//! node or npm is missing.

mod common;

use common::raft::{self, await_leader};
use common::ref02::RefNode;
use common::{wait_until, wait_until_within, NodeProcess};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Our node's record of `node_id`: connected, and never scored (no offence, no ban).
fn assert_unblamed(ours: &NodeProcess, node_id: &str) {
    let peers = ours.get_ok("/peers");
    let peer = peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["nodeId"] == node_id)
        .unwrap_or_else(|| panic!("{}: {node_id} not connected: {peers}", ours.name));
    assert_eq!(peer["score"], 0, "{}: {node_id} scored: {peer}", ours.name);
    assert_eq!(
        peer["offences"],
        json!({}),
        "{}: {node_id}: {peer}",
        ours.name
    );
    let record = peers["misbehaviour"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["nodeId"] == node_id);
    assert!(
        record.is_none(),
        "{}: a record of {node_id}: {record:?}",
        ours.name
    );
}

/// Transactions per (sender, nonce) in the 0.2 node's blocks 1..=height, at most.
fn most_per_sender_nonce(node: &RefNode) -> usize {
    let height = node.tip().0;
    let mut counts = std::collections::HashMap::new();
    for h in 1..=height {
        let block = node.get_ok(&format!("/blocks/{h}"));
        for tx in block["transactions"].as_array().unwrap() {
            *counts
                .entry((tx["sender"].to_string(), tx["nonce"].to_string()))
                .or_insert(0) += 1;
        }
    }
    counts.into_values().max().unwrap_or(0)
}

/// Issue 13, point 1: ours, started beside a 0.2 leader with `--compat miniledger-0.2`, took
/// none of its blocks (0.2 signs the transactions waiting for a block with one nonce) and
/// banned the leader for its retries. Now: it syncs the chain, follows new blocks, a
/// transaction submitted to ours is committed by the 0.2 leader, and nobody is scored.
#[test]
fn our_observer_syncs_follows_and_submits_through_a_02_leader() {
    let cli = reference_or_skip!();
    let leader = RefNode::start(&cli, "leader", &[]);
    leader.await_leader();
    for i in 0..5 {
        leader.submit(&format!("before{i}"), json!(i));
    }
    leader.wait_state("before4");
    assert!(
        most_per_sender_nonce(&leader) > 1,
        "the premise: 0.2 repeats a nonce within a block"
    );

    let ours = compat_observer("observer", &leader.public_key, &["--peers", &leader.p2p]);
    wait_until("ours has the 0.2 chain", || ours.tip() == leader.tip());

    // Live: each new 0.2 block reaches ours.
    for i in 0..3 {
        let key = format!("live{i}");
        leader.submit(&key, json!({"n": i}));
        leader.wait_state(&key);
        wait_until(&format!("ours follows block with {key}"), || {
            ours.tip() == leader.tip()
        });
    }

    // Ours → the 0.2 leader (TX_FORWARD), twice: our nonces 0 and 1 are accepted there.
    let mut hashes = Vec::new();
    for i in 0..2 {
        let key = format!("from-ours{i}");
        let (code, body) = ours.post("/tx", &json!({"key": key, "value": i}));
        assert_eq!(code, 202, "{body}");
        hashes.push(body["hash"].as_str().unwrap().to_string());
        let entry = leader.wait_state(&key);
        let our_key = ours.get_ok("/identity")["publicKey"].clone();
        assert_eq!(entry["updatedBy"], our_key, "{entry}");
    }
    for hash in &hashes {
        ours.wait_committed(hash);
    }
    wait_until("same tip", || ours.tip() == leader.tip());
    assert_unblamed(&ours, &leader.node_id);
    let log = ours.log();
    assert!(
        !log.contains("rejected entry"),
        "ours refused 0.2 entries:\n{log}"
    );
}

/// A 0.2 node dialing our three Raft validators: it syncs our chain and follows our new
/// blocks, and our cluster keeps its leader and term and blames nobody (0.2 campaigns for
/// itself every few seconds, counting our nodes as its voters).
#[test]
fn a_02_node_beside_our_raft_validators_syncs_follows_and_disturbs_nothing() {
    let cli = reference_or_skip!();
    let (dirs, keys) = raft::identities(3);
    let nodes = raft::start_three(&dirs, &keys);
    let refs: Vec<&NodeProcess> = nodes.iter().collect();
    let leader = await_leader(&refs);
    for i in 0..3 {
        let (code, body) = nodes[leader].post(
            "/tx?wait=commit",
            &json!({"key": format!("k{i}"), "value": i}),
        );
        assert_eq!(code, 200, "{body}");
    }
    let before = raft::consensus(&nodes[leader]);

    let addresses: Vec<&str> = nodes.iter().map(|n| n.p2p.as_str()).collect();
    let ref_node = RefNode::start(&cli, "ref", &addresses);
    wait_until("0.2 syncs our chain", || {
        ref_node.tip() == nodes[leader].tip()
    });

    // Several 0.2 election timeouts (1.5–3 s) while our cluster commits.
    let until = Instant::now() + Duration::from_secs(8);
    let mut i = 0;
    while Instant::now() < until {
        let (code, body) = nodes[leader].post(
            "/tx?wait=commit",
            &json!({"key": format!("during{i}"), "value": i}),
        );
        assert_eq!(code, 200, "{body}");
        i += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    wait_until("0.2 follows our new blocks", || {
        ref_node.tip() == nodes[leader].tip()
    });
    let after = raft::consensus(&nodes[leader]);
    assert_eq!(
        after["term"], before["term"],
        "term moved: {before} → {after}"
    );
    assert_eq!(after["leader"], before["leader"]);
    for node in &nodes {
        assert_unblamed(node, &ref_node.node_id);
    }
}

/// Our contract blocks are 0.2 blocks: a 0.2 node syncs a chain holding a deploy and calls
/// (receipts live in our state, not in the block), follows new ones, and its own runtime
/// reaches the balances ours committed.
#[test]
fn a_02_node_syncs_and_follows_our_blocks_with_contract_calls() {
    let cli = reference_or_skip!();
    let (dirs, keys) = raft::identities(3);
    let nodes = raft::start_three(&dirs, &keys);
    let refs: Vec<&NodeProcess> = nodes.iter().collect();
    let leader = &nodes[await_leader(&refs)];
    let token = include_str!("../../examples/contracts/token.js");
    // Polled rather than `?wait=commit`: a debug build's first call builds the engine on every
    // node, which on a loaded machine can outlast the client's 10 s timeout.
    let call = |payload: Value| {
        let body = json!({"type": payload["kind"].clone(), "payload": payload});
        let (code, answer) = leader.post("/tx", &body);
        assert_eq!(code, 202, "{answer}");
        let tx = leader.wait_committed(answer["hash"].as_str().unwrap());
        assert_eq!(tx["receipt"]["status"], "success", "{tx}");
    };
    call(json!({"kind": "contract:deploy", "name": "token", "version": "1", "code": token}));
    call(json!({"kind": "contract:invoke", "contract": "token", "method": "mint", "args": [100]}));

    let addresses: Vec<&str> = nodes.iter().map(|n| n.p2p.as_str()).collect();
    let ref_node = RefNode::start(&cli, "ref", &addresses);
    wait_until("0.2 syncs our chain", || ref_node.tip() == leader.tip());
    call(
        json!({"kind": "contract:invoke", "contract": "token", "method": "transfer", "args": ["bob", 40]}),
    );
    wait_until("0.2 follows our new block", || {
        ref_node.tip() == leader.tip()
    });
    let me = leader.get_ok("/identity")["publicKey"]
        .as_str()
        .unwrap()
        .to_string();
    for (key, value) in [
        (format!("balance:{me}"), 60),
        ("balance:bob".to_string(), 40),
    ] {
        assert_eq!(leader.get_ok(&format!("/state/{key}"))["value"], value);
        assert_eq!(ref_node.wait_state(&key)["value"], value, "0.2's {key}");
    }
    assert_eq!(ref_node.get_ok("/contracts")["count"], 1);
}

/// Field path → the JSON types seen there (`[]` for array elements; values of arbitrary JSON,
/// like a state entry's, may differ from element to element).
type Shape = BTreeMap<String, BTreeSet<&'static str>>;

fn shape(value: &Value, path: &str, out: &mut Shape) {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(items) => {
            for item in items {
                shape(item, &format!("{path}[]"), out);
            }
            "array"
        }
        Value::Object(fields) => {
            for (name, item) in fields {
                shape(item, &format!("{path}.{name}"), out);
            }
            "object"
        }
    };
    out.entry(path.to_string()).or_default().insert(kind);
}

/// The fields of `theirs` (0.2's answer) that `ours` lacks or types differently (null, as
/// in `votedFor` before any vote, matches any type).
fn shape_gaps(request: &str, theirs: &Value, ours: &Value) -> Vec<String> {
    let (mut t, mut o) = (Shape::new(), Shape::new());
    shape(theirs, "", &mut t);
    shape(ours, "", &mut o);
    let typed = |kinds: &BTreeSet<&'static str>| -> BTreeSet<&'static str> {
        kinds.iter().copied().filter(|k| *k != "null").collect()
    };
    t.iter()
        .filter_map(|(path, kinds)| match o.get(path) {
            None => Some(format!("{request}: {path} ({kinds:?}) missing")),
            Some(ours) => {
                let (theirs, ours) = (typed(kinds), typed(ours));
                let agree = theirs.is_empty() || ours.is_empty() || theirs.is_subset(&ours);
                (!agree).then(|| format!("{request}: {path} is {ours:?}, 0.2 has {theirs:?}"))
            }
        })
        .collect()
}

/// 0.2's REST clients work against ours: the same requests to a 0.2 node and to our node
/// following its chain (so both hold the same blocks, transactions and state) answer with
/// every field 0.2 has, under the same name and JSON type (ours may add fields).
#[test]
fn our_rest_answers_carry_every_field_of_02s() {
    let cli = reference_or_skip!();
    let leader = RefNode::start(&cli, "leader", &[]);
    leader.await_leader();
    let tx_hash = leader.submit("greeting", json!({"text": "hello", "n": [1, 2]}));
    leader.submit("other", json!(7));
    leader.wait_state("other");
    let ours = compat_observer("follower", &leader.public_key, &["--peers", &leader.p2p]);
    wait_until("ours has the 0.2 chain", || ours.tip() == leader.tip());
    let block = leader.get_ok("/blocks/1");
    let block_hash = block["hash"].as_str().unwrap().to_string();
    let pk = leader.public_key.clone();
    let gets = [
        "/status".to_string(),
        "/consensus".into(),
        "/peers".into(),
        "/identity".into(),
        "/blocks".into(),
        "/blocks?page=1&limit=1".into(),
        "/blocks/1".into(),
        "/blocks/latest".into(),
        "/tx/recent".into(),
        format!("/tx/{tx_hash}"),
        format!("/tx/sender/{pk}"),
        "/state".into(),
        "/state/greeting".into(),
        "/search?q=1".into(),
        format!("/search?q={tx_hash}"),
        format!("/search?q={block_hash}"),
        format!("/search?q={pk}"),
        "/search?q=greeting".into(),
        "/search?q=nothing-here".into(),
    ];
    let mut gaps = Vec::new();
    for path in &gets {
        let (their_code, theirs) = leader.get(path);
        let (our_code, ours_answer) = ours.get(path);
        if their_code != our_code {
            gaps.push(format!(
                "GET {path}: status {our_code}, 0.2 answers {their_code}"
            ));
        }
        gaps.extend(shape_gaps(&format!("GET {path}"), &theirs, &ours_answer));
    }
    let query = json!({"sql": "SELECT key, version, block_height FROM world_state ORDER BY key"});
    let (their_code, theirs) = leader.post("/state/query", &query);
    let (our_code, ours_answer) = ours.post("/state/query", &query);
    assert_eq!(
        (their_code, our_code),
        (200, 200),
        "{theirs} / {ours_answer}"
    );
    gaps.extend(shape_gaps("POST /state/query", &theirs, &ours_answer));
    assert!(gaps.is_empty(), "{} gaps:\n{}", gaps.len(), gaps.join("\n"));
}

/// A 0.2 node counts every connected node as a Raft voter. Started after our observer (and
/// dialing it), it needs our vote to become leader: in compat mode our learner answers a
/// validator's vote request (it ignored it before, and the 0.2 network never elected).
#[test]
fn a_02_validator_started_after_our_observer_is_elected_with_its_vote() {
    let cli = reference_or_skip!();
    let data = common::ref02::RefData::init(&cli, "late");
    let ours = compat_observer("observer", &data.public_key, &[]);
    let leader = data.start(&[&ours.p2p]);
    wait_until("0.2 connects to ours", || {
        leader.get_ok("/status")["peerCount"] == 1
    });
    leader.await_leader();
    assert_eq!(
        leader.get_ok("/consensus")["state"]["leaderId"],
        leader.node_id.as_str()
    );
    leader.submit("elected", json!(true));
    leader.wait_state("elected");
    wait_until("ours follows", || ours.tip() == leader.tip());
    assert_unblamed(&ours, &leader.node_id);
}

/// A two-validator 0.2 network with our observer: the 0.2 leader is killed, the other 0.2
/// validator (whose Raft log still matches block heights) takes over, with our observer's vote
/// (0.2 counts it as a voter), and ours follows the new leader's blocks.
#[test]
fn our_observer_follows_a_02_network_through_a_leader_change() {
    let cli = reference_or_skip!();
    let first = RefNode::start(&cli, "first", &[]);
    first.await_leader();
    let second = RefNode::start(&cli, "second", &[&first.p2p]);
    wait_until("second follows first", || {
        second.get_ok("/consensus")["state"]["leaderId"] == first.node_id.as_str()
    });
    first.submit("one", json!(1));
    second.wait_state("one");
    let validators = format!("{},{}", first.public_key, second.public_key);
    let peers = format!("{},{}", first.p2p, second.p2p);
    let ours = compat_observer("observer", &validators, &["--peers", &peers]);
    wait_until("ours has the 0.2 chain", || ours.tip() == first.tip());
    // Ours votes only once a leader's append has told it its last entry's term (a synced
    // block's term is unknown); before that, killing the leader leaves the 0.2 network one
    // vote short. Under load the first append can come seconds after the sync.
    wait_until("first's append reached ours", || {
        !ours.get_ok("/consensus")["lastTerm"].is_null()
    });

    drop(first);
    wait_until("second leads", || {
        second.get_ok("/consensus")["state"]["role"] == "leader"
    });
    second.submit("two", json!(2));
    second.wait_state("two");
    wait_until("ours follows the new leader", || ours.tip() == second.tip());
    assert_unblamed(&ours, &second.node_id);
}

/// Our node in compat mode, an observer of the 0.2 network whose validators are `validators`
/// (comma-separated keys), with `extra` arguments (e.g. `--peers`).
fn compat_observer(name: &str, validators: &str, extra: &[&str]) -> NodeProcess {
    let mut args = vec![
        "--compat",
        "miniledger-0.2",
        "--consensus",
        "raft",
        "--validators",
        validators,
    ];
    args.extend_from_slice(extra);
    NodeProcess::start(name, None, &args)
}

/// Connected peers' nodeIds, by REST (ours: `/peers`; 0.2: `/peers` too).
fn peer_ids(answer: &Value) -> BTreeSet<String> {
    answer["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["nodeId"].as_str().unwrap().to_string())
        .collect()
}

/// A mixed mesh found by discovery: a 0.2 leader L, our observers A (dialing L) and C (dialing
/// A), a 0.2 node B (dialing A). PEER_LIST must make it a full mesh, and every node hold L's
/// chain. Passes with the discovery of this branch; the other half of issue 13 (discovery and
/// topology in `core/src/net/peers.rs`) must keep it passing.
#[test]
fn a_mixed_mesh_becomes_a_full_mesh_by_discovery() {
    let cli = reference_or_skip!();
    let l = RefNode::start(&cli, "L", &[]);
    l.await_leader();
    let observer =
        |name: &str, peer: &str| compat_observer(name, &l.public_key, &["--peers", peer]);
    let a = observer("A", &l.p2p);
    let b = RefNode::start(&cli, "B", &[&a.p2p]);
    let c = observer("C", &a.p2p);
    let (a_id, c_id) = (a.node_id(), c.node_id());
    let everyone: BTreeSet<String> = [&l.node_id, &a_id, &b.node_id, &c_id]
        .into_iter()
        .cloned()
        .collect();
    let others = |me: &str| -> BTreeSet<String> {
        everyone.iter().filter(|id| *id != me).cloned().collect()
    };
    // Each node's missing peers, printed when they change (shown if the wait fails). Usually
    // meshed in 3–5 s. Once, under load (load average 8 on 2 cores), ours were meshed and a 0.2
    // node still lacked a peer after 30 s (0.2 dials only on a PEER_LIST and closes duplicate
    // inbound connections, so a dial race can leave a pair apart); our periodic PEER_LIST
    // (every 60 s) has it dial again: the deadline covers one period.
    let mut last = String::new();
    wait_until_within("a full mesh", Duration::from_secs(90), || {
        let missing: Vec<String> = [
            ("A", &a_id, a.get_ok("/peers")),
            ("C", &c_id, c.get_ok("/peers")),
            ("L", &l.node_id, l.get_ok("/peers")),
            ("B", &b.node_id, b.get_ok("/peers")),
        ]
        .into_iter()
        .map(|(name, id, answer)| {
            let lacking: Vec<_> = others(id).difference(&peer_ids(&answer)).cloned().collect();
            format!("{name} lacks {lacking:?}")
        })
        .collect();
        let view = missing.join("; ");
        if view != last {
            eprintln!("mesh: {view}");
            last = view;
        }
        missing.iter().all(|m| m.ends_with("[]"))
    });
    l.submit("meshed", json!(true));
    l.wait_state("meshed");
    wait_until("every node has L's chain", || {
        a.tip() == l.tip() && c.tip() == l.tip() && b.tip() == l.tip()
    });
}
