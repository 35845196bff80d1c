//! Admission checks for transactions submitted through the API, off the node's loop.
//!
//! Every transaction a client posts is checked (encoding, hash, size, signature: core's
//! [`check_transactions`]) before the loop sees it, so the loop only does the stateful part
//! (nonces, duplicates, capacity). Checking on one thread of its own, with whatever arrived
//! while the last batch was being checked taken as the next batch, costs a fraction of
//! checking one by one under load (one batched signature equation) and adds no wait when idle
//! (a lone transaction is a batch of one). Profiled before (BENCHMARKS.md, issue 19): single
//! verifications on the leader's loop were 60 % of its time at saturation.

use miniledger_core::validation::{check_transactions, CheckedTx, Limits, ValidationError};
use miniledger_core::Transaction;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use tokio::sync::oneshot;

/// Transactions checked together at most.
const MAX_BATCH: usize = 512;
/// Transactions waiting to be checked at most; beyond, submissions are refused (busy).
const QUEUE: usize = 16_384;

type Job = (
    Transaction,
    oneshot::Sender<Result<CheckedTx, ValidationError>>,
);

/// Why a transaction was not checked.
#[derive(Debug, thiserror::Error)]
pub enum TxCheckError {
    #[error("{0}")]
    Invalid(ValidationError),
    #[error("too many transactions waiting to be checked ({QUEUE}); try again")]
    Busy,
    #[error("the node is shutting down")]
    Gone,
}

/// The API's handle on the checking thread (cloned into every request).
#[derive(Clone)]
pub struct TxChecker {
    queue: SyncSender<Job>,
}

impl TxChecker {
    /// Starts the thread; it ends when every handle is dropped.
    pub fn start(limits: Limits) -> TxChecker {
        let (queue, jobs) = sync_channel::<Job>(QUEUE);
        std::thread::Builder::new()
            .name("tx-check".into())
            .spawn(move || work(&jobs, &limits))
            .expect("starting the tx-check thread");
        TxChecker { queue }
    }

    /// Checks `tx`, batched with whatever else is waiting.
    pub async fn check(&self, tx: Transaction) -> Result<CheckedTx, TxCheckError> {
        let (reply, answer) = oneshot::channel();
        self.queue.try_send((tx, reply)).map_err(|e| match e {
            TrySendError::Full(_) => TxCheckError::Busy,
            TrySendError::Disconnected(_) => TxCheckError::Gone,
        })?;
        answer
            .await
            .map_err(|_| TxCheckError::Gone)?
            .map_err(TxCheckError::Invalid)
    }
}

/// Waits for a transaction, takes everything else already waiting (up to a batch), checks them
/// together and answers each.
fn work(jobs: &Receiver<Job>, limits: &Limits) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        batch.extend(jobs.try_iter().take(MAX_BATCH - 1));
        let (txs, replies): (Vec<Transaction>, Vec<_>) = batch.into_iter().unzip();
        for (verdict, reply) in check_transactions(txs, limits).into_iter().zip(replies) {
            // The client may have gone; nothing to tell then.
            let _ = reply.send(verdict);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miniledger_core::validation::Rule;
    use miniledger_core::{Keypair, PayloadBody};

    fn tx(seed: u8, nonce: u64) -> Transaction {
        let body = PayloadBody::state_set(format!("k{nonce}"), "1").unwrap();
        Transaction::new_signed(&Keypair::from_seed([seed; 32]), nonce, 1_000, body)
    }

    /// Concurrent submissions are answered each by its own verdict, whatever their batch.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_checks_each_get_their_own_verdict() {
        let checker = TxChecker::start(Limits::default());
        let mut tasks = Vec::new();
        for i in 0..200u64 {
            let checker = checker.clone();
            let mut tx = tx((i % 7) as u8 + 1, i);
            let forged = i % 10 == 3;
            if forged {
                tx.signature = Keypair::from_seed([99; 32]).sign(&tx.hash);
            }
            tasks.push(tokio::spawn(async move {
                (forged, tx.hash.clone(), checker.check(tx).await)
            }));
        }
        for task in tasks {
            match task.await.unwrap() {
                (false, hash, Ok(checked)) => assert_eq!(checked.transaction().hash, hash),
                (true, _, Err(TxCheckError::Invalid(e))) => assert_eq!(e.rule, Rule::TxSignature),
                (forged, hash, other) => panic!("{hash} (forged: {forged}): {other:?}"),
            }
        }
    }
}
