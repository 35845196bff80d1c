//! PeerManager: the seed's connection lifecycle as a state machine.
//!
//! - Outbound: on open we send HANDSHAKE and wait for HANDSHAKE_ACK.
//! - Inbound: the first frame must be HANDSHAKE; we answer HANDSHAKE_ACK (`accepted: false` with a
//!   `reason` when refusing).
//! - Discovery (`discovery.rs`): both ends send PEER_LIST once a connection is admitted, and
//!   every peer gets it again when a full peer joins (rate-limited) and periodically. Learnt
//!   addresses are dialed; those of `keep_dialing` keys (validators) forever, with backoff.
//! - Self-connections are refused; the address is then never dialed again.
//! - Duplicates (both sides dialed each other): both ends keep the connection dialed by the node
//!   with the smaller nodeId, so the race cannot drop both.
//! - Health: PING every interval with our height; a peer silent for `missed_pings` intervals is
//!   dropped. Outbound addresses are redialed with capped, jittered exponential backoff.
//! - Hostile peers: at most `max_inbound_per_ip` inbound sockets per IP; frames beyond the rate
//!   limit are dropped; offences (bad frames here, bad blocks and such from the driver via
//!   [`PeerManager::report`]) add to a score that bans the nodeId past a threshold (`score.rs`).
//! - An established peer is never replaced by a new socket claiming its nodeId (a MiniLedger
//!   0.2 handshake proves no key possession, so only a race of simultaneous dials may replace a
//!   connection).
//! - Authentication (`auth.rs`, after [`PeerManager::enable_auth`]): a challenge-response in
//!   optional handshake fields; an inbound dialer that offered it is admitted only once its
//!   HANDSHAKE_PROOF verifies. Each peer is marked `authenticated` or not (0.2 peers);
//!   [`Admission`] lists may require it.

use super::auth::{self, Admission, Challenges, Role};
use super::backoff::{Backoff, SplitMix};
use super::discovery::{self, Announcer, DiscoveryConfig};
use super::rate::{RateConfig, RateLimit};
use super::score::{Offence, Record, ScoreConfig, Scores};
use crate::protocol::{
    ChainHeight, Envelope, Handshake, HandshakeAck, HandshakeProof, Message, MessageError,
    PeerInfo, PeerList,
};
use crate::Keypair;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// The driver's handle for one WebSocket.
pub type ConnId = u64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Direction {
    /// Accepted by our server; `remote_ip` is the socket's peer address.
    Inbound { remote_ip: String },
    /// Dialed by us at `address` (`ws://host:port` or `wss://host:port`).
    Outbound { address: String },
}

#[derive(Debug, Clone)]
pub struct PeerConfig {
    pub node_id: String,
    pub public_key: String,
    pub org_id: String,
    pub listen_port: u16,
    pub listen_address: Option<String>,
    /// Browser light node: announces itself as such and accepts no inbound connections.
    pub light: bool,
    /// Our P2P port speaks TLS: announced so peers advertise us as `wss://`.
    pub tls: bool,
    pub ping_interval_ms: u64,
    pub missed_pings: u64,
    pub handshake_timeout_ms: u64,
    pub max_peers: usize,
    /// Sockets one IP may hold open to our server (handshaken or not).
    pub max_inbound_per_ip: usize,
    pub rate: RateConfig,
    pub score: ScoreConfig,
    pub backoff: Backoff,
    /// Who may connect as a full peer (everyone by default).
    pub admission: Admission,
    /// Public keys (the validators) whose learnt addresses are redialed forever, like
    /// configured ones: a validator keeps trying to reach every validator it heard of.
    pub keep_dialing: BTreeSet<String>,
    pub discovery: DiscoveryConfig,
}

impl PeerConfig {
    pub fn new(public_key: &str, org_id: &str, listen_port: u16) -> Self {
        PeerConfig {
            node_id: crate::crypto::node_id(public_key).to_string(),
            public_key: public_key.to_string(),
            org_id: org_id.to_string(),
            listen_port,
            listen_address: None,
            light: false,
            tls: false,
            ping_interval_ms: 5_000,
            missed_pings: 3,
            handshake_timeout_ms: 5_000,
            max_peers: 50,
            max_inbound_per_ip: 8,
            rate: RateConfig::default(),
            score: ScoreConfig::default(),
            backoff: Backoff::default(),
            admission: Admission::default(),
            keep_dialing: BTreeSet::new(),
            discovery: DiscoveryConfig::default(),
        }
    }
}

