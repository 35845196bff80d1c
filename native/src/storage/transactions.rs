//! The `transactions` table: an index from transaction hash and from (sender, nonce) to the
//! transaction's place in a block. The transaction itself is read back from the block JSON, so
//! it is stored once. Rows are keyed by their place in the chain (`id` = height << 16 |
//! position: appended in order), and the two lookup indexes hold integers instead of
//! 64-character text: the hash's first 64 bits (`hash_key`; a lookup compares the full hash
//! too) and the sender's id (`sender_id`: the sender's rowid in `nonces`, written before the
//! block's transactions). A fifth of the size, so a synced run's thousands of random index
//! inserts stay in the page cache however long the chain (layout 3 indexed the text: at
//! 200,000 transactions its indexes outgrew the cache and the sync rate fell by a third). The
//! UNIQUE (sender_id, nonce) index is a last line of defence against replay.

use super::blocks;
use super::error::{Context, StoreError};
use miniledger_core::{Block, Transaction};
use rusqlite::{Connection, OptionalExtension};
use serde::Deserialize;
use serde_json::value::RawValue;

const INSERT: &str = "INSERT INTO transactions \
    (id, hash, block_height, position, sender, nonce, type, timestamp, hash_key, sender_id) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, (SELECT rowid FROM nonces WHERE sender = ?5))";
const SELECT_BY_HASH: &str = "SELECT t.block_height, t.position, b.json \
    FROM transactions t JOIN blocks b ON b.height = t.block_height WHERE t.hash_key = ?1 AND t.hash = ?2";
const EXISTS_BY_HASH: &str =
    "SELECT EXISTS (SELECT 1 FROM transactions WHERE hash_key = ?1 AND hash = ?2)";
const SELECT_RECENT: &str = "SELECT block_height, position FROM transactions \
    ORDER BY id DESC LIMIT ?1 OFFSET ?2";
const COUNT: &str = "SELECT count(*) FROM transactions";
const SELECT_BY_SENDER: &str = "SELECT block_height, position FROM transactions \
    WHERE sender_id = (SELECT rowid FROM nonces WHERE sender = ?1) ORDER BY nonce DESC, id DESC LIMIT ?2";

pub(crate) fn insert_all(conn: &Connection, block: &Block) -> Result<(), StoreError> {
    let op = || format!("storing the transactions of block {}", block.height);
    let mut stmt = conn.prepare_cached(INSERT).op_with(op)?;
    for (position, tx) in block.transactions.iter().enumerate() {
        let row = Row {
            hash: &tx.hash,
            height: block.height,
            position: position as u64,
            sender: &tx.sender,
            nonce: tx.nonce,
            kind: &tx.tx_type,
            timestamp: tx.timestamp,
        };
        row.insert(&mut stmt).op_with(|| {
            format!(
                "storing transaction {position} ({}) of block {}",
                tx.hash, block.height
            )
        })?;
    }
    Ok(())
}

/// One row's columns (the integer keys are derived).
struct Row<'a> {
    hash: &'a str,
    height: u64,
    position: u64,
    sender: &'a str,
    nonce: u64,
    kind: &'a str,
    timestamp: u64,
}

impl Row<'_> {
    fn insert(&self, stmt: &mut rusqlite::CachedStatement<'_>) -> rusqlite::Result<usize> {
        stmt.execute(rusqlite::params![
            (self.height << 16) | self.position,
            self.hash,
            self.height,
            self.position,
            self.sender,
            self.nonce,
            self.kind,
            self.timestamp,
            key_prefix(self.hash),
        ])
    }
}

/// Fills the (new, empty) table from a layout-3 table `old` (same columns, no integer keys).
pub(crate) fn copy_from_layout_3(conn: &Connection, old: &str) -> Result<(), StoreError> {
    let op = || format!("copying transactions from {old}");
    let mut read = conn
        .prepare(&format!(
            "SELECT hash, block_height, position, sender, nonce, type, timestamp FROM {old}"
        ))
        .op_with(op)?;
    let mut insert = conn.prepare_cached(INSERT).op_with(op)?;
    let mut rows = read.query([]).op_with(op)?;
    while let Some(r) = rows.next().op_with(op)? {
        let (hash, sender, kind): (String, String, String) = (
            r.get(0).op_with(op)?,
            r.get(3).op_with(op)?,
            r.get(5).op_with(op)?,
        );
        let row = Row {
            hash: &hash,
            height: r.get(1).op_with(op)?,
            position: r.get(2).op_with(op)?,
            sender: &sender,
            nonce: r.get(4).op_with(op)?,
            kind: &kind,
            timestamp: r.get(6).op_with(op)?,
        };
        row.insert(&mut insert).op_with(op)?;
    }
    Ok(())
}

