//! The SQLite store: block commits are atomic and durable across reopen, reads return what was
//! written, and the user SQL endpoint cannot write or run away.

use miniledger_core::hash::ZERO_HASH;
use miniledger_core::model::block::GENESIS_HASH;
use miniledger_core::pipeline::Overlay;
use miniledger_core::state::{execute_block, StateDelta, StateEntry, StateView};
use miniledger_core::validation::{check_nonces, Limits, NonceView, ValidatorSet};
use miniledger_core::{Block, Keypair, PayloadBody, Transaction};
use miniledger_core::{Governance, StateRootRule};
use miniledger_native::node::{seal, seal_run, Rules};
use miniledger_native::storage::Reads;
use miniledger_native::storage::{CommitItem, Store, StoreError, DB_FILE, SCHEMA_VERSION};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tempfile::TempDir;

fn key(n: u8) -> Keypair {
    Keypair::from_seed([n; 32])
}

fn set(sender: &Keypair, nonce: u64, k: &str, value_json: &str) -> Transaction {
    let body = PayloadBody::state_set(k, value_json).unwrap();
    Transaction::new_signed(sender, nonce, 1_000 + nonce, body)
}

fn delete(sender: &Keypair, nonce: u64, k: &str) -> Transaction {
    let body = PayloadBody::StateDelete { key: k.into() };
    Transaction::new_signed(sender, nonce, 1_000 + nonce, body)
}

/// The next block on `store`'s tip, with the delta and nonces core computes for it.
fn next_block(store: &Store, txs: Vec<Transaction>) -> (Block, StateDelta, HashMap<String, u64>) {
    let tip = store.tip();
    let block = Block::build(
        &tip,
        tip.timestamp + 1_000,
        txs,
        ZERO_HASH.into(),
        &key(200),
    );
    let delta = execute_block(&block, store);
    let nonces = check_nonces(&block, store).expect("test blocks have valid nonces");
    (block, delta, nonces)
}

fn commit(store: &mut Store, txs: Vec<Transaction>) -> Block {
    let (block, delta, nonces) = next_block(store, txs);
    store
        .commit_block(item(&block, &delta, &nonces), None)
        .unwrap();
    block
}

type Item = (Block, StateDelta, HashMap<String, u64>);

/// A run of blocks on `store`'s tip, one per entry of `txs`, with the deltas and nonces core
/// computes for each over the store plus the earlier blocks of the run.
fn next_run(store: &Store, txs: Vec<Vec<Transaction>>) -> Vec<Item> {
    let mut parent = store.tip();
    let mut overlay = Overlay::new(store);
    let mut run = Vec::new();
    for txs in txs {
        let block = Block::build(
            &parent,
            parent.timestamp + 1_000,
            txs,
            ZERO_HASH.into(),
            &key(200),
        );
        let delta = execute_block(&block, &overlay);
        let nonces = check_nonces(&block, &overlay).expect("test blocks have valid nonces");
        overlay.push(&delta, &nonces);
        parent = block.header();
        run.push((block, delta, nonces));
    }
    run
}

/// A storage-level commit item: these tests exercise rows and atomicity, not the state tree.
fn item<'a>(
    block: &'a Block,
    delta: &'a StateDelta,
    nonces: &'a HashMap<String, u64>,
) -> CommitItem<'a> {
    CommitItem {
        block,
        delta,
        next_nonces: nonces,
    }
}

fn commit_run(store: &mut Store, run: &[Item]) -> Result<(), StoreError> {
    let items: Vec<_> = run.iter().map(|(b, d, n)| item(b, d, n)).collect();
    store.commit_blocks(&items, None)
}

fn count(store: &Store, table: &str) -> i64 {
    let result = store
        .query_readonly(
            &format!("SELECT count(*) FROM {table}"),
            1,
            Duration::from_secs(5),
        )
        .unwrap();
    result.rows[0][0].as_i64().unwrap()
}

