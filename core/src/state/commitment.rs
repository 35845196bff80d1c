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

use super::{StateDelta, StateEntry};
use crate::hash::ZERO_HASH;
use crate::hex;
use jmt::proof::SparseMerkleProof;
use jmt::storage::{LeafNode, Node, NodeKey, TreeReader, TreeUpdateBatch};
use jmt::{KeyHash, OwnedValue, RootHash, Sha256Jmt, Version};
use sha2::Sha256;
use std::collections::HashMap;

pub use jmt::storage::{Node as TreeNode, NodeKey as TreeNodeKey};

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
    let writes = delta.iter().map(|(key, entry)| {
        let value: Option<OwnedValue> = entry.as_ref().map(leaf_value);
        (key_hash(key), value)
    });
    let (root, batch) = Sha256Jmt::new(reader)
        .put_value_set(writes, version)
        .map_err(tree_error)?;
    Ok(TreeUpdate {
        root: root_hex(root),
        batch,
    })
}

/// The leaf value stored for `key` in tree `version` (None: absent) and its proof. `version`
/// None means nothing was ever written: the state is empty and so is the proof.
pub fn prove(
    reader: &impl TreeReader,
    version: Option<Version>,
    key: &str,
) -> Result<(Option<Vec<u8>>, StateProof), CommitmentError> {
    match version {
        Some(version) => Sha256Jmt::new(reader)
            .get_with_proof(key_hash(key), version)
            .map_err(tree_error),
        None => Ok((None, empty_proof())),
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

/// A tree held in memory (tests, simulators, small deployments): the newest version only.
#[derive(Default)]
pub struct MemoryTree {
    nodes: HashMap<NodeKey, Node>,
    values: HashMap<KeyHash, OwnedValue>,
    /// Newest version written, None while empty.
    version: Option<Version>,
    root: Option<RootHash>,
}

impl MemoryTree {
    /// The root hex of the newest version (64 zeros while nothing was written).
    pub fn root(&self) -> String {
        self.root.map_or_else(|| ZERO_HASH.to_string(), root_hex)
    }

    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The version the next state-changing block produces.
    pub fn next_version(&self) -> Version {
        self.version.map_or(0, |v| v + 1)
    }

    /// Applies one block's delta (no-op when empty) and returns the root after it.
    pub fn apply(&mut self, delta: &StateDelta) -> Result<String, CommitmentError> {
        if delta.is_empty() {
            return Ok(self.root());
        }
        let version = self.next_version();
        let TreeUpdate { root, batch } = update(self, version, delta)?;
        self.write(batch);
        self.version = Some(version);
        self.root = parse_root(&root);
        Ok(root)
    }

    /// Stores new nodes and values, and drops the nodes the update made stale.
    fn write(&mut self, batch: TreeUpdateBatch) {
        for stale in &batch.stale_node_index_batch {
            self.nodes.remove(&stale.node_key);
        }
        self.nodes.extend(batch.node_batch.nodes().clone());
        for ((_, key_hash), value) in batch.node_batch.values() {
            match value {
                Some(value) => self.values.insert(*key_hash, value.clone()),
                None => self.values.remove(key_hash),
            };
        }
    }

    /// Number of stored tree nodes (shows that pruning keeps the tree O(state)).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

impl TreeReader for MemoryTree {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.nodes.get(node_key).cloned())
    }

    fn get_value_option(
        &self,
        _max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self.values.get(&key_hash).cloned())
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only used by jmt's snapshot restore, which this ledger does not use.
        Ok(None)
    }
}
