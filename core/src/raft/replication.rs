//! Log replication: what the leader sends, how a follower accepts it, and commitment.
//!
//! - A follower verifies every new entry (`EntryCheck`) before appending it; an entry that
//!   fails is not appended, the reply is a rejection, and the leader is no longer trusted as
//!   live (see `Raft::distrusted`).
//! - Committed prefix (State Machine Safety): entries at or below the follower's commit index
//!   are identical on every node, so they are skipped unchecked, and committed blocks need not
//!   stay in memory.
//! - A rejection's `matchIndex` is a hint: the highest index that may still match (etcd's
//!   conflict-term optimisation), so a diverged follower is repaired in few round trips.
//! - A leader counts only current-term entries toward commitment (Figure 8), and itself only up
//!   to what the driver has made durable.
//! - A follower the leader cannot serve from its window gets heartbeats carrying `firstIndex`,
//!   and reports `sync_needed` to its driver.

use super::node::{EntryCheck, Raft};
use super::progress::State;
use super::ready::{Event, SyncTarget};
use super::status::Role;
use crate::protocol::{AppendEntries, AppendEntriesReply, Message};

impl Raft {
    fn append_message(&self, prev: u64, prev_term: u64, first_index: Option<u64>) -> AppendEntries {
        AppendEntries {
            term: self.term,
            leader_id: self.id.clone(),
            prev_log_index: prev,
            prev_log_term: prev_term,
            entries: Vec::new(),
            leader_commit: self.log.commit(),
            first_index,
            ..AppendEntries::default()
        }
    }

    /// Sends `to` the entries from its next index, if its flow control allows; true if sent.
    pub(crate) fn send_append(&mut self, to: &str) -> bool {
        let max_inflight = self.config.max_inflight;
        let last = self.log.last_index();
        let Some(pr) = self.progress.get(to) else {
            return false;
        };
        if !pr.can_send(max_inflight) {
            return false;
        }
        if pr.state == State::Replicate && pr.next_index > last {
            return false; // nothing new
        }
        let prev = pr.next_index - 1;
        if prev < self.log.first_known() {
            self.progress.get_mut(to).expect("peer").state = State::Sync;
            self.send_sync_heartbeat(to);
            return true;
        }
        let prev_term = self.log.term(prev).expect("term known above first_known");
        let mut ae = self.append_message(prev, prev_term, None);
        let budget = self.config.max_message_bytes - self.append_overhead;
        ae.entries = self.log.entries_for_message(prev + 1, budget);
        let pr = self.progress.get_mut(to).expect("peer");
        if ae.entries.is_empty() && prev < last {
            // The next entry cannot fit any message (it came from a leader with a larger cap).
            // Only probes and heartbeats go out; nothing may loop on it.
            let bytes = self.log.size_of(prev + 1).unwrap_or(0);
            self.events.push(Event::EntryTooLarge {
                index: prev + 1,
                bytes,
            });
            if pr.state == State::Replicate {
                return false;
            }
        }
        match pr.state {
            State::Replicate => {
                if let Some(e) = ae.entries.last() {
                    pr.next_index = e.index + 1;
                    pr.inflight.push_back(e.index);
                }
            }
            _ => pr.paused = true,
        }
        self.send(to, Message::AppendEntries(ae));
        true
    }

    /// An empty AppendEntries at the follower's match index: it always succeeds on a follower
    /// that kept its log, and carries the commit index.
    fn send_heartbeat(&mut self, to: &str) {
        let Some(pr) = self.progress.get(to) else {
            return;
        };
        match self.log.term(pr.match_index) {
            Some(t) if pr.match_index >= self.log.first_known() => {
                let ae = self.append_message(pr.match_index, t, None);
                self.send(to, Message::AppendEntries(ae));
            }
            _ => {
                let next = pr.match_index + 1;
                self.progress.get_mut(to).expect("peer").become_probe(next);
                self.send_append(to);
            }
        }
    }

    /// An AppendEntries to `to` now, whatever its state (for a read round).
    pub(crate) fn heartbeat_now(&mut self, to: &str) {
        match self.progress.get(to).map(|pr| pr.state) {
            Some(State::Sync) => self.send_sync_heartbeat(to),
            Some(_) => self.send_heartbeat(to),
            None => {}
        }
    }

