//! Committing a block: the block row, its transaction rows, the state delta and the new sender
//! nonces go into ONE SQLite transaction, so a crash or an error at any point leaves either the
//! whole block or nothing. This is the hot path; every statement is a cached prepared one.

use super::error::{Context, StoreError};
use super::state::NonceMap;
use super::{blocks, state, transactions, Store};
use miniledger_core::state::StateDelta;
use miniledger_core::Block;
use rusqlite::{Connection, TransactionBehavior};
use std::collections::HashMap;

impl Store {
    /// Stores `block` as the new tip with the `delta` its execution produced and each sender's
    /// `next_nonces` after it. Refuses (writing nothing) a block that does not extend the tip,
    /// or any block while a failed `StateView`/`NonceView` read is pending (the delta may have
    /// been computed from a wrong view; the refusal clears it, so a recomputed delta can go in).
    pub fn commit_block(
        &mut self,
        block: &Block,
        delta: &StateDelta,
        next_nonces: &HashMap<String, u64>,
    ) -> Result<(), StoreError> {
        if let Some(failure) = self.read_failure.take() {
            return Err(StoreError::ViewReadFailed(failure));
        }
        self.check_extends_tip(block)?;
        let json = serde_json::to_string(block).map_err(|source| StoreError::Encode {
            height: block.height,
            source,
        })?;
        let height = block.height;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .op_with(|| format!("starting the write of block {height}"))?;
        write_block(&tx, block, &json, delta, next_nonces)?;
        // On failure the dropped transaction rolls back.
        tx.commit()
            .op_with(|| format!("committing block {height}"))?;
        self.tip = block.header();
        tracing::debug!(
            height,
            txs = block.transactions.len(),
            state_writes = delta.len(),
            "block committed"
        );
        Ok(())
    }

    fn check_extends_tip(&self, block: &Block) -> Result<(), StoreError> {
        let reason = if block.height != self.tip.height + 1 {
            format!("the tip is at height {}", self.tip.height)
        } else if block.previous_hash != self.tip.hash {
            format!(
                "previousHash {} is not the tip's hash {}",
                block.previous_hash, self.tip.hash
            )
        } else {
            return Ok(());
        };
        Err(StoreError::NotNextBlock {
            height: block.height,
            reason,
        })
    }
}

/// Writes every row of one block inside the caller's SQLite transaction.
pub(crate) fn write_block(
    conn: &Connection,
    block: &Block,
    json: &str,
    delta: &StateDelta,
    next_nonces: &NonceMap,
) -> Result<(), StoreError> {
    blocks::insert(conn, block, json)?;
    transactions::insert_all(conn, block)?;
    state::apply_delta(conn, delta, block.height)?;
    state::store_nonces(conn, next_nonces, block.height)?;
    Ok(())
}
