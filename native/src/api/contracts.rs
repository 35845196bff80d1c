//! `/contracts`: the deployed contracts, read from world state where they live (0.2's keys
//! `_contract:NAME` and `_contract_code:NAME`). `GET /contracts` answers 0.2's shape
//! (`{contracts: [{name, version, deployedAt, deployedBy}], count}`); `GET /contracts/:name`
//! (ours) adds the source and the height of the block that deployed the current version.
//! Receipts of contract transactions are served with the transaction (`GET /tx/:hash`).

use super::errors::ApiError;
use super::extract::Path;
use super::Ctx;
use crate::storage::{Reads, StateRecord};
use axum::extract::State;
use axum::Json;
use miniledger_core::contract::ContractMeta;
use miniledger_core::state::{receipt_key, CONTRACT_CODE_PREFIX, CONTRACT_META_PREFIX};
use serde::Serialize;
use serde_json::value::RawValue;

/// Contracts listed at most (0.2 lists all; a ledger with more is asked through `/state`).
const MAX_LISTED: usize = 1000;

#[derive(Serialize)]
pub struct ContractList {
    contracts: Vec<ContractMeta>,
    count: usize,
}

/// Metadata a `state:set` on a 0.2 network may have made unreadable is left out, as 0.2 does.
fn meta(record: &StateRecord) -> Option<ContractMeta> {
    serde_json::from_str(&record.value).ok()
}

pub async fn list(State(ctx): State<Ctx>) -> Result<Json<ContractList>, ApiError> {
    let records = ctx
        .read(|r| r.state_entries(Some(CONTRACT_META_PREFIX), MAX_LISTED, 0))
        .await?;
    let contracts: Vec<ContractMeta> = records.iter().filter_map(meta).collect();
    Ok(Json(ContractList {
        count: contracts.len(),
        contracts,
    }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractView {
    #[serde(flatten)]
    meta: ContractMeta,
    code: String,
    /// The block that deployed the current version.
    block_height: u64,
}

pub async fn by_name(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
) -> Result<Json<ContractView>, ApiError> {
    let lookup = name.clone();
    let found = ctx
        .read(move |r| {
            let meta = r.state_entry(&format!("{CONTRACT_META_PREFIX}{lookup}"))?;
            let code = r.state_entry(&format!("{CONTRACT_CODE_PREFIX}{lookup}"))?;
            Ok(meta.zip(code))
        })
        .await?;
    let view = found.and_then(|(meta_record, code)| {
        Some(ContractView {
            meta: meta(&meta_record)?,
            code: serde_json::from_str(&code.value).ok()?,
            block_height: meta_record.block_height,
        })
    });
    view.map(Json)
        .ok_or_else(|| ApiError::not_found(format!("contract {name:?} not found")))
}

/// The committed receipt of transaction `hash` (`_receipt:HASH`: contract and governance
/// transactions have one; None for any other, or one not committed).
pub async fn receipt(ctx: &Ctx, hash: &str) -> Result<Option<Box<RawValue>>, ApiError> {
    let key = receipt_key(hash);
    let record = ctx.read(move |r| r.state_entry(&key)).await?;
    Ok(record.and_then(|r| RawValue::from_string(r.value).ok()))
}
