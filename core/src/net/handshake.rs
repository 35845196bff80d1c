//! Handshakes and admission: HANDSHAKE / HANDSHAKE_ACK / HANDSHAKE_PROOF on a socket not yet
//! admitted, authentication with `auth.rs`, and who may be admitted (identity, bans, limits,
//! duplicates, admission lists).
//!
//! - Outbound: on open we send HANDSHAKE and wait for HANDSHAKE_ACK.
//! - Inbound: the first frame must be HANDSHAKE; we answer HANDSHAKE_ACK (`accepted: false` with
//!   a `reason` when refusing). A dialer that offered a challenge is admitted only once its
//!   HANDSHAKE_PROOF verifies; each peer is marked `authenticated` or not (0.2 peers), and
//!   [`super::Admission`] lists may require it.
//! - Self-connections are refused; the address is then never dialed again.
//! - Duplicates (both sides dialed each other): both ends keep the connection dialed by the
//!   node with the smaller nodeId, so the race cannot drop both. An established peer is never
//!   replaced by a new socket claiming its nodeId (a 0.2 handshake proves no key possession, so
//!   only a race of simultaneous dials may replace a connection) unless the newcomer proves
//!   the key and the holder did not.

use super::auth::{self, Role};
use super::connection::ConnState;
use super::peers::{ConnId, Direction, PeerKind, PeerManager, PeerSummary};
use crate::protocol::{GenesisResponse, Handshake, HandshakeAck, HandshakeProof, Message};

/// A HANDSHAKE or HANDSHAKE_ACK is a few hundred bytes: an unidentified socket gets no more
/// than this per frame, whatever the frame cap (which must fit a whole block).
pub const MAX_HANDSHAKE_FRAME_BYTES: usize = 64 * 1024;

impl PeerManager {
    pub(super) fn new_challenge(&mut self) -> Option<String> {
        self.auth.as_mut().map(|(_, c)| c.next_challenge())
    }

    /// Our HANDSHAKE on a socket we dialed.
    pub(super) fn hello(&self, challenge: Option<String>) -> Message {
        Message::Handshake(Handshake {
            node_id: self.config.node_id.clone(),
            public_key: self.config.public_key.clone(),
            org_id: self.config.org_id.clone(),
            chain_height: self.chain_height,
            listen_port: self.config.listen_port,
            listen_address: self.config.listen_address.clone(),
            light: self.config.light.then_some(true),
            tls: self.config.tls.then_some(true),
            challenge,
            genesis_hash: self.genesis_hash(),
        })
    }

    fn genesis_hash(&self) -> Option<String> {
        self.config.network.as_ref().map(|n| n.hash.clone())
    }

    /// Our genesis document, for GENESIS_REQUEST (null when we have none: compat mode).
    pub(super) fn genesis_response(&self) -> Message {
        let genesis = self
            .config
            .network
            .as_ref()
            .map(|n| serde_json::to_value(&n.genesis).expect("a genesis serializes"));
        Message::GenesisResponse(GenesisResponse { genesis })
    }

    /// A peer announcing another network's genesis hash. One announcing none (MiniLedger 0.2,
    /// a light node, ours in compat mode) is not refused for it: it cannot say.
    fn network_refusal(&self, theirs: Option<&str>) -> Option<String> {
        let ours = &self.config.network.as_ref()?.hash;
        let theirs = theirs?;
        (theirs != ours).then(|| {
            format!("another network: genesisHash {theirs}, ours {ours} (a different genesis)")
        })
    }

