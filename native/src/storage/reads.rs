//! The read queries both handles answer: [`Store`](super::Store) (the node's writer) and
//! [`Reader`](super::Reader) (the API's read-only connections). One definition over a
//! connection, so the two cannot drift apart.

use super::error::StoreError;
use super::{blocks, state, transactions, StateRecord};
use miniledger_core::{Block, Transaction};
use rusqlite::Connection;

pub trait Reads {
    /// The connection the queries run on.
    fn connection(&self) -> &Connection;

    fn block(&self, height: u64) -> Result<Option<Block>, StoreError> {
        blocks::by_height(self.connection(), height)
    }

    fn block_by_hash(&self, hash: &str) -> Result<Option<Block>, StoreError> {
        blocks::by_hash(self.connection(), hash)
    }

    /// The transaction with this hash and the height of its block.
    fn transaction(&self, hash: &str) -> Result<Option<(Transaction, u64)>, StoreError> {
        transactions::by_hash(self.connection(), hash)
    }

    /// `limit` transactions, newest first after skipping `offset`, with their block heights.
    fn recent_transactions(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<(Transaction, u64)>, StoreError> {
        transactions::recent(self.connection(), offset, limit)
    }

    /// Committed transactions, all blocks.
    fn transaction_count(&self) -> Result<u64, StoreError> {
        transactions::count(self.connection())
    }

    /// The sender's latest `limit` transactions (highest nonce first), with their block heights.
    fn transactions_by_sender(
        &self,
        sender: &str,
        limit: usize,
    ) -> Result<Vec<(Transaction, u64)>, StoreError> {
        transactions::by_sender(self.connection(), sender, limit)
    }

    fn state_entry(&self, key: &str) -> Result<Option<StateRecord>, StoreError> {
        state::entry(self.connection(), key)
    }

    /// Entries in key order, optionally only those whose key starts with `prefix`.
    fn state_entries(
        &self,
        prefix: Option<&str>,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<StateRecord>, StoreError> {
        state::entries(self.connection(), prefix, limit, offset)
    }

    /// Number of keys in world state.
    fn state_count(&self) -> Result<u64, StoreError> {
        state::count(self.connection())
    }

    /// Number of keys in world state that start with `prefix`.
    fn state_count_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        state::count_prefix(self.connection(), prefix)
    }

    /// The sender's next nonce (0 for a sender never seen).
    fn nonce(&self, sender: &str) -> Result<u64, StoreError> {
        state::next_nonce(self.connection(), sender)
    }
}
