//! Membership on the chain with real processes (issue 14's acceptance run): A starts alone; B
//! and C `join ws://A` with no other flag; a proposal adds B (approved by A alone: the network
//! switches from solo to Raft without a restart), another adds C (A and B vote); under load
//! the leader is killed with `kill -9`, the other two go on committing and vote it out; every
//! transaction a live node acknowledged commits exactly once.

mod common;

use common::{init_node, wait_until, NodeProcess};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Proposes `action` through `node` (signed by it) and waits for the commit: the proposal id.
fn propose(node: &NodeProcess, title: &str, action: Value) -> (String, Value) {
    let payload =
        json!({"kind": "governance:propose", "title": title, "description": "", "action": action});
    let body = json!({"type": "governance:propose", "payload": payload});
    let (code, answer) = node.post("/tx?wait=commit", &body);
    assert_eq!(code, 200, "{}: propose {title}: {answer}", node.name);
    (answer["hash"].as_str().unwrap().to_string(), answer)
}

fn vote(node: &NodeProcess, id: &str) -> Value {
    // The voter's node checks the vote against its own view first: it must have the proposal.
    wait_until(&format!("{} has proposal {id}", node.name), || {
        node.get(&format!("/proposals/{id}")).0 == 200
    });
    let payload = json!({"kind": "governance:vote", "proposalId": id, "vote": true});
    let body = json!({"type": "governance:vote", "payload": payload});
    let (code, answer) = node.post("/tx?wait=commit", &body);
    assert_eq!(code, 200, "{}: vote: {answer}", node.name);
    answer
}

fn public_key(node: &NodeProcess) -> String {
    node.get_ok("/identity")["publicKey"]
        .as_str()
        .unwrap()
        .to_string()
}

fn validators(node: &NodeProcess) -> usize {
    node.get_ok("/consensus")["validators"]
        .as_array()
        .map_or(0, Vec::len)
}

fn role(node: &NodeProcess) -> String {
    node.status()["role"].as_str().unwrap_or("").to_string()
}

fn proposal_status(answer: &Value) -> &str {
    answer["receipt"]["result"]["proposalStatus"]
        .as_str()
        .unwrap_or_else(|| panic!("no proposal status in {answer}"))
}

