//! Solo production and announced blocks: both go through core's block pipeline (`build` for
//! ours, `check` for a peer's) and into the store as one commit.

use super::apply::{blame_block, ApplyError};
use super::events::{Level, Target};
use super::{CommitItem, FullNode, Mode, NodeStorage};
use crate::model::{Block, Transaction};
use crate::pipeline::{self, build, Pending};
use crate::protocol::{BlockAnnounce, Message};

impl<S: NodeStorage> FullNode<S> {
    /// Solo consensus: seal whatever is ready into a block at once (up to the block limit).
    pub(super) fn produce(&mut self) -> bool {
        if !matches!(self.mode, Mode::SoloProducer)
            || self.sync.is_syncing()
            || self.mempool.is_empty()
        {
            return false;
        }
        if !self.disk.may_retry(self.now.monotonic) {
            return false;
        }
        let max = self.config.rules.limits.max_txs_per_block;
        let latest = self.latest_tx_timestamp();
        let txs = self.mempool.ready(max, &self.store, latest);
        if txs.is_empty() {
            return false;
        }
        let block = match self.seal(txs) {
            Ok(block) => block,
            Err(e) if self.disk.on_failed(&e, self.now.monotonic, &mut self.out) => return false,
            Err(e) => {
                self.log(
                    Level::Error,
                    Target::Chain,
                    format!("cannot produce a block: {e}"),
                );
                return false;
            }
        };
        self.disk.on_written(&mut self.out);
        self.on_committed(std::slice::from_ref(&block));
        let message = Message::BlockAnnounce(BlockAnnounce { block });
        self.peers.broadcast(&message, self.now.monotonic);
        true
    }

    /// Builds, signs and commits the block holding `txs` on the tip, timestamped now (raised to
    /// the parent's + 1 if needed).
    fn seal(&mut self, txs: Vec<Transaction>) -> Result<Block, ApplyError> {
        let (block, executed, tree) = {
            let _snapshot = self.store.read_snapshot();
            let mut pending = Pending::new(&self.store, &self.config.rules);
            let parent = self.store.tip();
            let (block, prepared) = build(&pending, &parent, self.now.wall, txs, &self.key)?;
            let executed = pending.push(&block, prepared);
            (block, executed, pending.into_tree_changes())
        };
        let item = CommitItem::new(&block, &executed);
        let height = block.height;
        self.store
            .commit(&[item], tree, &[])
            .map_err(|error| ApplyError::StoreRun {
                from: height,
                to: height,
                error,
            })?;
        Ok(block)
    }

    /// Validates a peer's block against the tip and state, and commits it.
    fn apply_block(&mut self, block: &Block) -> Result<(), ApplyError> {
        let blocks = std::slice::from_ref(block);
        let verdict = {
            let _snapshot = self.store.read_snapshot();
            pipeline::check(&self.store, &self.config.rules, blocks, self.now.wall)
        };
        if let Some(refused) = verdict.refused {
            return Err(refused.into());
        }
        let item = CommitItem::new(block, &verdict.accepted[0]);
        self.store
            .commit(&[item], verdict.tree, &[])
            .map_err(|error| ApplyError::Store {
                height: block.height,
                error,
            })
    }

    /// Applies one block; logs and returns false if it is refused.
    pub(super) fn apply(&mut self, block: &Block, from: &str) -> bool {
        match self.apply_block(block) {
            Ok(()) => {
                self.disk.on_written(&mut self.out);
                self.on_committed(std::slice::from_ref(block));
                true
            }
            Err(e) if self.disk.on_failed(&e, self.now.monotonic, &mut self.out) => false,
            Err(e) => {
                self.log(Level::Warn, Target::Chain, format!("from {from}: {e}"));
                if let Some(offence) = blame_block(&e) {
                    self.peers.report(from, offence, self.now.monotonic);
                }
                false
            }
        }
    }
}
