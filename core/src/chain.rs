//! An in-memory, fully validating chain: the reference composition of core's rules (header and
//! signatures, nonces, state root, execution). Full nodes compose the same functions over their
//! own storage; tests, benchmarks and the simulator use this directly.

use crate::model::{Block, BlockHeader};
use crate::state::commitment::MemoryTree;
use crate::state::{execute_block, MemoryState};
use crate::validation::{
    check_nonces, check_state_root, check_tx_hash_replays, verify_block, Limits, ReplayRule, Rule,
    ValidationError, ValidatorSet,
};
use std::collections::{HashMap, HashSet};

/// Which rule a network uses for the `stateRoot` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateRootRule {
    /// Ours: the root of the state tree after the block (`state::commitment`).
    Tree,
    /// MiniLedger 0.2 in Raft mode: the reference's root of the state *before* the block.
    MiniLedgerBefore,
    /// Not checked (joining a MiniLedger network whose roots are not reproducible).
    Unchecked,
}

#[derive(Debug, Clone)]
pub struct Chain {
    tip: BlockHeader,
    validators: ValidatorSet,
    limits: Limits,
    state_root_rule: StateRootRule,
    nonces: HashMap<String, u64>,
    /// Every committed transaction hash, under [`ReplayRule::TxHash`] only.
    tx_hashes: HashSet<String>,
    state: MemoryState,
    tree: MemoryTree,
}

impl Chain {
    /// A chain holding only genesis.
    pub fn new(validators: ValidatorSet, limits: Limits, state_root_rule: StateRootRule) -> Self {
        Chain {
            tip: Block::genesis().header(),
            validators,
            limits,
            state_root_rule,
            nonces: HashMap::new(),
            tx_hashes: HashSet::new(),
            state: MemoryState::default(),
            tree: MemoryTree::default(),
        }
    }

    pub fn tip(&self) -> &BlockHeader {
        &self.tip
    }

    pub fn state(&self) -> &MemoryState {
        &self.state
    }

    pub fn next_nonce(&self, sender: &str) -> u64 {
        self.nonces.get(sender).copied().unwrap_or(0)
    }

    /// Validates `block` as the next block and applies it; on error nothing changes.
    pub fn apply(&mut self, block: &Block, now_ms: u64) -> Result<(), ValidationError> {
        verify_block(block, &self.tip, &self.validators, &self.limits, now_ms)?;
        let nonces = match self.limits.replay {
            ReplayRule::Nonces => check_nonces(block, &self.nonces)?,
            ReplayRule::TxHash => {
                check_tx_hash_replays(block, &self.nonces, |h| self.tx_hashes.contains(h))?
            }
        };
        let delta = execute_block(block, &self.state);
        let tree_batch = match self.state_root_rule {
            StateRootRule::Tree => {
                let (root, batch) = self
                    .tree
                    .preview(&delta)
                    .map_err(|e| ValidationError::new(Rule::BlockStateRoot, e.to_string()))?;
                check_state_root(block, &root)?;
                batch
            }
            StateRootRule::MiniLedgerBefore => {
                check_state_root(block, &self.state.miniledger_root())?;
                None
            }
            StateRootRule::Unchecked => None,
        };
        if let Some(batch) = &tree_batch {
            self.tree.push(batch);
        }
        self.state.apply(delta);
        self.nonces.extend(nonces);
        if self.limits.replay == ReplayRule::TxHash {
            let hashes = block.transactions.iter().map(|tx| tx.hash.clone());
            self.tx_hashes.extend(hashes);
        }
        self.tip = block.header();
        Ok(())
    }

    /// The root of our state tree (what `StateRootRule::Tree` blocks carry).
    pub fn tree_root(&self) -> String {
        self.tree.root().expect("an in-memory tree has every node")
    }
}