/// What we know of a connected peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSummary {
    pub conn: ConnId,
    pub node_id: String,
    pub public_key: String,
    pub org_id: String,
    /// Where others can dial it (None for light nodes).
    pub address: Option<String>,
    pub chain_height: u64,
    pub light: bool,
    pub outbound: bool,
    pub connected_at: u64,
    /// It proved it holds `public_key`'s private key (false for MiniLedger 0.2 peers).
    pub authenticated: bool,
}

/// A peer's misbehaviour record, for `/peers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misbehaviour {
    pub node_id: String,
    /// The decayed score now.
    pub score: u32,
    /// Offence name → how often.
    pub offences: BTreeMap<&'static str, u64>,
    pub banned_until: Option<u64>,
    pub bans: u64,
}

/// What the driver must do, or what happened.
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
    /// A message for the layers above (sync, mempool, consensus) from a connected peer.
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

struct Conn {
    direction: Direction,
    opened_at: u64,
    last_seen: u64,
    /// Set once the handshake completed.
    peer: Option<String>,
    limit: RateLimit,
    /// Close was asked for: later frames are ignored (they may already be queued).
    closing: bool,
    /// The challenge we sent on this socket (in our HANDSHAKE or HANDSHAKE_ACK).
    challenge: Option<String>,
    /// Inbound: the accepted HANDSHAKE whose HANDSHAKE_PROOF we wait for.
    awaiting_proof: Option<Handshake>,
    /// The version of our peer list this peer last got (0: none yet).
    shared: u64,
}

/// How long an address is redialed after failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Configured addresses, and one learnt address per `keep_dialing` key.
    Forever,
    /// Other learnt addresses: forgotten after [`MAX_DISCOVERED_ATTEMPTS`] failures in a row.
    Limited,
}

/// An address we dial and keep dialing.
struct DialTarget {
    node_id: Option<String>,
    /// Set for `add_address`: the operator's addresses, never dropped or demoted.
    configured: bool,
    retry: Retry,
    attempt: u32,
    /// When to dial next; None while dialing or connected.
    due: Option<u64>,
}

/// A HANDSHAKE or HANDSHAKE_ACK is a few hundred bytes: an unidentified socket gets no more
/// than this per frame, whatever the frame cap (which must fit a whole block).
pub const MAX_HANDSHAKE_FRAME_BYTES: usize = 64 * 1024;

/// About ten minutes of failed redials at the 30 s cap.
const MAX_DISCOVERED_ATTEMPTS: u32 = 20;

pub struct PeerManager {
    config: PeerConfig,
    chain_height: u64,
    conns: BTreeMap<ConnId, Conn>,
    /// Connected peers by nodeId.
    peers: BTreeMap<String, PeerSummary>,
    targets: BTreeMap<String, DialTarget>,
    next_ping: u64,
    rng: SplitMix,
    actions: VecDeque<Action>,
    scores: Scores,
    /// Our key and challenge source, once authentication is enabled.
    auth: Option<(Keypair, Challenges)>,
    announcer: Announcer,
}

impl PeerManager {
    /// `seed` feeds backoff jitter (the driver draws it from its entropy source).
    pub fn new(config: PeerConfig, seed: u64) -> Self {
        PeerManager {
            chain_height: 0,
            conns: BTreeMap::new(),
            peers: BTreeMap::new(),
            targets: BTreeMap::new(),
            next_ping: 0,
            rng: SplitMix::new(seed),
            actions: VecDeque::new(),
            scores: Scores::new(config.score),
            auth: None,
            announcer: Announcer::new(config.discovery, 0),
            config,
        }
    }

    /// Offers and answers challenge-responses from now on (see `auth.rs`): `key` must be the
    /// configured public key's; `entropy` seeds the challenges (from the driver's entropy
    /// source). Without it the manager behaves as a MiniLedger 0.2 node (and, with admission
    /// lists set, can admit no full peer).
    pub fn enable_auth(&mut self, key: Keypair, entropy: [u8; 32]) {
        assert_eq!(
            key.public_hex(),
            self.config.public_key,
            "enable_auth: not our key"
        );
        self.auth = Some((key, Challenges::new(entropy)));
    }

    fn new_challenge(&mut self) -> Option<String> {
        self.auth.as_mut().map(|(_, c)| c.next_challenge())
    }

