//! The full node: one loop, on its own OS thread, owns the store, core's PeerManager, BlockSync
//! and Mempool, and reacts to socket events, timers and API commands (all through its inbox).
//! Protocol decisions are core's; this loop only connects them to sockets, the clocks and
//! SQLite.

mod apply;
mod blame;
mod catch_up;
mod clock;
mod consensus;
mod disk;
mod fatal;
mod inbox;
mod own_nonces;
mod produce;
mod progress;
mod reforward;
mod refusal_pacing;
mod respond;
mod sync_terms;
mod syncing;
mod verify;

pub use apply::{apply_block, apply_blocks, apply_verified, ApplyError, Rules, RunOutcome};
pub use clock::Clock;
pub use consensus::PIPELINE;
pub use fatal::Fatal;
pub use inbox::{Closed, Commands};
pub use produce::{seal, seal_run};

use crate::storage::{Reads, Store};
use crate::transport::{ConnHandle, Transport, TransportEvent};
use inbox::Input;
use miniledger_core::mempool::{AdmitError, Mempool};
use miniledger_core::net::{
    Action, Admission, ConnId, Misbehaviour, Offence, PeerConfig, PeerManager, PeerSummary,
    RateConfig,
};
use miniledger_core::protocol::{BlockAnnounce, Message, TxMessage};
use miniledger_core::raft::{RaftConfig, RaftStatus};
use miniledger_core::sync::{BlockSync, SyncConfig, SyncError};
use verify::VerifyPipeline;

/// Inputs taken in at once between two pieces of work (timers and production never wait
/// behind a longer stream of them).
const MAX_READY: usize = 4_096;

/// Frame bytes taken in at once between two pieces of work (big sync responses are applied as
/// they come rather than all decoded first).
const MAX_READY_FRAME_BYTES: usize = 1 << 20;

/// Blocks per sync request and per synced run.
const SYNC_BATCH: u64 = 25;

/// Synced runs the node holds at once: one being committed, one being verified.
const VERIFY_AHEAD: usize = 2;
use miniledger_core::{Block, Keypair, PayloadBody, Transaction};
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// What the node needs to run (resolved from the CLI and config file by `main`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub org_id: String,
    /// `host:port` to bind the P2P server to.
    pub p2p_bind: String,
    pub listen_address: Option<String>,
    pub peers: Vec<String>,
    /// Produce blocks from the mempool (solo consensus, this node a validator).
    pub produce: bool,
    pub rules: Rules,
    pub max_frame_bytes: usize,
    pub max_peers: usize,
    pub max_inbound_per_ip: usize,
    pub max_messages_per_second: u32,
    /// Who may connect as a full peer (`network.allowedKeys`, ...).
    pub admission: Admission,
    /// Consensus messages count only from authenticated connections (false in compat mode:
    /// MiniLedger 0.2 validators cannot authenticate).
    pub authenticated_consensus: bool,
    pub mempool_capacity: usize,
    /// Raft consensus (None: solo, see `produce`).
    pub raft: Option<RaftConfig>,
    /// TLS for the P2P server and `wss://` dials.
    pub tls: crate::tls::PeerTls,
    /// Our network (genesis and hash; None in compat mode): see `miniledger_core::genesis`.
    pub network: Option<miniledger_core::genesis::Network>,
}

/// A snapshot for the API and CLI.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub node_id: String,
    pub public_key: String,
    pub org_id: String,
    pub height: u64,
    pub tip_hash: String,
    pub peers: usize,
    pub mempool: usize,
    pub syncing: bool,
    pub sync_target: u64,
    /// Blocks applied through BlockSync since the node started (under Raft: a follower that
    /// fell behind the leader's retained window).
    pub synced_blocks: u64,
    /// Why the node cannot write blocks right now (disk full, read-only…), if it cannot:
    /// new transactions are then refused (see `node::disk`).
    pub disk_fault: Option<String>,
    /// Raft's view (None under solo); the API lays it out.
    #[serde(skip)]
    pub raft: Option<RaftStatus>,
}

/// Connected peers, every misbehaviour record, and when each connection last sent a frame.
pub type PeersReport = (Vec<PeerSummary>, Vec<Misbehaviour>, HashMap<ConnId, u64>);

