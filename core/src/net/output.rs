//! What [`super::PeerManager`] hands its driver: socket work ([`Transmit`]) and what happened
//! ([`PeerEvent`]), on two queues as [`crate::light::LightNode`] does.
//!
//! A driver drains events first, then transmits, until both are empty: transmits the manager
//! queued keep their order (a HANDSHAKE_PROOF leaves before anything else on its socket), and
//! whatever the driver sends while handling events follows them, as it would with one queue.

use super::peers::{ConnId, PeerSummary};
use crate::protocol::Message;
use std::collections::VecDeque;
use std::sync::Arc;

/// Socket work for the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Transmit {
    Send { conn: ConnId, frame: Arc<str> },
    Close { conn: ConnId, reason: String },
    Dial { address: String },
}

/// What happened, for the layers above (sync, mempool, consensus) and the log.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerEvent {
    Connected(PeerSummary),
    Disconnected {
        node_id: String,
        reason: String,
    },
    /// A message from a connected peer.
    Message {
        conn: ConnId,
        from: String,
        message: Message,
    },
    /// A frame refused without closing (logged by the driver; the offence is already scored).
    Rejected {
        conn: ConnId,
        reason: String,
    },
    /// A handshaken peer sent a known message type with a malformed payload: the driver logs
    /// it and treats it as that message failing (e.g. a sync response that cannot be used).
    Malformed {
        conn: ConnId,
        from: String,
        kind: &'static str,
        reason: String,
    },
}

/// The two queues, each in the order it was produced.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    transmits: VecDeque<Transmit>,
    events: VecDeque<PeerEvent>,
}

impl Outbox {
    pub fn transmit(&mut self, t: Transmit) {
        self.transmits.push_back(t);
    }

    pub fn event(&mut self, e: PeerEvent) {
        self.events.push_back(e);
    }

    pub fn pop_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn pop_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }
}