    /// For a follower in Sync: the oldest point the leader can continue from, and a hint.
    fn send_sync_heartbeat(&mut self, to: &str) {
        let base = self.log.first_known();
        let term = self.log.term(base).expect("first_known has a term");
        let ae = self.append_message(base, term, Some(base + 1));
        self.send(to, Message::AppendEntries(ae));
    }

    /// The periodic message to one peer; also detects lost AppendEntries.
    pub(crate) fn heartbeat(&mut self, to: &str) {
        let Some(pr) = self.progress.get_mut(to) else {
            return;
        };
        let stalled = !pr.inflight.is_empty() && pr.match_index == pr.match_at_heartbeat;
        pr.match_at_heartbeat = pr.match_index;
        match pr.state {
            State::Sync => self.send_sync_heartbeat(to),
            State::Probe => {
                pr.paused = false;
                self.send_append(to);
            }
            State::Replicate if stalled => {
                let next = pr.match_index + 1;
                pr.become_probe(next);
                self.send_append(to);
            }
            State::Replicate => {
                if !self.send_append(to) {
                    self.send_heartbeat(to);
                }
            }
        }
    }

    /// After new entries or a new commit index: send what each peer can take. With
    /// `heartbeat_if_idle`, peers that get nothing new get the commit index in a heartbeat.
    pub(crate) fn broadcast_append(&mut self, heartbeat_if_idle: bool) {
        let peers: Vec<String> = self.progress.keys().cloned().collect();
        for peer in peers {
            if !self.send_append(&peer) && heartbeat_if_idle {
                match self.progress[&peer].state {
                    State::Sync => self.send_sync_heartbeat(&peer),
                    State::Replicate => self.send_heartbeat(&peer),
                    State::Probe => {}
                }
            }
        }
    }

