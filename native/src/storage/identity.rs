//! What `meta` keeps about the node itself: its organisation id, the nonces it reserved for
//! transactions it signs, and (in databases of earlier versions) its private key, which
//! `crate::identity` moves to its own file and erases from here.

use super::error::{Context, StoreError};
use super::schema::{get_meta, set_meta};
use super::Store;

/// Where layouts before this version kept the node's seed (hex).
const LEGACY_PRIVATE_KEY: &str = "node_private_key";
const ORG_ID: &str = "org_id";

impl Store {
    /// The stored org id; on first use `default`, stored before returning.
    pub fn org_id(&self, default: &str) -> Result<String, StoreError> {
        if let Some(org_id) = get_meta(&self.conn, ORG_ID)? {
            return Ok(org_id);
        }
        set_meta(&self.conn, ORG_ID, default)?;
        Ok(default.to_string())
    }

    /// The node seed an earlier version stored in `meta`, if it is still there.
    pub fn legacy_node_key(&self) -> Result<Option<String>, StoreError> {
        get_meta(&self.conn, LEGACY_PRIVATE_KEY)
    }

    /// Erases the legacy seed from the database for good: the row is deleted with
    /// `secure_delete` on (its bytes overwritten, not just unlinked), the file is rebuilt with
    /// `VACUUM` (no free page keeps an old copy), and the WAL, which may hold earlier copies of
    /// the page, is checkpointed and truncated to nothing.
    pub fn erase_legacy_node_key(&self) -> Result<(), StoreError> {
        self.conn
            .pragma_update(None, "secure_delete", true)
            .op("enabling secure_delete")?;
        let erased = self
            .conn
            .execute("DELETE FROM meta WHERE key = ?1", [LEGACY_PRIVATE_KEY])
            .op("erasing the legacy node key")
            .and_then(|_| {
                self.conn
                    .execute_batch("VACUUM")
                    .op("vacuuming the database")
            })
            .and_then(|()| {
                self.conn
                    .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                        row.get::<_, i64>(0)
                    })
                    .op("truncating the WAL")
            });
        self.conn
            .pragma_update(None, "secure_delete", false)
            .op("disabling secure_delete")?;
        match erased? {
            0 => {
                tracing::info!("erased the legacy node key from the database");
                Ok(())
            }
            _ => Err(StoreError::Corrupt(
                "the legacy node key was deleted but the WAL, which may hold old copies, \
                 could not be truncated (another process holds the database open): stop it \
                 and run `sqlite3 ledger.db 'PRAGMA wal_checkpoint(TRUNCATE)'`"
                    .into(),
            )),
        }
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
