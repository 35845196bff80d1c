//! What [`super::PeerManager`] hands its driver: socket work ([`Transmit`]) and what happened
//! ([`PeerEvent`]), on two queues as [`crate::light::LightNode`] does.
//!
//! A driver drains events first, then transmits, until both are empty: transmits the manager
//! queued keep their order (a HANDSHAKE_PROOF leaves before anything else on its socket), and
//! whatever the driver sends while handling events follows them, as it would with one queue.
//! [`Action`] merges both in the order they were produced, for scripted tests and fuzzing that
//! check one against the other (no delivery from a socket after its close).

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

/// A [`Transmit`] or a [`PeerEvent`], as [`super::PeerManager::poll`] merges them.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Send {
        conn: ConnId,
        frame: Arc<str>,
    },
    Close {
        conn: ConnId,
        reason: String,
    },
    Dial {
        address: String,
    },
    PeerConnected(PeerSummary),
    PeerDisconnected {
        node_id: String,
        reason: String,
    },
    Message {
        conn: ConnId,
        from: String,
        message: Message,
    },
    Rejected {
        conn: ConnId,
        reason: String,
    },
    Malformed {
        conn: ConnId,
        from: String,
        kind: &'static str,
        reason: String,
    },
}

impl From<Transmit> for Action {
    fn from(t: Transmit) -> Self {
        match t {
            Transmit::Send { conn, frame } => Action::Send { conn, frame },
            Transmit::Close { conn, reason } => Action::Close { conn, reason },
            Transmit::Dial { address } => Action::Dial { address },
        }
    }
}

impl From<PeerEvent> for Action {
    fn from(e: PeerEvent) -> Self {
        match e {
            PeerEvent::Connected(peer) => Action::PeerConnected(peer),
            PeerEvent::Disconnected { node_id, reason } => {
                Action::PeerDisconnected { node_id, reason }
            }
            PeerEvent::Message {
                conn,
                from,
                message,
            } => Action::Message {
                conn,
                from,
                message,
            },
            PeerEvent::Rejected { conn, reason } => Action::Rejected { conn, reason },
            PeerEvent::Malformed {
                conn,
                from,
                kind,
                reason,
            } => Action::Malformed {
                conn,
                from,
                kind,
                reason,
            },
        }
    }
}

/// The two queues, each entry numbered so [`Outbox::pop`] can merge them in order.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    produced: u64,
    transmits: VecDeque<(u64, Transmit)>,
    events: VecDeque<(u64, PeerEvent)>,
}

impl Outbox {
    pub fn transmit(&mut self, t: Transmit) {
        self.produced += 1;
        self.transmits.push_back((self.produced, t));
    }

    pub fn event(&mut self, e: PeerEvent) {
        self.produced += 1;
        self.events.push_back((self.produced, e));
    }

    pub fn pop_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front().map(|(_, t)| t)
    }

    pub fn pop_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front().map(|(_, e)| e)
    }

    /// The oldest entry of either queue.
    pub fn pop(&mut self) -> Option<Action> {
        let t = self.transmits.front().map(|(n, _)| *n);
        let e = self.events.front().map(|(n, _)| *n);
        match (t, e) {
            (Some(t), Some(e)) if e < t => self.pop_event().map(Action::from),
            (Some(_), _) => self.pop_transmit().map(Action::from),
            (None, _) => self.pop_event().map(Action::from),
        }
    }
}