    /// Commits the highest index a quorum of validators holds, if it is of the current term.
    /// The leader counts itself only while it is a validator (not while removing itself).
    pub(crate) fn maybe_commit(&mut self) {
        let own = self.stable.min(self.log.handed_out());
        let mut matches: Vec<u64> = self
            .progress
            .values()
            .filter(|pr| pr.voter)
            .map(|pr| pr.match_index)
            .chain(self.counts_itself().then_some(own))
            .collect();
        matches.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&candidate) = matches.get(self.quorum() - 1) else {
            return;
        };
        if candidate > self.log.commit()
            && self.log.term(candidate) == Some(self.term)
            && self.log.commit_to(candidate)
        {
            self.broadcast_append(true);
            self.config_committed();
        }
    }

    pub(crate) fn handle_append_reply(
        &mut self,
        from: &str,
        m: &AppendEntriesReply,
        validator: bool,
        now: u64,
    ) {
        if m.term > self.term {
            // Only a validator's term counts; a learner's (or a stray node's) cannot depose us.
            if validator {
                self.become_follower(m.term, None, now);
            }
            return;
        }
        if self.role != Role::Leader || m.term < self.term {
            return;
        }
        let last = self.log.last_index();
        let Some(pr) = self.progress.get_mut(from) else {
            return;
        };
        pr.recent_active = true;
        let voter = pr.voter;
        self.leader_read_reply(from, m, voter);
        let Some(pr) = self.progress.get_mut(from) else {
            return;
        };
        if m.success {
            // Never beyond our log (Leader Completeness says it cannot be; do not trust it).
            let moved = pr.acknowledge(m.match_index.min(last));
            if pr.state != State::Replicate && pr.match_index >= self.log.first_known() {
                pr.become_replicate();
            }
            if moved && pr.voter {
                self.maybe_commit();
            }
            self.send_append(from);
            return;
        }
        // A reply to an AppendEntries of an earlier term can carry our term: never trust a hint
        // beyond our own log.
        let hint = m.match_index.min(last);
        if hint < pr.match_index {
            return; // stale: the follower holds at least match_index
        }
        let informative = hint + 1 < pr.next_index;
        pr.become_probe(hint + 1);
        if informative {
            self.send_append(from);
        } else {
            pr.paused = true; // it refused the entry itself: retry at the next heartbeat
        }
    }

    pub(crate) fn handle_append(
        &mut self,
        from: &str,
        m: &AppendEntries,
        now: u64,
        check: &mut impl EntryCheck,
    ) {
        if m.leader_id != from || self.role == Role::Leader && m.term == self.term {
            return; // malformed, or a second leader in our term (impossible with honest peers)
        }
        let stale = |term| AppendEntriesReply {
            term,
            ..AppendEntriesReply::default()
        };
        if m.term < self.term {
            // Tell the stale leader our term, so it steps down. No hint: this reply may reach
            // it when it leads again in our term, and must not move its progress then.
            return self.send(from, Message::AppendEntriesReply(stale(self.term)));
        }
        if m.term > self.term
            || self.leader.as_deref() != Some(from)
            || self.role != self.follower_role()
        {
            self.become_follower(m.term, Some(from.to_string()), now);
        }
        if self.distrusted.as_ref() != Some(&(m.term, from.to_string())) {
            self.last_leader_contact = Some(now);
            self.reset_election_deadline(now);
        }
        self.follower_read_grants(m);
        let (success, match_index) = match self.accept_entries(from, m, check) {
            Some(Ok(index)) => (true, index),
            Some(Err(hint)) => {
                if m.first_index.is_some_and(|first| hint + 1 < first) {
                    self.sync_needed = Some(SyncTarget {
                        peer: from.to_string(),
                        height: m.leader_commit,
                    });
                }
                (false, hint)
            }
            None => return,
        };
        let mut reply = AppendEntriesReply {
            term: self.term,
            success,
            match_index,
            ..AppendEntriesReply::default()
        };
        self.reads.answer(m, &mut reply);
        self.send(from, Message::AppendEntriesReply(reply));
    }

    fn follower_role(&self) -> Role {
        if self.learner {
            Role::Learner
        } else {
            Role::Follower
        }
    }

    /// The consistency check and append. `Ok(match index)`, `Err(hint)`, or `None` for a
    /// malformed message (no reply).
    fn accept_entries(
        &mut self,
        from: &str,
        m: &AppendEntries,
        check: &mut impl EntryCheck,
    ) -> Option<Result<u64, u64>> {
        let consecutive = m
            .entries
            .iter()
            .zip(m.prev_log_index + 1..)
            .all(|(e, i)| e.index == i && e.block.height == i);
        if !consecutive {
            return None;
        }
        let commit = self.log.commit();
        let (mut prev, mut prev_term, mut entries) =
            (m.prev_log_index, m.prev_log_term, &m.entries[..]);
        if prev < commit {
            // Our committed prefix equals the leader's: skip what it covers.
            let skip = entries.len().min((commit - prev) as usize);
            if skip == entries.len() {
                return Some(Ok(commit));
            }
            prev_term = entries[skip - 1].term;
            prev += skip as u64;
            entries = &entries[skip..];
        }
        if prev > self.log.last_index() {
            return Some(Err(self.log.last_index()));
        }
        if prev == commit {
            if prev == self.log.base_index() && self.log.learn_base_term(prev_term) {
                self.learned_term = Some((prev, prev_term));
                self.last_term_unknown_reported = false;
            }
        } else if self.log.term(prev) != Some(prev_term) {
            return Some(Err(self.conflict_hint(prev, prev_term)));
        }
        let mut index = prev;
        for entry in entries {
            match self.log.term(entry.index) {
                Some(t) if t == entry.term => {
                    index = entry.index;
                    continue;
                }
                Some(_) => {
                    self.log.truncate_from(entry.index);
                    self.config_truncated(entry.index);
                }
                None => {}
            }
            if let Err(reason) = check.verify(self.log.pending_before(entry.index), entry) {
                self.events.push(Event::EntryRejected {
                    index: entry.index,
                    leader: from.to_string(),
                    reason,
                });
                self.distrusted = Some((m.term, from.to_string()));
                self.last_leader_contact = None;
                return Some(Err(index));
            }
            self.log.push(entry.clone());
            index = entry.index;
            if let Some(change) = check.config_change(entry) {
                self.config_appended(index, &change);
            }
        }
        if self.log.commit_to(m.leader_commit.min(index)) {
            self.config_committed();
        }
        Some(Ok(index))
    }

    /// The highest index that may still match after a term mismatch at `prev`: entries whose
    /// term exceeds `prev_term` cannot be in the leader's log at or before `prev`.
    fn conflict_hint(&self, prev: u64, prev_term: u64) -> u64 {
        let commit = self.log.commit();
        let mut j = (prev - 1).min(self.log.last_index());
        while j > commit && self.log.term(j).is_some_and(|t| t > prev_term) {
            j -= 1;
        }
        j
    }
}
