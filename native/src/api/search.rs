//! `/search?q=`: a 64-hex `q` is a transaction hash, a block hash or a sender's public key; a
//! number is a block height; anything else a state key prefix. `{type, result}`, both null
//! when nothing matches.

use super::errors::ApiError;
use super::extract::Query;
use super::state::with_prefix;
use super::tx::TxView;
use super::Ctx;
use crate::node::Command;
use crate::storage::Reads;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

const STATE_MATCHES: usize = 20;
const SENDER_TXS: usize = 20;

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

pub async fn search(
    State(ctx): State<Ctx>,
    Query(query): Query<SearchQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query.q.unwrap_or_default().trim().to_string();
    if q.is_empty() {
        return Err(ApiError::bad_request("q: must not be empty"));
    }
    let found = if is_hash(&q) {
        by_hash(&ctx, q.to_ascii_lowercase()).await?
    } else if let Ok(height) = q.parse::<u64>() {
        ctx.read(move |r| r.block(height))
            .await?
            .map(|block| json!({ "type": "block", "result": block }))
    } else {
        None
    };
    let found = match found {
        Some(found) => Some(found),
        None => {
            let entries = with_prefix(&ctx, q, STATE_MATCHES).await?;
            (!entries.is_empty()).then(|| json!({ "type": "state", "result": entries }))
        }
    };
    Ok(Json(found.unwrap_or_else(
        || json!({ "type": null, "result": null }),
    )))
}

fn is_hash(q: &str) -> bool {
    q.len() == 64 && q.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn by_hash(ctx: &Ctx, hash: String) -> Result<Option<Value>, ApiError> {
    let lookup = hash.clone();
    let stored = ctx
        .read(move |r| {
            if let Some((tx, height)) = r.transaction(&lookup)? {
                let view = TxView {
                    block_hash: r.block_hash(height)?,
                    ..TxView::committed(tx, height)
                };
                return Ok(Some(json!({ "type": "transaction", "result": view })));
            }
            if let Some(block) = r.block_by_hash(&lookup)? {
                return Ok(Some(json!({ "type": "block", "result": block })));
            }
            let txs = r.transactions_by_sender(&lookup, SENDER_TXS)?;
            if !txs.is_empty() {
                let txs: Vec<TxView> = txs
                    .into_iter()
                    .map(|(tx, height)| TxView::committed(tx, height))
                    .collect();
                return Ok(Some(json!({
                    "type": "address",
                    "result": { "publicKey": lookup, "transactions": txs },
                })));
            }
            Ok(None)
        })
        .await?;
    if stored.is_some() {
        return Ok(stored);
    }
    let pending = ctx
        .ask(|reply| Command::Pending(hash.clone(), reply))
        .await?;
    Ok(pending
        .then(|| json!({ "type": "transaction", "result": { "hash": hash, "status": "pending" } })))
}