/// How a transaction waited on with [`Command::WaitCommit`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome {
    /// In the block at this height.
    Committed(u64),
    /// Left the mempool without being committed (its nonce was taken by another transaction).
    Dropped,
}

/// Why a transaction from the API was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Admit(#[from] AdmitError),
    /// The node cannot write blocks (see [`Status::disk_fault`]).
    #[error("the node cannot store blocks ({0}); new transactions are refused until it can")]
    Disk(String),
}

/// Requests from the API.
pub enum Command {
    /// A transaction signed elsewhere: validate, hold and broadcast it.
    Submit(Transaction, oneshot::Sender<Result<(), SubmitError>>),
    /// A payload to sign with the node's own key. The nonce is chosen here, in the loop, so
    /// concurrent requests never pick the same one: the chain's next nonce, or one past the
    /// highest own transaction still pending, whichever is higher.
    SubmitOwn {
        body: PayloadBody,
        reply: oneshot::Sender<Result<Transaction, SubmitError>>,
    },
    /// Whether a transaction with this hash is waiting in the mempool.
    Pending(String, oneshot::Sender<bool>),
    /// Answers once the transaction with this hash is committed, or known not to be pending.
    WaitCommit(String, oneshot::Sender<WaitOutcome>),
    Status(oneshot::Sender<Status>),
    /// Connected peers, and the misbehaviour records of every peer that has one.
    Peers(oneshot::Sender<PeersReport>),
}

pub struct Node {
    key: Keypair,
    /// Monotonic for timers, wall for protocol timestamps (see `clock`).
    clock: Clock,
    settings: Settings,
    store: Store,
    peers: PeerManager,
    sync: BlockSync,
    mempool: Mempool,
    transport: Transport,
    conns: HashMap<ConnId, ConnHandle>,
    /// When each connection's last frame arrived (`lastSeen` in `/peers`).
    last_seen: HashMap<ConnId, u64>,
    /// Everything the loop reacts to (see `inbox`), and the API's way in.
    inbox: Receiver<Input>,
    commands: Commands,
    /// Nonce → hash of the transactions signed by this node's key that were admitted to the
    /// mempool and not yet committed (see `Command::SubmitOwn`).
    own_pending: BTreeMap<u64, String>,
    progress: progress::SyncProgress,
    verify: VerifyPipeline,
    raft: Option<consensus::Consensus>,
    /// Bumped whenever the mempool's content changes (admission, commit): the Raft leader
    /// retries building a block only after a change.
    mempool_changes: u64,
    /// `POST /tx?wait=commit` requests, by transaction hash.
    waiters: HashMap<String, Vec<oneshot::Sender<WaitOutcome>>>,
    /// See [`Status::synced_blocks`].
    synced_blocks: u64,
    disk: disk::DiskFault,
    /// Own nonces below this are durably reserved (see `own_nonces`).
    own_reserved: u64,
}

