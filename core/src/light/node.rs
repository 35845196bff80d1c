//! LightNode: a light peer of the mesh as a sans-IO state machine.
//!
//! Composition: [`PeerManager`] with `light = true` (outbound only; the handshake says
//! `light: true`, so full nodes neither advertise it nor count it as a validator),
//! [`BlockSync`] for catching up, BLOCK_ANNOUNCE and PING/PONG heights for following, and a
//! [`LightVerifier`] that checks every block against the trusted validator set.
//!
//! Driver contract (the browser crate is one driver, the tests another):
//! - feed socket events (`on_open`, `on_dial_failed`, `on_closed`, `on_frame`) and call `tick`
//!   at `next_deadline`;
//! - call `step` while it returns true: each call verifies (or rejects) at most one block, so
//!   the driver can yield between calls and never block its event loop for long;
//! - after any call, drain `poll_io` (frames to send, sockets to close or open) and
//!   `poll_event` (what to show).
//!
//! Failover: PeerManager keeps up to `max_peers` connections (seeds plus PEER_LIST
//! discoveries) and redials with backoff; BlockSync spreads requests over the connected peers,
//! re-requests what a dropped peer owed, and skips for a while a peer that timed out or served
//! a block that failed verification.

use super::verifier::LightVerifier;
use crate::crypto::Keypair;
use crate::model::{Block, BlockHeader, PayloadBody, Transaction};
use crate::net::{ConnId, Direction, PeerConfig, PeerEvent, PeerManager, PeerSummary};
use crate::pipeline::Governance;
use crate::protocol::{Message, TxMessage};
use crate::sync::{BlockSync, PeerId, SyncConfig};
use crate::validation::{Limits, ValidationError, ValidatorSet};
use std::collections::{BTreeMap, VecDeque};

#[derive(Debug, Clone)]
pub struct LightConfig {
    /// The trust root: the only keys whose blocks are accepted (under on-chain governance the
    /// genesis set, which approved proposals change: the light node follows them itself).
    pub validators: ValidatorSet,
    pub governance: Governance,
    pub limits: Limits,
    pub org_id: String,
    /// Full nodes kept connected at once (more than one, for failover).
    pub max_peers: usize,
    /// Bounds of the recent-block window kept for `block(h)`.
    pub recent_blocks: usize,
    pub recent_bytes: usize,
    /// Senders whose nonces are tracked exactly (see [`super::NonceTracker`]).
    pub max_tracked_senders: usize,
    pub sync: SyncConfig,
    pub ping_interval_ms: u64,
}

impl LightConfig {
    /// Trusting a fixed validator set (a MiniLedger 0.2 network's).
    pub fn new(validators: ValidatorSet) -> Self {
        LightConfig {
            validators,
            governance: Governance::Recorded,
            limits: Limits::default(),
            org_id: "light".into(),
            max_peers: 4,
            recent_blocks: 256,
            recent_bytes: 8 << 20,
            max_tracked_senders: 65_536,
            // Small batches, many in flight: the first block can be verified as soon as a
            // few blocks have arrived (blocks may be 500 transactions each), and the window,
            // max_in_flight × batch_size = 40 blocks, bounds sync memory.
            sync: SyncConfig {
                max_in_flight: 8,
                max_in_flight_per_peer: 4,
                batch_size: 5,
                first_batch: 1,
                ..SyncConfig::default()
            },
            ping_interval_ms: 5_000,
        }
    }
}

impl LightConfig {
    /// A network known by its genesis document, as a node serves it (`GET /genesis`, the
    /// normalized document): refused unless it hashes to `expected` (when given). Trusts its
    /// validators, follows their changes through governance, and keeps its block limits.
    ///
    /// Read through `Value` and the canonical form rather than `Genesis::parse` (~6 KB of
    /// wasm): the hash is taken over the canonical document, so a document that matches the
    /// network's hash is that network's normalized genesis, field for field.
    #[cfg(feature = "light-governance")]
    pub fn from_genesis(text: &str, expected: Option<&str>) -> Result<Self, String> {
        let canonical =
            crate::canonical::canonicalize(text).map_err(|e| format!("genesis: {e}"))?;
        let hash = crate::hash::sha256_hex(&canonical);
        if let Some(expected) = expected.filter(|e| **e != hash) {
            return Err(format!(
                "genesis: its hash is {hash}, not the expected {expected}: another network"
            ));
        }
        let value: serde_json::Value =
            serde_json::from_str(&canonical).map_err(|e| format!("genesis: {e}"))?;
        let validators: Vec<String> = (value.get("validators").and_then(|v| v.as_array()))
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect();
        if validators.is_empty() || !validators.iter().all(|k| crate::hex::is_lower_hex(k, 32)) {
            return Err("genesis: validators: a non-empty list of public keys is required".into());
        }
        let mut limits = Limits::default();
        let parameter = |name: &str| value.get("parameters")?.get(name)?.as_u64();
        if let Some(n) = parameter("maxTxsPerBlock") {
            limits.max_txs_per_block = limits.max_txs_per_block.min(n as usize);
        }
        if let Some(n) = parameter("maxTxBytes") {
            limits.max_tx_bytes = limits.max_tx_bytes.min(n as usize);
        }
        Ok(LightConfig {
            governance: Governance::OnChain,
            limits,
            ..LightConfig::new(ValidatorSet::new(validators))
        })
    }
}

