//! World state (`world_state`) and sender nonces (`nonces`): their writes during a block commit,
//! their reads for the REST API, and core's `StateView`/`NonceView` over them, so block
//! execution and nonce checks read straight from the database.

use super::error::{Context, StoreError};
use super::Reads;
use super::Store;
use miniledger_core::state::{miniledger_root, StateDelta, StateEntry, StateView};
use miniledger_core::validation::NonceView;
use rusqlite::{Connection, OptionalExtension, Row};
use std::collections::BTreeMap;
use std::collections::HashMap;

/// Each sender's next nonce, as `check_nonces` returns it.
pub(crate) type NonceMap = HashMap<String, u64>;

const UPSERT_ENTRY: &str = "INSERT INTO world_state (key, value, version, block_height) \
    VALUES (?1, ?2, ?3, ?4) ON CONFLICT (key) DO UPDATE SET \
    value = excluded.value, version = excluded.version, block_height = excluded.block_height";
const DELETE_ENTRY: &str = "DELETE FROM world_state WHERE key = ?1";
const SELECT_ENTRY: &str =
    "SELECT key, value, version, block_height FROM world_state WHERE key = ?1";
const SELECT_FROM: &str = "SELECT key, value, version, block_height FROM world_state \
    WHERE key >= ?1 ORDER BY key LIMIT ?2 OFFSET ?3";
const SELECT_BETWEEN: &str = "SELECT key, value, version, block_height FROM world_state \
    WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3 OFFSET ?4";
const COUNT: &str = "SELECT count(*) FROM world_state";
const COUNT_BETWEEN: &str = "SELECT count(*) FROM world_state WHERE key >= ?1 AND key < ?2";
const COUNT_FROM: &str = "SELECT count(*) FROM world_state WHERE key >= ?1";
const UPSERT_NONCE: &str = "INSERT INTO nonces (sender, next) VALUES (?1, ?2) \
    ON CONFLICT (sender) DO UPDATE SET next = excluded.next";
const SELECT_NONCE: &str = "SELECT next FROM nonces WHERE sender = ?1";
const SELECT_ALL: &str = "SELECT key, value, version FROM world_state ORDER BY key";
const ONLY_KEY_VALUE_WRITES: &str = "SELECT NOT EXISTS (SELECT 1 FROM transactions \
    WHERE type NOT IN ('state:set', 'state:delete'))";

/// A stored state entry: its canonical JSON value, version, and the block that last wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRecord {
    pub key: String,
    pub value: String,
    pub version: u64,
    pub block_height: u64,
}

impl StateRecord {
    /// The entry as core's state step and state tree see it.
    pub fn into_entry(self) -> StateEntry {
        StateEntry {
            value: self.value,
            version: self.version,
        }
    }

    fn from_row(row: &Row) -> rusqlite::Result<Self> {
        Ok(StateRecord {
            key: row.get(0)?,
            value: row.get(1)?,
            version: row.get(2)?,
            block_height: row.get(3)?,
        })
    }
}

pub(crate) fn apply_delta(
    conn: &Connection,
    delta: &StateDelta,
    height: u64,
) -> Result<(), StoreError> {
    let op = || format!("writing the state changes of block {height}");
    let mut upsert = conn.prepare_cached(UPSERT_ENTRY).op_with(op)?;
    let mut delete = conn.prepare_cached(DELETE_ENTRY).op_with(op)?;
    for (key, entry) in delta {
        match entry {
            Some(e) => upsert.execute((key, &e.value, e.version, height)),
            None => delete.execute([key]),
        }
        .op_with(|| format!("writing state key {key:?} in block {height}"))?;
    }
    Ok(())
}

pub(crate) fn store_nonces(
    conn: &Connection,
    next_nonces: &NonceMap,
    height: u64,
) -> Result<(), StoreError> {
    let op = || format!("writing the nonces of block {height}");
    let mut stmt = conn.prepare_cached(UPSERT_NONCE).op_with(op)?;
    for (sender, next) in next_nonces {
        stmt.execute((sender, next)).op_with(op)?;
    }
    Ok(())
}

/// The smallest string above every string starting with `prefix` (None: there is none).
/// SQLite compares TEXT bytewise and UTF-8 byte order is code point order, so bumping the last
/// code point that can be bumped gives an exact bound for an index range scan.
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

pub(crate) fn entry(conn: &Connection, key: &str) -> Result<Option<StateRecord>, StoreError> {
    conn.prepare_cached(SELECT_ENTRY)
        .and_then(|mut stmt| stmt.query_row([key], StateRecord::from_row).optional())
        .op_with(|| format!("reading state key {key:?}"))
}

