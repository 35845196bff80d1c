//! Raft validators in starting topologies other than "everyone dials the first node" (issue 13):
//! two validators started alone and a third dialing both become a full mesh with one chain;
//! a validator that can only reach a follower (never the leader) still catches up through
//! BlockSync from it and keeps up.

mod common;

use common::raft::{await_leader, identities, start};
use common::{now_ms, wait_until, NodeProcess};
use miniledger_core::{Keypair, PayloadBody, Transaction};
use serde_json::Value;
use std::collections::BTreeSet;

/// Submits `count` transactions signed here by `client` (nonces from `first`) to `node`, each
/// waited on until committed; returns the last one's block height.
fn commit_signed(node: &NodeProcess, client: &Keypair, first: u64, count: u64) -> u64 {
    let mut height = 0;
    for nonce in first..first + count {
        let key = format!("{}:{nonce}", &client.node_id()[..6]);
        let body = PayloadBody::state_set(&key, &nonce.to_string()).unwrap();
        let tx = Transaction::new_signed(client, nonce, now_ms(), body);
        let (code, answer) = node.post("/tx?wait=commit", &serde_json::to_value(&tx).unwrap());
        assert_eq!(code, 200, "{}: {answer}", node.name);
        height = answer["blockHeight"].as_u64().unwrap();
    }
    height
}

fn peers(node: &NodeProcess) -> BTreeSet<String> {
    node.peer_ids().into_iter().collect()
}

fn state_total(node: &NodeProcess) -> Value {
    node.get_ok("/state")["total"].clone()
}

#[test]
fn two_lone_validators_and_one_dialing_both_become_a_mesh_with_one_chain() {
    let (dirs, keys) = identities(3);
    let v0 = start("v0", dirs[0].path(), &keys, &[]);
    let v1 = start("v1", dirs[1].path(), &keys, &[]);
    let v2 = start("v2", dirs[2].path(), &keys, &[&v0, &v1]);
    let nodes = [&v0, &v1, &v2];
    let ids: Vec<String> = nodes.iter().map(|n| n.node_id()).collect();
    for (i, node) in nodes.iter().enumerate() {
        let others: BTreeSet<String> = (0..3).filter(|&j| j != i).map(|j| ids[j].clone()).collect();
        wait_until(&format!("{} connected to both others", node.name), || {
            peers(node) == others
        });
    }
    let leader = await_leader(&nodes);

    // Every validator takes transactions (followers forward them) and all three commit them.
    let clients: Vec<Keypair> = (0..3).map(|i| Keypair::from_seed([40 + i; 32])).collect();
    for (node, client) in nodes.iter().zip(&clients) {
        commit_signed(node, client, 0, 5);
    }
    wait_until("one chain on all three validators", || {
        let tip = nodes[leader].tip();
        tip.0 >= 1 && nodes.iter().all(|n| n.tip() == tip)
    });
    assert!(nodes.iter().all(|n| state_total(n) == 15));

    // And it goes on.
    for (node, client) in nodes.iter().zip(&clients) {
        commit_signed(node, client, 5, 3);
    }
    wait_until("all three at the same tip again", || {
        let tip = nodes[leader].tip();
        nodes.iter().all(|n| n.tip() == tip && state_total(n) == 24)
    });
}

#[test]
fn a_validator_that_reaches_only_a_follower_catches_up_from_it_and_keeps_up() {
    let (dirs, keys) = identities(3);
    let a = start("A", dirs[0].path(), &keys, &[]);
    let b = start("B", dirs[1].path(), &keys, &[&a]);
    let pair = [&a, &b];
    let leader = await_leader(&pair);
    let follower = 1 - leader;
    let client = Keypair::from_seed([50; 32]);
    let height = commit_signed(pair[leader], &client, 0, 10);
    assert!(height >= 1);

    // C admits (and dials) only the follower, so it never hears the leader.
    let validators = keys.join(",");
    let c = NodeProcess::start_in(
        "C",
        dirs[2].path(),
        None,
        &[
            "--consensus",
            "raft",
            "--validators",
            &validators,
            "--peers",
            &pair[follower].p2p,
            "--allowed-keys",
            &keys[follower],
        ],
    );
    let tip = pair[leader].tip();
    wait_until("C at the tip, synced from the follower", || c.tip() == tip);
    assert_eq!(peers(&c), BTreeSet::from([pair[follower].node_id()]));
    assert!(c.status()["syncedBlocks"].as_u64().unwrap() >= tip.0);

    // It keeps up as the chain grows, still without hearing the leader, and does not disturb
    // the cluster (pre-votes only: the follower hears the leader and refuses them).
    let term = pair[leader].status()["term"].clone();
    commit_signed(pair[follower], &client, 10, 5);
    let tip = pair[leader].tip();
    wait_until("C at the new tip", || c.tip() == tip);
    assert_eq!(pair[leader].status()["role"], "leader");
    assert_eq!(pair[leader].status()["term"], term);
}
