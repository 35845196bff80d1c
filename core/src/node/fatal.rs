//! Why the node stopped. A node that cannot persist Raft state or a committed block must not
//! go on: it could vote or acknowledge against what its disk holds. The driver stops and
//! reports it; restarting recovers from the durable state.

/// A condition the node cannot run on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {reason}; stopping (the store keeps every write that completed; restart once the disk accepts writes)")]
pub struct Fatal {
    what: &'static str,
    reason: String,
}

impl Fatal {
    pub fn new(what: &'static str, reason: impl std::fmt::Display) -> Fatal {
        Fatal {
            what,
            reason: reason.to_string(),
        }
    }
}
