//! A state proof checked without jmt's `SparseMerkleProof::verify`, for the browser: that
//! function formats its errors through `anyhow` (std backtraces, `Debug` of hashes), which costs
//! the light node's wasm ~22 KB gzipped — most of its size budget's headroom. This is the same
//! check over the same wire form (borsh of jmt's proof: an optional leaf, then siblings, each
//! null, internal or leaf), with jmt's domain separators; `core/tests/state_proof_check.rs`
//! checks it agrees with jmt's `verify` on valid, tampered and wrong-key proofs.

use super::commitment::{leaf_value, parse_root};
use super::StateEntry;
use crate::hex;
use sha2::{Digest, Sha256};

const LEAF: &[u8] = b"JMT::LeafNode";
const INTERNAL: &[u8] = b"JMT::IntrnalNode";
const PLACEHOLDER: [u8; 32] = *b"SPARSE_MERKLE_PLACEHOLDER_HASH__";
/// jmt refuses proofs with more siblings than key bits.
const MAX_SIBLINGS: usize = 256;

type Hash = [u8; 32];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("state proof is malformed: {0}")]
    Malformed(&'static str),
    #[error("state proof does not verify: {0}")]
    Mismatch(&'static str),
}

struct Leaf {
    key: Hash,
    value: Hash,
}

fn sha(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn leaf_hash(leaf: &Leaf) -> Hash {
    sha(&[LEAF, &leaf.key, &leaf.value])
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], ProofError> {
        if self.0.len() < n {
            return Err(ProofError::Malformed("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn byte(&mut self) -> Result<u8, ProofError> {
        Ok(self.take(1)?[0])
    }
    fn hash(&mut self) -> Result<Hash, ProofError> {
        Ok(self.take(32)?.try_into().expect("32 bytes"))
    }
    fn leaf(&mut self) -> Result<Leaf, ProofError> {
        Ok(Leaf {
            key: self.hash()?,
            value: self.hash()?,
        })
    }
}

/// The proof's leaf and its siblings' hashes (nearest the leaf first).
fn decode(bytes: &[u8]) -> Result<(Option<Leaf>, Vec<Hash>), ProofError> {
    let mut r = Reader(bytes);
    let leaf = match r.byte()? {
        0 => None,
        1 => Some(r.leaf()?),
        _ => return Err(ProofError::Malformed("leaf tag")),
    };
    let count = u32::from_le_bytes(r.take(4)?.try_into().expect("4 bytes")) as usize;
    if count > MAX_SIBLINGS {
        return Err(ProofError::Malformed("more than 256 siblings"));
    }
    let mut siblings = Vec::with_capacity(count);
    for _ in 0..count {
        siblings.push(match r.byte()? {
            0 => PLACEHOLDER,
            1 => {
                let (left, right) = (r.hash()?, r.hash()?);
                sha(&[INTERNAL, &left, &right])
            }
            2 => leaf_hash(&r.leaf()?),
            _ => return Err(ProofError::Malformed("sibling tag")),
        });
    }
    if !r.0.is_empty() {
        return Err(ProofError::Malformed("trailing bytes"));
    }
    Ok((leaf, siblings))
}

fn bit(key: &Hash, index: usize) -> bool {
    key[index / 8] & (0x80 >> (index % 8)) != 0
}

fn common_prefix_bits(a: &Hash, b: &Hash) -> usize {
    (0..256).take_while(|&i| bit(a, i) == bit(b, i)).count()
}

/// Checks that `proof_hex` (as `GET /state/:key?proof=true` serves it) proves `entry` (None:
/// absence) for `key` under `root` (a block's `stateRoot`).
pub fn verify_hex(
    root: &str,
    key: &str,
    entry: Option<&StateEntry>,
    proof_hex: &str,
) -> Result<(), ProofError> {
    let root = parse_root(root).ok_or(ProofError::Malformed("root is not 64 hex"))?;
    let bytes = hex::decode_vec(proof_hex).map_err(|_| ProofError::Malformed("not hex"))?;
    let (leaf, siblings) = decode(&bytes)?;
    let key_hash = sha(&[key.as_bytes()]);
    match (entry, &leaf) {
        (Some(entry), Some(leaf)) => {
            if leaf.key != key_hash {
                return Err(ProofError::Mismatch("the proof is for another key"));
            }
            if leaf.value != sha(&[&leaf_value(entry)]) {
                return Err(ProofError::Mismatch(
                    "the value or version is not the proven one",
                ));
            }
        }
        (Some(_), None) => return Err(ProofError::Mismatch("the proof is of absence")),
        (None, Some(leaf)) => {
            if leaf.key == key_hash {
                return Err(ProofError::Mismatch("the key exists"));
            }
            if common_prefix_bits(&key_hash, &leaf.key) < siblings.len() {
                return Err(ProofError::Mismatch(
                    "the key would not be in the proven leaf's subtree",
                ));
            }
        }
        (None, None) => {}
    }
    let start = leaf.as_ref().map_or(PLACEHOLDER, leaf_hash);
    let n = siblings.len();
    let computed = siblings
        .iter()
        .enumerate()
        .fold(start, |hash, (i, sibling)| {
            if bit(&key_hash, n - 1 - i) {
                sha(&[INTERNAL, sibling, &hash])
            } else {
                sha(&[INTERNAL, &hash, sibling])
            }
        });
    if computed != root.0 {
        return Err(ProofError::Mismatch(
            "the root is not the block's stateRoot",
        ));
    }
    Ok(())
}