/// A block's transactions as raw JSON, without decoding the rest of the block.
#[derive(Deserialize)]
struct RawTransactions<'a> {
    #[serde(borrow)]
    transactions: Vec<&'a RawValue>,
}

/// Decodes the transaction at `position` of a stored block's JSON.
fn transaction_at(
    txs: &RawTransactions,
    position: usize,
    height: u64,
) -> Result<Transaction, StoreError> {
    let raw = txs.transactions.get(position).ok_or_else(|| {
        StoreError::Corrupt(format!("block {height} has no transaction {position}"))
    })?;
    serde_json::from_str(raw.get())
        .map_err(|e| StoreError::Corrupt(format!("block {height} transaction {position}: {e}")))
}

fn raw_transactions(json: &str, height: u64) -> Result<RawTransactions<'_>, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("block {height}: {e}")))
}

/// The transaction with this hash and the height of its block.
pub(crate) fn by_hash(
    conn: &Connection,
    hash: &str,
) -> Result<Option<(Transaction, u64)>, StoreError> {
    let found: Option<(u64, usize, String)> = conn
        .prepare_cached(SELECT_BY_HASH)
        .and_then(|mut stmt| {
            stmt.query_row((key_prefix(hash), hash), |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .optional()
        })
        .op("reading a transaction by hash")?;
    let Some((height, position, json)) = found else {
        return Ok(None);
    };
    let tx = transaction_at(&raw_transactions(&json, height)?, position, height)?;
    Ok(Some((tx, height)))
}

/// Committed transactions.
pub(crate) fn count(conn: &Connection) -> Result<u64, StoreError> {
    conn.prepare_cached(COUNT)
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .op("counting transactions")
}

/// Whether a committed block holds a transaction with this hash.
pub(crate) fn exists(conn: &Connection, hash: &str) -> Result<bool, StoreError> {
    conn.prepare_cached(EXISTS_BY_HASH)
        .and_then(|mut stmt| stmt.query_row((key_prefix(hash), hash), |row| row.get(0)))
        .op("looking a transaction up by hash")
}

/// `limit` transactions, newest first after skipping `offset`, with their block heights.
pub(crate) fn recent(
    conn: &Connection,
    offset: usize,
    limit: usize,
) -> Result<Vec<(Transaction, u64)>, StoreError> {
    let places = conn
        .prepare_cached(SELECT_RECENT)
        .and_then(|mut stmt| {
            stmt.query_map([limit, offset], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()
        })
        .op("listing recent transactions")?;
    load(conn, &places)
}

/// The sender's latest `limit` transactions (highest nonce first), with their block heights.
pub(crate) fn by_sender(
    conn: &Connection,
    sender: &str,
    limit: usize,
) -> Result<Vec<(Transaction, u64)>, StoreError> {
    let places = conn
        .prepare_cached(SELECT_BY_SENDER)
        .and_then(|mut stmt| {
            stmt.query_map((sender, limit), |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()
        })
        .op("listing a sender's transactions")?;
    load(conn, &places)
}

/// Reads transactions by (height, position); consecutive places in one block share one read
/// and scan of that block's JSON.
fn load(conn: &Connection, places: &[(u64, usize)]) -> Result<Vec<(Transaction, u64)>, StoreError> {
    let mut out = Vec::with_capacity(places.len());
    for run in places.chunk_by(|a, b| a.0 == b.0) {
        let height = run[0].0;
        let json = blocks::json_by_height(conn, height)?
            .ok_or_else(|| StoreError::Corrupt(format!("indexed block {height} is missing")))?;
        let txs = raw_transactions(&json, height)?;
        for &(_, position) in run {
            out.push((transaction_at(&txs, position, height)?, height));
        }
    }
    Ok(out)
}

/// The first 16 hex digits of a hash as a signed integer: what the hash index holds.
fn key_prefix(hex: &str) -> i64 {
    hex.get(..16)
        .and_then(|p| u64::from_str_radix(p, 16).ok())
        .map_or(0, |v| v as i64)
}