impl Node {
    /// Binds the P2P port; returns the node and the bound address.
    pub async fn start(
        key: Keypair,
        store: Store,
        settings: Settings,
        clock: Clock,
    ) -> std::io::Result<(Node, std::net::SocketAddr)> {
        let (inbox_tx, inbox) = inbox::channel();
        let sink = inbox_tx.clone();
        let sink = Arc::new(move |event| sink.send(Input::Transport(event)).is_ok());
        let transport = Transport::new(sink, settings.max_frame_bytes, settings.tls.clone());
        let bound = transport.listen(&settings.p2p_bind).await?;
        let mut config = PeerConfig::new(key.public_hex(), &settings.org_id, bound.port());
        config.listen_address = settings.listen_address.clone();
        config.tls = settings.tls.acceptor.is_some();
        config.max_peers = settings.max_peers;
        config.max_inbound_per_ip = settings.max_inbound_per_ip;
        config.rate = RateConfig {
            per_sec: settings.max_messages_per_second,
            burst: settings.max_messages_per_second.saturating_mul(2),
        };
        config.admission = settings.admission.clone();
        config.network = settings.network.clone();
        config.keep_dialing = settings.rules.validators.keys().iter().cloned().collect();
        let mut seed = [0u8; 40];
        getrandom::getrandom(&mut seed).map_err(|e| std::io::Error::other(e.to_string()))?;
        let (jitter, challenges) = seed.split_at(8);
        let jitter = u64::from_le_bytes(jitter.try_into().expect("8 bytes"));
        let mut peers = PeerManager::new(config, jitter);
        peers.enable_auth(key.clone(), challenges.try_into().expect("32 bytes"));
        peers.set_chain_height(store.height());
        let now = clock.monotonic_ms();
        peers.set_wall_clock(clock.wall_ms(), now);
        for address in &settings.peers {
            peers.add_address(address, now);
        }
        // Two runs with the node (one committing, the next being verified) and one more batch
        // on the way: the request window (in flight × batch) spans all three, so the verifiers
        // rarely wait for blocks while the loop commits. A fourth batch measured slower and
        // ~20 MB heavier (BENCHMARKS.md, sync).
        let sync_config = SyncConfig {
            max_outstanding_runs: VERIFY_AHEAD,
            max_in_flight: 3,
            max_in_flight_per_peer: 3,
            batch_size: SYNC_BATCH,
            max_run_blocks: SYNC_BATCH as usize,
            ..SyncConfig::default()
        };
        let sync = BlockSync::new(sync_config, store.height());
        let mempool = Mempool::new(settings.mempool_capacity);
        let raft = match &settings.raft {
            Some(config) => Some(
                consensus::Consensus::open(config.clone(), &store)
                    .map_err(std::io::Error::other)?,
            ),
            None => None,
        };
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let verify = VerifyPipeline::new(VERIFY_AHEAD, workers, settings.rules.clone(), {
            let inbox = inbox_tx.clone();
            // The receiver is gone only when the node is shutting down.
            Arc::new(move |done| {
                let _ = inbox.send(Input::Verified(done));
            })
        });
        let mut node = Node {
            key,
            clock,
            settings,
            store,
            peers,
            sync,
            mempool,
            transport,
            conns: HashMap::new(),
            last_seen: HashMap::new(),
            inbox,
            commands: inbox::commands(inbox_tx),
            own_pending: BTreeMap::new(),
            progress: progress::SyncProgress::default(),
            verify,
            raft,
            mempool_changes: 0,
            waiters: HashMap::new(),
            synced_blocks: 0,
            disk: disk::DiskFault::default(),
            own_reserved: 0,
        };
        node.restore_own_nonces()
            .map_err(|e| std::io::Error::other(format!("restoring own nonces: {e}")))?;
        Ok((node, bound))
    }

    /// The API's handle for sending commands to this node's loop.
    pub fn commands(&self) -> Commands {
        self.commands.clone()
    }

