//! Block production: seal transactions into the next blocks through core's block pipeline
//! (`pipeline::build`: each `stateRoot` from the state its transactions leave, our tree root
//! or MiniLedger's rule in compat mode; each block signed once) and commit them. Fixtures and
//! benchmarks seal long runs in one SQLite transaction here; the running node's solo
//! production is core's (`miniledger_core::node`, the same `build`).

use super::apply::{commit_items, ApplyError, Rules};
use crate::storage::Store;
use miniledger_core::pipeline::{build, Pending, Verdict};
use miniledger_core::{Block, Keypair, Transaction};

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
    let run = build_run(store, rules, key, batches)?;
    commit_run(store, &run)?;
    Ok(run.blocks)
}

/// Blocks built on the store's tip and their pipeline verdict (effects, the tree's net
/// changes), not yet committed.
pub struct BuiltRun {
    pub blocks: Vec<Block>,
    pub verdict: Verdict,
}

/// The first half of [`seal_run`]: builds and signs the blocks (execution, state-tree preview).
pub fn build_run(
    store: &Store,
    rules: &Rules,
    key: &Keypair,
    batches: impl IntoIterator<Item = (u64, Vec<Transaction>)>,
) -> Result<BuiltRun, ApplyError> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut verdict = Verdict::default();
    let _snapshot = store.read_snapshot();
    let mut pending = Pending::new(store, rules);
    let mut parent = store.tip();
    for (timestamp, txs) in batches {
        let (block, prepared) = build(&pending, &parent, timestamp, txs, key)?;
        verdict.accepted.push(pending.push(&block, prepared));
        parent = block.header();
        blocks.push(block);
    }
    verdict.tree = pending.into_tree_changes();
    Ok(BuiltRun { blocks, verdict })
}

/// The second half of [`seal_run`]: commits a built run in one SQLite transaction.
pub fn commit_run(store: &mut Store, run: &BuiltRun) -> Result<(), ApplyError> {
    let items = commit_items(&run.blocks, &run.verdict);
    if let (Some(first), Some(last)) = (items.first(), items.last()) {
        let (from, to) = (first.block.height, last.block.height);
        store
            .commit_blocks(&items, Some(&run.verdict.tree))
            .map_err(|error| ApplyError::StoreRun { from, to, error })?;
    }
    Ok(())
}
