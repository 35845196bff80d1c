//! The full node's driver: core's sans-IO [`FullNode`] (every protocol decision: sync,
//! mempool, production, Raft, catch-up) connected to sockets (`transport`), SQLite (the
//! store, through core's `NodeStorage`), the API (commands through the inbox), a fixed
//! verifier pool and the two clocks. One loop, on its own OS thread, owns the node and reacts
//! to everything through its inbox.

mod apply;
mod clock;
mod inbox;
mod produce;
mod progress;
mod verify;

pub use apply::{apply_block, apply_blocks, apply_verified, ApplyError, Rules, RunOutcome};
pub use clock::Clock;
pub use inbox::{Closed, Commands};
pub use miniledger_core::node::{Fatal, Status, SubmitError, WaitOutcome, PIPELINE};
pub use produce::{build_run, commit_run, seal, seal_run, BuiltRun};

use crate::storage::Store;
use crate::transport::{ConnHandle, Framer, Transport, TransportEvent};
use inbox::Input;
use miniledger_core::mempool::AdmitError;
use miniledger_core::net::{
    Admission, ConnId, Misbehaviour, PeerConfig, PeerSummary, RateConfig, Transmit,
};
use miniledger_core::node::{
    FullConfig, FullEvent, FullNode, Level, Now, ReadBarrierError, Seeds, Target, WaiterId,
    VERIFY_AHEAD,
};
use miniledger_core::raft::RaftConfig;
use miniledger_core::validation::{check_transaction, check_transactions, Limits};
use miniledger_core::{PayloadBody, Transaction};
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// Inputs taken in at once between two pieces of work (timers and production never wait
/// behind a longer stream of them).
const MAX_READY: usize = 4_096;

/// Frame bytes taken in at once between two pieces of work (big sync responses are applied as
/// they come rather than all decoded first).
const MAX_READY_FRAME_BYTES: usize = 1 << 20;

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
    pub max_light_peers: usize,
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

/// Connected peers, every misbehaviour record, and when each connection last sent a frame.
pub type PeersReport = (Vec<PeerSummary>, Vec<Misbehaviour>, HashMap<ConnId, u64>);

/// One transaction of a [`Command::SubmitMany`].
pub enum Submission {
    /// Signed elsewhere: checked, held and broadcast.
    Signed(Transaction),
    /// To sign with the node's own key, at the next nonce.
    Own(PayloadBody),
}

/// Requests from the API.
pub enum Command {
    /// A transaction signed elsewhere: check, hold and broadcast it.
    Submit(Transaction, oneshot::Sender<Result<(), SubmitError>>),
    /// Many submissions at once (`POST /txs`), each answered on its own, in order (the hash, or
    /// why not); the signed ones' signatures are verified in one batch.
    SubmitMany(
        Vec<Submission>,
        oneshot::Sender<Vec<Result<String, SubmitError>>>,
    ),
    /// A payload to sign with the node's own key (the nonce is chosen in the loop, so
    /// concurrent requests never pick the same one).
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
    /// Answers once this node's state reflects every write committed before now (a
    /// linearizable read), with the height it reflects, or why it cannot.
    ReadBarrier(oneshot::Sender<Result<u64, ReadBarrierError>>),
}

pub struct Node {
    node: FullNode<Store>,
    /// Monotonic for timers, wall for protocol timestamps (see `clock`).
    clock: Clock,
    transport: Transport,
    conns: HashMap<ConnId, ConnHandle>,
    /// Frames a broadcast once for all the inbound sockets it goes to.
    framer: Framer,
    /// When each connection's last frame arrived (`lastSeen` in `/peers`).
    last_seen: HashMap<ConnId, u64>,
    /// Everything the loop reacts to (see `inbox`), and the API's way in.
    inbox: Receiver<Input>,
    commands: Commands,
    /// The single-transaction rules, checked on the loop before admission (see `on_command`).
    limits: Limits,
    progress: progress::SyncProgress,
    verifiers: verify::Pool,
    /// `POST /tx?wait=commit` requests the node answers later, by the id it was given.
    waiters: HashMap<WaiterId, oneshot::Sender<WaitOutcome>>,
    read_waiters: HashMap<WaiterId, oneshot::Sender<Result<u64, ReadBarrierError>>>,
    next_waiter: WaiterId,
}

