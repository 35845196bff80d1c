//! A scripted peer on the simulated network, as `native/tests/common/fake_peer.rs` is over
//! real sockets: it listens at its own address, answers a node's HANDSHAKE with an accepting
//! HANDSHAKE_ACK (proving its key when challenged, so the node counts it authenticated), then
//! hands every other frame to its script and sends what the script returns (raw text, so a
//! script can send anything, forged or malformed). A ticker can send frames of its own at a
//! fixed interval (a fake leader's heartbeats). Used for byzantine validators and peers that
//! serve tampered blocks.

use miniledger_core::net::auth::{self, Role};
use miniledger_core::net::ConnId;
use miniledger_core::protocol::{HandshakeAck, Message};
use miniledger_core::{Envelope, Keypair};
use std::collections::BTreeSet;

/// What the script sees: the decoded message (None: the frame did not decode), its text, and
/// the wall clock (for the envelopes it sends). Returns the frames to answer with.
pub type Script = Box<dyn FnMut(Option<&Message>, &str, u64) -> Vec<String>>;
/// Frames sent unprompted on every handshaken connection, each interval (given the wall clock).
pub type Ticker = Box<dyn FnMut(u64) -> Vec<String>>;

pub struct Fake {
    pub key: Keypair,
    /// The chain height it claims in its HANDSHAKE_ACK.
    pub height: u64,
    pub script: Script,
    pub ticker: Option<(u64, Ticker)>,
    /// Connections it answered a HANDSHAKE on.
    pub handshaken: BTreeSet<ConnId>,
    pub last_tick: u64,
}

impl Fake {
    /// Its answer to a frame on `conn`.
    pub fn on_frame(&mut self, conn: ConnId, text: &str, wall: u64) -> Vec<String> {
        let decoded = Envelope::decode(text).ok().map(|e| e.message);
        match &decoded {
            Some(Message::Handshake(hello)) => {
                self.handshaken.insert(conn);
                let me = &self.key;
                let ack = HandshakeAck {
                    node_id: me.node_id().into(),
                    public_key: me.public_hex().into(),
                    org_id: "fake".into(),
                    chain_height: self.height,
                    accepted: true,
                    reason: None,
                    challenge: hello.challenge.as_ref().map(|_| "77".repeat(32)),
                    challenge_signature: hello
                        .challenge
                        .as_deref()
                        .map(|c| auth::sign(me, Role::Responder, c, &hello.public_key)),
                    genesis_hash: None,
                };
                vec![envelope(me, wall, Message::HandshakeAck(ack))]
            }
            // It takes the dialer's proof unchecked.
            Some(Message::HandshakeProof(_)) => Vec::new(),
            other => (self.script)(other.as_ref(), text, wall),
        }
    }
}

/// `message` in an envelope from `me`, as text.
pub fn envelope(me: &Keypair, wall: u64, message: Message) -> String {
    Envelope::new(me.node_id(), wall, message).encode()
}
