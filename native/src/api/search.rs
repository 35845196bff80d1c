//! `/search?q=`: a 64-hex `q` is a transaction hash, a block hash or a sender's public key; a
//! number is a block height; anything else a state key prefix. `{type, result}` plus MiniLedger
//! 0.2's flat fields for the type (`block`: `height`, `hash`; `transaction`: `hash`;
//! `address`: `pubkey`; `state`: `key`, the exact key if it exists, else the first match);
//! nothing found: 404 `{type: "not_found", query, result: null}`, as 0.2 answers.

use super::errors::ApiError;
use super::extract::Query;
use super::state::with_prefix;
use super::tx::TxView;
use super::Ctx;
use crate::node::Command;
use crate::storage::Reads;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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
) -> Result<Response, ApiError> {
    let q = query.q.unwrap_or_default().trim().to_string();
    if q.is_empty() {
        return Err(ApiError::bad_request("q: must not be empty"));
    }
    let found = if is_hash(&q) {
        by_hash(&ctx, q.to_ascii_lowercase()).await?
    } else if let Ok(height) = q.parse::<u64>() {
        ctx.read(move |r| r.block(height))
            .await?
            .map(|block| {
                json!({ "type": "block", "height": block.height, "hash": block.hash, "result": block })
            })
    } else {
        None
    };
    let found = match found {
        Some(found) => Some(found),
        None => {
            let entries = with_prefix(&ctx, q.clone(), STATE_MATCHES).await?;
            let key = entries
                .iter()
                .find(|e| e.key() == q)
                .or(entries.first())
                .map(|e| e.key().to_string());
            key.map(|key| json!({ "type": "state", "key": key, "result": entries }))
        }
    };
    Ok(match found {
        Some(found) => Json(found).into_response(),
        None => {
            let body = json!({ "type": "not_found", "query": q, "result": null });
            (StatusCode::NOT_FOUND, Json(body)).into_response()
        }
    })
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
                let hash = view.transaction.hash.clone();
                return Ok(Some(
                    json!({ "type": "transaction", "hash": hash, "result": view }),
                ));
            }
            if let Some(block) = r.block_by_hash(&lookup)? {
                return Ok(Some(json!({
                    "type": "block", "height": block.height, "hash": block.hash, "result": block,
                })));
            }
            let txs = r.transactions_by_sender(&lookup, SENDER_TXS)?;
            if !txs.is_empty() {
                let txs: Vec<TxView> = txs
                    .into_iter()
                    .map(|(tx, height)| TxView::committed(tx, height))
                    .collect();
                return Ok(Some(json!({
                    "type": "address",
                    "pubkey": lookup,
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
    Ok(pending.then(|| {
        json!({ "type": "transaction", "hash": hash, "result": { "hash": hash, "status": "pending" } })
    }))
}
