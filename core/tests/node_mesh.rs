//! Mesh discovery in-process, on the simulated network (`cluster_support`): nodes that each
//! know one seed learn the others from PEER_LIST and form a full mesh; a node that stops is
//! dropped by every other node, and is taken back when it returns. Was the real-process
//! `native/tests/mesh.rs` (discovery over real sockets stays in `native/tests/cluster.rs`).

mod cluster_support;

use cluster_support::{Layout, Sim};
use std::collections::BTreeSet;

fn others(sim: &Sim, i: usize, of: &[usize]) -> BTreeSet<String> {
    (of.iter())
        .filter(|&&j| j != i)
        .map(|&j| sim.node_id(j))
        .collect()
}

#[test]
fn five_nodes_with_one_seed_each_form_a_full_mesh_and_notice_a_stop() {
    // Solo: node 0 produces and is every other node's only seed.
    let mut sim = Sim::layout(Layout {
        nodes: 5,
        validators: 0,
        seeds: vec![vec![], vec![0], vec![0], vec![0], vec![0]],
        started: (0..5).collect(),
        extra_validators: Vec::new(),
    });
    sim.keep_logs();
    let all: Vec<usize> = (0..5).collect();
    sim.run_until(30_000, "a full mesh", |s| {
        all.iter().all(|&i| s.peer_ids(i) == others(s, i, &all))
    })
    .unwrap();

    // n3 stops: every remaining node drops it, and only it.
    sim.crash_node(3);
    let rest = [0, 1, 2, 4];
    let gone = sim.node_id(3);
    sim.run_until(10_000, "every node noticed n3 stopped", |s| {
        rest.iter().all(|&i| !s.peer_ids(i).contains(&gone))
    })
    .unwrap();
    sim.run_for(10_000);
    for i in rest {
        assert_eq!(sim.peer_ids(i), others(&sim, i, &rest), "n{i}");
        let line = format!("{gone} peer:disconnected");
        assert!(
            sim.logs(i).iter().any(|l| l.contains(&line)),
            "n{i} logged no peer:disconnected"
        );
    }

    // Back: the mesh is whole again (n3 dials its seed; the others redial it).
    sim.start_node(3);
    sim.run_until(30_000, "the full mesh again", |s| {
        all.iter().all(|&i| s.peer_ids(i) == others(s, i, &all))
    })
    .unwrap();
}

#[test]
fn a_line_of_nodes_each_knowing_only_the_previous_becomes_a_full_mesh_with_one_chain() {
    // n0 ← n1 ← n2 ← n3 ← n4 ← n5: each knows only the one started before it.
    let n = 6;
    let mut sim = Sim::layout(Layout {
        nodes: n,
        validators: 0,
        seeds: (0..n).map(|i| (i.saturating_sub(1)..i).collect()).collect(),
        started: (0..n).collect(),
        extra_validators: Vec::new(),
    });
    let tx = sim.submit_to(n - 1).expect("the far end admits it");
    sim.settle(60_000)
        .expect("a full mesh, one tip, the transaction committed");
    assert!(sim.committed(&tx));
}
