//! Requests from the API: transactions to admit and spread, waits for a commit, status.

use super::events::{FullEvent, Level, Target, WaitOutcome, WaiterId};
use super::{FullNode, Mode, NodeStorage, Now};
use crate::mempool::AdmitError;
use crate::model::{Block, PayloadBody, Transaction};
use crate::net::PeerKind;
use crate::protocol::{Message, TxMessage};
use crate::raft::RaftStatus;
use crate::validation::CheckedTx;

/// Why a transaction from the API was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Admit(#[from] AdmitError),
    /// The node cannot write blocks (see [`Status::disk_fault`]).
    #[error("the node cannot store blocks ({0}); new transactions are refused until it can")]
    Disk(String),
}

/// A snapshot for the API and CLI.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub node_id: String,
    pub public_key: String,
    pub org_id: String,
    pub height: u64,
    pub tip_hash: String,
    pub peers: usize,
    pub mempool: usize,
    pub syncing: bool,
    pub sync_target: u64,
    /// Blocks applied through BlockSync since the node started (under Raft: a follower that
    /// fell behind the leader's retained window).
    pub synced_blocks: u64,
    /// Why the node cannot write blocks right now (disk full, read-only…), if it cannot:
    /// new transactions are then refused.
    pub disk_fault: Option<String>,
    /// Raft's view (None under solo); the API lays it out.
    #[serde(skip)]
    pub raft: Option<RaftStatus>,
    /// The validator set in force at the tip (public keys, sorted).
    #[serde(skip)]
    pub validators: Vec<String>,
    /// Solo: this node seals the blocks.
    #[serde(skip)]
    pub producer: bool,
}

impl<S: NodeStorage> FullNode<S> {
    /// Admits a transaction from the API and broadcasts it (solo), or forwards it to the leader
    /// (Raft: only the leader needs it, and every other node then verifies it once, in a block).
    /// The transaction's stateless rules were checked by the driver ([`CheckedTx`]), off the
    /// loop and batched if it likes.
    pub fn submit(&mut self, tx: CheckedTx, now: Now) -> Result<(), SubmitError> {
        self.set_now(now);
        if self.disk.fault().is_some() {
            return Err(self.disk.refusal());
        }
        let copy = tx.transaction().clone();
        self.admit(tx)?;
        self.spread(copy);
        Ok(())
    }

    /// A payload signed with the node's own key. The nonce is chosen here, so concurrent
    /// requests never pick the same one: the chain's next nonce, or one past the highest own
    /// transaction still pending, whichever is higher.
    pub fn submit_own(&mut self, body: PayloadBody, now: Now) -> Result<Transaction, SubmitError> {
        self.set_now(now);
        if self.disk.fault().is_some() {
            return Err(self.disk.refusal());
        }
        let nonce = self.next_own_nonce();
        self.reserve_own_nonce(nonce)?;
        let tx = Transaction::new_signed(&self.key, nonce, now.wall, body);
        let checked = CheckedTx::signed_here(tx, &self.config.rules.limits)
            .map_err(|e| SubmitError::Admit(AdmitError::Invalid(e)))?;
        let tx = checked.transaction().clone();
        self.submit(checked, now).map(|()| tx)
    }

    /// Whether a transaction with this hash is waiting in the mempool.
    pub fn is_pending(&self, hash: &str) -> bool {
        self.mempool.contains(hash)
    }

    /// Waits for the transaction `hash` to be committed or known not to be pending: the
    /// answer now if it is already decided, else a [`FullEvent::Waited`] for `id` later.
    pub fn wait_commit(&mut self, hash: String, id: WaiterId) -> Option<WaitOutcome> {
        match self.store.committed_height(&hash) {
            Ok(Some(height)) => Some(WaitOutcome::Committed(height)),
            _ if self.mempool.contains(&hash) => {
                self.waiters.entry(hash).or_default().push(id);
                None
            }
            _ => Some(WaitOutcome::Dropped),
        }
    }

    pub fn status(&self) -> Status {
        let tip = self.store.tip();
        Status {
            node_id: self.key.node_id().to_string(),
            public_key: self.key.public_hex().to_string(),
            org_id: self.config.peer.org_id.clone(),
            height: tip.height,
            tip_hash: tip.hash,
            peers: self.peers.peers().count(),
            mempool: self.mempool.len(),
            syncing: self.sync.is_syncing(),
            sync_target: self.sync.target_height(),
            synced_blocks: self.synced_blocks,
            disk_fault: self.disk.fault().map(str::to_string),
            raft: self.raft_status(),
            validators: self.validators.keys().to_vec(),
            producer: matches!(self.mode, Mode::SoloProducer),
        }
    }

