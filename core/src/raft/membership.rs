//! Membership change one server at a time (Ongaro's dissertation §4.1–4.2).
//!
//! Log entries are blocks and their format is fixed, so the driver tells Raft which entries
//! change the validator set ([`ConfigChanges`]). A change takes effect when its entry is
//! appended (leader and followers alike, committed or not), is undone if the entry is
//! truncated, and is final once it commits. Every node uses the latest configuration in its
//! log. Because two configurations one server apart always share a majority, no two leaders
//! can be elected in one term, provided:
//! - a leader appends a change only when no other change is uncommitted in its log, and
//! - only once it has committed an entry of its own term (the fix to the single-server bug
//!   Ongaro posted to raft-dev in 2015: a new leader may hold an older term's uncommitted change
//!   that a concurrent change of another leader contradicts).
//!
//! Liveness and disruption:
//! - A new validator first follows as a learner (`set_learners`); the leader adds it only once
//!   it holds every committed entry (`ProposeError::NotCaughtUp`), so the cluster is not left
//!   waiting for it.
//! - A leader that removes itself keeps leading, without counting itself, until the change
//!   commits, then steps down (§4.2.2). Followers go on accepting its AppendEntries meanwhile:
//!   they accept them from any validator of the committed or an uncommitted configuration.
//! - A removed server that misses its removal times out and campaigns, but the others ignore
//!   its (pre-)votes: it is not in their configuration, and pre-vote and the lease stop it
//!   anyway (§4.2.3). Its messages are not scored as bogus either: it is honest, only behind.

use super::config::Validator;
use super::node::Raft;
use super::progress::Progress;
use super::ready::Event;
use super::status::Role;
use crate::crypto::node_id;
use crate::protocol::LogEntry;
use std::collections::BTreeSet;

/// A change of the validator set carried by one log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// The validator with this public key (hex) joins.
    AddValidator(String),
    /// The validator with this public key (hex) leaves.
    RemoveValidator(String),
}

/// Which entries change the validator set: the driver derives it from the block (e.g. from an
/// approved governance proposal). It must answer the same for the same entry on every node
/// and every time, since each node computes its configuration from its own log.
pub trait ConfigChanges {
    fn config_change(&self, entry: &LogEntry) -> Option<ConfigChange>;
}

/// A network whose validator set never changes: no entry carries a change.
#[derive(Debug, Clone, Copy, Default)]
pub struct StaticMembership;

impl ConfigChanges for StaticMembership {
    fn config_change(&self, _: &LogEntry) -> Option<ConfigChange> {
        None
    }
}

/// The configurations in this node's log: the committed one and the uncommitted changes.
#[derive(Debug, Clone)]
pub(crate) struct Membership {
    /// The set in force at the commit index, and the index of the change that made it (the
    /// commit point it was restored or synced at, for a set the driver passed).
    committed: (u64, Vec<Validator>),
    /// Uncommitted changes, ascending by index, each with the set it makes.
    pending: Vec<(u64, Vec<Validator>)>,
    /// nodeIds that some change we saw removed.
    removed: BTreeSet<String>,
}

impl Membership {
    pub fn new(index: u64, committed: Vec<Validator>) -> Self {
        Membership {
            committed: (index, committed),
            pending: Vec::new(),
            removed: BTreeSet::new(),
        }
    }

    /// The latest configuration in the log, and the index of the entry that made it.
    pub fn current(&self) -> (u64, &[Validator]) {
        let (index, set) = self.pending.last().unwrap_or(&self.committed);
        (*index, set)
    }

    pub fn committed(&self) -> &[Validator] {
        &self.committed.1
    }

