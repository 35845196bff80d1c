//! Static configuration: who we are, who the validators are, timings and size caps.

use crate::crypto::node_id;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("the validator set is empty")]
    NoValidators,
    #[error("validators {0} and {1} share a nodeId")]
    DuplicateNodeId(String, String),
    #[error("election timeout must be a range min < max with min > heartbeat ({0})")]
    Timing(String),
    #[error("max_message_bytes {0} is too small for an empty AppendEntries")]
    MessageCap(usize),
}

/// A validator: its public key (the trust root) and the nodeId messages carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validator {
    pub public_key: String,
    pub node_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftConfig {
    /// This node's public key (hex); its nodeId is the first 16 characters.
    pub public_key: String,
    /// The validator set's public keys committed at the restored chain tip (the genesis set on
    /// a fresh node). Never derived from connections; changed only by log entries (see
    /// `membership.rs`). A node in no configuration of its log is a learner: it follows and
    /// acknowledges, never campaigns.
    pub validators: Vec<String>,
    /// A follower that hears no leader for a random time in `[min, max)` starts a (pre-)vote.
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    pub heartbeat_ms: u64,
    /// The frame-size cap: no message this node produces is larger (AppendEntries batches are
    /// cut to fit; a block that cannot fit alone is refused by `propose`).
    pub max_message_bytes: usize,
    /// How many committed entries stay in memory for followers that lag a little; a follower
    /// further behind is told to catch up through BlockSync.
    pub retained_entries: usize,
    /// Uncommitted entries a leader accepts before `propose` pushes back.
    pub max_uncommitted: usize,
    /// AppendEntries messages with entries in flight to one follower at a time (pipelining).
    pub max_inflight: usize,
    /// A learner answers validators' vote requests (by the usual rules) instead of ignoring
    /// them. For MiniLedger 0.2 networks (compat mode) only: a 0.2 node counts every connected
    /// node as a voter, so a 0.2 validator beside our silent observer could never win a
    /// majority. Our own validators never count a learner's vote.
    pub learners_vote: bool,
}

impl RaftConfig {
    /// MiniLedger 0.2's timings (election 1.5–3 s, heartbeat 0.5 s), a 16 MiB frame cap.
    pub fn new(public_key: impl Into<String>, validators: Vec<String>) -> Self {
        RaftConfig {
            public_key: public_key.into(),
            validators,
            election_timeout_min_ms: 1_500,
            election_timeout_max_ms: 3_000,
            heartbeat_ms: 500,
            max_message_bytes: 16 * 1024 * 1024,
            retained_entries: 64,
            max_uncommitted: 64,
            max_inflight: 4,
            learners_vote: false,
        }
    }

    pub fn node_id(&self) -> &str {
        node_id(&self.public_key)
    }

    pub fn is_learner(&self) -> bool {
        !self.validators.contains(&self.public_key)
    }

    /// The validators, sorted by public key, with their nodeIds.
    pub(crate) fn checked_validators(&self) -> Result<Vec<Validator>, ConfigError> {
        let mut keys = self.validators.clone();
        keys.sort();
        keys.dedup();
        if keys.is_empty() {
            return Err(ConfigError::NoValidators);
        }
        let list: Vec<Validator> = keys
            .into_iter()
            .map(|public_key| Validator {
                node_id: node_id(&public_key).to_string(),
                public_key,
            })
            .collect();
        for (i, a) in list.iter().enumerate() {
            if let Some(b) = list[i + 1..].iter().find(|b| b.node_id == a.node_id) {
                return Err(ConfigError::DuplicateNodeId(
                    a.public_key.clone(),
                    b.public_key.clone(),
                ));
            }
        }
        let (min, max, hb) = (
            self.election_timeout_min_ms,
            self.election_timeout_max_ms,
            self.heartbeat_ms,
        );
        if hb == 0 || min <= hb || max <= min {
            return Err(ConfigError::Timing(format!(
                "min {min} ms, max {max} ms, heartbeat {hb} ms"
            )));
        }
        Ok(list)
    }
}