    pub fn config(&self) -> &PeerConfig {
        &self.config
    }

    pub fn set_chain_height(&mut self, height: u64) {
        self.chain_height = height;
    }

    /// Next action for the driver, in order.
    pub fn poll(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn peers(&self) -> impl Iterator<Item = &PeerSummary> {
        self.peers.values()
    }

    pub fn peer(&self, node_id: &str) -> Option<&PeerSummary> {
        self.peers.get(node_id)
    }

    /// Adds an address to keep connected to (configured seeds, `join`); dialed at the next tick.
    pub fn add_address(&mut self, address: &str, now: u64) {
        self.targets
            .entry(address.to_string())
            .or_insert(DialTarget {
                node_id: None,
                configured: true,
                retry: Retry::Forever,
                attempt: 0,
                due: Some(now),
            });
    }

    /// Earliest time `tick` has work to do.
    pub fn next_deadline(&self) -> u64 {
        let dials = self.targets.values().filter_map(|t| t.due);
        let handshakes = self
            .conns
            .values()
            .filter(|c| c.peer.is_none())
            .map(|c| c.opened_at + self.config.handshake_timeout_ms);
        let announce = (!self.config.light).then(|| self.announcer.deadline());
        dials
            .chain(handshakes)
            .chain(announce)
            .chain([self.next_ping])
            .min()
            .unwrap_or(self.next_ping)
    }

    /// A socket opened (accepted or dialed).
    pub fn on_open(&mut self, conn: ConnId, direction: Direction, now: u64) {
        let outbound = matches!(direction, Direction::Outbound { .. });
        let from_ip = match &direction {
            Direction::Inbound { remote_ip } => self.inbound_from(remote_ip),
            Direction::Outbound { .. } => 0,
        };
        self.conns.insert(
            conn,
            Conn {
                direction,
                opened_at: now,
                last_seen: now,
                peer: None,
                limit: RateLimit::new(&self.config.rate, now),
                closing: false,
                challenge: None,
                awaiting_proof: None,
                shared: 0,
            },
        );
        if from_ip >= self.config.max_inbound_per_ip {
            let limit = self.config.max_inbound_per_ip;
            return self.close(
                conn,
                format!("limit of {limit} inbound sockets per IP reached"),
            );
        }
        if outbound {
            let challenge = self.new_challenge();
            if let Some(c) = self.conns.get_mut(&conn) {
                c.challenge = challenge.clone();
            }
            let hello = Message::Handshake(Handshake {
                node_id: self.config.node_id.clone(),
                public_key: self.config.public_key.clone(),
                org_id: self.config.org_id.clone(),
                chain_height: self.chain_height,
                listen_port: self.config.listen_port,
                listen_address: self.config.listen_address.clone(),
                light: self.config.light.then_some(true),
                tls: self.config.tls.then_some(true),
                challenge,
            });
            self.send(conn, &hello, now);
        }
    }

    /// A dial did not produce a socket.
    pub fn on_dial_failed(&mut self, address: &str, now: u64) {
        self.schedule_redial(address, now);
    }

    /// A socket closed (either side).
    pub fn on_closed(&mut self, conn: ConnId, now: u64) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        if let Some(node_id) = &c.peer {
            if self.peers.get(node_id).is_some_and(|p| p.conn == conn) {
                let peer = self.peers.remove(node_id).expect("checked above");
                self.actions.push_back(Action::PeerDisconnected {
                    node_id: node_id.clone(),
                    reason: "connection closed".into(),
                });
                // Either side may redial: a full peer's advertised address becomes a target.
                if let Some(address) = peer.address {
                    let retry = self.learnt_retry(&peer.public_key, node_id);
                    self.targets.entry(address).or_insert(DialTarget {
                        node_id: Some(node_id.clone()),
                        configured: false,
                        retry,
                        attempt: 0,
                        due: None,
                    });
                }
                // Addresses that led to this peer are dialed again (unless it was self).
                let addresses: Vec<String> = self
                    .targets
                    .iter()
                    .filter(|(_, t)| t.node_id.as_deref() == Some(node_id) && t.due.is_none())
                    .map(|(a, _)| a.clone())
                    .collect();
                for address in addresses {
                    self.schedule_redial(&address, now);
                }
            }
        }
        if let Direction::Outbound { address } = &c.direction {
            let connected = c
                .peer
                .as_ref()
                .is_some_and(|id| self.peers.contains_key(id));
            if !connected && self.targets.get(address).is_some_and(|t| t.due.is_none()) {
                self.schedule_redial(address, now);
            }
        }
    }

