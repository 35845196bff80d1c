//! A transaction frame through decode and validation. The first byte picks structure-aware
//! fix-ups applied after decoding, so mutated transactions also get past the hash and reach
//! the type, size and signature rules:
//! - bit 0: take a fixture key (bits 4-5) as sender;
//! - bit 1: recompute the hash;
//! - bit 2: sign with the sender's key, when it is a fixture key.
//!
//! The rest is the transaction's JSON. Properties: nothing panics; a decoded transaction
//! re-encodes to JSON that decodes to it; a valid one has a canonical preimage hashing to its
//! hash; a transaction we hashed and signed ourselves fails no hash or signature rule.

use super::fixtures::{fixtures, key_for};
use miniledger_core::canonical::canonicalize;
use miniledger_core::decode::from_json;
use miniledger_core::hash::sha256_hex;
use miniledger_core::validation::{validate_transaction, Limits, Rule};
use miniledger_core::Transaction;

pub fn tx_validate(data: &[u8]) {
    let Some((&flags, json)) = data.split_first() else {
        return;
    };
    let Ok(json) = std::str::from_utf8(json) else {
        return;
    };
    let Ok(mut tx) = from_json::<Transaction>(json) else {
        return;
    };
    let encoded = serde_json::to_string(&tx).expect("a transaction serializes");
    let again: Transaction = from_json(&encoded)
        .unwrap_or_else(|e| panic!("re-encoded transaction does not decode: {e}\n{encoded}"));
    assert_eq!(again, tx, "round trip changed the transaction");

    if flags & 1 != 0 {
        let key = &fixtures().keys[usize::from(flags >> 4) % 3];
        tx.sender = key.public_hex().to_string();
    }
    let mut rehashed = false;
    if flags & 2 != 0 {
        if let Ok(hash) = tx.compute_hash() {
            tx.hash = hash;
            rehashed = true;
        }
    }
    let mut signed = false;
    if flags & 4 != 0 {
        if let Some(key) = key_for(&tx.sender) {
            tx.signature = key.sign(&tx.hash);
            signed = true;
        }
    }

    let limits = Limits::default();
    match validate_transaction(&tx, &limits) {
        Ok(()) => {
            let preimage = tx
                .hash_preimage()
                .expect("a valid transaction has a preimage");
            assert_eq!(canonicalize(&preimage).as_deref(), Ok(preimage.as_str()));
            assert_eq!(sha256_hex(&preimage), tx.hash);
            assert!(tx.encoded_len() <= limits.max_tx_bytes);
        }
        Err(e) => {
            assert!(e.to_string().starts_with(e.rule.name()), "{e}");
            if rehashed {
                assert_ne!(e.rule, Rule::TxHash, "recomputed hash refused: {e}");
            }
            if rehashed && signed {
                assert_ne!(e.rule, Rule::TxSignature, "our own signature refused: {e}");
            }
        }
    }
}
