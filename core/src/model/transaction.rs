//! Transactions: `hash = sha256hex(canonical({type, sender, nonce, timestamp, payload}))`,
//! `signature = sign(hash text)` by `sender`.

use super::payload::{Payload, PayloadBody};
use crate::canonical::{self, CanonicalError};
use crate::crypto::Keypair;
use crate::hash::sha256_hex;
use serde::{Deserialize, Serialize};

/// A signed transaction, fields in the order MiniLedger's producers write them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    pub hash: String,
    #[serde(rename = "type")]
    pub tx_type: String,
    pub sender: String,
    pub nonce: u64,
    pub timestamp: u64,
    pub payload: Payload,
    pub signature: String,
}

impl Transaction {
    /// Builds and signs a transaction whose `type` is its payload's kind.
    pub fn new_signed(key: &Keypair, nonce: u64, timestamp: u64, body: PayloadBody) -> Self {
        let mut tx = Transaction {
            hash: String::new(),
            tx_type: body.kind().to_string(),
            sender: key.public_hex().to_string(),
            nonce,
            timestamp,
            payload: body.into(),
            signature: String::new(),
        };
        tx.hash = tx
            .compute_hash()
            .expect("payload built from a body is valid JSON");
        tx.signature = key.sign(&tx.hash);
        tx
    }

    /// The exact text the hash covers: canonical JSON with keys `nonce, payload, sender,
    /// timestamp, type`.
    pub fn hash_preimage(&self) -> Result<String, CanonicalError> {
        let mut out = String::with_capacity(96 + self.payload.json().len() + self.sender.len());
        out.push_str("{\"nonce\":");
        canonical::write_u64(&mut out, self.nonce);
        out.push_str(",\"payload\":");
        canonical::canonicalize_into(self.payload.json(), &mut out)?;
        out.push_str(",\"sender\":");
        canonical::write_string(&mut out, &self.sender);
        out.push_str(",\"timestamp\":");
        canonical::write_u64(&mut out, self.timestamp);
        out.push_str(",\"type\":");
        canonical::write_string(&mut out, &self.tx_type);
        out.push('}');
        Ok(out)
    }

    /// Recomputes the hash from the content (ignores the `hash` field).
    pub fn compute_hash(&self) -> Result<String, CanonicalError> {
        Ok(sha256_hex(self.hash_preimage()?))
    }

    /// Size of this transaction's JSON encoding in bytes (what the size limit counts).
    pub fn encoded_len(&self) -> usize {
        let mut counter = ByteCounter(0);
        serde_json::to_writer(&mut counter, self).expect("counting never fails");
        counter.0
    }
}

/// An `io::Write` that only counts, so measuring a size allocates nothing.
pub(crate) struct ByteCounter(pub usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
