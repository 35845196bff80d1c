//! An in-memory, fully validating chain: the block pipeline (`pipeline::check`) over a
//! [`MemoryChain`]. Full nodes run the same pipeline over their own storage; tests, benchmarks
//! and the simulator use this directly.

use crate::model::{Block, BlockHeader};
use crate::pipeline::{self, BlockError, ChainReads, Governance, MemoryChain, Rules};
use crate::state::MemoryState;
use crate::validation::{Limits, NonceView, ValidationError, ValidatorSet};

pub use crate::pipeline::StateRootRule;

#[derive(Debug, Clone)]
pub struct Chain {
    rules: Rules,
    store: MemoryChain,
    /// Cached header of the store's tip.
    tip: BlockHeader,
}

impl Chain {
    /// A chain holding only genesis. Our state tree is kept only under
    /// [`StateRootRule::Tree`], where blocks carry its root.
    pub fn new(validators: ValidatorSet, limits: Limits, state_root_rule: StateRootRule) -> Self {
        let store = MemoryChain::new(state_root_rule == StateRootRule::Tree);
        Chain {
            tip: store.tip(),
            rules: Rules {
                validators,
                limits,
                state_root: state_root_rule,
                // Our chains (tree roots) govern themselves; 0.2's record governance only.
                governance: match state_root_rule {
                    StateRootRule::Tree => Governance::OnChain,
                    _ => Governance::Recorded,
                },
            },
            store,
        }
    }

    pub fn tip(&self) -> &BlockHeader {
        &self.tip
    }

    pub fn state(&self) -> &MemoryState {
        self.store.state()
    }

    pub fn next_nonce(&self, sender: &str) -> u64 {
        self.store.next_nonce(sender)
    }

    /// The committed chain, as the pipeline reads it.
    pub fn store(&self) -> &MemoryChain {
        &self.store
    }

    /// Validates `block` as the next block and applies it; on error nothing changes.
    pub fn apply(&mut self, block: &Block, now_ms: u64) -> Result<(), ValidationError> {
        let blocks = std::slice::from_ref(block);
        let verdict = pipeline::check(&self.store, &self.rules, blocks, now_ms);
        match verdict.refused {
            None => {
                self.store.commit(&[block], verdict);
                self.tip = block.header();
                Ok(())
            }
            Some(BlockError::Invalid { error, .. }) => Err(error),
            Some(error @ BlockError::Unreadable { .. }) => {
                unreachable!("memory reads cannot fail: {error}")
            }
        }
    }

    /// The root of our state tree (what `StateRootRule::Tree` blocks carry).
    pub fn tree_root(&self) -> String {
        self.store.tree_root()
    }
}
