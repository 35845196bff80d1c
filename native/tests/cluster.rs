//! Three real node processes on loopback: A produces (solo validator), B joins A, C joins B
//! only. Transactions submitted to A under concurrency reach B, and C catches up to the same
//! tip through B and the peers it discovers.

mod common;

use common::{wait_until, NodeProcess};
use serde_json::{json, Value};

const THREADS: usize = 6;
const PER_THREAD: usize = 50;

#[test]
fn followers_reach_the_producers_tip_through_the_mesh() {
    let a = NodeProcess::start("A", None, &[]);
    let identity = a.get_ok("/identity");
    let validator = identity["publicKey"].as_str().unwrap().to_string();
    let a_id = identity["nodeId"].as_str().unwrap().to_string();

    let b = NodeProcess::start("B", Some(&a.p2p), &["--validators", &validator]);
    wait_until("B connected to A", || b.peer_ids().contains(&a_id));
    let b_consensus = b.get_ok("/consensus");
    assert_eq!(b_consensus["role"], "follower");
    assert_eq!(b_consensus["leader"], a_id.as_str());

    // 300 transactions to A from several threads at once; every one accepted.
    let hashes = a.submit_concurrently(
        THREADS,
        PER_THREAD,
        |t, i| json!({"key": format!("t{t}:{i:03}"), "value": {"i": i}}),
    );
    assert_eq!(hashes.len(), THREADS * PER_THREAD);

    wait_until("A committed every transaction", || {
        let status = a.status();
        status["mempool"] == 0 && a.get_ok("/state")["total"] == THREADS * PER_THREAD
    });
    let a_tip = a.tip();
    assert!(a_tip.0 >= 1);
    eprintln!(
        "A committed {} transactions in {} blocks",
        hashes.len(),
        a_tip.0
    );
    wait_until("B at A's tip", || b.tip() == a_tip);
    assert_eq!(b.get_ok("/state")["total"], THREADS * PER_THREAD);
    let last = &hashes[hashes.len() - 1];
    assert_eq!(
        b.get_ok(&format!("/tx/{last}"))["blockHeight"],
        a.get_ok(&format!("/tx/{last}"))["blockHeight"]
    );

    // C knows only B; it syncs the chain and discovers A through B's peer list.
    let c = NodeProcess::start("C", Some(&b.p2p), &["--validators", &validator]);
    wait_until("C at A's tip", || c.tip() == a_tip);
    wait_until("C discovered A", || c.peer_ids().contains(&a_id));
    let blocks: Value = c.get_ok("/blocks?limit=1");
    assert_eq!(blocks["total"], a_tip.0 + 1);
    assert_eq!(
        c.get_ok("/state/t0:000")["value"],
        json!({"i": 0}),
        "C executed the synced blocks"
    );
    // Relays that race commits (each transaction comes back from the peers it was sent to)
    // are not misbehaviour: no honest node scored another.
    for node in [&a, &b, &c] {
        assert_eq!(
            node.get_ok("/peers")["misbehaviour"],
            json!([]),
            "{}",
            node.name
        );
    }
}
