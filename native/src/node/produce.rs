//! Block production: seal transactions into the next blocks, each `stateRoot` computed from the
//! state its transactions leave (our tree root, or MiniLedger's rule in compat mode), and
//! commit them. Solo mode seals one block at a time; fixtures and benchmarks seal long runs in
//! one SQLite transaction through the same path.

use super::apply::{ApplyError, Rules};
use super::pending::{Executed, Pending, Prepared};
use crate::storage::{CommitItem, Store};
use miniledger_core::hash::ZERO_HASH;
use miniledger_core::{Block, BlockHeader, Keypair, Transaction};

/// Builds, signs and commits the block holding `txs` on the store's tip, timestamped `wall_ms`.
/// The transactions must have been validated on admission (signatures, hashes, limits); their
/// nonces are checked here against the tip.
pub fn seal(
    store: &mut Store,
    rules: &Rules,
    key: &Keypair,
    wall_ms: u64,
    txs: Vec<Transaction>,
) -> Result<Block, ApplyError> {
    let mut blocks = seal_run(store, rules, key, [(wall_ms, txs)])?;
    Ok(blocks.pop().expect("one block sealed"))
}

/// Seals one block per `(timestamp, transactions)` on the store's tip (each timestamp raised to
/// its parent's + 1 if needed) and commits them all in one SQLite transaction.
pub fn seal_run(
    store: &mut Store,
    rules: &Rules,
    key: &Keypair,
    batches: impl IntoIterator<Item = (u64, Vec<Transaction>)>,
) -> Result<Vec<Block>, ApplyError> {
    let mut sealed: Vec<(Block, Executed)> = Vec::new();
    let tree = {
        let mut pending = Pending::new(store, rules);
        let mut parent = store.tip();
        for (timestamp, txs) in batches {
            let (block, prepared) = build(&pending, &parent, timestamp, txs, key)?;
            let executed = pending.push(&block, prepared);
            parent = block.header();
            sealed.push((block, executed));
        }
        pending.into_tree_changes()
    };
    let items: Vec<CommitItem> = sealed.iter().map(|(b, e)| e.item(b)).collect();
    if let (Some(first), Some(last)) = (items.first(), items.last()) {
        let (from, to) = (first.block.height, last.block.height);
        store
            .commit_blocks(&items, Some(&tree))
            .map_err(|error| ApplyError::StoreRun { from, to, error })?;
    }
    Ok(sealed.into_iter().map(|(block, _)| block).collect())
}

/// Builds and signs the block holding `txs` on `parent` over `pending` (the state after
/// `parent`), with the `stateRoot` its execution gives; the effects come back to be pushed or
/// committed. The timestamp is raised to the parent's + 1 if needed. Shared by solo and Raft.
pub fn build(
    pending: &Pending<'_>,
    parent: &BlockHeader,
    timestamp: u64,
    txs: Vec<Transaction>,
    key: &Keypair,
) -> Result<(Block, Prepared), ApplyError> {
    let timestamp = timestamp.max(parent.timestamp + 1);
    let draft = Block::build(parent, timestamp, txs, ZERO_HASH.to_string(), key);
    let prepared = pending.prepare(&draft)?;
    let block = match prepared.root.clone() {
        Some(root) if root != draft.state_root => {
            Block::build(parent, timestamp, draft.transactions, root, key)
        }
        _ => draft,
    };
    Ok((block, prepared))
}
