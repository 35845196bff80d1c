//! PeerManager: the table of connections and peers, routing each input to its part.
//!
//! - `connection.rs`: one socket's state (which handshake step, or the admitted peer).
//! - `handshake.rs`: HANDSHAKE / ACK / PROOF, authentication and admission rules.
//! - `discovery.rs`: PEER_LIST sharing and the dial list (learnt and configured addresses,
//!   redialed with capped, jittered exponential backoff).
//! - `health.rs`: PING/PONG and timeouts.
//! - Here: the tables, frame intake (rate limit, handshake frame cap, decoding) and routing,
//!   and hostile peers: at most `max_inbound_per_ip` inbound sockets per IP; frames beyond the
//!   rate limit are dropped; offences (bad frames here, bad blocks and such from the driver via
//!   [`PeerManager::report`]) add to a score that bans the nodeId past a threshold (`score.rs`).
//! - Output (`output.rs`): [`Transmit`]s for the sockets and [`PeerEvent`]s for the layers above.

use super::auth::{Admission, Challenges};
use super::backoff::Backoff;
use super::connection::Connection;
use super::discovery::{Announcer, DialList, DiscoveryConfig};
pub use super::handshake::MAX_HANDSHAKE_FRAME_BYTES;
use super::output::{Outbox, PeerEvent, Transmit};
use super::rate::RateConfig;
use super::score::{Offence, Record, ScoreConfig, Scores};
use crate::protocol::{Envelope, Message, MessageError};
use crate::Keypair;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The driver's handle for one WebSocket.
pub type ConnId = u64;

/// Which limit a peer counts against: `max_peers` or `max_light_peers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    Full,
    Light,
}

impl PeerKind {
    pub fn of(light: bool) -> Self {
        if light {
            PeerKind::Light
        } else {
            PeerKind::Full
        }
    }
}

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
    /// Full peers (nodes that dial, sync, vote) connected at once.
    pub max_peers: usize,
    /// Light peers (handshake `light: true`) connected at once, counted apart from
    /// `max_peers`: many browser tabs must not crowd out the mesh, nor the mesh them.
    pub max_light_peers: usize,
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
    /// Our network (genesis and its hash): announced in handshakes, served on GENESIS_REQUEST;
    /// a peer announcing another hash is refused. None in compat mode and for light nodes.
    pub network: Option<crate::genesis::Network>,
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
            max_light_peers: 1_000,
            max_inbound_per_ip: 8,
            rate: RateConfig::default(),
            score: ScoreConfig::default(),
            backoff: Backoff::default(),
            admission: Admission::default(),
            keep_dialing: BTreeSet::new(),
            discovery: DiscoveryConfig::default(),
            network: None,
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

impl PeerSummary {
    /// Which limit it counts against.
    pub fn kind(&self) -> PeerKind {
        PeerKind::of(self.light)
    }
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

pub struct PeerManager {
    pub(super) config: PeerConfig,
    pub(super) chain_height: u64,
    pub(super) conns: BTreeMap<ConnId, Connection>,
    /// Connected peers by nodeId.
    pub(super) peers: BTreeMap<String, PeerSummary>,
    pub(super) dials: DialList,
    pub(super) next_ping: u64,
    out: Outbox,
    pub(super) scores: Scores,
    /// Our key and challenge source, once authentication is enabled.
    pub(super) auth: Option<(Keypair, Challenges)>,
    pub(super) announcer: Announcer,
    /// Wall clock minus the driver's `now` (see [`PeerManager::set_wall_clock`]).
    wall_offset: i64,
}

impl PeerManager {
    /// `seed` feeds backoff jitter (the driver draws it from its entropy source).
    pub fn new(config: PeerConfig, seed: u64) -> Self {
        PeerManager {
            chain_height: 0,
            conns: BTreeMap::new(),
            peers: BTreeMap::new(),
            dials: DialList::new(seed),
            next_ping: 0,
            out: Outbox::default(),
            scores: Scores::new(config.score),
            auth: None,
            announcer: Announcer::new(config.discovery, 0),
            config,
            wall_offset: 0,
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

    pub fn config(&self) -> &PeerConfig {
        &self.config
    }

    /// Every `now` this manager takes times its timers (health, backoff, bans, rate limits):
    /// a driver with a monotonic clock passes that, and tells the wall clock here, before
    /// sending, for the envelopes' `timestamp` (wall-clock ms). Without it, `now` is taken
    /// as the wall clock too.
    pub fn set_wall_clock(&mut self, wall_ms: u64, now: u64) {
        self.wall_offset = (wall_ms as i64).wrapping_sub(now as i64);
    }

    /// Who may connect as a full peer changed (an approved `update-config`): applies to
    /// handshakes from now on; connected peers stay.
    pub fn set_admission(&mut self, admission: super::auth::Admission) {
        self.config.admission = admission;
    }

    /// The validators' keys (whose learnt addresses are redialed forever) changed.
    pub fn set_keep_dialing(&mut self, keys: BTreeSet<String>) {
        self.config.keep_dialing = keys;
    }

    pub fn set_chain_height(&mut self, height: u64) {
        self.chain_height = height;
    }

    /// Next socket work for the driver, in order.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_transmit()
    }

    /// Next thing that happened, in order. Drain these before the transmits (see `output.rs`).
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.out.pop_event()
    }

