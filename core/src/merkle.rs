//! MiniLedger's Merkle root over transaction hashes. Parents hash the 128-character *hex text*
//! of their children; an odd last node pairs with itself (so `[a,b,c]` and `[a,b,c,c]` collide,
//! which is why validation rejects duplicate transactions in a block).

use crate::hash::ZERO_HASH;
use sha2::{Digest, Sha256};

/// Root of `hashes` (each 64 hex characters): none → 64 zeros, one → that hash itself.
pub fn merkle_root<S: AsRef<str>>(hashes: &[S]) -> String {
    match hashes.len() {
        0 => return ZERO_HASH.to_string(),
        1 => return hashes[0].as_ref().to_string(),
        _ => {}
    }
    let mut level = parents(hashes);
    while level.len() > 1 {
        level = parents(&level);
    }
    level.pop().expect("two or more hashes leave one root")
}

/// The next level up: each pair hashed as hex text, an odd last node paired with itself.
fn parents<S: AsRef<str>>(level: &[S]) -> Vec<String> {
    level
        .chunks(2)
        .map(|pair| {
            let left = pair[0].as_ref();
            let right = pair.get(1).map_or(left, |r| r.as_ref());
            let mut hasher = Sha256::new();
            hasher.update(left.as_bytes());
            hasher.update(right.as_bytes());
            crate::hex::encode(&hasher.finalize())
        })
        .collect()
}
