//! Elections: pre-vote, vote, role changes, check-quorum and the leader lease.
//!
//! - Pre-vote: a follower whose election timer fires first asks "would you vote for me at
//!   term + 1?" without changing any term; only with a quorum of yes does it bump its term and
//!   ask for real. A node cut off from the cluster therefore never inflates its term.
//! - Lease: a node that heard from a live leader less than the minimum election timeout ago
//!   (or is the leader) refuses (pre-)votes for a higher term, so a rejoining node cannot
//!   depose a healthy leader.
//! - Check-quorum: a leader that has not heard from a quorum for the minimum election timeout
//!   steps down, so a partitioned leader does not linger.
//! - A node whose last entry is a synced block of unknown term neither campaigns nor votes:
//!   it cannot tell whether a candidate's log is at least as up to date as its own, and
//!   guessing could elect a leader missing a committed block. The next AppendEntries from the
//!   leader tells it the term; so can the driver, through `on_synced`, when an authenticated
//!   validator served the block with its term (optional `terms` of SYNC_RESPONSE).

use super::node::Raft;
use super::progress::Progress;
use super::ready::Event;
use super::status::Role;
use crate::protocol::{Message, RequestVote, RequestVoteReply};

impl Raft {
    pub(crate) fn reset_election_deadline(&mut self, now: u64) {
        let (min, max) = (
            self.config.election_timeout_min_ms,
            self.config.election_timeout_max_ms,
        );
        self.election_deadline = Some(now + self.rng.range(min, max));
    }

    pub(crate) fn tick_election(&mut self, now: u64) {
        match self.election_deadline {
            None => self.reset_election_deadline(now),
            Some(deadline) if now >= deadline => self.start_pre_vote(now),
            Some(_) => {}
        }
    }

    pub(crate) fn tick_leader(&mut self, now: u64) {
        if now >= self.quorum_deadline {
            self.quorum_deadline = now + self.config.election_timeout_min_ms;
            if !self.check_quorum() {
                self.events.push(Event::LostQuorum { term: self.term });
                self.become_follower(self.term, None, now);
                return;
            }
        }
        if now >= self.heartbeat_deadline {
            self.heartbeat_deadline = now + self.config.heartbeat_ms;
            let peers: Vec<String> = self.progress.keys().cloned().collect();
            for peer in peers {
                self.heartbeat(&peer);
            }
        }
    }

    /// True if a quorum of validators (counting itself) was heard from since the last check.
    fn check_quorum(&mut self) -> bool {
        let mut active = usize::from(self.counts_itself());
        for pr in self.progress.values_mut() {
            if pr.voter && pr.recent_active {
                active += 1;
            }
            pr.recent_active = false;
        }
        active >= self.quorum()
    }

    fn can_campaign(&mut self) -> bool {
        if self.log.last_term().is_some() {
            return true;
        }
        if !self.last_term_unknown_reported {
            self.last_term_unknown_reported = true;
            self.events.push(Event::LastTermUnknown {
                index: self.log.last_index(),
            });
        }
        false
    }

    fn vote_request(&self, term: u64, pre_vote: bool) -> Message {
        Message::RequestVote(RequestVote {
            term,
            candidate_id: self.id.clone(),
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term().unwrap_or(0),
            pre_vote,
        })
    }

    fn start_pre_vote(&mut self, now: u64) {
        self.reset_election_deadline(now);
        if self.learner || !self.can_campaign() {
            return;
        }
        self.set_role(Role::PreCandidate);
        self.set_leader(None);
        self.votes.clear();
        self.votes.insert(self.id.clone(), true);
        if self.poll() == Some(true) {
            return self.become_candidate(now);
        }
        let request = self.vote_request(self.term + 1, true);
        self.send_to_validators(request);
    }

    fn become_candidate(&mut self, now: u64) {
        self.term += 1;
        self.voted_for = Some(self.id.clone());
        self.set_role(Role::Candidate);
        self.set_leader(None);
        self.reset_election_deadline(now);
        self.votes.clear();
        self.votes.insert(self.id.clone(), true);
        if self.poll() == Some(true) {
            return self.become_leader(now);
        }
        let request = self.vote_request(self.term, false);
        self.send_to_validators(request);
    }

    fn become_leader(&mut self, now: u64) {
        self.set_role(Role::Leader);
        self.set_leader(Some(self.id.clone()));
        self.votes.clear();
        let last = self.log.last_index();
        self.progress.clear();
        for v in &self.validators {
            if v.node_id != self.id {
                self.progress
                    .insert(v.node_id.clone(), Progress::new(true, last));
            }
        }
        for id in &self.learners {
            self.progress.insert(id.clone(), Progress::new(false, last));
        }
        // Entries of earlier terms commit only through an entry of this term.
        self.needs_block = last > self.log.commit();
        self.heartbeat_deadline = now + self.config.heartbeat_ms;
        self.quorum_deadline = now + self.config.election_timeout_min_ms;
        self.broadcast_append(true);
    }

