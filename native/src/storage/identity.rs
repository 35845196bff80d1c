//! The node's identity: its Ed25519 key (the 32-byte seed, as hex, like MiniLedger stores it) and
//! organisation id, kept in `meta` so a restarted node keeps its address and validator role.

use super::error::{Context, StoreError};
use super::schema::{get_meta, set_meta};
use super::Store;
use miniledger_core::Keypair;

const PRIVATE_KEY: &str = "node_private_key";
const ORG_ID: &str = "org_id";

impl Store {
    /// The stored node key and org id; on first run a fresh key from the OS's randomness and
    /// `org_id_default`, stored before returning.
    pub fn load_or_create_identity(
        &self,
        org_id_default: &str,
    ) -> Result<(Keypair, String), StoreError> {
        // `unchecked_transaction` because this takes `&self`; nothing else writes meta meanwhile.
        let tx = self
            .conn
            .unchecked_transaction()
            .op("starting the identity read")?;
        let key = match get_meta(&tx, PRIVATE_KEY)? {
            Some(hex) => Keypair::from_private_hex(&hex)
                .map_err(|e| StoreError::Corrupt(format!("stored node key: {e}")))?,
            None => {
                let mut seed = [0u8; 32];
                getrandom::getrandom(&mut seed).map_err(StoreError::Randomness)?;
                let key = Keypair::from_seed(seed);
                seed.fill(0);
                set_meta(&tx, PRIVATE_KEY, &key.private_hex())?;
                tracing::info!(public_key = key.public_hex(), "created a new node key");
                key
            }
        };
        let org_id = match get_meta(&tx, ORG_ID)? {
            Some(org_id) => org_id,
            None => {
                set_meta(&tx, ORG_ID, org_id_default)?;
                org_id_default.to_string()
            }
        };
        tx.commit().op("storing the node identity")?;
        Ok((key, org_id))
    }
}

/// See [`Store::own_nonces_reserved`].
const OWN_NONCES_RESERVED: &str = "own_nonces_reserved";

impl Store {
    /// Nonces below this may have been used by transactions the node signed (`POST /tx`), in a
    /// previous run too: a restarted node must not sign new transactions with them.
    pub fn own_nonces_reserved(&self) -> Result<u64, StoreError> {
        match get_meta(&self.conn, OWN_NONCES_RESERVED)? {
            None => Ok(0),
            Some(v) => v
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("{OWN_NONCES_RESERVED}: {v:?}"))),
        }
    }

    /// Durably raises [`Store::own_nonces_reserved`] (one small synchronous write).
    pub fn reserve_own_nonces(&self, below: u64) -> Result<(), StoreError> {
        set_meta(&self.conn, OWN_NONCES_RESERVED, &below.to_string())
    }
}
