//! The store as core's full node sees it ([`NodeStorage`]): each call maps onto the SQLite
//! store's own, and a [`StoreError`] becomes a [`StorageError`] that says whether the disk
//! refused the write (so the node keeps running and retries: `node::disk` in core).

use super::{ReadSnapshot, Reads, Store, StoreError};
use miniledger_core::node::{
    CommitItem, Durability, NodeStorage, RaftWrite, StorageError, SyncedRun,
};
use miniledger_core::pipeline::{Pending, Rules};
use miniledger_core::raft::Restored;
use miniledger_core::state::commitment::TreeChanges;
use miniledger_core::validation::ValidationError;
use miniledger_core::Block;

impl From<StoreError> for StorageError {
    fn from(error: StoreError) -> Self {
        let disk_fault = error.is_disk_fault();
        StorageError::new(error, disk_fault)
    }
}

impl NodeStorage for Store {
    type Snapshot<'a> = Option<ReadSnapshot<'a>>;

    fn read_snapshot(&self) -> Self::Snapshot<'_> {
        Store::read_snapshot(self)
    }

    fn next_nonce_of(&self, sender: &str) -> Result<u64, StorageError> {
        Ok(self.nonce(sender)?)
    }

    fn committed_height(&self, hash: &str) -> Result<Option<u64>, StorageError> {
        Ok(self.transaction(hash)?.map(|(_, height)| height))
    }

    fn commit(
        &mut self,
        items: &[CommitItem<'_>],
        tree: TreeChanges,
        terms: &[Option<u64>],
        durability: Durability,
    ) -> Result<(), StorageError> {
        Ok(self.commit_run_with(items, Some(&tree), terms, durability)?)
    }

    fn commit_synced(
        &mut self,
        blocks: &[Block],
        stateless: Option<(usize, ValidationError)>,
        rules: &Rules,
        terms: &[Option<u64>],
    ) -> Result<SyncedRun, StorageError> {
        let started = std::time::Instant::now();
        let outcome = self.commit_streamed(blocks, terms, |reads, commit| {
            let mut pending = Pending::new(reads, rules);
            let refused = pending.layer_into(blocks, stateless, None, commit);
            (pending.into_tree_changes(), refused)
        });
        tracing::debug!(target: "chain", blocks = blocks.len(), ms = started.elapsed().as_millis() as u64, "run applied");
        Ok(outcome?)
    }

    fn raft_restored(&self) -> Result<Restored, StorageError> {
        Ok(Store::raft_restored(self)?)
    }

    fn persist_raft(&mut self, write: &RaftWrite<'_>) -> Result<(), StorageError> {
        Ok(Store::persist_raft(self, write)?)
    }

    fn block_terms(&self, from: u64, to: u64) -> Result<Option<Vec<u64>>, StorageError> {
        Ok(Store::block_terms(self, from, to)?)
    }

    fn block_json_range(
        &self,
        from: u64,
        to: u64,
        max_bytes: usize,
    ) -> Result<Vec<String>, StorageError> {
        Ok(Store::block_json_range(self, from, to, max_bytes)?)
    }

    fn own_nonces_reserved(&self) -> Result<u64, StorageError> {
        Ok(Store::own_nonces_reserved(self)?)
    }

    fn reserve_own_nonces(&mut self, below: u64) -> Result<(), StorageError> {
        Ok(Store::reserve_own_nonces(self, below)?)
    }
}
