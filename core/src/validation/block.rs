//! Rules for a block given its parent: MiniLedger's structural checks (height, parent hash,
//! timestamp order, Merkle root, hash) plus what it skips: timestamps strictly increasing and not
//! in the future, size and count limits, every transaction's content, no duplicates, a proposer
//! from the validator set, and every signature (batched, across blocks when given a run).

use super::transaction::{check_transaction_content, signature_error};
use super::{short, Limits, ReplayRule, Rule, ValidationError};
use crate::crypto::BatchVerifier;
use crate::hex::is_lower_hex;
use crate::model::{Block, BlockHeader, MAX_SAFE_INTEGER};
use std::collections::HashSet;

/// The public keys allowed to propose blocks (the trust root of light nodes too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidatorSet {
    keys: Vec<String>,
}

impl ValidatorSet {
    pub fn new<S: Into<String>>(keys: impl IntoIterator<Item = S>) -> Self {
        let mut keys: Vec<String> = keys.into_iter().map(Into::into).collect();
        keys.sort();
        keys.dedup();
        ValidatorSet { keys }
    }

    pub fn contains(&self, public_key: &str) -> bool {
        self.keys
            .binary_search_by(|k| k.as_str().cmp(public_key))
            .is_ok()
    }

    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Checks everything about `block` that does not depend on world state. `now_ms` is the
/// validating node's clock (sans-IO: the caller supplies it). `validators`: the set the
/// proposer must be in, or `None` where the set in force is state (on-chain governance: the
/// block pipeline checks it with [`check_proposer`]).
pub fn verify_block<'a>(
    block: &Block,
    parent: &BlockHeader,
    validators: impl Into<Option<&'a ValidatorSet>>,
    limits: &Limits,
    now_ms: u64,
) -> Result<(), ValidationError> {
    verify_blocks(
        std::slice::from_ref(block),
        parent,
        validators,
        limits,
        now_ms,
    )
    .map_err(|(_, error)| error)
}

/// [`verify_block`] for consecutive blocks, `parent` being the first one's: the same answer
/// for each block, with every signature of the run checked in one batch (cheaper per
/// signature the larger it is, and a sender's key counts once). Returns the first failing
/// block's position and error.
pub fn verify_blocks<'a>(
    blocks: &[Block],
    parent: &BlockHeader,
    validators: impl Into<Option<&'a ValidatorSet>>,
    limits: &Limits,
    now_ms: u64,
) -> Result<(), (usize, ValidationError)> {
    let validators = validators.into();
    let signatures = blocks.iter().map(|b| b.transactions.len() + 1).sum();
    let mut batch = BatchVerifier::with_capacity(signatures);
    let mut parent = parent.clone();
    let mut failure = None;
    for (i, block) in blocks.iter().enumerate() {
        let queued = batch.len();
        let checked = check_unsigned(block, &parent, validators, limits, now_ms)
            .and_then(|()| queue_signatures(block, &mut batch));
        if let Err(error) = checked {
            batch.truncate(queued);
            failure = Some((i, error));
            break;
        }
        parent = block.header();
    }
    if batch.verify().is_err() {
        // Some signature before the first other failure is bad: find it, block by block.
        let checked = failure.as_ref().map_or(blocks.len(), |(i, _)| *i);
        for (i, block) in blocks[..checked].iter().enumerate() {
            check_signatures(block).map_err(|error| (i, error))?;
        }
    }
    failure.map_or(Ok(()), Err)
}

/// Every rule but the signature equations.
fn check_unsigned(
    block: &Block,
    parent: &BlockHeader,
    validators: Option<&ValidatorSet>,
    limits: &Limits,
    now_ms: u64,
) -> Result<(), ValidationError> {
    check_header(block, parent, limits, now_ms)?;
    check_transactions(block, limits)?;
    match validators {
        Some(set) => check_proposer(block, set.keys()),
        None => Ok(()),
    }
}

/// `block.proposer`: the proposer is in the validator set in force (`set`, sorted).
pub fn check_proposer(block: &Block, set: &[String]) -> Result<(), ValidationError> {
    if set.binary_search(&block.proposer).is_ok() {
        return Ok(());
    }
    Err(ValidationError::new(
        Rule::BlockProposer,
        format!(
            "proposer {}… is not in the validator set",
            short(&block.proposer)
        ),
    ))
}

