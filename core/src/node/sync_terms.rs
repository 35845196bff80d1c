//! The Raft terms of blocks on their way through BlockSync (the optional `terms` of
//! SYNC_RESPONSE), kept until their blocks are applied.
//!
//! Why: a validator that caught up through BlockSync must know the term of its synced tip to
//! vote or campaign (core's Raft refuses both otherwise, for safety). Without it, if the leader
//! dies before appending to the synced node, the two survivors of a 3-validator cluster cannot
//! elect anyone. With the terms served next to the blocks, the node knows the tip's term as
//! soon as it applies it.
//!
//! Trust: the driver records terms only from an authenticated validator connection. Anyone
//! else (a 0.2 node, a learner, an unauthenticated peer) could lie about a term, making this
//! validator's log look more up to date than it is and its vote go to a candidate missing
//! committed blocks. A term is used only for the very block (height AND hash) it came with.
//!
//! Bounded: only heights inside BlockSync's request window are recorded, and everything at or
//! below the applied tip is dropped, so the map never holds more than the window.

use crate::Block;
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub struct SyncTerms {
    /// Height → (block hash, term).
    by_height: BTreeMap<u64, (String, u64)>,
}

impl SyncTerms {
    /// Records the terms a trusted validator served with `blocks` (same order). Ignores a
    /// `terms` of the wrong length or that decreases with height (not what an honest node
    /// sends), and heights outside `(applied, window_end]`.
    pub fn record(&mut self, blocks: &[Block], terms: &[u64], applied: u64, window_end: u64) {
        if terms.len() != blocks.len() || terms.windows(2).any(|w| w[0] > w[1]) {
            return;
        }
        for (block, &term) in blocks.iter().zip(terms) {
            if block.height > applied && block.height <= window_end {
                let entry = (block.hash.clone(), term);
                self.by_height.insert(block.height, entry);
            }
        }
    }

    /// The recorded term of block `hash` at `height`, if it came with this very block.
    pub fn term_of(&self, height: u64, hash: &str) -> Option<u64> {
        let (recorded, term) = self.by_height.get(&height)?;
        (recorded == hash).then_some(*term)
    }

    /// The terms of a run, in order (`None` where unknown).
    pub fn terms_of(&self, run: &[Block]) -> Vec<Option<u64>> {
        run.iter()
            .map(|b| self.term_of(b.height, &b.hash))
            .collect()
    }

    /// The chain is applied up to `height`: forgets what is at or below it.
    pub fn applied(&mut self, height: u64) {
        self.by_height = self.by_height.split_off(&(height + 1));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_height.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keypair;

    fn chain(n: u64) -> Vec<Block> {
        let key = Keypair::from_seed([7; 32]);
        let mut parent = Block::genesis().header();
        (0..n)
            .map(|_| {
                let b = Block::build(&parent, parent.timestamp + 1, vec![], "0".repeat(64), &key);
                parent = b.header();
                b
            })
            .collect()
    }

    #[test]
    fn terms_ride_along_with_their_blocks_within_the_window() {
        let blocks = chain(5);
        let mut terms = SyncTerms::default();
        terms.record(&blocks, &[1, 1, 2, 2, 3], 1, 4);
        assert_eq!(
            terms.len(),
            3,
            "heights 2..=4 only: 1 is applied, 5 beyond the window"
        );
        assert_eq!(
            terms.terms_of(&blocks[1..]),
            [Some(1), Some(2), Some(2), None]
        );
        terms.applied(3);
        assert_eq!(terms.len(), 1);
        assert_eq!(terms.term_of(4, &blocks[3].hash), Some(2));
    }

    #[test]
    fn a_term_is_only_for_the_block_it_came_with() {
        let blocks = chain(2);
        let other = {
            let key = Keypair::from_seed([8; 32]);
            Block::build(&blocks[0].header(), 99, vec![], "0".repeat(64), &key)
        };
        let mut terms = SyncTerms::default();
        terms.record(&blocks, &[4, 4], 0, 10);
        assert_eq!(terms.term_of(2, &blocks[1].hash), Some(4));
        assert_eq!(
            terms.term_of(2, &other.hash),
            None,
            "same height, another block"
        );
    }

    #[test]
    fn malformed_terms_are_ignored() {
        let blocks = chain(3);
        let mut terms = SyncTerms::default();
        terms.record(&blocks, &[1, 2], 0, 10);
        terms.record(&blocks, &[3, 2, 2], 0, 10);
        assert_eq!(terms.len(), 0);
    }
}
