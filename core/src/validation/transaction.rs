//! Rules for one transaction. MiniLedger checks only lengths and the hash; we also check
//! encodings, `type == payload.kind`, integer ranges, size and the signature.

use super::{short, Limits, Rule, ValidationError};
use crate::crypto;
use crate::hex::is_lower_hex;
use crate::model::{PayloadBody, Transaction, MAX_SAFE_INTEGER};

/// Everything but the signature (blocks batch signatures). Returns the encoded size.
pub fn check_transaction_content(
    tx: &Transaction,
    limits: &Limits,
) -> Result<usize, ValidationError> {
    let fail = |rule, detail: String| Err(ValidationError::new(rule, detail));
    if !is_lower_hex(&tx.hash, 32) {
        return fail(
            Rule::TxEncoding,
            "hash must be 64 lowercase hex characters".into(),
        );
    }
    if !is_lower_hex(&tx.sender, 32) {
        return fail(
            Rule::TxEncoding,
            "sender must be 64 lowercase hex characters".into(),
        );
    }
    if !is_lower_hex(&tx.signature, 64) {
        return fail(
            Rule::TxEncoding,
            "signature must be 128 lowercase hex characters".into(),
        );
    }
    if tx.nonce > MAX_SAFE_INTEGER || tx.timestamp > MAX_SAFE_INTEGER {
        return fail(
            Rule::TxRange,
            "nonce and timestamp must be at most 2^53 - 1".into(),
        );
    }
    if tx.tx_type != tx.payload.kind() {
        return fail(
            Rule::TxTypeKind,
            format!(
                "type {:?} differs from payload.kind {:?}",
                tx.tx_type,
                tx.payload.kind()
            ),
        );
    }
    if limits.reserved_keys {
        if let PayloadBody::StateSet { key, .. } | PayloadBody::StateDelete { key } =
            tx.payload.body()
        {
            if crate::state::is_execution_key(key) {
                return fail(
                    Rule::TxReservedKey,
                    format!("{key:?}: keys starting with _contract:, _contract_code:, _receipt: or _gov: are written by contract and governance execution only"),
                );
            }
        }
    }
    let size = tx.encoded_len();
    if size > limits.max_tx_bytes {
        return fail(
            Rule::TxSize,
            format!(
                "{size} bytes exceeds the limit of {} bytes",
                limits.max_tx_bytes
            ),
        );
    }
    let computed = tx
        .compute_hash()
        .map_err(|e| ValidationError::new(Rule::TxHash, format!("payload: {e}")))?;
    if computed != tx.hash {
        return fail(
            Rule::TxHash,
            format!(
                "hash {} does not match content (computed {})",
                short(&tx.hash),
                short(&computed)
            ),
        );
    }
    Ok(size)
}

/// All single-transaction rules, signature included (mempool admission).
pub fn validate_transaction(tx: &Transaction, limits: &Limits) -> Result<(), ValidationError> {
    check_transaction_content(tx, limits)?;
    crypto::verify(&tx.sender, &tx.hash, &tx.signature)
        .map_err(|e| signature_error(Rule::TxSignature, e))
}

/// A transaction that passed every single-transaction rule, signature included: what the
/// mempool admits. Only this module makes one, so holding one proves the checks ran, on
/// whichever thread the driver ran them (the native node batches its API's submissions on an
/// admission thread, off the node's loop).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedTx(Transaction);

impl CheckedTx {
    pub fn transaction(&self) -> &Transaction {
        &self.0
    }

    pub fn into_transaction(self) -> Transaction {
        self.0
    }

    /// A transaction this node just signed with its own key: its signature holds by
    /// construction, the other rules are checked.
    pub(crate) fn signed_here(tx: Transaction, limits: &Limits) -> Result<Self, ValidationError> {
        check_transaction_content(&tx, limits)?;
        Ok(CheckedTx(tx))
    }
}

/// [`validate_transaction`], keeping the proof.
pub fn check_transaction(tx: Transaction, limits: &Limits) -> Result<CheckedTx, ValidationError> {
    validate_transaction(&tx, limits)?;
    Ok(CheckedTx(tx))
}

/// [`check_transaction`] for many transactions at once, each answered on its own (in order):
/// the signatures that pass the other rules are verified in one batch, several times cheaper
/// per signature than one by one; only if the batch fails is each checked alone.
pub fn check_transactions(
    txs: Vec<Transaction>,
    limits: &Limits,
) -> Vec<Result<CheckedTx, ValidationError>> {
    let content: Vec<Result<(), ValidationError>> = (txs.iter())
        .map(|tx| check_transaction_content(tx, limits).map(drop))
        .collect();
    let mut batch = crypto::BatchVerifier::with_capacity(txs.len());
    let mut queued = Vec::with_capacity(txs.len());
    let mut verdicts = content;
    for (i, tx) in txs.iter().enumerate() {
        if verdicts[i].is_ok() {
            match batch.push(&tx.sender, &tx.hash, &tx.signature) {
                Ok(()) => queued.push(i),
                Err(e) => verdicts[i] = Err(signature_error(Rule::TxSignature, e)),
            }
        }
    }
    if let Err(failed) = batch.verify() {
        for position in failed {
            verdicts[queued[position]] = Err(signature_error(
                Rule::TxSignature,
                crypto::SignatureError::Invalid,
            ));
        }
    }
    (txs.into_iter().zip(verdicts))
        .map(|(tx, verdict)| verdict.map(|()| CheckedTx(tx)))
        .collect()
}

pub(crate) fn signature_error(rule: Rule, e: crypto::SignatureError) -> ValidationError {
    ValidationError::new(rule, e.to_string())
}
