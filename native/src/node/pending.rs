//! The state step of block validation and production, over blocks not yet committed: nonces,
//! execution and the `stateRoot` rule, each block seeing the effects of the pending ones
//! before it (state and nonces through an [`Overlay`], the state tree through core's
//! [`PendingTree`]). Its results ([`Executed`] per block, and the tree's net
//! [`TreeChanges`] for the whole run) are what the store commits.

use super::apply::{ApplyError, Rules};
use super::overlay::Overlay;
use crate::storage::{CommitItem, ReadSnapshot, Store, StoreError};
use miniledger_core::state::commitment::jmt::storage::TreeUpdateBatch;
use miniledger_core::state::commitment::{PendingTree, TreeChanges};
use miniledger_core::state::{execute_block, reproducible_by_miniledger, StateDelta};
use miniledger_core::validation::{
    check_nonces, check_state_root, check_tx_hash_replays, ReplayRule, ValidationError,
};
use miniledger_core::{Block, StateRootRule};
use std::collections::{HashMap, HashSet};

/// One block's checked effects on state and nonces, ready to commit.
#[derive(Clone)]
pub struct Executed {
    pub delta: StateDelta,
    pub next_nonces: HashMap<String, u64>,
}

impl Executed {
    pub fn item<'a>(&'a self, block: &'a Block) -> CommitItem<'a> {
        CommitItem {
            block,
            delta: &self.delta,
            next_nonces: &self.next_nonces,
        }
    }
}

/// A block's effects computed for production, not yet layered (see [`Pending::prepare`]).
/// Clone: Raft keeps them by block hash (a hash pins the whole chain below the block, hence
/// the state it executes on) so an uncommitted block is executed once, not at every step.
#[derive(Clone)]
pub struct Prepared {
    /// The `stateRoot` the block must carry (None: the rule does not check it, or the tree
    /// is deferred to the caller).
    pub root: Option<String>,
    executed: Executed,
    tree: Option<TreeUpdateBatch>,
}

/// The state after the store's tip and the pending blocks pushed so far.
pub struct Pending<'a> {
    store: &'a Store,
    rule: StateRootRule,
    replay: ReplayRule,
    /// Transaction hashes of the pushed blocks (replays under [`ReplayRule::TxHash`]).
    pushed_hashes: HashSet<String>,
    overlay: Overlay<'a, Store>,
    /// None: the tree (and a `Tree`-rule root) is left to the caller (`deferring_tree`).
    tree: Option<PendingTree<'a, Store>>,
    /// MiniLedger's root stays checkable (compat mode; see `reproducible_by_miniledger`).
    reproducible: bool,
    /// Every read of the step (state, nonces, tree nodes) in one SQLite read transaction.
    _snapshot: Option<ReadSnapshot<'a>>,
}

impl<'a> Pending<'a> {
    pub fn new(store: &'a Store, rules: &Rules) -> Self {
        Pending {
            store,
            rule: rules.state_root,
            replay: rules.limits.replay,
            pushed_hashes: HashSet::new(),
            overlay: Overlay::new(store),
            tree: Some(PendingTree::new(store, store.tree_version())),
            reproducible: store.miniledger_reproducible(),
            _snapshot: store.read_snapshot(),
        }
    }

    /// A state step without the state tree: nonces, execution and MiniLedger's root (compat
    /// mode) only. The caller computes the tree from the deltas, and checks a `Tree`-rule
    /// root, elsewhere (a received run's tree is built while its rows are written).
    pub fn deferring_tree(store: &'a Store, rules: &Rules) -> Self {
        Pending {
            tree: None,
            ..Pending::new(store, rules)
        }
    }

    /// Checks a received block's state rules (nonces, then its `stateRoot` under the rule) and
    /// layers its effects for the blocks after it.
    pub fn accept(&mut self, block: &Block) -> Result<Executed, ApplyError> {
        let prepared = self.check(block)?;
        Ok(self.push(block, prepared))
    }

    /// [`Pending::accept`] without layering: the received block's checked effects.
    pub fn check(&self, block: &Block) -> Result<Prepared, ApplyError> {
        let prepared = self.prepare(block)?;
        if let Some(expected) = &prepared.root {
            check_state_root(block, expected).map_err(|error| invalid(block, error))?;
        }
        Ok(prepared)
    }

    /// Next nonces after the store and the pushed blocks (what the next block must use).
    pub fn nonces(&self) -> &Overlay<'a, Store> {
        &self.overlay
    }

    /// Production: the `stateRoot` a block with `draft`'s transactions must carry on top of
    /// the pending state, and its effects, to [`Pending::push`] with the signed block.
    pub fn prepare(&self, draft: &Block) -> Result<Prepared, ApplyError> {
        let next_nonces = match self.replay {
            ReplayRule::Nonces => check_nonces(draft, &self.overlay),
            ReplayRule::TxHash => check_tx_hash_replays(draft, &self.overlay, |hash| {
                self.pushed_hashes.contains(hash) || self.store.contains_transaction(hash)
            }),
        }
        .map_err(|e| invalid(draft, e))?;
        let delta = execute_block(draft, &self.overlay);
        let store_error = |error| ApplyError::Store {
            height: draft.height,
            error,
        };
        // Our tree is kept in every mode (proofs are served from it).
        let (tree_root, tree) = match &self.tree {
            Some(pending) => {
                let (root, batch) = pending
                    .preview(&delta)
                    .map_err(|e| store_error(StoreError::StateTree(e.to_string())))?;
                (Some(root), batch)
            }
            None => (None, None),
        };
        let root = match self.rule {
            StateRootRule::Tree => tree_root,
            // Raft-mode MiniLedger: the root of the state *before* the block, while our state
            // reproduces theirs; after that their value is accepted unchecked.
            StateRootRule::MiniLedgerBefore if self.reproducible => Some(
                self.store
                    .miniledger_root_with(self.overlay.pending_state())
                    .map_err(store_error)?,
            ),
            StateRootRule::MiniLedgerBefore | StateRootRule::Unchecked => None,
        };
        Ok(Prepared {
            root,
            executed: Executed { delta, next_nonces },
            tree,
        })
    }

    /// Layers `block`, whose effects were computed by [`Pending::prepare`].
    pub fn push(&mut self, block: &Block, prepared: Prepared) -> Executed {
        let Prepared { executed, tree, .. } = prepared;
        self.overlay.push(&executed.delta, &executed.next_nonces);
        if self.replay == ReplayRule::TxHash {
            let hashes = block.transactions.iter().map(|tx| tx.hash.clone());
            self.pushed_hashes.extend(hashes);
        }
        if let (Some(pending), Some(batch)) = (&mut self.tree, &tree) {
            pending.push(batch);
        }
        self.reproducible &= reproducible_by_miniledger(block);
        executed
    }

    /// The state tree's net changes over the pushed blocks, to commit with them.
    pub fn into_tree_changes(self) -> TreeChanges {
        self.tree.map(PendingTree::into_changes).unwrap_or_default()
    }
}

fn invalid(block: &Block, error: ValidationError) -> ApplyError {
    ApplyError::Invalid {
        height: block.height,
        error,
    }
}
