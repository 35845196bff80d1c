//! Solo production and announced blocks: both go through core's block pipeline (`build` for
//! ours, `check` for a peer's) and into the store as one commit.

use super::apply::{blame_block, ApplyError};
use super::events::{Level, Target};
use super::{CommitItem, Durability, FullNode, Mode, NodeStorage};
use crate::model::{Block, Transaction};
use crate::net::PeerKind;
use crate::pipeline::{self, build, Pending};
use crate::protocol::{BlockAnnounce, Message};

/// Announcements a second a solo producer sends its light peers between them, at most (see
/// [`Pace`]).
pub const LIGHT_ANNOUNCES_PER_SEC: u64 = 50_000;

/// The longest a solo producer spaces its blocks for its light peers (ms).
pub const MAX_LIGHT_PACE_MS: u64 = 20;

/// Solo production's pace. With no light peer connected, a block is sealed as soon as a
/// transaction waits (commit latency first). Every block is an announcement to every light peer
/// though (a socket write each): a thousand of them and a block every 2–10 ms would be 100,000
/// to 500,000 writes a second. So while light peers are connected, blocks are spaced
/// `light_peers × 1000 / LIGHT_ANNOUNCES_PER_SEC` ms apart (0 under 50 light peers, 20 ms at a
/// thousand, never more than [`MAX_LIGHT_PACE_MS`]): fewer, larger blocks, at most that much
/// added commit latency. BENCHMARKS.md, "Fan-out".
#[derive(Debug, Default)]
pub(super) struct Pace {
    /// When the last block was sealed (monotonic ms).
    last_sealed: Option<u64>,
}

impl Pace {
    /// Blocks' least spacing with `light_peers` light peers connected (ms).
    pub fn interval_ms(light_peers: usize) -> u64 {
        (light_peers as u64 * 1_000 / LIGHT_ANNOUNCES_PER_SEC).min(MAX_LIGHT_PACE_MS)
    }

    /// The earliest the next block may be sealed (monotonic ms).
    pub fn next_at(&self, light_peers: usize) -> u64 {
        self.last_sealed
            .map_or(0, |last| last + Self::interval_ms(light_peers))
    }

    /// True when no number of light peers could make the next block wait at `now` (so the
    /// loop need not count them: it asks on every pass with transactions waiting).
    pub fn is_free(&self, now: u64) -> bool {
        self.last_sealed
            .is_none_or(|last| now >= last + MAX_LIGHT_PACE_MS)
    }

    pub fn sealed(&mut self, now: u64) {
        self.last_sealed = Some(now);
    }
}

impl<S: NodeStorage> FullNode<S> {
    /// When solo production waits for its pace ([`Pace`]) with transactions ready, that time.
    pub(super) fn production_deadline(&self) -> Option<u64> {
        if !matches!(self.mode, Mode::SoloProducer)
            || self.mempool.is_empty()
            || self.pace.is_free(self.now.monotonic)
        {
            return None;
        }
        let at = self.pace.next_at(self.peers.count(PeerKind::Light));
        (at > self.now.monotonic).then_some(at)
    }

    /// Solo consensus: seal whatever is ready into a block (up to the block limit), at once or,
    /// with many light peers connected, at the production pace ([`Pace`]).
    pub(super) fn produce(&mut self) -> bool {
        if !matches!(self.mode, Mode::SoloProducer)
            || self.sync.is_syncing()
            || self.mempool.is_empty()
            || self.production_deadline().is_some()
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
        self.pace.sealed(self.now.monotonic);
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
            .commit(&[item], tree, &[], Durability::Synced)
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
            .commit(&[item], verdict.tree, &[], Durability::Synced)
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

#[cfg(test)]
mod tests {
    use super::Pace;

    #[test]
    fn without_light_peers_blocks_are_sealed_at_once() {
        let mut pace = Pace::default();
        assert_eq!(pace.next_at(0), 0);
        pace.sealed(1_000);
        assert_eq!(pace.next_at(0), 1_000, "no wait after a block");
        // A few light peers (a browser tab or two) add no wait either.
        assert_eq!(pace.next_at(49), 1_000);
    }

    #[test]
    fn many_light_peers_space_blocks_within_the_announce_budget() {
        let mut pace = Pace::default();
        assert_eq!(pace.next_at(1_000), 0, "the first block waits for nothing");
        pace.sealed(1_000);
        assert_eq!(pace.next_at(50), 1_001);
        assert_eq!(pace.next_at(500), 1_010);
        assert_eq!(pace.next_at(1_000), 1_020);
        // Bounded: more peers, no longer wait.
        assert_eq!(pace.next_at(100_000), 1_020);
        assert!(
            !pace.is_free(1_019) && pace.is_free(1_020),
            "free once the longest wait is over"
        );
        for peers in [50, 500, 1_000] {
            let blocks_per_sec = 1_000 / Pace::interval_ms(peers);
            assert!(blocks_per_sec * peers as u64 <= super::LIGHT_ANNOUNCES_PER_SEC);
        }
    }
}
