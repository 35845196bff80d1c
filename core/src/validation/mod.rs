//! Validation, stricter than MiniLedger 0.2: every rule has a name, and every rejection says
//! which rule it broke. Stateless checks (`transaction`, `block`) need only the block and its
//! parent; `nonces` needs the sender nonces of the chain so far.

pub mod block;
pub mod nonces;
pub mod transaction;

pub use block::{check_proposer, check_state_root, verify_block, verify_blocks, ValidatorSet};
pub use nonces::{check_nonces, check_tx_hash_replays, NonceView, ReplayRule};
pub use transaction::{
    check_transaction, check_transaction_content, check_transactions, validate_transaction,
    CheckedTx,
};

use thiserror::Error;

/// Bounds on what a node accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Encoded JSON size of one transaction.
    pub max_tx_bytes: usize,
    /// Sum of the encoded sizes of a block's transactions.
    pub max_block_bytes: usize,
    pub max_txs_per_block: usize,
    /// How far a block's timestamp may run ahead of the validating node's clock, and a
    /// transaction's ahead of its block.
    pub max_future_ms: u64,
    /// How replays are refused: ours (sender nonces 0, 1, 2, … each once) unless the node
    /// follows a MiniLedger 0.2 network (see [`ReplayRule`]).
    pub replay: ReplayRule,
    /// `state:set` / `state:delete` may not name the keys contract execution owns (contract
    /// code and metadata, receipts: `state::is_execution_key`), `tx.reserved-key`. Off when
    /// the node follows a MiniLedger 0.2 network, which allows them.
    pub reserved_keys: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_tx_bytes: 256 * 1024,
            max_block_bytes: 10 * 1024 * 1024,
            max_txs_per_block: 500,
            max_future_ms: 15_000,
            replay: ReplayRule::Nonces,
            reserved_keys: true,
        }
    }
}

/// The rules. `name()` is the stable identifier used in errors, logs and API responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    TxEncoding,
    TxRange,
    TxTypeKind,
    TxSize,
    TxHash,
    TxSignature,
    TxTimestamp,
    TxDuplicate,
    TxReplay,
    TxNonceGap,
    TxReservedKey,
    BlockEncoding,
    BlockHeight,
    BlockPreviousHash,
    BlockTimestamp,
    BlockFutureTimestamp,
    BlockTxCount,
    BlockSize,
    BlockMerkleRoot,
    BlockHash,
    BlockProposer,
    BlockSignature,
    BlockStateRoot,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::TxEncoding => "tx.encoding",
            Rule::TxRange => "tx.range",
            Rule::TxTypeKind => "tx.type-matches-kind",
            Rule::TxSize => "tx.size",
            Rule::TxHash => "tx.hash",
            Rule::TxSignature => "tx.signature",
            Rule::TxTimestamp => "tx.timestamp",
            Rule::TxDuplicate => "tx.duplicate",
            Rule::TxReplay => "tx.replay",
            Rule::TxNonceGap => "tx.nonce-gap",
            Rule::TxReservedKey => "tx.reserved-key",
            Rule::BlockEncoding => "block.encoding",
            Rule::BlockHeight => "block.height",
            Rule::BlockPreviousHash => "block.previous-hash",
            Rule::BlockTimestamp => "block.timestamp-order",
            Rule::BlockFutureTimestamp => "block.timestamp-future",
            Rule::BlockTxCount => "block.tx-count",
            Rule::BlockSize => "block.size",
            Rule::BlockMerkleRoot => "block.merkle-root",
            Rule::BlockHash => "block.hash",
            Rule::BlockProposer => "block.proposer",
            Rule::BlockSignature => "block.signature",
            Rule::BlockStateRoot => "block.state-root",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A broken rule: which one, in which transaction of the block (if any), and the particulars.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{rule}: {}{detail}", tx_index.map(|i| format!("transaction {i}: ")).unwrap_or_default())]
pub struct ValidationError {
    pub rule: Rule,
    pub tx_index: Option<usize>,
    pub detail: String,
}

impl ValidationError {
    pub fn new(rule: Rule, detail: impl Into<String>) -> Self {
        ValidationError {
            rule,
            tx_index: None,
            detail: detail.into(),
        }
    }

    /// Places a transaction's error at its position in a block.
    pub fn in_tx(mut self, index: usize) -> Self {
        self.tx_index = Some(index);
        self
    }
}

/// Shortens a hash for messages.
pub(crate) fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
