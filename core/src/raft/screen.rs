//! Consensus messages that no honest node of ours sends. The driver calls [`Raft::screen`]
//! before [`Raft::step`]: what it refuses is ignored and scored against the sender (`step`
//! alone would silently ignore most of it, but a peer sending it is broken or hostile).
//! What an honest peer sends in a race (a stale term, an index we do not have yet) passes
//! and is left to `step`.

use super::node::Raft;
use crate::protocol::{LogEntry, Message};

impl Raft {
    /// `Err(why)` if `message` from `from` is bogus. `authenticated`: the connection proved
    /// it holds `from`'s key (the driver may pass true for networks of MiniLedger 0.2 peers,
    /// which cannot). An unauthenticated connection may only acknowledge entries as a learner
    /// (that never counts toward a quorum, so it moves nothing).
    pub fn screen(&self, from: &str, authenticated: bool, message: &Message) -> Result<(), String> {
        // A leader removing itself still leads until its removal commits.
        let validator = match message {
            Message::AppendEntries(_) => self.may_lead(from),
            _ => self.is_validator(from),
        };
        // A validator removed by a change it has not heard of is honest, only behind: `step`
        // ignores what it sends, but it is not scored.
        let removed = self.was_removed(from);
        if let Message::AppendEntriesReply(_) = message {
            if validator && !authenticated {
                return Err("from an unauthenticated connection claiming a validator".into());
            }
            if !validator && !self.learners.contains(from) && !removed {
                return Err("from a node that is neither a validator nor a learner".into());
            }
            return Ok(());
        }
        if !validator {
            return match removed {
                true => Ok(()),
                false => Err("from a non-validator".into()),
            };
        }
        if !authenticated {
            return Err("from an unauthenticated connection claiming a validator".into());
        }
        match message {
            Message::AppendEntries(m) => {
                if m.leader_id != from {
                    return Err(format!("leaderId {:?} is not the sender", m.leader_id));
                }
                if m.term == 0 {
                    return Err("term 0 (no leader is ever elected in it)".into());
                }
                if m.prev_log_term > m.term {
                    return Err(format!(
                        "prevLogTerm {} above its term {}",
                        m.prev_log_term, m.term
                    ));
                }
                entries_fit(m.prev_log_index, m.prev_log_term, m.term, &m.entries)
            }
            Message::RequestVote(m) => {
                if m.candidate_id != from {
                    return Err(format!(
                        "candidateId {:?} is not the sender",
                        m.candidate_id
                    ));
                }
                if m.term == 0 {
                    return Err("term 0 (no campaign is ever in it)".into());
                }
                if m.last_log_term > m.term {
                    return Err(format!(
                        "lastLogTerm {} above its term {}",
                        m.last_log_term, m.term
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Entries must run from `prev + 1` on, one per index, with index == block height and terms
/// that never go down nor exceed the leader's.
fn entries_fit(prev: u64, prev_term: u64, term: u64, entries: &[LogEntry]) -> Result<(), String> {
    let mut last_term = prev_term;
    for (i, e) in entries.iter().enumerate() {
        let expected = prev.saturating_add(1 + i as u64);
        if e.index != expected || e.block.height != e.index {
            return Err(format!(
                "entry {i} has index {} and block height {}, expected {expected}",
                e.index, e.block.height
            ));
        }
        if e.term < last_term || e.term > term {
            return Err(format!(
                "entry {} has term {} (after term {last_term}, leader's term {term})",
                e.index, e.term
            ));
        }
        last_term = e.term;
    }
    Ok(())
}
