//! What the full node tells its driver besides socket work: log lines (core logs nothing
//! itself), answers to `wait_commit`, sync progress.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

/// The area a log line is about (the native node's tracing targets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    P2p,
    Sync,
    Raft,
    Chain,
    Mempool,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::P2p => "p2p",
            Target::Sync => "sync",
            Target::Raft => "raft",
            Target::Chain => "chain",
            Target::Mempool => "mempool",
        }
    }
}

/// How a transaction waited on with `wait_commit` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome {
    /// In the block at this height.
    Committed(u64),
    /// Left the mempool without being committed (its nonce was taken by another transaction).
    Dropped,
}

/// The driver's handle on one `wait_commit` request.
pub type WaiterId = u64;

#[derive(Debug, Clone, PartialEq)]
pub enum FullEvent {
    Log {
        level: Level,
        target: Target,
        message: String,
    },
    /// A `wait_commit` request is decided.
    Waited { id: WaiterId, outcome: WaitOutcome },
    /// A `read_barrier` request is decided: the height the node's state now reflects (read
    /// it), or why it cannot answer.
    ReadReady {
        id: WaiterId,
        result: Result<u64, super::ReadBarrierError>,
    },
    /// A synced run was applied: the chain's height and the best height known.
    SyncProgress { height: u64, target: u64 },
}

impl fmt::Display for FullEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FullEvent::Log {
                level,
                target,
                message,
            } => write!(f, "{level:?} {}: {message}", target.name()),
            other => write!(f, "{other:?}"),
        }
    }
}
