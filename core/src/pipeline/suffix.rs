//! The layered state of a validator's uncommitted Raft entries, kept from one entry's check to
//! the next (issue 19).
//!
//! Why: a follower checks each appended entry on top of the uncommitted entries below it. Their
//! effects are cached ([`Known`]), but layering them again into a fresh [`Pending`] (the
//! overlay of state and nonces, the pending state tree) for every new entry cost work
//! proportional to the whole uncommitted suffix: a third of a loaded follower's loop. Kept
//! here, the next entry pushes only itself.
//!
//! Safety rests on block hashes, which pin a block's contents and the whole chain below it.
//! The kept layers record the store tip they were first built on and the blocks layered since,
//! in order. They are reused only when the store's tip is one of those (the store committed
//! exactly the layered blocks up to it: each read still finds the newest layered write first,
//! and the store holds only older ones of the same blocks below it) and the uncommitted
//! blocks handed in are exactly the layered ones above that tip, in order (more may follow:
//! they are pushed). Anything else (a truncated or replaced suffix, an entry re-sent on
//! another parent, a tip reached by another road, a restart) builds afresh from the store.

use super::pending::Layers;
use super::{BlockError, ChainReads, Executed, Known, Pending, Prepared, Rules};
use crate::model::Block;
use std::sync::Arc;

/// Layered blocks the store has committed since the layers were built, after which they are
/// built afresh: they keep the writes of committed blocks, so they grow until then.
const MAX_COMMITTED: usize = 32;

/// A validator's kept layers (see the module). Owned by the node's Raft state, next to the
/// [`Known`] effects of the same entries; empty until the first check.
#[derive(Default)]
pub struct SuffixLayers {
    kept: Option<Kept>,
}

struct Kept {
    /// The store tip the layers were first built on, then each layered block, by hash.
    chain: Vec<String>,
    layers: Layers,
}

/// The state after a run of uncommitted blocks, lent out by [`SuffixLayers::open`] and given
/// back with [`SuffixLayers::keep`]. Its [`Pending`] is only lent on: over a store that
/// committed part of the layered blocks, its tree changes are not the ones to commit.
pub struct Suffix<'a, R> {
    pending: Pending<'a, R>,
    chain: Vec<String>,
}

impl<'a, R: ChainReads> Suffix<'a, R> {
    /// The state after the blocks layered so far.
    pub fn pending(&self) -> &Pending<'a, R> {
        &self.pending
    }

    /// Layers one more block (its effects from [`Pending::check`] or [`Known`]).
    pub fn push(&mut self, block: &Block, prepared: Prepared) -> Arc<Executed> {
        self.chain.push(block.hash.clone());
        self.pending.push(block, prepared)
    }
}

impl SuffixLayers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops the kept layers (the next check builds afresh).
    pub fn clear(&mut self) {
        self.kept = None;
    }

    /// The hashes the kept layers are keyed by: the store tip they were built on, then each
    /// layered block in order (empty: nothing kept). For tests and diagnostics.
    pub fn chain(&self) -> &[String] {
        self.kept.as_ref().map_or(&[], |k| &k.chain[..])
    }

    /// The state after `blocks` (consecutive, the first on `reads`' tip): the kept layers when
    /// they lie on this chain (see the module), the blocks beyond them pushed; otherwise
    /// built afresh. Blocks not in `known` are checked and added to it. Err: the first block
    /// refused (the layers below it are kept).
    pub fn open<'a, R: ChainReads>(
        &mut self,
        reads: &'a R,
        rules: &'a Rules,
        blocks: &[&Block],
        known: &mut Known,
    ) -> Result<Suffix<'a, R>, BlockError> {
        let tip = reads.tip().hash;
        let reused = self.kept.take().and_then(|kept| {
            let done = reusable(&kept.chain, &tip, blocks)?;
            Some((kept, done))
        });
        let (pending, chain, done) = match reused {
            Some((kept, done)) => (
                Pending::from_layers(reads, rules, kept.layers),
                kept.chain,
                done,
            ),
            None => (Pending::new(reads, rules), vec![tip], 0),
        };
        let mut suffix = Suffix { pending, chain };
        let rest = &blocks[done..];
        let mut accepted = 0;
        let refused = suffix
            .pending
            .layer_into(rest, None, Some(known), |_, _| accepted += 1);
        (suffix.chain).extend(rest[..accepted].iter().map(|b| b.hash.clone()));
        match refused {
            None => Ok(suffix),
            Some(error) => {
                self.keep(suffix);
                Err(error)
            }
        }
    }

    /// Keeps `suffix` (with whatever was pushed into it) for the next [`SuffixLayers::open`].
    pub fn keep<R: ChainReads>(&mut self, suffix: Suffix<'_, R>) {
        self.kept = Some(Kept {
            chain: suffix.chain,
            layers: suffix.pending.into_layers(),
        });
    }
}

/// How many of `blocks` the layers keyed by `chain` already hold, if they can be reused over
/// a store whose tip is `tip`: the tip is in `chain` (not too far in), and the layered blocks
/// above it are `blocks`' first ones, in order.
fn reusable(chain: &[String], tip: &str, blocks: &[&Block]) -> Option<usize> {
    let at = chain.iter().rposition(|hash| hash == tip)?;
    if at > MAX_COMMITTED {
        return None;
    }
    let above = &chain[at + 1..];
    let same = blocks.len() >= above.len()
        && blocks
            .iter()
            .zip(above)
            .all(|(block, hash)| block.hash == *hash);
    same.then_some(above.len())
}
