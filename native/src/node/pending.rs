//! The state step of block validation and production, over blocks not yet committed: nonces,
//! execution and the `stateRoot` rule, each block seeing the effects of the pending ones
//! before it (state and nonces through an [`Overlay`], the state tree through core's
//! [`PendingTree`]). Its results ([`Executed`]) are what the store commits.

use super::apply::ApplyError;
use super::overlay::Overlay;
use crate::storage::{CommitItem, Store, StoreError};
use miniledger_core::state::commitment::jmt::storage::TreeUpdateBatch;
use miniledger_core::state::commitment::PendingTree;
use miniledger_core::state::{execute_block, reproducible_by_miniledger, StateDelta};
use miniledger_core::validation::{check_nonces, check_state_root, ValidationError};
use miniledger_core::{Block, StateRootRule};
use std::collections::HashMap;

/// One block's checked effects, ready to commit.
pub struct Executed {
    pub delta: StateDelta,
    pub next_nonces: HashMap<String, u64>,
    /// The state-tree update (None when the delta is empty).
    pub tree: Option<TreeUpdateBatch>,
}

impl Executed {
    pub fn item<'a>(&'a self, block: &'a Block) -> CommitItem<'a> {
        CommitItem {
            block,
            delta: &self.delta,
            next_nonces: &self.next_nonces,
            tree: self.tree.as_ref(),
        }
    }
}

/// The state after the store's tip and the pending blocks pushed so far.
pub struct Pending<'a> {
    store: &'a Store,
    rule: StateRootRule,
    overlay: Overlay<'a, Store>,
    tree: PendingTree<'a, Store>,
    /// MiniLedger's root stays checkable (compat mode; see `reproducible_by_miniledger`).
    reproducible: bool,
}

impl<'a> Pending<'a> {
    pub fn new(store: &'a Store, rule: StateRootRule) -> Self {
        Pending {
            store,
            rule,
            overlay: Overlay::new(store),
            tree: PendingTree::new(store, store.tree_version()),
            reproducible: store.miniledger_reproducible(),
        }
    }

    /// Checks a received block's state rules (nonces, then its `stateRoot` under the rule) and
    /// layers its effects for the blocks after it.
    pub fn accept(&mut self, block: &Block) -> Result<Executed, ApplyError> {
        let (expected, executed) = self.execute(block)?;
        if let Some(expected) = expected {
            check_state_root(block, &expected).map_err(|error| invalid(block, error))?;
        }
        self.push(block, &executed);
        Ok(executed)
    }

    /// Production: the `stateRoot` a block with `draft`'s transactions must carry on top of
    /// the pending state, and its effects (not layered: [`Pending::push`] the signed block).
    pub fn prepare(&mut self, draft: &Block) -> Result<(Option<String>, Executed), ApplyError> {
        self.execute(draft)
    }

    /// Layers a block whose effects were computed by [`Pending::prepare`].
    pub fn push(&mut self, block: &Block, executed: &Executed) {
        self.overlay.push(&executed.delta, &executed.next_nonces);
        if let Some(batch) = &executed.tree {
            self.tree.push(batch);
        }
        self.reproducible &= reproducible_by_miniledger(block);
    }

    /// Nonces, execution, and the root the block must carry (None: not checked).
    fn execute(&self, block: &Block) -> Result<(Option<String>, Executed), ApplyError> {
        let next_nonces = check_nonces(block, &self.overlay).map_err(|e| invalid(block, e))?;
        let delta = execute_block(block, &self.overlay);
        let store_error = |error| ApplyError::Store {
            height: block.height,
            error,
        };
        // Our tree is kept in every mode (proofs are served from it).
        let (tree_root, tree) = self
            .tree
            .preview(&delta)
            .map_err(|e| store_error(StoreError::StateTree(e.to_string())))?;
        let expected = match self.rule {
            StateRootRule::Tree => Some(tree_root),
            // Raft-mode MiniLedger: the root of the state *before* the block, while our state
            // reproduces theirs; after that their value is accepted unchecked.
            StateRootRule::MiniLedgerBefore if self.reproducible => Some(
                self.store
                    .miniledger_root_with(self.overlay.pending_state())
                    .map_err(store_error)?,
            ),
            StateRootRule::MiniLedgerBefore | StateRootRule::Unchecked => None,
        };
        Ok((
            expected,
            Executed {
                delta,
                next_nonces,
                tree,
            },
        ))
    }
}

fn invalid(block: &Block, error: ValidationError) -> ApplyError {
    ApplyError::Invalid {
        height: block.height,
        error,
    }
}
