//! The state machine's data and its public API; the protocol rules live in `election.rs` and
//! `replication.rs`.

use super::config::{ConfigError, RaftConfig, Validator};
use super::log::RaftLog;
use super::membership::{check_change, ConfigChange, ConfigChanges, Membership, StaticMembership};
use super::progress::Progress;
use super::read::Reads;
use super::ready::{Event, HardState, Ready, Restored, SyncTarget};
use super::status::{RaftStatus, Role};
use super::wire::{encoded_len, frame_len, in_range, is_consensus};
use crate::model::{Block, BlockHeader};
use crate::protocol::{AppendEntries, LogEntry, Message};
use crate::rng::SplitMix;
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// The driver's block verification, called by a follower (or learner) for each new entry, in
/// order, before accepting it. `pending_before` holds the log entries between the last
/// committed entry handed to the driver (its applied tip) and `entry`, so the driver can check
/// the parent hash, nonces and state root against speculative state. Through
/// [`ConfigChanges`] it also tells which accepted entries change the validator set.
pub trait EntryCheck: ConfigChanges {
    fn verify(&mut self, pending_before: &[LogEntry], entry: &LogEntry) -> Result<(), String>;
}

/// A closure only verifies: its entries never change the validator set.
impl<F: FnMut(&[LogEntry], &LogEntry) -> Result<(), String>> ConfigChanges for F {
    fn config_change(&self, _: &LogEntry) -> Option<ConfigChange> {
        None
    }
}

