//! Real processes: five nodes, each started knowing only one seed, discover each other through
//! PEER_LIST and form a full mesh; a node that stops is noticed by every other node.

mod common;

use common::{wait_until, NodeProcess};
use std::collections::BTreeSet;

fn peers(node: &NodeProcess) -> BTreeSet<String> {
    node.peer_ids().into_iter().collect()
}

#[test]
fn five_nodes_with_one_seed_each_form_a_full_mesh_and_notice_a_stop() {
    let seed = NodeProcess::start("seed", None, &[]);
    let mut nodes = vec![seed];
    for i in 1..5 {
        let joined = NodeProcess::start(&format!("n{i}"), Some(&nodes[0].p2p), &[]);
        nodes.push(joined);
    }
    let ids: Vec<String> = nodes
        .iter()
        .map(|n| {
            n.get_ok("/identity")["nodeId"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for (i, node) in nodes.iter().enumerate() {
        let others: BTreeSet<String> = ids
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, id)| id.clone())
            .collect();
        wait_until(
            &format!("{} connected to all four others", node.name),
            || peers(node) == others,
        );
    }

    // Stop n3: every remaining node drops it from its peers.
    let stopped = nodes.remove(3);
    let stopped_id = ids[3].clone();
    drop(stopped);
    for node in &nodes {
        wait_until(&format!("{} noticed n3 stopped", node.name), || {
            !peers(node).contains(&stopped_id)
        });
        assert_eq!(peers(node).len(), 3, "{} lost more than n3", node.name);
        assert!(
            node.log().contains("peer:disconnected"),
            "{} logged no peer:disconnected",
            node.name
        );
    }
}
