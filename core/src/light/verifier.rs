//! LightVerifier: the chain as a light client holds it — the tip header, a bounded window of
//! recent blocks, and bounded nonce tracking — and the check of each next block against it.
//!
//! Checking and committing are two steps ([`LightVerifier::check`] then
//! [`LightVerifier::commit`]) so a rejected block changes nothing.

use super::nonces::NonceTracker;
use crate::model::{Block, BlockHeader};
use crate::pipeline::Governance;
#[cfg(feature = "light-governance")]
use crate::state::StateDelta;
use crate::validation::{verify_block, Limits, ValidationError, ValidatorSet};
use std::collections::{HashMap, VecDeque};

/// On-chain governance as a light client follows it: the governance part of world state
/// (proposals and the set in force), kept by executing every verified block's governance
/// transactions with the full nodes' code. It reads and writes only `_gov:` keys, which nothing
/// else writes, so it needs none of the rest of the state: the light client follows every
/// validator-set change from the genesis set on, trusting no node for it.
#[cfg(feature = "light-governance")]
#[derive(Debug, Clone)]
struct Governed {
    genesis: Vec<String>,
    /// The `_gov:` keys, deletions kept as `None` (governance deletes nothing today; one map
    /// type, the pipeline's delta, instead of a second one in the wasm).
    state: StateDelta,
}

#[cfg(feature = "light-governance")]
impl crate::state::StateView for Governed {
    fn get(&self, key: &str) -> Option<crate::state::StateEntry> {
        self.state.get(key).cloned().flatten()
    }
}

#[cfg(feature = "light-governance")]
impl Governed {
    /// Executes `block`'s governance; the new set in force if it changed.
    fn follow(&mut self, block: &Block) -> Option<ValidatorSet> {
        if !block
            .transactions
            .iter()
            .any(|tx| tx.payload.body().is_governance())
        {
            return None;
        }
        let mut delta = StateDelta::new();
        let change = crate::governance::execute(block, &*self, &mut delta, &self.genesis);
        // Receipts are not read by governance: only its own keys are kept.
        let own = delta
            .into_iter()
            .filter(|(key, _)| key.starts_with(crate::governance::PREFIX));
        self.state.extend(own);
        change.map(|_| ValidatorSet::new(crate::governance::validators(&*self, &self.genesis)))
    }
}

/// Counters since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifierStats {
    pub blocks_verified: u64,
    pub txs_verified: u64,
    pub blocks_rejected: u64,
}

/// Proof that a block passed [`LightVerifier::check`]: the nonce updates it makes.
#[derive(Debug)]
pub struct Checked {
    height: u64,
    nonces: HashMap<String, u64>,
}

#[derive(Debug, Clone)]
pub struct LightVerifier {
    /// The set in force for the next block.
    validators: ValidatorSet,
    /// Under on-chain governance: what makes `validators` change.
    #[cfg(feature = "light-governance")]
    governed: Option<Governed>,
    limits: Limits,
    tip: BlockHeader,
    /// Ascending heights ending at the tip; at most `recent_blocks` blocks and (roughly)
    /// `recent_bytes` bytes of transactions, but always the tip block itself.
    recent: VecDeque<(Block, usize)>,
    recent_size: usize,
    recent_blocks: usize,
    recent_bytes: usize,
    nonces: NonceTracker,
    stats: VerifierStats,
}

impl LightVerifier {
    /// Starts at genesis, trusting `validators` as the only block proposers (under
    /// [`Governance::OnChain`]: the genesis set, changed by approved proposals from then on).
    pub fn new(
        validators: ValidatorSet,
        governance: Governance,
        limits: Limits,
        recent_blocks: usize,
        recent_bytes: usize,
        max_tracked_senders: usize,
    ) -> Self {
        #[cfg(feature = "light-governance")]
        let governed = (governance == Governance::OnChain).then(|| Governed {
            genesis: validators.keys().to_vec(),
            state: StateDelta::new(),
        });
        #[cfg(not(feature = "light-governance"))]
        assert!(
            governance == Governance::Recorded,
            "this build follows no governance (core feature `light-governance`)"
        );
        LightVerifier {
            validators,
            #[cfg(feature = "light-governance")]
            governed,
            limits,
            tip: Block::genesis().header(),
            recent: VecDeque::new(),
            recent_size: 0,
            recent_blocks: recent_blocks.max(1),
            recent_bytes,
            nonces: NonceTracker::new(max_tracked_senders),
            stats: VerifierStats::default(),
        }
    }

    pub fn validators(&self) -> &ValidatorSet {
        &self.validators
    }

    pub fn tip(&self) -> &BlockHeader {
        &self.tip
    }

    pub fn height(&self) -> u64 {
        self.tip.height
    }

    pub fn stats(&self) -> VerifierStats {
        self.stats
    }

    pub fn nonces(&self) -> &NonceTracker {
        &self.nonces
    }

    /// A verified block still in the recent window.
    pub fn block(&self, height: u64) -> Option<&Block> {
        let first = self.recent.front()?.0.height;
        let index = usize::try_from(height.checked_sub(first)?).ok()?;
        self.recent.get(index).map(|(block, _)| block)
    }

    /// The recent window, oldest first.
    pub fn recent(&self) -> impl DoubleEndedIterator<Item = &Block> {
        self.recent.iter().map(|(block, _)| block)
    }

    /// Checks `block` as the child of the tip: every stateless rule of a full node (header,
    /// limits, transactions, proposer, signatures) and the nonces. Counts a rejection.
    pub fn check(&mut self, block: &Block, now_ms: u64) -> Result<Checked, ValidationError> {
        let result = verify_block(block, &self.tip, &self.validators, &self.limits, now_ms)
            .and_then(|()| self.nonces.check(block));
        match result {
            Ok(nonces) => Ok(Checked {
                height: block.height,
                nonces,
            }),
            Err(e) => {
                self.stats.blocks_rejected += 1;
                Err(e)
            }
        }
    }

    /// Makes a checked block the tip. Panics if it is not the block that was checked against
    /// the current tip (a driver bug, not a peer's fault).
    pub fn commit(&mut self, block: Block, checked: Checked) {
        assert!(
            checked.height == block.height && block.height == self.tip.height + 1,
            "commit of a block that was not checked against the tip"
        );
        self.nonces.commit(checked.nonces, block.height);
        #[cfg(feature = "light-governance")]
        if let Some(set) = self.governed.as_mut().and_then(|g| g.follow(&block)) {
            self.validators = set;
        }
        self.stats.blocks_verified += 1;
        self.stats.txs_verified += block.transactions.len() as u64;
        self.tip = block.header();
        let size = approximate_size(&block);
        self.recent.push_back((block, size));
        self.recent_size += size;
        while self.recent.len() > 1
            && (self.recent.len() > self.recent_blocks || self.recent_size > self.recent_bytes)
        {
            let (_, size) = self.recent.pop_front().expect("len > 1");
            self.recent_size -= size;
        }
    }

    /// Check and commit in one call.
    pub fn verify_next(&mut self, block: Block, now_ms: u64) -> Result<(), ValidationError> {
        let checked = self.check(&block, now_ms)?;
        self.commit(block, checked);
        Ok(())
    }
}

/// About the memory a block holds: its payloads plus the fixed-size fields of each transaction.
fn approximate_size(block: &Block) -> usize {
    const PER_TX: usize = 64 + 64 + 128 + 16 + 200; // hashes, key, signature, type, overhead
    block
        .transactions
        .iter()
        .map(|tx| tx.payload.json().len() + PER_TX)
        .sum::<usize>()
        + 600
}
