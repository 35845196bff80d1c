//! Why a block did not go into the chain, and who is to blame. Only what an honest peer cannot
//! produce is blamed: a replayed or out-of-order transaction, or a block built on another tip
//! or stamped by a skewed clock, can come from an honest peer in a race.

use super::storage::StorageError;
use crate::mempool::AdmitError;
use crate::net::Offence;
use crate::pipeline::BlockError;
use crate::validation::{Rule, ValidationError};

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApplyError {
    #[error("block {height} rejected: {error}")]
    Invalid { height: u64, error: ValidationError },
    #[error("block {height} could not be stored: {error}")]
    Store { height: u64, error: StorageError },
    #[error("blocks {from}..={to} could not be stored: {error}")]
    StoreRun {
        from: u64,
        to: u64,
        error: StorageError,
    },
}

impl ApplyError {
    /// The disk failed the write (full, read-only…), not the block.
    pub fn is_disk_fault(&self) -> bool {
        match self {
            ApplyError::Store { error, .. } | ApplyError::StoreRun { error, .. } => {
                error.disk_fault
            }
            ApplyError::Invalid { .. } => false,
        }
    }
}

impl From<BlockError> for ApplyError {
    fn from(error: BlockError) -> Self {
        match error {
            BlockError::Invalid { height, error } => ApplyError::Invalid { height, error },
            BlockError::Unreadable { height, detail } => ApplyError::Store {
                height,
                error: StorageError::new(detail, false),
            },
        }
    }
}

/// The offence for a relayed transaction the mempool refused, if it is one.
pub fn blame_transaction(error: &AdmitError) -> Option<Offence> {
    let AdmitError::Invalid(e) = error else {
        return None; // a duplicate, or our mempool is full: not the peer's fault
    };
    match e.rule {
        Rule::TxTimestamp | Rule::TxDuplicate | Rule::TxReplay | Rule::TxNonceGap => None,
        _ => Some(Offence::InvalidTransaction),
    }
}

/// The offence for a block from a peer that did not apply, if it is one (storage failures are
/// ours).
pub fn blame_block(error: &ApplyError) -> Option<Offence> {
    let ApplyError::Invalid { error, .. } = error else {
        return None;
    };
    match error.rule {
        Rule::BlockHeight | Rule::BlockPreviousHash | Rule::BlockFutureTimestamp => None,
        _ => Some(Offence::InvalidBlock),
    }
}
