//! Nonces of the transactions the node signs itself (`submit_own`): never reused across a
//! crash. Before handing out a nonce the node durably reserves a range past it (one small
//! write per [`RESERVE`] transactions). A node killed -9 loses its mempool, but its signed
//! transactions may still be in flight (in the Raft leader's mempool, a block being
//! replicated); restarted, it signs new transactions only above the reservation, so none of
//! them can collide with an old one and be dropped after it was acknowledged. The nonces from
//! the chain's next one up to the reservation are filled with no-op transactions (a delete of
//! [`FILLER_KEY`]): each either commits or loses its nonce to the old transaction still in
//! flight, and the node's nonce sequence has no gap.

use super::events::{Level, Target};
use super::{FullNode, NodeStorage, StorageError, SubmitError};
use crate::mempool::AdmitError;
use crate::model::{PayloadBody, Transaction};
use crate::validation::CheckedTx;

/// Nonces reserved per durable write.
const RESERVE: u64 = 256;
/// The key the no-op filler transactions delete.
pub const FILLER_KEY: &str = "_miniledger/nonce-filler";

impl<S: NodeStorage> FullNode<S> {
    /// At start: fills the nonces a previous run may have handed out with no-ops.
    pub(super) fn restore_own_nonces(&mut self) -> Result<(), StorageError> {
        let reserved = self.store.own_nonces_reserved()?;
        let chain = self.store.next_nonce_of(self.key.public_hex())?;
        self.own_reserved = reserved.max(chain);
        if reserved <= chain {
            return Ok(());
        }
        self.log(Level::Info, Target::Mempool, format!("nonces {chain}..{reserved} may be held by transactions signed before a restart: signing no-op transactions for them, new ones start at {reserved}"));
        for nonce in chain..reserved {
            let body = PayloadBody::StateDelete {
                key: FILLER_KEY.to_string(),
            };
            let tx = Transaction::new_signed(&self.key, nonce, self.now.wall, body);
            let admitted = CheckedTx::signed_here(tx, &self.config.rules.limits)
                .map_err(AdmitError::Invalid)
                .and_then(|checked| self.admit(checked));
            if let Err(e) = admitted {
                self.log(
                    Level::Warn,
                    Target::Mempool,
                    format!("nonce filler {nonce} refused: {e}"),
                );
                break;
            }
        }
        Ok(())
    }

    /// Makes sure `nonce` is reserved durably before a transaction with it is signed.
    pub(super) fn reserve_own_nonce(&mut self, nonce: u64) -> Result<(), SubmitError> {
        if nonce < self.own_reserved {
            return Ok(());
        }
        let below = nonce + RESERVE;
        if let Err(e) = self.store.reserve_own_nonces(below) {
            self.log(
                Level::Error,
                Target::Mempool,
                format!("cannot reserve own nonces: {e}"),
            );
            return Err(SubmitError::Disk(e.to_string()));
        }
        self.own_reserved = below;
        Ok(())
    }
}