    /// Becomes follower (or stays learner) at `term` (≥ the current one) under `leader`.
    pub(crate) fn become_follower(&mut self, term: u64, leader: Option<String>, now: u64) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
        }
        self.set_role(if self.learner {
            Role::Learner
        } else {
            Role::Follower
        });
        self.set_leader(leader);
        self.votes.clear();
        self.progress.clear();
        self.reset_election_deadline(now);
    }

    fn send_to_validators(&mut self, message: Message) {
        let peers: Vec<String> = self
            .validators
            .iter()
            .map(|v| v.node_id.clone())
            .filter(|id| *id != self.id)
            .collect();
        for peer in peers {
            self.send(&peer, message.clone());
        }
    }

    /// `Some(true)` once a quorum said yes, `Some(false)` once a quorum said no.
    /// Only answers of validators of the latest configuration count.
    fn poll(&self) -> Option<bool> {
        let counted = || {
            self.votes
                .iter()
                .filter(|(id, _)| self.is_validator(id))
                .map(|(_, &v)| v)
        };
        let yes = counted().filter(|&v| v).count();
        let no = counted().filter(|&v| !v).count();
        if yes >= self.quorum() {
            Some(true)
        } else if no >= self.quorum() {
            Some(false)
        } else {
            None
        }
    }

    fn in_lease(&self, now: u64) -> bool {
        self.role == Role::Leader
            || (self.leader.is_some()
                && self
                    .last_leader_contact
                    .is_some_and(|t| now < t + self.config.election_timeout_min_ms))
    }

    /// A learner answers only a candidate whose last entry is beyond its own: one that may hold
    /// the change adding this node (or lack one removing it), whose configuration would count
    /// its vote. If it held no such change, their logs would be equal or the candidate's behind,
    /// and the vote could not be granted anyway. Without these votes a leader that just added a
    /// validator and then lost leadership before replicating the change could never be
    /// re-elected: the new validator does not know it is one (dissertation §4.1: servers vote
    /// without consulting their configuration). Other learners stay silent, as before.
    pub(crate) fn handle_vote(&mut self, from: &str, m: &RequestVote, now: u64) {
        if m.candidate_id != from {
            return;
        }
        if self.learner && !self.config.learners_vote {
            let own = (self.log.last_term(), self.log.last_index());
            if own.0.is_none() || (Some(m.last_log_term), m.last_log_index) <= own {
                return;
            }
        }
        let reply = |term, vote_granted| {
            Message::RequestVoteReply(RequestVoteReply {
                term,
                vote_granted,
                pre_vote: m.pre_vote,
            })
        };
        if m.term < self.term || (m.term > self.term && self.in_lease(now)) {
            return self.send(from, reply(self.term, false));
        }
        if !m.pre_vote && m.term > self.term {
            self.become_follower(m.term, None, now);
        }
        let up_to_date = match self.log.last_term() {
            Some(t) => (m.last_log_term, m.last_log_index) >= (t, self.log.last_index()),
            None => {
                self.can_campaign(); // reports why it does not vote
                false
            }
        };
        let free = self.voted_for.as_deref() == Some(from)
            || (self.voted_for.is_none() && self.leader.is_none());
        let can_vote = free || (m.pre_vote && m.term > self.term);
        if !(can_vote && up_to_date) {
            return self.send(from, reply(self.term, false));
        }
        if m.pre_vote {
            self.send(from, reply(m.term, true));
        } else {
            self.voted_for = Some(from.to_string());
            self.reset_election_deadline(now);
            self.send(from, reply(self.term, true));
        }
    }

    pub(crate) fn handle_vote_reply(&mut self, from: &str, m: &RequestVoteReply, now: u64) {
        let counts = match self.role {
            Role::PreCandidate => m.pre_vote && (m.term == self.term + 1 && m.vote_granted),
            Role::Candidate => !m.pre_vote && m.term == self.term,
            _ => false,
        };
        if !counts {
            // A granted pre-vote is for a term nobody has yet; any other higher term is real.
            let granted_pre_vote = m.pre_vote && m.vote_granted;
            if m.term > self.term && !granted_pre_vote {
                self.become_follower(m.term, None, now);
            } else if self.role == Role::PreCandidate && m.pre_vote && !m.vote_granted {
                self.votes.insert(from.to_string(), false);
                if self.poll() == Some(false) {
                    self.become_follower(self.term, None, now);
                }
            }
            return;
        }
        self.votes.insert(from.to_string(), m.vote_granted);
        match (self.poll(), self.role) {
            (Some(true), Role::PreCandidate) => self.become_candidate(now),
            (Some(true), _) => self.become_leader(now),
            (Some(false), _) => self.become_follower(self.term, None, now),
            (None, _) => {}
        }
    }
}