/// Entries in key order, optionally only those whose key starts with `prefix`.
pub(crate) fn entries(
    conn: &Connection,
    prefix: Option<&str>,
    limit: usize,
    offset: usize,
) -> Result<Vec<StateRecord>, StoreError> {
    let prefix = prefix.unwrap_or("");
    let upper = match prefix {
        "" => None,
        p => prefix_upper_bound(p),
    };
    let rows = match &upper {
        Some(upper) => conn.prepare_cached(SELECT_BETWEEN).and_then(|mut stmt| {
            stmt.query_map((prefix, upper, limit, offset), StateRecord::from_row)?
                .collect::<Result<Vec<_>, _>>()
        }),
        None => conn.prepare_cached(SELECT_FROM).and_then(|mut stmt| {
            stmt.query_map((prefix, limit, offset), StateRecord::from_row)?
                .collect::<Result<Vec<_>, _>>()
        }),
    };
    rows.op("listing state entries")
}

/// Number of keys in world state.
pub(crate) fn count(conn: &Connection) -> Result<u64, StoreError> {
    conn.prepare_cached(COUNT)
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .op("counting state entries")
}

/// Number of keys that start with `prefix`.
pub(crate) fn count_prefix(conn: &Connection, prefix: &str) -> Result<u64, StoreError> {
    let counted = match prefix_upper_bound(prefix) {
        Some(upper) => conn
            .prepare_cached(COUNT_BETWEEN)
            .and_then(|mut stmt| stmt.query_row((prefix, upper), |row| row.get(0))),
        None => conn
            .prepare_cached(COUNT_FROM)
            .and_then(|mut stmt| stmt.query_row([prefix], |row| row.get(0))),
    };
    counted.op("counting state entries")
}

/// The sender's next nonce (0 for a sender never seen).
pub(crate) fn next_nonce(conn: &Connection, sender: &str) -> Result<u64, StoreError> {
    let next: Option<u64> = conn
        .prepare_cached(SELECT_NONCE)
        .and_then(|mut stmt| stmt.query_row([sender], |row| row.get(0)).optional())
        .op("reading a sender nonce")?;
    Ok(next.unwrap_or(0))
}

/// MiniLedger 0.2's root of the stored state with `pending` writes layered on top: one ordered
/// scan of `world_state` merged with the pending keys (both in byte order).
pub(crate) fn miniledger_root_with(
    conn: &Connection,
    pending: &BTreeMap<String, Option<StateEntry>>,
) -> Result<String, StoreError> {
    let op = || "computing MiniLedger's state root".to_string();
    let mut stmt = conn.prepare_cached(SELECT_ALL).op_with(op)?;
    let stored = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                StateEntry {
                    value: row.get(1)?,
                    version: row.get(2)?,
                },
            ))
        })
        .op_with(op)?
        .collect::<Result<Vec<_>, _>>()
        .op_with(op)?;
    let mut merged: BTreeMap<&str, &StateEntry> =
        stored.iter().map(|(k, e)| (k.as_str(), e)).collect();
    for (key, entry) in pending {
        match entry {
            Some(entry) => merged.insert(key, entry),
            None => merged.remove(key.as_str()),
        };
    }
    Ok(miniledger_root(merged))
}

/// True when every stored transaction is a `state:set` or `state:delete`.
pub(crate) fn only_key_value_writes(conn: &Connection) -> Result<bool, StoreError> {
    conn.query_row(ONLY_KEY_VALUE_WRITES, [], |row| row.get(0))
        .op("checking transaction kinds")
}

/// Reads through the connection. A failed read answers "absent" and is recorded; the next
/// `commit_block` is then refused, so a delta computed from it is never stored.
impl StateView for Store {
    fn get(&self, key: &str) -> Option<StateEntry> {
        match self.state_entry(key) {
            Ok(record) => record.map(StateRecord::into_entry),
            Err(e) => {
                self.note_read_failure(e);
                None
            }
        }
    }
}

impl Store {
    /// Whether a committed block holds a transaction with this hash (replays under
    /// `ReplayRule::TxHash`). A failed read is recorded as for `StateView`, and reported as
    /// not found: the refused commit that follows keeps a replay out anyway.
    pub fn contains_transaction(&self, hash: &str) -> bool {
        super::transactions::exists(self.connection(), hash).unwrap_or_else(|e| {
            self.note_read_failure(e);
            false
        })
    }
}

/// Reads through the connection; failures are handled as for `StateView`.
impl NonceView for Store {
    fn next_nonce(&self, sender: &str) -> u64 {
        self.nonce(sender).unwrap_or_else(|e| {
            self.note_read_failure(e);
            0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_upper_bound;

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_upper_bound("acct:").as_deref(), Some("acct;"));
        assert_eq!(
            prefix_upper_bound("a\u{d7ff}").as_deref(),
            Some("a\u{e000}")
        );
        assert_eq!(prefix_upper_bound("a\u{10ffff}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{10ffff}"), None);
    }
}
