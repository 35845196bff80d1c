//! A long sync between two real node processes: node A serves a 10,000-block chain (built
//! in-process straight into its store), node B starts empty, joins A and must reach A's tip,
//! applying synced runs in batched commits, and log the sync summary. A third node killed with
//! SIGKILL mid-sync leaves a consistent store (whole runs or nothing) and resumes from it.

mod common;

use common::{now_ms, wait_until_within, NodeProcess};
use miniledger_core::validation::{Limits, ValidatorSet};
use miniledger_core::Governance;
use miniledger_core::{Keypair, PayloadBody, StateRootRule, Transaction};
use miniledger_native::node::{seal_run, Rules};
use miniledger_native::storage::Reads;
use miniledger_native::storage::Store;
use std::path::Path;
use std::time::{Duration, Instant};

const BLOCKS: u64 = 10_000;
/// Blocks per fixture commit.
const CHUNK: u64 = 500;
const SENDER_SEED: u8 = 7;

/// Writes `BLOCKS` blocks of one transaction each, proposed by `proposer`, into a new store at
/// `dir`, with timestamps 1 ms apart starting an hour ago.
fn build_chain(dir: &Path, proposer: &Keypair) {
    let sender = Keypair::from_seed([SENDER_SEED; 32]);
    let mut store = Store::open(dir).unwrap();
    let rules = Rules {
        validators: ValidatorSet::new([proposer.public_hex()]),
        limits: Limits::default(),
        state_root: StateRootRule::Tree,
        governance: Governance::OnChain,
    };
    let start = now_ms() - 3_600_000;
    let mut i = 0;
    while i < BLOCKS {
        let end = (i + CHUNK).min(BLOCKS);
        let batches = (i..end).map(|i| {
            let ts = start + i;
            let body = PayloadBody::state_set(format!("k{}", i % 100), "1").unwrap();
            (ts, vec![Transaction::new_signed(&sender, i, ts, body)])
        });
        // The node's own production path, one SQLite transaction per chunk.
        seal_run(&mut store, &rules, proposer, batches).expect("fixture blocks");
        i = end;
    }
    assert_eq!(store.height(), BLOCKS);
}

#[test]
fn a_new_node_syncs_ten_thousand_blocks() {
    let proposer = Keypair::from_seed([42; 32]);
    let validators = proposer.public_hex().to_string();
    let fixture = tempfile::tempdir().unwrap();
    let started = Instant::now();
    build_chain(fixture.path(), &proposer);
    eprintln!("fixture: {BLOCKS} blocks in {:.1?}", started.elapsed());

    let a = NodeProcess::start_in("A", fixture.path(), None, &["--validators", &validators]);
    let a_tip = a.tip();
    assert_eq!(a_tip.0, BLOCKS);

    let started = Instant::now();
    let b = NodeProcess::start("B", Some(&a.p2p), &["--validators", &validators]);
    wait_until_within("B at A's tip", Duration::from_secs(120), || {
        b.tip() == a_tip
    });
    eprintln!("B synced {BLOCKS} blocks in {:.1?}", started.elapsed());

    let summary = format!("synced {BLOCKS} blocks to height {BLOCKS}");
    wait_until_within("B logged the sync summary", Duration::from_secs(10), || {
        b.log().contains(&summary)
    });
    assert_eq!(b.get_ok("/state")["total"], 100);
    assert_eq!(
        b.get_ok(&format!("/blocks/{BLOCKS}")),
        a.get_ok(&format!("/blocks/{BLOCKS}"))
    );
    // Ten thousand blocks of honest sync: nothing either side did counts as misbehaviour.
    for node in [&a, &b] {
        assert_eq!(
            node.get_ok("/peers")["misbehaviour"],
            serde_json::json!([]),
            "{}",
            node.name
        );
    }
    drop(b);

    // C is killed (SIGKILL) mid-sync: its store holds whole blocks up to its tip and nothing
    // past it; restarted on the same data dir it carries on to A's tip.
    let c_dir = tempfile::tempdir().unwrap();
    let c = NodeProcess::start_in(
        "C",
        c_dir.path(),
        Some(&a.p2p),
        &["--validators", &validators],
    );
    wait_until_within("C synced some blocks", Duration::from_secs(60), || {
        c.tip().0 >= 1_000
    });
    drop(c);
    {
        let store = Store::open(c_dir.path()).unwrap();
        let height = store.height();
        eprintln!("C was killed at height {height}");
        // Also proves the API answered while the node was syncing.
        assert!(
            (1_000..BLOCKS).contains(&height),
            "C was to be killed mid-sync"
        );
        let one = |sql: &str| {
            let result = store
                .query_readonly(sql, 1, Duration::from_secs(5))
                .unwrap();
            result.rows[0][0].as_u64().unwrap()
        };
        assert_eq!(one("SELECT max(height) FROM blocks"), height);
        assert_eq!(one("SELECT count(*) FROM transactions"), height);
        assert_eq!(one("SELECT max(block_height) FROM transactions"), height);
        assert_eq!(one("SELECT max(block_height) FROM world_state"), height);
        assert_eq!(one("SELECT count(*) FROM world_state"), height.min(100));
        let sender = Keypair::from_seed([SENDER_SEED; 32]);
        assert_eq!(store.nonce(sender.public_hex()).unwrap(), height);
    }
    let c = NodeProcess::start_in(
        "C",
        c_dir.path(),
        Some(&a.p2p),
        &["--validators", &validators],
    );
    wait_until_within("C at A's tip", Duration::from_secs(120), || {
        c.tip() == a_tip
    });
}