    pub fn peers(&self) -> impl Iterator<Item = &PeerSummary> {
        self.peers.values()
    }

    pub fn peer(&self, node_id: &str) -> Option<&PeerSummary> {
        self.peers.get(node_id)
    }

    /// Connected peers of one kind.
    pub fn count(&self, kind: PeerKind) -> usize {
        self.peers.values().filter(|p| p.kind() == kind).count()
    }

    /// The most peers of `kind` connected at once.
    pub fn limit(&self, kind: PeerKind) -> usize {
        match kind {
            PeerKind::Full => self.config.max_peers,
            PeerKind::Light => self.config.max_light_peers,
        }
    }

    /// Adds an address to keep connected to (configured seeds, `join`); dialed at the next tick.
    pub fn add_address(&mut self, address: &str, now: u64) {
        self.dials.add_configured(address, now);
    }

    /// Earliest time `tick` has work to do.
    pub fn next_deadline(&self) -> u64 {
        let announce = (!self.config.light).then(|| self.announcer.deadline());
        [self.dials.deadline(), announce]
            .into_iter()
            .flatten()
            .fold(self.health_deadline(), u64::min)
    }

    /// A socket opened (accepted or dialed).
    pub fn on_open(&mut self, conn: ConnId, direction: Direction, now: u64) {
        let outbound = matches!(direction, Direction::Outbound { .. });
        let from_ip = match &direction {
            Direction::Inbound { remote_ip } => self.inbound_from(remote_ip),
            Direction::Outbound { .. } => 0,
        };
        let refused = from_ip >= self.config.max_inbound_per_ip;
        let challenge = (outbound && !refused)
            .then(|| self.new_challenge())
            .flatten();
        let c = Connection::new(direction, challenge.clone(), &self.config.rate, now);
        self.conns.insert(conn, c);
        if refused {
            let limit = self.config.max_inbound_per_ip;
            return self.close(
                conn,
                format!("limit of {limit} inbound sockets per IP reached"),
            );
        }
        if outbound {
            let hello = self.hello(challenge);
            self.send(conn, &hello, now);
        }
    }

    /// A dial did not produce a socket.
    pub fn on_dial_failed(&mut self, address: &str, now: u64) {
        self.dials
            .schedule_redial(address, &self.config.backoff, now);
    }

