//! The node itself: `/status`, `/identity`, `/peers`, `/consensus`.
//!
//! `/status` fields: `nodeId`, `publicKey`, `orgId`; `height` and `tipHash` (the last committed
//! block; also as MiniLedger 0.2's `chainHeight`, `latestBlockHash`); `peers` (connected; 0.2's
//! `peerCount`); `mempool` (pending transactions; 0.2's `txPoolSize`); `syncing` and `syncTarget`
//! (BlockSync running, and the height it aims for); `syncedBlocks` (blocks applied through
//! BlockSync since the node started: under Raft, non-zero only after falling behind the
//! leader's window); `version` (the protocol's, a number, as in 0.2), `softwareVersion`,
//! `uptimeMs` (0.2's `uptime`), `consensus` ("solo" or "raft"); and the
//! [`ConsensusView`]: `role`, `term`, `leader`, `commitIndex`, `validators`.
//!
//! `/consensus` fields: `algorithm`, the [`ConsensusView`], and the same as 0.2's `state:
//! {role, term, leaderId, votedFor, commitIndex}`; under Raft also `votedFor` (this
//! term's vote), `lastIndex` and `lastTerm` (the last log entry, committed or not; `lastTerm`
//! is null while that entry is a synced block whose term no leader has told yet), `learners`
//! (non-validator peers the leader replicates to) and, on the leader, `progress`: per peer
//! `nodeId`, `voter`, `matchIndex`, `nextIndex` and `state` ("probe", "replicate", or "sync":
//! behind the leader's window, catching up through BlockSync). On our networks (not 0.2's) also
//! `governedValidators`: the validator set in force in world state after the tip (governance's
//! `_gov:validators`, else the genesis set).

use super::errors::ApiError;
use super::Ctx;
use crate::node::{Command, Status};
use axum::extract::State;
use axum::Json;
use miniledger_core::crypto::node_id;
use miniledger_core::net::{ConnId, Misbehaviour, PeerSummary};
use miniledger_core::protocol::PROTOCOL_VERSION;
use miniledger_core::raft::Role;
use miniledger_core::Governance;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    #[serde(flatten)]
    status: Status,
    #[serde(flatten)]
    miniledger: StatusOf02,
    /// This software's version (`version` is the protocol's, as in MiniLedger 0.2).
    software_version: &'static str,
    uptime_ms: u64,
    consensus: String,
    p2p_port: u16,
    #[serde(flatten)]
    view: ConsensusView,
}

/// MiniLedger 0.2's `/status` fields, for its clients (ours above say the same, and more).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusOf02 {
    chain_height: u64,
    latest_block_hash: String,
    peer_count: usize,
    tx_pool_size: usize,
    /// Milliseconds since start.
    uptime: u64,
    /// The wire protocol's version (a number in 0.2).
    version: u32,
}

/// Who orders blocks, as `/consensus` and `/status` report it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsensusView {
    role: Role,
    term: u64,
    /// The leader's nodeId, if known.
    leader: Option<String>,
    commit_index: u64,
    /// Validator public keys.
    validators: Vec<String>,
}

pub async fn status(State(ctx): State<Ctx>) -> Result<Json<StatusView>, ApiError> {
    let status = ctx.ask(Command::Status).await?;
    let view = consensus_view(&ctx, &status);
    // A solo network that grew by governance runs Raft since.
    let consensus = algorithm(&status);
    let uptime_ms = u64::try_from(ctx.started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(Json(StatusView {
        miniledger: StatusOf02 {
            chain_height: status.height,
            latest_block_hash: status.tip_hash.clone(),
            peer_count: status.peers,
            tx_pool_size: status.mempool,
            uptime: uptime_ms,
            version: PROTOCOL_VERSION,
        },
        status,
        software_version: env!("CARGO_PKG_VERSION"),
        uptime_ms,
        consensus,
        p2p_port: ctx.info.p2p_port,
        view,
    }))
}

fn algorithm(status: &Status) -> String {
    match status.raft {
        Some(_) => "raft".into(),
        None => "solo".into(),
    }
}

fn consensus_view(ctx: &Ctx, status: &Status) -> ConsensusView {
    if let Some(raft) = &status.raft {
        return ConsensusView {
            role: raft.role,
            term: raft.term,
            leader: raft.leader.clone(),
            commit_index: raft.commit_index,
            validators: raft.validators.clone(),
        };
    }
    // Solo: the producer is this node, or the only validator there is.
    let leader = if status.producer {
        Some(ctx.info.node_id.clone())
    } else if let [only] = status.validators.as_slice() {
        Some(node_id(only).to_string())
    } else {
        None
    };
    ConsensusView {
        role: if status.producer {
            Role::Leader
        } else {
            Role::Follower
        },
        term: 0,
        leader,
        commit_index: status.height,
        validators: status.validators.clone(),
    }
}

pub async fn identity(State(ctx): State<Ctx>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "nodeId": ctx.info.node_id,
        "publicKey": ctx.info.public_key,
        "orgId": ctx.info.org_id,
    }))
}

