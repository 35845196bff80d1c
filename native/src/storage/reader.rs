//! A read handle for the REST API: its own read-only connection to the ledger database, so API
//! reads never wait for (or hold) the node loop's `Store`. WAL mode lets it read while the node
//! commits; each call sees the latest committed block, not a tip cached at open.

use super::error::{Context, StoreError};
use super::tree::{self, SqlTree};
use super::{blocks, Reads, StateRecord};
use miniledger_core::state::commitment;
use miniledger_core::Block;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::Path;
use std::time::Duration;

const SELECT_HEIGHT: &str = "SELECT max(height) FROM blocks";
const SELECT_HASH: &str = "SELECT hash FROM blocks WHERE height = ?1";

/// A proof of one key's value (or absence) under the state root of block `height`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateProofRecord {
    pub height: u64,
    pub state_root: String,
    /// `state::commitment::encode_proof` form: hex of the borsh-encoded jmt proof.
    pub proof: String,
}

/// A read-only connection with the store's read queries. `Send`, not `Sync`: keep one per
/// worker (or a pool of them).
pub struct Reader {
    conn: Connection,
}

impl Reader {
    pub fn open(db_path: &Path) -> Result<Self, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(db_path, flags)
            .op_with(|| format!("cannot open {} for reading", db_path.display()))?;
        conn.pragma_update(None, "query_only", true)
            .op("setting query_only")?;
        conn.busy_timeout(Duration::from_secs(5))
            .op("setting the busy timeout")?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(Reader { conn })
    }

    /// Height of the highest committed block.
    pub fn height(&self) -> Result<u64, StoreError> {
        let height: Option<u64> = self
            .conn
            .prepare_cached(SELECT_HEIGHT)
            .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
            .op("reading the chain height")?;
        height.ok_or_else(|| StoreError::Corrupt("the chain has no blocks".into()))
    }

    /// The highest committed block.
    pub fn latest_block(&self) -> Result<Block, StoreError> {
        let tx = self.snapshot()?;
        let height = self.height()?;
        let block = blocks::by_height(&self.conn, height)?
            .ok_or_else(|| StoreError::Corrupt(format!("block {height} is missing")))?;
        drop(tx);
        Ok(block)
    }

    /// The hash of the block at `height`, without reading the block.
    pub fn block_hash(&self, height: u64) -> Result<Option<String>, StoreError> {
        self.conn
            .prepare_cached(SELECT_HASH)
            .and_then(|mut stmt| stmt.query_row([height], |row| row.get(0)).optional())
            .op_with(|| format!("reading the hash of block {height}"))
    }

    /// Newest first: up to `limit` blocks starting `offset` below the tip, and the tip's
    /// height, read from one snapshot.
    pub fn blocks_page(&self, offset: u64, limit: usize) -> Result<(Vec<Block>, u64), StoreError> {
        let tx = self.snapshot()?;
        let height = self.height()?;
        let blocks = match height.checked_sub(offset) {
            Some(top) => blocks::page_below(&self.conn, top, limit)?,
            None => Vec::new(),
        };
        drop(tx);
        Ok((blocks, height))
    }

    /// The entry for `key` (None: absent) with a proof of it under the state-tree root of the
    /// latest block, all read from one snapshot.
    pub fn state_with_proof(
        &self,
        key: &str,
    ) -> Result<(Option<StateRecord>, StateProofRecord), StoreError> {
        let tx = self.snapshot()?;
        let height = self.height()?;
        let record = self.state_entry(key)?;
        let version = tree::version(&self.conn)?;
        let sql = SqlTree(&self.conn);
        let failed = |e: commitment::CommitmentError| StoreError::StateTree(e.to_string());
        let entry = record.clone().map(StateRecord::into_entry);
        let proof = commitment::prove(&sql, version, key, entry.as_ref()).map_err(failed)?;
        let root = commitment::root_at(&sql, version).map_err(failed)?;
        drop(tx);
        Ok((
            record,
            StateProofRecord {
                height,
                state_root: root,
                proof: commitment::encode_proof(&proof),
            },
        ))
    }

    /// A read transaction, so several reads see one committed state (ended on drop).
    /// Runs `f` in one read snapshot: every read it makes sees the same committed block.
    pub fn in_snapshot<R>(
        &self,
        f: impl FnOnce(&Self) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let tx = self.snapshot()?;
        let result = f(self);
        drop(tx);
        result
    }

    fn snapshot(&self) -> Result<rusqlite::Transaction<'_>, StoreError> {
        self.conn
            .unchecked_transaction()
            .op("starting a read snapshot")
    }
}

impl super::Reads for Reader {
    fn connection(&self) -> &Connection {
        &self.conn
    }
}
