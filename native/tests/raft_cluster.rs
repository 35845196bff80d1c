//! Raft with real processes on loopback: three validators elect a leader and commit what every
//! node receives into identical chains; an observer follows without voting; the leader is
//! killed under load, a new one takes over, nothing acknowledged is lost or committed twice, and
//! the killed node restarts and catches up; a follower down for longer than the leader's
//! retained window catches up through BlockSync.

mod common;

use common::raft::{
    agreed_leader, await_leader, consensus, identities, start, start_three, ELECTION,
};
use common::{post_to, wait_until, wait_until_within, NodeProcess};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Every transaction hash of every block, in chain order.
fn chain_tx_hashes(node: &NodeProcess) -> Vec<String> {
    node.tx_hashes(1..=node.tip().0)
}

#[test]
fn validators_elect_commit_identical_chains_and_an_observer_follows() {
    let (dirs, keys) = identities(4);
    let validators = &keys[..3];
    let [a, b, c] = start_three(&dirs, validators);
    let nodes = [&a, &b, &c];
    let leader = await_leader(&nodes);
    let view = consensus(nodes[leader]);
    assert_eq!(view["algorithm"], "raft");
    let mut sorted = validators.to_vec();
    sorted.sort();
    assert_eq!(view["validators"], json!(sorted));
    assert_eq!(nodes[leader].status()["role"], "leader");

    // Transactions to every node at once (followers forward them to the leader).
    let hashes: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = nodes
            .iter()
            .enumerate()
            .map(|(n, node)| {
                s.spawn(move || {
                    node.submit_concurrently(
                        3,
                        20,
                        |t, i| json!({"key": format!("n{n}:t{t}:{i}"), "value": i}),
                    )
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert_eq!(hashes.len(), 180);
    // ?wait=commit answers once the transaction is in a block.
    let follower = (leader + 1) % 3;
    let (code, answer) = nodes[follower].post("/tx?wait=commit", &json!({"key": "w", "value": 1}));
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["status"], "confirmed");
    assert!(answer["blockHeight"].as_u64().unwrap() >= 1);

    wait_until("every node committed everything", || {
        nodes
            .iter()
            .all(|n| n.get_ok("/state")["total"] == 181 && n.status()["mempool"] == 0)
    });
    let tip = nodes[leader].tip();
    wait_until("identical tips", || nodes.iter().all(|n| n.tip() == tip));
    let chain = chain_tx_hashes(&a);
    assert_eq!(chain.len(), 181);
    assert_eq!(chain.iter().collect::<HashSet<_>>().len(), 181);
    for n in &nodes {
        let status = n.status();
        assert_eq!(status["commitIndex"], tip.0);
        assert_eq!(status["consensus"], "raft");
    }

    // An observer (not a validator) follows as a learner.
    let observer = start("O", dirs[3].path(), validators, &[&a, &b, &c]);
    wait_until("the observer at the tip", || observer.tip() == tip);
    let o_id = observer.get_ok("/identity")["nodeId"].clone();
    wait_until("the leader replicates to the observer", || {
        consensus(nodes[leader])["learners"]
            .as_array()
            .unwrap()
            .contains(&o_id)
    });
    let extra = nodes[leader].submit_concurrently(
        1,
        10,
        |_, i| json!({"key": format!("o{i}"), "value": i}),
    );
    for hash in &extra {
        observer.wait_committed(hash);
    }
    let view = consensus(&observer);
    assert_eq!(view["role"], "learner");
    assert_eq!(view["votedFor"], Value::Null);
    assert_eq!(view["leader"], consensus(nodes[leader])["leader"]);
    wait_until("observer at the validators' tip", || {
        observer.tip() == nodes[leader].tip()
    });
}

#[test]
fn a_killed_leader_is_replaced_and_catches_up_without_losing_transactions() {
    let (dirs, keys) = identities(3);
    let mut nodes = start_three(&dirs, &keys).map(Some);
    let all: Vec<&NodeProcess> = nodes.iter().map(|n| n.as_ref().unwrap()).collect();
    let leader = await_leader(&all);
    let old_id = all[leader].get_ok("/identity")["nodeId"].clone();
    let survivors: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let apis: Vec<_> = survivors.iter().map(|&i| all[i].operator()).collect();

    // Steady load on the two followers; every 202 is recorded.
    let stop = AtomicBool::new(false);
    let acked = Mutex::new(Vec::<String>::new());
    let sent = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for (w, api) in apis.iter().enumerate() {
            let (stop, acked, sent) = (&stop, &acked, &sent);
            s.spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let body = json!({"key": format!("w{w}:{i}"), "value": i});
                    if let Ok((202, answer)) = post_to(api, "/tx", &body) {
                        acked
                            .lock()
                            .unwrap()
                            .push(answer["hash"].as_str().unwrap().to_string());
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                    std::thread::sleep(Duration::from_millis(5));
                }
            });
        }
        wait_until("load running", || sent.load(Ordering::Relaxed) >= 100);
        // kill -9 of the leader.
        nodes[leader] = None;
        let killed = Instant::now();
        let live: Vec<&NodeProcess> = survivors
            .iter()
            .map(|&i| nodes[i].as_ref().unwrap())
            .collect();
        let mut new_leader = None;
        wait_until_within("a new leader", ELECTION, || {
            new_leader =
                agreed_leader(&live).filter(|&l| live[l].get_ok("/identity")["nodeId"] != old_id);
            new_leader.is_some()
        });
        eprintln!("new leader after {:?}", killed.elapsed());
        let before = sent.load(Ordering::Relaxed);
        wait_until("load continues", || {
            sent.load(Ordering::Relaxed) >= before + 100
        });
        stop.store(true, Ordering::Relaxed);
    });

    let live: Vec<&NodeProcess> = survivors
        .iter()
        .map(|&i| nodes[i].as_ref().unwrap())
        .collect();
    let acked = acked.into_inner().unwrap();
    eprintln!("{} transactions acknowledged", acked.len());
    for hash in &acked {
        live[0].wait_committed(hash);
    }
    wait_until("survivors agree", || live[0].tip() == live[1].tip());
    let chain = chain_tx_hashes(live[0]);
    let unique: HashSet<&String> = chain.iter().collect();
    assert_eq!(
        unique.len(),
        chain.len(),
        "a transaction was committed twice"
    );
    assert!(acked.iter().all(|h| unique.contains(h)));

    // The killed node restarts on its data and catches up.
    let peers: Vec<&NodeProcess> = live.clone();
    let restarted = start("R", dirs[leader].path(), &keys, &peers);
    let tip = live[0].tip();
    wait_until("the restarted node at the tip", || restarted.tip() == tip);
    let hash = live[1].post("/tx?wait=commit", &json!({"key": "after", "value": 1}));
    assert_eq!(hash.0, 200, "{}", hash.1);
    let hash = hash.1["hash"].as_str().unwrap().to_string();
    restarted.wait_committed(&hash);
    assert_eq!(consensus(&restarted)["role"], "follower");
}

