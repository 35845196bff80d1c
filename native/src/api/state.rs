//! `/state`: world-state entries (values as JSON, not JSON-in-a-string) and read-only SQL.

mod provenance;

use super::consistency::Consistency;
use super::errors::ApiError;
use super::extract::{limit, JsonText, Path, Query};
use super::Ctx;
use crate::storage::Reads;
use crate::storage::{QueryResult, StateProofRecord, StateRecord, StoreError};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::time::Duration;

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1000;
/// Rows a SQL query may return, and how long it may run.
const QUERY_MAX_ROWS: usize = 1000;
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryView {
    key: String,
    value: Box<RawValue>,
    version: u64,
    block_height: u64,
    /// MiniLedger 0.2's fields: see [`provenance`].
    updated_at: u64,
    updated_by: String,
}

impl EntryView {
    fn new(r: StateRecord, provenance: provenance::Provenance) -> Self {
        // Stored values are canonical JSON; anything else is shown as the string it is.
        let value = RawValue::from_string(r.value.clone()).unwrap_or_else(|_| {
            RawValue::from_string(serde_json::Value::String(r.value).to_string())
                .expect("a JSON string is JSON")
        });
        EntryView {
            key: r.key,
            value,
            version: r.version,
            block_height: r.block_height,
            updated_at: provenance.updated_at,
            updated_by: provenance.updated_by,
        }
    }
}

impl EntryView {
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// The records' views, with their provenance (read on the same connection).
fn views(reader: &impl Reads, records: Vec<StateRecord>) -> Result<Vec<EntryView>, StoreError> {
    let provenance = provenance::of(reader, &records)?;
    Ok(records
        .into_iter()
        .zip(provenance)
        .map(|(r, p)| EntryView::new(r, p))
        .collect())
}

#[derive(Deserialize)]
pub struct ListQuery {
    prefix: Option<String>,
    limit: Option<u64>,
    offset: Option<u64>,
    /// MiniLedger 0.2's paging (from 1): skips `(page - 1) * limit` entries, unless `offset`
    /// is given.
    page: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryList {
    entries: Vec<EntryView>,
    count: usize,
    limit: usize,
    offset: u64,
    /// Keys in world state (all of them, whatever the prefix).
    total: u64,
    /// The page `offset` falls in, and pages of `total` (0.2's fields).
    page: u64,
    total_pages: u64,
}

pub async fn list(
    State(ctx): State<Ctx>,
    Query(q): Query<ListQuery>,
) -> Result<Json<EntryList>, ApiError> {
    let limit = limit(q.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    if q.page == Some(0) {
        return Err(ApiError::bad_request("page: pages start at 1"));
    }
    let from_page = q.page.map(|p| (p - 1).saturating_mul(limit as u64));
    let offset = q.offset.or(from_page).unwrap_or(0);
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let (entries, total) = ctx
        .read(move |r| {
            let records = r.state_entries(q.prefix.as_deref(), limit, skip)?;
            Ok((views(r, records)?, r.state_count()?))
        })
        .await?;
    Ok(Json(EntryList {
        count: entries.len(),
        entries,
        limit,
        offset,
        total,
        page: offset / limit as u64 + 1,
        total_pages: super::paging::pages(total, limit),
    }))
}

/// Up to `limit` entries whose key starts with `prefix` (for search).
pub async fn with_prefix(
    ctx: &Ctx,
    prefix: String,
    limit: usize,
) -> Result<Vec<EntryView>, ApiError> {
    ctx.read(move |r| {
        let records = r.state_entries(Some(&prefix), limit, 0)?;
        views(r, records)
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryQuery {
    #[serde(default)]
    proof: bool,
    #[serde(default)]
    consistency: Consistency,
}

/// `GET /state/:key`, and with `?proof=true` the entry (or its absence) with a proof under the
/// latest block's state root, for light nodes that trust headers, not this server.
pub async fn entry(
    State(ctx): State<Ctx>,
    Path(key): Path<String>,
    Query(q): Query<EntryQuery>,
) -> Result<Response, ApiError> {
    q.consistency.barrier(&ctx).await?;
    if !q.proof {
        return Ok(read_entry(ctx, key).await?.into_response());
    }
    let lookup = key.clone();
    let (entry, proof) = ctx
        .read(move |r| {
            let (record, proof) = r.state_with_proof(&lookup)?;
            Ok((views(r, record.into_iter().collect())?.pop(), proof))
        })
        .await?;
    Ok(Json(ProvenEntry {
        // An existing entry carries its key itself.
        key: entry.is_none().then_some(key),
        exists: entry.is_some(),
        entry,
        proof,
    })
    .into_response())
}

#[derive(Serialize)]
struct ProvenEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    exists: bool,
    /// The entry's fields (`value`, `version`, `blockHeight`) when it exists.
    #[serde(flatten)]
    entry: Option<EntryView>,
    proof: StateProofRecord,
}

pub async fn entry_named_query(State(ctx): State<Ctx>) -> Result<Json<EntryView>, ApiError> {
    read_entry(ctx, "query".into()).await
}

async fn read_entry(ctx: Ctx, key: String) -> Result<Json<EntryView>, ApiError> {
    let lookup = key.clone();
    ctx.read(move |r| {
        let record = r.state_entry(&lookup)?;
        Ok(views(r, record.into_iter().collect())?.pop())
    })
    .await?
    .map(Json)
    .ok_or_else(|| ApiError::not_found(format!("state key {key:?} not found")))
}

#[derive(Deserialize)]
struct QueryRequest {
    sql: String,
    #[serde(default)]
    params: Vec<serde_json::Value>,
    /// Ours: `"linearizable"` answers only once the node reflects every earlier write.
    #[serde(default)]
    consistency: Consistency,
}

#[derive(Serialize)]
pub struct QueryView {
    columns: Vec<String>,
    rows: Vec<Vec<serde_json::Value>>,
    /// The rows as objects keyed by column name (MiniLedger's shape).
    results: Vec<serde_json::Map<String, serde_json::Value>>,
    count: usize,
    /// More rows matched than the limit returned.
    truncated: bool,
}

impl From<QueryResult> for QueryView {
    fn from(r: QueryResult) -> Self {
        let results = r
            .rows
            .iter()
            .map(|row| r.columns.iter().cloned().zip(row.iter().cloned()).collect())
            .collect();
        QueryView {
            count: r.rows.len(),
            columns: r.columns,
            rows: r.rows,
            results,
            truncated: r.truncated,
        }
    }
}

pub async fn query(State(ctx): State<Ctx>, body: JsonText) -> Result<Json<QueryView>, ApiError> {
    let QueryRequest {
        sql,
        params,
        consistency,
    } = body.decode()?;
    consistency.barrier(&ctx).await?;
    let result = ctx
        .queries
        .run(move |q| q.run(&sql, &params, QUERY_MAX_ROWS, QUERY_TIMEOUT))
        .await?;
    Ok(Json(QueryView::from(result)))
}
