//! FullNode: a full peer of the mesh as a sans-IO state machine (the native `miniledger`
//! binary is one driver, the cluster simulator another).
//!
//! Composition: [`PeerManager`] (connections, handshake, discovery, health), [`BlockSync`]
//! (catching up), the [`Mempool`], core's block pipeline for every block that reaches the
//! chain, and a consensus [`Mode`]: solo (this node seals blocks, or follows a node that does)
//! or Raft.
//!
//! Driver contract:
//! - feed socket events (`on_open`, `on_frame`/`on_decoded_frame`, `on_refused_frame`,
//!   `on_closed`, `on_dial_failed`), API commands (`submit`, `submit_own`, `wait_commit`, ...)
//!   and verification results (`on_verified`), each with the current [`Now`];
//! - call `drive` while it returns true (each call does one piece of work: the driver takes in
//!   what arrived between two calls), and `tick` at `next_deadline`;
//! - after any call, drain `poll_transmit` (frames to send, sockets to close or open),
//!   `poll_verify` (stateless checks to run, off the loop if it likes: [`VerifyJob::run`]) and
//!   `poll_event` (logs, `wait_commit` answers, progress).
//!
//! Time: [`Now::monotonic`] drives every timer (deadlines, leases, bans, backoff); the wall
//! clock is read only for what the protocol timestamps (blocks, transactions, envelopes, the
//! future-timestamp check). Storage is the driver's, through [`NodeStorage`]; its calls are
//! synchronous and their return is the write's completion.

mod apply;
mod catch_up;
mod commands;
mod consensus;
mod disk;
mod events;
mod fatal;
mod handoff;
mod inputs;
mod membership;
mod output;
mod own_nonces;
mod produce;
mod reads;
mod reforward;
mod refusal_pacing;
mod respond;
mod storage;
mod sync_terms;
mod syncing;
mod verifying;

pub use apply::{blame_block, blame_transaction, ApplyError};
pub use commands::{Status, SubmitError};
pub use consensus::{Consensus, PIPELINE};
pub use events::{FullEvent, Level, Target, WaitOutcome, WaiterId};
pub use fatal::Fatal;
pub use own_nonces::FILLER_KEY;
pub use reads::ReadBarrierError;
pub use storage::{CommitItem, Durability, NodeStorage, RaftWrite, StorageError, SyncedRun};
pub use verifying::{PartDone, VerifyJob};

use crate::crypto::Keypair;
use crate::mempool::Mempool;
use crate::net::{PeerConfig, PeerManager, Transmit};
use crate::pipeline::Rules;
use crate::raft::RaftConfig;
use crate::sync::{BlockSync, SyncConfig};
use disk::DiskFault;
use output::Output;
use std::collections::{BTreeMap, HashMap};
use verifying::Verifying;

/// Blocks per sync request and per synced run.
pub const SYNC_BATCH: u64 = 25;

/// Synced runs the node holds at once: one being committed, one being verified.
pub const VERIFY_AHEAD: usize = 2;

/// The two clocks, read by the driver. `monotonic` never steps (timers only); `wall` is
/// milliseconds since the Unix epoch (protocol timestamps only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Now {
    pub monotonic: u64,
    pub wall: u64,
}

/// Entropy from the driver: reconnect jitter, authentication challenges, election timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Seeds {
    pub jitter: u64,
    pub challenges: [u8; 32],
    pub raft: u64,
}

/// What the node runs by.
#[derive(Debug, Clone)]
pub struct FullConfig {
    /// Our connection settings (the driver fills in the bound port, TLS, limits).
    pub peer: PeerConfig,
    /// Addresses to dial at start.
    pub seeds: Vec<String>,
    /// Produce blocks from the mempool (solo consensus, this node a validator).
    pub produce: bool,
    pub rules: Rules,
    pub max_frame_bytes: usize,
    /// Consensus messages count only from authenticated connections (false in compat mode:
    /// MiniLedger 0.2 validators cannot authenticate).
    pub authenticated_consensus: bool,
    pub mempool_capacity: usize,
    /// Raft consensus (None: solo, see `produce`).
    pub raft: Option<RaftConfig>,
    /// Parts each synced run is split into for the stateless checks (the driver's workers).
    pub verify_workers: usize,
    pub sync: SyncConfig,
}

