//! Transactions waiting for a block: validated on entry, de-duplicated by hash and by
//! (sender, nonce), bounded, and handed to the block producer in nonce order per sender.
//!
//! Admission takes only a [`CheckedTx`] (every single-transaction rule held, signature
//! included, checked wherever the driver chose), so a block producer never has to re-verify;
//! it only has to respect nonce order, which `ready` does.
//!
//! Time: validators refuse a block holding a transaction stamped more than `max_future_ms`
//! after the block. A node whose wall clock jumped ahead signs such transactions; if a leader
//! put one in a block, every follower would refuse the block and distrust the leader, election
//! after election. So admission refuses them against the local clock, `ready` never hands one
//! out, and `evict_early` drops those a clock step back made early (with the sender's later
//! nonces, which could not be included before them).

use crate::model::Transaction;
use crate::validation::{CheckedTx, Limits, NonceView, Rule, ValidationError};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AdmitError {
    #[error("already pending")]
    Duplicate,
    #[error("{0}")]
    Invalid(ValidationError),
    #[error("mempool full ({0} transactions)")]
    Full(usize),
}

#[derive(Debug, Default)]
pub struct Mempool {
    capacity: usize,
    /// sender → nonce → tx: nonce order per sender for free.
    by_sender: BTreeMap<String, BTreeMap<u64, Transaction>>,
    hashes: HashMap<String, (String, u64)>,
}

impl Mempool {
    pub fn new(capacity: usize) -> Self {
        Mempool {
            capacity,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    pub fn contains(&self, hash: &str) -> bool {
        self.hashes.contains_key(hash)
    }

    /// Every held transaction, by sender then nonce (a Raft follower forwards them all to a
    /// new leader).
    pub fn transactions(&self) -> impl Iterator<Item = &Transaction> {
        self.by_sender.values().flat_map(|queue| queue.values())
    }

    /// Holds the checked `tx` at local wall time `now_ms`. Nonces already used on chain are
    /// refused as replays; future nonces are held until the gap fills; a timestamp more than
    /// `limits.max_future_ms` ahead of `now_ms` is refused (no block could hold it yet).
    pub fn admit(
        &mut self,
        tx: CheckedTx,
        limits: &Limits,
        chain: &impl NonceView,
        now_ms: u64,
    ) -> Result<(), AdmitError> {
        let tx = tx.into_transaction();
        if self.hashes.contains_key(&tx.hash) {
            return Err(AdmitError::Duplicate);
        }
        if tx.timestamp > now_ms.saturating_add(limits.max_future_ms) {
            let detail = format!(
                "timestamp {} is more than {} ms ahead of local time {now_ms}",
                tx.timestamp, limits.max_future_ms
            );
            return Err(AdmitError::Invalid(ValidationError::new(
                Rule::TxTimestamp,
                detail,
            )));
        }
        let next = chain.next_nonce(&tx.sender);
        if tx.nonce < next {
            let detail = format!("nonce {} was already used (next is {next})", tx.nonce);
            return Err(AdmitError::Invalid(ValidationError::new(
                Rule::TxReplay,
                detail,
            )));
        }
        if self
            .by_sender
            .get(&tx.sender)
            .is_some_and(|q| q.contains_key(&tx.nonce))
        {
            let detail = format!(
                "another pending transaction already uses nonce {}",
                tx.nonce
            );
            return Err(AdmitError::Invalid(ValidationError::new(
                Rule::TxDuplicate,
                detail,
            )));
        }
        if self.len() >= self.capacity {
            return Err(AdmitError::Full(self.capacity));
        }
        self.hashes
            .insert(tx.hash.clone(), (tx.sender.clone(), tx.nonce));
        self.by_sender
            .entry(tx.sender.clone())
            .or_default()
            .insert(tx.nonce, tx);
        Ok(())
    }

    /// Up to `max` transactions that can go into the next block: for each sender, the run of
    /// consecutive nonces starting at the chain's next nonce, ending before any transaction
    /// stamped after `latest` (the block's timestamp plus the skew validators allow). Senders
    /// are interleaved round-robin so one busy sender cannot starve the others.
    pub fn ready(&self, max: usize, chain: &impl NonceView, latest: u64) -> Vec<Transaction> {
        let runs: Vec<Vec<&Transaction>> = self
            .by_sender
            .iter()
            .map(|(sender, queue)| {
                let mut expected = chain.next_nonce(sender);
                queue
                    .range(expected..)
                    .take_while(|(nonce, tx)| {
                        let ok = **nonce == expected && tx.timestamp <= latest;
                        expected += 1;
                        ok
                    })
                    .map(|(_, tx)| tx)
                    .collect()
            })
            .collect();
        let mut out = Vec::with_capacity(max.min(self.len()));
        let mut round = 0;
        while out.len() < max {
            let before = out.len();
            for run in &runs {
                if let Some(tx) = run.get(round) {
                    out.push((*tx).clone());
                    if out.len() == max {
                        break;
                    }
                }
            }
            if out.len() == before {
                break;
            }
            round += 1;
        }
        out
    }

    /// Drops every transaction stamped after `latest` (admitted before the local clock stepped
    /// back), with its sender's later nonces. Returns what was dropped.
    pub fn evict_early(&mut self, latest: u64) -> Vec<Transaction> {
        let mut dropped = Vec::new();
        self.by_sender.retain(|_, queue| {
            if let Some(first) = queue.values().find(|tx| tx.timestamp > latest) {
                let nonce = first.nonce;
                dropped.extend(queue.split_off(&nonce).into_values());
            }
            !queue.is_empty()
        });
        for tx in &dropped {
            self.hashes.remove(&tx.hash);
        }
        dropped
    }

    /// Drops what a committed block contains, and anything its nonces made stale.
    pub fn remove_committed(&mut self, txs: &[Transaction], chain: &impl NonceView) {
        for tx in txs {
            self.hashes.remove(&tx.hash);
            if let Some(queue) = self.by_sender.get_mut(&tx.sender) {
                // What held this (sender, nonce) here may be another transaction (a competitor,
                // a restarted node's nonce filler): it can never commit now, so it goes too.
                if let Some(held) = queue.remove(&tx.nonce) {
                    self.hashes.remove(&held.hash);
                }
            }
        }
        // Only senders still queued here need the chain's nonce, once each (a synced block's
        // senders mostly have nothing pending, and each lookup is a storage read).
        let senders: BTreeSet<&str> = txs
            .iter()
            .map(|tx| tx.sender.as_str())
            .filter(|sender| self.by_sender.contains_key(*sender))
            .collect();
        for sender in senders {
            if let Some(queue) = self.by_sender.get_mut(sender) {
                let next = chain.next_nonce(sender);
                let stale: Vec<u64> = queue.range(..next).map(|(n, _)| *n).collect();
                for nonce in stale {
                    if let Some(tx) = queue.remove(&nonce) {
                        self.hashes.remove(&tx.hash);
                    }
                }
                if queue.is_empty() {
                    self.by_sender.remove(sender);
                }
            }
        }
    }
}
