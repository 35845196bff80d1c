//! World state: what executing blocks does to the key-value store, as a delta the caller
//! persists (core does no I/O). `state:set` stores the canonical JSON of the value and bumps the
//! key's version; `state:delete` removes the key (its version restarts at 1 when set again).
//! Contract and governance payloads are validated and recorded in blocks but do not yet change
//! world state: the reference runs contract code as JavaScript, which this node does not execute.

use crate::canonical;
use crate::hash::{sha256_hex, ZERO_HASH};
use crate::model::{Block, PayloadBody};
use std::collections::BTreeMap;

pub mod commitment;

/// A stored value: canonical JSON text and the count of writes since the key was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateEntry {
    pub value: String,
    pub version: u64,
}

/// Read access to world state as of the last applied block.
pub trait StateView {
    fn get(&self, key: &str) -> Option<StateEntry>;
}

/// The writes of one block, by key: `Some` to store, `None` to delete.
pub type StateDelta = BTreeMap<String, Option<StateEntry>>;

/// Applies the block's state payloads on top of `view`, in transaction order.
pub fn execute_block(block: &Block, view: &impl StateView) -> StateDelta {
    let mut delta = StateDelta::new();
    for tx in &block.transactions {
        match tx.payload.body() {
            PayloadBody::StateSet { key, value } => {
                let previous = match delta.get(key) {
                    Some(pending) => pending.clone(),
                    None => view.get(key),
                };
                let value =
                    canonical::canonicalize(value.get()).expect("payload values are valid JSON");
                let version = previous.map_or(1, |e| e.version + 1);
                delta.insert(key.clone(), Some(StateEntry { value, version }));
            }
            PayloadBody::StateDelete { key } => {
                delta.insert(key.clone(), None);
            }
            _ => {}
        }
    }
    delta
}

/// World state held in memory, ordered by key bytes (SQLite's BINARY collation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryState {
    entries: BTreeMap<String, StateEntry>,
}

impl MemoryState {
    pub fn apply(&mut self, delta: StateDelta) {
        for (key, entry) in delta {
            match entry {
                Some(entry) => self.entries.insert(key, entry),
                None => self.entries.remove(&key),
            };
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = (&String, &StateEntry)> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// MiniLedger 0.2's state root (`StateStore.computeStateRoot`): SHA-256 of
    /// `key:value:version` rows joined by `|`, or 64 zeros when empty. O(state size).
    pub fn miniledger_root(&self) -> String {
        if self.entries.is_empty() {
            return ZERO_HASH.to_string();
        }
        let rows: Vec<String> = self
            .entries
            .iter()
            .map(|(k, e)| format!("{k}:{}:{}", e.value, e.version))
            .collect();
        sha256_hex(rows.join("|"))
    }
}

impl StateView for MemoryState {
    fn get(&self, key: &str) -> Option<StateEntry> {
        self.entries.get(key).cloned()
    }
}
