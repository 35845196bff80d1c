//! Message payloads, with MiniLedger 0.2's field names and order. Optional fields are ours
//! (extensions a MiniLedger node ignores); they are left out of the JSON when unset.

use crate::model::{Block, Transaction};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    pub node_id: String,
    pub public_key: String,
    pub org_id: String,
    pub chain_height: u64,
    pub listen_port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_address: Option<String>,
    /// Set by browser light nodes: never advertised in PEER_LIST, never a validator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub light: Option<bool>,
    /// Set by nodes whose P2P port speaks TLS: others advertise them as `wss://host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,
    /// Ours: 32 random bytes (64 hex) the responder must sign to prove its key (`net::auth`).
    /// Absent from a MiniLedger 0.2 dialer, which then stays unauthenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// Ours: the hash of the dialer's genesis document (`crate::genesis`), its network's
    /// identity. Absent from MiniLedger 0.2 nodes and from ours in compat mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandshakeAck {
    pub node_id: String,
    pub public_key: String,
    pub org_id: String,
    pub chain_height: u64,
    pub accepted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Ours, only in answer to a HANDSHAKE with a `challenge`: the responder's own challenge,
    /// for the dialer's HANDSHAKE_PROOF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// Ours: the responder's signature over the dialer's challenge (`net::auth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_signature: Option<String>,
    /// Ours: the hash of the responder's genesis document, as in [`Handshake`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis_hash: Option<String>,
}

/// Ours (GENESIS_REQUEST, `{}`): asks for the network's genesis document. Sent as the first
/// and only frame of a socket, before any handshake; the node answers GENESIS_RESPONSE and
/// closes. A MiniLedger 0.2 node has no handler for the type and ignores it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenesisRequest {}

/// Ours (GENESIS_RESPONSE): the genesis document as the node holds it (`null` when it has
/// none: compat mode). The asker hashes it itself; nothing here is taken on trust.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenesisResponse {
    pub genesis: Option<serde_json::Value>,
}

/// Ours (HANDSHAKE_PROOF): the dialer's signature over the responder's challenge. Sent only to
/// a responder that sent a challenge, so a MiniLedger 0.2 node never sees this type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandshakeProof {
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerInfo {
    pub node_id: String,
    pub public_key: String,
    pub address: String,
    pub org_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerList {
    pub peers: Vec<PeerInfo>,
}

/// PING and PONG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainHeight {
    pub chain_height: u64,
}

/// SYNC_REQUEST and BLOCK_REQUEST: an inclusive range of heights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeightRange {
    pub from_height: u64,
    pub to_height: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncResponse {
    pub blocks: Vec<Block>,
    pub has_more: bool,
    /// Optional (not in MiniLedger 0.2, which neither sends nor reads it): the Raft term of each
    /// block, in the same order; omitted when the responder does not know every one. Only a
    /// Raft node trusts it, and only from an authenticated validator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms: Option<Vec<u64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockResponse {
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockAnnounce {
    pub block: Block,
}

/// TX_BROADCAST and TX_FORWARD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxMessage {
    pub transaction: Transaction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestVote {
    pub term: u64,
    pub candidate_id: String,
    pub last_log_index: u64,
    pub last_log_term: u64,
    /// Ours: a pre-vote ("would you vote for me at `term`?"), which changes no one's term.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pre_vote: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestVoteReply {
    pub term: u64,
    pub vote_granted: bool,
    /// Ours: this answers a pre-vote.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pre_vote: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub term: u64,
    pub index: u64,
    pub block: Block,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppendEntries {
    pub term: u64,
    pub leader_id: String,
    pub prev_log_index: u64,
    pub prev_log_term: u64,
    pub entries: Vec<LogEntry>,
    pub leader_commit: u64,
    /// Ours: the lowest index this leader can still send as an entry. A follower whose log ends
    /// below `firstIndex - 1` must catch up through BlockSync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_index: Option<u64>,
    /// Ours (linearizable reads, `raft/read.rs`): the leader's latest read round; a reply that
    /// echoes it proves the follower still followed this leader after the round began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_round: Option<u64>,
    /// Ours: read indexes granted to this follower's read requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_grants: Option<Vec<ReadGrant>>,
}

/// A leader's answer to a follower's read request: every write committed before the request
/// reached the leader is at or below `index`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadGrant {
    pub id: u64,
    pub index: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppendEntriesReply {
    pub term: u64,
    pub success: bool,
    pub match_index: u64,
    /// Ours: the `readRound` of the AppendEntries this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_round: Option<u64>,
    /// Ours: this follower's reads waiting for a read index from the leader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_requests: Option<Vec<u64>>,
}

fn is_false(b: &bool) -> bool {
    !*b
}
