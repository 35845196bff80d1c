//! Our `stateRoot`: the root of a Jellyfish Merkle Tree (the `jmt` crate, Diem's design) over
//! world state, so that
//! - a block's root is computed in time proportional to the keys it changes (a path of at most
//!   64 nibbles per key; untouched subtrees keep their hashes), not to the size of the state;
//! - one key's value (or its absence) can later be proven to a light node against a block's root.
//!
//! Leaves: key hash = SHA-256 of the key's UTF-8 bytes; value = canonical JSON
//! `{"value":<canonical value>,"version":<n>}`, so a proof binds the value *and* its version.
//! An empty state has root 64 zeros (as genesis carries), not jmt's placeholder hash.
//!
//! Tree versions: jmt needs consecutive versions, so the tree version is the number of
//! state-changing blocks committed before (blocks that change nothing keep the previous root and
//! write no nodes). Only the newest tree is kept: the nodes each update makes stale are pruned
//! in the same write, so the stored tree is O(state), whatever the chain length.
//!
//! Storage stays with the caller (sans-IO): reads go through jmt's [`TreeReader`], writes come
//! out as a [`TreeUpdateBatch`] to persist with the block. [`MemoryTree`] is the in-memory store.
//!
//! Only nodes are kept, not leaf values: a leaf holds its value's hash, updates never read
//! values, and the value itself is the world state's entry (which the caller stores anyway).
//! [`prove`] takes the entry from the caller. Keeping a second copy of every value keyed by a
//! random hash cost a random B-tree insert per new key, whose price grew with the state.

use super::{StateDelta, StateEntry};
use crate::hash::ZERO_HASH;
use crate::hex;
use jmt::proof::SparseMerkleProof;
use jmt::storage::{LeafNode, Node, NodeKey, TreeReader, TreeUpdateBatch};
use jmt::{KeyHash, OwnedValue, RootHash, Sha256Jmt, Version};
use sha2::Sha256;
use std::collections::HashMap;

pub use jmt;

/// A proof of one key's value (or absence) under a state root.
pub type StateProof = SparseMerkleProof<Sha256>;

#[derive(Debug, thiserror::Error)]
pub enum CommitmentError {
    #[error("state tree: {0}")]
    Tree(String),
    #[error("state proof does not verify: {0}")]
    Proof(String),
    #[error("state proof is malformed: {0}")]
    Malformed(String),
}

fn tree_error(e: anyhow::Error) -> CommitmentError {
    CommitmentError::Tree(format!("{e:#}"))
}

/// The leaf key for a world-state key.
pub fn key_hash(key: &str) -> KeyHash {
    KeyHash::with::<Sha256>(key.as_bytes())
}

/// The leaf value for an entry: canonical `{"value":…,"version":…}` (keys already sorted).
pub fn leaf_value(entry: &StateEntry) -> Vec<u8> {
    format!(r#"{{"value":{},"version":{}}}"#, entry.value, entry.version).into_bytes()
}

/// The block-header form of a root: lowercase hex, with the empty tree as 64 zeros.
pub fn root_hex(root: RootHash) -> String {
    if root == empty_root() {
        ZERO_HASH.to_string()
    } else {
        hex::encode(&root.0)
    }
}

/// The inverse of [`root_hex`].
pub fn parse_root(text: &str) -> Option<RootHash> {
    if text == ZERO_HASH {
        return Some(empty_root());
    }
    hex::decode::<32>(text).ok().map(RootHash)
}

/// jmt's root of an empty tree (the hash of its null node).
fn empty_root() -> RootHash {
    RootHash(*b"SPARSE_MERKLE_PLACEHOLDER_HASH__")
}

/// The new root and the nodes to persist after one state-changing block.
pub struct TreeUpdate {
    pub root: String,
    pub batch: TreeUpdateBatch,
}

/// Applies `delta` to the tree whose newest version is `version - 1` (nothing yet when
/// `version` is 0), producing tree `version`. `delta` must not be empty.
pub fn update(
    reader: &impl TreeReader,
    version: Version,
    delta: &StateDelta,
) -> Result<TreeUpdate, CommitmentError> {
    let tree = Sha256Jmt::new(reader);
    let writes = delta
        .iter()
        .map(|(key, entry)| (key_hash(key), entry.as_ref().map(leaf_value)));
    // jmt's batch insertion builds each touched internal node (and hashes it) once per
    // update instead of once per key below it: the same tree, several times fewer hashes.
    // It takes no deletions; a delta with any goes key by key.
    let (root, batch) = match writes.clone().map(|(k, v)| Some((k, v?))).collect() {
        Some(sets) => tree
            .batch_put_value_sets(vec![sets], None, version)
            .map(|(mut roots, batch)| (roots.remove(0), batch)),
        None => tree.put_value_set(writes, version),
    }
    .map_err(tree_error)?;
    Ok(TreeUpdate {
        root: root_hex(root),
        batch,
    })
}

/// The proof of `key`'s `entry` (None: absent) in tree `version` (None: nothing was ever
/// written, the state is empty and so is the proof). `entry` is the caller's world-state entry
/// for `key` in that version; a tree that holds the key while `entry` is None (or the reverse)
/// is an error, as is a stored leaf whose hash is not `entry`'s.
pub fn prove(
    reader: &impl TreeReader,
    version: Option<Version>,
    key: &str,
    entry: Option<&StateEntry>,
) -> Result<StateProof, CommitmentError> {
    let Some(version) = version else {
        return match entry {
            None => Ok(empty_proof()),
            Some(_) => Err(CommitmentError::Tree(format!(
                "{key:?} has an entry but the state tree is empty"
            ))),
        };
    };
    let (hash, value) = (key_hash(key), entry.map(leaf_value));
    let with_value = WithValue {
        base: reader,
        key_hash: hash,
        value: value.clone(),
    };
    let (found, proof) = Sha256Jmt::new(&with_value)
        .get_with_proof(hash, version)
        .map_err(tree_error)?;
    match (found, &value) {
        (None, None) => Ok(proof),
        (Some(_), Some(value)) => {
            let root = Sha256Jmt::new(reader)
                .get_root_hash(version)
                .map_err(tree_error)?;
            proof.verify(root, hash, Some(value)).map_err(|e| {
                CommitmentError::Tree(format!("{key:?}: the tree's leaf is not the entry's: {e}"))
            })?;
            Ok(proof)
        }
        (None, Some(_)) => Err(CommitmentError::Tree(format!(
            "{key:?} has an entry but no leaf in the state tree"
        ))),
        (Some(_), None) => unreachable!("the value given for the key is None"),
    }
}

/// A reader answering jmt's value lookup for one key with the caller's value (jmt's
/// `get_with_proof` fetches the value of the leaf it reaches; the tree stores none).
struct WithValue<'a, R> {
    base: &'a R,
    key_hash: KeyHash,
    value: Option<OwnedValue>,
}

