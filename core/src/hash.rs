//! SHA-256 as the protocol uses it: over UTF-8 text, rendered as lowercase hex text.

use sha2::{Digest, Sha256};

/// 64 zeros: the empty Merkle root, the genesis previousHash/stateRoot/proposer.
pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `sha256hex(s)`: lowercase hex SHA-256 of the bytes of `s`.
pub fn sha256_hex(data: impl AsRef<[u8]>) -> String {
    crate::hex::encode(&Sha256::digest(data.as_ref()))
}