    pub(super) fn spread(&mut self, tx: Transaction) {
        if self.mutation == super::Mutation::NoSpread {
            return;
        }
        if matches!(self.mode, Mode::Raft(_)) {
            self.raft_forward(tx);
        } else {
            // Light nodes ignore transactions (they hold no mempool): at 1,000 tx/s that would
            // be 1,000 frames a second to each of them for nothing.
            let message = Message::TxBroadcast(TxMessage { transaction: tx });
            (self.peers).broadcast_to(PeerKind::Full, &message, self.now.monotonic);
        }
    }

    pub(super) fn admit(&mut self, checked: CheckedTx) -> Result<(), AdmitError> {
        let tx = checked.transaction();
        let own = (tx.sender == self.key.public_hex()).then(|| (tx.nonce, tx.hash.clone()));
        let wall = self.now.wall;
        self.mempool
            .admit(checked, &self.config.rules.limits, &self.store, wall)?;
        self.mempool_changes += 1;
        if let Some((nonce, hash)) = own {
            self.own_pending.insert(nonce, hash);
        }
        Ok(())
    }

    /// The nonce for the next transaction signed by this node: one past the highest own
    /// transaction still pending, or the chain's next nonce if that is higher.
    fn next_own_nonce(&mut self) -> u64 {
        // A failed read yields 0: the signed transaction is then refused as a replay (or, with
        // own transactions pending, follows them), never stored with a wrong nonce.
        let chain = match self.store.next_nonce_of(self.key.public_hex()) {
            Ok(nonce) => nonce,
            Err(e) => {
                self.log(
                    Level::Error,
                    Target::Mempool,
                    format!("cannot read the node's own nonce: {e}"),
                );
                0
            }
        };
        // Forget own transactions that were committed, or left the mempool otherwise.
        while self
            .own_pending
            .first_key_value()
            .is_some_and(|(&nonce, _)| nonce < chain)
        {
            self.own_pending.pop_first();
        }
        while self
            .own_pending
            .last_key_value()
            .is_some_and(|(_, hash)| !self.mempool.contains(hash))
        {
            self.own_pending.pop_last();
        }
        self.own_pending
            .last_key_value()
            .map_or(chain, |(&nonce, _)| chain.max(nonce + 1))
    }

    /// Bookkeeping after `blocks` (consecutive, now the top of the chain) were committed.
    pub(super) fn on_committed(&mut self, blocks: &[Block]) {
        let Some(last) = blocks.last() else {
            return;
        };
        self.mempool_changes += 1;
        for block in blocks {
            if self.mutation != super::Mutation::KeepCommittedInMempool {
                self.mempool
                    .remove_committed(&block.transactions, &self.store);
            }
            self.out.log(
                Level::Debug,
                Target::Chain,
                format!(
                    "applied block height={} txs={}",
                    block.height,
                    block.transactions.len()
                ),
            );
            if !self.waiters.is_empty() {
                for tx in &block.transactions {
                    for id in self.waiters.remove(&tx.hash).into_iter().flatten() {
                        let outcome = WaitOutcome::Committed(block.height);
                        self.out.events.push_back(FullEvent::Waited { id, outcome });
                    }
                }
            }
        }
        self.follow_governance(blocks);
        self.answer_dropped_waiters();
        self.release_reads();
        self.peers.set_chain_height(last.height);
    }

    /// The latest transaction timestamp a block built now may hold (validators allow a
    /// transaction `max_future_ms` after its block, which is stamped now or later).
    pub(super) fn latest_tx_timestamp(&self) -> u64 {
        let max_future = self.config.rules.limits.max_future_ms;
        self.now.wall.saturating_add(max_future)
    }

    /// Drops transactions no block could hold yet (see `Mempool::evict_early`): they were
    /// admitted before this node's wall clock stepped back. Their waiters learn they were
    /// dropped, and the node's own nonces from the first of them are handed out again.
    pub(super) fn evict_early(&mut self) {
        let dropped = self.mempool.evict_early(self.latest_tx_timestamp());
        if dropped.is_empty() {
            return;
        }
        let line = format!(
            "dropped {} transactions stamped too far ahead of this node's clock (it stepped back?)",
            dropped.len()
        );
        self.out.log(Level::Warn, Target::Mempool, line);
        self.mempool_changes += 1;
        self.answer_dropped_waiters();
    }

    /// Answers the waiters of transactions that left the mempool uncommitted: they never will
    /// be (a nonce taken, or evicted).
    fn answer_dropped_waiters(&mut self) {
        let (mempool, events) = (&self.mempool, &mut self.out.events);
        self.waiters.retain(|hash, ids| {
            let pending = mempool.contains(hash);
            if !pending {
                for id in ids.drain(..) {
                    let outcome = WaitOutcome::Dropped;
                    events.push_back(FullEvent::Waited { id, outcome });
                }
            }
            pending
        });
    }
}