    /// A frame on a socket not admitted yet: the handshake step its state waits for, or the
    /// socket is closed.
    pub(super) fn on_handshake_frame(&mut self, conn: ConnId, message: Message, now: u64) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        match (&c.state, message) {
            (ConnState::AwaitingProof { .. }, Message::HandshakeProof(proof)) => {
                self.on_handshake_proof(conn, proof, now)
            }
            (ConnState::AwaitingProof { .. }, other) => self.close(
                conn,
                format!("expected HANDSHAKE_PROOF, got {}", other.type_name()),
            ),
            (ConnState::AwaitingHandshake, Message::Handshake(hello)) => {
                self.on_handshake(conn, hello, now)
            }
            // Anyone may read the genesis (`miniledger join` does, before it has one): it is
            // small, public and the socket closes after it.
            (ConnState::AwaitingHandshake, Message::GenesisRequest(_)) => {
                self.send(conn, &self.genesis_response(), now);
                self.close(conn, "genesis sent".into())
            }
            (ConnState::AwaitingAck { .. }, Message::HandshakeAck(ack)) => {
                self.on_handshake_ack(conn, ack, now)
            }
            (_, other) => self.close(
                conn,
                format!("expected a handshake first, got {}", other.type_name()),
            ),
        }
    }

    /// Why a peer of `kind` claiming `node_id`/`public_key` cannot be admitted, if it cannot.
    pub(super) fn refusal(
        &self,
        node_id: &str,
        public_key: &str,
        kind: PeerKind,
        now: u64,
    ) -> Option<String> {
        if node_id == self.config.node_id {
            return Some("self-connection".into());
        }
        if let Some(until) = self.scores.banned_until(node_id, now) {
            let until = self.to_wall(until);
            return Some(format!("banned for misbehaviour until {until}"));
        }
        if !crate::hex::is_lower_hex(public_key, 32)
            || crate::crypto::node_id(public_key) != node_id
        {
            return Some(
                "nodeId must be the first 16 hex characters of a 64-character lowercase publicKey"
                    .into(),
            );
        }
        let limit = self.limit(kind);
        if !self.peers.contains_key(node_id) && self.count(kind) >= limit {
            return Some(match kind {
                PeerKind::Full => format!("peer limit of {limit} reached"),
                PeerKind::Light => format!("light peer limit of {limit} reached"),
            });
        }
        None
    }

    /// For two sockets to the same peer, the one dialed by the smaller nodeId wins on both ends.
    /// An established connection (older than a handshake can take) is kept: a newcomer
    /// claiming its nodeId is more likely an impostor than the far end of a dial race.
    /// A newcomer that proves the key (`new_proves`) always replaces an unauthenticated holder
    /// of its nodeId: that one may be the impostor.
    fn keeps_new_duplicate(
        &self,
        existing: &PeerSummary,
        new_is_outbound: bool,
        new_proves: bool,
        now: u64,
    ) -> bool {
        if new_proves && !existing.authenticated {
            return true;
        }
        let established = now >= existing.connected_at + self.config.handshake_timeout_ms;
        if existing.outbound == new_is_outbound || established {
            return false;
        }
        let new_dialer_is_me = new_is_outbound;
        let me_smaller = self.config.node_id.as_str() < existing.node_id.as_str();
        new_dialer_is_me == me_smaller
    }

    /// Why a peer with this handshake cannot be admitted now (identity, bans, limits,
    /// duplicates, admission lists).
    fn inbound_refusal(&self, hello: &Handshake, proves: bool, now: u64) -> Option<String> {
        let light = hello.light == Some(true);
        if self.config.light {
            return Some("light nodes accept no connections".into());
        }
        let kind = PeerKind::of(light);
        if let Some(refusal) = self.refusal(&hello.node_id, &hello.public_key, kind, now) {
            return Some(refusal);
        }
        if let Some(refusal) = self.network_refusal(hello.genesis_hash.as_deref()) {
            return Some(refusal);
        }
        if let Some(existing) = self.peers.get(&hello.node_id) {
            if !self.keeps_new_duplicate(existing, false, proves, now) {
                return Some("duplicate connection".into());
            }
        }
        self.config
            .admission
            .refusal(&hello.public_key, &hello.org_id, light)
    }

    fn on_handshake(&mut self, conn: ConnId, hello: Handshake, now: u64) {
        let light = hello.light == Some(true);
        let offered = hello.challenge.is_some() && self.auth.is_some();
        let mut refusal = self.inbound_refusal(&hello, offered, now);
        if refusal.is_none() {
            let theirs = hello.challenge.as_deref().filter(|_| offered);
            if theirs.is_some_and(|c| !auth::is_challenge(c)) {
                refusal = Some("challenge must be 64 lowercase hex characters".into());
            } else if !offered && !light && self.config.admission.restricted() {
                refusal = Some(auth::UNAUTHENTICATED_REFUSAL.into());
            }
        }
        let mut ack = HandshakeAck {
            node_id: self.config.node_id.clone(),
            public_key: self.config.public_key.clone(),
            org_id: self.config.org_id.clone(),
            chain_height: self.chain_height,
            accepted: refusal.is_none(),
            reason: refusal.clone(),
            challenge: None,
            challenge_signature: None,
            genesis_hash: self.genesis_hash(),
        };
        if let (None, Some(theirs), Some((key, _))) = (&refusal, &hello.challenge, &self.auth) {
            ack.challenge_signature =
                Some(auth::sign(key, Role::Responder, theirs, &hello.public_key));
            ack.challenge = self.new_challenge();
        }
        let ours = ack.challenge.clone();
        self.send(conn, &Message::HandshakeAck(ack), now);
        if let Some(reason) = refusal {
            return self.close(
                conn,
                format!("refused handshake from {}: {reason}", hello.node_id),
            );
        }
        if let (true, Some(challenge)) = (offered, ours) {
            // Admitted once its HANDSHAKE_PROOF answers our challenge.
            if let Some(c) = self.conns.get_mut(&conn) {
                c.await_proof(hello, challenge);
            }
            return;
        }
        self.admit_inbound(conn, hello, false, now);
    }

    /// The dialer's answer to our challenge: admit it, authenticated, or refuse it.
    fn on_handshake_proof(&mut self, conn: ConnId, proof: HandshakeProof, now: u64) {
        let Some(ConnState::AwaitingProof { hello, challenge }) =
            self.conns.get(&conn).map(|c| &c.state)
        else {
            return;
        };
        let (hello, challenge) = (hello.as_ref().clone(), challenge.clone());
        let verified = auth::verify(
            Role::Dialer,
            &challenge,
            &hello.public_key,
            &self.config.public_key,
            &proof.signature,
        );
        let refusal = match verified {
            Err(e) => Some(format!("HANDSHAKE_PROOF does not prove its publicKey: {e}")),
            // Peers may have come or gone since the HANDSHAKE was accepted.
            Ok(()) => self.inbound_refusal(&hello, true, now),
        };
        if let Some(reason) = refusal {
            return self.close(
                conn,
                format!("refused handshake from {}: {reason}", hello.node_id),
            );
        }
        self.admit_inbound(conn, hello, true, now);
    }

    fn admit_inbound(&mut self, conn: ConnId, hello: Handshake, authenticated: bool, now: u64) {
        let light = hello.light == Some(true);
        let address = if light {
            None
        } else {
            let host = match (&hello.listen_address, &self.conns[&conn].direction) {
                (Some(a), _) if !a.is_empty() && a != "0.0.0.0" => a.clone(),
                (_, Direction::Inbound { remote_ip }) => remote_ip.clone(),
                (_, Direction::Outbound { .. }) => {
                    unreachable!("handshakes arrive on inbound sockets")
                }
            };
            let scheme = if hello.tls == Some(true) { "wss" } else { "ws" };
            Some(format!("{scheme}://{host}:{}", hello.listen_port))
        };
        let summary = PeerSummary {
            conn,
            node_id: hello.node_id,
            public_key: hello.public_key,
            org_id: hello.org_id,
            address,
            chain_height: hello.chain_height,
            light,
            outbound: false,
            connected_at: now,
            authenticated,
        };
        self.admit(summary, now);
    }

    fn on_handshake_ack(&mut self, conn: ConnId, ack: HandshakeAck, now: u64) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let (Direction::Outbound { address }, ConnState::AwaitingAck { challenge: ours }) =
            (&c.direction, &c.state)
        else {
            return;
        };
        let (address, ours) = (address.clone(), ours.clone());
        self.dials.answered(&address, &ack.node_id);
        let another_network = self.network_refusal(ack.genesis_hash.as_deref());
        let mut refusal = if ack.accepted {
            // Whoever accepts a dial is a full node: light nodes accept no connections.
            self.refusal(&ack.node_id, &ack.public_key, PeerKind::Full, now)
                .or(another_network.clone())
        } else {
            // `reason` is optional: a refusal without one is still a refusal (found by
            // fuzzing: such an ack was admitted unchecked, even from our own nodeId).
            Some(ack.reason.clone().unwrap_or_else(|| "refused".into()))
        };
        let authenticated = match (&ours, &ack.challenge_signature) {
            (Some(ours), Some(signature)) => {
                match auth::verify(
                    Role::Responder,
                    ours,
                    &ack.public_key,
                    &self.config.public_key,
                    signature,
                ) {
                    Ok(()) => true,
                    Err(e) => {
                        refusal = refusal.or(Some(format!(
                            "challengeSignature does not prove its publicKey: {e}"
                        )));
                        false
                    }
                }
            }
            _ => false,
        };
        if refusal.is_none() {
            if let Some(existing) = self.peers.get(&ack.node_id) {
                if !self.keeps_new_duplicate(existing, true, authenticated, now) {
                    refusal = Some("duplicate connection".into());
                }
            }
        }
        if refusal.is_none() {
            let theirs = ack.challenge.as_deref();
            refusal = if theirs.is_some_and(|c| !auth::is_challenge(c)) {
                Some("challenge must be 64 lowercase hex characters".into())
            } else if theirs.is_some() && ours.is_some() && !authenticated {
                Some("HANDSHAKE_ACK carries a challenge but no challengeSignature".into())
            } else if !authenticated && self.config.admission.restricted() {
                Some(auth::UNAUTHENTICATED_REFUSAL.into())
            } else {
                self.config
                    .admission
                    .refusal(&ack.public_key, &ack.org_id, false)
            };
        }
        if let Some(reason) = refusal {
            if ack.node_id == self.config.node_id || another_network.is_some() {
                // Our own address, or a node of another network: never dial it again.
                self.dials.remove(&address);
            }
            return self.close(conn, format!("handshake with {address} failed: {reason}"));
        }
        if let (true, Some(theirs), Some((key, _))) = (authenticated, &ack.challenge, &self.auth) {
            // Before anything else on this socket: the responder admits us on this frame.
            let signature = auth::sign(key, Role::Dialer, theirs, &ack.public_key);
            self.send(
                conn,
                &Message::HandshakeProof(HandshakeProof { signature }),
                now,
            );
        }
        self.dials.connected(&address);
        self.admit(
            PeerSummary {
                conn,
                node_id: ack.node_id,
                public_key: ack.public_key,
                org_id: ack.org_id,
                address: Some(address),
                chain_height: ack.chain_height,
                light: false,
                outbound: true,
                connected_at: now,
                authenticated,
            },
            now,
        );
    }
}
