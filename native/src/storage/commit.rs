//! Committing blocks: the block row, its transaction rows, the state delta and the new sender
//! nonces go into ONE SQLite transaction, so a crash or an error at any point leaves either the
//! whole block or nothing. A run of synced blocks goes into one transaction too (one fsync for
//! the run; the whole run or nothing). This is the hot path; every statement is a cached
//! prepared one.

use super::error::{Context, StoreError};
use super::{blocks, state, transactions, tree, Store};
use miniledger_core::state::commitment::jmt::storage::TreeUpdateBatch;
use miniledger_core::state::{reproducible_by_miniledger, StateDelta};
use miniledger_core::{Block, BlockHeader};
use rusqlite::{Connection, TransactionBehavior};
use std::collections::HashMap;

impl Store {
    /// Stores `block` as the new tip with the `delta` its execution produced and each sender's
    /// `next_nonces` after it. Refuses (writing nothing) a block that does not extend the tip,
    /// or any block while a failed `StateView`/`NonceView` read is pending (the delta may have
    /// been computed from a wrong view; the refusal clears it, so a recomputed delta can go in).
    pub fn commit_block(&mut self, item: CommitItem<'_>) -> Result<(), StoreError> {
        self.commit_blocks(&[item])
    }

    /// Stores a contiguous run of blocks, each with its delta and next nonces as for
    /// [`Store::commit_block`], in ONE SQLite transaction: one fsync for the whole run, and
    /// after a crash or an error either every block of the run is stored or none is. The first
    /// block must extend the tip and each later one the block before it; the tip moves to the
    /// last block only after the commit. Each delta and nonce map must already include the
    /// effects of the earlier blocks of the run (see `node::Overlay`). An empty run is a no-op.
    pub fn commit_blocks(&mut self, items: &[CommitItem<'_>]) -> Result<(), StoreError> {
        if let Some(failure) = self.read_failure.take() {
            return Err(StoreError::ViewReadFailed(failure));
        }
        let (Some(first), Some(last)) = (items.first(), items.last()) else {
            return Ok(());
        };
        let mut parent = self.tip.clone();
        let mut jsons = Vec::with_capacity(items.len());
        for CommitItem { block, .. } in items {
            check_extends(&parent, block)?;
            parent = block.header();
            jsons.push(
                serde_json::to_string(block).map_err(|source| StoreError::Encode {
                    height: block.height,
                    source,
                })?,
            );
        }
        let (from, to) = (first.block.height, last.block.height);
        let what = || match items.len() {
            1 => format!("block {from}"),
            _ => format!("blocks {from}..={to}"),
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .op_with(|| format!("starting the write of {}", what()))?;
        let mut tree_version = self.tree_version;
        for (item, json) in items.iter().zip(&jsons) {
            if item.tree.is_some() {
                tree_version = Some(tree_version.map_or(0, |v| v + 1));
            }
            write_block(&tx, item, json, tree_version)?;
        }
        // On failure the dropped transaction rolls back.
        tx.commit().op_with(|| format!("committing {}", what()))?;
        self.tip = parent;
        self.tree_version = tree_version;
        self.miniledger_reproducible &= items
            .iter()
            .all(|item| reproducible_by_miniledger(item.block));
        tracing::debug!(
            from,
            to,
            txs = items
                .iter()
                .map(|item| item.block.transactions.len())
                .sum::<usize>(),
            state_writes = items.iter().map(|item| item.delta.len()).sum::<usize>(),
            "blocks committed"
        );
        Ok(())
    }
}

/// One block for [`Store::commit_blocks`]: the block, the state delta its execution produced,
/// each sender's next nonce after it, and the state-tree update it made (None when the delta is
/// empty: the tree, and so the root, stay as they were).
#[derive(Clone, Copy)]
pub struct CommitItem<'a> {
    pub block: &'a Block,
    pub delta: &'a StateDelta,
    pub next_nonces: &'a HashMap<String, u64>,
    pub tree: Option<&'a TreeUpdateBatch>,
}

/// Refuses a block that does not directly follow `parent`.
fn check_extends(parent: &BlockHeader, block: &Block) -> Result<(), StoreError> {
    let reason = if block.height != parent.height + 1 {
        format!("the tip is at height {}", parent.height)
    } else if block.previous_hash != parent.hash {
        format!(
            "previousHash {} is not the tip's hash {}",
            block.previous_hash, parent.hash
        )
    } else {
        return Ok(());
    };
    Err(StoreError::NotNextBlock {
        height: block.height,
        reason,
    })
}

/// Writes every row of one block inside the caller's SQLite transaction; its tree update (if
/// any) becomes tree version `tree_version`.
pub(crate) fn write_block(
    conn: &Connection,
    item: &CommitItem<'_>,
    json: &str,
    tree_version: Option<u64>,
) -> Result<(), StoreError> {
    let CommitItem {
        block,
        delta,
        next_nonces,
        tree: update,
    } = *item;
    blocks::insert(conn, block, json)?;
    transactions::insert_all(conn, block)?;
    state::apply_delta(conn, delta, block.height)?;
    state::store_nonces(conn, next_nonces, block.height)?;
    if let (Some(batch), Some(version)) = (update, tree_version) {
        tree::write(conn, batch, version, block.height)?;
    }
    Ok(())
}
