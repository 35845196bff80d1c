//! The state step over blocks not yet committed: nonces (or hash replays), execution and the
//! `stateRoot` rule, each block seeing the effects of the pending ones before it (state and
//! nonces through an [`Overlay`], the state tree through a [`PendingTree`]).

use super::overlay::{Overlay, OverlayParts};
use super::reads::ChainReads;
use super::{BlockError, Governance, Rules};
use crate::chain::StateRootRule;
use crate::model::Block;
use crate::raft::ConfigChange;
use crate::state::commitment::jmt::storage::TreeUpdateBatch;
use crate::state::commitment::{PendingTree, TreeChanges};
use crate::state::{reproducible_by_miniledger, StateDelta, StateView};
use crate::validation::{
    check_nonces, check_proposer, check_state_root, check_tx_hash_replays, ReplayRule,
    ValidationError,
};
use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One block's checked effects on state and nonces: what a store commits with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    pub delta: StateDelta,
    pub next_nonces: HashMap<String, u64>,
    /// The validator-set change an approved governance proposal made (under
    /// [`Governance::OnChain`]): the Raft entry carrying this block changes membership.
    pub change: Option<ConfigChange>,
}

/// A block's effects computed but not yet layered (see [`Pending::prepare`]). Raft keeps
/// them by block hash (a hash pins the whole chain below the block, hence the state it
/// executes on), so an uncommitted block is executed once, not at every step. Shared, not
/// copied: a block's effects are layered more than once (its check, its commit, a rebuilt
/// [`super::SuffixLayers`]; deep copies of them were 15 % of a loaded follower's loop).
#[derive(Clone)]
pub struct Prepared {
    /// The `stateRoot` the block must carry (None: the rule does not check it).
    pub root: Option<String>,
    executed: Arc<Executed>,
    tree: Option<Arc<TreeUpdateBatch>>,
}

impl Prepared {
    /// The validator-set change the block makes (see [`Executed::change`]).
    pub fn change(&self) -> Option<&ConfigChange> {
        self.executed.change.as_ref()
    }
}

/// Effects already checked, by block hash (Raft's uncommitted entries).
pub type Known = HashMap<String, Prepared>;

/// The state after the store's tip and the pending blocks pushed so far.
pub struct Pending<'a, R> {
    reads: &'a R,
    /// The genesis validator set under [`Governance::OnChain`] (None: governance is recorded).
    governance: Option<&'a [String]>,
    rule: StateRootRule,
    replay: ReplayRule,
    /// Transaction hashes of the pushed blocks (replays under [`ReplayRule::TxHash`]).
    pushed_hashes: HashSet<String>,
    overlay: Overlay<'a, R>,
    /// None: the store keeps no tree ([`ChainReads::keeps_tree`]).
    tree: Option<PendingTree<'a, R>>,
    /// MiniLedger's root stays checkable (compat mode; see `reproducible_by_miniledger`).
    reproducible: bool,
}

/// What a [`Pending`] layered, without the store it is layered over: kept between a
/// follower's entries by [`super::SuffixLayers`], which alone puts it back over a store.
pub(super) struct Layers {
    overlay: OverlayParts,
    pushed_hashes: HashSet<String>,
    tree: Option<TreeChanges>,
    reproducible: bool,
}

impl<'a, R: ChainReads> Pending<'a, R> {
    pub fn new(reads: &'a R, rules: &'a Rules) -> Self {
        Pending {
            reads,
            governance: (rules.governance == Governance::OnChain).then(|| rules.validators.keys()),
            rule: rules.state_root,
            replay: rules.limits.replay,
            pushed_hashes: HashSet::new(),
            overlay: Overlay::new(reads),
            tree: reads
                .keeps_tree()
                .then(|| PendingTree::new(reads, reads.tree_version())),
            reproducible: reads.miniledger_reproducible(),
        }
    }

