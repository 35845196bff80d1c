//! Who the node is and who may act for it: its Ed25519 key (in `node.key`, optionally encrypted
//! with a passphrase), its organisation, and the operator token that lets a caller make the node
//! sign. None of these secrets is in the database, which `POST /state/query` reads.
//!
//! Data directories of earlier versions kept the seed in the database's `meta` table; the first
//! start of this version moves it to `node.key` and erases it from the database file, its WAL and
//! its free pages (`Store::erase_legacy_node_key`).

mod key_file;
mod secret_file;
mod token;

pub use key_file::{KeyFile, KEY_FILE};
pub use secret_file::secure_dir;
pub use token::{OperatorToken, TOKEN_FILE};

use crate::storage::{Store, StoreError};
use miniledger_core::Keypair;
use std::path::{Path, PathBuf};
use thiserror::Error;
use zeroize::Zeroizing;

/// Environment variable holding the key passphrase (else `--key-passphrase-file`).
pub const PASSPHRASE_ENV: &str = "MINILEDGER_KEY_PASSPHRASE";

#[derive(Debug, Error)]
pub enum IdentityError {
    #[error("key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error(
        "key file {path} is encrypted: give its passphrase in ${PASSPHRASE_ENV} or with \
         --key-passphrase-file"
    )]
    PassphraseNeeded { path: PathBuf },
    #[error("key passphrase: {0}")]
    Passphrase(String),
    #[error("operator token {path}: {reason}")]
    Token { path: PathBuf, reason: String },
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no node key in {0}: run `miniledger init` (or `miniledger keys import`) first")]
    NoKey(PathBuf),
    #[error(
        "{path} holds node {file_key} but the database still holds the key of node {db_key}; \
         move one of them away before starting"
    )]
    Conflict {
        path: PathBuf,
        file_key: String,
        db_key: String,
    },
    #[error("cannot read the operating system's randomness: {0}")]
    Randomness(getrandom::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The key passphrase, if the operator gave one (wiped from memory when dropped).
#[derive(Default)]
pub struct Passphrase(Option<Zeroizing<String>>);

impl Passphrase {
    /// From `file` (its first line) if given, else from `$MINILEDGER_KEY_PASSPHRASE`.
    pub fn from_file_or_env(file: Option<&Path>) -> Result<Passphrase, IdentityError> {
        let text = match file {
            Some(file) => Zeroizing::new(std::fs::read_to_string(file).map_err(|e| {
                IdentityError::Passphrase(format!("cannot read {}: {e}", file.display()))
            })?),
            None => match std::env::var(PASSPHRASE_ENV) {
                Ok(text) => Zeroizing::new(text),
                Err(_) => return Ok(Passphrase(None)),
            },
        };
        let line = text.lines().next().unwrap_or("");
        if line.is_empty() {
            return Err(IdentityError::Passphrase("the passphrase is empty".into()));
        }
        Ok(Passphrase(Some(Zeroizing::new(line.to_string()))))
    }

    pub fn get(&self) -> Option<&str> {
        self.0.as_deref().map(String::as_str)
    }
}

/// What `init`/`start` do when the data directory has no key yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Make a new key from the operating system's randomness.
    Create,
    /// Fail with [`IdentityError::NoKey`].
    Refuse,
}

/// The node's identity as the running node needs it.
pub struct Identity {
    pub key: Keypair,
    pub org_id: String,
}

impl Identity {
    /// The node's key from `<data_dir>/node.key` (moved there from an older database first),
    /// created if missing and `missing` allows; and its org id (stored on first use).
    pub fn load(
        data_dir: &Path,
        store: &Store,
        org_default: &str,
        passphrase: &Passphrase,
        missing: Missing,
    ) -> Result<Identity, IdentityError> {
        secure(data_dir)?;
        let path = data_dir.join(KEY_FILE);
        let key = match (KeyFile::read(&path)?, store.legacy_node_key()?) {
            (Some(file), legacy) => {
                let key = file.keypair(&path, passphrase.get())?;
                if let Some(legacy) = legacy {
                    let old = Keypair::from_private_hex(&legacy)
                        .map_err(|e| StoreError::Corrupt(format!("stored node key: {e}")))?;
                    if old.public_hex() != key.public_hex() {
                        return Err(IdentityError::Conflict {
                            path,
                            file_key: key.public_hex().into(),
                            db_key: old.public_hex().into(),
                        });
                    }
                    // A crash between writing the file and erasing the row: finish the move.
                    store.erase_legacy_node_key()?;
                }
                key
            }
            (None, Some(legacy)) => {
                let key = Keypair::from_private_hex(&legacy)
                    .map_err(|e| StoreError::Corrupt(format!("stored node key: {e}")))?;
                drop(Zeroizing::new(legacy));
                KeyFile::write(&path, &key, passphrase.get())?;
                store.erase_legacy_node_key()?;
                tracing::info!(
                    path = %path.display(),
                    public_key = key.public_hex(),
                    "moved the node key out of the database into its own file"
                );
                key
            }
            (None, None) if missing == Missing::Create => {
                let key = new_key()?;
                KeyFile::write(&path, &key, passphrase.get())?;
                tracing::info!(public_key = key.public_hex(), "created a new node key");
                key
            }
            (None, None) => return Err(IdentityError::NoKey(data_dir.to_path_buf())),
        };
        let org_id = store.org_id(org_default)?;
        Ok(Identity { key, org_id })
    }

    /// Stores `key` as the data directory's node key (`keys import`); refuses to replace a
    /// different key unless `replace`.
    pub fn import(
        data_dir: &Path,
        store: &Store,
        key: &Keypair,
        passphrase: &Passphrase,
        replace: bool,
    ) -> Result<(), IdentityError> {
        secure(data_dir)?;
        let path = data_dir.join(KEY_FILE);
        let current = match KeyFile::read(&path)? {
            Some(file) => Some(file.public_key().to_string()),
            None => store
                .legacy_node_key()?
                .and_then(|hex| Keypair::from_private_hex(&hex).ok())
                .map(|k| k.public_hex().to_string()),
        };
        if let Some(current) = current {
            if current != key.public_hex() && !replace {
                return Err(IdentityError::KeyFile {
                    path,
                    reason: format!(
                        "already holds node {current}; give --force to replace it (a validator \
                         whose key changes is no longer the same validator)"
                    ),
                });
            }
        }
        KeyFile::write(&path, key, passphrase.get())?;
        if store.legacy_node_key()?.is_some() {
            store.erase_legacy_node_key()?;
        }
        Ok(())
    }
}

fn secure(data_dir: &Path) -> Result<(), IdentityError> {
    secure_dir(data_dir).map_err(|source| IdentityError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    })
}

fn new_key() -> Result<Keypair, IdentityError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::getrandom(seed.as_mut()).map_err(IdentityError::Randomness)?;
    Ok(Keypair::from_seed(*seed))
}