/// Socket work for the driver: the peer manager's, passed through.
pub use crate::net::Transmit as Io;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockSource {
    Sync,
    Announce,
}

impl BlockSource {
    pub fn name(self) -> &'static str {
        match self {
            BlockSource::Sync => "sync",
            BlockSource::Announce => "announce",
        }
    }
}

/// One block checked: its header fields, who served it, and the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockReport {
    pub height: u64,
    pub hash: String,
    pub previous_hash: String,
    pub timestamp: u64,
    pub proposer: String,
    pub tx_count: usize,
    pub peer: PeerId,
    pub source: BlockSource,
    pub result: Result<(), ValidationError>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LightEvent {
    PeerConnected(PeerSummary),
    PeerDisconnected {
        node_id: String,
        reason: String,
    },
    Block(BlockReport),
    /// Verified height and the highest height any peer claims (emitted when either changes).
    Progress {
        height: u64,
        target: u64,
    },
    /// A transaction submitted here is in a verified block.
    TxCommitted {
        hash: String,
        height: u64,
        block_hash: String,
    },
    /// Something a peer did wrong or a timeout, for the log (not fatal).
    Warning(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("no peer connected")]
    NoPeers,
}

pub struct LightNode {
    key: Keypair,
    peers: PeerManager,
    sync: BlockSync,
    verifier: LightVerifier,
    /// The sync run being verified, one block per `step`, and who served it.
    run: VecDeque<Block>,
    run_peer: PeerId,
    /// An announced block for height + 1, verified at the next `step`.
    announced: Option<(PeerId, Block)>,
    /// Own transactions not yet seen in a verified block, by hash.
    pending: BTreeMap<String, Transaction>,
    next_own_nonce: u64,
    io: VecDeque<Io>,
    events: VecDeque<LightEvent>,
    progress: (u64, u64),
}

impl LightNode {
    /// `identity_seed`: the ephemeral Ed25519 seed; `jitter_seed`: for reconnect jitter (both
    /// from the driver's entropy source).
    pub fn new(identity_seed: [u8; 32], jitter_seed: u64, config: LightConfig) -> Self {
        let key = Keypair::from_seed(identity_seed);
        let mut peer_config = PeerConfig::new(key.public_hex(), &config.org_id, 0);
        peer_config.light = true;
        peer_config.max_peers = config.max_peers.max(1);
        peer_config.ping_interval_ms = config.ping_interval_ms;
        let verifier = LightVerifier::new(
            config.validators,
            config.governance,
            config.limits,
            config.recent_blocks,
            config.recent_bytes,
            config.max_tracked_senders,
        );
        let mut peers = PeerManager::new(peer_config, jitter_seed);
        // Challenges are SHA-256(seed ‖ counter): they reveal nothing of the (secret, random)
        // identity seed, whose key comes from SHA-512(seed), so one seed serves both.
        peers.enable_auth(key.clone(), identity_seed);
        LightNode {
            key,
            peers,
            sync: BlockSync::new(config.sync, 0),
            verifier,
            run: VecDeque::new(),
            run_peer: PeerId::new(),
            announced: None,
            pending: BTreeMap::new(),
            next_own_nonce: 0,
            io: VecDeque::new(),
            events: VecDeque::new(),
            progress: (0, 0),
        }
    }

    pub fn public_key(&self) -> &str {
        self.key.public_hex()
    }

    pub fn node_id(&self) -> &str {
        self.key.node_id()
    }

    pub fn validators(&self) -> &ValidatorSet {
        self.verifier.validators()
    }

    pub fn verifier(&self) -> &LightVerifier {
        &self.verifier
    }

    pub fn height(&self) -> u64 {
        self.verifier.height()
    }

    pub fn tip(&self) -> &BlockHeader {
        self.verifier.tip()
    }