fn open() -> (TempDir, Store) {
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn genesis_is_stored_once_and_reopen_keeps_the_tip() {
    let dir = TempDir::new().unwrap();
    let data_dir = dir.path().join("nested/data");
    let mut store = Store::open(&data_dir).unwrap();
    assert!(data_dir.join(DB_FILE).exists());
    assert_eq!(store.height(), 0);
    assert_eq!(store.tip().hash, GENESIS_HASH);
    assert_eq!(store.block(0).unwrap().unwrap(), Block::genesis());

    let a = key(1);
    commit(&mut store, vec![set(&a, 0, "x", "1")]);
    let last = commit(&mut store, vec![set(&a, 1, "x", "2")]);
    drop(store);

    let store = Store::open(&data_dir).unwrap();
    assert_eq!(store.tip(), last.header());
    assert_eq!(count(&store, "blocks"), 3);
    assert_eq!(count(&store, "blocks WHERE height = 0"), 1);
    assert_eq!(store.state_entry("x").unwrap().unwrap().version, 2);
    assert_eq!(store.nonce(a.public_hex()).unwrap(), 2);
}

#[test]
fn commit_then_read_blocks_and_transactions() {
    let (_dir, mut store) = open();
    let (a, b) = (key(1), key(2));
    let b1 = commit(
        &mut store,
        vec![set(&a, 0, "k", "1"), set(&b, 0, "j", "{\"z\":1,\"a\":2}")],
    );
    let b2 = commit(&mut store, vec![set(&a, 1, "k", "2")]);

    assert_eq!(store.height(), 2);
    assert_eq!(store.block(1).unwrap().unwrap(), b1);
    assert_eq!(store.block_by_hash(&b2.hash).unwrap().unwrap(), b2);
    assert_eq!(store.block(3).unwrap(), None);
    assert_eq!(store.block_by_hash("nope").unwrap(), None);
    // The stored text is the block's own serialisation, served as is to sync peers.
    assert_eq!(
        store.block_json(1).unwrap().unwrap(),
        serde_json::to_string(&b1).unwrap()
    );

    let second = &b1.transactions[1];
    assert_eq!(
        store.transaction(&second.hash).unwrap(),
        Some((second.clone(), 1))
    );
    assert_eq!(store.transaction("missing").unwrap(), None);

    let recent = store.recent_transactions(0, 10).unwrap();
    let hashes: Vec<_> = recent.iter().map(|(tx, h)| (tx.hash.clone(), *h)).collect();
    assert_eq!(
        hashes,
        vec![
            (b2.transactions[0].hash.clone(), 2),
            (b1.transactions[1].hash.clone(), 1),
            (b1.transactions[0].hash.clone(), 1),
        ]
    );
    assert_eq!(store.recent_transactions(0, 1).unwrap().len(), 1);
    // Pages (`/tx/recent?page`): skip the newest, and the count of all.
    let older = store.recent_transactions(1, 10).unwrap();
    assert_eq!(older.len(), 2);
    assert_eq!(older[0].0.hash, b1.transactions[1].hash);
    assert_eq!(store.transaction_count().unwrap(), 3);

    let by_a = store.transactions_by_sender(a.public_hex(), 10).unwrap();
    let nonces: Vec<_> = by_a.iter().map(|(tx, _)| tx.nonce).collect();
    assert_eq!(nonces, vec![1, 0]);
    assert!(store
        .transactions_by_sender(key(9).public_hex(), 10)
        .unwrap()
        .is_empty());

    // Values are stored as canonical JSON.
    let j = store.state_entry("j").unwrap().unwrap();
    assert_eq!(
        (j.value.as_str(), j.version, j.block_height),
        ("{\"a\":2,\"z\":1}", 1, 1)
    );
}

#[test]
fn state_and_nonce_views_round_trip() {
    let (_dir, mut store) = open();
    let (a, b) = (key(1), key(2));
    assert_eq!(StateView::get(&store, "k"), None);
    assert_eq!(store.next_nonce(a.public_hex()), 0);

    commit(
        &mut store,
        vec![set(&a, 0, "k", "1"), set(&a, 1, "k", "\"two\"")],
    );
    assert_eq!(
        StateView::get(&store, "k"),
        Some(StateEntry {
            value: "\"two\"".into(),
            version: 2
        })
    );
    assert_eq!(store.next_nonce(a.public_hex()), 2);
    assert_eq!(store.next_nonce(b.public_hex()), 0);

    commit(&mut store, vec![delete(&b, 0, "k")]);
    assert_eq!(StateView::get(&store, "k"), None);
    assert_eq!(store.state_count().unwrap(), 0);
    assert_eq!(store.next_nonce(b.public_hex()), 1);

    // A deleted key starts again at version 1.
    commit(&mut store, vec![set(&b, 1, "k", "3")]);
    assert_eq!(StateView::get(&store, "k").unwrap().version, 1);
}

#[test]
fn state_entries_by_prefix_with_paging() {
    let (_dir, mut store) = open();
    let a = key(1);
    let keys = [
        "acct:1",
        "acct:2",
        "acct:3",
        "acct;x",
        "acc",
        "b",
        "acct:\u{10ffff}",
    ];
    let txs = keys
        .iter()
        .enumerate()
        .map(|(i, k)| set(&a, i as u64, k, "0"))
        .collect();
    commit(&mut store, txs);
    assert_eq!(store.state_count().unwrap(), keys.len() as u64);

    let listed = |prefix, limit, offset| -> Vec<String> {
        store
            .state_entries(prefix, limit, offset)
            .unwrap()
            .into_iter()
            .map(|r| r.key)
            .collect()
    };
    assert_eq!(
        listed(Some("acct:"), 10, 0),
        ["acct:1", "acct:2", "acct:3", "acct:\u{10ffff}"]
    );
    assert_eq!(listed(Some("acct:"), 2, 1), ["acct:2", "acct:3"]);
    assert_eq!(listed(None, 3, 0), ["acc", "acct:1", "acct:2"]);
    assert_eq!(listed(Some(""), 100, 0).len(), keys.len());
    assert!(listed(Some("zzz"), 10, 0).is_empty());
}

#[test]
fn refuses_a_block_that_does_not_extend_the_tip() {
    let (_dir, mut store) = open();
    let a = key(1);
    let (block, delta, nonces) = next_block(&store, vec![set(&a, 0, "k", "1")]);

    // Wrong parent hash at the right height.
    let mut fake_parent = store.tip();
    fake_parent.hash = "ab".repeat(32);
    let orphan = Block::build(
        &fake_parent,
        5,
        block.transactions.clone(),
        ZERO_HASH.into(),
        &a,
    );
    let err = store
        .commit_block(item(&orphan, &delta, &nonces), None)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotNextBlock { height: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("previousHash"), "{err}");

    store
        .commit_block(item(&block, &delta, &nonces), None)
        .unwrap();
    // The same block again: wrong height.
    let err = store
        .commit_block(item(&block, &delta, &nonces), None)
        .unwrap_err();
    assert!(err.to_string().contains("tip is at height 1"), "{err}");
    assert_eq!(count(&store, "blocks"), 2);
    assert_eq!(count(&store, "transactions"), 1);
}

#[test]
fn a_commit_failing_midway_writes_nothing() {
    let (_dir, mut store) = open();
    let (a, b) = (key(1), key(2));
    commit(&mut store, vec![set(&a, 0, "k", "1")]);
    let tip = store.tip();

    // The second transaction's sender is new and missing from the item's nonces, so it has no
    // nonce row: its transaction row's sender_id is NULL, which the NOT NULL column refuses
    // after the block row and the first transaction row were written.
    let c = key(3);
    let txs = vec![set(&b, 0, "fresh", "1"), set(&c, 0, "k", "666")];
    let block = Block::build(&tip, tip.timestamp + 1, txs, ZERO_HASH.into(), &key(200));
    let delta = execute_block(&block, &store);
    let nonces = HashMap::from([
        (a.public_hex().to_string(), 1),
        (b.public_hex().to_string(), 1),
    ]);
    let err = store
        .commit_block(item(&block, &delta, &nonces), None)
        .unwrap_err();
    assert!(matches!(err, StoreError::Sqlite { .. }), "{err}");
    assert!(err.to_string().contains("storing transaction 1"), "{err}");

    assert_eq!(store.tip(), tip);
    assert_eq!(count(&store, "blocks"), 2);
    assert_eq!(count(&store, "transactions"), 1);
    assert_eq!(store.block(2).unwrap(), None);
    assert_eq!(store.state_entry("fresh").unwrap(), None);
    assert_eq!(store.state_entry("k").unwrap().unwrap().value, "1");
    assert_eq!(store.next_nonce(b.public_hex()), 0);
    assert_eq!(store.next_nonce(a.public_hex()), 1);

    // The store is still usable, and a reopen sees the same.
    commit(&mut store, vec![set(&b, 0, "fresh", "1")]);
    assert_eq!(store.height(), 2);
    let dir = store.path().parent().unwrap().to_path_buf();
    drop(store);
    let store = Store::open(&dir).unwrap();
    assert_eq!(store.height(), 2);
    assert_eq!(count(&store, "transactions"), 2);
}

#[test]
fn block_json_range_honours_max_bytes() {
    let (_dir, mut store) = open();
    let a = key(1);
    for nonce in 0..5 {
        commit(&mut store, vec![set(&a, nonce, "k", "1")]);
    }
    let sizes: Vec<usize> = (0..=5)
        .map(|h| store.block_json(h).unwrap().unwrap().len())
        .collect();

    let all = store.block_json_range(1, 5, usize::MAX).unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(all[0], store.block_json(1).unwrap().unwrap());

    // Exactly two fit; one byte less and only one does.
    let two = sizes[1] + sizes[2];
    assert_eq!(store.block_json_range(1, 5, two).unwrap().len(), 2);
    assert_eq!(store.block_json_range(1, 5, two - 1).unwrap().len(), 1);
    // At least one block even if it alone exceeds the budget.
    assert_eq!(store.block_json_range(2, 5, 10).unwrap().len(), 1);
    // Bounds are inclusive; empty range or beyond the tip gives nothing.
    assert_eq!(store.block_json_range(0, 0, 0).unwrap().len(), 1);
    assert!(store.block_json_range(6, 9, 1 << 20).unwrap().is_empty());
    assert!(store.block_json_range(3, 2, 1 << 20).unwrap().is_empty());
}

#[test]
fn blocks_page_goes_down_from_the_tip() {
    let (_dir, mut store) = open();
    let a = key(1);
    for nonce in 0..4 {
        commit(&mut store, vec![set(&a, nonce, "k", "1")]);
    }
    let heights = |offset, limit| -> Vec<u64> {
        store
            .blocks_page(offset, limit)
            .unwrap()
            .iter()
            .map(|b| b.height)
            .collect()
    };
    assert_eq!(heights(0, 2), [4, 3]);
    assert_eq!(heights(2, 2), [2, 1]);
    assert_eq!(heights(3, 10), [1, 0]);
    assert!(heights(5, 10).is_empty());
    assert!(heights(0, 0).is_empty());
}

#[test]
fn query_readonly_returns_rows_and_truncates() {
    let (_dir, mut store) = open();
    let a = key(1);
    commit(
        &mut store,
        vec![set(&a, 0, "a", "1"), set(&a, 1, "b", "[2]")],
    );
    let limit = Duration::from_secs(5);

    let result = store
        .query_readonly(
            "SELECT key, value, version, NULL AS n, 1.5 AS f, x'00ff' AS bin FROM world_state ORDER BY key",
            10,
            limit,
        )
        .unwrap();
    assert_eq!(result.columns, ["key", "value", "version", "n", "f", "bin"]);
    assert_eq!(
        serde_json::to_value(&result).unwrap(),
        serde_json::json!({
            "columns": ["key", "value", "version", "n", "f", "bin"],
            "rows": [["a", "1", 1, null, 1.5, "00ff"], ["b", "[2]", 1, null, 1.5, "00ff"]],
            "truncated": false
        })
    );

    let cut = store
        .query_readonly("SELECT height FROM blocks ORDER BY height", 1, limit)
        .unwrap();
    assert_eq!((cut.rows.len(), cut.truncated), (1, true));
    let exact = store
        .query_readonly("SELECT height FROM blocks", 2, limit)
        .unwrap();
    assert_eq!((exact.rows.len(), exact.truncated), (2, false));

    // Schema introspection is allowed; trailing whitespace and semicolon are one statement.
    let info = store
        .query_readonly("PRAGMA table_info(blocks);  ", 10, limit)
        .unwrap();
    assert_eq!(info.rows.len(), 3);
}

#[test]
fn query_readonly_refuses_writes_and_multiple_statements() {
    let (dir, store) = open();
    let limit = Duration::from_secs(5);
    for sql in [
        "DELETE FROM blocks",
        "INSERT INTO meta (key, value) VALUES ('x', 'y')",
        "UPDATE nonces SET next = 0",
        "DROP TABLE blocks",
        "PRAGMA writable_schema=1",
        "PRAGMA journal_mode=DELETE",
        "ATTACH DATABASE '/tmp/other.db' AS other",
        "CREATE TABLE t (x)",
    ] {
        let err = store.query_readonly(sql, 10, limit).unwrap_err();
        assert!(matches!(err, StoreError::InvalidQuery(_)), "{sql}: {err}");
        let text = err.to_string();
        assert!(
            text.contains("only read-only statements are allowed") || text.contains("refused"),
            "{sql}: {err}"
        );
    }
    let err = store
        .query_readonly("SELECT 1; SELECT 2", 10, limit)
        .unwrap_err();
    assert_eq!(err.to_string(), "only one statement is allowed");
    let err = store.query_readonly("SELEC 1", 10, limit).unwrap_err();
    assert!(matches!(err, StoreError::InvalidQuery(_)), "{err}");
    let err = store.query_readonly("   ", 10, limit).unwrap_err();
    assert!(matches!(err, StoreError::InvalidQuery(_)), "{err}");

    // Nothing was changed, and the connection still works.
    assert_eq!(count(&store, "blocks"), 1);
    // `meta` is not readable through queries: look with a connection of our own.
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let written: i64 = conn
        .query_row("SELECT count(*) FROM meta WHERE key = 'x'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(written, 0);
}

#[test]
fn query_readonly_cuts_off_a_runaway_query() {
    let (_dir, store) = open();
    let started = Instant::now();
    let err = store
        .query_readonly(
            "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM r) SELECT count(*) FROM r",
            10,
            Duration::from_millis(200),
        )
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(err, StoreError::QueryTimeout { limit_ms: 200 }),
        "{err}"
    );
    assert_eq!(err.to_string(), "query exceeded the time limit of 200 ms");
    // Generous bound: the machine may be busy; unbounded would never return.
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");

    // The deadline does not stick to the next query.
    let ok = store
        .query_readonly("SELECT count(*) FROM blocks", 1, Duration::from_secs(5))
        .unwrap();
    assert_eq!(ok.rows[0][0], 1);
}

#[test]
fn unusable_data_dir_is_an_error() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = Store::open(&file).err().expect("a file is not a data dir");
    assert!(matches!(err, StoreError::DataDir { .. }), "{err}");
    assert!(
        err.to_string().contains("cannot create data directory"),
        "{err}"
    );

    // A database file that is not SQLite.
    let bad = TempDir::new().unwrap();
    std::fs::write(bad.path().join(DB_FILE), vec![b'z'; 4096]).unwrap();
    let err = Store::open(bad.path())
        .err()
        .expect("garbage is not a database");
    assert!(matches!(err, StoreError::Sqlite { .. }), "{err}");
}

