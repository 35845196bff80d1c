//! `/tx`: submitting transactions (`POST /txs`: many at once), reading committed and pending ones.
//!
//! `POST /tx` takes three shapes:
//! - `{key, value}`: a `state:set` of `value` (`null`: a `state:delete`) signed by the node;
//! - `{type, payload}`: any payload kind, signed by the node (`type` must equal `payload.kind`);
//! - a transaction signed elsewhere (it has `hash`, `signature`, `sender`…), passed on as it is.
//!
//! The node signs with the next nonce its loop assigns (see `Command::SubmitOwn`). The first two
//! make the node sign, so they need the operator token (`super::operator`); a signed
//! transaction is open to anyone, its signature being its authority.

use super::errors::ApiError;
use super::extract::{limit, JsonText, Path, Query};
use super::operator;
use super::paging::{pages, Page, PageQuery};
use super::Ctx;
use crate::node::{Command, Submission, WaitOutcome};
use crate::storage::Reads;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use miniledger_core::{Payload, PayloadBody, Rule, Transaction};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::time::Duration;

const DEFAULT_LIMIT: usize = 20;
const MAX_RECENT: usize = 100;
const MAX_BY_SENDER: usize = 200;

/// A committed transaction with where it is.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TxView {
    #[serde(flatten)]
    pub transaction: Transaction,
    pub status: &'static str,
    pub block_height: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_hash: Option<String>,
    /// A contract or governance transaction's receipt (`GET /tx/:hash` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Box<RawValue>>,
}

impl TxView {
    pub fn committed(transaction: Transaction, block_height: u64) -> Self {
        TxView {
            transaction,
            status: "confirmed",
            block_height,
            block_hash: None,
            receipt: None,
        }
    }
}

fn encoding(detail: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("{}: {detail}", Rule::TxEncoding))
}

#[derive(Deserialize)]
pub struct SubmitQuery {
    /// `commit`: answer once the transaction is committed (200) or dropped (409).
    wait: Option<String>,
}

/// How long `?wait=commit` waits before answering 504 (the transaction stays pending).
const WAIT_COMMIT: Duration = Duration::from_secs(30);

pub async fn submit(
    State(ctx): State<Ctx>,
    Query(q): Query<SubmitQuery>,
    headers: HeaderMap,
    body: JsonText,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let wait = match q.wait.as_deref() {
        None => false,
        Some("commit") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "wait: expected \"commit\", got {other:?}"
            )))
        }
    };
    let fields: BTreeMap<String, &RawValue> = body.decode()?;
    let hash = match submission(&ctx, &headers, &body.0, &fields).await {
        Ok(Submission::Signed(tx)) => {
            let hash = tx.hash.clone();
            ctx.ask(|reply| Command::Submit(tx, reply)).await??;
            hash
        }
        Ok(Submission::Own(body)) => {
            let tx = ctx
                .ask(|reply| Command::SubmitOwn { body, reply })
                .await??;
            tx.hash
        }
        Err((_, e)) => return Err(e),
    };
    if !wait {
        return Ok((
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "hash": hash, "status": "pending" })),
        ));
    }
    let waited = tokio::time::timeout(
        WAIT_COMMIT,
        ctx.ask_unbounded(|reply| Command::WaitCommit(hash.clone(), reply)),
    )
    .await;
    match waited {
        Ok(Ok(WaitOutcome::Committed(height))) => {
            let mut answer =
                serde_json::json!({ "hash": hash, "status": "confirmed", "blockHeight": height });
            if let Some(receipt) = super::contracts::receipt(&ctx, &hash).await? {
                answer["receipt"] = serde_json::from_str(receipt.get())
                    .map_err(|e| ApiError::internal(format!("receipt of {hash}: {e}")))?;
            }
            Ok((StatusCode::OK, Json(answer)))
        }
        Ok(Ok(WaitOutcome::Dropped)) => Err(ApiError::new(StatusCode::CONFLICT, format!(
            "transaction {hash} left the mempool uncommitted (its nonce was used by another transaction)"
        ))),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ApiError::new(StatusCode::GATEWAY_TIMEOUT, format!(
            "transaction {hash} not committed within {} s; it is still pending",
            WAIT_COMMIT.as_secs()
        ))),
    }
}

/// Most transactions in one `POST /txs` (the body limit, 2 MB, applies too).
pub const MAX_BATCH: usize = 1_000;

