//! What goes in (restored state) and what comes out (a [`Ready`]) of the state machine.

use super::read::ReadState;
use super::status::Role;
use crate::model::BlockHeader;
use crate::protocol::{LogEntry, Message};

/// The vote state Raft must never forget: persist it before sending anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HardState {
    pub term: u64,
    pub voted_for: Option<String>,
}

/// Everything a restarted node brings back from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    pub hard_state: HardState,
    /// The last committed block the driver applied (its chain tip; genesis on a fresh node).
    pub commit: BlockHeader,
    /// The term of that block's entry, if known (`Some(0)` for genesis; `None` for a block
    /// obtained by BlockSync whose term was never learned).
    pub commit_term: Option<u64>,
    /// Persisted entries above `commit`, in order (entries at or below it are ignored).
    pub entries: Vec<LogEntry>,
}

impl Restored {
    /// A fresh node: term 0, no vote, only genesis.
    pub fn fresh() -> Self {
        Restored {
            hard_state: HardState::default(),
            commit: crate::model::Block::genesis().header(),
            commit_term: Some(0),
            entries: Vec::new(),
        }
    }
}

/// "Catch up through BlockSync from `peer`, at least to `height`": this follower's log ends
/// below what the leader can still send in AppendEntries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncTarget {
    pub peer: String,
    pub height: u64,
}

/// Things worth a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    RoleChanged {
        role: Role,
        term: u64,
    },
    LeaderChanged {
        leader: Option<String>,
        term: u64,
    },
    /// A leader's entry failed verification and was not appended.
    EntryRejected {
        index: u64,
        leader: String,
        reason: String,
    },
    /// A leader stepped down because it has not heard from a quorum for an election timeout.
    LostQuorum {
        term: u64,
    },
    /// This node cannot campaign or vote: the term of its last entry (a synced block) is
    /// unknown until a leader's AppendEntries tells it.
    LastTermUnknown {
        index: u64,
    },
    /// An entry does not fit in one message under `max_message_bytes`; it cannot be replicated.
    EntryTooLarge {
        index: u64,
        bytes: usize,
    },
    /// The validator set changed. `committed: false`: the latest set in the log, made by the
    /// change at `index` (it is in force now; it may still be undone if the entry is truncated,
    /// and then this event comes again with the set in force again). `committed: true`: the
    /// set committed at `index` (final; persist it as the set to restore with).
    ConfigChanged {
        validators: Vec<String>,
        index: u64,
        committed: bool,
    },
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::RoleChanged { role, term } => write!(f, "raft:role {role:?} term {term}"),
            Event::LeaderChanged { leader, term } => write!(
                f,
                "raft:leader {} term {term}",
                leader.as_deref().unwrap_or("none")
            ),
            Event::EntryRejected {
                index,
                leader,
                reason,
            } => write!(f, "raft:rejected entry {index} from {leader}: {reason}"),
            Event::LostQuorum { term } => {
                write!(f, "raft:stepped down in term {term}: no quorum heard")
            }
            Event::LastTermUnknown { index } => write!(
                f,
                "raft:term of entry {index} unknown (synced block): not campaigning or voting"
            ),
            Event::EntryTooLarge { index, bytes } => write!(
                f,
                "raft:entry {index} ({bytes} bytes) exceeds max_message_bytes"
            ),
            Event::ConfigChanged {
                validators,
                index,
                committed,
            } => write!(
                f,
                "raft:validators {} at entry {index} ({})",
                validators.join(","),
                if *committed {
                    "committed"
                } else {
                    "in force, uncommitted"
                }
            ),
        }
    }
}

/// One batch of output. Handle it in this order (see the module documentation), then call
/// [`Raft::advance`](super::Raft::advance):
/// 1. persist `hard_state`, then the log change (`truncate_from`, `entries`) and `learned_term`;
/// 2. send `messages`;
/// 3. apply `committed` in order;
/// 4. act on `sync_needed`, `needs_block`, log `events`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ready {
    pub hard_state: Option<HardState>,
    /// Delete persisted uncommitted entries with index ≥ this, before appending `entries`.
    pub truncate_from: Option<u64>,
    /// Entries to persist (contiguous, ascending; the first is at `truncate_from`).
    pub entries: Vec<LogEntry>,
    /// `(height, term)`: the term of an already applied block (one obtained by BlockSync),
    /// learned from a leader; persist it as that block's term.
    pub learned_term: Option<(u64, u64)>,
    /// `(to nodeId, message)`: send only after the writes above are durable. Exception: a
    /// leader's `AppendEntries` in a Ready without a hard state may go before (they promise
    /// nothing of the leader's disk; it counts its own entries toward commit only from
    /// `advance`).
    pub messages: Vec<(String, Message)>,
    /// Newly committed entries: final blocks, to apply in order.
    pub committed: Vec<LogEntry>,
    pub sync_needed: Option<SyncTarget>,
    /// This node just became leader with uncommitted entries from earlier terms. Raft commits
    /// those only once an entry of the new term commits, so propose a block now, even an empty
    /// one.
    pub needs_block: bool,
    pub events: Vec<Event>,
    /// Answers to [`Raft::read_index`](super::Raft::read_index): serve each read once the
    /// node has applied its index.
    pub reads: Vec<ReadState>,
}

impl Ready {
    pub fn is_empty(&self) -> bool {
        self.hard_state.is_none()
            && self.truncate_from.is_none()
            && self.entries.is_empty()
            && self.learned_term.is_none()
            && self.messages.is_empty()
            && self.committed.is_empty()
            && self.sync_needed.is_none()
            && !self.needs_block
            && self.events.is_empty()
            && self.reads.is_empty()
    }
}
