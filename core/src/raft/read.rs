//! Linearizable reads by ReadIndex (Ongaro's dissertation §6.4), without new message types.
//!
//! A read asked of the leader at some moment is safe to answer from any node's state once that
//! node has applied the leader's commit index as of that moment, *provided* the leader was still
//! the leader then. The leader proves that with a read round: it numbers the AppendEntries it
//! sends after the request (`readRound`), and a follower's reply in the leader's term echoes the
//! round, showing that the follower still followed this leader after the request arrived. A
//! quorum of echoes (the leader counts itself) confirms every read asked up to that round.
//! The index is the commit index once this leader has committed an entry of its own term (until
//! then a new leader's commit index can be behind what the last leader committed): a pending
//! read makes a fresh leader ask the driver for a block (`needs_block`).
//!
//! A follower (or learner) asks through its next AppendEntries reply (`readRequests`) and gets
//! the index in a later AppendEntries (`readGrants`); it answers once it has applied that
//! index. The fields are optional and MiniLedger 0.2 ignores them, so against a 0.2 leader a read
//! is never granted (the driver times out). A change of leader or term refuses every read in
//! flight: the client asks again.

use super::node::Raft;
use super::status::Role;
use crate::protocol::{AppendEntries, AppendEntriesReply, ReadGrant};
use std::collections::BTreeMap;

/// Read requests in one reply: more wait for the next; a longer list (a hostile peer's) is cut.
const MAX_REQUESTS: usize = 256;
/// Grants in one AppendEntries (counted in its size budget); more wait for the next.
const MAX_GRANTS: usize = 16;

/// The outcome of [`Raft::read_index`] for one read id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadState {
    pub id: u64,
    /// `Ok(index)`: answer once the node has applied `index`.
    pub result: Result<u64, ReadRefused>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadRefused {
    /// No leader is known (an election is under way, or this node is cut off).
    NoLeader,
    /// The leader or term changed before the read was confirmed.
    LeaderChanged,
}

impl std::fmt::Display for ReadRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReadRefused::NoLeader => "no leader is known",
            ReadRefused::LeaderChanged => "the leader changed before the read was confirmed",
        })
    }
}

/// The most grant bytes one AppendEntries can carry (for its size budget).
pub(crate) fn widest_grants() -> Vec<ReadGrant> {
    let widest = ReadGrant {
        id: u64::MAX,
        index: u64::MAX,
    };
    vec![widest; MAX_GRANTS]
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Reader {
    Local(u64),
    Remote { peer: String, id: u64 },
}

#[derive(Debug, Clone)]
struct Pending {
    reader: Reader,
    /// Confirmed once a quorum has echoed this round or a later one.
    round: u64,
}

/// Read-index state of one node, for the `(term, leader)` it was made under.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reads {
    epoch: (u64, Option<String>),
    // Leader side.
    round: u64,
    echoed: BTreeMap<String, u64>,
    pending: Vec<Pending>,
    grants: BTreeMap<String, Vec<ReadGrant>>,
    // Follower side.
    unsent: Vec<u64>,
    asked: Vec<u64>,
    // Output.
    pub(crate) done: Vec<ReadState>,
}

impl Reads {
    /// Refuses everything in flight if the leader or term changed.
    pub(crate) fn enter(&mut self, term: u64, leader: Option<&str>) {
        if self.epoch.0 == term && self.epoch.1.as_deref() == leader {
            return;
        }
        self.epoch = (term, leader.map(str::to_string));
        let refused = |id| ReadState {
            id,
            result: Err(ReadRefused::LeaderChanged),
        };
        let local = self.pending.drain(..).filter_map(|p| match p.reader {
            Reader::Local(id) => Some(id),
            Reader::Remote { .. } => None,
        });
        let ids: Vec<u64> = local
            .chain(self.unsent.drain(..))
            .chain(self.asked.drain(..))
            .collect();
        self.done.extend(ids.into_iter().map(refused));
        self.round = 0;
        self.echoed.clear();
        self.grants.clear();
    }

    /// Stamps an outgoing AppendEntries (leader): the round, and on a heartbeat (no entries,
    /// so the grants do not eat into the entries' size budget) some of this peer's grants.
    pub(crate) fn stamp(&mut self, to: &str, ae: &mut AppendEntries) {
        if self.round > 0 {
            ae.read_round = Some(self.round);
        }
        if !ae.entries.is_empty() {
            return;
        }
        if let Some(grants) = self.grants.get_mut(to) {
            let n = grants.len().min(MAX_GRANTS);
            ae.read_grants = Some(grants.drain(..n).collect());
            if grants.is_empty() {
                self.grants.remove(to);
            }
        }
    }

