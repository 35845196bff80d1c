//! World state and sender nonces as they will be once a run of validated, not yet committed
//! blocks is stored: their writes layered over a base view (the store). Validating a synced run
//! block by block against an `Overlay` lets later blocks see the effects of earlier ones, so the
//! whole run can then be committed in one transaction.

use crate::state::{StateDelta, StateEntry, StateView};
use crate::validation::NonceView;
use std::collections::{BTreeMap, HashMap};

/// An [`Overlay`]'s pending writes and next nonces without its base.
pub(crate) type OverlayParts = (BTreeMap<String, Option<StateEntry>>, HashMap<String, u64>);

/// Pending state writes and next nonces over `base`. The latest pushed block wins.
pub struct Overlay<'a, V> {
    base: &'a V,
    /// `None`: deleted by a pending block. Ordered, for MiniLedger's root (compat mode).
    state: BTreeMap<String, Option<StateEntry>>,
    nonces: HashMap<String, u64>,
}

impl<'a, V> Overlay<'a, V> {
    pub fn new(base: &'a V) -> Self {
        Overlay {
            base,
            state: BTreeMap::new(),
            nonces: HashMap::new(),
        }
    }

    /// Layers one more block's effects on top: its state `delta` and each sender's
    /// `next_nonces` after it (as `execute_block` and `check_nonces` return them).
    pub fn push(&mut self, delta: &StateDelta, next_nonces: &HashMap<String, u64>) {
        for (key, entry) in delta {
            self.state.insert(key.clone(), entry.clone());
        }
        for (sender, next) in next_nonces {
            self.nonces.insert(sender.clone(), *next);
        }
    }

    /// The pending writes and nonces, to put back over a base later ([`Overlay::from_parts`]).
    pub(crate) fn into_parts(self) -> OverlayParts {
        (self.state, self.nonces)
    }

    /// An overlay of earlier [`Overlay::into_parts`] over `base`.
    pub(crate) fn from_parts(base: &'a V, (state, nonces): OverlayParts) -> Self {
        Overlay {
            base,
            state,
            nonces,
        }
    }

    /// The pending state writes, by key (`None`: deleted).
    pub fn pending_state(&self) -> &BTreeMap<String, Option<StateEntry>> {
        &self.state
    }

    /// True while nothing has been pushed.
    pub fn is_empty(&self) -> bool {
        self.state.is_empty() && self.nonces.is_empty()
    }
}

impl<V: StateView> StateView for Overlay<'_, V> {
    fn get(&self, key: &str) -> Option<StateEntry> {
        match self.state.get(key) {
            Some(pending) => pending.clone(),
            None => self.base.get(key),
        }
    }
}

impl<V: NonceView> NonceView for Overlay<'_, V> {
    fn next_nonce(&self, sender: &str) -> u64 {
        match self.nonces.get(sender) {
            Some(&next) => next,
            None => self.base.next_nonce(sender),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MemoryState;

    fn entry(value: &str, version: u64) -> Option<StateEntry> {
        Some(StateEntry {
            value: value.into(),
            version,
        })
    }

    #[test]
    fn pending_writes_shadow_the_base() {
        let mut base = MemoryState::default();
        base.apply(StateDelta::from([
            ("a".to_string(), entry("1", 1)),
            ("b".to_string(), entry("2", 1)),
        ]));
        let nonces = HashMap::from([("alice".to_string(), 3)]);
        struct Base(MemoryState, HashMap<String, u64>);
        impl StateView for Base {
            fn get(&self, key: &str) -> Option<StateEntry> {
                self.0.get(key)
            }
        }
        impl NonceView for Base {
            fn next_nonce(&self, sender: &str) -> u64 {
                self.1.next_nonce(sender)
            }
        }
        let base = Base(base, nonces);

        let mut overlay = Overlay::new(&base);
        assert!(overlay.is_empty());
        overlay.push(
            &StateDelta::from([("a".to_string(), entry("10", 2)), ("b".to_string(), None)]),
            &HashMap::from([("bob".to_string(), 1)]),
        );
        overlay.push(
            &StateDelta::from([("a".to_string(), entry("11", 3))]),
            &HashMap::from([("alice".to_string(), 4), ("bob".to_string(), 2)]),
        );
        assert!(!overlay.is_empty());
        assert_eq!(overlay.get("a"), entry("11", 3));
        assert_eq!(overlay.get("b"), None, "deleted by a pending block");
        assert_eq!(overlay.get("c"), None);
        assert_eq!(overlay.next_nonce("alice"), 4);
        assert_eq!(overlay.next_nonce("bob"), 2);
        assert_eq!(overlay.next_nonce("carol"), 0);
        // The base is untouched.
        assert_eq!(base.get("b"), entry("2", 1));
        assert_eq!(base.next_nonce("alice"), 3);
    }
}
