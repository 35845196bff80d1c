//! Periodic re-forwarding of transactions a Raft follower still holds. A forward can be lost
//! while the leader stays the same (its send queue was full, its mempool refused the copy, it
//! crashed and came back between two of our ticks); without a retry such a transaction would
//! wait in our mempool until the next leader change. Duplicates are harmless (the leader drops
//! a transaction it already holds; nonces stop a second commit).

use crate::mempool::Mempool;
use crate::Transaction;
use std::collections::HashSet;

/// How often still-pending transactions are forwarded again (the node loop wakes at least
/// every second, so a retry happens within a second of this).
pub const REFORWARD_MS: u64 = 3_000;
/// At most this many per period: the first by sender then nonce, so a lost low nonce (which
/// blocks its sender's later ones on the leader) goes first.
pub const REFORWARD_MAX: usize = 1_024;

#[derive(Debug, Default)]
pub struct Reforward {
    next_at: u64,
    /// Hashes among the first `REFORWARD_MAX` pending at the previous period.
    seen: HashSet<String>,
}

impl Reforward {
    /// Transactions to forward again now: those already pending a whole period ago (a recent
    /// one is most likely still on its way). Empty until the period is due.
    pub fn due(&mut self, now: u64, mempool: &Mempool) -> Vec<Transaction> {
        if now < self.next_at {
            return Vec::new();
        }
        self.next_at = now + REFORWARD_MS;
        let first: Vec<&Transaction> = mempool.transactions().take(REFORWARD_MAX).collect();
        let due = first
            .iter()
            .filter(|tx| self.seen.contains(&tx.hash))
            .map(|tx| (*tx).clone())
            .collect();
        self.seen = first.iter().map(|tx| tx.hash.clone()).collect();
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::{check_transaction, CheckedTx, Limits};
    use crate::{Keypair, PayloadBody};
    use std::collections::HashMap;

    fn tx(key: &Keypair, nonce: u64) -> Transaction {
        let body = PayloadBody::StateDelete {
            key: format!("k{nonce}"),
        };
        Transaction::new_signed(key, nonce, 1_000, body)
    }

    fn checked(tx: &Transaction) -> CheckedTx {
        check_transaction(tx.clone(), &Limits::default()).unwrap()
    }

    #[test]
    fn a_transaction_pending_for_a_period_is_forwarded_again_every_period_until_it_leaves() {
        let key = Keypair::from_seed([7; 32]);
        let chain: HashMap<String, u64> = HashMap::new();
        let mut mempool = Mempool::new(10);
        let first = tx(&key, 0);
        mempool
            .admit(checked(&first), &Limits::default(), &chain, 0)
            .unwrap();
        let mut r = Reforward::default();
        assert!(r.due(10_000, &mempool).is_empty(), "just admitted");
        assert!(
            r.due(10_000 + REFORWARD_MS - 1, &mempool).is_empty(),
            "not due"
        );
        // A newer one waits a full period of its own.
        let second = tx(&key, 1);
        mempool
            .admit(checked(&second), &Limits::default(), &chain, 0)
            .unwrap();
        assert_eq!(r.due(10_000 + REFORWARD_MS, &mempool), vec![first.clone()]);
        assert_eq!(
            r.due(10_000 + 2 * REFORWARD_MS, &mempool),
            vec![first.clone(), second]
        );
        mempool.remove_committed(&mempool.transactions().cloned().collect::<Vec<_>>(), &{
            let mut c = HashMap::new();
            c.insert(first.sender.clone(), 2u64);
            c
        });
        assert!(r.due(10_000 + 3 * REFORWARD_MS, &mempool).is_empty());
    }

    #[test]
    fn a_period_forwards_at_most_the_cap() {
        let key = Keypair::from_seed([8; 32]);
        let chain: HashMap<String, u64> = HashMap::new();
        let mut mempool = Mempool::new(REFORWARD_MAX + 10);
        for nonce in 0..(REFORWARD_MAX + 10) as u64 {
            mempool
                .admit(checked(&tx(&key, nonce)), &Limits::default(), &chain, 0)
                .unwrap();
        }
        let mut r = Reforward::default();
        r.due(0, &mempool);
        let due = r.due(REFORWARD_MS, &mempool);
        assert_eq!(due.len(), REFORWARD_MAX);
        assert_eq!(due[0].nonce, 0);
    }
}
