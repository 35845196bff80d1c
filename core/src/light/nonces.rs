//! Each sender's next nonce, for replay and gap checks on a light client, in bounded memory.
//!
//! While the number of senders stays under the capacity, the checks are exact (the same as a
//! full node's). Past it, the least recently active senders are forgotten; a forgotten sender's
//! next transaction is then taken at its word (its nonce becomes the new baseline), so replays
//! of such a sender's old transactions are no longer caught. `is_exact` says which regime holds.

use crate::model::Block;
use crate::validation::{check_nonces, NonceView, ValidationError};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct NonceTracker {
    /// sender → (next nonce, height of its last transaction)
    next: HashMap<String, (u64, u64)>,
    capacity: usize,
    exact: bool,
}

/// The view `check_nonces` reads: tracked senders exactly; untracked ones start at 0 while the
/// tracker is exact, or at their first nonce in the block once it is not.
struct View<'a> {
    tracker: &'a NonceTracker,
    baseline: HashMap<&'a str, u64>,
}

impl NonceView for View<'_> {
    fn next_nonce(&self, sender: &str) -> u64 {
        match self.tracker.next.get(sender) {
            Some(&(next, _)) => next,
            None => self.baseline.get(sender).copied().unwrap_or(0),
        }
    }
}

impl NonceTracker {
    pub fn new(capacity: usize) -> Self {
        NonceTracker {
            next: HashMap::new(),
            capacity: capacity.max(1),
            exact: true,
        }
    }

    /// Whether no sender was ever forgotten (every check so far was exact).
    pub fn is_exact(&self) -> bool {
        self.exact
    }

    pub fn len(&self) -> usize {
        self.next.len()
    }

    pub fn is_empty(&self) -> bool {
        self.next.is_empty()
    }

    /// The nonce the sender's next transaction must carry, if known.
    pub fn next_nonce(&self, sender: &str) -> Option<u64> {
        match self.next.get(sender) {
            Some(&(next, _)) => Some(next),
            None if self.exact => Some(0),
            None => None,
        }
    }

    /// Checks `block`'s nonces; returns each sender's next nonce after it (for [`Self::commit`]).
    pub fn check(&self, block: &Block) -> Result<HashMap<String, u64>, ValidationError> {
        let mut baseline = HashMap::new();
        if !self.exact {
            for tx in &block.transactions {
                if !self.next.contains_key(&tx.sender) {
                    baseline.entry(tx.sender.as_str()).or_insert(tx.nonce);
                }
            }
        }
        check_nonces(
            block,
            &View {
                tracker: self,
                baseline,
            },
        )
    }

    /// Records the nonces of a verified block at `height`, forgetting the least recently active
    /// eighth of the senders when over capacity (amortised: one sort per eviction round).
    pub fn commit(&mut self, updates: HashMap<String, u64>, height: u64) {
        for (sender, next) in updates {
            self.next.insert(sender, (next, height));
        }
        if self.next.len() <= self.capacity {
            return;
        }
        let keep = self.capacity - self.capacity / 8;
        let mut by_age: Vec<(u64, String)> = self
            .next
            .iter()
            .map(|(sender, &(_, last))| (last, sender.clone()))
            .collect();
        by_age.sort_unstable();
        let drop = self.next.len() - keep;
        for (_, sender) in by_age.into_iter().take(drop) {
            self.next.remove(&sender);
        }
        self.exact = false;
    }
}
