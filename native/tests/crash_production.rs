//! `kill -9` during block production: a solo validator under concurrent REST load is killed
//! with SIGKILL three times. Each time its store must hold every block (and transaction) the
//! API had shown as committed, be internally consistent (rows, nonces, the state tree's root
//! equal to the tip's stateRoot), and the restarted node must go on producing.

mod common;

use common::{check_store_consistent, post_to, wait_until, NodeProcess};
use miniledger_native::storage::{Reads, Store};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};

const THREADS: usize = 4;

#[test]
fn kill_9_during_block_production_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let node = NodeProcess::start_in("solo", dir.path(), None, &[]);
        let start = node.tip().0;
        let stop = AtomicBool::new(false);
        let (acked, acked_txs) = std::thread::scope(|s| {
            for t in 0..THREADS {
                let (api, stop) = (node.operator(), &stop);
                s.spawn(move || {
                    for i in 0.. {
                        let body = json!({"key": format!("r{round}t{t}"), "value": i});
                        if stop.load(Ordering::Relaxed) || post_to(&api, "/tx", &body).is_err() {
                            return;
                        }
                    }
                });
            }
            wait_until("blocks produced under load", || node.tip().0 >= start + 30);
            // What the API shows as committed just before the kill.
            let acked = node.tip();
            let txs = node.tx_hashes(start + 1..=acked.0);
            // SIGKILL while the clients are still submitting.
            drop(node);
            stop.store(true, Ordering::Relaxed);
            (acked, txs)
        });

        let height = check_store_consistent(dir.path());
        let store = Store::open(dir.path()).unwrap();
        assert!(height >= acked.0, "round {round}: lost blocks");
        assert_eq!(store.block(acked.0).unwrap().unwrap().hash, acked.1);
        for hash in &acked_txs {
            assert!(store.transaction(hash).unwrap().is_some(), "lost tx {hash}");
        }
        eprintln!(
            "round {round}: killed at height {height} ({} acknowledged txs kept)",
            acked_txs.len()
        );
    }
    // Restarted once more, the node still produces.
    let node = NodeProcess::start_in("solo", dir.path(), None, &[]);
    let (code, answer) = node.post("/tx", &json!({"key": "after", "value": 1}));
    assert_eq!(code, 202, "{answer}");
    node.wait_committed(answer["hash"].as_str().unwrap());
}
