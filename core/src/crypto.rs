//! Ed25519 keys, signing and *strict* verification, single and batched.
//!
//! The reference (noble, ZIP-215 mode) accepts small-order keys, so the all-zero "genesis
//! proposer" key verifies any message with an all-zero signature. Our rule: lowercase hex of exact
//! length, canonical encodings of the key `A` and of `R`, `S < L`, neither `A` nor `R` of small
//! order, and the *cofactored* equation `[8][S]B = [8]R + [8][k]A` (the reference's and
//! ZIP-215's). Cofactored because it makes batching exact: a batch accepts precisely when every
//! signature in it verifies alone, whatever else is in the batch, so a block's validity is a
//! pure function of the block even when the signatures of many blocks are checked together. (A
//! cofactorless check, like ed25519-dalek's `verify_strict`, refuses signatures whose points
//! carry a torsion component; a cofactorless *batch* accepts some of them, depending on its
//! random coefficients.)
//!
//! Batching: [`BatchVerifier`], one multiscalar multiplication for any number of signatures.

use crate::hex;
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use curve25519_dalek::Scalar;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha512};
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
    if verifies(&key, &sig, message.as_bytes()) {
        Ok(())
    } else {
        Err(SignatureError::Invalid)
    }
}

/// The verification equation, cofactored: `[8]([s]B - R - [k]A) = 0` with
/// `k = SHA-512(R || A || M)`. Cofactored like ZIP-215 and the reference, so a signature's
/// validity never depends on how it is batched (a cofactorless batch may accept or refuse a
/// signature whose points carry a torsion component, depending on the batch's coefficients).
fn verifies(key: &VerifyingKey, sig: &ParsedSignature, message: &[u8]) -> bool {
    let Some(r) = CompressedEdwardsY(sig.r).decompress() else {
        return false;
    };
    let k = challenge(&sig.r, key, message);
    let sb_minus_ka =
        EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-key.to_edwards(), &sig.s);
    (sb_minus_ka - r).mul_by_cofactor().is_identity()
}

/// `k = SHA-512(R || A || M)` reduced modulo L.
fn challenge(r: &[u8; 32], key: &VerifyingKey, message: &[u8]) -> Scalar {
    let mut h = Sha512::new();
    h.update(r);
    h.update(key.as_bytes());
    h.update(message);
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

/// Decodes and checks a public key: exact lowercase hex, canonical, not of small order.
pub fn parse_key(public_key_hex: &str) -> Result<VerifyingKey, SignatureError> {
    key_from_bytes(hex::decode::<32>(public_key_hex).map_err(SignatureError::KeyEncoding)?)
}

/// [`parse_key`] after the hex: canonical, not of small order (cached once it passed).
fn key_from_bytes(bytes: [u8; 32]) -> Result<VerifyingKey, SignatureError> {
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

/// A signature that passed the encoding checks: `R` as sent, `S` as a reduced scalar.
#[derive(Debug, Clone, Copy)]
pub struct ParsedSignature {
    r: [u8; 32],
    s: Scalar,
}

/// Decodes and checks a signature: exact lowercase hex, canonical `R` not of small order, `S < L`.
pub fn parse_signature(signature_hex: &str) -> Result<ParsedSignature, SignatureError> {
    let bytes = hex::decode::<64>(signature_hex).map_err(SignatureError::SignatureEncoding)?;
    let r: [u8; 32] = bytes[..32].try_into().expect("32 bytes");
    let s: [u8; 32] = bytes[32..].try_into().expect("32 bytes");
    check_point(&r).map_err(|e| match e {
        PointFault::NonCanonical => SignatureError::NonCanonicalR,
        PointFault::SmallOrder => SignatureError::WeakR,
    })?;
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s))
        .ok_or(SignatureError::NonCanonicalS)?;
    Ok(ParsedSignature { r, s })
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
            let decodes_to_same = CompressedEdwardsY(flipped)
                .decompress()
                .is_some_and(|p| p == point);
            if decodes_to_same {
                list.push(flipped);
            }
        }
        list
    })
}

/// Collects (key, message, signature) triples and verifies them together: one multiscalar
/// multiplication `[8]( -[Σ z·s]B + Σ [z]R + Σ_keys [Σ z·k]A ) = 0` with 128-bit coefficients
/// `z` derived from every input (a signer cannot choose them). Signatures by the same key share
/// one point: a run of blocks from a thousand senders costs about one point per signature, not
/// two. The equation is cofactored, like [`verify`], so the answer is the same whatever the
/// batch: every signature verifies alone (up to a 2^-128 chance for the batch).
#[derive(Default)]
pub struct BatchVerifier<'a> {
    entries: Vec<Entry<'a>>,
    /// Distinct keys, in first-seen order; entries point into it.
    keys: Vec<VerifyingKey>,
    /// Position in `keys` by encoding (decoding a key costs a square root).
    key_positions: HashMap<[u8; 32], usize>,
}