impl<R: TreeReader> TreeReader for WithValue<'_, R> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        self.base.get_node_option(node_key)
    }

    fn get_value_option(
        &self,
        _: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(if key_hash == self.key_hash {
            self.value.clone()
        } else {
            None
        })
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        Ok(None)
    }
}

/// The proof of absence in an empty tree (no leaf, no siblings).
fn empty_proof() -> StateProof {
    borsh::from_slice(&[0, 0, 0, 0, 0]).expect("borsh of an empty proof")
}

/// Checks that `entry` (None: the key is absent) is what `proof` proves for `key` under `root`.
pub fn verify(
    root: &str,
    key: &str,
    entry: Option<&StateEntry>,
    proof: &StateProof,
) -> Result<(), CommitmentError> {
    let root = parse_root(root)
        .ok_or_else(|| CommitmentError::Malformed(format!("root {root:?} is not 64 hex")))?;
    proof
        .verify(root, key_hash(key), entry.map(leaf_value))
        .map_err(|e| CommitmentError::Proof(e.to_string()))
}

/// A proof's wire form: lowercase hex of its borsh encoding.
pub fn encode_proof(proof: &StateProof) -> String {
    hex::encode(&borsh::to_vec(proof).expect("borsh encoding into memory"))
}

/// The inverse of [`encode_proof`].
pub fn decode_proof(text: &str) -> Result<StateProof, CommitmentError> {
    let bytes = hex::decode_vec(text).map_err(|e| CommitmentError::Malformed(e.to_string()))?;
    borsh::from_slice(&bytes).map_err(|e| CommitmentError::Malformed(e.to_string()))
}

/// The root hex of tree `version` (None: nothing written yet, the empty state).
pub fn root_at(
    reader: &impl TreeReader,
    version: Option<Version>,
) -> Result<String, CommitmentError> {
    let Some(version) = version else {
        return Ok(ZERO_HASH.to_string());
    };
    let root = Sha256Jmt::new(reader)
        .get_root_hash(version)
        .map_err(tree_error)?;
    Ok(root_hex(root))
}

/// Tree updates not yet persisted, layered over a stored tree (`base`): validating a run of
/// blocks updates the tree block by block here, and the batches are then persisted with the
/// blocks. Nodes made stale are hidden at once, so only the newest version is readable.
#[derive(Clone)]
pub struct PendingTree<'a, R> {
    base: &'a R,
    /// `None`: pruned by a pending update.
    nodes: HashMap<NodeKey, Option<Node>>,
    version: Option<Version>,
}

impl<'a, R: TreeReader> PendingTree<'a, R> {
    /// Over `base`, whose newest tree version is `base_version` (None: empty).
    pub fn new(base: &'a R, base_version: Option<Version>) -> Self {
        PendingTree {
            base,
            nodes: HashMap::new(),
            version: base_version,
        }
    }

