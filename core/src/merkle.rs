//! MiniLedger's Merkle root over transaction hashes. Parents hash the 128-character *hex text*
//! of their children; an odd last node pairs with itself (so `[a,b,c]` and `[a,b,c,c]` collide,
//! which is why validation rejects duplicate transactions in a block).

use crate::hash::{sha256_hex, ZERO_HASH};
use sha2::{Digest, Sha256};

/// Root of `hashes` (each 64 hex characters): none → 64 zeros, one → that hash itself.
pub fn merkle_root<S: AsRef<str>>(hashes: &[S]) -> String {
    match hashes.len() {
        0 => return ZERO_HASH.to_string(),
        1 => return hashes[0].as_ref().to_string(),
        _ => {}
    }
    let mut level: Vec<String> = hashes.iter().map(|h| h.as_ref().to_string()).collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| {
                let left = &pair[0];
                let right = pair.get(1).unwrap_or(left);
                let mut hasher = Sha256::new();
                hasher.update(left.as_bytes());
                hasher.update(right.as_bytes());
                crate::hex::encode(&hasher.finalize())
            })
            .collect();
    }
    level.pop().unwrap_or_else(|| sha256_hex(""))
}
