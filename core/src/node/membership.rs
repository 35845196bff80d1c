//! The validator set in force, followed by the node. On our networks (on-chain governance) the
//! set is state: approved `add-peer` / `remove-peer` proposals change it (`governance`). Raft
//! takes each change when the entry carrying it is appended (`raft::membership`); this module
//! does the rest:
//! - keeps the node's view of the set (who produces, whom to keep dialing) at the tip's;
//! - switches a solo node to Raft, without a restart, once its network has more than one
//!   validator (a lone validator adding a second, and every observer of that network);
//! - on the Raft leader, holds governance transactions back while the change they would make
//!   cannot be appended yet (another change uncommitted, no commit in this term, the new
//!   validator not caught up as a learner): they wait in the mempool and go in a later block.

use super::consensus::Consensus;
use super::events::{Level, Target};
use super::{FullNode, Mode, NodeStorage, StartError};
use crate::model::Transaction;
use crate::pipeline::Governance;
use crate::raft::RaftConfig;
use crate::validation::ValidatorSet;
use std::collections::BTreeSet;

/// How long a leader holds governance transactions back after a change was refused.
pub(super) const HOLD_CHANGES_MS: u64 = 200;

/// The consensus a validator set calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wanted {
    /// One validator: it seals blocks alone (`producer`: it is this node).
    Solo {
        producer: bool,
    },
    Raft,
}

pub(super) fn wanted(set: &ValidatorSet, me: &str) -> Wanted {
    match set.keys() {
        [only] => Wanted::Solo {
            producer: only == me,
        },
        _ => Wanted::Raft,
    }
}

impl<S: NodeStorage> FullNode<S> {
    /// The validator set in force at the tip: the configured (genesis) one unless governance
    /// changed it.
    pub(super) fn set_in_force(store: &S, rules: &crate::pipeline::Rules) -> ValidatorSet {
        match rules.governance {
            Governance::OnChain => ValidatorSet::new(crate::governance::validators(
                store,
                rules.validators.keys(),
            )),
            Governance::Recorded => rules.validators.clone(),
        }
    }

    /// The set in force at the tip.
    pub fn validators(&self) -> &ValidatorSet {
        &self.validators
    }

    /// The admission lists in force: the genesis' (the node's configuration), each replaced
    /// by an approved `update-config` of `allowedKeys` / `allowedOrgs` (an empty list lifts it).
    pub(super) fn admission_in_force(
        store: &S,
        config: &super::FullConfig,
    ) -> crate::net::Admission {
        let mut admission = config.peer.admission.clone();
        if config.rules.governance != Governance::OnChain {
            return admission;
        }
        let list = |key: &str| {
            let entry = store.get(&format!("{}{key}", crate::governance::CONFIG_PREFIX))?;
            let list: Vec<String> = serde_json::from_str(&entry.value).ok()?;
            Some((!list.is_empty()).then_some(list))
        };
        if let Some(keys) = list("allowedKeys") {
            admission.allowed_keys = keys;
        }
        if let Some(orgs) = list("allowedOrgs") {
            admission.allowed_orgs = orgs;
        }
        admission
    }

    /// After a commit of blocks holding governance transactions: follow what they changed.
    pub(super) fn follow_governance(&mut self, blocks: &[crate::model::Block]) {
        let governance = (blocks.iter().flat_map(|b| &b.transactions))
            .any(|tx| tx.payload.body().is_governance());
        if !governance || self.config.rules.governance != Governance::OnChain {
            return;
        }
        let admission = Self::admission_in_force(&self.store, &self.config);
        if admission != self.peers.config().admission {
            let line = format!(
                "admission in force: allowedKeys {:?}, allowedOrgs {:?}",
                admission.allowed_keys, admission.allowed_orgs
            );
            self.log(Level::Info, Target::P2p, line);
            self.peers.set_admission(admission);
        }
        self.follow_validator_set();
    }

    /// Follow a change of the set in force.
    fn follow_validator_set(&mut self) {
        let set = Self::set_in_force(&self.store, &self.config.rules);
        if set == self.validators {
            return;
        }
        let line = format!(
            "validator set in force: {} validator(s) {:?}",
            set.len(),
            set.keys().iter().map(|k| &k[..16]).collect::<Vec<_>>()
        );
        self.log(Level::Info, Target::Raft, line);
        self.validators = set;
        let keys: BTreeSet<String> = self.validators.keys().iter().cloned().collect();
        self.peers.set_keep_dialing(keys);
        let me = self.key.public_hex().to_string();
        let wanted = wanted(&self.validators, &me);
        match (&self.mode, wanted) {
            (Mode::Raft(_), _) => {} // Raft follows the set through its log
            (_, Wanted::Solo { producer }) => {
                self.mode = match producer {
                    true => Mode::SoloProducer,
                    false => Mode::SoloFollower,
                };
            }
            (_, Wanted::Raft) => {
                if let Err(e) = self.switch_to_raft() {
                    let line = format!("cannot switch to Raft: {e}");
                    self.log(Level::Error, Target::Raft, line);
                }
            }
        }
    }

    /// Solo → Raft over the set in force, restored from the store (its tip the commit point).
    fn switch_to_raft(&mut self) -> Result<(), StartError> {
        let config = self.raft_config_for(&self.validators);
        let rules = &self.config.rules;
        let consensus = Consensus::open(config, &self.store, rules, self.raft_seed, true)?;
        self.mode = Mode::Raft(Box::new(consensus));
        self.raft_update_learners();
        let line = format!(
            "the network has {} validators: switched from solo to Raft",
            self.validators.len()
        );
        self.log(Level::Info, Target::Raft, line);
        Ok(())
    }

    /// A Raft configuration over `set` for this node.
    pub(super) fn raft_config_for(&self, set: &ValidatorSet) -> RaftConfig {
        let mut config = RaftConfig::new(self.key.public_hex(), set.keys().to_vec());
        config.max_message_bytes = self.config.max_frame_bytes;
        config
    }
}

/// `txs` (in the mempool's order) without governance transactions, and without each sender's
/// transactions after its first governance one (they could not keep their nonce order).
pub(super) fn without_governance(txs: Vec<Transaction>) -> (Vec<Transaction>, bool) {
    let mut held: BTreeSet<String> = BTreeSet::new();
    let kept: Vec<Transaction> = txs
        .into_iter()
        .filter(|tx| {
            if tx.payload.body().is_governance() || held.contains(&tx.sender) {
                held.insert(tx.sender.clone());
                return false;
            }
            true
        })
        .collect();
    (kept, !held.is_empty())
}
