//! The block pipeline: check a run of blocks against the committed chain and say what to
//! commit. Every way a block reaches a chain goes through it — BlockSync runs, Raft entries
//! (checked when appended, then committed), announced blocks, and the blocks a producer
//! builds — so a block is accepted under one set of rules whatever its road. Sans-IO: the
//! committed chain is read through [`ChainReads`] (the native SQLite store, or
//! [`MemoryChain`]), and the answer is a [`Verdict`]: the longest valid prefix of the run
//! with its effects (state deltas, next nonces, state-tree changes), and why the block after
//! it was refused. Stores commit verdicts and check nothing themselves.
//!
//! Steps: the stateless rules (`validation::verify_blocks`: header, limits, every signature;
//! the costly part, which a caller may run elsewhere first, e.g. on worker threads), then the
//! state step ([`Pending`]: nonces, execution, the state tree and the `stateRoot` rule), block
//! by block over the effects of the earlier ones.

mod overlay;
mod pending;
mod produce;
mod reads;
mod suffix;

pub use overlay::Overlay;
pub use pending::{Executed, Known, Pending, Prepared};
pub use produce::build;
pub use reads::{ChainReads, MemoryChain};
pub use suffix::{Suffix, SuffixLayers};

use crate::model::Block;
use crate::state::commitment::TreeChanges;
use crate::validation::{verify_block, verify_blocks, Limits, Rule, ValidationError, ValidatorSet};
use std::borrow::Borrow;
use std::sync::Arc;

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

/// Whether governance transactions act (see `governance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Governance {
    /// MiniLedger 0.2's networks: proposals and votes are recorded in blocks and change no
    /// state; the validator set is fixed.
    Recorded,
    /// Ours: proposals, votes and outcomes are state, and approved proposals change the
    /// validator set, so each block is checked against the set in force at its height.
    OnChain,
}

/// The rules a chain accepts blocks under.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The validator set (the genesis one under [`Governance::OnChain`]).
    pub validators: ValidatorSet,
    pub limits: Limits,
    /// Ours ([`StateRootRule::Tree`]) unless the chain is a MiniLedger 0.2 network's.
    pub state_root: StateRootRule,
    pub governance: Governance,
}

impl Rules {
    /// The set the stateless rules check proposers against: none under on-chain governance,
    /// where the set in force at each height is state and the state step checks it.
    pub fn stateless_validators(&self) -> Option<&ValidatorSet> {
        match self.governance {
            Governance::Recorded => Some(&self.validators),
            Governance::OnChain => None,
        }
    }
}

/// Why a block was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// It breaks a rule.
    #[error("block {height} rejected: {error}")]
    Invalid { height: u64, error: ValidationError },
    /// The committed state it builds on could not be read (the store's fault, not the
    /// block's: the same block may be accepted once the store reads again).
    #[error("block {height}: the state could not be read: {detail}")]
    Unreadable { height: u64, detail: String },
}

impl BlockError {
    pub fn height(&self) -> u64 {
        match self {
            BlockError::Invalid { height, .. } | BlockError::Unreadable { height, .. } => *height,
        }
    }

    /// The broken rule, if the block broke one.
    pub fn rule(&self) -> Option<Rule> {
        match self {
            BlockError::Invalid { error, .. } => Some(error.rule),
            BlockError::Unreadable { .. } => None,
        }
    }
}

/// What to commit of a run: its longest valid prefix.
#[derive(Debug, Default)]
pub struct Verdict {
    /// The effects of each accepted block, from the run's first: commit them with
    /// `blocks[..accepted.len()]`.
    pub accepted: Vec<Arc<Executed>>,
    /// The state tree's net changes after the accepted prefix (commit with it).
    pub tree: TreeChanges,
    /// Why the block after the prefix was refused (None: the whole run was accepted).
    pub refused: Option<BlockError>,
}

/// Checks `blocks` (consecutive, the first on `reads`' tip) with every rule, at local time
/// `now_ms` (the future-timestamp bound): stateless rules for the whole run first (one batch
/// of signatures), then the state step.
pub fn check<R: ChainReads>(reads: &R, rules: &Rules, blocks: &[Block], now_ms: u64) -> Verdict {
    let tip = reads.tip();
    let stateless = verify_blocks(
        blocks,
        &tip,
        rules.stateless_validators(),
        &rules.limits,
        now_ms,
    )
    .err();
    check_verified(reads, rules, blocks, stateless, None)
}

/// [`check`] after the stateless rules ran elsewhere (`validation::verify_blocks` over the
/// same run on the same tip) and found `stateless` (the first failing block's position and
/// error). `known`: effects checked earlier, by block hash, reused and added to.
pub fn check_verified<R: ChainReads, B: Borrow<Block>>(
    reads: &R,
    rules: &Rules,
    blocks: &[B],
    stateless: Option<(usize, ValidationError)>,
    known: Option<&mut Known>,
) -> Verdict {
    let mut pending = Pending::new(reads, rules);
    let (accepted, refused) = pending.layer(blocks, stateless, known);
    Verdict {
        accepted,
        tree: pending.into_tree_changes(),
        refused,
    }
}

/// Raft's follower check of a new log entry: `block` on top of the uncommitted entries
/// `before` (consecutive, the first on the tip). On success its effects are in `known`, so
/// neither the entries after it nor its commit execute it again. `layers`: the layered state
/// of the uncommitted entries, reused when it lies on `before` (see [`SuffixLayers`]) and left
/// holding `before` and, if accepted, `block`.
pub fn check_entry<R: ChainReads>(
    reads: &R,
    rules: &Rules,
    known: &mut Known,
    layers: &mut SuffixLayers,
    before: &[&Block],
    block: &Block,
    now_ms: u64,
) -> Result<(), BlockError> {
    let parent = before.last().map_or_else(|| reads.tip(), |b| b.header());
    if known.contains_key(&block.hash) {
        // Checked before (a re-sent entry): its hash pins its contents and parent.
        if block.previous_hash == parent.hash {
            return Ok(());
        }
        let detail = "a checked entry re-sent on another parent";
        return Err(BlockError::Invalid {
            height: block.height,
            error: ValidationError::new(Rule::BlockPreviousHash, detail),
        });
    }
    let stateless = verify_block(
        block,
        &parent,
        rules.stateless_validators(),
        &rules.limits,
        now_ms,
    );
    // The entries below first, as a run is checked: an earlier refusal comes first.
    let mut suffix = layers.open(reads, rules, before, known)?;
    let checked = match stateless {
        Ok(()) => suffix.pending().check(block),
        Err(error) => Err(BlockError::Invalid {
            height: block.height,
            error,
        }),
    };
    let accepted = checked.map(|prepared| {
        known.insert(block.hash.clone(), prepared.clone()); // shared
        suffix.push(block, prepared);
    });
    layers.keep(suffix);
    accepted
}