#[test]
fn newer_schema_version_is_refused() {
    let dir = TempDir::new().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute(
        "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    drop(conn);
    let err = Store::open(dir.path())
        .err()
        .expect("version 99 is unknown");
    assert!(matches!(err, StoreError::SchemaVersion { .. }), "{err}");
}

/// WAL checkpoints run on their own thread: once the log passes SQLite's threshold the pages
/// reach the database file, without the committing thread doing it. (A checkpoint connection
/// that has not read the database yet does nothing, silently; this is the guard.)
#[test]
fn the_wal_is_checkpointed_into_the_database_file() {
    let (dir, mut store) = open();
    let a = key(1);
    let big = format!("\"{}\"", "x".repeat(20_000));
    for block in 0..40u64 {
        let txs = (0..10).map(|i| set(&a, block * 10 + i, &format!("k{i}"), &big));
        commit(&mut store, txs.collect());
    }
    // ~8 MB went through the WAL (SQLite asks for a checkpoint at 1,000 pages, ~4 MB).
    let db = dir.path().join(DB_FILE);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&db).unwrap().len() < 4_000_000 {
        assert!(
            Instant::now() < deadline,
            "no checkpoint reached {}",
            db.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(store);
}

/// A database written by layout 3 (transactions indexed by their full hash and sender text)
/// is upgraded in place on open: every transaction is still found by hash, by sender and
/// among the recent ones, and new blocks go on.
#[test]
fn a_layout_3_database_is_upgraded() {
    let dir = TempDir::new().unwrap();
    let (a, b) = (key(1), key(2));
    let mut store = Store::open(dir.path()).unwrap();
    let first = commit(&mut store, vec![set(&a, 0, "x", "1"), set(&b, 0, "y", "2")]);
    let second = commit(&mut store, vec![set(&a, 1, "x", "3")]);
    drop(store);
    // Back to layout 3's table, as a node of the previous version left it.
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute_batch(
        "CREATE TABLE t3 (hash TEXT PRIMARY KEY, block_height INTEGER NOT NULL, \
            position INTEGER NOT NULL, sender TEXT NOT NULL, nonce INTEGER NOT NULL, \
            type TEXT NOT NULL, timestamp INTEGER NOT NULL);
         INSERT INTO t3 SELECT hash, block_height, position, sender, nonce, type, timestamp \
            FROM transactions;
         DROP TABLE transactions;
         ALTER TABLE t3 RENAME TO transactions;
         CREATE UNIQUE INDEX transactions_sender_nonce ON transactions (sender, nonce);
         CREATE INDEX transactions_block ON transactions (block_height, position);
         UPDATE meta SET value = '3' WHERE key = 'schema_version';",
    )
    .unwrap();
    drop(conn);

    let mut store = Store::open(dir.path()).unwrap();
    for (block, tx) in [
        (&first, &first.transactions[0]),
        (&first, &first.transactions[1]),
        (&second, &second.transactions[0]),
    ] {
        let (found, height) = store.transaction(&tx.hash).unwrap().expect("found by hash");
        assert_eq!((&found, height), (tx, block.height));
    }
    let by_a: Vec<u64> = (store
        .transactions_by_sender(a.public_hex(), 10)
        .unwrap()
        .iter())
    .map(|(tx, _)| tx.nonce)
    .collect();
    assert_eq!(by_a, [1, 0], "newest nonce first");
    let recent: Vec<String> = (store.recent_transactions(0, 10).unwrap().into_iter())
        .map(|(tx, _)| tx.hash)
        .collect();
    let expected = [
        &second.transactions[0],
        &first.transactions[1],
        &first.transactions[0],
    ];
    assert_eq!(recent, expected.map(|tx| tx.hash.clone()));
    commit(&mut store, vec![set(&b, 1, "y", "4")]);
    assert_eq!(
        store
            .transactions_by_sender(b.public_hex(), 10)
            .unwrap()
            .len(),
        2
    );
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let version: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION.to_string());
}

#[test]
fn a_layout_4_database_is_upgraded() {
    let dir = TempDir::new().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    commit(&mut store, vec![set(&key(1), 0, "x", "1")]);
    drop(store);
    // Layout 4 kept a copy of every value for the state tree.
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute_batch(
        "CREATE TABLE state_leaves (key_hash BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
         UPDATE meta SET value = '4' WHERE key = 'schema_version';",
    )
    .unwrap();
    drop(conn);
    let mut store = Store::open(dir.path()).unwrap();
    commit(&mut store, vec![set(&key(1), 1, "x", "2")]);
    assert_eq!(store.height(), 2);
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!tables.contains(&"state_leaves".to_string()), "{tables:?}");
}

