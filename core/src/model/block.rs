//! Blocks: `hash = sha256hex(canonical({height, previousHash, timestamp, merkleRoot, stateRoot,
//! proposer}))`, `signature = sign(hash text)` by `proposer`. Transactions are covered through
//! `merkleRoot` only.

use super::transaction::Transaction;
use crate::canonical;
use crate::crypto::Keypair;
use crate::hash::{sha256_hex, ZERO_HASH};
use crate::merkle::merkle_root;
use serde::{Deserialize, Serialize};

/// Hash of the genesis block, the same on every node.
pub const GENESIS_HASH: &str = "6d96879be3afa59d9f7a50d5346498b670701a81418bfc863a7ba85cb7f4850c";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Block {
    pub height: u64,
    pub hash: String,
    pub previous_hash: String,
    pub timestamp: u64,
    pub merkle_root: String,
    pub state_root: String,
    pub proposer: String,
    pub signature: String,
    pub transactions: Vec<Transaction>,
}

/// What a child block needs to know of its parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    pub height: u64,
    pub hash: String,
    pub timestamp: u64,
}

impl Block {
    /// Height 0: every hash field 64 zeros, timestamp 0, no signature, no transactions.
    pub fn genesis() -> Block {
        let mut block = Block {
            height: 0,
            hash: String::new(),
            previous_hash: ZERO_HASH.into(),
            timestamp: 0,
            merkle_root: ZERO_HASH.into(),
            state_root: ZERO_HASH.into(),
            proposer: ZERO_HASH.into(),
            signature: String::new(),
            transactions: Vec::new(),
        };
        block.hash = block.compute_hash();
        block
    }

    /// Builds and signs the child of `parent` holding `transactions`.
    pub fn build(
        parent: &BlockHeader,
        timestamp: u64,
        transactions: Vec<Transaction>,
        state_root: String,
        proposer: &Keypair,
    ) -> Block {
        let mut block = Block::draft(parent, timestamp, transactions, proposer.public_hex());
        block.state_root = state_root;
        block.seal(proposer);
        block
    }

    /// The child of `parent` holding `transactions`, not yet hashed or signed and with a zero
    /// `stateRoot`: what a producer executes to learn the root, before [`Block::seal`].
    pub fn draft(
        parent: &BlockHeader,
        timestamp: u64,
        transactions: Vec<Transaction>,
        proposer: &str,
    ) -> Block {
        let hashes: Vec<&str> = transactions.iter().map(|tx| tx.hash.as_str()).collect();
        Block {
            height: parent.height + 1,
            hash: String::new(),
            previous_hash: parent.hash.clone(),
            timestamp,
            merkle_root: merkle_root(&hashes),
            state_root: ZERO_HASH.into(),
            proposer: proposer.to_string(),
            signature: String::new(),
            transactions,
        }
    }

    /// Hashes the header and signs the hash (the header must be final: signing is the costly
    /// step, done once).
    pub fn seal(&mut self, proposer: &Keypair) {
        debug_assert_eq!(self.proposer, proposer.public_hex());
        self.hash = self.compute_hash();
        self.signature = proposer.sign(&self.hash);
    }

    pub fn header(&self) -> BlockHeader {
        BlockHeader {
            height: self.height,
            hash: self.hash.clone(),
            timestamp: self.timestamp,
        }
    }

    /// The exact text the hash covers (keys in canonical order).
    pub fn hash_preimage(&self) -> String {
        let mut out = String::with_capacity(360);
        out.push_str("{\"height\":");
        canonical::write_u64(&mut out, self.height);
        for (key, value) in [
            ("merkleRoot", &self.merkle_root),
            ("previousHash", &self.previous_hash),
            ("proposer", &self.proposer),
            ("stateRoot", &self.state_root),
        ] {
            out.push_str(",\"");
            out.push_str(key);
            out.push_str("\":");
            canonical::write_string(&mut out, value);
        }
        out.push_str(",\"timestamp\":");
        canonical::write_u64(&mut out, self.timestamp);
        out.push('}');
        out
    }

    /// Recomputes the block hash from the header fields (ignores `hash`).
    pub fn compute_hash(&self) -> String {
        sha256_hex(self.hash_preimage())
    }

    /// Recomputes the Merkle root from the transactions' `hash` fields.
    pub fn compute_merkle_root(&self) -> String {
        let hashes: Vec<&str> = self
            .transactions
            .iter()
            .map(|tx| tx.hash.as_str())
            .collect();
        merkle_root(&hashes)
    }
}
