//! `<data-dir>/node.key`: the node's Ed25519 seed, outside the database every query reaches.
//!
//! JSON, so `keys show` can print the public key without the passphrase and a later layout can
//! be told from this one:
//! ```json
//! {"version": 1, "publicKey": "…", "seed": "<64 hex>"}                      (plain)
//! {"version": 1, "publicKey": "…", "encrypted": {"kdf": "argon2id", "memoryKib": 19456,
//!   "iterations": 2, "parallelism": 1, "salt": "…", "cipher": "xchacha20poly1305",
//!   "nonce": "…", "ciphertext": "…"}}                                          (with a passphrase)
//! ```
//! Encrypted: the seed under XChaCha20-Poly1305 with a key derived from the passphrase by
//! Argon2id (RustCrypto's `argon2` and `chacha20poly1305`); the public key is the associated
//! data, so a file whose public key was edited does not decrypt.

use super::secret_file;
use super::IdentityError;
use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use miniledger_core::{hex, Keypair};
use serde::{Deserialize, Serialize};
use std::path::Path;
use zeroize::Zeroizing;

/// File name of the key inside the data directory.
pub const KEY_FILE: &str = "node.key";
const VERSION: u32 = 1;

/// Argon2id cost for new files: OWASP's minimum for Argon2id (19 MiB, 2 passes), ~50 ms here,
/// paid once per start.
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;
/// Stored costs above these are refused: a crafted file must not make start-up take forever.
const MAX_MEMORY_KIB: u32 = 1 << 20;
const MAX_ITERATIONS: u32 = 64;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Stored {
    version: u32,
    public_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encrypted: Option<Sealed>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Sealed {
    kdf: String,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    salt: String,
    cipher: String,
    nonce: String,
    ciphertext: String,
}

/// A key file as read, before any decryption.
pub struct KeyFile {
    stored: Stored,
}

impl KeyFile {
    /// None if there is no key file at `path`.
    pub fn read(path: &Path) -> Result<Option<KeyFile>, IdentityError> {
        if !path.exists() {
            return Ok(None);
        }
        let bad = |reason: String| IdentityError::KeyFile {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = Zeroizing::new(secret_file::read(path).map_err(|e| bad(e.to_string()))?);
        let stored: Stored = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if stored.version != VERSION {
            return Err(bad(format!(
                "version {} (this node reads version {VERSION})",
                stored.version
            )));
        }
        if stored.seed.is_some() == stored.encrypted.is_some() {
            return Err(bad("expected exactly one of seed and encrypted".into()));
        }
        hex::decode::<32>(&stored.public_key).map_err(|e| bad(format!("publicKey: {e}")))?;
        Ok(Some(KeyFile { stored }))
    }

    /// The public key, readable without the passphrase.
    pub fn public_key(&self) -> &str {
        &self.stored.public_key
    }

    pub fn is_encrypted(&self) -> bool {
        self.stored.encrypted.is_some()
    }

    /// The key, decrypted with `passphrase` if the file is encrypted; checked against the
    /// stored public key.
    pub fn keypair(&self, path: &Path, passphrase: Option<&str>) -> Result<Keypair, IdentityError> {
        let bad = |reason: String| IdentityError::KeyFile {
            path: path.to_path_buf(),
            reason,
        };
        let seed: Zeroizing<[u8; 32]> = match (&self.stored.seed, &self.stored.encrypted) {
            (Some(seed), _) => {
                Zeroizing::new(hex::decode::<32>(seed).map_err(|e| bad(format!("seed: {e}")))?)
            }
            (None, Some(sealed)) => {
                let passphrase = passphrase.ok_or_else(|| IdentityError::PassphraseNeeded {
                    path: path.to_path_buf(),
                })?;
                open(sealed, passphrase, &self.stored.public_key).map_err(bad)?
            }
            (None, None) => unreachable!("checked by KeyFile::read"),
        };
        let key = Keypair::from_seed(*seed);
        if key.public_hex() != self.stored.public_key {
            return Err(bad("the seed does not belong to publicKey".into()));
        }
        Ok(key)
    }

    /// Writes `key` to `path` (0600, atomically), encrypted if a passphrase is given.
    pub fn write(
        path: &Path,
        key: &Keypair,
        passphrase: Option<&str>,
    ) -> Result<(), IdentityError> {
        let seed = Zeroizing::new(key.private_hex());
        let public_key = key.public_hex().to_string();
        let stored = match passphrase {
            None => Stored {
                version: VERSION,
                public_key,
                seed: Some(seed.to_string()),
                encrypted: None,
            },
            Some(passphrase) => {
                let raw = Zeroizing::new(hex::decode::<32>(&seed).expect("own hex"));
                let sealed = seal(&raw, passphrase, &public_key)?;
                Stored {
                    version: VERSION,
                    public_key,
                    seed: None,
                    encrypted: Some(sealed),
                }
            }
        };
        let mut json = Zeroizing::new(serde_json::to_vec_pretty(&stored).expect("plain data"));
        json.push(b'\n');
        secret_file::write(path, &json).map_err(|e| IdentityError::KeyFile {
            path: path.to_path_buf(),
            reason: format!("cannot write: {e}"),
        })
    }
}

fn argon2(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Argon2<'static>, String> {
    if memory_kib > MAX_MEMORY_KIB || iterations > MAX_ITERATIONS {
        return Err(format!(
            "key derivation costs too high (memory {memory_kib} KiB, {iterations} passes)"
        ));
    }
    let params = Params::new(memory_kib, iterations, parallelism, Some(32))
        .map_err(|e| format!("key derivation parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn derive(
    argon: &Argon2<'_>,
    passphrase: &str,
    salt: &[u8],
) -> Result<Zeroizing<[u8; 32]>, String> {
    let mut out = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.as_bytes(), salt, out.as_mut())
        .map_err(|e| format!("key derivation: {e}"))?;
    Ok(out)
}

fn seal(seed: &[u8; 32], passphrase: &str, public_key: &str) -> Result<Sealed, IdentityError> {
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 24];
    getrandom::getrandom(&mut salt).map_err(IdentityError::Randomness)?;
    getrandom::getrandom(&mut nonce).map_err(IdentityError::Randomness)?;
    let key = argon2(MEMORY_KIB, ITERATIONS, PARALLELISM)
        .and_then(|argon| derive(&argon, passphrase, &salt))
        .map_err(IdentityError::Passphrase)?;
    let cipher = XChaCha20Poly1305::new(key.as_ref().into());
    let payload = Payload {
        msg: seed,
        aad: public_key.as_bytes(),
    };
    let ciphertext = cipher
        .encrypt(XNonce::from_slice(&nonce), payload)
        .map_err(|_| IdentityError::Passphrase("encryption failed".into()))?;
    Ok(Sealed {
        kdf: "argon2id".into(),
        memory_kib: MEMORY_KIB,
        iterations: ITERATIONS,
        parallelism: PARALLELISM,
        salt: hex::encode(&salt),
        cipher: "xchacha20poly1305".into(),
        nonce: hex::encode(&nonce),
        ciphertext: hex::encode(&ciphertext),
    })
}

fn open(
    sealed: &Sealed,
    passphrase: &str,
    public_key: &str,
) -> Result<Zeroizing<[u8; 32]>, String> {
    if sealed.kdf != "argon2id" || sealed.cipher != "xchacha20poly1305" {
        return Err(format!(
            "unknown encryption {} / {}",
            sealed.kdf, sealed.cipher
        ));
    }
    let salt = hex::decode_vec(&sealed.salt).map_err(|e| format!("salt: {e}"))?;
    let nonce = hex::decode::<24>(&sealed.nonce).map_err(|e| format!("nonce: {e}"))?;
    let ciphertext = hex::decode_vec(&sealed.ciphertext).map_err(|e| format!("ciphertext: {e}"))?;
    let argon = argon2(sealed.memory_kib, sealed.iterations, sealed.parallelism)?;
    let key = derive(&argon, passphrase, &salt)?;
    let cipher = XChaCha20Poly1305::new(key.as_ref().into());
    let payload = Payload {
        msg: &ciphertext,
        aad: public_key.as_bytes(),
    };
    let plain = Zeroizing::new(
        cipher
            .decrypt(XNonce::from_slice(&nonce), payload)
            .map_err(|_| "wrong passphrase (or the file was altered)".to_string())?,
    );
    let seed: [u8; 32] = plain
        .as_slice()
        .try_into()
        .map_err(|_| "the decrypted seed is not 32 bytes".to_string())?;
    Ok(Zeroizing::new(seed))
}