#[test]
fn governance_grows_a_solo_network_to_three_and_votes_a_dead_leader_out() {
    let a_dir = tempfile::tempdir().unwrap();
    init_node(a_dir.path());
    let a = NodeProcess::start_in("A", a_dir.path(), None, &[]);
    let b = NodeProcess::start("B", Some(&a.p2p), &[]);
    let c = NodeProcess::start("C", Some(&a.p2p), &[]);
    let (b_key, c_key) = (public_key(&b), public_key(&c));

    // 1 → 2: A alone approves; every node switches to Raft.
    let (_, answer) = propose(&a, "add B", json!({"type": "add-peer", "publicKey": b_key}));
    assert_eq!(proposal_status(&answer), "approved", "{answer}");
    let nodes = [&a, &b, &c];
    for n in nodes {
        wait_until(&format!("{} sees 2 validators", n.name), || {
            validators(n) == 2
        });
    }
    wait_until("a Raft leader among A and B", || {
        [&a, &b].iter().any(|n| role(n) == "leader")
    });

    // 2 → 3: A proposes, B's vote approves.
    let (id, answer) = propose(&a, "add C", json!({"type": "add-peer", "publicKey": c_key}));
    assert_eq!(proposal_status(&answer), "active", "{answer}");
    let asked = std::time::Instant::now();
    assert_eq!(proposal_status(&vote(&b, &id)), "approved");
    let committed = asked.elapsed();
    // When C counts toward quorum: a voter in the leader's progress (BENCHMARKS.md, membership).
    let c_id = c.node_id();
    wait_until("C counts toward the leader's quorum", || {
        [&a, &b].iter().any(|n| {
            let progress = n.get_ok("/consensus")["progress"].clone();
            (progress.as_array().into_iter().flatten())
                .any(|p| p["nodeId"] == c_id.as_str() && p["voter"] == true)
        })
    });
    eprintln!(
        "membership: vote committed (wait=commit answered) after {} ms; C a voter in the leader's progress by {} ms",
        committed.as_millis(),
        asked.elapsed().as_millis()
    );
    for n in nodes {
        wait_until(&format!("{} sees 3 validators", n.name), || {
            validators(n) == 3
        });
    }
    assert_eq!(role(&c), "follower", "C votes now");

    // Load through all three while the leader dies and is voted out.
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let targets: Vec<(String, String, String)> = nodes
        .iter()
        .map(|n| (n.name.clone(), n.api.clone(), n.operator().token))
        .collect();
    let load = {
        let (stop, acked) = (stop.clone(), acked.clone());
        std::thread::spawn(move || {
            let agent = ureq::AgentBuilder::new()
                .timeout(std::time::Duration::from_secs(5))
                .build();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (name, api, token) = &targets[(i % 3) as usize];
                let body = json!({"key": format!("load-{i}"), "value": i});
                let sent = agent
                    .post(&format!("{api}/tx"))
                    .set("authorization", &format!("Bearer {token}"))
                    .send_json(body);
                if let Ok(r) = sent {
                    let v: Value = r.into_json().unwrap();
                    acked
                        .lock()
                        .unwrap()
                        .push((name.clone(), v["hash"].as_str().unwrap().into()));
                }
                i += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    };
    std::thread::sleep(std::time::Duration::from_secs(2));
    let mut nodes: Vec<NodeProcess> = vec![a, b, c];
    let leader = (0..3)
        .find(|&i| role(&nodes[i]) == "leader")
        .expect("a leader");
    let dead = nodes.remove(leader);
    let dead_key = public_key(&dead);
    let dead_name = dead.name.clone();
    unsafe { libc::kill(dead.pid() as i32, libc::SIGKILL) };
    drop(dead);
    let (x, y) = (&nodes[0], &nodes[1]);
    wait_until("a new leader among the two left", || {
        role(x) == "leader" || role(y) == "leader"
    });
    let (id, _) = propose(
        x,
        "remove the dead",
        json!({"type": "remove-peer", "publicKey": dead_key}),
    );
    assert_eq!(proposal_status(&vote(y, &id)), "approved");
    for n in [x, y] {
        wait_until(&format!("{} sees 2 validators", n.name), || {
            validators(n) == 2
        });
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();

    // Settled: both live nodes agree, and every transaction they acknowledged is in the chain
    // exactly once.
    wait_until("the live nodes settle", || {
        x.tip() == y.tip() && [x, y].iter().all(|n| n.status()["mempool"] == 0)
    });
    let height = x.tip().0;
    let chain = x.tx_hashes(1..=height);
    assert_eq!(chain, y.tx_hashes(1..=height));
    let mut count: HashMap<&str, usize> = HashMap::new();
    for hash in &chain {
        *count.entry(hash).or_default() += 1;
    }
    let acked = acked.lock().unwrap();
    let live_acks: Vec<&(String, String)> = acked.iter().filter(|(n, _)| *n != dead_name).collect();
    assert!(live_acks.len() > 50, "load ran: {} acks", live_acks.len());
    for (node, hash) in live_acks {
        if count.get(hash.as_str()) != Some(&1) {
            let seen: Vec<Value> = [x, y]
                .iter()
                .map(|n| n.get(&format!("/tx/{hash}")).1)
                .collect();
            panic!(
                "{hash} acknowledged by {node}: {:?} times in the chain; /tx on the live nodes: {seen:?}\n--- {} ---\n{}\n--- {} ---\n{}",
                count.get(hash.as_str()),
                x.name,
                x.log(),
                y.name,
                y.log()
            );
        }
    }
    assert!(
        count.values().all(|&n| n == 1),
        "a transaction committed twice"
    );
}