impl FullConfig {
    /// BlockSync for the full node: two runs with the node (one committing, the next being
    /// verified) and one more batch on the way: the request window (in flight × batch) spans
    /// all three, so verification rarely waits for blocks while the node commits. A fourth
    /// batch measured slower and ~20 MB heavier (BENCHMARKS.md, sync).
    pub fn default_sync() -> SyncConfig {
        SyncConfig {
            max_outstanding_runs: VERIFY_AHEAD,
            max_in_flight: 3,
            max_in_flight_per_peer: 3,
            batch_size: SYNC_BATCH,
            max_run_blocks: SYNC_BATCH as usize,
            ..SyncConfig::default()
        }
    }
}

/// How this node takes part in consensus.
pub enum Mode {
    /// Solo consensus, this node the validator: seals the mempool into blocks.
    SoloProducer,
    /// Solo consensus, another node produces: follows announcements and BlockSync.
    SoloFollower,
    /// Raft: blocks are log entries, committed by a majority of validators.
    Raft(Box<Consensus>),
}

impl Mode {
    pub fn name(&self) -> &'static str {
        match self {
            Mode::SoloProducer => "solo producer",
            Mode::SoloFollower => "solo follower",
            Mode::Raft(_) => "raft",
        }
    }
}

/// Bugs put in by hand, for the cluster simulator's mutation checks only (each must be caught
/// by its invariants; see `core/tests/cluster_sim.rs`). Never set outside those tests.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mutation {
    #[default]
    None,
    /// Committed transactions stay in the mempool.
    KeepCommittedInMempool,
    /// Admitted transactions are not broadcast or forwarded.
    NoSpread,
    /// A solo follower never hands its pending transactions to the producer (`handoff`).
    NoHandoff,
}

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    RaftState(StorageError),
    #[error("raft configuration: {0}")]
    RaftConfig(String),
    #[error("restoring own nonces: {0}")]
    OwnNonces(StorageError),
}

pub struct FullNode<S: NodeStorage> {
    key: Keypair,
    now: Now,
    config: FullConfig,
    store: S,
    peers: PeerManager,
    sync: BlockSync,
    mempool: Mempool,
    mode: Mode,
    verify: Verifying,
    /// Nonce → hash of the transactions signed by this node's key that were admitted to the
    /// mempool and not yet committed (see `submit_own`).
    own_pending: BTreeMap<u64, String>,
    /// Own nonces below this are durably reserved (see `own_nonces`).
    own_reserved: u64,
    /// Bumped whenever the mempool's content changes (admission, commit): the Raft leader
    /// retries building a block only after a change.
    mempool_changes: u64,
    /// `wait_commit` requests, by transaction hash.
    waiters: HashMap<String, Vec<WaiterId>>,
    /// Linearizable reads waiting for this node to apply their read index.
    reads: reads::ReadBarriers,
    /// Blocks applied through BlockSync since the node started.
    synced_blocks: u64,
    disk: DiskFault,
    out: Output,
    /// Solo follower: pending transactions on their way to the producer.
    handoff: handoff::Handoff,
    mutation: Mutation,
    /// The validator set in force at the tip (`membership`).
    validators: crate::validation::ValidatorSet,
    /// Election-timeout seed, kept for a switch from solo to Raft.
    raft_seed: u64,
    /// Solo production's spacing of blocks for light peers.
    pace: produce::Pace,
}