    /// One text frame from a socket.
    pub fn on_frame(&mut self, conn: ConnId, frame: &str, now: u64) {
        self.receive(conn, frame.len(), || Envelope::decode(frame), now);
    }

    /// [`PeerManager::on_frame`] for a frame of `len` bytes the caller already decoded (off
    /// the node loop: large sync responses). Same checks, same order: a frame that should not
    /// have been decoded (over the handshake limit before the handshake, over the rate limit)
    /// is refused as it would be undecoded.
    pub fn on_decoded_frame(
        &mut self,
        conn: ConnId,
        len: usize,
        decoded: Result<Envelope, MessageError>,
        now: u64,
    ) {
        self.receive(conn, len, || decoded, now);
    }

    fn receive(
        &mut self,
        conn: ConnId,
        len: usize,
        decode: impl FnOnce() -> Result<Envelope, MessageError>,
        now: u64,
    ) {
        let Some(c) = self.conns.get_mut(&conn).filter(|c| !c.closing) else {
            return;
        };
        c.last_seen = now;
        let handshaken = c.peer.clone();
        let awaiting_proof = c.awaiting_proof.is_some();
        if !c.limit.allow(&self.config.rate, now) {
            let Some(from) = handshaken else {
                return self.close(
                    conn,
                    "frame rate limit exceeded before the handshake".into(),
                );
            };
            return self.offend(
                conn,
                &from,
                Offence::Flood,
                "frame rate limit exceeded".into(),
                now,
            );
        }
        if handshaken.is_none() && len > MAX_HANDSHAKE_FRAME_BYTES {
            let reason =
                format!("invalid handshake frame: {len} bytes exceeds {MAX_HANDSHAKE_FRAME_BYTES}");
            return self.close(conn, reason);
        }
        let envelope = match decode() {
            Ok(envelope) => envelope,
            Err(MessageError::UnknownType(kind)) if handshaken.is_some() => {
                // Newer peers may speak types we do not know; the reference ignores them too.
                let from = handshaken.expect("checked");
                let reason = format!("ignored unknown message type {kind:?}");
                return self.offend(conn, &from, Offence::UnknownType, reason, now);
            }
            Err(MessageError::Payload { kind, error }) if handshaken.is_some() => {
                let from = handshaken.expect("checked");
                let reason = format!("malformed {kind} payload: {error}");
                self.actions.push_back(Action::Malformed {
                    conn,
                    from: from.clone(),
                    kind,
                    reason,
                });
                return self.score(conn, &from, Offence::MalformedPayload, now);
            }
            Err(e) => {
                let reason = e.to_string();
                let Some(from) = handshaken else {
                    return self.close(conn, format!("invalid handshake frame: {reason}"));
                };
                return self.offend(conn, &from, Offence::MalformedFrame, reason, now);
            }
        };
        match (handshaken, envelope.message) {
            (None, Message::HandshakeProof(proof)) if awaiting_proof => {
                self.on_handshake_proof(conn, proof, now)
            }
            (None, other) if awaiting_proof => self.close(
                conn,
                format!("expected HANDSHAKE_PROOF, got {}", other.type_name()),
            ),
            (None, Message::Handshake(hello)) if self.is_inbound(conn) => {
                self.on_handshake(conn, hello, now)
            }
            (None, Message::HandshakeAck(ack)) if !self.is_inbound(conn) => {
                self.on_handshake_ack(conn, ack, now)
            }
            (None, other) => self.close(
                conn,
                format!("expected a handshake first, got {}", other.type_name()),
            ),
            (Some(from), Message::Ping(h)) => {
                self.set_height(&from, h.chain_height);
                let pong = Message::Pong(ChainHeight {
                    chain_height: self.chain_height,
                });
                self.send(conn, &pong, now);
                self.deliver(conn, from, Message::Ping(h));
            }
            (Some(from), Message::Pong(h)) => {
                self.set_height(&from, h.chain_height);
                self.deliver(conn, from, Message::Pong(h));
            }
            (Some(_), Message::PeerList(list)) => self.on_peer_list(list, now),
            (
                Some(from),
                Message::Handshake(_) | Message::HandshakeAck(_) | Message::HandshakeProof(_),
            ) => {
                let reason = "handshake repeated on an established connection".into();
                self.offend(conn, &from, Offence::RepeatedHandshake, reason, now)
            }
            (Some(from), message) => self.deliver(conn, from, message),
        }
    }