/// `POST /txs`: an array of what `POST /tx` takes (signed transactions; `{key, value}` and
/// `{type, payload}` with the operator token, signed by the node at consecutive nonces), each
/// answered on its own, in order: `{hash, status: "pending"}` or `{hash, error}` (the rule it
/// broke; `hash` absent when there is none yet). 200 whatever the answers. One request and one
/// trip through the node loop for the lot, the signed ones' signatures verified in one batch:
/// the way to submit many (BENCHMARKS.md, issue 19).
pub async fn submit_many(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    body: JsonText,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let items: Vec<&RawValue> = body.decode()?;
    if items.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "{} transactions: at most {MAX_BATCH} per request",
            items.len()
        )));
    }
    let mut answers: Vec<Option<serde_json::Value>> = vec![None; items.len()];
    // (position, the hash if known before the loop answers, what to submit)
    let mut submissions = Vec::with_capacity(items.len());
    let refused = |hash: Option<&str>, e: ApiError| match hash {
        Some(hash) => serde_json::json!({ "hash": hash, "error": e.message }),
        None => serde_json::json!({ "error": e.message }),
    };
    for (i, raw) in items.iter().enumerate() {
        let fields: BTreeMap<String, &RawValue> = match serde_json::from_str(raw.get()) {
            Ok(fields) => fields,
            Err(e) => {
                answers[i] = Some(refused(None, encoding(format!("expected an object: {e}"))));
                continue;
            }
        };
        match submission(&ctx, &headers, raw.get(), &fields).await {
            Ok(item) => {
                let hash = match &item {
                    Submission::Signed(tx) => Some(tx.hash.clone()),
                    Submission::Own(_) => None,
                };
                submissions.push((i, hash, item));
            }
            // Without the operator's token the node signs nothing in the request.
            Err((_, e)) if e.status == StatusCode::UNAUTHORIZED => return Err(e),
            Err((hash, e)) => answers[i] = Some(refused(hash.as_deref(), e)),
        }
    }
    let (places, items): (Vec<_>, Vec<_>) = (submissions.into_iter())
        .map(|(i, hash, item)| ((i, hash), item))
        .unzip();
    let verdicts = ctx.ask(|reply| Command::SubmitMany(items, reply)).await?;
    for ((i, hash), verdict) in places.into_iter().zip(verdicts) {
        answers[i] = Some(match verdict {
            Ok(hash) => serde_json::json!({ "hash": hash, "status": "pending" }),
            Err(e) => refused(hash.as_deref(), e.into()),
        });
    }
    Ok(Json(answers.into_iter().flatten().collect()))
}

/// What one `POST /tx` body (or one item of `POST /txs`), its JSON `text` read as `fields`,
/// asks the node to submit, checked as far as the API checks: a transaction signed elsewhere,
/// or a payload the node signs (the operator's token required). A refusal names the
/// transaction's hash when it has one.
async fn submission(
    ctx: &Ctx,
    headers: &HeaderMap,
    text: &str,
    fields: &BTreeMap<String, &RawValue>,
) -> Result<Submission, (Option<String>, ApiError)> {
    // Anything that looks signed is decoded as a whole transaction (a missing field is then
    // named), never re-signed by the node.
    let signed = ["hash", "signature", "sender"]
        .iter()
        .any(|k| fields.contains_key(*k));
    if signed {
        let tx: Transaction =
            miniledger_core::decode::from_json(text).map_err(|e| (None, encoding(e)))?;
        // Governance is checked only once the signature holds: a forged transaction is told
        // so by the node loop, not what governance would make of it.
        if tx.payload.body().is_governance() && signature_holds(&tx) {
            if let Err(e) = super::governance::admit(ctx, &tx).await {
                return Err((Some(tx.hash), e));
            }
        }
        return Ok(Submission::Signed(tx));
    }
    // The node signs this one: the operator's power.
    operator::authorize(&ctx.operator, headers).map_err(|e| (None, e))?;
    let body = own_payload(fields).map_err(|e| (None, e))?;
    super::governance::admit_own(ctx, &body)
        .await
        .map_err(|e| (None, e))?;
    Ok(Submission::Own(body))
}

/// The transaction's hash is its content's and its sender signed it.
fn signature_holds(tx: &Transaction) -> bool {
    tx.compute_hash().is_ok_and(|hash| hash == tx.hash)
        && miniledger_core::crypto::verify(&tx.sender, &tx.hash, &tx.signature).is_ok()
}

