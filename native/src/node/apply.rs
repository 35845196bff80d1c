//! Applying blocks: core's stateless rules, then the state step (nonces, execution, stateRoot),
//! then SQLite. Nothing is written unless every rule holds. A single block (announced or
//! produced) is one SQLite transaction; a run of synced blocks is checked block by block over
//! [`Pending`] (the earlier blocks' uncommitted effects), and its valid prefix is committed in
//! one transaction.

use super::pending::{Executed, Pending};
use crate::storage::{CommitItem, SqlTree, Store, StoreError};
use miniledger_core::state::commitment::{PendingTree, TreeChanges};
use miniledger_core::validation::{
    check_state_root, verify_block, verify_blocks, Limits, ValidationError, ValidatorSet,
};
use miniledger_core::{Block, BlockHeader, StateRootRule};
use thiserror::Error;

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

/// The rules a node applies blocks under.
#[derive(Debug, Clone)]
pub struct Rules {
    pub validators: ValidatorSet,
    pub limits: Limits,
    /// Ours ([`StateRootRule::Tree`]) unless the node joined a MiniLedger 0.2 network.
    pub state_root: StateRootRule,
}

/// Validates `block` against the store's tip and state, and commits it.
pub fn apply_block(
    store: &mut Store,
    block: &Block,
    rules: &Rules,
    now_ms: u64,
) -> Result<(), ApplyError> {
    let height = block.height;
    verify_block(
        block,
        &store.tip(),
        &rules.validators,
        &rules.limits,
        now_ms,
    )
    .map_err(|error| ApplyError::Invalid { height, error })?;
    let mut pending = Pending::new(store, rules);
    let executed = pending.accept(block)?;
    let tree = pending.into_tree_changes();
    store
        .commit_block(executed.item(block), Some(&tree))
        .map_err(|error| ApplyError::Store { height, error })
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
/// are not looked at.
pub fn apply_blocks(store: &mut Store, blocks: &[Block], rules: &Rules, now_ms: u64) -> RunOutcome {
    let first_bad = verify_run(blocks, &store.tip(), rules, now_ms);
    apply_verified(store, blocks, first_bad, rules, &[])
}

/// [`apply_blocks`] after core's stateless checks were run on `blocks` (against the store's
/// tip as the first one's parent) by [`verify_run`], which found `first_unverified`.
///
/// Nonces and execution run first, on the loop's connection; then the state tree (and the
/// `stateRoot` of each block) is computed on the store's second connection while the loop's
/// writes the run's rows (`Store::commit_blocks_checked`): the two costliest steps of a sync,
/// side by side. `terms[i]`: the Raft term of `blocks[i]` if known, stored with it.
pub fn apply_verified(
    store: &mut Store,
    blocks: &[Block],
    first_unverified: Option<(usize, ValidationError)>,
    rules: &Rules,
    terms: &[Option<u64>],
) -> RunOutcome {
    let mut executed: Vec<Executed> = Vec::with_capacity(blocks.len());
    let mut error = None;
    {
        let mut pending = Pending::deferring_tree(store, rules);
        for (i, block) in blocks.iter().enumerate() {
            let outcome = match &first_unverified {
                Some((bad, e)) if *bad == i => Err(ApplyError::Invalid {
                    height: block.height,
                    error: e.clone(),
                }),
                _ => pending.accept(block),
            };
            match outcome {
                Ok(done) => executed.push(done),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
    }
    let items: Vec<CommitItem> = blocks
        .iter()
        .zip(&executed)
        .map(|(block, done)| done.item(block))
        .collect();
    let (Some(first), Some(last)) = (items.first(), items.last()) else {
        return RunOutcome {
            committed: 0,
            error,
        };
    };
    let (from, to) = (first.block.height, last.block.height);
    let version = store.tree_version();
    let check_tree = |reader: &SqlTree<'_>| check_tree(reader, version, &items, rules.state_root);
    match store.commit_blocks_checked(&items, terms, check_tree) {
        Ok((committed, refused)) => RunOutcome {
            committed,
            error: refused.or(error),
        },
        Err(error) => RunOutcome {
            committed: 0,
            error: Some(ApplyError::StoreRun { from, to, error }),
        },
    }
}

/// The state tree over a run's deltas, block by block on top of the stored tree (`version`),
/// checking each block's `stateRoot` under the `Tree` rule. Returns the tree changes of the
/// accepted prefix and the first refused block with the reason.
fn check_tree(
    reader: &SqlTree<'_>,
    version: Option<u64>,
    items: &[CommitItem<'_>],
    rule: StateRootRule,
) -> (TreeChanges, Option<(usize, ApplyError)>) {
    let mut tree = PendingTree::new(reader, version);
    for (i, item) in items.iter().enumerate() {
        let block = item.block;
        let refuse = |error| (i, error);
        let (root, batch) = match tree.preview(item.delta) {
            Ok(previewed) => previewed,
            Err(e) => {
                let error = ApplyError::Store {
                    height: block.height,
                    error: StoreError::StateTree(e.to_string()),
                };
                return (tree.into_changes(), Some(refuse(error)));
            }
        };
        if rule == StateRootRule::Tree {
            if let Err(error) = check_state_root(block, &root) {
                let error = ApplyError::Invalid {
                    height: block.height,
                    error,
                };
                return (tree.into_changes(), Some(refuse(error)));
            }
        }
        if let Some(batch) = &batch {
            tree.push(batch);
        }
    }
    (tree.into_changes(), None)
}

/// Core's stateless rules (hashes, signatures, header) for every block of a run, spread over the
/// machine's cores: inside a run each block's parent is the block before it, so no block waits
/// for another, and each core checks its share's signatures in one batch. Returns the first
/// failing block's position and error.
pub fn verify_run(
    blocks: &[Block],
    tip: &BlockHeader,
    rules: &Rules,
    now_ms: u64,
) -> Option<(usize, ValidationError)> {
    let verify_from = |start: usize, chunk: &[Block], parent: &BlockHeader| {
        verify_blocks(chunk, parent, &rules.validators, &rules.limits, now_ms)
            .err()
            .map(|(k, e)| (start + k, e))
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 || blocks.len() < 2 {
        return verify_from(0, blocks, tip);
    }
    let size = blocks.len().div_ceil(cores);
    let parents: Vec<BlockHeader> = std::iter::once(tip.clone())
        .chain(blocks.chunks(size).map(|c| c[c.len() - 1].header()))
        .collect();
    std::thread::scope(|s| {
        let workers: Vec<_> = (blocks.chunks(size).zip(&parents).enumerate())
            .map(|(c, (chunk, parent))| {
                let verify_from = &verify_from;
                s.spawn(move || verify_from(c * size, chunk, parent))
            })
            .collect();
        workers
            .into_iter()
            .filter_map(|w| w.join().expect("verification thread"))
            .min_by_key(|(i, _)| *i)
    })
}