    /// Over `base`, with the net changes of an earlier [`PendingTree`] (from
    /// [`PendingTree::into_changes`]) taken back as they are: the inverse of `into_changes`.
    pub fn from_changes(base: &'a R, changes: TreeChanges) -> Self {
        PendingTree {
            base,
            nodes: changes.nodes,
            version: changes.version,
        }
    }

    /// Newest version, None while nothing was ever written.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The version the next state-changing block produces.
    pub fn next_version(&self) -> Version {
        self.version.map_or(0, |v| v + 1)
    }

    /// The root hex of the newest version.
    pub fn root(&self) -> Result<String, CommitmentError> {
        root_at(self, self.version)
    }

    /// Applies one block's `delta`: the root after it and, when the delta changes anything, the
    /// batch to persist (as version [`PendingTree::version`]).
    pub fn apply(
        &mut self,
        delta: &StateDelta,
    ) -> Result<(String, Option<TreeUpdateBatch>), CommitmentError> {
        let (root, batch) = self.preview(delta)?;
        if let Some(batch) = &batch {
            self.push(batch);
        }
        Ok((root, batch))
    }

    /// What [`PendingTree::apply`] would return, changing nothing (to check a block's root
    /// before accepting it).
    pub fn preview(
        &self,
        delta: &StateDelta,
    ) -> Result<(String, Option<TreeUpdateBatch>), CommitmentError> {
        if delta.is_empty() {
            return Ok((self.root()?, None));
        }
        let TreeUpdate { root, batch } = update(self, self.next_version(), delta)?;
        Ok((root, Some(batch)))
    }

    /// Layers a batch from [`PendingTree::preview`] on top, as the next version. A node
    /// that a later update makes stale is dropped at once if it was itself pending (it never
    /// reaches the store), so a long run holds only its net changes.
    pub fn push(&mut self, batch: &TreeUpdateBatch) {
        for stale in &batch.stale_node_index_batch {
            // Pending nodes have newer versions than any stored one, so a key is either
            // pending or stored, never both.
            if self.nodes.remove(&stale.node_key).is_none() {
                self.nodes.insert(stale.node_key.clone(), None);
            }
        }
        for (key, node) in batch.node_batch.nodes() {
            self.nodes.insert(key.clone(), Some(node.clone()));
        }
        self.version = Some(self.next_version());
    }

    /// Layers the net changes of a [`PendingTree`] built over this one (committing them, when
    /// this tree is the store: the in-memory chain).
    pub fn absorb(&mut self, changes: TreeChanges) {
        for (key, node) in changes.nodes {
            match node {
                Some(node) => {
                    self.nodes.insert(key, Some(node));
                }
                // Pruned: dropped if it was pending here, hidden if it is in the base.
                None => {
                    if self.nodes.remove(&key).is_none() {
                        self.nodes.insert(key, None);
                    }
                }
            }
        }
        if changes.version.is_some() {
            self.version = changes.version;
        }
    }

    /// Nodes written and not pruned by pending updates.
    pub fn pending_node_count(&self) -> usize {
        self.nodes.values().filter(|n| n.is_some()).count()
    }

    /// The net changes to persist: nodes to store (`Some`) or delete (`None`), and the newest
    /// version.
    pub fn into_changes(self) -> TreeChanges {
        TreeChanges {
            nodes: self.nodes,
            version: self.version,
        }
    }
}

impl<R: TreeReader> TreeReader for PendingTree<'_, R> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        match self.nodes.get(node_key) {
            Some(pending) => Ok(pending.clone()),
            None => self.base.get_node_option(node_key),
        }
    }

    fn get_value_option(&self, _: Version, _: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        // The tree keeps no values (see the module's comment); `prove` supplies the one it needs.
        Ok(None)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only jmt's snapshot restore uses it; this ledger restores by replaying blocks.
        Ok(None)
    }
}

impl<R> std::fmt::Debug for PendingTree<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingTree")
            .field("version", &self.version)
            .field("pending_nodes", &self.nodes.len())
            .finish()
    }
}

/// What a [`PendingTree`] adds to its base, for the caller to persist in one write.
#[derive(Debug, Default)]
pub struct TreeChanges {
    pub nodes: HashMap<NodeKey, Option<Node>>,
    /// The newest version (None: still nothing written).
    pub version: Option<Version>,
}

/// A store holding no tree: the base of a tree kept wholly in memory.
#[derive(Clone, Copy, Debug)]
pub struct EmptyTree;

impl TreeReader for EmptyTree {
    fn get_node_option(&self, _: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(None)
    }

    fn get_value_option(&self, _: Version, _: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        Ok(None)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        Ok(None)
    }
}

/// A tree held wholly in memory (tests, the in-memory chain, simulators).
pub type MemoryTree = PendingTree<'static, EmptyTree>;

impl Default for MemoryTree {
    fn default() -> Self {
        PendingTree::new(&EmptyTree, None)
    }
}
