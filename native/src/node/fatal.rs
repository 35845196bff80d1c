//! Why the node loop stopped. A node that cannot persist Raft state or a committed block must
//! not go on: it could vote or acknowledge against what its disk holds. The error goes back up
//! to `main`, which logs it and exits non-zero once the loop has dropped the store (SQLite
//! closed, every completed write kept); restarting recovers from the durable state. On a full
//! or read-only disk the operator frees space (or fixes the mount) and restarts the node.

/// A condition the node cannot run on.
#[derive(Debug, thiserror::Error)]
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
