//! The node itself: `/status`, `/identity`, `/peers`, `/consensus`.

use super::errors::ApiError;
use super::Ctx;
use crate::node::{Command, Status};
use axum::extract::State;
use axum::Json;
use miniledger_core::crypto::node_id;
use miniledger_core::net::PeerSummary;
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    #[serde(flatten)]
    status: Status,
    version: &'static str,
    uptime_ms: u64,
    consensus: String,
    role: &'static str,
}

pub async fn status(State(ctx): State<Ctx>) -> Result<Json<StatusView>, ApiError> {
    let status = ctx.ask(Command::Status).await?;
    Ok(Json(StatusView {
        status,
        version: env!("CARGO_PKG_VERSION"),
        uptime_ms: u64::try_from(ctx.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        consensus: ctx.info.consensus.to_string(),
        role: role(&ctx),
    }))
}

fn role(ctx: &Ctx) -> &'static str {
    if ctx.info.produces {
        "leader"
    } else {
        "follower"
    }
}

pub async fn identity(State(ctx): State<Ctx>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "nodeId": ctx.info.node_id,
        "publicKey": ctx.info.public_key,
        "orgId": ctx.info.org_id,
    }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PeerView {
    node_id: String,
    public_key: String,
    org_id: String,
    address: Option<String>,
    chain_height: u64,
    light: bool,
    direction: &'static str,
    connected_at: u64,
}

impl From<PeerSummary> for PeerView {
    fn from(p: PeerSummary) -> Self {
        PeerView {
            node_id: p.node_id,
            public_key: p.public_key,
            org_id: p.org_id,
            address: p.address,
            chain_height: p.chain_height,
            light: p.light,
            direction: if p.outbound { "outbound" } else { "inbound" },
            connected_at: p.connected_at,
        }
    }
}

pub async fn peers(State(ctx): State<Ctx>) -> Result<Json<serde_json::Value>, ApiError> {
    let peers: Vec<PeerView> = ctx
        .ask(Command::Peers)
        .await?
        .into_iter()
        .map(PeerView::from)
        .collect();
    Ok(Json(
        serde_json::json!({ "count": peers.len(), "peers": peers }),
    ))
}

pub async fn consensus(State(ctx): State<Ctx>) -> Result<Json<serde_json::Value>, ApiError> {
    let height = ctx.ask(Command::Status).await?.height;
    // The producer: this node, or the only validator there is.
    let leader = if ctx.info.produces {
        Some(ctx.info.node_id.clone())
    } else if let [only] = ctx.info.validators.as_slice() {
        Some(node_id(only).to_string())
    } else {
        None
    };
    Ok(Json(serde_json::json!({
        "algorithm": ctx.info.consensus.to_string(),
        "role": role(&ctx),
        "term": 0,
        "leader": leader,
        "commitIndex": height,
        "validators": ctx.info.validators,
    })))
}
