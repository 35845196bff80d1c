//! Linearizable reads: `read_barrier` answers once this node's state reflects every write
//! committed before the request, so the driver can then read its own store.
//!
//! Under Raft: the leader's ReadIndex (`raft/read.rs`: a quorum confirms the leader after the
//! request; followers ask the leader through their AppendEntries replies), then wait until this
//! node has applied that index. A solo producer commits every block itself, so its state is
//! always current. A solo follower cannot know what the producer committed meanwhile: refused.

use super::events::{FullEvent, WaiterId};
use super::{FullNode, Mode, NodeStorage, Now};
use crate::raft::{ReadRefused, ReadState};

/// Why a linearizable read cannot be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadBarrierError {
    #[error("{0}; ask again")]
    Raft(ReadRefused),
    #[error(
        "a solo follower cannot confirm it has the producer's latest block; read from the producer"
    )]
    SoloFollower,
}

/// Reads confirmed by the leader, waiting for this node to apply their index.
#[derive(Debug, Default)]
pub(super) struct ReadBarriers {
    waiting: Vec<(u64, WaiterId)>,
}

impl<S: NodeStorage> FullNode<S> {
    /// Asks for a linearizable read: `Some` answer now (the height the read reflects, or why
    /// not), or later a [`FullEvent::ReadReady`] for `id`.
    pub fn read_barrier(
        &mut self,
        id: WaiterId,
        now: Now,
    ) -> Option<Result<u64, ReadBarrierError>> {
        self.set_now(now);
        match &mut self.mode {
            Mode::SoloProducer => Some(Ok(self.store.tip().height)),
            Mode::SoloFollower => Some(Err(ReadBarrierError::SoloFollower)),
            Mode::Raft(c) => {
                c.read_index(id);
                None // answered from `raft_ready`, through `on_read_states`
            }
        }
    }

    /// Raft's answers: ready now, or once the index is applied.
    pub(super) fn on_read_states(&mut self, reads: Vec<ReadState>) {
        let height = self.store.tip().height;
        for read in reads {
            match read.result {
                Ok(index) if index <= height => self.read_ready(read.id, Ok(height)),
                Ok(index) => self.reads.waiting.push((index, read.id)),
                Err(e) => self.read_ready(read.id, Err(ReadBarrierError::Raft(e))),
            }
        }
    }

    /// After a commit: the reads whose index this node has now applied.
    pub(super) fn release_reads(&mut self) {
        if self.reads.waiting.is_empty() {
            return;
        }
        let height = self.store.tip().height;
        let (ready, waiting) = std::mem::take(&mut self.reads.waiting)
            .into_iter()
            .partition(|&(index, _)| index <= height);
        self.reads.waiting = waiting;
        for (_, id) in ready {
            self.read_ready(id, Ok(height));
        }
    }

    fn read_ready(&mut self, id: WaiterId, result: Result<u64, ReadBarrierError>) {
        self.out
            .events
            .push_back(FullEvent::ReadReady { id, result });
    }
}