/// Layout 5 keyed the state tree's nodes by jmt's borsh key (version little-endian first);
/// layout 6 re-keys them on open: every proof still verifies under the block's root, and the
/// next block's root is computed from the re-keyed nodes.
#[test]
fn a_layout_5_state_tree_is_re_keyed() {
    let dir = TempDir::new().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let (a, b, proposer) = (key(1), key(2), key(9));
    let rules = Rules {
        validators: ValidatorSet::new([proposer.public_hex()]),
        limits: Limits::default(),
        state_root: StateRootRule::Tree,
        governance: Governance::OnChain,
    };
    let now = 1_700_000_000_000;
    let first: Vec<_> = (0..40).map(|i| set(&a, i, &format!("k{i}"), "1")).collect();
    let second = vec![set(&b, 0, "k3", "2"), set(&b, 1, "z", "3")];
    let last = seal_run(
        &mut store,
        &rules,
        &proposer,
        [(now, first), (now + 1, second)],
    )
    .unwrap()
    .pop()
    .unwrap();
    drop(store);
    // Back to layout 5's keys: the version's 8 bytes little-endian.
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let rows: Vec<(Vec<u8>, Vec<u8>)> = conn
        .prepare("SELECT key, node FROM state_nodes")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(rows.len() > 40, "{} nodes", rows.len());
    conn.execute("DELETE FROM state_nodes", []).unwrap();
    for (mut key, node) in rows {
        key[..8].reverse();
        conn.execute(
            "INSERT INTO state_nodes (key, node) VALUES (?1, ?2)",
            (key, node),
        )
        .unwrap();
    }
    conn.execute(
        "UPDATE meta SET value = '5' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    drop(conn);

    let mut store = Store::open(dir.path()).unwrap();
    let reader = store.open_reader().unwrap();
    for (k, expected) in [
        ("k0", Some("1")),
        ("k3", Some("2")),
        ("z", Some("3")),
        ("nope", None),
    ] {
        let (record, proof) = reader.state_with_proof(k).unwrap();
        assert_eq!(record.as_ref().map(|r| r.value.as_str()), expected, "{k}");
        assert_eq!(proof.state_root, last.state_root);
        let entry = record.map(|r| r.into_entry());
        miniledger_core::state::proof_check::verify_hex(
            &last.state_root,
            k,
            entry.as_ref(),
            &proof.proof,
        )
        .unwrap_or_else(|e| panic!("{k}: {e:?}"));
    }
    let next = seal(
        &mut store,
        &rules,
        &proposer,
        now + 2,
        vec![set(&b, 2, "k5", "4")],
    )
    .unwrap();
    let (record, proof) = store.open_reader().unwrap().state_with_proof("k5").unwrap();
    assert_eq!(proof.state_root, next.state_root);
    assert_eq!(record.unwrap().value, "4");
}

#[test]
fn a_failed_view_read_blocks_the_next_commit() {
    let (dir, mut store) = open();
    let a = key(1);
    commit(&mut store, vec![set(&a, 0, "k", "1")]);

    // Make state reads fail from outside, compute a delta through the failing view, repair.
    let outside = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    outside
        .execute_batch("ALTER TABLE world_state RENAME TO hidden")
        .unwrap();
    let (block, bad_delta, nonces) = next_block(&store, vec![set(&a, 1, "k", "2")]);
    assert_eq!(
        bad_delta["k"].as_ref().unwrap().version,
        1,
        "read as absent"
    );
    outside
        .execute_batch("ALTER TABLE hidden RENAME TO world_state")
        .unwrap();

    let err = store
        .commit_block(item(&block, &bad_delta, &nonces), None)
        .unwrap_err();
    assert!(matches!(err, StoreError::ViewReadFailed(_)), "{err}");
    assert_eq!(store.height(), 1);

    // Recomputed through a healthy view, the block goes in.
    let delta = execute_block(&block, &store);
    store
        .commit_block(item(&block, &delta, &nonces), None)
        .unwrap();
    assert_eq!(store.state_entry("k").unwrap().unwrap().version, 2);
}

#[test]
fn store_and_query_connections_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<Store>();
    assert_send::<miniledger_native::storage::ReadOnlyQuery>();
}

