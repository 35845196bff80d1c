//! Raft's durable state: the hard state (`raft_state`: term and vote), the uncommitted log
//! entries (`raft_log`), and the term of each committed block (`block_terms`, absent for blocks
//! obtained by BlockSync whose term was never learned). Committed entries leave `raft_log` in
//! the same SQLite transaction that stores them as blocks (see `commit.rs`), so a crash never
//! leaves an entry both committed and pending, nor neither.

use super::error::{Context, StoreError};
use super::Store;
use miniledger_core::protocol::LogEntry;
use miniledger_core::raft::{HardState, Restored};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

const SELECT_HARD: &str = "SELECT term, voted_for FROM raft_state WHERE id = 0";
const UPSERT_HARD: &str = "INSERT INTO raft_state (id, term, voted_for) VALUES (0, ?1, ?2)
     ON CONFLICT (id) DO UPDATE SET term = excluded.term, voted_for = excluded.voted_for";
const SELECT_ENTRIES: &str = "SELECT json FROM raft_log WHERE idx > ?1 ORDER BY idx ASC";
const DELETE_FROM: &str = "DELETE FROM raft_log WHERE idx >= ?1";
const DELETE_UP_TO: &str = "DELETE FROM raft_log WHERE idx <= ?1";
const INSERT_ENTRY: &str = "INSERT OR REPLACE INTO raft_log (idx, term, json) VALUES (?1, ?2, ?3)";
const SELECT_TERM: &str = "SELECT term FROM block_terms WHERE height = ?1";
const SELECT_TERMS: &str =
    "SELECT term FROM block_terms WHERE height BETWEEN ?1 AND ?2 ORDER BY height ASC";
const UPSERT_TERM: &str = "INSERT OR REPLACE INTO block_terms (height, term) VALUES (?1, ?2)";

pub use miniledger_core::node::RaftWrite;

impl Store {
    /// What a restarted Raft node needs: its hard state, the chain tip with its term (genesis
    /// is term 0), and the persisted entries above the tip.
    pub fn raft_restored(&self) -> Result<Restored, StoreError> {
        let hard_state = self
            .conn
            .query_row(SELECT_HARD, [], |row| {
                Ok(HardState {
                    term: row.get(0)?,
                    voted_for: row.get(1)?,
                })
            })
            .optional()
            .op("reading the Raft hard state")?
            .unwrap_or_default();
        let commit = self.tip();
        let commit_term = match commit.height {
            0 => Some(0),
            h => block_term(&self.conn, h)?,
        };
        let mut stmt = self
            .conn
            .prepare_cached(SELECT_ENTRIES)
            .op("reading the Raft log")?;
        let jsons: Vec<String> = stmt
            .query_map([commit.height], |row| row.get(0))
            .and_then(|rows| rows.collect())
            .op("reading the Raft log")?;
        let entries = jsons
            .iter()
            .map(|json| {
                serde_json::from_str(json)
                    .map_err(|e| StoreError::Corrupt(format!("raft log entry: {e}")))
            })
            .collect::<Result<Vec<LogEntry>, _>>()?;
        Ok(Restored {
            hard_state,
            commit,
            commit_term,
            entries,
        })
    }

    /// Persists one `Ready`'s hard state, log change and learned term in ONE durable SQLite
    /// transaction (synchronous=FULL): after it returns, messages promising them may be sent.
    pub fn persist_raft(&mut self, write: &RaftWrite<'_>) -> Result<(), StoreError> {
        if write.is_empty() {
            return Ok(());
        }
        let jsons = write
            .entries
            .iter()
            .map(|e| {
                serde_json::to_string(e).map_err(|source| StoreError::Encode {
                    height: e.index,
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .op("starting a Raft write")?;
        if let Some(hard) = write.hard_state {
            tx.prepare_cached(UPSERT_HARD)
                .and_then(|mut s| s.execute((hard.term, &hard.voted_for)))
                .op("writing the Raft hard state")?;
        }
        if let Some(from) = write.truncate_from {
            tx.prepare_cached(DELETE_FROM)
                .and_then(|mut s| s.execute([from]))
                .op("truncating the Raft log")?;
        }
        for (entry, json) in write.entries.iter().zip(&jsons) {
            tx.prepare_cached(INSERT_ENTRY)
                .and_then(|mut s| s.execute((entry.index, entry.term, json)))
                .op_with(|| format!("appending Raft entry {}", entry.index))?;
        }
        if let Some((height, term)) = write.learned_term {
            set_block_term(&tx, height, term)?;
        }
        tx.commit().op("committing a Raft write")
    }
}

impl Store {
    /// The terms of blocks `from..=to`, in height order, or `None` unless every one is known
    /// (blocks synced from a 0.2 responder, or before terms were served, have none).
    pub fn block_terms(&self, from: u64, to: u64) -> Result<Option<Vec<u64>>, StoreError> {
        if to < from {
            return Ok(Some(Vec::new()));
        }
        let terms: Vec<u64> = self
            .conn
            .prepare_cached(SELECT_TERMS)
            .and_then(|mut s| {
                s.query_map([from, to], |row| row.get(0))
                    .and_then(|rows| rows.collect())
            })
            .op_with(|| format!("reading the terms of blocks {from}..={to}"))?;
        Ok((terms.len() as u64 == to - from + 1).then_some(terms))
    }
}

fn block_term(conn: &Connection, height: u64) -> Result<Option<u64>, StoreError> {
    conn.prepare_cached(SELECT_TERM)
        .and_then(|mut s| s.query_row([height], |row| row.get(0)).optional())
        .op_with(|| format!("reading the term of block {height}"))
}

pub(crate) fn set_block_term(conn: &Connection, height: u64, term: u64) -> Result<(), StoreError> {
    conn.prepare_cached(UPSERT_TERM)
        .and_then(|mut s| s.execute([height, term]))
        .op_with(|| format!("storing the term of block {height}"))?;
    Ok(())
}

/// Drops persisted entries at or below the new tip (inside the commit's transaction).
pub(crate) fn drop_committed(conn: &Connection, tip: u64) -> Result<(), StoreError> {
    conn.prepare_cached(DELETE_UP_TO)
        .and_then(|mut s| s.execute([tip]))
        .op("dropping committed Raft entries")?;
    Ok(())
}