/// Blocks committed while a follower is down: past the leader's window (core's default
/// `retained_entries` is 64; a log holds up to 1.5× that between compactions).
const FAR_BEHIND: u64 = 150;

/// Three validators; one is killed -9, the chain moves `FAR_BEHIND` blocks, and it restarts
/// on its data and reaches the leader's tip (through BlockSync).
struct FarBehind {
    _dirs: Vec<tempfile::TempDir>,
    nodes: [Option<NodeProcess>; 3],
    leader: usize,
    other: usize,
    restarted: NodeProcess,
    stopped_at: u64,
    tip: (u64, String),
}

fn catch_up_far_behind() -> FarBehind {
    let (dirs, keys) = identities(3);
    let mut nodes = start_three(&dirs, &keys).map(Some);
    let all: Vec<&NodeProcess> = nodes.iter().map(|n| n.as_ref().unwrap()).collect();
    let leader = await_leader(&all);
    let behind = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    let stopped_at = all[behind].tip().0;
    nodes[behind] = None; // kill -9; its data dir stays

    // One block per transaction: each waits for its commit before the next is sent.
    let l = nodes[leader].as_ref().unwrap();
    for i in 0..FAR_BEHIND {
        let (code, answer) = l.post(
            "/tx?wait=commit",
            &json!({"key": format!("far{i}"), "value": i}),
        );
        assert_eq!(code, 200, "{answer}");
    }
    let tip = l.tip();
    assert!(tip.0 >= stopped_at + FAR_BEHIND, "{tip:?}");

    let live = [l, nodes[other].as_ref().unwrap()];
    let restarted = start("R", dirs[behind].path(), &keys, &live);
    wait_until("the restarted node at the tip", || restarted.tip() == tip);
    FarBehind {
        _dirs: dirs,
        nodes,
        leader,
        other,
        restarted,
        stopped_at,
        tip,
    }
}