    /// Pings, dead-peer detection, handshake timeouts and due redials.
    pub fn tick(&mut self, now: u64) {
        let silent_limit = self.config.ping_interval_ms * self.config.missed_pings;
        let mut to_close = Vec::new();
        for (id, c) in &self.conns {
            if c.peer.is_none() && now >= c.opened_at + self.config.handshake_timeout_ms {
                to_close.push((
                    *id,
                    format!(
                        "no handshake within {} ms",
                        self.config.handshake_timeout_ms
                    ),
                ));
            } else if c.peer.is_some() && now >= c.last_seen + silent_limit {
                to_close.push((*id, format!("silent for {} ms", now - c.last_seen)));
            }
        }
        for (id, reason) in to_close {
            self.close(id, reason);
            self.on_closed(id, now);
        }
        if now >= self.next_ping {
            self.next_ping = now + self.config.ping_interval_ms;
            self.broadcast(
                &Message::Ping(ChainHeight {
                    chain_height: self.chain_height,
                }),
                now,
            );
        }
        if !self.config.light && self.announcer.round_due(now) {
            self.share_list(now);
        }
        let full = self.peers.len() >= self.config.max_peers;
        for (address, target) in self.targets.iter_mut() {
            let Some(due) = target.due else { continue };
            if due > now {
                continue;
            }
            if target
                .node_id
                .as_ref()
                .is_some_and(|id| self.peers.contains_key(id))
            {
                target.due = None; // already connected through another socket
            } else if !full {
                target.due = None;
                self.actions.push_back(Action::Dial {
                    address: address.clone(),
                });
            }
        }
    }

    /// Sends to one connected peer; false if it is not connected.
    pub fn send_to(&mut self, node_id: &str, message: &Message, now: u64) -> bool {
        match self.peers.get(node_id) {
            Some(peer) => {
                let conn = peer.conn;
                self.send(conn, message, now);
                true
            }
            None => false,
        }
    }

    /// An offence by a connected (or recently connected) peer that the driver detected: an
    /// invalid block, an unsolicited response... Past the threshold the peer is closed and banned.
    pub fn report(&mut self, node_id: &str, offence: Offence, now: u64) {
        let conn = self.peers.get(node_id).map(|p| p.conn);
        self.score_peer(conn, node_id, offence, now);
    }

    /// As [`PeerManager::report`], for an offence seen on a socket (e.g. a binary frame).
    /// Before the handshake there is no identity to score: the socket is closed.
    pub fn report_conn(&mut self, conn: ConnId, offence: Offence, now: u64) {
        match self.conns.get(&conn).map(|c| c.peer.clone()) {
            Some(Some(node_id)) => self.score(conn, &node_id, offence, now),
            Some(None) => self.close(conn, format!("{} before the handshake", offence.name())),
            None => {}
        }
    }

    /// Every peer with a record (connected or not): scores, offence counts, bans.
    pub fn misbehaviour(&self, now: u64) -> Vec<Misbehaviour> {
        self.scores
            .records()
            .map(|(node_id, r): (&String, &Record)| Misbehaviour {
                node_id: node_id.clone(),
                score: r.score(now, &self.scores.config),
                offences: r.counts.clone(),
                banned_until: r.banned_until.filter(|&t| t > now),
                bans: r.bans,
            })
            .collect()
    }

    /// Sends to every connected peer, encoding the frame once.
    pub fn broadcast(&mut self, message: &Message, now: u64) {
        let frame: Arc<str> = self.encode(message, now).into();
        for peer in self.peers.values() {
            self.actions.push_back(Action::Send {
                conn: peer.conn,
                frame: frame.clone(),
            });
        }
    }

    fn encode(&self, message: &Message, now: u64) -> String {
        Envelope::new(self.config.node_id.clone(), now, message.clone()).encode()
    }

    fn send(&mut self, conn: ConnId, message: &Message, now: u64) {
        let frame = self.encode(message, now).into();
        self.actions.push_back(Action::Send { conn, frame });
    }

