//! The schema and connection settings, in one place: durability pragmas, the DDL, the
//! `schema_version` check, and the `meta` key-value table other modules keep settings in.

use super::commit::{write_block, CommitItem};
use super::error::{Context, StoreError};
use super::state::NonceMap;
use super::transactions;
use super::tree;
use miniledger_core::state::StateDelta;
use miniledger_core::Block;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::time::Duration;

/// Version of the layout below; stored in `meta` under `schema_version`.
pub const SCHEMA_VERSION: u32 = 6;
/// Older layouts this node upgrades in place (3 added the Raft tables; 4 re-keyed the
/// `transactions` table, rebuilt from the old one by `upgrade_transactions`; 5 dropped
/// `state_leaves`, the state tree's copy of every value, which `world_state` holds; 6 keys
/// `state_nodes` by version big-endian first, rebuilt by `tree::copy_from_layout_5`).
const UPGRADABLE: &[&str] = &["2", "3", "4", "5"];
/// Layouts whose `transactions` table is rebuilt on upgrade.
const OLD_TRANSACTIONS_LAYOUTS: &[&str] = &["2", "3"];

const DDL: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY,
    hash   TEXT UNIQUE NOT NULL,
    json   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS transactions (
    id           INTEGER PRIMARY KEY,
    hash         TEXT NOT NULL,
    block_height INTEGER NOT NULL REFERENCES blocks (height),
    position     INTEGER NOT NULL,
    sender       TEXT NOT NULL,
    nonce        INTEGER NOT NULL,
    type         TEXT NOT NULL,
    timestamp    INTEGER NOT NULL,
    hash_key     INTEGER NOT NULL,
    sender_id    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS transactions_hash ON transactions (hash_key);
-- Not unique: on a MiniLedger 0.2 chain (compat mode) a sender's nonce repeats; ours are unique
-- by validation (`check_nonces`). Databases made before this carry the unique index: dropped.
DROP INDEX IF EXISTS transactions_sender;
CREATE INDEX IF NOT EXISTS transactions_sender_nonce ON transactions (sender_id, nonce);
CREATE TABLE IF NOT EXISTS world_state (
    key          TEXT PRIMARY KEY,
    value        TEXT NOT NULL,
    version      INTEGER NOT NULL,
    block_height INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS nonces (
    sender TEXT PRIMARY KEY,
    next   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS state_nodes (
    key  BLOB PRIMARY KEY,
    node BLOB NOT NULL
) WITHOUT ROWID;
DROP TABLE IF EXISTS state_leaves;
CREATE TABLE IF NOT EXISTS raft_state (
    id        INTEGER PRIMARY KEY CHECK (id = 0),
    term      INTEGER NOT NULL,
    voted_for TEXT
);
CREATE TABLE IF NOT EXISTS raft_log (
    idx  INTEGER PRIMARY KEY,
    term INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS block_terms (
    height INTEGER PRIMARY KEY,
    term   INTEGER NOT NULL
);
";

const META_TABLE_EXISTS: &str =
    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'meta'";
const SELECT_META: &str = "SELECT value FROM meta WHERE key = ?1";
const UPSERT_META: &str =
    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value";
const CHAIN_IS_EMPTY: &str = "SELECT NOT EXISTS (SELECT 1 FROM blocks)";

const VERSION_KEY: &str = "schema_version";

/// Layouts 2 and 3 keep their `transactions` table under this name while layout 4's is filled.
const OLD_TRANSACTIONS: &str = "transactions_layout_3";
const RENAME_OLD_TRANSACTIONS: &str = "ALTER TABLE transactions RENAME TO transactions_layout_3";
/// Layouts 2 to 5 keep their `state_nodes` (borsh node keys) under this name while layout 6's
/// is filled.
const OLD_STATE_NODES: &str = "state_nodes_layout_5";
const RENAME_OLD_STATE_NODES: &str = "ALTER TABLE state_nodes RENAME TO state_nodes_layout_5";

/// Durability and integrity settings for the read-write connection.
pub(crate) fn configure(conn: &Connection) -> Result<(), StoreError> {
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .op("enabling WAL journal mode")?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unsupported(format!(
            "the database refused WAL journal mode (it stays in {mode} mode)"
        )));
    }
    // FULL: the WAL is fsynced at every commit, so a committed block survives power loss
    // (received runs relax it for their own commit: `Store::commit_streamed`).
    set_synchronous(conn, "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .op("enabling foreign keys")?;
    conn.busy_timeout(Duration::from_secs(5))
        .op("setting the busy timeout")?;
    // 16 MiB of page cache (the default is 2 MiB): a synced run inserts thousands of rows into
    // the random-keyed transaction-hash and state-tree indexes; with a small cache each insert
    // re-reads pages and spills dirty ones mid-transaction. Well inside the node's memory budget.
    conn.pragma_update(None, "cache_size", -16_384)
        .op("setting the page cache size")?;
    // Room for every statement of the commit path and the readers.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// `PRAGMA synchronous` for the commits that follow.
pub(crate) fn set_synchronous(conn: &Connection, level: &str) -> Result<(), StoreError> {
    conn.pragma_update(None, "synchronous", level)
        .op_with(|| format!("setting synchronous={level}"))
}

/// The store's second, read-only connection: a received run is checked through it (core's
/// block pipeline reading the committed chain) while the writer connection stores the blocks
/// already accepted. Its own page cache holds the upper tree levels every update walks through.
pub(crate) fn open_run_reader(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .op_with(|| format!("cannot open {} for run checks", path.display()))?;
    conn.busy_timeout(Duration::from_secs(5))
        .op("setting the busy timeout")?;
    conn.pragma_update(None, "cache_size", -8_192)
        .op("setting the page cache size")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Creates missing tables, checks the schema version and stores genesis into an empty chain,
/// all in one transaction.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .op("starting schema setup")?;
    // Check before touching anything, so a newer node's database is left as it is.
    let has_meta: bool = tx
        .query_row(META_TABLE_EXISTS, [], |row| row.get(0))
        .op("reading the schema")?;
    let mut old_transactions = false;
    let mut old_state_nodes = false;
    if has_meta {
        match get_meta(&tx, VERSION_KEY)? {
            Some(found) if found == SCHEMA_VERSION.to_string() => {}
            Some(found) if UPGRADABLE.contains(&found.as_str()) => {
                tracing::info!(from = %found, to = SCHEMA_VERSION, "upgrading the database layout");
                if OLD_TRANSACTIONS_LAYOUTS.contains(&found.as_str()) {
                    tx.execute_batch(RENAME_OLD_TRANSACTIONS)
                        .op("setting the old transactions table aside")?;
                    old_transactions = true;
                }
                tx.execute_batch(RENAME_OLD_STATE_NODES)
                    .op("setting the old state tree table aside")?;
                old_state_nodes = true;
            }
            Some(found) => {
                return Err(StoreError::SchemaVersion {
                    found,
                    expected: SCHEMA_VERSION,
                })
            }
            None => {}
        }
    }
    tx.execute_batch(DDL).op("creating the schema")?;
    if old_transactions {
        transactions::copy_from_layout_3(&tx, OLD_TRANSACTIONS)?;
        tx.execute_batch(&format!("DROP TABLE {OLD_TRANSACTIONS}"))
            .op("dropping the old transactions table")?;
    }
    if old_state_nodes {
        tree::copy_from_layout_5(&tx, OLD_STATE_NODES)?;
        tx.execute_batch(&format!("DROP TABLE {OLD_STATE_NODES}"))
            .op("dropping the old state tree table")?;
    }
    set_meta(&tx, VERSION_KEY, &SCHEMA_VERSION.to_string())?;
    let empty: bool = tx
        .query_row(CHAIN_IS_EMPTY, [], |row| row.get(0))
        .op("checking for genesis")?;
    if empty {
        let genesis = Block::genesis();
        let json = serde_json::to_string(&genesis)
            .map_err(|source| StoreError::Encode { height: 0, source })?;
        let item = CommitItem {
            block: &genesis,
            delta: &StateDelta::new(),
            next_nonces: &NonceMap::new(),
        };
        write_block(&tx, &item, &json)?;
        tracing::info!(hash = %genesis.hash, "stored the genesis block");
    }
    tx.commit().op("committing schema setup")
}

pub(crate) fn get_meta(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    conn.prepare_cached(SELECT_META)
        .and_then(|mut stmt| stmt.query_row([key], |row| row.get(0)).optional())
        .op_with(|| format!("reading meta {key}"))
}

pub(crate) fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.prepare_cached(UPSERT_META)
        .and_then(|mut stmt| stmt.execute([key, value]))
        .op_with(|| format!("writing meta {key}"))?;
    Ok(())
}