    /// The highest height a connected peer claims (or ours).
    pub fn target_height(&self) -> u64 {
        self.sync.target_height()
    }

    /// A verified block still in the recent window.
    pub fn block(&self, height: u64) -> Option<&Block> {
        self.verifier.block(height)
    }

    /// Connected peers, each with whether sync is skipping it at `now` (timed out or served
    /// an invalid block).
    pub fn peers(&self, now: u64) -> Vec<(PeerSummary, bool)> {
        let peers = self.peers.peers();
        peers
            .map(|p| (p.clone(), self.sync.is_abandoned(&p.node_id, now)))
            .collect()
    }

    /// Transactions submitted here and not yet committed.
    pub fn pending(&self) -> impl Iterator<Item = &Transaction> {
        self.pending.values()
    }

    pub fn poll_io(&mut self) -> Option<Io> {
        self.io.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<LightEvent> {
        self.events.pop_front()
    }

    /// A full node to keep connected to (dialed at once, redialed with backoff).
    pub fn add_address(&mut self, address: &str, now: u64) {
        self.peers.add_address(address, now);
        self.peers.tick(now);
        self.process(now);
    }

    /// The socket dialed for `address` opened.
    pub fn on_open(&mut self, conn: ConnId, address: &str, now: u64) {
        let address = address.to_string();
        self.peers
            .on_open(conn, Direction::Outbound { address }, now);
        self.process(now);
    }

    pub fn on_dial_failed(&mut self, address: &str, now: u64) {
        self.peers.on_dial_failed(address, now);
        self.process(now);
    }

    pub fn on_closed(&mut self, conn: ConnId, now: u64) {
        self.peers.on_closed(conn, now);
        self.process(now);
    }

    pub fn on_frame(&mut self, conn: ConnId, frame: &str, now: u64) {
        self.peers.on_frame(conn, frame, now);
        self.process(now);
    }

    /// Pings, health checks, redials, sync timeouts.
    pub fn tick(&mut self, now: u64) {
        self.peers.tick(now);
        for event in self.sync.tick(now) {
            self.events
                .push_back(LightEvent::Warning(format!("sync: {event:?}")));
        }
        self.process(now);
    }

    /// When `tick` next has work.
    pub fn next_deadline(&self) -> u64 {
        let peers = self.peers.next_deadline();
        self.sync.next_deadline().map_or(peers, |s| s.min(peers))
    }

    /// Verifies (or rejects) the next block if one is ready; false when there is nothing to
    /// do until more input arrives.
    pub fn step(&mut self, now: u64) -> bool {
        if self.run.is_empty() && !self.take_work(now) {
            return false;
        }
        if let Some(block) = self.run.pop_front() {
            let peer = self.run_peer.clone();
            if !self.verify(&peer, block, BlockSource::Sync, now) {
                self.run.clear();
            }
        }
        self.process(now);
        true
    }

    /// Signs `body` with the ephemeral key at the next own nonce and broadcasts it
    /// (TX_BROADCAST); a [`LightEvent::TxCommitted`] follows when a verified block holds it.
    pub fn submit(&mut self, body: PayloadBody, now: u64) -> Result<Transaction, SubmitError> {
        if self.peers.peers().next().is_none() {
            return Err(SubmitError::NoPeers);
        }
        let known = self.verifier.nonces().next_nonce(self.key.public_hex());
        let nonce = self.next_own_nonce.max(known.unwrap_or(0));
        let tx = Transaction::new_signed(&self.key, nonce, now, body);
        self.next_own_nonce = nonce + 1;
        self.pending.insert(tx.hash.clone(), tx.clone());
        let message = Message::TxBroadcast(TxMessage {
            transaction: tx.clone(),
        });
        self.peers.broadcast(&message, now);
        self.process(now);
        Ok(tx)
    }

    /// Loads the next block(s) to verify: an announced child of the tip, else a sync run.
    fn take_work(&mut self, now: u64) -> bool {
        let height = self.height();
        if let Some((peer, block)) = self.announced.take() {
            if block.height == height + 1 {
                self.verify(&peer, block, BlockSource::Announce, now);
                self.process(now);
                return true;
            }
        }
        let Some((peer, blocks)) = self.sync.next_ready() else {
            return false;
        };
        self.run = blocks.into_iter().filter(|b| b.height > height).collect();
        self.run_peer = peer;
        if self.run.is_empty() {
            self.sync.on_applied(height); // already verified by other means
        }
        true
    }

    /// Checks one block against the tip; commits it or reports why not. True if it verified.
    fn verify(&mut self, peer: &str, block: Block, source: BlockSource, now: u64) -> bool {
        let mut report = BlockReport {
            height: block.height,
            hash: block.hash.clone(),
            previous_hash: block.previous_hash.clone(),
            timestamp: block.timestamp,
            proposer: block.proposer.clone(),
            tx_count: block.transactions.len(),
            peer: peer.to_string(),
            source,
            result: Ok(()),
        };
        match self.verifier.check(&block, now) {
            Ok(checked) => {
                self.note_committed(&block);
                let height = block.height;
                self.verifier.commit(block, checked);
                self.sync.on_applied(height);
                self.peers.set_chain_height(height);
                self.events.push_back(LightEvent::Block(report));
                true
            }
            Err(e) => {
                self.sync.on_invalid(peer, &e.to_string(), now);
                report.result = Err(e);
                self.events.push_back(LightEvent::Block(report));
                false
            }
        }
    }

    fn note_committed(&mut self, block: &Block) {
        if self.pending.is_empty() {
            return;
        }
        for tx in &block.transactions {
            if self.pending.remove(&tx.hash).is_some() {
                self.events.push_back(LightEvent::TxCommitted {
                    hash: tx.hash.clone(),
                    height: block.height,
                    block_hash: block.hash.clone(),
                });
            }
        }
    }

    /// Routes PeerManager's output and sends due sync requests, until quiet.
    fn process(&mut self, now: u64) {
        loop {
            // Events first: what handling them sends queues behind the manager's own transmits.
            while let Some(event) = self.peers.poll_event() {
                self.on_peer_event(event, now);
            }
            self.io
                .extend(std::iter::from_fn(|| self.peers.poll_transmit()));
            let requests = self.sync.poll_requests(now);
            if requests.is_empty() {
                break;
            }
            for (peer, range) in requests {
                self.peers.send_to(&peer, &Message::SyncRequest(range), now);
            }
        }
        let progress = (self.height(), self.sync.target_height());
        if progress != self.progress {
            self.progress = progress;
            self.events.push_back(LightEvent::Progress {
                height: progress.0,
                target: progress.1,
            });
        }
    }

    fn on_peer_event(&mut self, event: PeerEvent, now: u64) {
        match event {
            PeerEvent::Connected(peer) => {
                self.sync.set_peer_height(&peer.node_id, peer.chain_height);
                // A node that restarted may have lost our pending transactions.
                for tx in self.pending.values() {
                    let message = Message::TxBroadcast(TxMessage {
                        transaction: tx.clone(),
                    });
                    self.peers.send_to(&peer.node_id, &message, now);
                }
                self.events.push_back(LightEvent::PeerConnected(peer));
            }
            PeerEvent::Disconnected { node_id, reason } => {
                self.sync.remove_peer(&node_id);
                self.events
                    .push_back(LightEvent::PeerDisconnected { node_id, reason });
            }
            PeerEvent::Message { from, message, .. } => self.on_message(from, message, now),
            PeerEvent::Rejected { conn, reason } => self
                .events
                .push_back(LightEvent::Warning(format!("frame on {conn}: {reason}"))),
            PeerEvent::Malformed {
                conn,
                from,
                kind,
                reason,
            } => {
                self.sync.on_malformed(&from, kind, &reason, now);
                self.events
                    .push_back(LightEvent::Warning(format!("frame on {conn}: {reason}")));
            }
        }
    }

    fn on_message(&mut self, from: String, message: Message, now: u64) {
        let result = match message {
            Message::Ping(h) | Message::Pong(h) => {
                self.sync.set_peer_height(&from, h.chain_height);
                Ok(())
            }
            Message::SyncResponse(r) => self.sync.on_response(&from, r.blocks, r.has_more, now),
            Message::BlockResponse(r) => self.sync.on_response(&from, r.blocks, false, now),
            Message::BlockAnnounce(announce) => {
                self.on_announce(from, announce.block);
                Ok(())
            }
            // A light node holds no mempool, serves no blocks and takes no part in consensus.
            _ => Ok(()),
        };
        if let Err(e) = result {
            self.events.push_back(LightEvent::Warning(e.to_string()));
        }
    }

    /// The tip's child is verified at the next `step` (unless a sync run is under way); a
    /// higher block only tells us the peer's height, and sync fetches the gap.
    fn on_announce(&mut self, from: String, block: Block) {
        let height = self.height();
        if block.height <= height {
            return;
        }
        let claimed = self.sync.peer_height(&from).unwrap_or(0).max(block.height);
        self.sync.set_peer_height(&from, claimed);
        if block.height == height + 1 && self.run.is_empty() && self.announced.is_none() {
            self.announced = Some((from, block));
        }
    }
}