    pub fn committed_index(&self) -> u64 {
        self.committed.0
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether `id` is a validator of the committed or any uncommitted configuration.
    pub fn knows(&self, id: &str) -> bool {
        std::iter::once(&self.committed)
            .chain(&self.pending)
            .any(|(_, set)| set.iter().any(|v| v.node_id == id))
    }

    pub fn was_removed(&self, id: &str) -> bool {
        self.removed.contains(id)
    }

    /// The change at `index` (above every pending one) takes effect.
    pub fn append(&mut self, index: u64, change: &ConfigChange) {
        let set = applied(self.current().1, change);
        if let ConfigChange::RemoveValidator(key) = change {
            self.removed.insert(node_id(key).to_string());
        }
        self.pending.push((index, set));
    }

    /// Undoes the changes at `from` and above; true if any was undone.
    pub fn truncate(&mut self, from: u64) -> bool {
        let before = self.pending.len();
        self.pending.retain(|(i, _)| *i < from);
        self.pending.len() != before
    }

    /// Makes final the changes at or below `commit`; true if any was.
    pub fn commit_to(&mut self, commit: u64) -> bool {
        let n = self
            .pending
            .iter()
            .take_while(|(i, _)| *i <= commit)
            .count();
        if n == 0 {
            return false;
        }
        self.committed = self.pending.drain(..n).next_back().expect("n > 0");
        true
    }

    /// The driver's set at `index`, the commit point of a sync: changes up to there were in
    /// blocks Raft did not see.
    pub fn reset_committed(&mut self, index: u64, set: Vec<Validator>) {
        self.pending.retain(|(i, _)| *i > index);
        for v in &self.committed.1 {
            if !set.iter().any(|w| w.node_id == v.node_id) {
                self.removed.insert(v.node_id.clone());
            }
        }
        self.committed = (index, set);
    }
}

/// `set` with `change` made (a no-op change leaves it as it is).
fn applied(set: &[Validator], change: &ConfigChange) -> Vec<Validator> {
    let mut set = set.to_vec();
    match change {
        ConfigChange::AddValidator(key) => {
            if !set.iter().any(|v| v.public_key == *key) {
                set.push(Validator {
                    public_key: key.clone(),
                    node_id: node_id(key).to_string(),
                });
                set.sort_by(|a, b| a.public_key.cmp(&b.public_key));
            }
        }
        ConfigChange::RemoveValidator(key) => set.retain(|v| v.public_key != *key),
    }
    set
}

/// Why the leader refuses to append `change` on top of `set` (`Err(reason)`), apart from the
/// timing rules.
pub(crate) fn check_change(set: &[Validator], change: &ConfigChange) -> Result<(), String> {
    match change {
        ConfigChange::AddValidator(key) => {
            let hex = key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit());
            if !hex {
                return Err(format!("{key:?} is not a 64-digit hex public key"));
            }
            if set.iter().any(|v| v.public_key == *key) {
                return Err(format!("{key} is already a validator"));
            }
            if let Some(v) = set.iter().find(|v| v.node_id == node_id(key)) {
                return Err(format!("{key} shares its nodeId with {}", v.public_key));
            }
            Ok(())
        }
        ConfigChange::RemoveValidator(key) => {
            if !set.iter().any(|v| v.public_key == *key) {
                return Err(format!("{key} is not a validator"));
            }
            Ok(())
        }
    }
}

impl Raft {
    /// The validator set in force at the commit index (public keys, sorted).
    pub fn committed_validators(&self) -> Vec<String> {
        keys(self.membership.committed())
    }

    /// Whether a change is appended but not committed yet (no other may be proposed).
    pub fn change_in_progress(&self) -> bool {
        self.membership.has_pending()
    }

    /// Whether this node's vote and acknowledgements count: it is in the latest configuration.
    /// (A node removed by an uncommitted change still campaigns and may lead, as it may be
    /// needed to commit its removal, but without counting itself: dissertation §4.2.2.)
    pub(crate) fn counts_itself(&self) -> bool {
        self.is_validator(&self.id)
    }

    /// Whether `from` may lead this node: a validator of any configuration in its log, so the
    /// followers of a leader that removes itself follow it until the removal commits.
    pub(crate) fn may_lead(&self, from: &str) -> bool {
        self.membership.knows(from)
    }

    /// A removed validator: honest, only unaware of its removal.
    pub(crate) fn was_removed(&self, from: &str) -> bool {
        self.membership.was_removed(from) && !self.is_validator(from)
    }

    /// An entry carrying `change` was appended at `index`.
    pub(crate) fn config_appended(&mut self, index: u64, change: &ConfigChange) {
        self.membership.append(index, change);
        self.config_changed(false);
    }

    /// Entries from `from` on were dropped: their changes are undone.
    pub(crate) fn config_truncated(&mut self, from: u64) {
        if self.membership.truncate(from) {
            self.config_changed(false);
        }
    }

    /// The commit index moved: changes at or below it are final. A leader that is not in the
    /// configuration now committed steps down (it led only to commit its own removal).
    pub(crate) fn config_committed(&mut self) {
        if !self.membership.commit_to(self.log.commit()) {
            return;
        }
        let (index, set) = (
            self.membership.committed_index(),
            self.membership.committed(),
        );
        self.events.push(Event::ConfigChanged {
            validators: keys(set),
            index,
            committed: true,
        });
        self.learner = !self.membership.knows(&self.id);
        if self.role != Role::Leader {
            // A follower whose removal committed becomes a learner.
            return self.follow_config();
        }
        if !self.counts_itself() && !self.membership.has_pending() {
            self.set_role(Role::Learner);
            self.set_leader(None);
            self.progress.clear();
            self.votes.clear();
            self.election_deadline = None;
        }
    }

    /// The driver synced committed blocks up to `index`, where the set is `set`.
    pub(crate) fn config_synced(&mut self, index: u64, set: Vec<Validator>) {
        let before = self.validators.clone();
        self.membership.reset_committed(index, set);
        if self.membership.current().1 != before.as_slice() {
            self.config_changed(false);
        }
        self.events.push(Event::ConfigChanged {
            validators: keys(self.membership.committed()),
            index,
            committed: true,
        });
    }

