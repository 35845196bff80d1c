//! Solo consensus: a follower hands its pending transactions to the producer whenever the
//! producer connects. A transaction is broadcast once, when admitted; one admitted while the
//! producer was unreachable (down, restarting with an empty mempool, or across a partition)
//! would otherwise wait in this mempool for good (found by the cluster simulator:
//! `core/tests/cluster_sim.rs`). Raft has its own forwarding to the leader (`consensus`).
//! Sent in chunks, so a large mempool never overflows the producer's connection.

use super::{FullNode, Mode, NodeStorage};
use crate::model::Transaction;
use crate::net::PeerSummary;
use crate::protocol::{Message, TxMessage};
use std::collections::VecDeque;

/// Transactions handed over per pass.
const CHUNK: usize = 256;

#[derive(Debug, Default)]
pub struct Handoff {
    to: String,
    queue: VecDeque<Transaction>,
}

impl Handoff {
    pub fn is_pending(&self) -> bool {
        !self.queue.is_empty()
    }
}

impl<S: NodeStorage> FullNode<S> {
    /// A peer connected: if it is the producer, everything pending goes to it.
    pub(super) fn handoff_on_connected(&mut self, peer: &PeerSummary) {
        let producer = !peer.light && self.validators.contains(&peer.public_key);
        let mutated = self.mutation == super::Mutation::NoHandoff;
        if matches!(self.mode, Mode::SoloFollower)
            && producer
            && !self.mempool.is_empty()
            && !mutated
        {
            self.handoff = Handoff {
                to: peer.node_id.clone(),
                queue: self.mempool.transactions().cloned().collect(),
            };
        }
    }

    /// Sends the next chunk of the handoff. True if anything was sent.
    pub(super) fn handoff_chunk(&mut self) -> bool {
        let now = self.now.monotonic;
        let mut sent = false;
        for _ in 0..CHUNK {
            let Some(transaction) = self.handoff.queue.pop_front() else {
                break;
            };
            if self.mempool.contains(&transaction.hash) {
                let message = Message::TxBroadcast(TxMessage { transaction });
                if !self.peers.send_to(&self.handoff.to, &message, now) {
                    self.handoff.queue.clear();
                    break;
                }
                sent = true;
            }
        }
        sent
    }
}