impl Node {
    /// Binds the P2P port; returns the node and the bound address.
    pub async fn start(
        key: miniledger_core::Keypair,
        store: Store,
        settings: Settings,
        clock: Clock,
    ) -> std::io::Result<(Node, std::net::SocketAddr)> {
        let (inbox_tx, inbox) = inbox::channel();
        let sink = inbox_tx.clone();
        let sink = Arc::new(move |event| sink.send(Input::Transport(event)).is_ok());
        let transport = Transport::new(sink, settings.max_frame_bytes, settings.tls.clone());
        let bound = transport.listen(&settings.p2p_bind).await?;
        let mut peer = PeerConfig::new(key.public_hex(), &settings.org_id, bound.port());
        peer.listen_address = settings.listen_address.clone();
        peer.tls = settings.tls.acceptor.is_some();
        peer.max_peers = settings.max_peers;
        peer.max_light_peers = settings.max_light_peers;
        peer.max_inbound_per_ip = settings.max_inbound_per_ip;
        peer.rate = RateConfig {
            per_sec: settings.max_messages_per_second,
            burst: settings.max_messages_per_second.saturating_mul(2),
        };
        peer.admission = settings.admission.clone();
        peer.network = settings.network.clone();
        let mut seed = [0u8; 48];
        getrandom::getrandom(&mut seed).map_err(|e| std::io::Error::other(e.to_string()))?;
        let seeds = Seeds {
            jitter: u64::from_le_bytes(seed[..8].try_into().expect("8 bytes")),
            challenges: seed[8..40].try_into().expect("32 bytes"),
            raft: u64::from_le_bytes(seed[40..].try_into().expect("8 bytes")),
        };
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let config = FullConfig {
            peer,
            seeds: settings.peers.clone(),
            produce: settings.produce,
            rules: settings.rules.clone(),
            max_frame_bytes: settings.max_frame_bytes,
            authenticated_consensus: settings.authenticated_consensus,
            mempool_capacity: settings.mempool_capacity,
            raft: settings.raft.clone(),
            verify_workers: workers,
            sync: FullConfig::default_sync(),
        };
        let now = now(&clock);
        let node = FullNode::new(config, key, store, seeds, now).map_err(std::io::Error::other)?;
        // Every part of every run in flight fits, and as many again of runs voided while still
        // queued: `submit` waits (for a worker to take a part) only after repeated voids.
        let verifiers = verify::Pool::start(
            workers,
            2 * VERIFY_AHEAD * workers,
            settings.rules.clone(),
            {
                let inbox = inbox_tx.clone();
                // The receiver is gone only when the node is shutting down.
                Arc::new(move |done| {
                    let _ = inbox.send(Input::Verified(done));
                })
            },
        );
        let mut node = Node {
            node,
            clock,
            transport,
            conns: HashMap::new(),
            framer: Framer::default(),
            last_seen: HashMap::new(),
            inbox,
            commands: inbox::commands(inbox_tx),
            limits: settings.rules.limits,
            progress: progress::SyncProgress::default(),
            verifiers,
            waiters: HashMap::new(),
            read_waiters: HashMap::new(),
            next_waiter: 0,
        };
        node.flush();
        Ok((node, bound))
    }

    /// The API's handle for sending commands to this node's loop.
    pub fn commands(&self) -> Commands {
        self.commands.clone()
    }

    fn now(&self) -> Now {
        now(&self.clock)
    }

    /// Runs the loop on the calling thread (the node's own: it blocks on its inbox, SQLite and
    /// CPU work) until a condition it cannot run on. Sockets and the API run elsewhere, on the
    /// tokio runtime, and reach it through the inbox.
    pub fn run(mut self) -> Result<(), Fatal> {
        loop {
            self.drive()?;
            let now = self.clock.monotonic_ms();
            let deadline = self.node.next_deadline();
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
            if self.clock.monotonic_ms() >= tick_at {
                let now = self.now();
                self.node.tick(now);
                self.flush();
            }
        }
    }

    /// Does all work that is ready, taking in what arrived between two pieces of it: before
    /// the node seals a block, the transactions submitted while the last one was being
    /// committed (they all go into the next block instead of one block each); between two
    /// synced runs, the frames and verification results that arrived meanwhile (so the next
    /// runs reach the verifiers while the loop commits).
    fn drive(&mut self) -> Result<(), Fatal> {
        loop {
            let progressed = self.node.drive(self.now());
            self.flush();
            if !progressed? {
                return Ok(());
            }
            self.take_ready();
        }
    }

