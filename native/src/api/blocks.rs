//! `/blocks`: newest-first pages, the latest block, one block by height.

use super::errors::ApiError;
use super::extract::{Path, Query};
use super::paging::{pages, Page, PageQuery};
use super::Ctx;
use crate::storage::Reads;
use axum::extract::State;
use axum::Json;
use miniledger_core::Block;
use serde::Serialize;

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockPage {
    blocks: Vec<Block>,
    page: u64,
    limit: usize,
    /// Number of blocks, genesis included.
    total: u64,
    /// The tip's height and the number of pages (MiniLedger 0.2's fields).
    height: u64,
    total_pages: u64,
}

pub async fn list(
    State(ctx): State<Ctx>,
    Query(q): Query<PageQuery>,
) -> Result<Json<BlockPage>, ApiError> {
    let Page {
        page,
        limit,
        offset,
    } = q.resolve(DEFAULT_LIMIT, MAX_LIMIT)?;
    let (blocks, height) = ctx.read(move |r| r.blocks_page(offset, limit)).await?;
    Ok(Json(BlockPage {
        blocks,
        page,
        limit,
        total: height + 1,
        height,
        total_pages: pages(height + 1, limit),
    }))
}

pub async fn latest(State(ctx): State<Ctx>) -> Result<Json<Block>, ApiError> {
    Ok(Json(ctx.read(|r| r.latest_block()).await?))
}

pub async fn by_height(
    State(ctx): State<Ctx>,
    Path(height): Path<String>,
) -> Result<Json<Block>, ApiError> {
    let height: u64 = height.parse().map_err(|_| {
        ApiError::bad_request(format!("height: expected a block height, got {height:?}"))
    })?;
    ctx.read(move |r| r.block(height))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("block {height} not found")))
}
