//! Ed25519 keys, signing and *strict* verification, single and batched.
//!
//! The reference (noble, ZIP-215 mode) accepts small-order keys, so the all-zero "genesis
//! proposer" key verifies any message with an all-zero signature. Our rule: lowercase hex of exact
//! length, canonical encodings of the key `A` and of `R`, `S < L`, neither `A` nor `R` of small
//! order, and ed25519-dalek's `verify_strict` equation.
//!
//! Batching: `verify_batch` (ed25519-dalek) checks one random linear combination of the
//! equations, with coefficients derived deterministically from all inputs. The encoding and
//! small-order checks are done first, per signature, because the batch equation skips them. A
//! batch answer depends on the exact batch, so validation always batches exactly one block's
//! signatures (see `validation`), making a block's validity a pure function of the block.

use crate::hex;
use curve25519_dalek::constants::EIGHT_TORSION;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::collections::HashMap;
use std::sync::OnceLock;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("public key: {0}")]
    KeyEncoding(hex::HexError),
    #[error("signature: {0}")]
    SignatureEncoding(hex::HexError),
    #[error("public key is not a canonical point encoding")]
    NonCanonicalKey,
    #[error("public key is a small-order point (weak key)")]
    WeakKey,
    #[error("signature R is not a canonical point encoding")]
    NonCanonicalR,
    #[error("signature R is a small-order point")]
    WeakR,
    #[error("signature S is not reduced modulo L")]
    NonCanonicalS,
    #[error("signature does not verify")]
    Invalid,
}

/// An Ed25519 identity: a 32-byte seed (the protocol's "private key").
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
    public_hex: String,
}

impl Keypair {
    /// From the 32-byte seed; the caller supplies randomness (core does no I/O).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&seed);
        let public_hex = hex::encode(signing.verifying_key().as_bytes());
        Keypair {
            signing,
            public_hex,
        }
    }

    /// From the 64-hex-character private key (seed) as MiniLedger stores it.
    pub fn from_private_hex(private_key: &str) -> Result<Self, hex::HexError> {
        Ok(Self::from_seed(hex::decode::<32>(private_key)?))
    }

    pub fn private_hex(&self) -> String {
        hex::encode(&self.signing.to_bytes())
    }

    pub fn public_hex(&self) -> &str {
        &self.public_hex
    }

    /// The first 16 hex characters of the public key.
    pub fn node_id(&self) -> &str {
        node_id(&self.public_hex)
    }

    /// Signs the UTF-8 bytes of `message` (for hashes: the 64-character hex text, not the digest).
    pub fn sign(&self, message: &str) -> String {
        hex::encode(&self.signing.sign(message.as_bytes()).to_bytes())
    }
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keypair({})", self.public_hex)
    }
}

/// `nodeId` = first 16 hex characters of a public key (the whole string if shorter).
pub fn node_id(public_key_hex: &str) -> &str {
    public_key_hex.get(..16).unwrap_or(public_key_hex)
}

/// Strictly verifies `signature_hex` by `public_key_hex` over the UTF-8 bytes of `message`.
pub fn verify(
    public_key_hex: &str,
    message: &str,
    signature_hex: &str,
) -> Result<(), SignatureError> {
    let key = parse_key(public_key_hex)?;
    let sig = parse_signature(signature_hex)?;
    key.verify_strict(message.as_bytes(), &sig)
        .map_err(|_| SignatureError::Invalid)
}

/// Decodes and checks a public key: exact lowercase hex, canonical, not of small order.
pub fn parse_key(public_key_hex: &str) -> Result<VerifyingKey, SignatureError> {
    let bytes = hex::decode::<32>(public_key_hex).map_err(SignatureError::KeyEncoding)?;
    if let Some(key) = key_cache::get(&bytes) {
        return Ok(key);
    }
    check_point(&bytes).map_err(|e| match e {
        PointFault::NonCanonical => SignatureError::NonCanonicalKey,
        PointFault::SmallOrder => SignatureError::WeakKey,
    })?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| SignatureError::NonCanonicalKey)?;
    key_cache::put(bytes, key);
    Ok(key)
}

/// Decompressing a public key (a square root in the field) is a large part of a verification,
/// and a ledger sees the same senders again and again: keys that passed every check are kept,
/// decompressed, in a bounded process-wide table (emptied when full; pure memory, no I/O).
mod key_cache {
    use ed25519_dalek::VerifyingKey;
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock, PoisonError};

    const CAPACITY: usize = 16_384;

    fn table() -> &'static Mutex<HashMap<[u8; 32], VerifyingKey>> {
        static TABLE: OnceLock<Mutex<HashMap<[u8; 32], VerifyingKey>>> = OnceLock::new();
        TABLE.get_or_init(Default::default)
    }

    pub fn get(bytes: &[u8; 32]) -> Option<VerifyingKey> {
        let table = table().lock().unwrap_or_else(PoisonError::into_inner);
        table.get(bytes).copied()
    }

    pub fn put(bytes: [u8; 32], key: VerifyingKey) {
        let mut table = table().lock().unwrap_or_else(PoisonError::into_inner);
        if table.len() >= CAPACITY {
            table.clear();
        }
        table.insert(bytes, key);
    }
}