    /// A socket closed (either side).
    pub fn on_closed(&mut self, conn: ConnId, now: u64) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        if let Some(node_id) = c.peer() {
            if self.peers.get(node_id).is_some_and(|p| p.conn == conn) {
                let peer = self.peers.remove(node_id).expect("checked above");
                self.event(PeerEvent::Disconnected {
                    node_id: node_id.to_string(),
                    reason: "connection closed".into(),
                });
                self.redial_lost(peer, now);
            }
        }
        if let Direction::Outbound { address } = &c.direction {
            let connected = c.peer().is_some_and(|id| self.peers.contains_key(id));
            if !connected && self.dials.in_flight(address) {
                self.dials
                    .schedule_redial(address, &self.config.backoff, now);
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
        let Some(c) = self.conns.get_mut(&conn).filter(|c| !c.is_closing()) else {
            return;
        };
        c.last_seen = now;
        let handshaken = c.peer().map(str::to_string);
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
                self.event(PeerEvent::Malformed {
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
        let Some(from) = handshaken else {
            return self.on_handshake_frame(conn, envelope.message, now);
        };
        match envelope.message {
            Message::Ping(h) => self.on_ping(conn, from, h, now),
            Message::Pong(h) => self.on_pong(conn, from, h),
            Message::PeerList(list) => self.on_peer_list(list, now),
            Message::GenesisRequest(_) => self.send(conn, &self.genesis_response(), now),
            Message::GenesisResponse(_) => {
                let reason = "GENESIS_RESPONSE on an established connection".into();
                self.offend(conn, &from, Offence::UnsolicitedResponse, reason, now)
            }
            Message::Handshake(_) | Message::HandshakeAck(_) | Message::HandshakeProof(_) => {
                let reason = "handshake repeated on an established connection".into();
                self.offend(conn, &from, Offence::RepeatedHandshake, reason, now)
            }
            message => self.deliver(conn, from, message),
        }
    }

    /// Pings, dead-peer detection, handshake timeouts, list sharing and due redials.
    pub fn tick(&mut self, now: u64) {
        self.check_health(now);
        if !self.config.light && self.announcer.round_due(now) {
            self.share_list(now);
        }
        self.dial_due(now);
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
        match self.conns.get(&conn).map(|c| c.peer().map(str::to_string)) {
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
        self.broadcast_where(message, now, |_| true);
    }

    /// Sends to every connected peer of `kind`, encoding the frame once (one frame shared by
    /// a thousand light peers, not a thousand copies).
    pub fn broadcast_to(&mut self, kind: PeerKind, message: &Message, now: u64) {
        self.broadcast_where(message, now, |p| p.kind() == kind);
    }

    fn broadcast_where(&mut self, message: &Message, now: u64, to: impl Fn(&PeerSummary) -> bool) {
        let mut peers = self.peers.values().filter(|p| to(p)).peekable();
        if peers.peek().is_none() {
            return;
        }
        let frame: Arc<str> = self.encode(message, now).into();
        for peer in peers {
            self.out.transmit(Transmit::Send {
                conn: peer.conn,
                frame: frame.clone(),
            });
        }
    }

    /// Registers a peer, replacing (and closing) a losing duplicate socket, and shares our
    /// peer list with it (both ends do: see `discovery.rs`).
    pub(super) fn admit(&mut self, summary: PeerSummary, now: u64) {
        if let Some(old) = self.peers.remove(&summary.node_id) {
            if let Some(c) = self.conns.get_mut(&old.conn) {
                c.close_replaced();
            }
            self.close(
                old.conn,
                "replaced by the preferred duplicate connection".into(),
            );
        }
        if let Some(c) = self.conns.get_mut(&summary.conn) {
            c.admit(summary.node_id.clone());
        }
        self.peers.insert(summary.node_id.clone(), summary.clone());
        let conn = summary.conn;
        let advertised = !summary.light && summary.address.is_some();
        self.event(PeerEvent::Connected(summary));
        if self.config.light {
            return; // light nodes consume lists; they have no peers worth advertising
        }
        if advertised {
            self.announcer.changed(now);
        }
        self.share_list_on(conn, now);
    }

    /// The wall-clock time of a reading `t` of the driver's clock (see
    /// [`PeerManager::set_wall_clock`]): envelope timestamps and the ban time a refusal names.
    pub fn to_wall(&self, t: u64) -> u64 {
        t.saturating_add_signed(self.wall_offset)
    }

    fn encode(&self, message: &Message, now: u64) -> String {
        Envelope::new(
            self.config.node_id.clone(),
            self.to_wall(now),
            message.clone(),
        )
        .encode()
    }

    pub(super) fn send(&mut self, conn: ConnId, message: &Message, now: u64) {
        let frame = self.encode(message, now).into();
        self.out.transmit(Transmit::Send { conn, frame });
    }

    pub(super) fn transmit(&mut self, t: Transmit) {
        self.out.transmit(t);
    }

    fn event(&mut self, e: PeerEvent) {
        self.out.event(e);
    }

    pub(super) fn close(&mut self, conn: ConnId, reason: String) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.close();
        }
        self.out.transmit(Transmit::Close { conn, reason });
    }

    pub(super) fn deliver(&mut self, conn: ConnId, from: String, message: Message) {
        self.event(PeerEvent::Message {
            conn,
            from,
            message,
        });
    }

    /// A refused frame: logged by the driver as `Rejected` (with the offence's name), scored.
    fn offend(&mut self, conn: ConnId, from: &str, offence: Offence, reason: String, now: u64) {
        let reason = format!("{}: {reason}", offence.name());
        self.event(PeerEvent::Rejected { conn, reason });
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
}
