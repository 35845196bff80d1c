//! Applying a block: core's stateless rules, then nonces, then execution, then one SQLite
//! transaction. Nothing is written unless every rule holds.

use crate::storage::{Store, StoreError};
use miniledger_core::state::execute_block;
use miniledger_core::validation::{
    check_nonces, verify_block, Limits, ValidationError, ValidatorSet,
};
use miniledger_core::Block;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ApplyError {
    #[error("block {height} rejected: {error}")]
    Invalid { height: u64, error: ValidationError },
    #[error("block {height} could not be stored: {error}")]
    Store { height: u64, error: StoreError },
}

/// The rules a node applies blocks under.
#[derive(Debug, Clone)]
pub struct Rules {
    pub validators: ValidatorSet,
    pub limits: Limits,
}

/// Validates `block` against the store's tip and state, and commits it.
pub fn apply_block(
    store: &mut Store,
    block: &Block,
    rules: &Rules,
    now_ms: u64,
) -> Result<(), ApplyError> {
    let height = block.height;
    let invalid = |error| ApplyError::Invalid { height, error };
    verify_block(
        block,
        &store.tip(),
        &rules.validators,
        &rules.limits,
        now_ms,
    )
    .map_err(invalid)?;
    let nonces = check_nonces(block, store).map_err(invalid)?;
    let delta = execute_block(block, store);
    store
        .commit_block(block, &delta, &nonces)
        .map_err(|error| ApplyError::Store { height, error })
}
