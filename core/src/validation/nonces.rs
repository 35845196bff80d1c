//! Replay protection: each sender's nonces run 0, 1, 2, … with no gap, so a (sender, nonce)
//! pair can be applied at most once in a chain.

use super::{Rule, ValidationError};
use crate::model::Block;
use std::collections::HashMap;

/// The chain's view of sender nonces.
pub trait NonceView {
    /// The nonce the sender's next transaction must carry (0 for a new sender).
    fn next_nonce(&self, sender: &str) -> u64;
}

impl NonceView for HashMap<String, u64> {
    fn next_nonce(&self, sender: &str) -> u64 {
        self.get(sender).copied().unwrap_or(0)
    }
}

/// Checks the block's nonces against `view`; returns each sender's next nonce after the block.
pub fn check_nonces(
    block: &Block,
    view: &impl NonceView,
) -> Result<HashMap<String, u64>, ValidationError> {
    let mut next: HashMap<String, u64> = HashMap::new();
    for (i, tx) in block.transactions.iter().enumerate() {
        let expected = match next.get(tx.sender.as_str()) {
            Some(n) => *n,
            None => view.next_nonce(&tx.sender),
        };
        if tx.nonce < expected {
            let detail = format!(
                "sender {}… nonce {} was already used (next is {expected})",
                &tx.sender[..16.min(tx.sender.len())],
                tx.nonce
            );
            return Err(ValidationError::new(Rule::TxReplay, detail).in_tx(i));
        }
        if tx.nonce > expected {
            let detail = format!(
                "sender {}… nonce {} skips ahead (next is {expected})",
                &tx.sender[..16.min(tx.sender.len())],
                tx.nonce
            );
            return Err(ValidationError::new(Rule::TxNonceGap, detail).in_tx(i));
        }
        next.insert(tx.sender.clone(), expected + 1);
    }
    Ok(next)
}

/// How a chain refuses replayed transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplayRule {
    /// Ours: each sender's nonces run 0, 1, 2, … exactly once ([`check_nonces`]).
    #[default]
    Nonces,
    /// MiniLedger 0.2's networks (compat mode): a 0.2 node signs every transaction waiting for
    /// the next block with the same nonce (its last committed one + 1), and checks none, so
    /// nonces may repeat, skip and go back. A transaction is unique by hash instead: a hash
    /// may appear once per chain ([`check_tx_hash_replays`]).
    TxHash,
}

/// [`ReplayRule::TxHash`]: refuses a transaction whose hash `committed` already holds (the
/// chain and any pending blocks below `block`; duplicates inside the block are a stateless
/// rule). Returns each sender's next nonce after the block, as the highest nonce seen + 1, so
/// that transactions this node signs keep unique, increasing nonces on such a chain too.
pub fn check_tx_hash_replays(
    block: &Block,
    view: &impl NonceView,
    committed: impl Fn(&str) -> bool,
) -> Result<HashMap<String, u64>, ValidationError> {
    let mut next: HashMap<String, u64> = HashMap::new();
    for (i, tx) in block.transactions.iter().enumerate() {
        if committed(&tx.hash) {
            let detail = format!(
                "transaction {}… is already on the chain",
                &tx.hash[..16.min(tx.hash.len())]
            );
            return Err(ValidationError::new(Rule::TxReplay, detail).in_tx(i));
        }
        let known = match next.get(tx.sender.as_str()) {
            Some(n) => *n,
            None => view.next_nonce(&tx.sender),
        };
        next.insert(tx.sender.clone(), known.max(tx.nonce.saturating_add(1)));
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;
    use crate::model::{PayloadBody, Transaction};

    fn tx(key: &Keypair, nonce: u64, value: u64) -> Transaction {
        let body = PayloadBody::StateSet {
            key: "k".into(),
            value: serde_json::value::RawValue::from_string(value.to_string()).unwrap(),
        };
        Transaction::new_signed(key, nonce, 1_000 + value, body)
    }

    #[test]
    fn tx_hash_rule_takes_repeated_nonces_and_refuses_a_known_hash() {
        let key = Keypair::from_seed([7; 32]);
        let mut block = Block::genesis();
        // What a MiniLedger 0.2 node signs: three transactions, one nonce.
        block.transactions = vec![tx(&key, 4, 1), tx(&key, 4, 2), tx(&key, 4, 3)];
        let view: HashMap<String, u64> = HashMap::new();
        assert!(check_nonces(&block, &view).is_err(), "ours refuses them");
        let next = check_tx_hash_replays(&block, &view, |_| false).unwrap();
        assert_eq!(next[key.public_hex()], 5);
        // A lower nonce later does not lower the next one.
        block.transactions = vec![tx(&key, 1, 4)];
        let view: HashMap<String, u64> = next;
        let next = check_tx_hash_replays(&block, &view, |_| false).unwrap();
        assert_eq!(next[key.public_hex()], 5);
        let known = block.transactions[0].hash.clone();
        let error = check_tx_hash_replays(&block, &view, |h| h == known).unwrap_err();
        assert_eq!(error.rule, Rule::TxReplay);
    }
}
