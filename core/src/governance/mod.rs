//! Governance that acts: `governance:propose` and `governance:vote` executed as part of a
//! block, their proposals, votes and outcomes kept in world state (so the state root covers
//! them and every node, light nodes included, agrees), and an approved `add-peer` /
//! `remove-peer` changing the validator set in force from the next block on.
//!
//! State layout (keys only execution writes; `state:set` and contracts may not name them):
//! - `_gov:proposal:ID`: the proposal, in MiniLedger 0.2's shape (`id, type, title,
//!   description, proposer, action, status, createdAt, expiresAt, votes`) plus `decidedAt`
//!   and `outcome`. Unlike 0.2 the id is the proposing transaction's hash (0.2 used
//!   `Date.now()` and `Math.random()`), and `createdAt` / `expiresAt` are block heights.
//! - `_gov:validators`: the validator set in force (sorted public keys) once governance
//!   changed it; absent, the genesis set is.
//! - `_gov:config:KEY`: values set by approved `update-config` proposals.
//! - `_receipt:TXHASH`: every governance transaction's receipt, as contracts' are.
//!
//! Rules: only validators of the set in force propose and vote; the proposer votes yes; a
//! proposal is approved once more than half of the set in force voted yes, rejected once that
//! can no longer happen, and expires [`VOTING_PERIOD_BLOCKS`] blocks after its own. A refused
//! transaction is still committed, with a failed receipt naming the rule ([`Refusal`]), and
//! changes nothing else. At most one membership change is approved per block, so each Raft
//! entry carries at most one (Raft changes membership one server at a time: `raft::membership`).

mod proposal;
mod rules;

pub use proposal::{Action, Proposal, Status, Votes};
pub use rules::Refusal;

use crate::canonical;
use crate::model::{Block, PayloadBody, Transaction};
use crate::raft::ConfigChange;
use crate::state::{receipt_key, StateDelta, StateEntry, StateView};

/// Prefix of every governance key.
pub const PREFIX: &str = "_gov:";
/// Prefix of proposals.
pub const PROPOSAL_PREFIX: &str = "_gov:proposal:";
/// The validator set in force once governance changed it.
pub const VALIDATORS_KEY: &str = "_gov:validators";
/// Prefix of configuration set by `update-config`.
pub const CONFIG_PREFIX: &str = "_gov:config:";
/// Blocks after its own during which a proposal takes votes.
pub const VOTING_PERIOD_BLOCKS: u64 = 10_000;

pub fn proposal_key(id: &str) -> String {
    format!("{PROPOSAL_PREFIX}{id}")
}

/// The validator set in force on top of `view`: governance's, or `genesis` if it never changed.
pub fn validators(view: &impl StateView, genesis: &[String]) -> Vec<String> {
    view.get(VALIDATORS_KEY)
        .and_then(|e| serde_json::from_str::<Vec<String>>(&e.value).ok())
        .unwrap_or_else(|| genesis.to_vec())
}

/// The proposal `id` as stored on top of `view`.
pub fn proposal(view: &impl StateView, id: &str) -> Option<Proposal> {
    let entry = view.get(&proposal_key(id))?;
    Proposal::from_json(&entry.value)
}

/// Would `tx` succeed if it were the next transaction on top of `view`, in a block at
/// `height`? For admission (the API and mempool say why at once); the block decides.
pub fn check(
    tx: &Transaction,
    height: u64,
    view: &impl StateView,
    genesis: &[String],
) -> Result<(), Refusal> {
    let mut delta = StateDelta::new();
    let mut exec = Execution {
        view,
        delta: &mut delta,
        genesis,
        height,
        change: None,
    };
    match exec.transaction(tx) {
        Some(Err(refusal)) => Err(refusal),
        _ => Ok(()),
    }
}

/// Executes `block`'s governance transactions in order on top of `view` and the block's other
/// writes (`delta`, extended here): proposals, votes, receipts, approved actions. Returns the
/// membership change the block makes, if any.
pub fn execute(
    block: &Block,
    view: &impl StateView,
    delta: &mut StateDelta,
    genesis: &[String],
) -> Option<ConfigChange> {
    let mut exec = Execution {
        view,
        delta,
        genesis,
        height: block.height,
        change: None,
    };
    for tx in &block.transactions {
        let Some(result) = exec.transaction(tx) else {
            continue;
        };
        let receipt = match result {
            Ok(result) => format!(r#"{{"status":"success","result":{result}}}"#),
            Err(refusal) => {
                let mut text = String::from(r#"{"status":"failed","error":"#);
                canonical::write_string(&mut text, &refusal.to_string());
                text.push('}');
                text
            }
        };
        exec.write(receipt_key(&tx.hash), Some(receipt));
    }
    exec.change
}

/// One block's governance execution in progress.
struct Execution<'a, V> {
    view: &'a V,
    delta: &'a mut StateDelta,
    genesis: &'a [String],
    height: u64,
    /// The membership change approved in this block so far.
    change: Option<ConfigChange>,
}

impl<V: StateView> StateView for Execution<'_, V> {
    fn get(&self, key: &str) -> Option<StateEntry> {
        match self.delta.get(key) {
            Some(pending) => pending.clone(),
            None => self.view.get(key),
        }
    }
}

