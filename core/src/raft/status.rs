//! A snapshot of the node's consensus state, for `/consensus` and logs.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Follower,
    /// Asking for pre-votes: no term bumped yet.
    PreCandidate,
    Candidate,
    Leader,
    /// Not a validator: follows and acknowledges, never votes or campaigns.
    Learner,
}

/// What the leader knows about one follower or learner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerProgress {
    pub node_id: String,
    pub voter: bool,
    pub match_index: u64,
    pub next_index: u64,
    /// "probe", "replicate" or "sync" (catching up through BlockSync).
    pub state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RaftStatus {
    pub node_id: String,
    pub role: Role,
    pub term: u64,
    pub voted_for: Option<String>,
    pub leader: Option<String>,
    pub commit_index: u64,
    pub last_index: u64,
    /// `None` while the last entry is a synced block whose term is not known yet.
    pub last_term: Option<u64>,
    /// Validator public keys, sorted: the latest configuration in the log.
    pub validators: Vec<String>,
    /// The configuration at the commit index (differs while a change is in progress).
    pub committed_validators: Vec<String>,
    /// A membership change is appended but not committed (no other may start).
    pub change_in_progress: bool,
    /// Non-validator peers the leader replicates to.
    pub learners: Vec<String>,
    /// Filled on the leader only.
    pub progress: Vec<PeerProgress>,
}