impl<F: FnMut(&[LogEntry], &LogEntry) -> Result<(), String>> EntryCheck for F {
    fn verify(&mut self, pending_before: &[LogEntry], entry: &LogEntry) -> Result<(), String> {
        self(pending_before, entry)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProposeError {
    #[error("not the leader (leader: {})", leader.as_deref().unwrap_or("unknown"))]
    NotLeader { leader: Option<String> },
    #[error("block {height} does not extend the last entry {last} ({hash})")]
    NotNext {
        height: u64,
        last: u64,
        hash: String,
    },
    #[error("{0} uncommitted entries already: wait for commits")]
    Backlog(u64),
    #[error("an entry of {bytes} bytes cannot fit one message of at most {max} bytes")]
    TooLarge { bytes: usize, max: usize },
    #[error("a validator-set change is not committed yet: one change at a time")]
    ChangeInProgress,
    #[error("no entry of this leader's term is committed yet: no change before one is")]
    NoCommitInTerm,
    #[error("the last validator cannot be removed")]
    LastValidator,
    #[error("{node_id} is not caught up (holds {match_index}, commit index {commit}): it must follow as a learner first")]
    NotCaughtUp {
        node_id: String,
        match_index: u64,
        commit: u64,
    },
    #[error("invalid change: {0}")]
    InvalidChange(String),
}

/// The last log entry: what the next block must extend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastEntry {
    pub header: BlockHeader,
    /// `None` for a synced block whose term is not known yet.
    pub term: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Raft {
    pub(crate) config: RaftConfig,
    pub(crate) id: String,
    /// The latest configuration in the log (`membership`'s current one).
    pub(crate) validators: Vec<Validator>,
    pub(crate) membership: Membership,
    /// In no configuration of the log (neither the committed one nor an uncommitted one): follows,
    /// never campaigns. A node only in the committed one (its removal is uncommitted) campaigns
    /// without counting itself.
    pub(crate) learner: bool,
    pub(crate) rng: SplitMix,
    /// Frame size of an empty AppendEntries with every number at its widest.
    pub(crate) append_overhead: usize,

    pub(crate) term: u64,
    pub(crate) voted_for: Option<String>,
    /// The hard state last handed out for persistence.
    pub(crate) persisted: HardState,
    pub(crate) log: RaftLog,
    /// The last index the driver confirmed durable (`advance`): the leader's own match index.
    pub(crate) stable: u64,

    pub(crate) role: Role,
    pub(crate) leader: Option<String>,
    /// `(term, leader)` whose entry this node refused: its messages no longer count as a live
    /// leader, so the validators elect another one.
    pub(crate) distrusted: Option<(u64, String)>,
    /// Set on the first tick (construction has no clock).
    pub(crate) election_deadline: Option<u64>,
    pub(crate) heartbeat_deadline: u64,
    pub(crate) quorum_deadline: u64,
    pub(crate) last_leader_contact: Option<u64>,
    /// Pre-vote or vote answers in the current campaign.
    pub(crate) votes: BTreeMap<String, bool>,
    /// Leader only: every other validator and every learner.
    pub(crate) progress: BTreeMap<String, Progress>,
    pub(crate) learners: BTreeSet<String>,
    /// What the driver last passed to `set_learners`: `learners` is those not validators now.
    pub(crate) learner_candidates: BTreeSet<String>,
    pub(crate) last_term_unknown_reported: bool,

    pub(crate) messages: Vec<(String, Message)>,
    pub(crate) events: Vec<Event>,
    pub(crate) learned_term: Option<(u64, u64)>,
    pub(crate) sync_needed: Option<SyncTarget>,
    pub(crate) needs_block: bool,
    pub(crate) reads: Reads,
}

impl Raft {
    /// A node restored from disk (`Restored::fresh()` for a new one) of a network whose
    /// validator set never changes. `seed` drives the election timeouts: give each node a
    /// different one.
    pub fn new(config: RaftConfig, restored: Restored, seed: u64) -> Result<Raft, ConfigError> {
        Raft::restore(config, restored, seed, &StaticMembership)
    }

    /// A node restored from disk: `config.validators` is the set committed at
    /// `restored.commit`, and the uncommitted `restored.entries` that `changes` says carry a
    /// change apply on top of it, in order.
    pub fn restore(
        config: RaftConfig,
        restored: Restored,
        seed: u64,
        changes: &impl ConfigChanges,
    ) -> Result<Raft, ConfigError> {
        let committed = config.checked_validators()?;
        let id = config.node_id().to_string();
        let widest = AppendEntries {
            term: u64::MAX,
            leader_id: id.clone(),
            prev_log_index: u64::MAX,
            prev_log_term: u64::MAX,
            entries: Vec::new(),
            leader_commit: u64::MAX,
            first_index: Some(u64::MAX),
            read_round: Some(u64::MAX),
            read_grants: None,
        };
        let append_overhead = frame_len(&id, &Message::AppendEntries(widest.clone()));
        // Read grants ride only on heartbeats (no entries), outside the entries' budget.
        let widest_heartbeat = AppendEntries {
            read_grants: Some(super::read::widest_grants()),
            ..widest
        };
        let heartbeat = frame_len(&id, &Message::AppendEntries(widest_heartbeat));
        if config.max_message_bytes < (append_overhead + 2).max(heartbeat) {
            return Err(ConfigError::MessageCap(config.max_message_bytes));
        }
        let log = RaftLog::restore(
            restored.commit,
            restored.commit_term,
            restored.entries,
            config.retained_entries,
        );
        let mut hard = restored.hard_state;
        let persisted = hard.clone();
        // Entries are persisted after the hard state, so their term cannot exceed it; be safe
        // with a driver that wrote them in the other order. The chain tip's term can exceed it
        // too (a block synced from a peer ahead): the raised term is handed out to persist.
        if let Some(t) = log.last_term().filter(|&t| t > hard.term) {
            hard = HardState {
                term: t,
                voted_for: None,
            };
        }
        let mut membership = Membership::new(log.commit(), committed);
        for entry in log.entries() {
            if let Some(change) = changes.config_change(entry) {
                membership.append(entry.index, &change);
            }
        }
        let validators = membership.current().1.to_vec();
        let learner = !membership.knows(&id);
        Ok(Raft {
            id,
            validators,
            membership,
            learner,
            rng: SplitMix::new(seed),
            append_overhead,
            term: hard.term,
            voted_for: hard.voted_for.clone(),
            persisted,
            stable: log.last_index(),
            log,
            role: if learner {
                Role::Learner
            } else {
                Role::Follower
            },
            leader: None,
            distrusted: None,
            election_deadline: None,
            heartbeat_deadline: 0,
            quorum_deadline: 0,
            last_leader_contact: None,
            votes: BTreeMap::new(),
            progress: BTreeMap::new(),
            learners: BTreeSet::new(),
            learner_candidates: BTreeSet::new(),
            last_term_unknown_reported: false,
            messages: Vec::new(),
            events: Vec::new(),
            learned_term: None,
            sync_needed: None,
            needs_block: false,
            reads: Reads::default(),
            config,
        })
    }

    /// Advances timers: elections on followers, heartbeats and check-quorum on the leader.
    pub fn tick(&mut self, now_ms: u64) {
        match self.role {
            Role::Learner => {}
            Role::Leader => self.tick_leader(now_ms),
            _ => self.tick_election(now_ms),
        }
    }

    /// Handles one message from `from` (the sender's nodeId, as the connection authenticated
    /// it). Non-consensus messages, messages from non-validators (except AppendEntries replies
    /// from the leader's learners) and messages with a term or index above 2^53 - 1 are ignored.
    pub fn step(
        &mut self,
        from: &str,
        message: &Message,
        now_ms: u64,
        check: &mut impl EntryCheck,
    ) {
        if from == self.id || !is_consensus(message) || !in_range(message) {
            return;
        }
        let validator = self.is_validator(from);
        match message {
            Message::AppendEntries(m) if self.may_lead(from) => {
                self.handle_append(from, m, now_ms, check)
            }
            Message::AppendEntriesReply(m) if validator || self.learners.contains(from) => {
                self.handle_append_reply(from, m, validator, now_ms)
            }
            Message::RequestVote(m) if self.may_lead(from) => self.handle_vote(from, m, now_ms),
            Message::RequestVoteReply(m) if validator => self.handle_vote_reply(from, m, now_ms),
            _ => {}
        }
    }

    /// Appends `block` as the next entry (leader only) and starts replicating it. The block must
    /// extend [`Raft::last_entry`], which may itself be uncommitted (pipelining), and carry no
    /// validator-set change (see [`Raft::propose_change`]).
    pub fn propose(&mut self, block: Block, _now_ms: u64) -> Result<u64, ProposeError> {
        self.append_proposal(block, None)
    }

    /// Proposes `block`, which carries `change` (the driver's `config_change` must say so for
    /// it on every node). The change takes effect at once on this leader. Refused while
    /// another change is uncommitted, before this leader committed an entry of its term, for
    /// the last validator, and for a validator to add that does not follow as a learner holding
    /// every committed entry.
    pub fn propose_change(
        &mut self,
        block: Block,
        change: ConfigChange,
        _now_ms: u64,
    ) -> Result<u64, ProposeError> {
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader: self.leader.clone(),
            });
        }
        if self.membership.has_pending() {
            return Err(ProposeError::ChangeInProgress);
        }
        if self.log.term(self.log.commit()) != Some(self.term) {
            return Err(ProposeError::NoCommitInTerm);
        }
        check_change(&self.validators, &change).map_err(ProposeError::InvalidChange)?;
        match &change {
            ConfigChange::RemoveValidator(_) if self.validators.len() == 1 => {
                return Err(ProposeError::LastValidator);
            }
            ConfigChange::AddValidator(key) => {
                let id = crate::crypto::node_id(key);
                let commit = self.log.commit();
                let match_index = self.progress.get(id).map_or(0, |pr| pr.match_index);
                if match_index < commit {
                    return Err(ProposeError::NotCaughtUp {
                        node_id: id.to_string(),
                        match_index,
                        commit,
                    });
                }
            }
            ConfigChange::RemoveValidator(_) => {}
        }
        self.append_proposal(block, Some(change))
    }

    fn append_proposal(
        &mut self,
        block: Block,
        change: Option<ConfigChange>,
    ) -> Result<u64, ProposeError> {
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader: self.leader.clone(),
            });
        }
        let last = self.log.last_header();
        if block.height != last.height + 1 || block.previous_hash != last.hash {
            return Err(ProposeError::NotNext {
                height: block.height,
                last: last.height,
                hash: last.hash,
            });
        }
        // The backlog never blocks this term's first entry: older entries commit only with it.
        let uncommitted = last.height - self.log.commit();
        let has_own = self.log.last_term() == Some(self.term);
        if uncommitted >= self.config.max_uncommitted as u64 && has_own {
            return Err(ProposeError::Backlog(uncommitted));
        }
        let entry = LogEntry {
            term: self.term,
            index: block.height,
            block,
        };
        let bytes = encoded_len(&entry);
        if self.append_overhead + bytes + 1 > self.config.max_message_bytes {
            return Err(ProposeError::TooLarge {
                bytes,
                max: self.config.max_message_bytes,
            });
        }
        self.log.push(entry);
        self.needs_block = false;
        let index = self.log.last_index();
        if let Some(change) = change {
            self.config_appended(index, &change);
        }
        self.broadcast_append(false);
        Ok(index)
    }

    /// The learner candidates that are not validators now.
    pub(crate) fn learners_now(&self) -> BTreeSet<String> {
        self.learner_candidates
            .iter()
            .filter(|id| **id != self.id && !self.is_validator(id))
            .cloned()
            .collect()
    }

    /// The last entry of the log: build the next block on it.
    pub fn last_entry(&self) -> LastEntry {
        LastEntry {
            header: self.log.last_header(),
            term: self.log.last_term(),
        }
    }

    /// The connected non-validator full peers (observers) a leader replicates to. They never
    /// count toward a quorum.
    /// Validators among them are left out, and followed again if a change removes them.
    pub fn set_learners<S: AsRef<str>>(&mut self, node_ids: impl IntoIterator<Item = S>) {
        self.learner_candidates = node_ids
            .into_iter()
            .map(|s| s.as_ref().to_string())
            .collect();
        let learners = self.learners_now();
        if self.role == Role::Leader {
            self.progress
                .retain(|id, pr| pr.voter || learners.contains(id));
            for id in &learners {
                if !self.progress.contains_key(id) {
                    let pr = Progress::new(false, self.log.last_index());
                    self.progress.insert(id.clone(), pr);
                    self.send_append(id);
                }
            }
        }
        self.learners = learners;
    }

    /// The driver applied committed blocks up to `header`, obtained by BlockSync (only final
    /// blocks may be synced this way). Raft moves its commit and last index forward; entries
    /// that do not chain on `header` are dropped (see `Ready::truncate_from`). `term`: the Raft
    /// term of `header`'s block if the driver knows it from a source it trusts as much as a
    /// leader's AppendEntries (an authenticated validator); `None` leaves it unknown, and this
    /// node then neither votes nor campaigns until a leader appends to it.
    pub fn on_synced(&mut self, header: BlockHeader, term: Option<u64>) {
        self.synced(header, term, None);
    }

    /// [`Raft::on_synced`] for a network whose validator set changes: `validators` is the set
    /// in force at `header`, after the changes the synced blocks carried (Raft never saw them).
    pub fn on_synced_with_validators(
        &mut self,
        header: BlockHeader,
        term: Option<u64>,
        validators: Vec<String>,
    ) -> Result<(), ConfigError> {
        let set = RaftConfig {
            validators,
            ..self.config.clone()
        }
        .checked_validators()?;
        self.synced(header, term, Some(set));
        Ok(())
    }

    fn synced(&mut self, header: BlockHeader, term: Option<u64>, set: Option<Vec<Validator>>) {
        if self.role == Role::Leader {
            return;
        }
        let (height, commit) = (header.height, self.log.commit());
        let ours = self
            .log
            .entry(height)
            .is_some_and(|e| e.block.hash == header.hash);
        if height > commit && !ours {
            // Every uncommitted entry goes (or did not chain): so do their changes.
            self.config_truncated(commit + 1);
        }
        if self.log.synced(header, term) {
            self.config_truncated(height + 1);
        }
        match set {
            Some(set) if height > commit => self.config_synced(height, set),
            _ => {}
        }
        self.config_committed();
        self.sync_needed = None;
    }

    /// Whether BlockSync should chase the chains of peers ahead of this node (the driver then
    /// syncs from validators only, which store committed blocks only). Not on a leader, nor on
    /// a node a live leader replicated to within the longest election timeout: the leader
    /// keeps that one up (entries, and `sync_needed` beyond its window), and chasing peers too
    /// would only race the log. Every other node (a validator cut off from the leader, a
    /// (pre-)candidate, an observer whose leader went quiet) would otherwise wait for good.
    pub fn chases_peers(&self, now_ms: u64) -> bool {
        let hears_leader = self.leader.as_ref().is_some_and(|l| *l != self.id)
            && self
                .last_leader_contact
                .is_some_and(|t| now_ms < t + self.config.election_timeout_max_ms);
        self.role != Role::Leader && !hears_leader
    }

    pub fn has_ready(&self) -> bool {
        self.hard_state() != self.persisted
            || self.log.has_unstable()
            || self.log.has_committed()
            || !self.messages.is_empty()
            || !self.events.is_empty()
            || self.learned_term.is_some()
            || self.sync_needed.is_some()
            || self.needs_block
            || !self.reads.done.is_empty()
    }

    /// Takes the pending output. Handle it as [`Ready`] documents, then call `advance`.
    pub fn ready(&mut self) -> Ready {
        let hard = self.hard_state();
        let hard_state = (hard != self.persisted).then(|| hard.clone());
        self.persisted = hard;
        let (truncate_from, entries) = self.log.take_unstable();
        Ready {
            hard_state,
            truncate_from,
            entries,
            learned_term: self.learned_term.take(),
            messages: std::mem::take(&mut self.messages),
            committed: self.log.take_committed(),
            sync_needed: self.sync_needed.take(),
            needs_block: std::mem::take(&mut self.needs_block),
            events: std::mem::take(&mut self.events),
            reads: std::mem::take(&mut self.reads.done),
        }
    }

    /// The driver has persisted, sent and applied everything the previous `ready` returned.
    pub fn advance(&mut self) {
        self.stable = self.log.handed_out();
        if self.role == Role::Leader {
            self.maybe_commit();
        }
    }

    /// When `tick` next has something to do.
    pub fn next_tick_at(&self) -> Option<u64> {
        match self.role {
            Role::Learner => None,
            Role::Leader => Some(self.heartbeat_deadline.min(self.quorum_deadline)),
            _ => Some(self.election_deadline.unwrap_or(0)),
        }
    }

    pub fn status(&self) -> RaftStatus {
        RaftStatus {
            node_id: self.id.clone(),
            role: self.role,
            term: self.term,
            voted_for: self.voted_for.clone(),
            leader: self.leader.clone(),
            commit_index: self.log.commit(),
            last_index: self.log.last_index(),
            last_term: self.log.last_term(),
            validators: self
                .validators
                .iter()
                .map(|v| v.public_key.clone())
                .collect(),
            committed_validators: self.committed_validators(),
            change_in_progress: self.change_in_progress(),
            learners: self.learners.iter().cloned().collect(),
            progress: self.progress.iter().map(|(id, pr)| pr.report(id)).collect(),
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn term(&self) -> u64 {
        self.term
    }

    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    pub fn node_id(&self) -> &str {
        &self.id
    }

    pub fn commit_index(&self) -> u64 {
        self.log.commit()
    }

    /// An entry still held in memory (the retained window or the uncommitted tail).
    pub fn entry(&self, index: u64) -> Option<&LogEntry> {
        self.log.entry(index)
    }

    /// The entries held in memory, ascending.
    pub fn entries(&self) -> &[LogEntry] {
        self.log.entries()
    }

    pub(crate) fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            voted_for: self.voted_for.clone(),
        }
    }

    /// Whether `node_id` is in the validator set.
    pub fn is_validator(&self, node_id: &str) -> bool {
        self.validators.iter().any(|v| v.node_id == node_id)
    }

    /// A majority of the latest configuration.
    pub(crate) fn quorum(&self) -> usize {
        self.validators.len() / 2 + 1
    }

    pub(crate) fn send(&mut self, to: &str, mut message: Message) {
        if let (Message::AppendEntries(ae), Role::Leader) = (&mut message, self.role) {
            self.reads.stamp(to, ae);
        }
        self.messages.push((to.to_string(), message));
    }

    pub(crate) fn set_role(&mut self, role: Role) {
        if self.role != role {
            self.role = role;
            self.events.push(Event::RoleChanged {
                role,
                term: self.term,
            });
        }
    }

    pub(crate) fn set_leader(&mut self, leader: Option<String>) {
        if self.leader != leader {
            self.leader = leader.clone();
            self.events.push(Event::LeaderChanged {
                leader,
                term: self.term,
            });
        }
        self.reads.enter(self.term, self.leader.as_deref());
    }
}
