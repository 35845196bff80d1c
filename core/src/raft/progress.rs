//! What a leader tracks per follower or learner (etcd's Progress, simplified).

use super::status::PeerProgress;
use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Next index unknown: one AppendEntries at a time, until one succeeds.
    Probe,
    /// In step: AppendEntries are pipelined, up to `max_inflight` at once.
    Replicate,
    /// The follower needs entries this leader no longer holds: heartbeats only, the follower
    /// catches up through BlockSync.
    Sync,
}

#[derive(Debug, Clone)]
pub(crate) struct Progress {
    /// Counts toward quorum (validators only).
    pub voter: bool,
    pub match_index: u64,
    pub next_index: u64,
    pub state: State,
    /// Probe: a message is out; wait for its answer or the next heartbeat.
    pub paused: bool,
    /// Replicate: the last index of each AppendEntries in flight.
    pub inflight: VecDeque<u64>,
    /// Heard from since the last check-quorum.
    pub recent_active: bool,
    /// `match_index` at the previous heartbeat: no progress since, with entries in flight,
    /// means something was lost, so the leader probes again.
    pub match_at_heartbeat: u64,
}

impl Progress {
    pub fn new(voter: bool, last_index: u64) -> Self {
        Progress {
            voter,
            match_index: 0,
            next_index: last_index + 1,
            state: State::Probe,
            paused: false,
            inflight: VecDeque::new(),
            recent_active: false,
            match_at_heartbeat: 0,
        }
    }

    pub fn become_probe(&mut self, next_index: u64) {
        self.state = State::Probe;
        self.next_index = next_index.max(self.match_index + 1);
        self.paused = false;
        self.inflight.clear();
    }

    pub fn become_replicate(&mut self) {
        self.state = State::Replicate;
        self.next_index = self.next_index.max(self.match_index + 1);
        self.paused = false;
        self.inflight.clear();
    }

    /// A success up to `index`; returns true if it moved `match_index`.
    pub fn acknowledge(&mut self, index: u64) -> bool {
        while self.inflight.front().is_some_and(|&i| i <= index) {
            self.inflight.pop_front();
        }
        if index > self.match_index {
            self.match_index = index;
            self.next_index = self.next_index.max(index + 1);
            return true;
        }
        false
    }

    pub fn can_send(&self, max_inflight: usize) -> bool {
        match self.state {
            State::Probe => !self.paused,
            State::Replicate => self.inflight.len() < max_inflight,
            State::Sync => false,
        }
    }

    pub fn report(&self, node_id: &str) -> PeerProgress {
        PeerProgress {
            node_id: node_id.to_string(),
            voter: self.voter,
            match_index: self.match_index,
            next_index: self.next_index,
            state: match self.state {
                State::Probe => "probe",
                State::Replicate => "replicate",
                State::Sync => "sync",
            },
        }
    }
}
