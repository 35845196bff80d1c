//! Storage errors. Every SQLite failure says which operation it interrupted, so a full disk or
//! an unwritable directory reads as such in the node's log instead of a bare SQLite code.

use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot create data directory {}: {source}", path.display())]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("data directory {} is not writable: {source}", path.display())]
    NotWritable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{op}: {source}")]
    Sqlite { op: String, source: rusqlite::Error },
    #[error("block {height} does not extend the tip: {reason}")]
    NotNextBlock { height: u64, reason: String },
    #[error("database schema version {found} is not supported (this node uses {expected})")]
    SchemaVersion { found: String, expected: u32 },
    #[error("unsupported storage: {0}")]
    Unsupported(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("reading the state tree failed: {0}")]
    StateTree(String),
    /// The committed state a block builds on could not be read (core's
    /// `pipeline::BlockError::Unreadable`).
    #[error("reading the committed state failed: {0}")]
    StateRead(String),
    #[error("cannot encode block {height} as JSON: {source}")]
    Encode {
        height: u64,
        source: serde_json::Error,
    },
    /// A state or nonce read through `StateView`/`NonceView` failed (those traits cannot return
    /// errors), so a delta computed from it may be wrong; the commit is refused.
    #[error("refusing to commit: an earlier state read failed ({0})")]
    ViewReadFailed(String),
    /// The statement given to `query_readonly` was refused or failed (the caller's fault).
    #[error("{0}")]
    InvalidQuery(String),
    #[error("query exceeded the time limit of {limit_ms} ms")]
    QueryTimeout { limit_ms: u128 },
    #[error("cannot generate the node key: {0}")]
    Randomness(getrandom::Error),
}

impl StoreError {
    /// True when the disk, not the data, is at fault: full, read-only, unwritable or failing.
    /// Nothing was written (SQLite rolled the transaction back); the same write can succeed
    /// once the operator frees space or fixes the disk.
    pub fn is_disk_fault(&self) -> bool {
        use rusqlite::ErrorCode::*;
        match self {
            StoreError::NotWritable { .. } | StoreError::DataDir { .. } => true,
            StoreError::Sqlite {
                source: rusqlite::Error::SqliteFailure(e, _),
                ..
            } => matches!(e.code, DiskFull | ReadOnly | CannotOpen | SystemIoFailure),
            _ => false,
        }
    }
}

/// Attaches the interrupted operation to a rusqlite error.
pub(crate) trait Context<T> {
    fn op(self, op: &'static str) -> Result<T, StoreError>;
    fn op_with(self, op: impl FnOnce() -> String) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, rusqlite::Error> {
    fn op(self, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sqlite {
            op: op.to_string(),
            source,
        })
    }

    fn op_with(self, op: impl FnOnce() -> String) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sqlite { op: op(), source })
    }
}