/// `GET /genesis`: the network's genesis document and its hash (what `join` fetches over P2P),
/// so a light node can be handed just the hash and check the document it is served.
pub async fn genesis(State(ctx): State<Ctx>) -> Result<Json<serde_json::Value>, ApiError> {
    let network = ctx.info.network.as_ref().ok_or_else(|| {
        ApiError::not_found(
            "no genesis document: this node follows a MiniLedger 0.2 network (compat mode)",
        )
    })?;
    Ok(Json(serde_json::json!({
        "genesis": network.genesis,
        "hash": network.hash,
    })))
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
    /// MiniLedger 0.2's fields: always "connected" here; when its last frame arrived.
    status: &'static str,
    last_seen: u64,
    /// It proved its key in the handshake (false for MiniLedger 0.2 peers).
    authenticated: bool,
    /// The misbehaviour score now (it decays) and every offence ever counted.
    score: u32,
    offences: BTreeMap<&'static str, u64>,
}

/// A peer's record, connected or not (banned peers are not).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MisbehaviourView {
    node_id: String,
    score: u32,
    offences: BTreeMap<&'static str, u64>,
    banned_until: Option<u64>,
    bans: u64,
}

impl From<Misbehaviour> for MisbehaviourView {
    fn from(m: Misbehaviour) -> Self {
        MisbehaviourView {
            node_id: m.node_id,
            score: m.score,
            offences: m.offences,
            banned_until: m.banned_until,
            bans: m.bans,
        }
    }
}

impl PeerView {
    fn new(p: PeerSummary, records: &[Misbehaviour], last_seen: &HashMap<ConnId, u64>) -> Self {
        let record = records.iter().find(|m| m.node_id == p.node_id);
        PeerView {
            status: "connected",
            last_seen: last_seen.get(&p.conn).copied().unwrap_or(p.connected_at),
            score: record.map_or(0, |m| m.score),
            offences: record.map(|m| m.offences.clone()).unwrap_or_default(),
            node_id: p.node_id,
            public_key: p.public_key,
            org_id: p.org_id,
            address: p.address,
            chain_height: p.chain_height,
            light: p.light,
            direction: if p.outbound { "outbound" } else { "inbound" },
            connected_at: p.connected_at,
            authenticated: p.authenticated,
        }
    }
}

pub async fn peers(State(ctx): State<Ctx>) -> Result<Json<serde_json::Value>, ApiError> {
    let (peers, records, last_seen) = ctx.ask(Command::Peers).await?;
    let peers: Vec<PeerView> = peers
        .into_iter()
        .map(|p| PeerView::new(p, &records, &last_seen))
        .collect();
    let misbehaviour: Vec<MisbehaviourView> = records.into_iter().map(Into::into).collect();
    Ok(Json(serde_json::json!({
        "count": peers.len(),
        "peers": peers,
        "misbehaviour": misbehaviour,
    })))
}

pub async fn consensus(State(ctx): State<Ctx>) -> Result<Json<serde_json::Value>, ApiError> {
    let status = ctx.ask(Command::Status).await?;
    let mut body = serde_json::json!({ "algorithm": algorithm(&status) });
    let view = serde_json::to_value(consensus_view(&ctx, &status)).unwrap_or_default();
    if let (Some(body), serde_json::Value::Object(view)) = (body.as_object_mut(), view) {
        body.extend(view);
        // MiniLedger 0.2's shape of the same view (`role` may also be our "learner" or
        // "pre-candidate"); `votedFor` is null under solo.
        let voted_for = status.raft.as_ref().and_then(|r| r.voted_for.clone());
        let state = serde_json::json!({
            "role": body["role"], "term": body["term"], "leaderId": body["leader"],
            "votedFor": voted_for, "commitIndex": body["commitIndex"],
        });
        body.insert("state".into(), state);
        if let Some(raft) = &status.raft {
            // Raft details: the vote, the last entry, learners and (leader) peer progress.
            body.insert("votedFor".into(), raft.voted_for.clone().into());
            body.insert("lastIndex".into(), raft.last_index.into());
            body.insert("lastTerm".into(), raft.last_term.into());
            body.insert("learners".into(), raft.learners.clone().into());
            // Membership: the committed set, and whether a change is on its way.
            let committed = raft.committed_validators.clone();
            body.insert("committedValidators".into(), committed.into());
            body.insert("changeInProgress".into(), raft.change_in_progress.into());
            let progress = serde_json::to_value(&raft.progress).unwrap_or_default();
            body.insert("progress".into(), progress);
        }
        if ctx.info.governance == Governance::OnChain {
            let governed = super::governance::validators_in_force(&ctx).await?;
            body.insert("governedValidators".into(), governed.into());
        }
    }
    Ok(Json(body))
}
