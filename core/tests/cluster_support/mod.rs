//! A whole-cluster simulator: seeded and deterministic. 3–9 [`FullNode`]s (Raft: the first
//! three or five are validators, the rest observers) and light nodes on a simulated network:
//! random initial topologies (each node knows a few others), nodes joining late, partitions
//! that form and heal, connection resets (frames in flight lost), per-link delay (frames in
//! order on a connection, as over TCP), transactions submitted twice (to two nodes) and
//! replayed after they commit, crashes that keep only what the store made durable, and
//! per-node clock skew (wall and monotonic). Invariants are checked after every step; after
//! healing, convergence is checked (see [`Sim::run`]).

#![allow(dead_code)] // each test file uses part of the harness

mod fake;
mod scenario;
mod store;

#[allow(unused_imports)] // not every test file scripts peers
pub use fake::{envelope, Script, Ticker};
pub use store::MemStore;

use fake::Fake;

use miniledger_core::light::{Io, LightConfig, LightNode};
use miniledger_core::net::{ConnId, Direction, PeerConfig, Transmit};
use miniledger_core::node::{
    FullConfig, FullEvent, FullNode, Level, Mutation as NodeMutation, NodeStorage, Now,
    ReadBarrierError, Seeds, WaiterId,
};
use miniledger_core::pipeline::{ChainReads, Rules};
use miniledger_core::raft::RaftConfig;
use miniledger_core::rng::SplitMix;
use miniledger_core::validation::{check_transaction, CheckedTx, Limits, ValidatorSet};
use miniledger_core::Governance;
use miniledger_core::{Block, Keypair, PayloadBody, StateRootRule, Transaction};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Monotonic readings start here (each node adds its own offset).
const MONO_BASE: u64 = 1 << 32;
/// Wall clock at simulated time 0.
const WALL_BASE: u64 = 1_700_000_000_000;

/// Bugs put in by hand behind a test-only switch: each must be caught.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    None,
    /// One in the node (see `miniledger_core::node::Mutation`).
    Node(NodeMutation),
    /// A node's crash loses its last committed block (storage not durable).
    LoseLastBlockOnCrash,
}

impl Mutation {
    pub const ALL: [Mutation; 4] = [
        Mutation::Node(NodeMutation::KeepCommittedInMempool),
        Mutation::Node(NodeMutation::NoSpread),
        Mutation::Node(NodeMutation::NoHandoff),
        Mutation::LoseLastBlockOnCrash,
    ];
}

/// See [`Sim::layout`].
#[derive(Debug, Clone)]
pub struct Layout {
    pub nodes: usize,
    /// Raft validators (the first nodes; the rest observers). 0: solo, node 0 produces.
    pub validators: usize,
    /// The nodes each node knows at start.
    pub seeds: Vec<Vec<usize>>,
    /// The nodes started at once (the others wait for `start_node`).
    pub started: Vec<usize>,
    /// More validator keys (scripted peers', see [`Sim::add_fake`]).
    pub extra_validators: Vec<String>,
}