    fn close(&mut self, conn: ConnId, reason: String) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.closing = true;
        }
        self.actions.push_back(Action::Close { conn, reason });
    }

    /// A refused frame: logged by the driver as `Rejected` (with the offence's name), scored.
    fn offend(&mut self, conn: ConnId, from: &str, offence: Offence, reason: String, now: u64) {
        let reason = format!("{}: {reason}", offence.name());
        self.actions.push_back(Action::Rejected { conn, reason });
        self.score(conn, from, offence, now);
    }

    fn score(&mut self, conn: ConnId, from: &str, offence: Offence, now: u64) {
        self.score_peer(Some(conn), from, offence, now);
    }

    fn score_peer(&mut self, conn: Option<ConnId>, node_id: &str, offence: Offence, now: u64) {
        if !self.scores.report(node_id, offence, now) {
            return;
        }
        if let Some(conn) = conn {
            let ms = self.scores.config.ban_ms;
            let reason = format!(
                "banned {node_id} for {ms} ms: misbehaviour score reached {} (last offence: {})",
                self.scores.config.threshold,
                offence.name()
            );
            self.close(conn, reason);
        }
    }

    /// Inbound sockets currently open from `ip`.
    fn inbound_from(&self, ip: &str) -> usize {
        self.conns
            .values()
            .filter(|c| matches!(&c.direction, Direction::Inbound { remote_ip } if remote_ip == ip))
            .count()
    }

    fn deliver(&mut self, conn: ConnId, from: String, message: Message) {
        self.actions.push_back(Action::Message {
            conn,
            from,
            message,
        });
    }

    fn is_inbound(&self, conn: ConnId) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| matches!(c.direction, Direction::Inbound { .. }))
    }

    fn set_height(&mut self, node_id: &str, height: u64) {
        if let Some(peer) = self.peers.get_mut(node_id) {
            peer.chain_height = height;
        }
    }

    fn schedule_redial(&mut self, address: &str, now: u64) {
        let sample = self.rng.next_unit();
        let Some(target) = self.targets.get_mut(address) else {
            return;
        };
        if target.retry == Retry::Limited && target.attempt >= MAX_DISCOVERED_ATTEMPTS {
            self.targets.remove(address);
            return;
        }
        target.due = Some(now + self.config.backoff.delay_ms(target.attempt, sample));
        target.attempt = target.attempt.saturating_add(1);
    }

    /// Why a peer claiming `node_id`/`public_key` cannot be admitted, if it cannot.
    fn refusal(&self, node_id: &str, public_key: &str, now: u64) -> Option<String> {
        if node_id == self.config.node_id {
            return Some("self-connection".into());
        }
        if let Some(until) = self.scores.banned_until(node_id, now) {
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
        if !self.peers.contains_key(node_id) && self.peers.len() >= self.config.max_peers {
            return Some(format!("peer limit of {} reached", self.config.max_peers));
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
        if let Some(refusal) = self.refusal(&hello.node_id, &hello.public_key, now) {
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
        };
        if let (None, Some(theirs), Some((key, _))) = (&refusal, &hello.challenge, &self.auth) {
            ack.challenge_signature =
                Some(auth::sign(key, Role::Responder, theirs, &hello.public_key));
            ack.challenge = self.new_challenge();
        }
        self.send(conn, &Message::HandshakeAck(ack.clone()), now);
        if let Some(reason) = refusal {
            return self.close(
                conn,
                format!("refused handshake from {}: {reason}", hello.node_id),
            );
        }
        if offered {
            // Admitted once its HANDSHAKE_PROOF answers our challenge.
            if let Some(c) = self.conns.get_mut(&conn) {
                c.challenge = ack.challenge;
                c.awaiting_proof = Some(hello);
            }
            return;
        }
        self.admit_inbound(conn, hello, false, now);
    }

    /// The dialer's answer to our challenge: admit it, authenticated, or refuse it.
    fn on_handshake_proof(&mut self, conn: ConnId, proof: HandshakeProof, now: u64) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let (Some(hello), Some(challenge)) = (c.awaiting_proof.take(), c.challenge.clone()) else {
            return;
        };
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
        let Direction::Outbound { address } = self.conns[&conn].direction.clone() else {
            return;
        };
        if let Some(target) = self.targets.get_mut(&address) {
            if target.node_id.as_ref().is_some_and(|id| *id != ack.node_id) && !target.configured {
                // Listed as someone else: not the address of the key we keep dialing.
                target.retry = Retry::Limited;
            }
            target.node_id = Some(ack.node_id.clone());
        }
        let mut refusal = if ack.accepted {
            self.refusal(&ack.node_id, &ack.public_key, now)
        } else {
            // `reason` is optional: a refusal without one is still a refusal (found by
            // fuzzing: such an ack was admitted unchecked, even from our own nodeId).
            Some(ack.reason.clone().unwrap_or_else(|| "refused".into()))
        };
        let ours = self.conns[&conn].challenge.clone();
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
            if ack.node_id == self.config.node_id {
                self.targets.remove(&address); // our own address: never dial it again
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
        if let Some(target) = self.targets.get_mut(&address) {
            target.attempt = 0;
        }
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

    /// Registers a peer, replacing (and closing) a losing duplicate socket, and shares our
    /// peer list with it (both ends do: see `discovery.rs`).
    fn admit(&mut self, summary: PeerSummary, now: u64) {
        if let Some(old) = self.peers.remove(&summary.node_id) {
            if let Some(c) = self.conns.get_mut(&old.conn) {
                c.peer = None; // its close must not report the peer as gone
            }
            self.close(
                old.conn,
                "replaced by the preferred duplicate connection".into(),
            );
        }
        if let Some(c) = self.conns.get_mut(&summary.conn) {
            c.peer = Some(summary.node_id.clone());
        }
        self.peers.insert(summary.node_id.clone(), summary.clone());
        let conn = summary.conn;
        let advertised = !summary.light && summary.address.is_some();
        self.actions.push_back(Action::PeerConnected(summary));
        if self.config.light {
            return; // light nodes consume lists; they have no peers worth advertising
        }
        if advertised {
            self.announcer.changed(now);
        }
        self.share_list_on(conn, now);
    }

    /// Sends our current peer list on `conn` (an admitted peer's), unless it already has it.
    fn share_list_on(&mut self, conn: ConnId, now: u64) {
        let version = self.announcer.version();
        let Some(c) = self.conns.get_mut(&conn).filter(|c| c.shared < version) else {
            return;
        };
        c.shared = version;
        let Some(node_id) = c.peer.clone() else {
            return;
        };
        let list = self.peer_list_for(&node_id);
        self.send(conn, &Message::PeerList(list), now);
    }

    /// A round of list sharing: every peer behind the current version gets it.
    fn share_list(&mut self, now: u64) {
        let conns: Vec<ConnId> = self.peers.values().map(|p| p.conn).collect();
        for conn in conns {
            self.share_list_on(conn, now);
        }
    }

    /// How long a learnt address of `public_key` is redialed: forever for a `keep_dialing` key
    /// (one address per nodeId, so forged lists cannot pile up endless dials), else limited.
    fn learnt_retry(&self, public_key: &str, node_id: &str) -> Retry {
        let kept = self.config.keep_dialing.contains(public_key)
            && !self.targets.values().any(|t| {
                !t.configured && t.retry == Retry::Forever && t.node_id.as_deref() == Some(node_id)
            });
        if kept {
            Retry::Forever
        } else {
            Retry::Limited
        }
    }

    /// The connected full peers other than `except`, for discovery.
    fn peer_list_for(&self, except: &str) -> PeerList {
        let peers = self
            .peers
            .values()
            .filter(|p| p.node_id != except && !p.light)
            .filter_map(|p| {
                Some(PeerInfo {
                    node_id: p.node_id.clone(),
                    public_key: p.public_key.clone(),
                    address: p.address.clone()?,
                    org_id: p.org_id.clone(),
                })
            })
            .collect();
        PeerList { peers }
    }

    /// Learnt addresses to dial: well-formed entries of peers we are not connected to, that
    /// the admission lists would let in, up to `discovery.max_learnt` learnt targets.
    fn on_peer_list(&mut self, list: PeerList, now: u64) {
        let mut learnt = self.targets.values().filter(|t| !t.configured).count();
        for info in list.peers {
            let known =
                info.node_id == self.config.node_id || self.peers.contains_key(&info.node_id);
            let refused = !self
                .config
                .admission
                .may_dial(&info.public_key, &info.org_id);
            if known
                || refused
                || !discovery::well_formed(&info)
                || self.targets.contains_key(&info.address)
            {
                continue;
            }
            if learnt >= self.config.discovery.max_learnt {
                return;
            }
            learnt += 1;
            let retry = self.learnt_retry(&info.public_key, &info.node_id);
            self.targets.insert(
                info.address,
                DialTarget {
                    node_id: Some(info.node_id),
                    configured: false,
                    retry,
                    attempt: 0,
                    due: Some(now),
                },
            );
        }
    }
}