/// Decodes and checks a signature: exact lowercase hex, canonical `R` not of small order, `S < L`.
pub fn parse_signature(signature_hex: &str) -> Result<Signature, SignatureError> {
    let bytes = hex::decode::<64>(signature_hex).map_err(SignatureError::SignatureEncoding)?;
    let r: [u8; 32] = bytes[..32].try_into().expect("32 bytes");
    let s: [u8; 32] = bytes[32..].try_into().expect("32 bytes");
    check_point(&r).map_err(|e| match e {
        PointFault::NonCanonical => SignatureError::NonCanonicalR,
        PointFault::SmallOrder => SignatureError::WeakR,
    })?;
    if curve25519_dalek::Scalar::from_canonical_bytes(s)
        .is_none()
        .into()
    {
        return Err(SignatureError::NonCanonicalS);
    }
    Ok(Signature::from_bytes(&bytes))
}

enum PointFault {
    NonCanonical,
    SmallOrder,
}

/// Byte-level checks, no curve arithmetic: `y < p` (the only non-canonical encodings not caught
/// here have x = 0, and those points have small order) and not one of the small-order encodings.
fn check_point(bytes: &[u8; 32]) -> Result<(), PointFault> {
    // y >= p = 2^255 - 19 means bytes[1..31] are all 0xff, bytes[31] & 0x7f == 0x7f, bytes[0] >= 0xed.
    let y_high_all_ones = bytes[31] & 0x7f == 0x7f && bytes[1..31].iter().all(|&b| b == 0xff);
    if y_high_all_ones && bytes[0] >= 0xed {
        return Err(PointFault::NonCanonical);
    }
    if small_order_encodings().contains(bytes) {
        return Err(PointFault::SmallOrder);
    }
    Ok(())
}

/// Every accepted encoding of the eight small-order points: their canonical encodings and, for
/// the two with x = 0, the variant with the sign bit set (which decompression also accepts).
fn small_order_encodings() -> &'static [[u8; 32]] {
    static LIST: OnceLock<Vec<[u8; 32]>> = OnceLock::new();
    LIST.get_or_init(|| {
        let mut list = Vec::new();
        for point in EIGHT_TORSION {
            let canonical = point.compress().to_bytes();
            list.push(canonical);
            let mut flipped = canonical;
            flipped[31] ^= 0x80;
            let decodes_to_same = curve25519_dalek::edwards::CompressedEdwardsY(flipped)
                .decompress()
                .is_some_and(|p| p == point);
            if decodes_to_same {
                list.push(flipped);
            }
        }
        list
    })
}

/// Collects (key, message, signature) triples and verifies them together.
#[derive(Default)]
pub struct BatchVerifier<'a> {
    keys: Vec<VerifyingKey>,
    messages: Vec<&'a [u8]>,
    signatures: Vec<Signature>,
    /// Keys already decoded in this batch: blocks repeat senders, and decoding costs a square root.
    decoded: HashMap<[u8; 32], VerifyingKey>,
}

impl<'a> BatchVerifier<'a> {
    pub fn with_capacity(n: usize) -> Self {
        BatchVerifier {
            keys: Vec::with_capacity(n),
            messages: Vec::with_capacity(n),
            signatures: Vec::with_capacity(n),
            decoded: HashMap::new(),
        }
    }

    /// Queues one signature; encoding and small-order faults are reported now, item by item.
    pub fn push(
        &mut self,
        public_key_hex: &str,
        message: &'a str,
        signature_hex: &str,
    ) -> Result<(), SignatureError> {
        let sig = parse_signature(signature_hex)?;
        let raw = hex::decode::<32>(public_key_hex).map_err(SignatureError::KeyEncoding)?;
        let key = match self.decoded.get(&raw) {
            Some(key) => *key,
            None => {
                let key = parse_key(public_key_hex)?;
                self.decoded.insert(raw, key);
                key
            }
        };
        self.keys.push(key);
        self.messages.push(message.as_bytes());
        self.signatures.push(sig);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies the queued signatures. On failure, returns the positions (in push order) of the
    /// signatures that fail on their own.
    pub fn verify(self) -> Result<(), Vec<usize>> {
        if self.keys.is_empty() {
            return Ok(());
        }
        let messages = &self.messages;
        if ed25519_dalek::verify_batch(messages, &self.signatures, &self.keys).is_ok() {
            return Ok(());
        }
        let failed: Vec<usize> = (0..self.keys.len())
            .filter(|&i| {
                self.keys[i]
                    .verify_strict(messages[i], &self.signatures[i])
                    .is_err()
            })
            .collect();
        // A batch can only fail if some signature fails alone; report all if none does.
        Err(if failed.is_empty() {
            (0..self.keys.len()).collect()
        } else {
            failed
        })
    }
}
