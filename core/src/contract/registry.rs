//! Where contracts live in world state, as MiniLedger 0.2 keeps them (so 0.2's tools see them):
//! `_contract:NAME` holds `{name, version, deployedAt, deployedBy}`, `_contract_code:NAME` the
//! source as a JSON string. 0.2 took `deployedAt` from its clock; ours is the transaction's
//! timestamp, the same on every node.

use super::receipt::Failure;
use crate::state::StateView;
use serde::{Deserialize, Serialize};

pub use crate::state::{CONTRACT_CODE_PREFIX as CODE_PREFIX, CONTRACT_META_PREFIX as META_PREFIX};
const MAX_NAME: usize = 128;

pub fn meta_key(name: &str) -> String {
    format!("{META_PREFIX}{name}")
}

pub fn code_key(name: &str) -> String {
    format!("{CODE_PREFIX}{name}")
}

/// True for keys contracts may not write: contract code or metadata, receipts.
pub fn is_reserved(key: &str) -> bool {
    crate::state::is_execution_key(key)
}

/// Names are path- and URL-safe so `GET /contracts/:name` needs no escaping.
pub fn check_name(name: &str) -> Result<(), Failure> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Failure::InvalidName)
    }
}

/// `_contract:NAME`, field for field as 0.2 writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractMeta {
    pub name: String,
    pub version: String,
    pub deployed_at: u64,
    pub deployed_by: String,
}

impl ContractMeta {
    /// Canonical JSON, as state stores values.
    pub fn to_json(&self) -> String {
        let text = serde_json::to_string(self).expect("metadata serializes");
        crate::canonical::canonicalize(&text).expect("serde_json output is valid JSON")
    }
}

/// A deployed contract: its metadata and source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    pub meta: ContractMeta,
    pub code: String,
}

/// Reads a deployed contract; `None` when either key is missing or unreadable (a `state:set` may
/// have put anything there).
pub fn load(state: &dyn StateView, name: &str) -> Option<Deployed> {
    let meta = state.get(&meta_key(name))?;
    let code = state.get(&code_key(name))?;
    let meta: ContractMeta = serde_json::from_str(&meta.value).ok()?;
    let code: String = serde_json::from_str(&code.value).ok()?;
    Some(Deployed { meta, code })
}

/// The deployer of an existing contract, read from its metadata alone (0.2's rule: only they
/// may deploy a new version).
pub fn deployer(state: &dyn StateView, name: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Only {
        #[serde(rename = "deployedBy")]
        deployed_by: String,
    }
    let meta = state.get(&meta_key(name))?;
    serde_json::from_str::<Only>(&meta.value)
        .ok()
        .map(|m| m.deployed_by)
}