/// The terms served in SYNC_RESPONSE: all of a range, or none (a block synced without its term
/// leaves a gap).
#[test]
fn block_terms_are_read_back_for_a_range_only_when_all_are_known() {
    let (_dir, mut store) = open();
    let a = key(1);
    commit(&mut store, vec![set(&a, 0, "k", "0")]); // height 1, no term (as if synced from 0.2)
    let run = next_run(
        &store,
        vec![
            vec![set(&a, 1, "k", "1")],
            vec![],
            vec![set(&a, 2, "k", "2")],
        ],
    );
    let items: Vec<_> = run.iter().map(|(b, d, n)| item(b, d, n)).collect();
    store.commit_entries(&items, None, &[1, 1, 2]).unwrap();
    assert_eq!(store.block_terms(2, 4).unwrap(), Some(vec![1, 1, 2]));
    assert_eq!(store.block_terms(4, 4).unwrap(), Some(vec![2]));
    assert_eq!(
        store.block_terms(1, 4).unwrap(),
        None,
        "height 1's term is unknown"
    );
    assert_eq!(
        store.block_terms(4, 5).unwrap(),
        None,
        "height 5 does not exist"
    );
}

#[test]
fn commit_blocks_stores_a_run_in_one_go() {
    let (dir, mut store) = open();
    let (a, b) = (key(1), key(2));
    commit(
        &mut store,
        vec![set(&a, 0, "k", "0"), set(&b, 0, "gone", "1")],
    );

    // Later blocks of the run build on the state and nonces of earlier ones.
    let run = next_run(
        &store,
        vec![
            vec![set(&a, 1, "k", "1"), delete(&b, 1, "gone")],
            vec![set(&a, 2, "k", "2"), set(&b, 2, "gone", "\"back\"")],
            vec![set(&a, 3, "k", "3")],
        ],
    );
    commit_run(&mut store, &run).unwrap();

    assert_eq!(store.height(), 4);
    assert_eq!(store.tip(), run[2].0.header());
    for (block, _, _) in &run {
        assert_eq!(store.block(block.height).unwrap().as_ref(), Some(block));
    }
    assert_eq!(count(&store, "transactions"), 2 + 5);
    let k = store.state_entry("k").unwrap().unwrap();
    assert_eq!((k.value.as_str(), k.version, k.block_height), ("3", 4, 4));
    let gone = store.state_entry("gone").unwrap().unwrap();
    assert_eq!((gone.value.as_str(), gone.version), ("\"back\"", 1));
    assert_eq!(store.next_nonce(a.public_hex()), 4);
    assert_eq!(store.next_nonce(b.public_hex()), 3);

    // An empty run changes nothing; a reopen sees the run.
    store.commit_blocks(&[], None).unwrap();
    assert_eq!(store.height(), 4);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.tip(), run[2].0.header());
    assert_eq!(store.state_entry("k").unwrap().unwrap().version, 4);
}