    /// Takes the layers apart from the store (see [`Layers`]).
    pub(super) fn into_layers(self) -> Layers {
        Layers {
            overlay: self.overlay.into_parts(),
            pushed_hashes: self.pushed_hashes,
            tree: self.tree.map(PendingTree::into_changes),
            reproducible: self.reproducible,
        }
    }

    /// Puts `layers` back over `reads`. Correct only if `reads` is the store they were layered
    /// over, or that store after committing a prefix of the blocks layered in them (each read
    /// then finds the newest layered write first, and the store holds only older ones below
    /// it); [`super::SuffixLayers`] checks this by block hashes. The tree changes of such a
    /// `Pending` are not the net changes over `reads`: it checks blocks, it never commits.
    pub(super) fn from_layers(reads: &'a R, rules: &'a Rules, layers: Layers) -> Self {
        let mut pending = Pending::new(reads, rules);
        pending.overlay = Overlay::from_parts(reads, layers.overlay);
        pending.pushed_hashes = layers.pushed_hashes;
        pending.tree = match (pending.tree, layers.tree) {
            (Some(_), Some(changes)) => Some(PendingTree::from_changes(reads, changes)),
            (tree, _) => tree,
        };
        pending.reproducible = layers.reproducible;
        pending
    }

    /// Next nonces after the store and the pushed blocks (what the next block must use).
    pub fn nonces(&self) -> &Overlay<'a, R> {
        &self.overlay
    }

    /// A received block's state rules (nonces, then its `stateRoot` under the rule), its
    /// effects not yet layered.
    pub fn check(&self, block: &Block) -> Result<Prepared, BlockError> {
        if let Some(genesis) = self.governance {
            let set = crate::governance::validators(&self.overlay, genesis);
            check_proposer(block, &set).map_err(|error| invalid(block, error))?;
        }
        let prepared = self.prepare(block)?;
        if let Some(expected) = &prepared.root {
            check_state_root(block, expected).map_err(|error| invalid(block, error))?;
        }
        Ok(prepared)
    }

    /// Production (and [`Pending::check`]): the `stateRoot` a block with `draft`'s
    /// transactions must carry on top of the pending state, and its effects. Only the
    /// transactions and height of `draft` are read.
    pub fn prepare(&self, draft: &Block) -> Result<Prepared, BlockError> {
        let next_nonces = match self.replay {
            ReplayRule::Nonces => check_nonces(draft, &self.overlay),
            ReplayRule::TxHash => check_tx_hash_replays(draft, &self.overlay, |hash| {
                self.pushed_hashes.contains(hash) || self.reads.contains_transaction(hash)
            }),
        }
        .map_err(|e| invalid(draft, e))?;
        let unreadable = |detail: String| BlockError::Unreadable {
            height: draft.height,
            detail,
        };
        let mut delta = execute(draft, &self.overlay).map_err(unreadable)?;
        // Governance reads and writes only `_gov:` keys and its receipts, which nothing else
        // may write: running it after the block's other transactions gives the same state as
        // running every transaction in order.
        let change = self.governance.and_then(|genesis| {
            crate::governance::execute(draft, &self.overlay, &mut delta, genesis)
        });
        let (tree_root, tree) = match &self.tree {
            Some(pending) => {
                let (root, batch) = pending
                    .preview(&delta)
                    .map_err(|e| unreadable(e.to_string()))?;
                (Some(root), batch)
            }
            None => (None, None),
        };
        let root = match self.rule {
            StateRootRule::Tree => Some(tree_root.ok_or_else(|| {
                unreadable("the tree rule needs a store that keeps the state tree".into())
            })?),
            // Raft-mode MiniLedger: the root of the state *before* the block, while our state
            // reproduces theirs; after that their value is accepted unchecked.
            StateRootRule::MiniLedgerBefore if self.reproducible => Some(
                self.reads
                    .miniledger_root_with(self.overlay.pending_state())
                    .map_err(unreadable)?,
            ),
            StateRootRule::MiniLedgerBefore | StateRootRule::Unchecked => None,
        };
        Ok(Prepared {
            root,
            executed: Arc::new(Executed {
                delta,
                next_nonces,
                change,
            }),
            tree: tree.map(Arc::new),
        })
    }

    /// Layers `block`, whose effects were computed by [`Pending::prepare`] or
    /// [`Pending::check`].
    pub fn push(&mut self, block: &Block, prepared: Prepared) -> Arc<Executed> {
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

    /// Checks and layers `blocks` (consecutive, the first on the store's tip) in order, and
    /// stops at the first one refused. `stateless`: the first block that failed the stateless
    /// rules (position, error), refused when reached. `known`: effects checked before, reused
    /// (and new ones added), so a block is executed once however often it is looked at.
    /// Returns the effects of the accepted prefix, and the refusal.
    pub fn layer<B: Borrow<Block>>(
        &mut self,
        blocks: &[B],
        stateless: Option<(usize, ValidationError)>,
        known: Option<&mut Known>,
    ) -> (Vec<Arc<Executed>>, Option<BlockError>) {
        let mut accepted = Vec::with_capacity(blocks.len());
        let refused = self.layer_into(blocks, stateless, known, |_, executed| {
            accepted.push(executed)
        });
        (accepted, refused)
    }

    /// [`Pending::layer`] handing each accepted block's effects to `accept` (with the block's
    /// position) as soon as it is decided, so a store can write it while the next is checked.
    pub fn layer_into<B: Borrow<Block>>(
        &mut self,
        blocks: &[B],
        stateless: Option<(usize, ValidationError)>,
        mut known: Option<&mut Known>,
        mut accept: impl FnMut(usize, Arc<Executed>),
    ) -> Option<BlockError> {
        let (first_bad, mut stateless_error) = match stateless {
            Some((bad, error)) => (bad, Some(error)),
            None => (usize::MAX, None),
        };
        for (i, block) in blocks.iter().enumerate() {
            let block = block.borrow();
            if i == first_bad {
                let error = stateless_error.take().expect("one stateless failure");
                return Some(invalid(block, error));
            }
            let cached = known.as_ref().and_then(|k| k.get(&block.hash)).cloned(); // shared
            let prepared = match cached {
                Some(prepared) => prepared,
                None => match self.check(block) {
                    Ok(prepared) => {
                        if let Some(known) = known.as_mut() {
                            known.insert(block.hash.clone(), prepared.clone());
                        }
                        prepared
                    }
                    Err(error) => return Some(error),
                },
            };
            accept(i, self.push(block, prepared));
        }
        None
    }

    /// The state tree's net changes over the pushed blocks, to commit with them.
    pub fn into_tree_changes(self) -> TreeChanges {
        self.tree.map(PendingTree::into_changes).unwrap_or_default()
    }
}

/// The block's state effects: `state:*` payloads and, with the `contracts` feature, contract
/// calls with their receipts (`contract::block`): every node checking or building a block
/// runs the same code, so the `stateRoot` covers contract results and receipts.
#[cfg(feature = "contracts")]
fn execute(block: &Block, view: &impl StateView) -> Result<StateDelta, String> {
    Ok(crate::contract::block::execute(block, view))
}

/// Without the engine a block holding contract calls cannot be executed: refused as
/// unreadable (the build's limit, not the block's fault) rather than given a wrong state.
#[cfg(not(feature = "contracts"))]
fn execute(block: &Block, view: &impl StateView) -> Result<StateDelta, String> {
    if crate::state::has_contract_calls(block) {
        return Err("this build executes no contracts (core feature `contracts`)".into());
    }
    Ok(crate::state::execute_block(block, view))
}

fn invalid(block: &Block, error: ValidationError) -> BlockError {
    BlockError::Invalid {
        height: block.height,
        error,
    }
}