impl<S: NodeStorage> FullNode<S> {
    pub fn new(
        mut config: FullConfig,
        key: Keypair,
        store: S,
        seeds: Seeds,
        now: Now,
    ) -> Result<Self, StartError> {
        let validators = Self::set_in_force(&store, &config.rules);
        config.peer.keep_dialing = validators.keys().iter().cloned().collect();
        config.peer.admission = Self::admission_in_force(&store, &config);
        // On-chain governance: the set in force decides the consensus, whatever the node was
        // started with (a restart after the network grew, or shrank to one validator).
        let mut after_solo = false;
        if config.rules.governance == crate::pipeline::Governance::OnChain {
            let me = key.public_hex().to_string();
            match (&mut config.raft, membership::wanted(&validators, &me)) {
                (Some(raft), _) => raft.validators = validators.keys().to_vec(),
                (None, membership::Wanted::Solo { producer }) => config.produce = producer,
                (None, membership::Wanted::Raft) => {
                    let mut raft = RaftConfig::new(key.public_hex(), validators.keys().to_vec());
                    raft.max_message_bytes = config.max_frame_bytes;
                    config.raft = Some(raft);
                    after_solo = true;
                }
            }
        }
        let mut peers = PeerManager::new(config.peer.clone(), seeds.jitter);
        peers.enable_auth(key.clone(), seeds.challenges);
        let height = store.tip().height;
        peers.set_chain_height(height);
        peers.set_wall_clock(now.wall, now.monotonic);
        for address in &config.seeds {
            peers.add_address(address, now.monotonic);
        }
        let sync = BlockSync::new(config.sync, height);
        let mempool = Mempool::new(config.mempool_capacity);
        let mode = match &config.raft {
            Some(raft) => Mode::Raft(Box::new(Consensus::open(
                raft.clone(),
                &store,
                &config.rules,
                seeds.raft,
                after_solo,
            )?)),
            None if config.produce => Mode::SoloProducer,
            None => Mode::SoloFollower,
        };
        let verify = Verifying::new(config.sync.max_outstanding_runs, config.verify_workers);
        let mut node = FullNode {
            key,
            now,
            config,
            store,
            peers,
            sync,
            mempool,
            mode,
            verify,
            own_pending: BTreeMap::new(),
            own_reserved: 0,
            mempool_changes: 0,
            waiters: HashMap::new(),
            reads: reads::ReadBarriers::default(),
            synced_blocks: 0,
            disk: DiskFault::default(),
            out: Output::default(),
            handoff: handoff::Handoff::default(),
            mutation: Mutation::None,
            validators,
            raft_seed: seeds.raft,
            pace: produce::Pace::default(),
        };
        node.restore_own_nonces().map_err(StartError::OwnNonces)?;
        Ok(node)
    }

    /// Test-only: see [`Mutation`].
    #[doc(hidden)]
    pub fn set_mutation(&mut self, mutation: Mutation) {
        self.mutation = mutation;
    }

    pub fn key(&self) -> &Keypair {
        &self.key
    }

    pub fn config(&self) -> &FullConfig {
        &self.config
    }

    pub fn rules(&self) -> &Rules {
        &self.config.rules
    }

    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, for a driver that must act on it directly (a simulated crash).
    pub fn into_store(self) -> S {
        self.store
    }

    pub fn peers(&self) -> &PeerManager {
        &self.peers
    }

    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    pub fn sync(&self) -> &BlockSync {
        &self.sync
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.take_transmits(&mut self.peers);
        self.out.io.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<FullEvent> {
        self.out.events.pop_front()
    }

    pub fn poll_verify(&mut self) -> Option<VerifyJob> {
        self.out.verify.pop_front()
    }

    /// A part of a synced run checked by the driver ([`VerifyJob::run`]).
    pub fn on_verified(&mut self, done: PartDone) {
        self.verify.on_result(done);
    }

    fn set_now(&mut self, now: Now) {
        self.now = now;
    }

    /// When `tick` is next due (monotonic).
    pub fn next_deadline(&self) -> u64 {
        let deadline = self
            .sync
            .next_deadline()
            .map_or(self.peers.next_deadline(), |d| {
                d.min(self.peers.next_deadline())
            });
        let handoff = match self.handoff.is_pending() {
            true => self.now.monotonic + 5,
            false => u64::MAX,
        };
        deadline
            .min(self.raft_deadline().unwrap_or(u64::MAX))
            .min(self.production_deadline().unwrap_or(u64::MAX))
            .min(handoff)
    }

    /// Timers: peer health, handshakes, redials; sync timeouts (Raft's run in `drive`).
    pub fn tick(&mut self, now: Now) {
        self.set_now(now);
        self.evict_early();
        self.peers.tick(now.monotonic);
        for event in self.sync.tick(now.monotonic) {
            self.out
                .log(Level::Warn, Target::Sync, format!("{event:?}"));
        }
    }

    /// Does one piece of the work that is ready: peer events, sync requests and blocks,
    /// production, Raft. True if anything happened (call again, after taking in what arrived).
    pub fn drive(&mut self, now: Now) -> Result<bool, Fatal> {
        self.set_now(now);
        // The envelopes' timestamps follow the wall clock, steps included.
        self.peers.set_wall_clock(now.wall, now.monotonic);
        self.drain_peer_events();
        let progressed =
            self.drive_sync() | self.produce() | self.raft_drive()? | self.handoff_chunk();
        if !progressed {
            self.drain_peer_events();
        }
        Ok(progressed)
    }

    fn log(&mut self, level: Level, target: Target, message: String) {
        self.out.log(level, target, message);
    }
}
