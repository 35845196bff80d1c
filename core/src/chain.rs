//! An in-memory, fully validating chain: the reference composition of core's rules (header and
//! signatures, nonces, state root, execution). Full nodes compose the same functions over their
//! own storage; tests, benchmarks and the simulator use this directly.

use crate::model::{Block, BlockHeader};
use crate::state::{execute_block, MemoryState};
use crate::validation::{check_nonces, verify_block, Limits, Rule, ValidationError, ValidatorSet};
use std::collections::HashMap;

/// Which rule a network uses for the `stateRoot` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateRootRule {
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
    state: MemoryState,
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
            state: MemoryState::default(),
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

    /// The `stateRoot` the next block must carry under this chain's rule, if it is checked.
    pub fn expected_state_root(&self) -> Option<String> {
        match self.state_root_rule {
            StateRootRule::MiniLedgerBefore => Some(self.state.miniledger_root()),
            StateRootRule::Unchecked => None,
        }
    }

    /// Validates `block` as the next block and applies it; on error nothing changes.
    pub fn apply(&mut self, block: &Block, now_ms: u64) -> Result<(), ValidationError> {
        verify_block(block, &self.tip, &self.validators, &self.limits, now_ms)?;
        let nonces = check_nonces(block, &self.nonces)?;
        if let Some(expected) = self.expected_state_root() {
            if block.state_root != expected {
                return Err(ValidationError::new(
                    Rule::BlockStateRoot,
                    format!(
                        "stateRoot {} is not the state's root {}",
                        &block.state_root, expected
                    ),
                ));
            }
        }
        let delta = execute_block(block, &self.state);
        self.state.apply(delta);
        self.nonces.extend(nonces);
        self.tip = block.header();
        Ok(())
    }
}
