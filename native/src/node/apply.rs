//! Applying received blocks: core's block pipeline (`miniledger_core::pipeline`) decides what
//! of a block or run to commit (its longest valid prefix, with the effects), then the store
//! writes exactly that in one SQLite transaction. Storage checks no block rule; nothing is
//! written that the pipeline did not accept. The running node does this inside core's
//! `FullNode` (through `NodeStorage`, `storage/node_storage.rs`); these functions are the same
//! path for tools and tests that hold a `Store` (`tests/apply.rs`, `tests/tampered_peer.rs`).

use crate::storage::{CommitItem, Store, StoreError};
use miniledger_core::pipeline::{self, BlockError, Pending, Verdict};
use miniledger_core::validation::{verify_blocks, ValidationError};
use miniledger_core::Block;
use thiserror::Error;

pub use miniledger_core::pipeline::Rules;

#[derive(Debug, Error)]
pub enum ApplyError {
    #[error("block {height} rejected: {error}")]
    Invalid { height: u64, error: ValidationError },
    #[error("block {height} could not be stored: {error}")]
    Store { height: u64, error: StoreError },
    #[error("blocks {from}..={to} could not be stored: {error}")]
    StoreRun {
        from: u64,
        to: u64,
        error: StoreError,
    },
}

impl ApplyError {
    /// The disk failed the write (full, read-only…), not the block: see
    /// [`StoreError::is_disk_fault`].
    pub fn is_disk_fault(&self) -> bool {
        match self {
            ApplyError::Store { error, .. } | ApplyError::StoreRun { error, .. } => {
                error.is_disk_fault()
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
                error: StoreError::StateRead(detail),
            },
        }
    }
}

/// Validates `block` against the store's tip and state, and commits it.
pub fn apply_block(
    store: &mut Store,
    block: &Block,
    rules: &Rules,
    now_ms: u64,
) -> Result<(), ApplyError> {
    let blocks = std::slice::from_ref(block);
    let verdict = {
        let _snapshot = store.read_snapshot();
        pipeline::check(store, rules, blocks, now_ms)
    };
    if let Some(refused) = verdict.refused {
        return Err(refused.into());
    }
    let items = commit_items(blocks, &verdict);
    store
        .commit_block(items[0], Some(&verdict.tree))
        .map_err(|error| ApplyError::Store {
            height: block.height,
            error,
        })
}

/// What [`apply_blocks`] did with a run.
#[derive(Debug)]
pub struct RunOutcome {
    /// How many blocks of the run, from its start, were committed.
    pub committed: usize,
    /// Why the block after the committed prefix was not (`None`: the whole run went in). A
    /// store error means nothing of the run was committed.
    pub error: Option<ApplyError>,
}

/// Validates `blocks` (consecutive heights, the first on the store's tip) in order, each
/// against its predecessor and the state and nonces the earlier ones leave, then commits the
/// valid prefix in ONE SQLite transaction (all of it or nothing). Blocks after an invalid one
/// are not looked at. The stateless checks run on the calling thread (the node hands them to
/// its verifier pool instead: `verify`).
pub fn apply_blocks(store: &mut Store, blocks: &[Block], rules: &Rules, now_ms: u64) -> RunOutcome {
    let tip = store.tip();
    let stateless = verify_blocks(blocks, &tip, &rules.validators, &rules.limits, now_ms).err();
    apply_verified(store, blocks, stateless, rules, &[])
}

/// [`apply_blocks`] after core's stateless checks ran on `blocks` (against the store's tip as
/// the first one's parent) and found `stateless` (the first failing block's position and
/// error): the pipeline's state step decides block by block, and each block it accepts is
/// written while it checks the next (`Store::commit_streamed`); the accepted prefix commits
/// once. `terms[i]`: the Raft term of `blocks[i]` if known, stored with it.
pub fn apply_verified(
    store: &mut Store,
    blocks: &[Block],
    stateless: Option<(usize, ValidationError)>,
    rules: &Rules,
    terms: &[Option<u64>],
) -> RunOutcome {
    let started = std::time::Instant::now();
    let outcome = store.commit_streamed(blocks, terms, |reads, commit| {
        let mut pending = Pending::new(reads, rules);
        let refused = pending.layer_into(blocks, stateless, None, commit);
        (pending.into_tree_changes(), refused)
    });
    tracing::debug!(target: "chain", blocks = blocks.len(), ms = started.elapsed().as_millis() as u64, "run applied");
    match outcome {
        Ok((committed, refused)) => RunOutcome {
            committed,
            error: refused.map(ApplyError::from),
        },
        Err(error) => RunOutcome {
            committed: 0,
            error: Some(match (blocks.first(), blocks.last()) {
                (Some(first), Some(last)) => ApplyError::StoreRun {
                    from: first.height,
                    to: last.height,
                    error,
                },
                _ => ApplyError::Store { height: 0, error },
            }),
        },
    }
}

/// The store's rows for the prefix of `blocks` a verdict accepted.
pub fn commit_items<'a, B: std::borrow::Borrow<Block>>(
    blocks: &'a [B],
    verdict: &'a Verdict,
) -> Vec<CommitItem<'a>> {
    blocks
        .iter()
        .zip(&verdict.accepted)
        .map(|(block, executed)| CommitItem::new(block.borrow(), executed))
        .collect()
}