#[test]
fn commit_blocks_failing_in_the_third_block_stores_none_of_the_run() {
    let (_dir, mut store) = open();
    let (a, b) = (key(1), key(2));
    commit(&mut store, vec![set(&a, 0, "k", "0")]);
    let tip = store.tip();

    let mut run = next_run(
        &store,
        vec![vec![set(&a, 1, "k", "1")], vec![set(&b, 0, "fresh", "1")]],
    );
    // The third block's sender is new and missing from its nonces (so it has no nonce row):
    // its transaction row's NOT NULL sender_id refuses it.
    let parent = run[1].0.header();
    let stranger = Transaction::new_signed(
        &key(4),
        0,
        9_999,
        PayloadBody::state_set("k", "666").unwrap(),
    );
    let third = Block::build(
        &parent,
        parent.timestamp + 1,
        vec![stranger],
        ZERO_HASH.into(),
        &key(200),
    );
    let delta = execute_block(&third, &store);
    let nonces = HashMap::from([(a.public_hex().to_string(), 2)]);
    run.push((third, delta, nonces));

    let err = commit_run(&mut store, &run).unwrap_err();
    assert!(matches!(err, StoreError::Sqlite { .. }), "{err}");
    assert!(
        err.to_string().contains("storing transaction 0") && err.to_string().contains("block 4"),
        "{err}"
    );

    assert_eq!(store.tip(), tip);
    assert_eq!(count(&store, "blocks"), 2);
    assert_eq!(count(&store, "transactions"), 1);
    for height in 2..=4 {
        assert_eq!(store.block(height).unwrap(), None);
    }
    assert_eq!(store.state_entry("k").unwrap().unwrap().value, "0");
    assert_eq!(store.state_entry("fresh").unwrap(), None);
    assert_eq!(store.next_nonce(a.public_hex()), 1);
    assert_eq!(store.next_nonce(b.public_hex()), 0);

    // The valid prefix still goes in afterwards.
    commit_run(&mut store, &run[..2]).unwrap();
    assert_eq!(store.tip(), run[1].0.header());
    assert_eq!(store.next_nonce(a.public_hex()), 2);
}

#[test]
fn commit_blocks_refuses_a_run_that_is_not_contiguous() {
    let (_dir, mut store) = open();
    let a = key(1);
    let run = next_run(
        &store,
        vec![vec![set(&a, 0, "k", "1")], vec![set(&a, 1, "k", "2")]],
    );
    // Skipping the first block: the run does not extend the tip.
    let err = commit_run(&mut store, &run[1..]).unwrap_err();
    assert!(
        matches!(err, StoreError::NotNextBlock { height: 2, .. }),
        "{err}"
    );
    // A block twice: the second copy does not extend the first.
    let twice = [run[0].clone(), run[0].clone()];
    let err = commit_run(&mut store, &twice).unwrap_err();
    assert!(
        matches!(err, StoreError::NotNextBlock { height: 1, .. }),
        "{err}"
    );
    assert_eq!(store.height(), 0);
    assert_eq!(count(&store, "transactions"), 0);
}