    fn on_input(&mut self, input: Input) {
        match input {
            Input::Transport(event) => self.on_transport(event),
            Input::Command(command, _slot) => self.on_command(command),
            Input::Verified(done) => self.node.on_verified(done),
        }
        self.flush();
    }

    /// Handles up to [`MAX_READY`] inputs that have already arrived, and at most
    /// [`MAX_READY_FRAME_BYTES`] of frames (so timers still run and big sync responses are
    /// applied as they come rather than decoded all at once).
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

    fn on_transport(&mut self, event: TransportEvent) {
        let now = self.now();
        match event {
            TransportEvent::Opened {
                conn,
                direction,
                handle,
            } => {
                self.conns.insert(conn, handle);
                self.node.on_open(conn, direction, now);
            }
            TransportEvent::Frame { conn, text, .. } => {
                self.last_seen.insert(conn, now.monotonic);
                self.node.on_frame(conn, &text, now);
            }
            TransportEvent::Decoded {
                conn,
                len,
                envelope,
                ..
            } => {
                self.last_seen.insert(conn, now.monotonic);
                self.node.on_decoded_frame(conn, len, *envelope, now);
            }
            TransportEvent::Refused { conn, reason, .. } => {
                self.node.on_refused_frame(conn, &reason, now);
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
                self.node.on_closed(conn, now);
            }
            TransportEvent::DialFailed { address, error } => {
                tracing::debug!(target: "p2p", "dial {address} failed: {error}");
                self.node.on_dial_failed(&address, now);
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        let now = self.now();
        match command {
            Command::Submit(tx, reply) => {
                // Checked here, one by one. Measured (BENCHMARKS.md, issue 19): batching these
                // checks on a thread of their own made the leader propose smaller blocks and
                // cost the three-validator bench 0.7-0.85x; the loop's pace sizes the blocks.
                let checked = if self.node.is_pending(&tx.hash) {
                    Err(AdmitError::Duplicate)
                } else {
                    check_transaction(tx, &self.limits).map_err(AdmitError::Invalid)
                };
                let answer = checked
                    .map_err(SubmitError::Admit)
                    .and_then(|checked| self.node.submit(checked, now));
                let _ = reply.send(answer);
            }
            Command::SubmitMany(items, reply) => {
                // Signed ones: a pending duplicate is refused before its signature is verified,
                // as above, the rest are checked together (one batched verification). Then
                // everything is submitted in the order given.
                enum Step {
                    Own(PayloadBody),
                    Duplicate,
                    Checked,
                }
                let mut fresh = Vec::new();
                let steps: Vec<Step> = (items.into_iter())
                    .map(|item| match item {
                        Submission::Own(body) => Step::Own(body),
                        Submission::Signed(tx) if self.node.is_pending(&tx.hash) => Step::Duplicate,
                        Submission::Signed(tx) => {
                            fresh.push(tx);
                            Step::Checked
                        }
                    })
                    .collect();
                let mut checked = check_transactions(fresh, &self.limits).into_iter();
                let answers = (steps.into_iter())
                    .map(|step| match step {
                        Step::Own(body) => self.node.submit_own(body, now).map(|tx| tx.hash),
                        Step::Duplicate => Err(SubmitError::Admit(AdmitError::Duplicate)),
                        Step::Checked => {
                            let verdict = checked.next().expect("a verdict per checked one");
                            let tx =
                                verdict.map_err(|e| SubmitError::Admit(AdmitError::Invalid(e)))?;
                            let hash = tx.transaction().hash.clone();
                            self.node.submit(tx, now).map(|()| hash)
                        }
                    })
                    .collect();
                let _ = reply.send(answers);
            }
            Command::SubmitOwn { body, reply } => {
                let _ = reply.send(self.node.submit_own(body, now));
            }
            Command::Pending(hash, reply) => {
                let _ = reply.send(self.node.is_pending(&hash));
            }
            Command::WaitCommit(hash, reply) => {
                let id = self.next_waiter_id();
                let answer = self.node.wait_commit(hash, id);
                answer_or_park(&mut self.waiters, id, reply, answer);
            }
            Command::ReadBarrier(reply) => {
                let id = self.next_waiter_id();
                let answer = self.node.read_barrier(id, now);
                answer_or_park(&mut self.read_waiters, id, reply, answer);
            }
            Command::Status(reply) => {
                let _ = reply.send(self.node.status());
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.peers_report());
            }
        }
    }

    fn next_waiter_id(&mut self) -> WaiterId {
        self.next_waiter += 1;
        self.next_waiter
    }

    /// `/peers`: the peer tables with their times (kept monotonic) as wall-clock times.
    fn peers_report(&self) -> PeersReport {
        let now = self.clock.monotonic_ms();
        let wall = |t: u64| self.clock.to_wall(t);
        let peers = self.node.peers();
        let summaries = (peers.peers().cloned())
            .map(|p| PeerSummary {
                connected_at: wall(p.connected_at),
                ..p
            })
            .collect();
        let records = (peers.misbehaviour(now).into_iter())
            .map(|m| Misbehaviour {
                banned_until: m.banned_until.map(wall),
                ..m
            })
            .collect();
        let last_seen = (self.last_seen.iter())
            .map(|(&conn, &t)| (conn, wall(t)))
            .collect();
        (summaries, records, last_seen)
    }

    /// Carries out what the node asked for: socket work, checks for the verifier pool, and
    /// its events (log lines, answers to waiting requests, sync progress).
    fn flush(&mut self) {
        while let Some(event) = self.node.poll_event() {
            self.on_event(event);
        }
        while let Some(job) = self.node.poll_verify() {
            self.verifiers.submit(job);
        }
        while let Some(transmit) = self.node.poll_transmit() {
            match transmit {
                Transmit::Send { conn, frame } => self.send_frame(conn, frame),
                Transmit::Close { conn, reason } => {
                    tracing::info!(target: "p2p", conn, "closing: {reason}");
                    if let Some(handle) = self.conns.get(&conn) {
                        handle.close(reason);
                    }
                }
                Transmit::Dial { address } => self.transport.dial(address),
            }
        }
    }

    fn on_event(&mut self, event: FullEvent) {
        match event {
            FullEvent::Log {
                level,
                target,
                message,
            } => log(level, target, &message),
            FullEvent::Waited { id, outcome } => {
                if let Some(reply) = self.waiters.remove(&id) {
                    let _ = reply.send(outcome);
                }
            }
            FullEvent::ReadReady { id, result } => {
                if let Some(reply) = self.read_waiters.remove(&id) {
                    let _ = reply.send(result);
                }
            }
            FullEvent::SyncProgress { height, target } => self.progress.update(height, target),
        }
    }

    /// A slow peer whose queue is full is dropped rather than waited for.
    fn send_frame(&mut self, conn: ConnId, frame: Arc<str>) {
        if let Some(handle) = self.conns.get(&conn) {
            if !handle.send(frame, &mut self.framer) {
                tracing::warn!(target: "p2p", conn, "send queue full or closed: dropping the peer");
                handle.close("send queue full".into());
            }
        }
    }
}

/// Sends the answer the node had at once, or keeps `reply` until the node's event for `id`.
fn answer_or_park<T>(
    parked: &mut HashMap<WaiterId, oneshot::Sender<T>>,
    id: WaiterId,
    reply: oneshot::Sender<T>,
    answer: Option<T>,
) {
    match answer {
        Some(answer) => {
            let _ = reply.send(answer);
        }
        None => {
            parked.insert(id, reply);
        }
    }
}

fn now(clock: &Clock) -> Now {
    Now {
        monotonic: clock.monotonic_ms(),
        wall: clock.wall_ms(),
    }
}

/// A line of the core node's log, under the tracing target it names.
fn log(level: Level, target: Target, message: &str) {
    macro_rules! at {
        ($target:literal) => {
            match level {
                Level::Error => tracing::error!(target: $target, "{message}"),
                Level::Warn => tracing::warn!(target: $target, "{message}"),
                Level::Info => tracing::info!(target: $target, "{message}"),
                Level::Debug => tracing::debug!(target: $target, "{message}"),
            }
        };
    }
    match target {
        Target::P2p => at!("p2p"),
        Target::Sync => at!("sync"),
        Target::Raft => at!("raft"),
        Target::Chain => at!("chain"),
        Target::Mempool => at!("mempool"),
    }
}
