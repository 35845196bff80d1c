//! Why a governance transaction is refused: each a named rule, shown in its failed receipt and
//! by the API at admission.

use super::{Action, Proposal, Status};
use crate::raft::ConfigChange;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The sender is not in the validator set in force.
    #[error("governance.not-validator: {0} is not a validator")]
    NotValidator(String),
    /// An `action` that is not one governance carries out, or malformed.
    #[error("governance.action: {0}")]
    Action(String),
    /// A `publicKey` that is not a strict Ed25519 public key in lowercase hex.
    #[error("governance.malformed-key: {0}")]
    MalformedKey(String),
    #[error("governance.already-validator: {0} is already a validator")]
    AlreadyValidator(String),
    #[error("governance.unknown-validator: {0} is not a validator")]
    UnknownValidator(String),
    #[error("governance.last-validator: {0} is the only validator")]
    LastValidator(String),
    #[error("governance.unknown-proposal: no proposal {0:?}")]
    UnknownProposal(String),
    #[error("governance.double-vote: {0} already voted")]
    DoubleVote(String),
    #[error("governance.decided: the proposal is already {0}")]
    Decided(&'static str),
    #[error("governance.expired: the proposal took votes until height {0}")]
    Expired(u64),
    /// A second validator-set change in one block (Raft changes one server at a time).
    #[error("governance.change-in-block: this block already changes the validator set")]
    ChangeInBlock,
}

impl Refusal {
    /// Whether a node that is behind may give this refusal to a transaction that succeeds once
    /// its chain catches up (the proposal, or the sender's own approval, is in a block it has
    /// not applied yet). Admission lets these through; the block decides, and a failed one is
    /// still a committed transaction with its receipt.
    pub fn may_be_behind(&self) -> bool {
        matches!(self, Refusal::NotValidator(_) | Refusal::UnknownProposal(_))
    }
}

/// Only validators of the set in force propose and vote.
pub fn check_voter(set: &[String], sender: &str) -> Result<(), Refusal> {
    if set.iter().any(|k| k == sender) {
        Ok(())
    } else {
        Err(Refusal::NotValidator(short(sender)))
    }
}

/// Whether `action` applies to `set` now (re-checked when approved).
pub fn check_action(set: &[String], action: &Action) -> Result<(), Refusal> {
    match action.membership_change() {
        Some(change) => applied(set, &change).map(drop),
        None => Ok(()),
    }
}

/// A vote on `proposal` by `voter` at `height`: on an open proposal, once per key.
pub fn check_open(proposal: &Proposal, voter: &str, height: u64) -> Result<(), Refusal> {
    match proposal.status_at(height) {
        Status::Active => {}
        Status::Expired => return Err(Refusal::Expired(proposal.expires_at)),
        decided => return Err(Refusal::Decided(decided.name())),
    }
    if proposal.votes.contains(voter) {
        return Err(Refusal::DoubleVote(short(voter)));
    }
    Ok(())
}

/// `set` (sorted) with `change` made, or why it cannot be.
pub fn applied(set: &[String], change: &ConfigChange) -> Result<Vec<String>, Refusal> {
    let mut next = set.to_vec();
    match change {
        ConfigChange::AddValidator(key) => {
            if set.contains(key) {
                return Err(Refusal::AlreadyValidator(short(key)));
            }
            next.push(key.clone());
            next.sort();
        }
        ConfigChange::RemoveValidator(key) => {
            if !set.contains(key) {
                return Err(Refusal::UnknownValidator(short(key)));
            }
            if set.len() == 1 {
                return Err(Refusal::LastValidator(short(key)));
            }
            next.retain(|k| k != key);
        }
    }
    Ok(next)
}

fn short(key: &str) -> String {
    format!("{}…", key.chars().take(16).collect::<String>())
}
