//! World state: what executing blocks does to the key-value store, as a delta the caller
//! persists (core does no I/O). `state:set` stores the canonical JSON of the value and bumps the
//! key's version; `state:delete` removes the key (its version restarts at 1 when set again).
//! Contract payloads are executed by `contract` (feature `contracts`) on top of this, through
//! the block pipeline; governance payloads by `governance` (on our networks; recorded only on 0.2's).

use crate::canonical;
use crate::hash::ZERO_HASH;
use crate::model::{Block, PayloadBody};
use std::collections::BTreeMap;

pub mod commitment;
pub mod proof_check;

/// Contract metadata, as MiniLedger 0.2 keeps it (`_contract:NAME`).
pub const CONTRACT_META_PREFIX: &str = "_contract:";
/// Contract source, as MiniLedger 0.2 keeps it (`_contract_code:NAME`).
pub const CONTRACT_CODE_PREFIX: &str = "_contract_code:";
/// A contract transaction's receipt (`_receipt:TXHASH`): in the state tree, so a block's
/// `stateRoot` commits to every receipt (see README, "Smart contracts").
pub const RECEIPT_PREFIX: &str = "_receipt:";

/// Keys only contract and governance execution write. On our networks `state:set` /
/// `state:delete` may not name them (`tx.reserved-key`) and contracts may not write them, so a
/// contract's code, its deployer, a receipt, a proposal and the validator set are what
/// execution made them.
pub fn is_execution_key(key: &str) -> bool {
    key.starts_with(CONTRACT_META_PREFIX)
        || key.starts_with(CONTRACT_CODE_PREFIX)
        || key.starts_with(RECEIPT_PREFIX)
        || key.starts_with(crate::governance::PREFIX)
}

/// The state key of transaction `tx_hash`'s receipt.
pub fn receipt_key(tx_hash: &str) -> String {
    format!("{RECEIPT_PREFIX}{tx_hash}")
}

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
        miniledger_root(self.entries.iter().map(|(k, e)| (k.as_str(), e)))
    }
}

/// MiniLedger 0.2's state root over `rows` given in key byte order (SQLite's BINARY
/// collation): SHA-256 of `key:value:version` rows joined by `|`, or 64 zeros when there are
/// none. Streams, so a caller can feed it straight from a database cursor.
pub fn miniledger_root<'a>(rows: impl IntoIterator<Item = (&'a str, &'a StateEntry)>) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut any = false;
    for (key, entry) in rows {
        if any {
            hasher.update(b"|");
        }
        any = true;
        hasher.update(key.as_bytes());
        hasher.update(b":");
        hasher.update(entry.value.as_bytes());
        hasher.update(format!(":{}", entry.version).as_bytes());
    }
    if any {
        crate::hex::encode(&hasher.finalize())
    } else {
        ZERO_HASH.to_string()
    }
}

/// True when `block` holds a contract transaction (deploy or invoke).
pub fn has_contract_calls(block: &Block) -> bool {
    block.transactions.iter().any(|tx| {
        matches!(
            tx.payload.body(),
            PayloadBody::ContractDeploy { .. } | PayloadBody::ContractInvoke { .. }
        )
    })
}

/// True when MiniLedger 0.2 derives the same world state from `block` as we do: only
/// `state:set` / `state:delete`. Its contract and governance transactions write values taken
/// from its clock and `Math.random()`, which no other node can reproduce.
pub fn reproducible_by_miniledger(block: &Block) -> bool {
    block.transactions.iter().all(|tx| {
        matches!(
            tx.payload.body(),
            PayloadBody::StateSet { .. } | PayloadBody::StateDelete { .. }
        )
    })
}

impl StateView for MemoryState {
    fn get(&self, key: &str) -> Option<StateEntry> {
        self.entries.get(key).cloned()
    }
}
