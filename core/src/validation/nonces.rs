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
