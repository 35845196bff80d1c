//! The `blocks` table: each block's full JSON (transactions included) by height and hash. Sync
//! responses are assembled from the stored text as is, without re-serialising.

use super::error::{Context, StoreError};
use super::Store;
use miniledger_core::{Block, BlockHeader};
use rusqlite::{Connection, OptionalExtension};

const INSERT: &str = "INSERT INTO blocks (height, hash, json) VALUES (?1, ?2, ?3)";
const SELECT_BY_HEIGHT: &str = "SELECT json FROM blocks WHERE height = ?1";
const SELECT_BY_HASH: &str = "SELECT json FROM blocks WHERE hash = ?1";
const SELECT_TIP: &str = "SELECT json FROM blocks ORDER BY height DESC LIMIT 1";
const SELECT_RANGE: &str =
    "SELECT json FROM blocks WHERE height BETWEEN ?1 AND ?2 ORDER BY height ASC";
const SELECT_PAGE: &str =
    "SELECT json FROM blocks WHERE height <= ?1 ORDER BY height DESC LIMIT ?2";

pub(crate) fn insert(conn: &Connection, block: &Block, json: &str) -> Result<(), StoreError> {
    conn.prepare_cached(INSERT)
        .and_then(|mut stmt| stmt.execute((block.height, &block.hash, json)))
        .op_with(|| format!("storing block {}", block.height))?;
    Ok(())
}

/// The highest stored block's header (read once, at open).
pub(crate) fn load_tip(conn: &Connection) -> Result<BlockHeader, StoreError> {
    let json: Option<String> = conn
        .query_row(SELECT_TIP, [], |row| row.get(0))
        .optional()
        .op("reading the tip block")?;
    let json = json.ok_or_else(|| StoreError::Corrupt("the chain has no blocks".into()))?;
    Ok(parse(&json, "the tip block")?.header())
}

pub(crate) fn parse(json: &str, what: &str) -> Result<Block, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// The block at `height`'s stored JSON text.
pub(crate) fn json_by_height(conn: &Connection, height: u64) -> Result<Option<String>, StoreError> {
    conn.prepare_cached(SELECT_BY_HEIGHT)
        .and_then(|mut stmt| stmt.query_row([height], |row| row.get(0)).optional())
        .op_with(|| format!("reading block {height}"))
}

pub(crate) fn by_height(conn: &Connection, height: u64) -> Result<Option<Block>, StoreError> {
    json_by_height(conn, height)?
        .map(|json| parse(&json, &format!("block {height}")))
        .transpose()
}

pub(crate) fn by_hash(conn: &Connection, hash: &str) -> Result<Option<Block>, StoreError> {
    let json: Option<String> = conn
        .prepare_cached(SELECT_BY_HASH)
        .and_then(|mut stmt| stmt.query_row([hash], |row| row.get(0)).optional())
        .op("reading a block by hash")?;
    json.map(|json| parse(&json, &format!("block {hash}")))
        .transpose()
}

/// Newest first: up to `limit` blocks at and below height `top`.
pub(crate) fn page_below(
    conn: &Connection,
    top: u64,
    limit: usize,
) -> Result<Vec<Block>, StoreError> {
    let op = || format!("reading blocks at and below {top}");
    let mut stmt = conn.prepare_cached(SELECT_PAGE).op_with(op)?;
    let jsons = stmt
        .query_map((top, limit), |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .op_with(op)?;
    jsons.iter().map(|json| parse(json, "a block")).collect()
}

impl Store {
    /// The block's stored JSON text.
    pub fn block_json(&self, height: u64) -> Result<Option<String>, StoreError> {
        json_by_height(&self.conn, height)
    }

    /// Stored JSON of blocks `from..=to`, ascending, stopping before the total would exceed
    /// `max_bytes` — but always including the first block found, however large, so a sync
    /// peer always makes progress.
    pub fn block_json_range(
        &self,
        from: u64,
        to: u64,
        max_bytes: usize,
    ) -> Result<Vec<String>, StoreError> {
        let op = || format!("reading blocks {from}..={to}");
        let mut stmt = self.conn.prepare_cached(SELECT_RANGE).op_with(op)?;
        let mut rows = stmt.query((from, to)).op_with(op)?;
        let mut out = Vec::new();
        let mut total = 0usize;
        while let Some(row) = rows.next().op_with(op)? {
            let json: String = row.get(0).op_with(op)?;
            if !out.is_empty() && total + json.len() > max_bytes {
                break;
            }
            total += json.len();
            out.push(json);
        }
        Ok(out)
    }

    /// Newest first: up to `limit` blocks starting `offset` below the tip (offset 0 = the tip).
    pub fn blocks_page(&self, offset: u64, limit: usize) -> Result<Vec<Block>, StoreError> {
        match self.tip.height.checked_sub(offset) {
            Some(top) => page_below(&self.conn, top, limit),
            None => Ok(Vec::new()),
        }
    }
}
