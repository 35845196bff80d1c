//! The `transactions` table: an index from transaction hash and from (sender, nonce) to the
//! transaction's place in a block. The transaction itself is read back from the block JSON, so
//! it is stored once; the UNIQUE (sender, nonce) index is a last line of defence against replay.

use super::blocks;
use super::error::{Context, StoreError};
use miniledger_core::{Block, Transaction};
use rusqlite::{Connection, OptionalExtension};
use serde::Deserialize;
use serde_json::value::RawValue;

const INSERT: &str = "INSERT INTO transactions \
    (hash, block_height, position, sender, nonce, type, timestamp) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const SELECT_BY_HASH: &str = "SELECT t.block_height, t.position, b.json \
    FROM transactions t JOIN blocks b ON b.height = t.block_height WHERE t.hash = ?1";
const SELECT_RECENT: &str = "SELECT block_height, position FROM transactions \
    ORDER BY block_height DESC, position DESC LIMIT ?1";
const SELECT_BY_SENDER: &str = "SELECT block_height, position FROM transactions \
    WHERE sender = ?1 ORDER BY nonce DESC LIMIT ?2";

pub(crate) fn insert_all(conn: &Connection, block: &Block) -> Result<(), StoreError> {
    let op = || format!("storing the transactions of block {}", block.height);
    let mut stmt = conn.prepare_cached(INSERT).op_with(op)?;
    for (position, tx) in block.transactions.iter().enumerate() {
        stmt.execute((
            &tx.hash,
            block.height,
            position,
            &tx.sender,
            tx.nonce,
            &tx.tx_type,
            tx.timestamp,
        ))
        .op_with(|| {
            format!(
                "storing transaction {position} ({}) of block {}",
                tx.hash, block.height
            )
        })?;
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
            stmt.query_row([hash], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                .optional()
        })
        .op("reading a transaction by hash")?;
    let Some((height, position, json)) = found else {
        return Ok(None);
    };
    let tx = transaction_at(&raw_transactions(&json, height)?, position, height)?;
    Ok(Some((tx, height)))
}

/// The latest `limit` transactions, newest first, with their block heights.
pub(crate) fn recent(
    conn: &Connection,
    limit: usize,
) -> Result<Vec<(Transaction, u64)>, StoreError> {
    let places = conn
        .prepare_cached(SELECT_RECENT)
        .and_then(|mut stmt| {
            stmt.query_map([limit], |row| Ok((row.get(0)?, row.get(1)?)))?
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
