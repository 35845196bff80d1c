//! One socket's lifecycle as a state machine. The handshake steps a socket may wait for are
//! fixed by its direction (inbound: HANDSHAKE, then HANDSHAKE_PROOF if it offered a challenge;
//! outbound: HANDSHAKE_ACK); every state change goes through the methods here.

use super::peers::Direction;
use super::rate::{RateConfig, RateLimit};
use crate::protocol::Handshake;

/// The admitted peer on a socket.
#[derive(Debug, Clone)]
pub(super) struct Link {
    pub node_id: String,
    /// The version of our peer list this peer last got (0: none yet).
    pub shared: u64,
}

#[derive(Debug, Clone)]
pub(super) enum ConnState {
    /// Inbound, nothing received yet: the first frame must be HANDSHAKE.
    AwaitingHandshake,
    /// Outbound: our HANDSHAKE went out, with `challenge` when we authenticate; the answer
    /// must be HANDSHAKE_ACK.
    AwaitingAck { challenge: Option<String> },
    /// Inbound: `hello` was accepted and our HANDSHAKE_ACK carried `challenge`; admitted once
    /// a HANDSHAKE_PROOF answers it.
    AwaitingProof {
        hello: Box<Handshake>,
        challenge: String,
    },
    /// Handshake done; the peer is in the manager's table.
    Admitted(Link),
    /// Close was asked for: later frames are ignored (they may already be queued). `peer` is
    /// the admitted peer still on it (it stays in the table, and is reported gone, until the
    /// driver reports the socket closed); None before admission or once a preferred duplicate
    /// replaced it.
    Closing { peer: Option<Link> },
}

#[derive(Debug, Clone)]
pub(super) struct Connection {
    pub direction: Direction,
    pub opened_at: u64,
    pub last_seen: u64,
    pub limit: RateLimit,
    pub state: ConnState,
}

impl Connection {
    /// `challenge`: the one in our HANDSHAKE (outbound only).
    pub fn new(
        direction: Direction,
        challenge: Option<String>,
        rate: &RateConfig,
        now: u64,
    ) -> Self {
        let state = match direction {
            Direction::Inbound { .. } => ConnState::AwaitingHandshake,
            Direction::Outbound { .. } => ConnState::AwaitingAck { challenge },
        };
        Connection {
            direction,
            opened_at: now,
            last_seen: now,
            limit: RateLimit::new(rate, now),
            state,
        }
    }

    /// The admitted peer's nodeId (also while closing, until a duplicate replaced it).
    pub fn peer(&self) -> Option<&str> {
        self.link().map(|l| l.node_id.as_str())
    }

    pub fn link(&self) -> Option<&Link> {
        match &self.state {
            ConnState::Admitted(link) | ConnState::Closing { peer: Some(link) } => Some(link),
            _ => None,
        }
    }

    pub fn link_mut(&mut self) -> Option<&mut Link> {
        match &mut self.state {
            ConnState::Admitted(link) | ConnState::Closing { peer: Some(link) } => Some(link),
            _ => None,
        }
    }

    pub fn is_closing(&self) -> bool {
        matches!(self.state, ConnState::Closing { .. })
    }

    /// Inbound HANDSHAKE accepted with our `challenge`: wait for its HANDSHAKE_PROOF.
    pub fn await_proof(&mut self, hello: Handshake, challenge: String) {
        debug_assert!(matches!(self.state, ConnState::AwaitingHandshake));
        self.state = ConnState::AwaitingProof {
            hello: Box::new(hello),
            challenge,
        };
    }

    pub fn admit(&mut self, node_id: String) {
        debug_assert!(!self.is_closing(), "frames on closing sockets are ignored");
        self.state = ConnState::Admitted(Link { node_id, shared: 0 });
    }

    /// Close asked for; an admitted peer stays attached until the socket is closed.
    pub fn close(&mut self) {
        let peer = match std::mem::replace(&mut self.state, ConnState::AwaitingHandshake) {
            ConnState::Admitted(link) => Some(link),
            ConnState::Closing { peer } => peer,
            _ => None,
        };
        self.state = ConnState::Closing { peer };
    }

    /// Close asked for because a preferred duplicate took over the peer: its close must not
    /// report the peer as gone.
    pub fn close_replaced(&mut self) {
        self.state = ConnState::Closing { peer: None };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound() -> Connection {
        let direction = Direction::Inbound {
            remote_ip: "10.0.0.1".into(),
        };
        Connection::new(direction, None, &RateConfig::default(), 0)
    }

    #[test]
    fn direction_picks_the_first_awaited_step() {
        assert!(matches!(inbound().state, ConnState::AwaitingHandshake));
        let direction = Direction::Outbound {
            address: "ws://10.0.0.2:9000".into(),
        };
        let c = Connection::new(direction, Some("c".into()), &RateConfig::default(), 0);
        assert!(matches!(
            c.state,
            ConnState::AwaitingAck { challenge: Some(_) }
        ));
        assert_eq!(c.peer(), None);
    }

    #[test]
    fn a_closing_socket_keeps_its_peer_unless_replaced() {
        let mut c = inbound();
        c.admit("a".into());
        c.close();
        assert!(c.is_closing());
        assert_eq!(c.peer(), Some("a"));
        c.close(); // closing twice keeps it
        assert_eq!(c.peer(), Some("a"));

        let mut c = inbound();
        c.admit("a".into());
        c.close_replaced();
        c.close();
        assert!(c.is_closing());
        assert_eq!(c.peer(), None);

        let mut c = inbound();
        c.close();
        assert_eq!(c.peer(), None);
    }
}