fn check_header(
    block: &Block,
    parent: &BlockHeader,
    limits: &Limits,
    now_ms: u64,
) -> Result<(), ValidationError> {
    let fail = |rule, detail: String| Err(ValidationError::new(rule, detail));
    if block.height != parent.height + 1 {
        return fail(
            Rule::BlockHeight,
            format!("height {} does not follow {}", block.height, parent.height),
        );
    }
    if block.previous_hash != parent.hash {
        return fail(
            Rule::BlockPreviousHash,
            format!(
                "previousHash {} is not the parent's hash {}",
                short(&block.previous_hash),
                short(&parent.hash)
            ),
        );
    }
    if block.timestamp <= parent.timestamp {
        return fail(
            Rule::BlockTimestamp,
            format!(
                "timestamp {} is not after the parent's {}",
                block.timestamp, parent.timestamp
            ),
        );
    }
    if block.timestamp > now_ms.saturating_add(limits.max_future_ms)
        || block.timestamp > MAX_SAFE_INTEGER
    {
        return fail(
            Rule::BlockFutureTimestamp,
            format!(
                "timestamp {} is more than {} ms ahead of local time {now_ms}",
                block.timestamp, limits.max_future_ms
            ),
        );
    }
    for (name, value) in [
        ("hash", &block.hash),
        ("merkleRoot", &block.merkle_root),
        ("stateRoot", &block.state_root),
        ("proposer", &block.proposer),
    ] {
        if !is_lower_hex(value, 32) {
            return fail(
                Rule::BlockEncoding,
                format!("{name} must be 64 lowercase hex characters"),
            );
        }
    }
    if !is_lower_hex(&block.signature, 64) {
        return fail(
            Rule::BlockEncoding,
            "signature must be 128 lowercase hex characters".into(),
        );
    }
    if block.transactions.len() > limits.max_txs_per_block {
        return fail(
            Rule::BlockTxCount,
            format!(
                "{} transactions exceed the limit of {}",
                block.transactions.len(),
                limits.max_txs_per_block
            ),
        );
    }
    let merkle = block.compute_merkle_root();
    if merkle != block.merkle_root {
        return fail(
            Rule::BlockMerkleRoot,
            format!(
                "merkleRoot {} does not match the transactions (computed {})",
                short(&block.merkle_root),
                short(&merkle)
            ),
        );
    }
    let hash = block.compute_hash();
    if hash != block.hash {
        return fail(
            Rule::BlockHash,
            format!(
                "hash {} does not match the header (computed {})",
                short(&block.hash),
                short(&hash)
            ),
        );
    }
    Ok(())
}

fn check_transactions(block: &Block, limits: &Limits) -> Result<(), ValidationError> {
    let mut total = 0usize;
    let mut hashes = HashSet::with_capacity(block.transactions.len());
    let mut sender_nonces = HashSet::with_capacity(block.transactions.len());
    for (i, tx) in block.transactions.iter().enumerate() {
        total += check_transaction_content(tx, limits).map_err(|e| e.in_tx(i))?;
        if tx.timestamp > block.timestamp.saturating_add(limits.max_future_ms) {
            let detail = format!(
                "timestamp {} is more than {} ms after the block's",
                tx.timestamp, limits.max_future_ms
            );
            return Err(ValidationError::new(Rule::TxTimestamp, detail).in_tx(i));
        }
        if !hashes.insert(tx.hash.as_str()) {
            let detail = format!("transaction {} appears twice in the block", short(&tx.hash));
            return Err(ValidationError::new(Rule::TxDuplicate, detail).in_tx(i));
        }
        // A MiniLedger 0.2 node gives all its transactions waiting for one block the same
        // nonce: there a transaction is unique by hash only.
        if limits.replay == ReplayRule::Nonces
            && !sender_nonces.insert((tx.sender.as_str(), tx.nonce))
        {
            let detail = format!(
                "transaction {} reuses its sender's nonce {} in the block",
                short(&tx.hash),
                tx.nonce
            );
            return Err(ValidationError::new(Rule::TxDuplicate, detail).in_tx(i));
        }
    }
    if total > limits.max_block_bytes {
        return Err(ValidationError::new(
            Rule::BlockSize,
            format!(
                "transactions total {total} bytes, over the limit of {}",
                limits.max_block_bytes
            ),
        ));
    }
    Ok(())
}

/// Queues a block's signatures, the proposer's first, then each transaction's; encoding and
/// small-order faults fail here.
fn queue_signatures<'a>(
    block: &'a Block,
    batch: &mut BatchVerifier<'a>,
) -> Result<(), ValidationError> {
    batch
        .push(&block.proposer, &block.hash, &block.signature)
        .map_err(|e| signature_error(Rule::BlockSignature, e))?;
    for (i, tx) in block.transactions.iter().enumerate() {
        batch
            .push(&tx.sender, &tx.hash, &tx.signature)
            .map_err(|e| signature_error(Rule::TxSignature, e).in_tx(i))?;
    }
    Ok(())
}

/// One block's signatures alone, naming the first that fails.
fn check_signatures(block: &Block) -> Result<(), ValidationError> {
    let mut batch = BatchVerifier::with_capacity(block.transactions.len() + 1);
    queue_signatures(block, &mut batch)?;
    batch.verify().map_err(|failed| match failed[0] {
        0 => ValidationError::new(
            Rule::BlockSignature,
            "block signature does not verify against the proposer",
        ),
        i => ValidationError::new(
            Rule::TxSignature,
            "signature does not verify against the sender",
        )
        .in_tx(i - 1),
    })
}

/// Checks that `block` carries `expected` as its `stateRoot` (under whichever rule the network
/// uses; the caller computes `expected`).
pub fn check_state_root(block: &Block, expected: &str) -> Result<(), ValidationError> {
    if block.state_root == expected {
        return Ok(());
    }
    Err(ValidationError::new(
        Rule::BlockStateRoot,
        format!(
            "stateRoot {} is not the state's root {expected}",
            block.state_root
        ),
    ))
}