    /// Runs the loop on the calling thread (the node's own: it blocks on its inbox, SQLite and
    /// CPU work) until a condition it cannot run on. Sockets and the API run elsewhere, on the
    /// tokio runtime, and reach it through the inbox.
    pub fn run(mut self) -> Result<(), Fatal> {
        loop {
            // The envelopes' timestamps follow the wall clock, steps included.
            let now = self.clock.monotonic_ms();
            self.peers.set_wall_clock(self.clock.wall_ms(), now);
            self.drive()?;
            let now = self.clock.monotonic_ms();
            let deadline = self
                .sync
                .next_deadline()
                .map_or(self.peers.next_deadline(), |d| {
                    d.min(self.peers.next_deadline())
                })
                .min(self.raft_deadline().unwrap_or(u64::MAX));
            // Timers run at least once a second, and never wait behind a stream of inputs.
            let tick_at = now + deadline.saturating_sub(now).clamp(1, 1_000);
            match self
                .inbox
                .recv_timeout(Duration::from_millis(tick_at - now))
            {
                Ok(input) => self.on_input(input),
                Err(RecvTimeoutError::Timeout) => {}
                // Never while the node holds a sender itself; kept for completeness.
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            self.take_ready();
            let now = self.clock.monotonic_ms();
            if now >= tick_at {
                self.evict_early();
                self.peers.tick(now);
                for event in self.sync.tick(now) {
                    tracing::warn!(target: "sync", "{event:?}");
                }
            }
        }
    }

    fn on_input(&mut self, input: Input) {
        match input {
            Input::Transport(event) => self.on_transport(event),
            Input::Command(command, _slot) => self.on_command(command),
            Input::Verified(done) => self.verify.on_result(done),
        }
    }

    /// Handles up to [`MAX_READY`] inputs that have already arrived, and at most
    /// [`MAX_READY_FRAME_BYTES`] of frames (so timers still run and big sync responses are
    /// applied as they come rather than decoded all at once). Before `drive` seals a block:
    /// under load, the transactions submitted while the last block was being committed all go
    /// into the next one instead of one block each. Between two pieces of `drive`'s work: the
    /// sync frames and verification results that arrived meanwhile, so the next synced runs
    /// reach the verifiers while this loop commits.
    fn take_ready(&mut self) {
        let mut frame_bytes = 0;
        for _ in 0..MAX_READY {
            if frame_bytes >= MAX_READY_FRAME_BYTES {
                return;
            }
            let Ok(input) = self.inbox.try_recv() else {
                return;
            };
            if let Input::Transport(event) = &input {
                frame_bytes += event.frame_bytes();
            }
            self.on_input(input);
        }
    }

    /// Does all work that is ready: peer actions, sync requests and blocks, production.
    fn drive(&mut self) -> Result<(), Fatal> {
        loop {
            self.drain_peer_actions();
            let progressed = self.drive_sync() | self.produce() | self.raft_drive()?;
            if !progressed {
                self.drain_peer_actions();
                return Ok(());
            }
            self.take_ready();
        }
    }

    fn on_transport(&mut self, event: TransportEvent) {
        let now = self.clock.monotonic_ms();
        match event {
            TransportEvent::Opened {
                conn,
                direction,
                handle,
            } => {
                self.conns.insert(conn, handle);
                self.peers.on_open(conn, direction, now);
            }
            TransportEvent::Frame { conn, text, .. } => {
                self.last_seen.insert(conn, now);
                self.peers.on_frame(conn, &text, now);
            }
            TransportEvent::Decoded {
                conn,
                len,
                envelope,
                ..
            } => {
                self.last_seen.insert(conn, now);
                self.peers.on_decoded_frame(conn, len, *envelope, now);
            }
            TransportEvent::Refused { conn, reason, .. } => {
                tracing::warn!(target: "p2p", conn, "refused frame: binaryFrame: {reason}");
                self.peers.report_conn(conn, Offence::BinaryFrame, now);
            }
            TransportEvent::Closed { conn, reason } => {
                // Errors (an oversized frame, a protocol violation) say something about the peer.
                if reason.starts_with("socket error") {
                    tracing::warn!(target: "p2p", conn, "socket closed: {reason}");
                } else {
                    tracing::debug!(target: "p2p", conn, "socket closed: {reason}");
                }
                self.conns.remove(&conn);
                self.last_seen.remove(&conn);
                self.peers.on_closed(conn, now);
            }
            TransportEvent::DialFailed { address, error } => {
                tracing::debug!(target: "p2p", "dial {address} failed: {error}");
                self.peers.on_dial_failed(&address, now);
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Submit(tx, reply) => {
                let _ = reply.send(self.submit(tx));
            }
            Command::SubmitOwn { reply, .. } if self.disk.fault().is_some() => {
                let _ = reply.send(Err(self.disk.refusal()));
            }
            Command::SubmitOwn { body, reply } => {
                let nonce = self.next_own_nonce();
                if let Err(e) = self.reserve_own_nonce(nonce) {
                    let _ = reply.send(Err(e));
                    return;
                }
                let tx = Transaction::new_signed(&self.key, nonce, self.clock.wall_ms(), body);
                let _ = reply.send(self.submit(tx.clone()).map(|()| tx));
            }
            Command::Pending(hash, reply) => {
                let _ = reply.send(self.mempool.contains(&hash));
            }
            Command::WaitCommit(hash, reply) => self.wait_commit(hash, reply),
            Command::Status(reply) => {
                let tip = self.store.tip();
                let _ = reply.send(Status {
                    node_id: self.key.node_id().to_string(),
                    public_key: self.key.public_hex().to_string(),
                    org_id: self.settings.org_id.clone(),
                    height: tip.height,
                    tip_hash: tip.hash,
                    peers: self.peers.peers().count(),
                    mempool: self.mempool.len(),
                    syncing: self.sync.is_syncing(),
                    sync_target: self.sync.target_height(),
                    synced_blocks: self.synced_blocks,
                    disk_fault: self.disk.fault().map(str::to_string),
                    raft: self.raft_status(),
                });
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.peers_report());
            }
        }
    }

    /// `/peers`: the peer tables with their times (kept monotonic) as wall-clock times.
    fn peers_report(&self) -> PeersReport {
        let now = self.clock.monotonic_ms();
        let wall = |t: u64| self.clock.to_wall(t);
        let peers = (self.peers.peers().cloned())
            .map(|p| PeerSummary {
                connected_at: wall(p.connected_at),
                ..p
            })
            .collect();
        let records = (self.peers.misbehaviour(now).into_iter())
            .map(|m| Misbehaviour {
                banned_until: m.banned_until.map(wall),
                ..m
            })
            .collect();
        let last_seen = (self.last_seen.iter())
            .map(|(&conn, &t)| (conn, wall(t)))
            .collect();
        (peers, records, last_seen)
    }

    /// Admits a transaction from the API and broadcasts it (solo), or forwards it to the leader
    /// (Raft: only the leader needs it, and every other node then verifies it once, in a block).
    fn submit(&mut self, tx: Transaction) -> Result<(), SubmitError> {
        if self.disk.fault().is_some() {
            return Err(self.disk.refusal());
        }
        self.admit(tx.clone())?;
        self.spread(tx);
        Ok(())
    }

    fn spread(&mut self, tx: Transaction) {
        if self.raft.is_some() {
            self.raft_forward(tx);
        } else {
            self.peers.broadcast(
                &Message::TxBroadcast(TxMessage { transaction: tx }),
                self.clock.monotonic_ms(),
            );
        }
    }

    /// Registers a `?wait=commit` request (answering at once if it is already decided).
    fn wait_commit(&mut self, hash: String, reply: oneshot::Sender<WaitOutcome>) {
        match self.store.transaction(&hash) {
            Ok(Some((_, height))) => {
                let _ = reply.send(WaitOutcome::Committed(height));
            }
            _ if self.mempool.contains(&hash) => {
                self.waiters.entry(hash).or_default().push(reply);
            }
            _ => {
                let _ = reply.send(WaitOutcome::Dropped);
            }
        }
    }

    fn admit(&mut self, tx: Transaction) -> Result<(), AdmitError> {
        let own = (tx.sender == self.key.public_hex()).then(|| (tx.nonce, tx.hash.clone()));
        let wall = self.clock.wall_ms();
        self.mempool
            .admit(tx, &self.settings.rules.limits, &self.store, wall)?;
        self.mempool_changes += 1;
        if let Some((nonce, hash)) = own {
            self.own_pending.insert(nonce, hash);
        }
        Ok(())
    }

    /// The nonce for the next transaction signed by this node: one past the highest own
    /// transaction still pending, or the chain's next nonce if that is higher.
    fn next_own_nonce(&mut self) -> u64 {
        // A failed read yields 0: the signed transaction is then refused as a replay (or, with
        // own transactions pending, follows them), never stored with a wrong nonce.
        let chain = self.store.nonce(self.key.public_hex()).unwrap_or_else(|e| {
            tracing::error!(target: "mempool", "cannot read the node's own nonce: {e}");
            0
        });
        // Forget own transactions that were committed, or left the mempool otherwise.
        while self
            .own_pending
            .first_key_value()
            .is_some_and(|(&nonce, _)| nonce < chain)
        {
            self.own_pending.pop_first();
        }
        while self
            .own_pending
            .last_key_value()
            .is_some_and(|(_, hash)| !self.mempool.contains(hash))
        {
            self.own_pending.pop_last();
        }
        self.own_pending
            .last_key_value()
            .map_or(chain, |(&nonce, _)| chain.max(nonce + 1))
    }

    /// Transmits and events in the order the manager produced them (`poll`, not the split
    /// queues): handlers here write to sockets directly (`answer_range`), so a frame must not
    /// overtake what the manager queued before it (a HANDSHAKE_ACK), nor follow its Close.
    fn drain_peer_actions(&mut self) {
        while let Some(action) = self.peers.poll() {
            match action {
                Action::Send { conn, frame } => self.send_frame(conn, frame),
                Action::Close { conn, reason } => {
                    tracing::info!(target: "p2p", conn, "closing: {reason}");
                    if let Some(handle) = self.conns.get(&conn) {
                        handle.close(reason);
                    }
                }
                Action::Dial { address } => self.transport.dial(address),
                Action::PeerConnected(peer) => {
                    tracing::info!(target: "p2p", node_id = %peer.node_id, height = peer.chain_height, "peer:connected");
                    self.chase(&peer.node_id, peer.chain_height);
                    self.raft_update_learners();
                    if self.raft_is_leader(&peer.node_id) {
                        self.raft_forward_all();
                    }
                }
                Action::PeerDisconnected { node_id, reason } => {
                    tracing::info!(target: "p2p", %node_id, "peer:disconnected ({reason})");
                    self.sync.remove_peer(&node_id);
                    self.raft_update_learners();
                }
                Action::Rejected { conn, reason } => {
                    tracing::warn!(target: "p2p", conn, "rejected frame: {reason}")
                }
                Action::Malformed {
                    conn,
                    from,
                    kind,
                    reason,
                } => {
                    tracing::warn!(target: "p2p", conn, %from, "rejected frame: {reason}");
                    if self
                        .sync
                        .on_malformed(&from, kind, &reason, self.clock.monotonic_ms())
                    {
                        self.verify.drop_above(self.sync.delivered_height());
                    }
                }
                Action::Message {
                    conn,
                    from,
                    message,
                } => self.on_message(conn, from, message),
            }
        }
    }

    /// A slow peer whose queue is full is dropped rather than waited for.
    fn send_frame(&mut self, conn: ConnId, frame: Arc<str>) {
        if let Some(handle) = self.conns.get(&conn) {
            if !handle.send(frame) {
                tracing::warn!(target: "p2p", conn, "send queue full or closed: dropping the peer");
                handle.close("send queue full".into());
            }
        }
    }

    fn on_message(&mut self, conn: ConnId, from: String, message: Message) {
        let now = self.clock.monotonic_ms();
        match message {
            Message::Ping(h) | Message::Pong(h) => self.chase(&from, h.chain_height),
            Message::SyncRequest(range) => self.answer_range(conn, range, false),
            Message::BlockRequest(range) => self.answer_range(conn, range, true),
            Message::SyncResponse(r) => {
                if let Some(terms) = &r.terms {
                    self.raft_record_sync_terms(&from, &r.blocks, terms);
                }
                if let Err(e) = self.sync.on_response(&from, r.blocks, r.has_more, now) {
                    tracing::warn!(target: "sync", %from, "bad sync response: {e}");
                    if matches!(e, SyncError::Unsolicited { .. }) {
                        self.peers.report(&from, Offence::UnsolicitedResponse, now);
                    }
                }
            }
            Message::BlockResponse(r) => {
                if let Err(e) = self.sync.on_response(&from, r.blocks, false, now) {
                    tracing::debug!(target: "sync", %from, "block response: {e}");
                }
            }
            // Under Raft blocks arrive as log entries (or through BlockSync).
            Message::BlockAnnounce(_) if self.raft.is_some() => {}
            Message::BlockAnnounce(announce) => self.on_announce(&from, announce.block),
            Message::TxBroadcast(m) | Message::TxForward(m) => {
                let tx = m.transaction;
                let hash = tx.hash.clone();
                match self.admit(tx.clone()) {
                    Ok(()) => self.spread(tx),
                    Err(AdmitError::Duplicate) => {}
                    Err(e) => {
                        tracing::info!(target: "mempool", %from, "transaction {hash} refused: {e}");
                        if let Some(offence) = blame::transaction(&e) {
                            self.peers.report(&from, offence, now);
                        }
                    }
                }
            }
            Message::RequestVote(_)
            | Message::RequestVoteReply(_)
            | Message::AppendEntries(_)
            | Message::AppendEntriesReply(_) => self.raft_step(&from, &message),
            other => tracing::debug!(target: "p2p", %from, "ignoring {}", other.type_name()),
        }
    }

    /// Applies one block; logs and returns false if it is refused.
    fn apply(&mut self, block: &Block, from: Option<&str>) -> bool {
        let wall = self.clock.wall_ms();
        match apply_block(&mut self.store, block, &self.settings.rules, wall) {
            Ok(()) => {
                self.disk.on_written();
                self.on_committed(std::slice::from_ref(block));
                true
            }
            Err(e) if self.disk.on_failed(&e, self.clock.monotonic_ms()) => false,
            Err(e) => {
                tracing::warn!(target: "chain", from = from.unwrap_or("local"), "{e}");
                if let (Some(peer), Some(offence)) = (from, blame::block(&e)) {
                    self.peers.report(peer, offence, self.clock.monotonic_ms());
                }
                false
            }
        }
    }

    /// Bookkeeping after `blocks` (consecutive, now the top of the chain) were committed.
    fn on_committed(&mut self, blocks: &[Block]) {
        let Some(last) = blocks.last() else {
            return;
        };
        self.mempool_changes += 1;
        for block in blocks {
            self.mempool
                .remove_committed(&block.transactions, &self.store);
            tracing::debug!(target: "chain", height = block.height, txs = block.transactions.len(), "applied block");
            if !self.waiters.is_empty() {
                for tx in &block.transactions {
                    for reply in self.waiters.remove(&tx.hash).into_iter().flatten() {
                        let _ = reply.send(WaitOutcome::Committed(block.height));
                    }
                }
            }
        }
        self.answer_dropped_waiters();
        self.peers.set_chain_height(last.height);
    }

    /// The latest transaction timestamp a block built now may hold (validators allow a
    /// transaction `max_future_ms` after its block, which is stamped now or later).
    fn latest_tx_timestamp(&self) -> u64 {
        let max_future = self.settings.rules.limits.max_future_ms;
        self.clock.wall_ms().saturating_add(max_future)
    }

    /// Drops transactions no block could hold yet (see `Mempool::evict_early`): they were
    /// admitted before this node's wall clock stepped back. Their waiters learn they were
    /// dropped, and the node's own nonces after them are handed out again.
    fn evict_early(&mut self) {
        let dropped = self.mempool.evict_early(self.latest_tx_timestamp());
        if dropped.is_empty() {
            return;
        }
        tracing::warn!(target: "mempool", count = dropped.len(), "dropped transactions stamped too far ahead of this node's clock (it stepped back?)");
        self.mempool_changes += 1;
        self.answer_dropped_waiters();
    }

    /// Answers the waiters of transactions that left the mempool uncommitted: they never will
    /// be (a nonce taken, or evicted).
    fn answer_dropped_waiters(&mut self) {
        let mempool = &self.mempool;
        self.waiters.retain(|hash, replies| {
            let pending = mempool.contains(hash);
            if !pending {
                for reply in replies.drain(..) {
                    let _ = reply.send(WaitOutcome::Dropped);
                }
            }
            pending
        });
    }

    /// Solo consensus: seal whatever is ready into a block at once (up to 500 transactions).
    fn produce(&mut self) -> bool {
        if !self.settings.produce || self.sync.is_syncing() || self.mempool.is_empty() {
            return false;
        }
        if !self.disk.may_retry(self.clock.monotonic_ms()) {
            return false;
        }
        let limits = &self.settings.rules.limits;
        let latest = self.latest_tx_timestamp();
        let txs = self
            .mempool
            .ready(limits.max_txs_per_block, &self.store, latest);
        if txs.is_empty() {
            return false;
        }
        let (rules, wall) = (&self.settings.rules, self.clock.wall_ms());
        let block = match seal(&mut self.store, rules, &self.key, wall, txs) {
            Ok(block) => block,
            Err(e) if self.disk.on_failed(&e, self.clock.monotonic_ms()) => return false,
            Err(e) => {
                tracing::error!(target: "chain", "cannot produce a block: {e}");
                return false;
            }
        };
        self.disk.on_written();
        self.on_committed(std::slice::from_ref(&block));
        let now = self.clock.monotonic_ms();
        self.peers
            .broadcast(&Message::BlockAnnounce(BlockAnnounce { block }), now);
        true
    }
}