    /// Fills an outgoing reply (follower): the echoed round and the reads to ask for.
    pub(crate) fn answer(&mut self, ae: &AppendEntries, reply: &mut AppendEntriesReply) {
        reply.read_round = ae.read_round;
        if !self.unsent.is_empty() {
            let n = self.unsent.len().min(MAX_REQUESTS);
            let new: Vec<u64> = self.unsent.drain(..n).collect();
            self.asked.extend_from_slice(&new);
            reply.read_requests = Some(new);
        }
    }

    /// Grants received from the leader (follower).
    fn granted(&mut self, grants: &[ReadGrant]) {
        for g in grants.iter().take(MAX_GRANTS) {
            if let Some(at) = self.asked.iter().position(|&id| id == g.id) {
                self.asked.swap_remove(at);
                self.done.push(ReadState {
                    id: g.id,
                    result: Ok(g.index),
                });
            }
        }
    }

    fn start_round(&mut self, reader: Reader) {
        self.round += 1;
        self.pending.push(Pending {
            reader,
            round: self.round,
        });
    }
}

impl Raft {
    /// Asks for a read index for read `id` (unique among this node's reads in flight). The
    /// answer comes out in [`Ready::reads`](super::Ready::reads).
    pub fn read_index(&mut self, id: u64) {
        match (self.role, self.leader.is_some()) {
            (Role::Leader, _) => {
                self.reads.start_round(Reader::Local(id));
                self.probe_for_reads();
                self.confirm_reads();
            }
            (Role::Follower | Role::Learner, true) => self.reads.unsent.push(id),
            _ => self.reads.done.push(ReadState {
                id,
                result: Err(ReadRefused::NoLeader),
            }),
        }
    }

    /// Leader: a reply in our term from `from`; its echo and its read requests.
    pub(crate) fn leader_read_reply(&mut self, from: &str, m: &AppendEntriesReply, voter: bool) {
        if let (Some(round), true) = (m.read_round, voter) {
            let echoed = self.reads.echoed.entry(from.to_string()).or_default();
            *echoed = (*echoed).max(round.min(self.reads.round));
        }
        let asked = m.read_requests.as_deref().unwrap_or_default();
        if !asked.is_empty() {
            for &id in asked.iter().take(MAX_REQUESTS) {
                let peer = from.to_string();
                self.reads.start_round(Reader::Remote { peer, id });
            }
            self.probe_for_reads();
        }
        self.confirm_reads();
    }

    /// Follower: grants carried by an AppendEntries from the leader we follow.
    pub(crate) fn follower_read_grants(&mut self, m: &AppendEntries) {
        if let Some(grants) = &m.read_grants {
            self.reads.granted(grants);
        }
    }

    /// Sends every peer an AppendEntries now, so the new round is echoed without waiting for
    /// the heartbeat.
    fn probe_for_reads(&mut self) {
        let peers: Vec<String> = self.progress.keys().cloned().collect();
        for peer in peers {
            self.heartbeat_now(&peer);
        }
    }

    /// Completes the reads a quorum has confirmed, once this term has a committed entry.
    pub(crate) fn confirm_reads(&mut self) {
        if self.reads.pending.is_empty() || self.role != Role::Leader {
            return;
        }
        if self.log.term(self.log.commit()) != Some(self.term) {
            // A fresh leader: its commit index may trail the last leader's until an entry of
            // this term commits. Ask for one (an empty block if need be).
            if self.log.last_term() != Some(self.term) {
                self.needs_block = true;
            }
            return;
        }
        let mut rounds: Vec<u64> = self
            .progress
            .iter()
            .filter(|(_, pr)| pr.voter)
            .map(|(id, _)| self.reads.echoed.get(id).copied().unwrap_or(0))
            .chain(self.counts_itself().then_some(u64::MAX)) // ourselves, unless removing ourselves
            .collect();
        rounds.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&confirmed) = rounds.get(self.quorum() - 1) else {
            return;
        };
        let index = self.log.commit();
        let (ready, waiting): (Vec<Pending>, Vec<Pending>) = self
            .reads
            .pending
            .drain(..)
            .partition(|p| p.round <= confirmed);
        self.reads.pending = waiting;
        let mut granted_to = Vec::new();
        for p in ready {
            match p.reader {
                Reader::Local(id) => self.reads.done.push(ReadState {
                    id,
                    result: Ok(index),
                }),
                Reader::Remote { peer, id } => {
                    self.reads
                        .grants
                        .entry(peer.clone())
                        .or_default()
                        .push(ReadGrant { id, index });
                    granted_to.push(peer);
                }
            }
        }
        granted_to.sort_unstable();
        granted_to.dedup();
        for peer in granted_to {
            self.heartbeat_now(&peer);
        }
    }
}