impl<V: StateView> Execution<'_, V> {
    /// None for a transaction that is not governance's; else its receipt's `result` (JSON)
    /// or why it was refused.
    fn transaction(&mut self, tx: &Transaction) -> Option<Result<String, Refusal>> {
        Some(match tx.payload.body() {
            PayloadBody::GovernancePropose {
                title,
                description,
                action,
            } => self.propose(tx, title, description, action.get()),
            PayloadBody::GovernanceVote { proposal_id, vote } => self.vote(tx, proposal_id, *vote),
            _ => return None,
        })
    }

    fn validators(&self) -> Vec<String> {
        validators(self, self.genesis)
    }

    fn propose(
        &mut self,
        tx: &Transaction,
        title: &str,
        description: &str,
        action: &str,
    ) -> Result<String, Refusal> {
        let set = self.validators();
        rules::check_voter(&set, &tx.sender)?;
        let action = Action::parse(action)?;
        rules::check_action(&set, &action)?;
        let proposal = Proposal::new(
            tx.hash.clone(),
            title,
            description,
            &tx.sender,
            action,
            self.height,
            self.height + VOTING_PERIOD_BLOCKS,
        );
        self.settle(proposal, &set)
    }

    fn vote(&mut self, tx: &Transaction, id: &str, vote: bool) -> Result<String, Refusal> {
        let set = self.validators();
        rules::check_voter(&set, &tx.sender)?;
        let mut proposal = proposal(self, id).ok_or_else(|| Refusal::UnknownProposal(id.into()))?;
        rules::check_open(&proposal, &tx.sender, self.height)?;
        proposal.votes.insert(tx.sender.clone(), vote);
        self.settle(proposal, &set)
    }

    /// Tallies `proposal` against `set`, carries out an approved action, and stores it.
    fn settle(&mut self, mut proposal: Proposal, set: &[String]) -> Result<String, Refusal> {
        let status = proposal.tally(set);
        if status == Status::Approved {
            proposal.outcome = self.carry_out(&proposal.action, set)?;
        }
        if status != Status::Active {
            proposal.decided_at = Some(self.height);
        }
        proposal.status = status;
        let result = format!(
            r#"{{"proposalId":"{}","proposalStatus":"{}"}}"#,
            proposal.id,
            status.name()
        );
        self.write(proposal_key(&proposal.id), Some(proposal.to_json()));
        Ok(result)
    }

    /// Carries out an approved action: `Ok(Some(reason))` if it no longer applies (checked
    /// when proposed, but another change may have made it moot since: the proposal is still
    /// decided); `Err` if it cannot happen in this block (a second membership change).
    fn carry_out(&mut self, action: &Action, set: &[String]) -> Result<Option<String>, Refusal> {
        match action {
            Action::UpdateConfig { key, value } => {
                self.write(format!("{CONFIG_PREFIX}{key}"), Some(value.clone()));
            }
            Action::AddPeer { .. } | Action::RemovePeer { .. } => {
                if self.change.is_some() {
                    return Err(Refusal::ChangeInBlock);
                }
                let change = action.membership_change().expect("a membership action");
                match rules::applied(set, &change) {
                    Ok(next) => {
                        self.write(VALIDATORS_KEY.into(), Some(json_list(&next)));
                        self.change = Some(change);
                    }
                    Err(moot) => return Ok(Some(moot.to_string())),
                }
            }
        }
        Ok(None)
    }

    fn write(&mut self, key: String, value: Option<String>) {
        let entry = value.map(|value| {
            let value = canonical::canonicalize(&value).expect("governance writes valid JSON");
            let version = self.get(&key).map_or(1, |e| e.version + 1);
            StateEntry { value, version }
        });
        self.delta.insert(key, entry);
    }
}

fn json_list(keys: &[String]) -> String {
    serde_json::to_string(keys).expect("strings serialize")
}

#[cfg(test)]
mod tests;
