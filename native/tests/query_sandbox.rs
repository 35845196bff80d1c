//! `POST /state/query` reads ledger data only: the authorizer's allowlist refuses the node's
//! internal tables whatever shape the query takes, with a reason that names the table.

use miniledger_native::storage::{Store, StoreError, DB_FILE, READABLE_TABLES};
use std::time::Duration;
use tempfile::TempDir;

const SECRET: &str = "c0ffee-not-for-strangers";

/// A store with a secret in `meta` (where older layouts kept the node key) and a value in world
/// state.
fn store_with_secret() -> (TempDir, Store) {
    let dir = TempDir::new().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute_batch(&format!(
        "INSERT INTO meta (key, value) VALUES ('secret', '{SECRET}');
         INSERT INTO world_state (key, value, version, block_height) VALUES ('k', '1', 1, 0);
         INSERT INTO raft_state (id, term, voted_for) VALUES (0, 3, '{SECRET}');"
    ))
    .unwrap();
    drop(conn);
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

fn run(store: &Store, sql: &str) -> Result<String, StoreError> {
    store
        .query_readonly(sql, 100, Duration::from_secs(5))
        .map(|r| serde_json::to_string(&r).unwrap())
}

#[test]
fn internal_tables_are_refused_whatever_the_query_shape() {
    let (_dir, store) = store_with_secret();
    // (query, the table or action the refusal must name)
    let cases = [
        ("SELECT * FROM meta", "\"meta\""),
        ("SELECT value FROM main.meta", "\"meta\""),
        ("SELECT * FROM \"MeTa\"", "meta"),
        ("SELECT count(*) FROM meta", "\"meta\""),
        ("SELECT * FROM raft_state", "\"raft_state\""),
        ("SELECT * FROM raft_log", "\"raft_log\""),
        ("SELECT * FROM state_nodes", "\"state_nodes\""),
        ("SELECT * FROM block_terms", "\"block_terms\""),
        ("SELECT * FROM sqlite_master", "sqlite_master"),
        ("SELECT sql FROM sqlite_schema", "sqlite_"),
        ("SELECT * FROM sqlite_temp_master", "sqlite_temp"),
        ("WITH m AS (SELECT * FROM meta) SELECT * FROM m", "\"meta\""),
        (
            "WITH RECURSIVE r(x) AS (SELECT value FROM meta UNION SELECT x FROM r) SELECT * FROM r",
            "\"meta\"",
        ),
        (
            "SELECT (SELECT value FROM meta WHERE key = 'secret')",
            "\"meta\"",
        ),
        (
            "SELECT * FROM blocks WHERE EXISTS (SELECT 1 FROM raft_log)",
            "\"raft_log\"",
        ),
        (
            "SELECT key, value FROM world_state UNION ALL SELECT key, value FROM meta",
            "\"meta\"",
        ),
        (
            "SELECT w.key FROM world_state w JOIN meta m ON m.key = w.key",
            "\"meta\"",
        ),
        ("SELECT * FROM (SELECT * FROM meta)", "\"meta\""),
        (
            "SELECT * FROM pragma_table_info('meta')",
            "pragma_table_info",
        ),
        // Table-valued PRAGMA functions are refused outright: the authorizer sees the virtual
        // table, not its argument (the PRAGMA statement form is allowed for readable tables).
        (
            "SELECT name FROM pragma_table_info('blocks')",
            "pragma_table_info",
        ),
        ("SELECT * FROM pragma_table_list", "table_list"),
        ("SELECT * FROM pragma_database_list", "database_list"),
        ("PRAGMA table_info(meta)", "table_info"),
        ("PRAGMA table_list", "table_list"),
        ("PRAGMA index_info(sqlite_autoindex_meta_1)", "index_info"),
        ("SELECT * FROM sqlite_dbpage", "sqlite_dbpage"),
        ("ATTACH DATABASE 'ledger.db' AS copy", "ATTACH"),
        ("CREATE TEMP VIEW v AS SELECT * FROM meta", ""),
    ];
    for (sql, named) in cases {
        let err = run(&store, sql).expect_err(sql);
        assert!(matches!(err, StoreError::InvalidQuery(_)), "{sql}: {err}");
        let text = err.to_string();
        assert!(
            text.contains(named),
            "{sql}: the refusal should name {named}: {text}"
        );
        assert!(!text.contains(SECRET), "{sql}: {text}");
    }
}

#[test]
fn ledger_tables_stay_readable() {
    let (_dir, store) = store_with_secret();
    for table in READABLE_TABLES {
        let answer = run(&store, &format!("SELECT * FROM {table} LIMIT 5")).unwrap();
        assert!(!answer.contains(SECRET), "{table}: {answer}");
    }
    assert!(run(&store, "SELECT key, value FROM world_state")
        .unwrap()
        .contains("\"k\""));
    let shapes = [
        "WITH s AS (SELECT key FROM world_state) SELECT count(*) FROM s",
        "SELECT height, (SELECT count(*) FROM transactions t WHERE t.block_height = b.height) FROM blocks b",
        "SELECT * FROM world_state WHERE key IN (SELECT key FROM world_state)",
        "SELECT sqlite_version(), 1 + 1",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 5) SELECT count(*) FROM c",
        "PRAGMA table_info(world_state)",
        "PRAGMA index_list(transactions)",
    ];
    for sql in shapes {
        run(&store, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}