impl Layout {
    /// `nodes` nodes, the first `validators` of them validators (0: solo), each knowing the
    /// ones before it, all started.
    pub fn chain_of(nodes: usize, validators: usize) -> Layout {
        Layout {
            nodes,
            validators,
            seeds: (0..nodes).map(|i| (0..i).collect()).collect(),
            started: (0..nodes).collect(),
            extra_validators: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Opts {
    pub seed: u64,
    pub mutation: Mutation,
}

/// One end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    Full(usize),
    Light(usize),
    /// A scripted peer ([`Sim::add_fake`]).
    Fake(usize),
}

struct Link {
    a: End,
    b: End,
    /// When the last frame each way is delivered (frames on a connection stay in order).
    last_at: [u64; 2],
}

struct Full {
    key: Keypair,
    config: FullConfig,
    node: Option<FullNode<MemStore>>,
    /// The store while the node is down.
    stopped: Option<MemStore>,
    joined: bool,
    skew_ms: i64,
    mono_offset: u64,
    last_tick: u64,
    /// Simulated time the node's next timer is due (cached after each pump).
    due: u64,
    crashes: u32,
    /// Its height after its last crash, until the invariant check has seen it: a crash is a
    /// power failure, which may take back the blocks it had not synced yet (see `MemStore`).
    restarted_at: Option<u64>,
}

struct Light {
    node: LightNode,
    last_tick: u64,
    /// Its clock's reading when its next timer is due.
    due: u64,
}

struct Delivery {
    conn: ConnId,
    from: End,
    to: End,
    way: usize,
    frame: String,
}

/// A transaction a client got an acknowledgement for.
struct Acked {
    tx: Transaction,
    /// The nodes that acknowledged it.
    at: Vec<usize>,
    /// Whether every node that acknowledged it crashed afterwards (then it may be lost).
    lost_with: BTreeSet<usize>,
}

pub struct Sim {
    pub seed: u64,
    rng: SplitMix,
    now: u64,
    full: Vec<Full>,
    light: Vec<Light>,
    fakes: Vec<Fake>,
    links: BTreeMap<ConnId, Link>,
    next_conn: ConnId,
    in_flight: BTreeMap<(u64, u64), Delivery>,
    next_seq: u64,
    /// Partition group of each full node (None: one network).
    groups: Option<Vec<u8>>,
    rules: Rules,
    raft: bool,
    /// The chain every node's must be a prefix of (or extend): hashes by height.
    canonical: Vec<String>,
    canonical_txs: HashSet<String>,
    acked: Vec<Acked>,
    clients: u64,
    /// Per node: the length of its chain already checked against `canonical`.
    checked: Vec<usize>,
    /// Nodes given input since they were last run.
    touched: BTreeSet<End>,
    mutation: Mutation,
    /// Every log line of every full node (Info and above: "Warn sync: …"), once
    /// [`Sim::keep_logs`] is called.
    node_logs: Option<Vec<Vec<String>>>,
    /// Answers to `read_barrier` requests, by node and id.
    reads_ready: BTreeMap<(usize, WaiterId), Result<u64, ReadBarrierError>>,
    next_read: WaiterId,
    pub violations: Vec<String>,
    pub log: Vec<String>,
    pub stats: Stats,
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub height: u64,
    pub txs: usize,
    pub crashes: u32,
    pub partitions: u32,
    pub resets: u32,
}

fn peer_config(i: usize, key: &Keypair) -> PeerConfig {
    let mut peer = PeerConfig::new(key.public_hex(), "sim", 9000);
    peer.listen_address = Some(format!("10.0.0.{i}"));
    peer.max_peers = 16;
    peer
}

/// Full node `i` (not started). `raft`: the validators' keys (None: solo, node 0 produces).
#[allow(clippy::too_many_arguments)]
fn full_node(
    i: usize,
    key: Keypair,
    peer: PeerConfig,
    seeds: Vec<String>,
    rules: &Rules,
    raft: Option<&[String]>,
    skew_ms: i64,
    mono_offset: u64,
) -> Full {
    let raft_config = raft.map(|validators| {
        let mut c = RaftConfig::new(key.public_hex(), validators.to_vec());
        c.retained_entries = 16;
        c
    });
    let config = FullConfig {
        peer,
        seeds,
        produce: raft.is_none() && i == 0,
        rules: rules.clone(),
        max_frame_bytes: 16 << 20,
        authenticated_consensus: true,
        mempool_capacity: 10_000,
        raft: raft_config,
        verify_workers: 2,
        sync: FullConfig::default_sync(),
    };
    Full {
        key,
        config,
        node: None,
        stopped: Some(MemStore::new()),
        joined: false,
        skew_ms,
        mono_offset,
        last_tick: 0,
        due: 0,
        crashes: 0,
        restarted_at: None,
    }
}

fn address(i: usize) -> String {
    format!("ws://10.0.0.{i}:9000")
}

fn fake_index(address: &str) -> Option<usize> {
    address
        .strip_prefix("ws://10.0.2.")?
        .split(':')
        .next()?
        .parse()
        .ok()
}

fn index_of(address: &str) -> Option<usize> {
    address
        .strip_prefix("ws://10.0.0.")?
        .split(':')
        .next()?
        .parse()
        .ok()
}

impl Sim {
    pub fn new(opts: Opts) -> Sim {
        let mut rng = SplitMix::new(opts.seed);
        let n = rng.range(3, 10) as usize;
        let raft = rng.next_unit() < 0.75;
        let validators = if raft {
            if n >= 5 && rng.next_unit() < 0.3 {
                5
            } else {
                3
            }
        } else {
            1
        };
        let keys: Vec<Keypair> = (0..n)
            .map(|i| {
                let mut seed = [0u8; 32];
                seed[..8].copy_from_slice(&opts.seed.to_le_bytes());
                seed[8] = i as u8;
                seed[9] = 1;
                Keypair::from_seed(seed)
            })
            .collect();
        let validator_keys: Vec<String> = keys[..validators]
            .iter()
            .map(|k| k.public_hex().to_string())
            .collect();
        let rules = Rules {
            validators: ValidatorSet::new(validator_keys.clone()),
            limits: Limits::default(),
            state_root: StateRootRule::Tree,
            governance: Governance::OnChain,
        };
        let full = keys
            .into_iter()
            .enumerate()
            .map(|(i, key)| {
                let peer = peer_config(i, &key);
                // Random initial topology: each node knows one to three others, one of them
                // started before it (so the graph is connected; discovery must do the rest).
                let known = rng.range(0, 3) as usize;
                let mut seeds: Vec<String> = (0..known)
                    .map(|_| rng.range(0, n as u64) as usize)
                    .filter(|&j| j != i)
                    .map(address)
                    .collect();
                if i > 0 {
                    seeds.push(address(rng.range(0, i as u64) as usize));
                }
                let skew_ms = rng.range(0, 4_001) as i64 - 2_000;
                let mono_offset = rng.range(0, 1 << 30);
                let raft = raft.then_some(&validator_keys[..]);
                full_node(i, key, peer, seeds, &rules, raft, skew_ms, mono_offset)
            })
            .collect();
        let lights = rng.range(0, 3) as usize;
        let light = (0..lights)
            .map(|j| {
                let mut config = LightConfig::new(rules.validators.clone());
                config.sync.batch_size = 10;
                let mut seed = [0u8; 32];
                seed[..8].copy_from_slice(&opts.seed.to_le_bytes());
                seed[8] = j as u8;
                seed[9] = 2;
                let mut node = LightNode::new(seed, opts.seed ^ j as u64, config);
                node.add_address(&address(j % n), 0);
                Light {
                    node,
                    last_tick: 0,
                    due: 0,
                }
            })
            .collect();
        let mut sim = Sim::assemble(opts.seed, rng, full, light, rules, raft, opts.mutation);
        let late = sim.rng.range(0, (n / 3 + 1) as u64) as usize;
        for i in 0..n - late {
            sim.start(i);
        }
        sim.note(format!(
            "{n} full nodes ({}), {lights} light, {late} late",
            if raft {
                format!("raft, {validators} validators")
            } else {
                "solo".into()
            }
        ));
        sim
    }

    /// A cluster laid out by hand, for scenario tests: no skew, no faults but the test's.
    pub fn layout(layout: Layout) -> Sim {
        let seed = 7;
        let keys: Vec<Keypair> = (0..layout.nodes)
            .map(|i| Keypair::from_seed([i as u8 + 1; 32]))
            .collect();
        let mut validator_keys: Vec<String> = (keys.iter().take(layout.validators.max(1)))
            .map(|k| k.public_hex().to_string())
            .collect();
        validator_keys.extend(layout.extra_validators.iter().cloned());
        let rules = Rules {
            validators: ValidatorSet::new(validator_keys.clone()),
            limits: Limits::default(),
            state_root: StateRootRule::Tree,
            governance: Governance::OnChain,
        };
        let raft = layout.validators > 0;
        let full = (keys.into_iter().enumerate())
            .map(|(i, key)| {
                let peer = peer_config(i, &key);
                let seeds = layout.seeds[i].iter().map(|&j| address(j)).collect();
                let raft = raft.then_some(&validator_keys[..]);
                full_node(i, key, peer, seeds, &rules, raft, 0, 0)
            })
            .collect();
        let rng = SplitMix::new(seed);
        let mut sim = Sim::assemble(seed, rng, full, Vec::new(), rules, raft, Mutation::None);
        for &i in &layout.started {
            sim.start(i);
        }
        sim
    }

    fn assemble(
        seed: u64,
        rng: SplitMix,
        full: Vec<Full>,
        light: Vec<Light>,
        rules: Rules,
        raft: bool,
        mutation: Mutation,
    ) -> Sim {
        let n = full.len();
        Sim {
            seed,
            rng,
            now: 0,
            full,
            light,
            fakes: Vec::new(),
            links: BTreeMap::new(),
            next_conn: 1,
            in_flight: BTreeMap::new(),
            next_seq: 0,
            groups: None,
            rules,
            raft,
            canonical: vec![Block::genesis().hash],
            canonical_txs: HashSet::new(),
            acked: Vec::new(),
            clients: 0,
            checked: vec![0; n],
            touched: BTreeSet::new(),
            mutation,
            node_logs: None,
            reads_ready: BTreeMap::new(),
            next_read: 1,
            violations: Vec::new(),
            log: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Starts (or restarts) node `i`.
    pub fn start_node(&mut self, i: usize) {
        self.start(i);
    }

    /// Crashes node `i` (its store is kept).
    pub fn crash_node(&mut self, i: usize) {
        self.crash(i);
    }

    /// Node `i`'s public key (hex).
    pub fn public_key(&self, i: usize) -> String {
        self.full[i].key.public_hex().to_string()
    }

    /// Node `i`'s mempool size (None: down).
    pub fn mempool_len(&self, i: usize) -> Option<usize> {
        Some(self.full[i].node.as_ref()?.mempool().len())
    }

    /// Node `i`'s Raft view (None: down, or not under Raft).
    pub fn raft_status(&self, i: usize) -> Option<miniledger_core::raft::RaftStatus> {
        self.full[i].node.as_ref()?.status().raft
    }

    /// A transaction node `i` signs with its own key (a governance proposal, say).
    pub fn submit_own_to(&mut self, i: usize, body: PayloadBody) -> Result<String, String> {
        let n = self.now_of(i);
        let node = self.full[i].node.as_mut().ok_or("node down")?;
        let tx = node.submit_own(body, n).map_err(|e| e.to_string())?;
        self.touched.insert(End::Full(i));
        Ok(tx.hash)
    }

    /// A new client's transaction submitted to node `i`: its hash, or why it was refused.
    pub fn submit_to(&mut self, i: usize) -> Result<String, String> {
        self.clients += 1;
        let mut seed = [0xc0u8; 32];
        seed[..8].copy_from_slice(&self.clients.to_le_bytes());
        let key = Keypair::from_seed(seed);
        let value =
            serde_json::value::RawValue::from_string(self.clients.to_string()).expect("a number");
        let body = PayloadBody::StateSet {
            key: format!("k{}", self.clients),
            value,
        };
        let tx = Transaction::new_signed(&key, 0, WALL_BASE + self.now, body);
        let n = self.now_of(i);
        let node = self.full[i].node.as_mut().ok_or("node down")?;
        node.submit(checked(&tx), n).map_err(|e| e.to_string())?;
        self.touched.insert(End::Full(i));
        let hash = tx.hash.clone();
        self.acked.push(Acked {
            tx,
            at: vec![i],
            lost_with: BTreeSet::new(),
        });
        Ok(hash)
    }

    /// Runs `ms` of simulated time with no faults, checking the invariants at every step.
    pub fn run_for(&mut self, ms: u64) {
        let mut max_seen = vec![0u64; self.full.len()];
        let end = self.now + ms;
        while self.now < end {
            self.step(&mut max_seen);
            self.advance(end);
        }
    }

    /// Runs until the cluster has converged (see [`Sim::converged`]), at most `ms`; the
    /// simulated time it took.
    pub fn settle(&mut self, ms: u64) -> Result<u64, String> {
        let mut max_seen = vec![0u64; self.full.len()];
        let (start, end) = (self.now, self.now + ms);
        loop {
            self.step(&mut max_seen);
            if !self.violations.is_empty() {
                return Err(self.violations.join("; "));
            }
            if self.converged().is_ok() {
                return Ok(self.now - start);
            }
            if self.now >= end {
                return self.converged().map(|()| self.now - start);
            }
            self.advance(end);
        }
    }

    /// Node `i`'s chain height.
    /// Hands node `i` every frame in flight to it at once, then closes those connections
    /// before it handles any: what a driver does when it drops a peer (a full send queue) whose
    /// frames it already read. Returns how many frames.
    pub fn deliver_then_close(&mut self, i: usize) -> usize {
        let keys: Vec<(u64, u64)> = (self.in_flight.iter())
            .filter(|(_, d)| d.to == End::Full(i) && self.links.contains_key(&d.conn))
            .map(|(k, _)| *k)
            .collect();
        let mut conns = BTreeSet::new();
        let n = self.now_of(i);
        for key in &keys {
            let d = self.in_flight.remove(key).expect("listed");
            if let Some(node) = &mut self.full[i].node {
                node.on_frame(d.conn, &d.frame, n);
            }
            conns.insert(d.conn);
        }
        for conn in conns {
            self.drop_link(conn);
        }
        keys.len()
    }

    /// The offences node `i` recorded against its peers (nodeId, offence name, count).
    pub fn offences(&self, i: usize) -> Vec<(String, &'static str, u64)> {
        let Some(node) = &self.full[i].node else {
            return Vec::new();
        };
        let now = self.now_of(i).monotonic;
        (node.peers().misbehaviour(now).into_iter())
            .flat_map(|m| {
                let id = m.node_id.clone();
                m.offences.into_iter().map(move |(o, n)| (id.clone(), o, n))
            })
            .collect()
    }

    pub fn height(&self, i: usize) -> u64 {
        match (&self.full[i].node, &self.full[i].stopped) {
            (Some(node), _) => node.store().height(),
            (None, Some(store)) => store.height(),
            _ => 0,
        }
    }

    /// Whether the transaction is in the chain every node's is a prefix of.
    pub fn committed(&self, hash: &str) -> bool {
        self.canonical_txs.contains(hash)
    }

    fn note(&mut self, line: String) {
        self.log.push(format!("[{:>7} ms] {line}", self.now));
    }

    fn now_of(&self, i: usize) -> Now {
        let f = &self.full[i];
        Now {
            monotonic: MONO_BASE + f.mono_offset + self.now,
            wall: (WALL_BASE as i64 + self.now as i64 + f.skew_ms) as u64,
        }
    }

    fn light_now(&self) -> u64 {
        WALL_BASE + self.now
    }

    fn start(&mut self, i: usize) {
        let now = self.now_of(i);
        let store = self.full[i].stopped.take().expect("a stopped node");
        let seeds = Seeds {
            jitter: self.rng.next_u64(),
            challenges: {
                let mut c = [0u8; 32];
                for chunk in c.chunks_mut(8) {
                    chunk.copy_from_slice(&self.rng.next_u64().to_le_bytes());
                }
                c
            },
            raft: self.rng.next_u64(),
        };
        let f = &mut self.full[i];
        let mut node = FullNode::new(f.config.clone(), f.key.clone(), store, seeds, now)
            .expect("the node starts");
        if let Mutation::Node(m) = self.mutation {
            node.set_mutation(m);
        }
        f.node = Some(node);
        f.joined = true;
        f.due = 0;
        self.touched.insert(End::Full(i));
        f.last_tick = self.now;
        self.note(format!("start n{i}"));
    }

    fn crash(&mut self, i: usize) {
        let Some(node) = self.full[i].node.take() else {
            return;
        };
        let (mut store, lost) = node.into_store().power_loss();
        if !lost.is_empty() {
            let what = format!("n{i} lost committed blocks {lost:?} in a crash (not in its log)");
            self.violation(what);
        }
        self.full[i].restarted_at = Some(store.height());
        self.checked[i] = self.checked[i].min(store.blocks().len());
        if self.mutation == Mutation::LoseLastBlockOnCrash && store.height() > 0 {
            store = rebuild_without_last(store);
        }
        self.full[i].stopped = Some(store);
        self.full[i].crashes += 1;
        self.stats.crashes += 1;
        for a in &mut self.acked {
            if a.at.contains(&i) {
                a.lost_with.insert(i);
            }
        }
        let conns: Vec<ConnId> = (self.links.iter())
            .filter(|(_, l)| l.a == End::Full(i) || l.b == End::Full(i))
            .map(|(&c, _)| c)
            .collect();
        for conn in conns {
            self.drop_link(conn);
        }
        self.note(format!("crash n{i}"));
    }

    fn connected(&self, a: End, b: End) -> bool {
        let Some(groups) = &self.groups else {
            return true;
        };
        let group = |e: End| match e {
            End::Full(i) => Some(groups[i]),
            // Light nodes sit with the node they first reach.
            End::Light(j) => Some(groups[j % self.full.len()]),
            // Scripted peers reach every group.
            End::Fake(_) => None,
        };
        match (group(a), group(b)) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }

    fn is_up(&self, end: End) -> bool {
        match end {
            End::Full(i) => self.full[i].node.is_some(),
            End::Light(_) | End::Fake(_) => true,
        }
    }

    /// Closes a connection at both ends (frames in flight are lost).
    fn drop_link(&mut self, conn: ConnId) {
        let Some(link) = self.links.remove(&conn) else {
            return;
        };
        for end in [link.a, link.b] {
            self.closed(end, conn);
        }
    }

    fn closed(&mut self, end: End, conn: ConnId) {
        let now = self.now;
        self.touched.insert(end);
        match end {
            End::Full(i) => {
                let n = self.now_of(i);
                if let Some(node) = &mut self.full[i].node {
                    node.on_closed(conn, n);
                }
            }
            End::Light(j) => {
                let t = WALL_BASE + now;
                self.light[j].node.on_closed(conn, t);
            }
            End::Fake(k) => {
                self.fakes[k].handshaken.remove(&conn);
            }
        }
    }

    fn dial(&mut self, from: End, address: &str) {
        self.touched.insert(from);
        if let Some(k) = fake_index(address).filter(|&k| k < self.fakes.len()) {
            self.dial_fake(from, address, k);
            return;
        }
        let target = index_of(address).filter(|&i| i < self.full.len());
        let ok = target
            .is_some_and(|i| self.full[i].node.is_some() && self.connected(from, End::Full(i)));
        if !ok {
            match from {
                End::Full(i) => {
                    let n = self.now_of(i);
                    if let Some(node) = &mut self.full[i].node {
                        node.on_dial_failed(address, n);
                    }
                }
                End::Light(j) => {
                    let t = self.light_now();
                    self.light[j].node.on_dial_failed(address, t);
                }
                End::Fake(_) => {}
            }
            return;
        }
        let i = target.expect("checked");
        self.touched.insert(End::Full(i));
        let conn = self.next_conn;
        self.next_conn += 1;
        self.links.insert(
            conn,
            Link {
                a: from,
                b: End::Full(i),
                last_at: [0; 2],
            },
        );
        let remote_ip = match from {
            End::Full(k) => format!("10.0.0.{k}"),
            End::Light(j) => format!("10.0.1.{j}"),
            End::Fake(k) => format!("10.0.2.{k}"),
        };
        let n = self.now_of(i);
        (self.full[i].node.as_mut().expect("up")).on_open(
            conn,
            Direction::Inbound { remote_ip },
            n,
        );
        match from {
            End::Full(k) => {
                let n = self.now_of(k);
                let address = address.to_string();
                (self.full[k].node.as_mut().expect("up")).on_open(
                    conn,
                    Direction::Outbound { address },
                    n,
                );
            }
            End::Light(j) => {
                let t = self.light_now();
                self.light[j].node.on_open(conn, address, t);
            }
            End::Fake(_) => {}
        }
    }

    fn send(&mut self, from: End, conn: ConnId, frame: &str) {
        let Some(link) = self.links.get(&conn) else {
            return;
        };
        let (to, way) = if link.a == from {
            (link.b, 0)
        } else {
            (link.a, 1)
        };
        let delay = self.rng.range(1, 40);
        let link = self.links.get_mut(&conn).expect("present");
        let at = (self.now + delay).max(link.last_at[way]);
        link.last_at[way] = at;
        let seq = self.next_seq;
        self.next_seq += 1;
        let frame = frame.to_string();
        let delivery = Delivery {
            conn,
            from,
            to,
            way,
            frame,
        };
        self.in_flight.insert((at, seq), delivery);
    }

    fn deliver_due(&mut self) {
        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let delivery = entry.remove();
            if !self.links.contains_key(&delivery.conn) {
                continue;
            }
            if !self.connected(delivery.from, delivery.to) {
                let link = self.links.get_mut(&delivery.conn).expect("present");
                // A partition stalls the connection as it would a TCP stream: the frame (and
                // every later one on it) waits, in order, until the partition heals or the
                // connection is closed (health checks notice the silence).
                let at = (self.now + 100).max(link.last_at[delivery.way]);
                link.last_at[delivery.way] = at;
                let seq = self.next_seq;
                self.next_seq += 1;
                self.in_flight.insert((at, seq), delivery);
                continue;
            }
            let Delivery {
                conn, to, frame, ..
            } = delivery;
            self.touched.insert(to);
            match to {
                End::Full(i) => {
                    let n = self.now_of(i);
                    if let Some(node) = &mut self.full[i].node {
                        node.on_frame(conn, &frame, n);
                    }
                }
                End::Light(j) => {
                    let t = self.light_now();
                    self.light[j].node.on_frame(conn, &frame, t);
                }
                End::Fake(k) => {
                    let wall = self.light_now();
                    for reply in self.fakes[k].on_frame(conn, &frame, wall) {
                        self.send(End::Fake(k), conn, &reply);
                    }
                }
            }
        }
    }

    /// Runs node `i` until it has nothing left to do; pumps its outputs.
    fn pump_full(&mut self, i: usize) {
        let n = self.now_of(i);
        let f = &mut self.full[i];
        let Some(node) = f.node.as_mut() else {
            return;
        };
        if self.now >= f.last_tick + 1_000 || self.now >= f.due {
            node.tick(n);
            f.last_tick = self.now;
        }
        for _ in 0..10_000 {
            let n = self.now_of(i);
            let Some(node) = self.full[i].node.as_mut() else {
                return;
            };
            let progressed = match node.drive(n) {
                Ok(p) => p,
                Err(fatal) => {
                    self.violation(format!("n{i} stopped: {fatal}"));
                    self.crash(i);
                    return;
                }
            };
            let mut busy = progressed;
            while let Some(job) = node.poll_verify() {
                let done = job.run(node.rules());
                node.on_verified(done);
                busy = true;
            }
            let mut transmits = Vec::new();
            while let Some(t) = node.poll_transmit() {
                transmits.push(t);
            }
            while let Some(event) = node.poll_event() {
                match event {
                    FullEvent::Log {
                        level,
                        target,
                        message,
                    } => {
                        if level <= Level::Warn {
                            self.log
                                .push(format!("[{:>7} ms] n{i}: {message}", self.now));
                        }
                        if let Some(logs) = &mut self.node_logs {
                            if level <= Level::Info {
                                logs[i].push(format!("{level:?} {}: {message}", target.name()));
                            }
                        }
                    }
                    FullEvent::ReadReady { id, result } => {
                        self.reads_ready.insert((i, id), result);
                    }
                    _ => {}
                }
            }
            busy |= !transmits.is_empty();
            for t in transmits {
                match t {
                    Transmit::Send { conn, frame } => self.send(End::Full(i), conn, &frame),
                    Transmit::Close { conn, .. } => self.drop_link(conn),
                    Transmit::Dial { address } => self.dial(End::Full(i), &address),
                }
            }
            if !busy {
                if let Some(node) = &self.full[i].node {
                    let due = node.next_deadline().saturating_sub(n.monotonic);
                    self.full[i].due = self.now + due;
                }
                return;
            }
        }
        self.violation(format!("n{i} never went quiet"));
    }

    fn pump_light(&mut self, j: usize) {
        for _ in 0..10_000 {
            let t = self.light_now();
            let light = &mut self.light[j];
            if self.now >= light.last_tick + 1_000 || t >= light.due {
                light.node.tick(t);
                light.last_tick = self.now;
            }
            let mut busy = light.node.step(t);
            let mut ios = Vec::new();
            while let Some(io) = light.node.poll_io() {
                ios.push(io);
            }
            while light.node.poll_event().is_some() {}
            busy |= !ios.is_empty();
            for io in ios {
                match io {
                    Io::Send { conn, frame } => self.send(End::Light(j), conn, &frame),
                    Io::Close { conn, .. } => self.drop_link(conn),
                    Io::Dial { address } => self.dial(End::Light(j), &address),
                }
            }
            if !busy {
                self.light[j].due = self.light[j].node.next_deadline();
                return;
            }
        }
    }

    fn violation(&mut self, what: String) {
        self.note(format!("VIOLATION: {what}"));
        self.violations.push(what);
    }

    /// One chain prefix everywhere, no committed block lost, no transaction twice.
    fn check_safety(&mut self) {
        for i in 0..self.full.len() {
            let store = match (&self.full[i].node, &self.full[i].stopped) {
                (Some(node), _) => node.store(),
                (None, Some(store)) => store,
                _ => continue,
            };
            let blocks = store.blocks();
            // Chains only grow (a lost block is `max_seen_check`'s), so only what is new here
            // needs looking at.
            let from = self.checked[i].min(blocks.len()).max(1);
            self.checked[i] = blocks.len();
            let mut problems = Vec::new();
            let mut extend = Vec::new();
            for block in &blocks[from..] {
                let h = block.height as usize;
                if h < self.canonical.len() {
                    if self.canonical[h] != block.hash {
                        problems.push(format!(
                            "n{i} has block {h} {} where another node has {}",
                            &block.hash[..8],
                            &self.canonical[h][..8]
                        ));
                        break;
                    }
                } else {
                    extend.push(block.clone());
                }
            }
            for block in extend {
                for tx in &block.transactions {
                    if !self.canonical_txs.insert(tx.hash.clone()) {
                        problems.push(format!(
                            "transaction {} committed twice (again at {})",
                            &tx.hash[..8],
                            block.height
                        ));
                    }
                }
                self.canonical.push(block.hash.clone());
            }
            for p in problems {
                self.violation(p);
            }
        }
    }

    fn max_seen_check(&mut self, max_seen: &mut [u64]) {
        for (i, seen) in max_seen.iter_mut().enumerate() {
            if let Some(height) = self.full[i].restarted_at.take() {
                *seen = height;
            }
            let height = match (&self.full[i].node, &self.full[i].stopped) {
                (Some(node), _) => node.store().height(),
                (None, Some(store)) => store.height(),
                _ => continue,
            };
            if height < *seen {
                let what = format!("n{i} lost committed blocks: at {height} after {seen}");
                self.violation(what);
            }
            *seen = (*seen).max(height);
        }
    }

    fn submit_random(&mut self) {
        let up: Vec<usize> = (0..self.full.len())
            .filter(|&i| self.full[i].node.is_some())
            .collect();
        if up.is_empty() {
            return;
        }
        // Each client signs one transaction (nonce 0): a lost one blocks no later one.
        self.clients += 1;
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&self.seed.to_le_bytes());
        seed[8..16].copy_from_slice(&self.clients.to_le_bytes());
        seed[16] = 3;
        let key = Keypair::from_seed(seed);
        let body = PayloadBody::StateSet {
            key: format!("k{}", self.clients),
            value: serde_json::value::RawValue::from_string(self.clients.to_string())
                .expect("a number"),
        };
        let tx = Transaction::new_signed(&key, 0, WALL_BASE + self.now, body);
        // Sometimes to two nodes (a client retrying elsewhere).
        let copies = if self.rng.next_unit() < 0.3 { 2 } else { 1 };
        let mut at = Vec::new();
        for _ in 0..copies {
            let i = up[self.rng.range(0, up.len() as u64) as usize];
            let n = self.now_of(i);
            let node = self.full[i].node.as_mut().expect("up");
            self.touched.insert(End::Full(i));
            if node.submit(checked(&tx), n).is_ok() && !at.contains(&i) {
                at.push(i);
            }
        }
        if !at.is_empty() {
            self.acked.push(Acked {
                tx,
                at,
                lost_with: BTreeSet::new(),
            });
        }
    }

    /// A committed transaction submitted again must be refused.
    fn replay_random(&mut self) {
        let committed: Vec<&Acked> = (self.acked.iter())
            .filter(|a| self.canonical_txs.contains(&a.tx.hash))
            .collect();
        if committed.is_empty() {
            return;
        }
        let tx = committed[self.rng.range(0, committed.len() as u64) as usize]
            .tx
            .clone();
        let i = self.rng.range(0, self.full.len() as u64) as usize;
        let n = self.now_of(i);
        let Some(node) = self.full[i].node.as_mut() else {
            return;
        };
        // Only a node that has the commit can tell; one behind may hold it as pending.
        if node.store().contains_transaction(&tx.hash) && node.submit(checked(&tx), n).is_ok() {
            self.violation(format!(
                "n{i} accepted the committed transaction {} again",
                &tx.hash[..8]
            ));
        }
    }

    fn partition(&mut self) {
        let n = self.full.len();
        let groups: Vec<u8> = (0..n).map(|_| self.rng.range(0, 2) as u8).collect();
        self.note(format!("partition {groups:?}"));
        self.groups = Some(groups);
        self.stats.partitions += 1;
    }

    fn heal(&mut self) {
        if self.groups.take().is_some() {
            self.note("heal".into());
        }
    }

    fn reset_random(&mut self) {
        let conns: Vec<ConnId> = self.links.keys().copied().collect();
        if conns.is_empty() {
            return;
        }
        let conn = conns[self.rng.range(0, conns.len() as u64) as usize];
        self.stats.resets += 1;
        self.drop_link(conn);
    }

    /// The next moment anything is due: a delivery, a node's timer, or the next action.
    fn advance(&mut self, limit: u64) {
        let mut next = limit;
        if let Some((&(at, _), _)) = self.in_flight.first_key_value() {
            next = next.min(at);
        }
        for f in &self.full {
            if f.node.is_some() {
                next = next.min(f.due).min(f.last_tick + 1_000);
            }
        }
        for l in &self.light {
            let due = l.due.saturating_sub(self.light_now());
            next = next.min(self.now + due).min(l.last_tick + 1_000);
        }
        for f in &self.fakes {
            if let Some((every, _)) = &f.ticker {
                next = next.min(f.last_tick + every);
            }
        }
        // 5 ms steps: what falls due in between is handled together.
        self.now = next.max(self.now + 1).next_multiple_of(5);
    }

    fn step(&mut self, max_seen: &mut [u64]) {
        self.deliver_due();
        for i in 0..self.full.len() {
            let f = &self.full[i];
            if f.node.is_some() && (self.now >= f.due || self.now >= f.last_tick + 1_000) {
                self.touched.insert(End::Full(i));
            }
        }
        for j in 0..self.light.len() {
            let l = &self.light[j];
            if self.light_now() >= l.due || self.now >= l.last_tick + 1_000 {
                self.touched.insert(End::Light(j));
            }
        }
        self.tick_fakes();
        // Only nodes with something to do; pumping one may give another something (a dial).
        while let Some(end) = self.touched.pop_first() {
            match end {
                End::Full(i) => self.pump_full(i),
                End::Light(j) => self.pump_light(j),
                End::Fake(_) => {}
            }
        }
        self.check_safety();
        self.max_seen_check(max_seen);
    }

    /// Chaos for `chaos_ms`, then everything healed and restarted, and up to `settle_ms` to
    /// converge. Returns the violations found.
    pub fn run(&mut self, chaos_ms: u64, settle_ms: u64) -> Vec<String> {
        let mut max_seen = vec![0u64; self.full.len()];
        let mut next_action = 200;
        while self.now < chaos_ms {
            self.step(&mut max_seen);
            if self.now >= next_action {
                next_action = self.now + self.rng.range(100, 1_500);
                self.chaos();
            }
            self.advance(next_action.min(chaos_ms));
        }
        self.heal();
        for i in 0..self.full.len() {
            if self.full[i].node.is_none() {
                self.start(i);
            }
        }
        self.note("healed: every node up, one network".into());
        let end = self.now + settle_ms;
        while self.now < end {
            self.step(&mut max_seen);
            if !self.violations.is_empty() {
                break;
            }
            if self.converged().is_ok() {
                break;
            }
            self.advance(end);
        }
        if let Err(why) = self.converged() {
            self.violation(format!(
                "no convergence {settle_ms} ms after healing: {why}"
            ));
        }
        self.stats.height = self.canonical.len() as u64 - 1;
        self.stats.txs = self.canonical_txs.len();
        self.violations.clone()
    }

    fn chaos(&mut self) {
        let roll = self.rng.next_unit();
        let n = self.full.len();
        if roll < 0.45 {
            self.submit_random();
        } else if roll < 0.5 {
            self.replay_random();
        } else if roll < 0.6 {
            // A late joiner, or a crashed node, comes up.
            let down: Vec<usize> = (0..n).filter(|&i| self.full[i].node.is_none()).collect();
            if !down.is_empty() {
                let i = down[self.rng.range(0, down.len() as u64) as usize];
                self.start(i);
            }
        } else if roll < 0.68 {
            let up: Vec<usize> = (0..n).filter(|&i| self.full[i].node.is_some()).collect();
            if up.len() > 1 {
                let i = up[self.rng.range(0, up.len() as u64) as usize];
                self.crash(i);
            }
        } else if roll < 0.76 {
            self.partition();
        } else if roll < 0.86 {
            self.heal();
        } else {
            self.reset_random();
        }
    }

    /// After healing: a full mesh, one tip, mempools drained, every acknowledged transaction
    /// committed exactly once, light nodes on the same tip.
    pub fn converged(&self) -> Result<(), String> {
        let n = self.full.len();
        let nodes: Vec<&FullNode<MemStore>> =
            (self.full.iter()).filter_map(|f| f.node.as_ref()).collect();
        if nodes.len() != n {
            return Err("a node is down".into());
        }
        for (i, node) in nodes.iter().enumerate() {
            let full_peers = node.peers().peers().filter(|p| !p.light).count();
            if full_peers != n - 1 {
                return Err(format!("n{i} has {full_peers} full peers of {}", n - 1));
            }
        }
        let tip = nodes[0].store().tip();
        for (i, node) in nodes.iter().enumerate() {
            let t = node.store().tip();
            if t.hash != tip.hash {
                return Err(format!(
                    "n{i} at {} ({}), n0 at {} ({})",
                    t.height,
                    &t.hash[..8],
                    tip.height,
                    &tip.hash[..8]
                ));
            }
            if !node.mempool().is_empty() {
                return Err(format!(
                    "n{i} still holds {} transactions",
                    node.mempool().len()
                ));
            }
        }
        for a in &self.acked {
            let required = a.at.iter().any(|i| !a.lost_with.contains(i));
            if required && !self.canonical_txs.contains(&a.tx.hash) {
                return Err(format!(
                    "acknowledged transaction {} (at {:?}) not committed",
                    &a.tx.hash[..8],
                    a.at
                ));
            }
        }
        for (j, l) in self.light.iter().enumerate() {
            if l.node.tip().hash != tip.hash {
                return Err(format!(
                    "light l{j} at {}, the chain at {}",
                    l.node.height(),
                    tip.height
                ));
            }
        }
        Ok(())
    }
}

/// The store as it would be had its last block's commit not been durable (mutation).
fn rebuild_without_last(store: MemStore) -> MemStore {
    let blocks = &store.blocks()[1..store.blocks().len() - 1];
    let proposers: BTreeSet<String> = blocks.iter().map(|b| b.proposer.clone()).collect();
    let rules = Rules {
        validators: ValidatorSet::new(proposers),
        limits: Limits::default(),
        state_root: StateRootRule::Tree,
        governance: Governance::OnChain,
    };
    let mut fresh = MemStore::new();
    fresh
        .commit_synced(blocks, None, &rules, &[])
        .expect("in memory");
    fresh
}

/// What a client's transaction becomes once the driver checked it (the native node does this
/// on its admission thread).
fn checked(tx: &Transaction) -> CheckedTx {
    check_transaction(tx.clone(), &Limits::default()).expect("the simulator signs its transactions")
}