    /// The latest configuration changed: roles, quorum and the leader's progress follow it.
    fn config_changed(&mut self, committed: bool) {
        let (index, set) = self.membership.current();
        self.validators = set.to_vec();
        self.events.push(Event::ConfigChanged {
            validators: keys(set),
            index,
            committed,
        });
        self.learners = self.learners_now();
        match self.role {
            Role::Leader => self.leader_config_changed(),
            _ => self.follow_config(),
        }
    }

    /// A learner is a node in no configuration of its log; the others may campaign.
    fn follow_config(&mut self) {
        self.learner = !self.membership.knows(&self.id);
        match self.role {
            Role::Learner if !self.learner => {
                self.set_role(Role::Follower);
                self.election_deadline = None; // armed at the next tick
            }
            Role::Follower | Role::PreCandidate | Role::Candidate if self.learner => {
                self.set_role(Role::Learner);
                self.votes.clear();
            }
            _ => {}
        }
    }

    /// Leader: validators count toward quorum from the change on; others are dropped unless
    /// they stay as learners (their progress kept, no longer voting).
    fn leader_config_changed(&mut self) {
        let last = self.log.last_index();
        let voters: Vec<String> = self
            .validators
            .iter()
            .map(|v| v.node_id.clone())
            .filter(|id| *id != self.id)
            .collect();
        let learners = self.learners.clone();
        self.progress
            .retain(|id, _| voters.contains(id) || learners.contains(id));
        let mut new = Vec::new();
        for id in voters.iter().chain(&learners) {
            let voter = voters.contains(id);
            match self.progress.get_mut(id) {
                Some(pr) => pr.voter = voter,
                None => {
                    self.progress.insert(id.clone(), Progress::new(voter, last));
                    new.push(id.clone());
                }
            }
        }
        for id in new {
            self.send_append(&id);
        }
        // Fewer voters can mean a quorum already holds an entry.
        self.maybe_commit();
    }
}

fn keys(set: &[Validator]) -> Vec<String> {
    set.iter().map(|v| v.public_key.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> String {
        format!("{n:02x}").repeat(32)
    }

    fn set(keys: &[u8]) -> Vec<Validator> {
        let mut set: Vec<Validator> = keys
            .iter()
            .map(|&n| Validator {
                public_key: key(n),
                node_id: node_id(&key(n)).to_string(),
            })
            .collect();
        set.sort_by(|a, b| a.public_key.cmp(&b.public_key));
        set
    }

    #[test]
    fn changes_apply_on_append_revert_on_truncate_and_fold_on_commit() {
        let mut m = Membership::new(0, set(&[1, 2, 3]));
        m.append(5, &ConfigChange::AddValidator(key(4)));
        m.append(8, &ConfigChange::RemoveValidator(key(1)));
        assert_eq!(m.current(), (8, set(&[2, 3, 4]).as_slice()));
        assert!(m.knows(node_id(&key(1))), "still in the committed set");
        assert!(m.was_removed(node_id(&key(1))));

        assert!(m.truncate(8));
        assert_eq!(m.current(), (5, set(&[1, 2, 3, 4]).as_slice()));
        assert!(!m.truncate(6), "nothing at or above 6 left");

        assert!(!m.commit_to(4));
        assert!(m.commit_to(5));
        assert_eq!(m.committed(), set(&[1, 2, 3, 4]).as_slice());
        assert_eq!(m.committed_index(), 5);
        assert!(!m.has_pending());
    }

    #[test]
    fn a_synced_set_replaces_the_committed_one_and_keeps_later_changes() {
        let mut m = Membership::new(0, set(&[1, 2, 3]));
        m.append(9, &ConfigChange::AddValidator(key(5)));
        m.reset_committed(7, set(&[2, 3]));
        assert_eq!(m.committed(), set(&[2, 3]).as_slice());
        assert!(m.was_removed(node_id(&key(1))));
        assert_eq!(m.current().0, 9, "the change above the sync point stays");
    }

    #[test]
    fn the_leader_refuses_no_op_and_malformed_changes() {
        let s = set(&[1, 2]);
        assert!(check_change(&s, &ConfigChange::AddValidator(key(3))).is_ok());
        assert!(check_change(&s, &ConfigChange::AddValidator(key(1))).is_err());
        assert!(check_change(&s, &ConfigChange::AddValidator("zz".into())).is_err());
        assert!(check_change(&s, &ConfigChange::RemoveValidator(key(3))).is_err());
        let twin = format!("{}{}", &key(1)[..16], "ab".repeat(24));
        assert!(
            check_change(&s, &ConfigChange::AddValidator(twin)).is_err(),
            "same nodeId"
        );
    }
}
