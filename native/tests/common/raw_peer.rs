//! A raw WebSocket client for hostile-peer tests: it sends anything (garbage, binary, oversized
//! frames, forged messages) and reports what the node answered and whether it closed the socket.
//! Blocking, on its own runtime, so tests stay plain `#[test]`s next to `NodeProcess`.

use futures_util::{SinkExt, StreamExt};
use miniledger_core::net::auth::{self, Role};
use miniledger_core::protocol::{Handshake, HandshakeAck, HandshakeProof, Message};
use miniledger_core::{Envelope, Keypair};
use miniledger_native::tls::PeerTls;
use miniledger_native::transport::{self, ClientSocket};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tokio_tungstenite::tungstenite::Message as Frame;

/// What came next on the socket.
#[derive(Debug, PartialEq)]
pub enum Next {
    Text(String),
    /// The node closed the socket (close frame, end of stream or reset).
    Closed,
    /// Nothing within the time asked for.
    Silent,
}

pub struct RawPeer {
    rt: Runtime,
    ws: ClientSocket,
}

impl RawPeer {
    pub fn connect(address: &str) -> RawPeer {
        Self::try_connect(address, None).unwrap_or_else(|e| panic!("connect {address}: {e}"))
    }

    /// `ws://` or `wss://` (trusting the certificates in `ca`, else the public roots), through
    /// the node's own client code.
    pub fn try_connect(address: &str, ca: Option<&Path>) -> Result<RawPeer, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let tls = PeerTls::new(None, None, ca)?;
        let ws = rt.block_on(transport::open(address, &tls.connector, None))?;
        Ok(RawPeer { rt, ws })
    }

    /// Sends a text frame; false if the socket is already gone.
    pub fn send_text(&mut self, text: impl Into<String>) -> bool {
        let text: String = text.into();
        self.rt.block_on(self.ws.send(Frame::text(text))).is_ok()
    }

    pub fn send_binary(&mut self, bytes: Vec<u8>) -> bool {
        self.rt.block_on(self.ws.send(Frame::binary(bytes))).is_ok()
    }

    /// `message` in an envelope from `key`.
    pub fn send(&mut self, key: &Keypair, message: Message) -> bool {
        self.send_text(Envelope::new(key.node_id(), super::now_ms(), message).encode())
    }

    /// The next text frame within `limit`.
    pub fn next(&mut self, limit: Duration) -> Next {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let item = self
                .rt
                .block_on(async { tokio::time::timeout(left, self.ws.next()).await });
            return match item {
                Err(_) => Next::Silent,
                Ok(Some(Ok(Frame::Text(text)))) => Next::Text(text.as_str().to_string()),
                Ok(Some(Ok(Frame::Close(_)) | Err(_)) | None) => Next::Closed,
                Ok(Some(Ok(_))) => continue, // ping/pong/binary: not protocol frames
            };
        }
    }

    /// Reads (and drops) frames until the node closes the socket; panics if it does not within
    /// `limit`. Returns how long it took.
    pub fn expect_closed(&mut self, what: &str, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            match self.next(limit.saturating_sub(start.elapsed())) {
                Next::Closed => return start.elapsed(),
                Next::Silent => panic!("{what}: the node did not close the socket in {limit:?}"),
                Next::Text(_) => {}
            }
        }
    }

    /// Sends HANDSHAKE as `key` and returns the node's HANDSHAKE_ACK (None: closed first).
    pub fn handshake(&mut self, key: &Keypair) -> Option<HandshakeAck> {
        self.handshake_with(key, hello(key))
    }

    /// Handshakes as `key`; panics unless the node accepts.
    pub fn connect_as(address: &str, key: &Keypair) -> RawPeer {
        let mut peer = RawPeer::connect(address);
        let ack = peer.handshake(key).expect("an answer to the handshake");
        assert!(ack.accepted, "handshake refused: {:?}", ack.reason);
        peer
    }
}

impl RawPeer {
    /// Sends `hello` (a HANDSHAKE) and returns the node's HANDSHAKE_ACK (None: closed first).
    pub fn handshake_with(&mut self, key: &Keypair, hello: Message) -> Option<HandshakeAck> {
        self.send(key, hello);
        loop {
            match self.next(super::DEADLINE) {
                Next::Text(text) => {
                    if let Ok(Envelope {
                        message: Message::HandshakeAck(ack),
                        ..
                    }) = Envelope::decode(&text)
                    {
                        return Some(ack);
                    }
                }
                Next::Closed => return None,
                Next::Silent => panic!("no HANDSHAKE_ACK within {:?}", super::DEADLINE),
            }
        }
    }

    /// The challenge-response as a dialer announcing `claimed`'s key but signing with
    /// `signer` (the same key for an honest peer): checks the node's answer, sends the proof
    /// and returns the ACK (None: closed before answering).
    pub fn authenticate(
        &mut self,
        claimed: &Keypair,
        signer: &Keypair,
        light: bool,
    ) -> Option<HandshakeAck> {
        let challenge = "5a".repeat(32);
        let ack = self.handshake_with(claimed, hello_full(claimed, light, Some(&challenge)))?;
        if ack.accepted {
            let signature = ack
                .challenge_signature
                .as_deref()
                .expect("challengeSignature");
            auth::verify(
                Role::Responder,
                &challenge,
                &ack.public_key,
                claimed.public_hex(),
                signature,
            )
            .expect("the node proves its key");
            let theirs = ack.challenge.as_deref().expect("the node's challenge");
            let signature = auth::sign(signer, Role::Dialer, theirs, &ack.public_key);
            self.send(
                claimed,
                Message::HandshakeProof(HandshakeProof { signature }),
            );
        }
        Some(ack)
    }
}

/// A HANDSHAKE from `key`: a full node (a MiniLedger 0.2 one without `challenge`) or a light one.
pub fn hello_full(key: &Keypair, light: bool, challenge: Option<&str>) -> Message {
    Message::Handshake(Handshake {
        node_id: key.node_id().into(),
        public_key: key.public_hex().into(),
        org_id: "hostile".into(),
        chain_height: 0,
        listen_port: 9,
        listen_address: Some("127.0.0.1".into()),
        light: light.then_some(true),
        tls: None,
        challenge: challenge.map(Into::into),
        genesis_hash: None,
    })
}

/// A HANDSHAKE from `key` as a light node: never advertised nor dialed back, so hostile
/// identities do not leak into the honest mesh's peer lists.
pub fn hello(key: &Keypair) -> Message {
    Message::Handshake(Handshake {
        node_id: key.node_id().into(),
        public_key: key.public_hex().into(),
        org_id: "hostile".into(),
        chain_height: 0,
        listen_port: 0,
        listen_address: None,
        light: Some(true),
        tls: None,
        challenge: None,
        genesis_hash: None,
    })
}
