//! What the pipeline reads of the committed chain ([`ChainReads`]), and [`MemoryChain`], the
//! in-memory store behind it for the reference chain, tests and simulators (the native node's
//! SQLite store is the other implementation).

use super::Verdict;
use crate::model::{Block, BlockHeader};
use crate::state::commitment::jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use crate::state::commitment::jmt::{KeyHash, OwnedValue, Version};
use crate::state::commitment::MemoryTree;
use crate::state::{reproducible_by_miniledger, MemoryState, StateEntry, StateView};
use crate::validation::NonceView;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The committed chain as the pipeline sees it: world state, sender nonces and the state tree
/// as of the tip. Reads cannot fail here; a store whose reads can (SQLite) answers "absent"
/// and must refuse the next commit itself, so nothing computed from a failed read is stored.
pub trait ChainReads: StateView + NonceView + TreeReader {
    /// Header of the highest committed block.
    fn tip(&self) -> BlockHeader;
    /// Newest state-tree version (None: no state was ever written).
    fn tree_version(&self) -> Option<Version>;
    /// Whether the store keeps our state tree at all (the native node always does: proofs are
    /// served from it; the in-memory chain only when blocks carry its root).
    fn keeps_tree(&self) -> bool {
        true
    }
    /// Whether a committed block holds a transaction with this hash (replays under
    /// `ReplayRule::TxHash`).
    fn contains_transaction(&self, hash: &str) -> bool;
    /// True while every committed transaction is one whose state effects MiniLedger 0.2
    /// derives the way we do (`state::reproducible_by_miniledger`): its roots are checkable.
    fn miniledger_reproducible(&self) -> bool;
    /// MiniLedger 0.2's root of the committed state with `pending` writes (`None`: deleted)
    /// layered on top. O(state): compat mode only.
    fn miniledger_root_with(
        &self,
        pending: &BTreeMap<String, Option<StateEntry>>,
    ) -> Result<String, String>;
}

/// A chain's committed state held in memory: commits what the pipeline accepted, checks
/// nothing itself (the native store's counterpart).
#[derive(Debug, Clone)]
pub struct MemoryChain {
    tip: BlockHeader,
    state: MemoryState,
    nonces: HashMap<String, u64>,
    tx_hashes: HashSet<String>,
    tree: MemoryTree,
    keeps_tree: bool,
    reproducible: bool,
}

impl MemoryChain {
    /// Genesis only. `keeps_tree`: maintain our state tree (see [`ChainReads::keeps_tree`]).
    pub fn new(keeps_tree: bool) -> Self {
        MemoryChain {
            tip: Block::genesis().header(),
            state: MemoryState::default(),
            nonces: HashMap::new(),
            tx_hashes: HashSet::new(),
            tree: MemoryTree::default(),
            keeps_tree,
            reproducible: true,
        }
    }

    pub fn state(&self) -> &MemoryState {
        &self.state
    }

    /// The root of our state tree (what `StateRootRule::Tree` blocks carry).
    pub fn tree_root(&self) -> String {
        self.tree.root().expect("an in-memory tree has every node")
    }

    /// Commits the prefix of `blocks` that `verdict` accepted, with its effects. `blocks` must
    /// be the run the verdict was given for, on this chain's tip.
    pub fn commit(&mut self, blocks: &[&Block], verdict: Verdict) {
        let Verdict { accepted, tree, .. } = verdict;
        assert!(accepted.len() <= blocks.len(), "a verdict for another run");
        for (block, executed) in blocks.iter().zip(accepted) {
            assert_eq!(block.previous_hash, self.tip.hash, "a run on another tip");
            let executed = std::sync::Arc::unwrap_or_clone(executed);
            self.state.apply(executed.delta);
            self.nonces.extend(executed.next_nonces);
            self.tx_hashes
                .extend(block.transactions.iter().map(|tx| tx.hash.clone()));
            self.reproducible &= reproducible_by_miniledger(block);
            self.tip = block.header();
        }
        self.tree.absorb(tree);
    }
}

impl StateView for MemoryChain {
    fn get(&self, key: &str) -> Option<StateEntry> {
        self.state.get(key)
    }
}

impl NonceView for MemoryChain {
    fn next_nonce(&self, sender: &str) -> u64 {
        self.nonces.next_nonce(sender)
    }
}

impl TreeReader for MemoryChain {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        self.tree.get_node_option(node_key)
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        self.tree.get_value_option(max_version, key_hash)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        Ok(None)
    }
}

impl ChainReads for MemoryChain {
    fn tip(&self) -> BlockHeader {
        self.tip.clone()
    }

    fn tree_version(&self) -> Option<Version> {
        self.tree.version()
    }

    fn keeps_tree(&self) -> bool {
        self.keeps_tree
    }

    fn contains_transaction(&self, hash: &str) -> bool {
        self.tx_hashes.contains(hash)
    }

    fn miniledger_reproducible(&self) -> bool {
        self.reproducible
    }

    fn miniledger_root_with(
        &self,
        pending: &BTreeMap<String, Option<StateEntry>>,
    ) -> Result<String, String> {
        let mut merged: BTreeMap<&str, &StateEntry> =
            self.state.entries().map(|(k, e)| (k.as_str(), e)).collect();
        for (key, entry) in pending {
            match entry {
                Some(entry) => merged.insert(key, entry),
                None => merged.remove(key.as_str()),
            };
        }
        Ok(crate::state::miniledger_root(merged))
    }
}
