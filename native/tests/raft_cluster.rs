//! Raft with real processes on loopback, the smoke of Raft over real sockets and SQLite: three
//! validators elect a leader and commit what every node receives (through REST, from several
//! threads at once) into identical chains; `?wait=commit` and `?consistency=linearizable`
//! through a follower.
//!
//! The Raft behaviour itself runs in-process on the cluster simulator
//! (`core/tests/node_raft.rs`: observers, a leader crash under load, catching up past the
//! retained window, an election right after a catch-up; `node_reads.rs`: linearizable reads);
//! `kill -9` of real leaders under load is `fault_kill.rs`'s.

mod common;

use common::raft::{await_leader, consensus, identities, start_three};
use common::{wait_until, NodeProcess};
use serde_json::json;
use std::collections::HashSet;

/// Every transaction hash of every block, in chain order.
fn chain_tx_hashes(node: &NodeProcess) -> Vec<String> {
    node.tx_hashes(1..=node.tip().0)
}

#[test]
fn validators_elect_and_commit_identical_chains_over_real_sockets() {
    let (dirs, keys) = identities(3);
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

    // A linearizable read through a follower sees the acknowledged write; an unknown
    // consistency is refused.
    let (code, body) = nodes[follower].get("/state/w?consistency=linearizable");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["value"], 1);
    let (code, body) = nodes[follower].get("/state/w?consistency=sometimes");
    assert_eq!(code, 400, "an unknown consistency is refused: {body}");
}