struct Entry<'a> {
    key: usize,
    signature: ParsedSignature,
    message: &'a [u8],
}

impl<'a> BatchVerifier<'a> {
    pub fn with_capacity(n: usize) -> Self {
        BatchVerifier {
            entries: Vec::with_capacity(n),
            ..Self::default()
        }
    }

    /// Queues one signature; encoding and small-order faults are reported now, item by item.
    pub fn push(
        &mut self,
        public_key_hex: &str,
        message: &'a str,
        signature_hex: &str,
    ) -> Result<(), SignatureError> {
        let signature = parse_signature(signature_hex)?;
        let raw = hex::decode::<32>(public_key_hex).map_err(SignatureError::KeyEncoding)?;
        let key = match self.key_positions.get(&raw) {
            Some(&position) => position,
            None => {
                self.keys.push(key_from_bytes(raw)?);
                self.key_positions.insert(raw, self.keys.len() - 1);
                self.keys.len() - 1
            }
        };
        self.entries.push(Entry {
            key,
            signature,
            message: message.as_bytes(),
        });
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets every signature queued after the first `len` (keys stay known).
    pub fn truncate(&mut self, len: usize) {
        self.entries.truncate(len);
    }

    /// Verifies the queued signatures. On failure, returns the positions (in push order) of the
    /// signatures that fail on their own.
    pub fn verify(self) -> Result<(), Vec<usize>> {
        if self.entries.is_empty() || self.equation_holds() {
            return Ok(());
        }
        let failed: Vec<usize> = (self.entries.iter().enumerate())
            .filter(|(_, e)| !verifies(&self.keys[e.key], &e.signature, e.message))
            .map(|(i, _)| i)
            .collect();
        // A batch can only fail if some signature fails alone; report all if none does.
        Err(if failed.is_empty() {
            (0..self.entries.len()).collect()
        } else {
            failed
        })
    }

    fn equation_holds(&self) -> bool {
        let challenges: Vec<Scalar> = (self.entries.iter())
            .map(|e| challenge(&e.signature.r, &self.keys[e.key], e.message))
            .collect();
        let zs = self.coefficients(&challenges);
        let mut b_coefficient = Scalar::ZERO;
        let mut key_coefficients = vec![Scalar::ZERO; self.keys.len()];
        for ((e, k), z) in self.entries.iter().zip(&challenges).zip(&zs) {
            b_coefficient -= z * e.signature.s;
            key_coefficients[e.key] += z * k;
        }
        let rs = (self.entries.iter()).map(|e| CompressedEdwardsY(e.signature.r).decompress());
        let points = std::iter::once(Some(ED25519_BASEPOINT_POINT))
            .chain(rs)
            .chain(self.keys.iter().map(|key| Some(key.to_edwards())));
        let scalars = std::iter::once(b_coefficient)
            .chain(zs)
            .chain(key_coefficients);
        EdwardsPoint::optional_multiscalar_mul(scalars, points)
            .is_some_and(|sum| sum.mul_by_cofactor().is_identity())
    }

    /// One 128-bit coefficient per signature, from a SHA-512 over every input (each challenge
    /// covers R, A and the message; S is added): four per SHA-512 of the seed and a counter.
    fn coefficients(&self, challenges: &[Scalar]) -> Vec<Scalar> {
        let mut seed = Sha512::new();
        seed.update(b"miniledger batch verification v1");
        for (e, k) in self.entries.iter().zip(challenges) {
            seed.update(k.as_bytes());
            seed.update(e.signature.s.as_bytes());
        }
        let seed = seed.finalize();
        let mut zs = Vec::with_capacity(challenges.len());
        for counter in 0..challenges.len().div_ceil(4) as u64 {
            let block = Sha512::new()
                .chain_update(seed)
                .chain_update(counter.to_le_bytes())
                .finalize();
            for chunk in block.chunks_exact(16) {
                let z = u128::from_le_bytes(chunk.try_into().expect("16 bytes"));
                zs.push(Scalar::from(z));
            }
        }
        zs.truncate(challenges.len());
        zs
    }
}