/// The payload of a `{key, value}` or `{type, payload}` request.
fn own_payload(fields: &BTreeMap<String, &RawValue>) -> Result<PayloadBody, ApiError> {
    let string = |name: &str, raw: &RawValue| {
        serde_json::from_str::<String>(raw.get())
            .map_err(|_| encoding(format!("{name}: expected a string")))
    };
    if let Some(raw) = fields.get("payload") {
        let payload =
            Payload::from_json(raw.get()).map_err(|e| encoding(format!("payload: {e}")))?;
        if let Some(tx_type) = fields.get("type") {
            let tx_type = string("type", tx_type)?;
            if tx_type != payload.kind() {
                return Err(ApiError::bad_request(format!(
                    "{}: type {tx_type:?} is not the payload's kind {:?}",
                    Rule::TxTypeKind,
                    payload.kind()
                )));
            }
        }
        return Ok(payload.body().clone());
    }
    if fields.contains_key("type") {
        return Err(encoding(
            "payload: missing field (a `type` needs a `payload`)",
        ));
    }
    if let Some(key) = fields.get("key") {
        let key = string("key", key)?;
        let value = fields
            .get("value")
            .ok_or_else(|| encoding("value: missing field (give null to delete the key)"))?;
        return Ok(if value.get().trim() == "null" {
            PayloadBody::StateDelete { key }
        } else {
            PayloadBody::StateSet {
                key,
                value: (*value).to_owned(),
            }
        });
    }
    Err(encoding(
        "expected {key, value}, {type, payload} or a signed transaction (with hash and signature)",
    ))
}

pub async fn by_hash(
    State(ctx): State<Ctx>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let lookup = hash.clone();
    let found = ctx
        .read(move |r| {
            let Some((tx, height)) = r.transaction(&lookup)? else {
                return Ok(None);
            };
            let block_hash = r.block_hash(height)?;
            Ok(Some(TxView {
                block_hash,
                ..TxView::committed(tx, height)
            }))
        })
        .await?;
    if let Some(mut view) = found {
        view.receipt = super::contracts::receipt(&ctx, &hash).await?;
        return Ok(Json(view).into_response());
    }
    if ctx
        .ask(|reply| Command::Pending(hash.clone(), reply))
        .await?
    {
        return Ok(Json(serde_json::json!({ "hash": hash, "status": "pending" })).into_response());
    }
    Err(ApiError::not_found(format!("transaction {hash} not found")))
}

#[derive(Deserialize)]
pub struct LimitQuery {
    limit: Option<u64>,
}

#[derive(Serialize)]
pub struct TxList {
    transactions: Vec<TxView>,
    count: usize,
}

impl TxList {
    fn new(found: Vec<(Transaction, u64)>) -> Json<Self> {
        let transactions: Vec<TxView> = found
            .into_iter()
            .map(|(tx, height)| TxView::committed(tx, height))
            .collect();
        Json(TxList {
            count: transactions.len(),
            transactions,
        })
    }
}

/// A page of the newest transactions, with MiniLedger 0.2's `page`, `limit`, `total` and
/// `totalPages` beside ours.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TxPage {
    #[serde(flatten)]
    list: TxList,
    page: u64,
    limit: usize,
    total: u64,
    total_pages: u64,
}

pub async fn recent(
    State(ctx): State<Ctx>,
    Query(q): Query<PageQuery>,
) -> Result<Json<TxPage>, ApiError> {
    let Page {
        page,
        limit,
        offset,
    } = q.resolve(DEFAULT_LIMIT, MAX_RECENT)?;
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let (found, total) = ctx
        .read(move |r| {
            Ok((
                r.recent_transactions(offset, limit)?,
                r.transaction_count()?,
            ))
        })
        .await?;
    Ok(Json(TxPage {
        list: TxList::new(found).0,
        page,
        limit,
        total,
        total_pages: pages(total, limit),
    }))
}

pub async fn by_sender(
    State(ctx): State<Ctx>,
    Path(sender): Path<String>,
    Query(q): Query<LimitQuery>,
) -> Result<Json<TxList>, ApiError> {
    let limit = limit(q.limit, DEFAULT_LIMIT, MAX_BY_SENDER)?;
    Ok(TxList::new(
        ctx.read(move |r| r.transactions_by_sender(&sender, limit))
            .await?,
    ))
}
