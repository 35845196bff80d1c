//! Block production through the pipeline: the producer executes its draft on the pending state
//! to learn the `stateRoot`, then hashes and signs the block once.

use super::pending::{Pending, Prepared};
use super::reads::ChainReads;
use super::BlockError;
use crate::crypto::Keypair;
use crate::model::{Block, BlockHeader, Transaction};

/// Builds and signs the block holding `txs` on `parent` over `pending` (the state after
/// `parent`), with the `stateRoot` its execution gives (a zero root where the rule checks
/// none); the effects come back to be pushed or committed. The timestamp is raised to the
/// parent's + 1 if needed. The transactions must have been validated on admission
/// (signatures, hashes, limits); their nonces are checked here.
pub fn build<R: ChainReads>(
    pending: &Pending<'_, R>,
    parent: &BlockHeader,
    timestamp: u64,
    txs: Vec<Transaction>,
    key: &Keypair,
) -> Result<(Block, Prepared), BlockError> {
    let timestamp = timestamp.max(parent.timestamp + 1);
    let mut block = Block::draft(parent, timestamp, txs, key.public_hex());
    let prepared = pending.prepare(&block)?;
    if let Some(root) = &prepared.root {
        block.state_root.clone_from(root);
    }
    block.seal(key);
    Ok((block, prepared))
}
