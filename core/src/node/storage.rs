//! What the full node needs of its store, as a trait the driver implements: the native node's
//! SQLite store is one implementation, the cluster simulator's in-memory store another. Reads
//! of the committed chain are the pipeline's [`ChainReads`]; the rest are the node's own
//! records (Raft's durable state, own-nonce reservations) and the commits themselves. Commits
//! are synchronous calls whose return is their completion: the node goes on only once a
//! write is durable (Raft state before the messages that promise it; a block it produced
//! before its announcement), as the driver contract in `raft` asks. Committed Raft entries,
//! durable in the Raft log already, are stored as blocks without a flush of their own
//! ([`Durability::Logged`]).

use crate::model::Block;
use crate::pipeline::{BlockError, ChainReads, Executed, Rules};
use crate::protocol::LogEntry;
use crate::raft::{HardState, Restored};
use crate::state::commitment::TreeChanges;
use crate::state::StateDelta;
use crate::validation::ValidationError;
use std::collections::HashMap;

/// A store operation that failed. `disk_fault`: the disk refused the write (full, read-only,
/// failing) and nothing of it was stored, so the same write can succeed later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StorageError {
    pub message: String,
    pub disk_fault: bool,
}

impl StorageError {
    pub fn new(message: impl std::fmt::Display, disk_fault: bool) -> Self {
        StorageError {
            message: message.to_string(),
            disk_fault,
        }
    }
}

/// One block to commit: the block, the state delta its execution produced, and each sender's
/// next nonce after it (the pipeline's verdict).
#[derive(Clone, Copy)]
pub struct CommitItem<'a> {
    pub block: &'a Block,
    pub delta: &'a StateDelta,
    pub next_nonces: &'a HashMap<String, u64>,
}

impl<'a> CommitItem<'a> {
    /// A block with the effects the pipeline computed for it.
    pub fn new(block: &'a Block, executed: &'a Executed) -> Self {
        CommitItem {
            block,
            delta: &executed.delta,
            next_nonces: &executed.next_nonces,
        }
    }
}

/// How durable a commit is when it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// On disk: the store is this node's only record of the blocks (a block it produced, one a
    /// peer announced), so it must survive a power failure once the call returns.
    Synced,
    /// Atomic and in order, but a power failure may lose it until the store's next synced
    /// write (any `persist_raft` or `Synced` commit). For committed Raft entries: they are
    /// already durable in this store's Raft log (`persist_raft`), and they leave the log in the
    /// same atomic write that stores them as blocks, so a lost commit leaves them in the log,
    /// and the restarted node applies them again. Raft's commit index is volatile state: the
    /// entries were durable on a majority before they were committed.
    Logged,
}

/// One Raft `Ready`'s writes, in the order the driver contract asks for.
pub struct RaftWrite<'a> {
    pub hard_state: Option<&'a HardState>,
    pub truncate_from: Option<u64>,
    pub entries: &'a [LogEntry],
    pub learned_term: Option<(u64, u64)>,
}

impl RaftWrite<'_> {
    pub fn is_empty(&self) -> bool {
        self.hard_state.is_none()
            && self.truncate_from.is_none()
            && self.entries.is_empty()
            && self.learned_term.is_none()
    }
}

/// How a synced run went into the store: how many blocks of it, from its start, were
/// committed, and why the next one was refused (None: all of them).
pub type SyncedRun = (usize, Option<BlockError>);

/// The full node's store.
pub trait NodeStorage: ChainReads {
    /// Holds one read transaction while a check reads the chain (a consistent view, and one
    /// transaction instead of one per read). `()` for a store without transactions.
    type Snapshot<'a>
    where
        Self: 'a;

    fn read_snapshot(&self) -> Self::Snapshot<'_>;

    /// The next nonce of `sender` on the committed chain.
    fn next_nonce_of(&self, sender: &str) -> Result<u64, StorageError>;

    /// The height of the committed block holding transaction `hash`, if any.
    fn committed_height(&self, hash: &str) -> Result<Option<u64>, StorageError>;

    /// Commits blocks the pipeline accepted (consecutive, the first on the tip) with the state
    /// tree's net changes after them, all or nothing, as durably as `durability` says.
    /// `terms[i]`: the Raft term of `items[i]`, stored with it, if known (empty: none known).
    fn commit(
        &mut self,
        items: &[CommitItem<'_>],
        tree: TreeChanges,
        terms: &[Option<u64>],
        durability: Durability,
    ) -> Result<(), StorageError>;

    /// Commits what the block pipeline accepts of a synced run (consecutive, the first on the
    /// tip; `stateless`: what the stateless checks found, see `pipeline::check_verified`): the
    /// store runs `Pending::layer_into` over its own reads and may write each accepted block
    /// while the next is checked, committing the accepted prefix once. Nothing is committed if
    /// nothing is accepted or a write fails.
    fn commit_synced(
        &mut self,
        blocks: &[Block],
        stateless: Option<(usize, ValidationError)>,
        rules: &Rules,
        terms: &[Option<u64>],
    ) -> Result<SyncedRun, StorageError>;

    /// Raft's state to restore at start.
    fn raft_restored(&self) -> Result<Restored, StorageError>;

    /// Persists one `Ready`'s writes durably, all or nothing.
    fn persist_raft(&mut self, write: &RaftWrite<'_>) -> Result<(), StorageError>;

    /// The Raft terms of committed blocks `from..=to` if every one is known.
    fn block_terms(&self, from: u64, to: u64) -> Result<Option<Vec<u64>>, StorageError>;

    /// The stored JSON of blocks `from..=to`, ascending, stopping before the total exceeds
    /// `max_bytes` but always including the first block found.
    fn block_json_range(
        &self,
        from: u64,
        to: u64,
        max_bytes: usize,
    ) -> Result<Vec<String>, StorageError>;

    /// Own nonces below this were handed out by an earlier run (see `own_nonces`).
    fn own_nonces_reserved(&self) -> Result<u64, StorageError>;

    /// Durably records that own nonces below `below` may be in use.
    fn reserve_own_nonces(&mut self, below: u64) -> Result<(), StorageError>;
}