#[test]
fn a_follower_far_behind_catches_up_through_block_sync() {
    let FarBehind {
        _dirs,
        nodes,
        leader,
        other,
        restarted,
        stopped_at,
        tip,
    } = catch_up_far_behind();
    let live = [
        nodes[leader].as_ref().unwrap(),
        nodes[other].as_ref().unwrap(),
    ];
    let status = restarted.status();
    let synced = status["syncedBlocks"].as_u64().unwrap();
    eprintln!(
        "{synced} of {} blocks through BlockSync",
        tip.0 - stopped_at
    );
    // Only the last entries (at most the window) may come as AppendEntries.
    assert!(
        synced >= tip.0 - stopped_at - 96,
        "{synced} blocks through BlockSync, {} behind",
        tip.0 - stopped_at
    );
    assert!(restarted.log().contains("catching up through BlockSync"));
    // It follows the log again afterwards.
    let (code, answer) = live[1].post("/tx?wait=commit", &json!({"key": "after", "value": 1}));
    assert_eq!(code, 200, "{answer}");
    restarted.wait_committed(answer["hash"].as_str().unwrap());
    assert_eq!(consensus(&restarted)["role"], "follower");
}

/// The liveness gap `fault_kill` found (RELIABILITY.md): a validator that caught up through
/// BlockSync used not to know its synced tip's Raft term, so it neither voted nor campaigned
/// until a leader appended to it; with the leader killed in that window, the two survivors
/// could elect no one. The validators' SYNC_RESPONSEs now carry the blocks' terms: the leader
/// is killed right after the catch-up and the survivors elect a new one.
#[test]
fn survivors_elect_a_leader_when_it_dies_right_after_a_block_sync_catch_up() {
    let FarBehind {
        _dirs,
        mut nodes,
        leader,
        other,
        restarted,
        stopped_at,
        tip,
    } = catch_up_far_behind();
    nodes[leader] = None; // kill -9 right after the catch-up
    let survivors = [&restarted, nodes[other].as_ref().unwrap()];
    let started = Instant::now();
    let new = await_leader(&survivors);
    eprintln!(
        "leader {} elected {:?} after the kill ({} blocks behind before the restart)",
        ["restarted", "other"][new],
        started.elapsed(),
        tip.0 - stopped_at
    );
    assert!(
        restarted.status()["syncedBlocks"].as_u64().unwrap() > 0,
        "caught up through BlockSync"
    );
    assert!(
        !restarted.log().contains("synced tip's term unknown"),
        "every synced run came with its tip's term"
    );
    let (code, answer) =
        survivors[new].post("/tx?wait=commit", &json!({"key": "after", "value": 1}));
    assert_eq!(code, 200, "{answer}");
}
