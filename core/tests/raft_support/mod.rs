//! A deterministic cluster for Raft tests: N validators (plus learners) on a simulated network
//! with loss, duplication, reordering, delay and partitions, and crash-restarts that keep only
//! what was persisted through `Ready`. Entries are real signed blocks; every step is checked
//! against Raft's safety properties (`Checker`).
//!
//! Membership changes are blocks whose state root is a marker (`change_root`): "adda" or
//! "dead" then the node's index, so no block format change is needed. Every node's driver
//! derives its committed validator set from the change blocks it applied.

#![allow(dead_code)] // each test file uses part of the harness

use miniledger_core::hash::ZERO_HASH;
use miniledger_core::protocol::{Envelope, LogEntry, Message};
use miniledger_core::raft::{
    ConfigChange, ConfigChanges, EntryCheck, Event, HardState, ProposeError, Raft, RaftConfig,
    Ready, Restored, Role,
};
use miniledger_core::rng::SplitMix;
use miniledger_core::{Block, BlockHeader, Keypair};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Blocks with this state root are invalid: every node's `EntryCheck` refuses them.
pub const INVALID_ROOT: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

#[derive(Debug, Clone)]
pub struct Opts {
    pub validators: usize,
    pub learners: usize,
    pub election_ms: (u64, u64),
    pub heartbeat_ms: u64,
    pub retained: usize,
    pub max_message_bytes: usize,
    pub max_uncommitted: usize,
    pub max_inflight: usize,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            validators: 3,
            learners: 0,
            election_ms: (150, 300),
            heartbeat_ms: 50,
            retained: 16,
            max_message_bytes: 64 * 1024,
            max_uncommitted: 32,
            max_inflight: 4,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NetConfig {
    pub loss: f64,
    pub duplicate: f64,
    pub delay_ms: (u64, u64),
    /// Probability of a long delay (reordering across heartbeats).
    pub long_delay: f64,
    pub long_delay_ms: u64,
}

impl NetConfig {
    pub fn perfect() -> Self {
        NetConfig {
            loss: 0.0,
            duplicate: 0.0,
            delay_ms: (1, 3),
            long_delay: 0.0,
            long_delay_ms: 0,
        }
    }
}

const ADD_MARK: &str = "adda";
const REMOVE_MARK: &str = "dead";

/// The state root that marks a block as carrying `change` of node `node`.
pub fn change_root(add: bool, node: usize) -> String {
    let mark = if add { ADD_MARK } else { REMOVE_MARK };
    format!("{mark}{node:060x}")
}

/// The sim's `config_change`: reads the marker back (`keys`: every node's public key).
pub fn change_of(root: &str, keys: &[String]) -> Option<ConfigChange> {
    let node = usize::from_str_radix(root.get(4..)?, 16).ok()?;
    let key = keys.get(node)?.clone();
    match &root[..4] {
        ADD_MARK => Some(ConfigChange::AddValidator(key)),
        REMOVE_MARK => Some(ConfigChange::RemoveValidator(key)),
        _ => None,
    }
}

/// The sim's driver interface to Raft: block verification and change markers.
struct SimCheck<'a> {
    tip: &'a BlockHeader,
    keys: &'a [String],
}

impl ConfigChanges for SimCheck<'_> {
    fn config_change(&self, entry: &LogEntry) -> Option<ConfigChange> {
        change_of(&entry.block.state_root, self.keys)
    }
}

impl EntryCheck for SimCheck<'_> {
    fn verify(&mut self, before: &[LogEntry], entry: &LogEntry) -> Result<(), String> {
        verify_entry(self.tip, before, entry)
    }
}

/// The validator set after `changes` (in height order) on `genesis`.
fn fold_changes<'a>(
    genesis: &[String],
    changes: impl IntoIterator<Item = &'a ConfigChange>,
) -> Vec<String> {
    let mut set = genesis.to_vec();
    for change in changes {
        match change {
            ConfigChange::AddValidator(k) if !set.contains(k) => set.push(k.clone()),
            ConfigChange::RemoveValidator(k) => set.retain(|v| v != k),
            _ => {}
        }
    }
    set.sort();
    set
}

/// What survives a crash.
#[derive(Debug, Clone)]
pub struct Disk {
    pub hard: HardState,
    /// Applied committed blocks, index = height (genesis first), with their terms if known.
    pub chain: Vec<(BlockHeader, Option<u64>)>,
    /// The changes carried by applied blocks, by height.
    pub changes: BTreeMap<u64, ConfigChange>,
    /// Persisted entries not yet applied.
    pub entries: BTreeMap<u64, LogEntry>,
}

impl Disk {
    fn new() -> Self {
        Disk {
            hard: HardState::default(),
            chain: vec![(Block::genesis().header(), Some(0))],
            changes: BTreeMap::new(),
            entries: BTreeMap::new(),
        }
    }

    /// The committed validator set, from the genesis set and the applied change blocks.
    pub fn validators(&self, genesis: &[String]) -> Vec<String> {
        fold_changes(genesis, self.changes.values())
    }

    pub fn tip(&self) -> &BlockHeader {
        &self.chain.last().expect("genesis").0
    }

    fn restored(&self) -> Restored {
        let (commit, commit_term) = self.chain.last().cloned().expect("genesis");
        Restored {
            hard_state: self.hard.clone(),
            entries: self
                .entries
                .range(commit.height + 1..)
                .map(|(_, e)| e.clone())
                .collect(),
            commit,
            commit_term,
        }
    }
}

pub struct Node {
    pub key: Keypair,
    pub id: String,
    pub config: RaftConfig,
    pub raft: Option<Raft>,
    pub disk: Disk,
    pub restarts: u64,
    /// Crash while handling the next Ready, after this many of its steps (0: before persisting,
    /// 1: after the hard state, 2: after the entries, 3: after sending, 4: after applying).
    pub crash_at_stage: Option<u8>,
    /// The same, for the next Ready that changes the hard state (a vote or a new term).
    pub crash_with_hard_state: Option<u8>,
    pub events: Vec<Event>,
}

impl Node {
    pub fn raft(&self) -> &Raft {
        self.raft.as_ref().expect("node is up")
    }

    pub fn is_up(&self) -> bool {
        self.raft.is_some()
    }

    pub fn role(&self) -> Option<Role> {
        self.raft.as_ref().map(|r| r.role())
    }

    pub fn height(&self) -> u64 {
        self.disk.tip().height
    }
}

/// Raft's safety properties, checked incrementally as the cluster runs.
#[derive(Debug, Default)]
pub struct Checker {
    /// term → the node that led it.
    pub leaders: BTreeMap<u64, usize>,
    /// height → (block hash, term of the first node that saw it committed). That term is ≥ the
    /// term in which it was committed, so every leader of a later term must hold it.
    pub committed: BTreeMap<u64, (String, u64)>,
    /// (index, term) → block hash, over every entry any node ever persisted.
    pub entry_ids: HashMap<(u64, u64), String>,
    pub rejected_entries: usize,
    /// Coverage counters: how often the interesting paths ran.
    pub syncs: usize,
    pub truncations: usize,
    /// Validators added and removed by committed changes.
    pub added: usize,
    pub removed: usize,
    pub ready_crashes: usize,
    /// Linearizable reads in flight: (node, read id) → the height committed anywhere when the
    /// read was asked. Its read index must be at least that.
    pub reads: BTreeMap<(usize, u64), u64>,
    pub reads_served: usize,
    pub reads_refused: usize,
    /// (node, read id) of every read served.
    pub served: BTreeSet<(usize, u64)>,
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    /// The initial validators: nodes `0..validators`; the others start as learners.
    pub validators: usize,
    /// The genesis validator set (public keys) and every node's key, by node index.
    pub genesis: Vec<String>,
    pub keys: Vec<String>,
    /// Nodes that hear no leader sync from the peer with the longest chain at every `run_for`
    /// (the driver's `chases_peers`); a node whose configuration is behind (it does not know
    /// the leader as a validator) catches up only this way.
    pub chase: bool,
    pub opts: Opts,
    pub now: u64,
    pub rng: SplitMix,
    pub net: NetConfig,
    /// (deliver at, sequence) → (from, to, message).
    queue: BTreeMap<(u64, u64), (usize, usize, Message)>,
    seq: u64,
    /// Partition: node → group; messages between groups are dropped.
    pub groups: Option<Vec<u8>>,
    /// Cut links (from, to).
    pub cut: BTreeSet<(usize, usize)>,
    /// Probability that handling a Ready crashes the node at a random step.
    pub crash_in_ready: f64,
    /// Propose a block as soon as a new leader asks (`Ready::needs_block`); off, the leader
    /// sits on old-term entries until the next proposal, widening Figure 8's window.
    pub eager_blocks: bool,
    /// BlockSync serves each block's term with it (as an authenticated validator's
    /// SYNC_RESPONSE `terms` does); off, synced blocks have unknown terms (a 0.2 responder).
    pub sync_terms: bool,
    pub checker: Checker,
    pub seed: u64,
    /// Every message sent, when recording (scenarios inspect them).
    pub record: bool,
    pub sent: Vec<(usize, usize, Message)>,
}

fn node_key(seed: u64, i: usize) -> Keypair {
    let mut rng = SplitMix::new(seed ^ (i as u64 + 1).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95));
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    Keypair::from_seed(bytes)
}

/// The sim's block verification: the parent link, the hash, and the "invalid" marker.
fn verify_entry(tip: &BlockHeader, before: &[LogEntry], entry: &LogEntry) -> Result<(), String> {
    let parent = before
        .last()
        .map(|e| e.block.header())
        .unwrap_or(tip.clone());
    if let Some(first) = before.first() {
        assert_eq!(
            first.index,
            tip.height + 1,
            "pending_before must start right after the applied tip"
        );
    }
    let block = &entry.block;
    if block.height != parent.height + 1 || block.previous_hash != parent.hash {
        return Err(format!(
            "block.previous-hash: {} does not follow",
            block.height
        ));
    }
    if block.compute_hash() != block.hash {
        return Err("block.hash".into());
    }
    if block.state_root == INVALID_ROOT {
        return Err("block.state-root: invalid marker".into());
    }
    Ok(())
}

impl Cluster {
    pub fn new(opts: Opts, net: NetConfig, seed: u64) -> Cluster {
        let total = opts.validators + opts.learners;
        let keys: Vec<Keypair> = (0..total).map(|i| node_key(seed, i)).collect();
        let validator_keys: Vec<String> = keys[..opts.validators]
            .iter()
            .map(|k| k.public_hex().to_string())
            .collect();
        let nodes: Vec<Node> = keys
            .into_iter()
            .map(|key| {
                let mut config = RaftConfig::new(key.public_hex(), Vec::new());
                config.election_timeout_min_ms = opts.election_ms.0;
                config.election_timeout_max_ms = opts.election_ms.1;
                config.heartbeat_ms = opts.heartbeat_ms;
                config.retained_entries = opts.retained;
                config.max_message_bytes = opts.max_message_bytes;
                config.max_uncommitted = opts.max_uncommitted;
                config.max_inflight = opts.max_inflight;
                Node {
                    id: key.node_id().to_string(),
                    key,
                    config,
                    raft: None,
                    disk: Disk::new(),
                    restarts: 0,
                    crash_at_stage: None,
                    crash_with_hard_state: None,
                    events: Vec::new(),
                }
            })
            .collect();
        let all_keys: Vec<String> = nodes
            .iter()
            .map(|n: &Node| n.key.public_hex().to_string())
            .collect();
        let mut cluster = Cluster {
            nodes,
            validators: opts.validators,
            genesis: validator_keys,
            keys: all_keys,
            chase: false,
            opts,
            now: 1_000,
            rng: SplitMix::new(seed),
            net,
            queue: BTreeMap::new(),
            seq: 0,
            groups: None,
            cut: BTreeSet::new(),
            crash_in_ready: 0.0,
            eager_blocks: true,
            sync_terms: false,
            checker: Checker::default(),
            seed,
            record: false,
            sent: Vec::new(),
        };
        for i in 0..total {
            cluster.start(i);
        }
        cluster
    }

    pub fn id(&self, i: usize) -> String {
        self.nodes[i].id.clone()
    }

    pub fn index_of(&self, id: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.id == id)
            .expect("known node")
    }

    /// Every node is connected: Raft leaves out the validators.
    fn learner_ids(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.id.clone()).collect()
    }

    /// (Re)starts node `i` from its disk, with the validator set its applied chain commits.
    pub fn start(&mut self, i: usize) {
        let learners = self.learner_ids();
        let node = &mut self.nodes[i];
        let seed = self.seed ^ ((i as u64) << 32) ^ node.restarts.wrapping_mul(0x9E37_79B9);
        let mut config = node.config.clone();
        config.validators = node.disk.validators(&self.genesis);
        let changes = SimCheck {
            tip: node.disk.tip(),
            keys: &self.keys,
        };
        let mut raft = Raft::restore(config, node.disk.restored(), seed, &changes).expect("config");
        raft.set_learners(&learners);
        raft.tick(self.now); // arms the election timer
        node.raft = Some(raft);
        node.restarts += 1;
        self.process(i);
    }

    pub fn crash(&mut self, i: usize) {
        self.nodes[i].raft = None;
        self.checker.reads.retain(|&(node, _), _| node != i);
    }

    /// Node `i` asks for a linearizable read (ReadIndex); its id, if the node is up.
    pub fn read(&mut self, i: usize) -> Option<u64> {
        let must_reach = self.max_committed();
        let raft = self.nodes[i].raft.as_mut()?;
        self.seq += 1;
        let id = self.seq;
        self.checker.reads.insert((i, id), must_reach);
        raft.read_index(id);
        self.process(i);
        Some(id)
    }

    /// A read's answer: its index must cover every block committed before it was asked.
    fn check_read(&mut self, i: usize, read: &miniledger_core::raft::ReadState) {
        let Some(must_reach) = self.checker.reads.remove(&(i, read.id)) else {
            self.violation(format!("node {i}: answer to unknown read {}", read.id));
        };
        match read.result {
            Ok(index) if index < must_reach => self.violation(format!(
                "node {i}: read {} got index {index}, but {must_reach} was committed before it was asked",
                read.id
            )),
            Ok(_) => {
                self.checker.reads_served += 1;
                self.checker.served.insert((i, read.id));
            }
            Err(_) => self.checker.reads_refused += 1,
        }
    }

    pub fn leaders(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].role() == Some(Role::Leader))
            .collect()
    }

    /// The leader of the highest term, if any.
    pub fn leader(&self) -> Option<usize> {
        self.leaders()
            .into_iter()
            .max_by_key(|&i| self.nodes[i].raft().term())
    }

    pub fn reachable(&self, from: usize, to: usize) -> bool {
        let same_group = self.groups.as_ref().is_none_or(|g| g[from] == g[to]);
        same_group && !self.cut.contains(&(from, to))
    }

    /// Node `i` proposes adding (`add`) or removing node `node` as a validator.
    pub fn propose_change(
        &mut self,
        i: usize,
        add: bool,
        node: usize,
    ) -> Result<u64, ProposeError> {
        let now = self.now;
        let key = self.keys[node].clone();
        let n = &mut self.nodes[i];
        let Some(raft) = n.raft.as_mut() else {
            return Err(ProposeError::NotLeader { leader: None });
        };
        let parent = raft.last_entry().header;
        let timestamp = now.max(parent.timestamp + 1);
        let block = Block::build(
            &parent,
            timestamp,
            Vec::new(),
            change_root(add, node),
            &n.key,
        );
        let change = match add {
            true => ConfigChange::AddValidator(key),
            false => ConfigChange::RemoveValidator(key),
        };
        let result = raft.propose_change(block, change, now);
        self.process(i);
        result
    }

    /// Node `i`'s latest validator set, as node indices.
    pub fn config_of(&self, i: usize) -> Vec<usize> {
        let raft = self.nodes[i].raft();
        let ids = raft.status().validators;
        let mut nodes: Vec<usize> = ids
            .iter()
            .map(|k| self.keys.iter().position(|x| x == k).expect("known key"))
            .collect();
        nodes.sort();
        nodes
    }

    /// Builds the next block on node `i`'s last entry and proposes it.
    pub fn propose(&mut self, i: usize, invalid: bool) -> Result<u64, ProposeError> {
        let now = self.now;
        let node = &mut self.nodes[i];
        let Some(raft) = node.raft.as_mut() else {
            return Err(ProposeError::NotLeader { leader: None });
        };
        let parent = raft.last_entry().header;
        let root = if invalid { INVALID_ROOT } else { ZERO_HASH };
        let timestamp = now.max(parent.timestamp + 1);
        let block = Block::build(&parent, timestamp, Vec::new(), root.to_string(), &node.key);
        let result = raft.propose(block, now);
        self.process(i);
        result
    }

    fn send(&mut self, from: usize, to: usize, message: Message) {
        if self.record {
            self.sent.push((from, to, message.clone()));
        }
        if !self.reachable(from, to) || self.rng.next_unit() < self.net.loss {
            return;
        }
        let copies = if self.rng.next_unit() < self.net.duplicate {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut delay = self.rng.range(self.net.delay_ms.0, self.net.delay_ms.1 + 1);
            if self.rng.next_unit() < self.net.long_delay {
                delay += self.rng.range(0, self.net.long_delay_ms + 1);
            }
            self.seq += 1;
            self.queue
                .insert((self.now + delay, self.seq), (from, to, message.clone()));
        }
    }

    /// Handles every Ready of node `i`, as a driver would, possibly crashing part-way.
    pub fn process(&mut self, i: usize) {
        loop {
            let Some(raft) = self.nodes[i].raft.as_mut() else {
                return;
            };
            if !raft.has_ready() {
                return;
            }
            let rd = raft.ready();
            let mut crash_at = self.nodes[i].crash_at_stage.take();
            if rd.hard_state.is_some() && crash_at.is_none() {
                crash_at = self.nodes[i].crash_with_hard_state.take();
            }
            if crash_at.is_none()
                && self.crash_in_ready > 0.0
                && self.rng.next_unit() < self.crash_in_ready
            {
                crash_at = Some(self.rng.range(0, 5) as u8);
            }
            if self.handle_ready(i, rd, crash_at.unwrap_or(u8::MAX)) {
                self.checker.ready_crashes += 1;
                self.crash(i);
                return;
            }
        }
    }

    /// Returns true if the node crashed at `crash_at`.
    fn handle_ready(&mut self, i: usize, rd: Ready, crash_at: u8) -> bool {
        if crash_at == 0 {
            return true;
        }
        let node = &mut self.nodes[i];
        if let Some(hard) = rd.hard_state.clone() {
            assert!(hard.term >= node.disk.hard.term, "term went down on disk");
            node.disk.hard = hard;
        }
        if crash_at == 1 {
            return true;
        }
        self.persist_entries(i, &rd);
        if crash_at == 2 {
            return true;
        }
        for (to, message) in rd.messages {
            self.check_frame(i, &message);
            let to = self.index_of(&to);
            self.send(i, to, message);
        }
        if crash_at == 3 {
            return true;
        }
        for entry in &rd.committed {
            if entry.block.state_root == INVALID_ROOT {
                self.violation(format!("node {i} committed invalid block {}", entry.index));
            }
            let change = change_of(&entry.block.state_root, &self.keys);
            self.apply(i, entry.block.header(), Some(entry.term), change);
        }
        self.check_committed_config(i);
        if crash_at == 4 {
            return true;
        }
        for read in &rd.reads {
            self.check_read(i, read);
        }
        let role_leader = rd.events.iter().any(|e| {
            matches!(
                e,
                Event::RoleChanged {
                    role: Role::Leader,
                    ..
                }
            )
        });
        self.checker.rejected_entries += rd
            .events
            .iter()
            .filter(|e| matches!(e, Event::EntryRejected { .. }))
            .count();
        self.nodes[i].events.extend(rd.events);
        let raft = self.nodes[i].raft.as_mut().expect("up");
        raft.advance();
        if role_leader {
            self.check_leader(i);
        }
        if let Some(target) = rd.sync_needed {
            let peer = self.index_of(&target.peer);
            self.sync(i, peer, target.height);
        }
        if rd.needs_block && self.eager_blocks {
            let _ = self.propose(i, false);
        }
        false
    }

    fn persist_entries(&mut self, i: usize, rd: &Ready) {
        let node = &mut self.nodes[i];
        if let Some(from) = rd.truncate_from {
            if !node.disk.entries.split_off(&from).is_empty() {
                self.checker.truncations += 1;
            }
        }
        let term = node.disk.hard.term;
        for entry in &rd.entries {
            assert!(
                entry.term <= term,
                "seed {}: node {i} persists an entry of term {} above its persisted term {term} (ready {:?}, entries {:?}, events {:?}, status {:?})",
                self.seed,
                entry.term,
                rd.hard_state,
                rd.entries.iter().map(|e| (e.index, e.term)).collect::<Vec<_>>(),
                rd.events,
                self.nodes[i].raft.as_ref().map(|r| r.status())
            );
            let id = (entry.index, entry.term);
            let hash = &entry.block.hash;
            match self.checker.entry_ids.get(&id) {
                Some(h) if h != hash => self.violation(format!(
                    "log matching: two entries at index {} term {}",
                    id.0, id.1
                )),
                Some(_) => {}
                None => {
                    self.checker.entry_ids.insert(id, hash.clone());
                }
            }
            let node = &mut self.nodes[i];
            let parent = match node.disk.entries.get(&(entry.index - 1)) {
                Some(e) => Some(e.block.hash.clone()),
                None => node
                    .disk
                    .chain
                    .get(entry.index as usize - 1)
                    .map(|(h, _)| h.hash.clone()),
            };
            if parent.is_some_and(|p| p != entry.block.previous_hash) {
                self.violation(format!(
                    "log matching: node {i}'s entry {} does not chain on its log",
                    entry.index
                ));
            }
            self.nodes[i]
                .disk
                .entries
                .insert(entry.index, entry.clone());
        }
        if let Some((height, term)) = rd.learned_term {
            let node = &mut self.nodes[i];
            if let Some(slot) = node.disk.chain.get_mut(height as usize) {
                assert!(slot.1.is_none_or(|t| t == term), "learned a different term");
                slot.1 = Some(term);
            }
        }
    }

    fn check_frame(&self, i: usize, message: &Message) {
        if let Message::AppendEntries(ae) = message {
            if !ae.entries.is_empty() {
                let frame = Envelope::new(self.id(i), self.now, message.clone()).encode();
                assert!(
                    frame.len() <= self.opts.max_message_bytes,
                    "seed {}: frame of {} bytes over the cap",
                    self.seed,
                    frame.len()
                );
            }
        }
    }

    /// Node `i` applies a committed block.
    fn apply(
        &mut self,
        i: usize,
        header: BlockHeader,
        term: Option<u64>,
        change: Option<ConfigChange>,
    ) {
        let observer_term = self.nodes[i].raft().term();
        let node = &mut self.nodes[i];
        let tip = node.disk.tip().clone();
        if header.height != tip.height + 1 {
            self.violation(format!(
                "node {i} applies block {} on tip {}",
                header.height, tip.height
            ));
        }
        let hash = header.hash.clone();
        if let Some(change) = change {
            node.disk.changes.insert(header.height, change);
        }
        node.disk.chain.push((header, term));
        let height = node.disk.tip().height;
        node.disk.entries = node.disk.entries.split_off(&(height + 1));
        match self.checker.committed.get(&height) {
            Some((h, _)) if *h != hash => self.violation(format!(
                "two different blocks committed at height {height} (node {i})"
            )),
            Some(_) => {}
            None => {
                self.checker.committed.insert(height, (hash, observer_term));
                match self.nodes[i].disk.changes.get(&height) {
                    Some(ConfigChange::AddValidator(_)) => self.checker.added += 1,
                    Some(ConfigChange::RemoveValidator(_)) => self.checker.removed += 1,
                    None => {}
                }
            }
        }
    }

    /// BlockSync, instantly: node `i` copies committed blocks from `peer` up to `height`.
    fn sync(&mut self, i: usize, peer: usize, height: u64) {
        if !self.nodes[peer].is_up() || !self.reachable(i, peer) || !self.reachable(peer, i) {
            return;
        }
        let from = self.nodes[i].height() + 1;
        let to = height.min(self.nodes[peer].height());
        if to < from {
            return;
        }
        let blocks: Vec<(BlockHeader, Option<u64>)> = (from..=to)
            .map(|h| self.nodes[peer].disk.chain[h as usize].clone())
            .collect();
        for (header, term) in blocks {
            if header.height > self.nodes[i].height() {
                let change = self.nodes[peer].disk.changes.get(&header.height).cloned();
                self.apply(i, header, term.filter(|_| self.sync_terms), change);
            }
        }
        self.checker.syncs += 1;
        let (tip, term) = self.nodes[i].disk.chain.last().cloned().expect("genesis");
        let validators = self.nodes[i].disk.validators(&self.genesis);
        self.nodes[i]
            .raft
            .as_mut()
            .expect("up")
            .on_synced_with_validators(tip, term, validators)
            .expect("a committed set is valid");
        self.check_committed_config(i);
        self.process(i);
    }

    /// Raft's committed validator set is the one the node's applied chain makes (checked when
    /// Raft's commit index is the applied tip).
    fn check_committed_config(&self, i: usize) {
        let Some(raft) = self.nodes[i].raft.as_ref() else {
            return;
        };
        if raft.commit_index() != self.nodes[i].height() {
            return;
        }
        let on_chain = self.nodes[i].disk.validators(&self.genesis);
        if raft.committed_validators() != on_chain {
            self.violation(format!(
                "node {i}: Raft's committed validators {:?} are not its chain's {:?}",
                raft.committed_validators(),
                on_chain
            ));
        }
    }

    /// Node `i`, if it hears no leader, syncs from the reachable up node with the longest
    /// chain (BlockSync serves committed blocks only).
    pub fn chase_peers(&mut self, i: usize) {
        let now = self.now;
        if !self.nodes[i]
            .raft
            .as_ref()
            .is_some_and(|r| r.chases_peers(now))
        {
            return;
        }
        let best = (0..self.nodes.len())
            .filter(|&p| p != i && self.nodes[p].is_up() && self.reachable(p, i))
            .max_by_key(|&p| self.nodes[p].height());
        if let Some(p) = best.filter(|&p| self.nodes[p].height() > self.nodes[i].height()) {
            let h = self.nodes[p].height();
            self.sync(i, p, h);
        }
    }

    /// Leader completeness: a new leader holds every block committed in an earlier term.
    fn check_leader(&mut self, i: usize) {
        let raft = self.nodes[i].raft();
        let term = raft.term();
        if let Some(&other) = self.checker.leaders.get(&term) {
            if other != i {
                self.violation(format!("two leaders in term {term}: {other} and {i}"));
            }
        }
        self.checker.leaders.insert(term, i);
        let Some((&height, (hash, _))) = self
            .checker
            .committed
            .iter()
            .rev()
            .find(|(_, (_, t))| *t < term)
        else {
            return;
        };
        // Hash chaining: holding the highest such block means holding all of them.
        let held = match raft.entry(height) {
            Some(e) => Some(e.block.hash.clone()),
            None => self.nodes[i]
                .disk
                .chain
                .get(height as usize)
                .map(|(h, _)| h.hash.clone()),
        };
        if held.as_ref() != Some(hash) {
            self.violation(format!(
                "leader completeness: node {i}, leader of term {term}, lacks committed block {height}"
            ));
        }
    }

    /// Whole-state checks: one leader per term, logs hash-linked, committed blocks held.
    pub fn check_state(&mut self) {
        for i in 0..self.nodes.len() {
            let Some(raft) = self.nodes[i].raft.as_ref() else {
                continue;
            };
            if raft.role() == Role::Leader {
                let term = raft.term();
                if self.checker.leaders.get(&term).is_some_and(|&o| o != i) {
                    self.violation(format!("two leaders in term {term}"));
                }
            }
            let entries = raft.entries();
            for pair in entries.windows(2) {
                if pair[1].block.previous_hash != pair[0].block.hash || pair[1].term < pair[0].term
                {
                    self.violation(format!(
                        "node {i}'s log is not a chain at {}",
                        pair[1].index
                    ));
                }
            }
            for e in entries {
                if self
                    .checker
                    .entry_ids
                    .get(&(e.index, e.term))
                    .is_some_and(|h| *h != e.block.hash)
                {
                    self.violation(format!("log matching at {} term {}", e.index, e.term));
                }
                if e.index <= raft.commit_index() {
                    if let Some((h, _)) = self.checker.committed.get(&e.index) {
                        if *h != e.block.hash {
                            self.violation(format!(
                                "node {i} holds a conflicting committed block {}",
                                e.index
                            ));
                        }
                    }
                }
            }
        }
    }

    /// One line per node, for failure reports.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let state = match n.raft.as_ref() {
                None => "down".to_string(),
                Some(r) => {
                    let s = r.status();
                    let progress: Vec<String> = s
                        .progress
                        .iter()
                        .map(|p| {
                            format!(
                                "{}:{}/{}/{}",
                                self.index_of(&p.node_id),
                                p.match_index,
                                p.next_index,
                                p.state
                            )
                        })
                        .collect();
                    let config: Vec<usize> = s
                        .validators
                        .iter()
                        .filter_map(|k| self.keys.iter().position(|x| x == k))
                        .collect();
                    let committed: Vec<usize> = r
                        .committed_validators()
                        .iter()
                        .filter_map(|k| self.keys.iter().position(|x| x == k))
                        .collect();
                    format!(
                        "{:?} term {} vote {:?} leader {:?} commit {} last {} (term {:?}) validators {config:?} (committed {committed:?}) {}",
                        s.role,
                        s.term,
                        s.voted_for.map(|v| self.index_of(&v)),
                        s.leader.map(|v| self.index_of(&v)),
                        s.commit_index,
                        s.last_index,
                        s.last_term,
                        progress.join(" ")
                    )
                }
            };
            out.push_str(&format!(
                "  node {i} [{}]: chain {} | {state}\n",
                n.id,
                n.height()
            ));
            if std::env::var("RAFT_SIM_EVENTS").is_ok() {
                for e in n.events.iter().rev().take(6).rev() {
                    out.push_str(&format!("      {e}\n"));
                }
            }
        }
        out
    }

    pub fn violation(&self, what: String) -> ! {
        panic!(
            "VIOLATION (seed {}, t={}): {what}\n{}replay: RAFT_SIM_SEED={} cargo test -p miniledger-core --test raft_sim -- --nocapture",
            self.seed,
            self.now,
            self.dump(),
            self.seed
        );
    }

    /// The next time something happens (message or timer), if before `until`.
    fn next_event(&self, until: u64) -> Option<u64> {
        let message = self.queue.keys().next().map(|&(t, _)| t);
        let timer = self
            .nodes
            .iter()
            .filter_map(|n| n.raft.as_ref().and_then(|r| r.next_tick_at()))
            .min();
        let next = [message, timer].into_iter().flatten().min()?;
        (next <= until).then_some(next.max(self.now))
    }

    /// Delivers messages and fires timers up to `until` (inclusive), checking after each step.
    pub fn run_until(&mut self, until: u64) {
        while let Some(t) = self.next_event(until) {
            self.now = t;
            self.step_once();
        }
        self.now = self.now.max(until);
    }

    pub fn run_for(&mut self, ms: u64) {
        let until = self.now + ms;
        self.run_until(until);
        if self.chase {
            for i in 0..self.nodes.len() {
                self.chase_peers(i);
            }
        }
    }

    /// Everything due at `now`: one message, or the due timers.
    fn step_once(&mut self) {
        if let Some((&key, _)) = self.queue.iter().next().filter(|(k, _)| k.0 <= self.now) {
            let (from, to, message) = self.queue.remove(&key).expect("queued");
            self.deliver(from, to, &message);
        } else {
            for i in 0..self.nodes.len() {
                let due = self.nodes[i]
                    .raft
                    .as_ref()
                    .and_then(|r| r.next_tick_at())
                    .is_some_and(|t| t <= self.now);
                if due {
                    let now = self.now;
                    self.nodes[i].raft.as_mut().expect("up").tick(now);
                    self.process(i);
                }
            }
        }
        self.check_state();
    }

    pub fn deliver(&mut self, from: usize, to: usize, message: &Message) {
        if !self.reachable(from, to) {
            return;
        }
        let now = self.now;
        let from_id = self.id(from);
        let node = &mut self.nodes[to];
        let Some(raft) = node.raft.as_mut() else {
            return;
        };
        let mut check = SimCheck {
            tip: node.disk.tip(),
            keys: &self.keys,
        };
        raft.step(&from_id, message, now, &mut check);
        self.process(to);
    }

    /// A message from a node outside the cluster (a stray or MiniLedger 0.2 node).
    pub fn deliver_from_outsider(&mut self, from_id: &str, to: usize, message: &Message) {
        let now = self.now;
        let node = &mut self.nodes[to];
        let tip = node.disk.tip().clone();
        let raft = node.raft.as_mut().expect("up");
        raft.step(
            from_id,
            message,
            now,
            &mut |before: &[LogEntry], entry: &LogEntry| verify_entry(&tip, before, entry),
        );
        self.process(to);
    }

    /// Moves the clock without firing any timer (scenarios drive timers with `fire_timer`).
    pub fn elapse(&mut self, ms: u64) {
        self.now += ms;
    }

    /// Delivers everything queued, in order, without firing timers (scenarios).
    pub fn deliver_all(&mut self) {
        while let Some((&key, _)) = self.queue.iter().next() {
            let (from, to, message) = self.queue.remove(&key).expect("queued");
            self.now = self.now.max(key.0);
            self.deliver(from, to, &message);
            self.check_state();
        }
    }

    /// Drops every message in flight.
    pub fn drop_in_flight(&mut self) {
        self.queue.clear();
    }

    /// Fires node `i`'s timer now (moving the clock to it if needed).
    pub fn fire_timer(&mut self, i: usize) {
        let t = self.nodes[i].raft().next_tick_at().unwrap_or(self.now);
        self.now = self.now.max(t);
        let now = self.now;
        self.nodes[i].raft.as_mut().expect("up").tick(now);
        self.process(i);
        self.check_state();
    }

    /// Runs until some node leads (and has been heard by a quorum), within `bound` ms.
    pub fn await_leader(&mut self, bound: u64) -> Option<usize> {
        let until = self.now + bound;
        while self.now < until {
            self.run_for(10);
            if let Some(l) = self.leader() {
                return Some(l);
            }
        }
        None
    }

    /// True if node `i` holds block `hash` at height `h` (in memory or applied).
    pub fn holds(&self, i: usize, h: u64, hash: &str) -> bool {
        let node = &self.nodes[i];
        let in_log = node
            .raft
            .as_ref()
            .and_then(|r| r.entry(h))
            .is_some_and(|e| e.block.hash == hash);
        in_log
            || node
                .disk
                .chain
                .get(h as usize)
                .is_some_and(|(b, _)| b.hash == hash)
    }

    /// Proposes a block at the leader (again if a leader change lost it) and runs until every
    /// up node on the leader's side of any partition applied it, within `bound` ms. Returns the block's height.
    pub fn commit_one(&mut self, bound: u64) -> Option<u64> {
        let until = self.now + bound;
        let mut proposed: Option<(u64, String, usize)> = None;
        while self.now < until {
            if let Some(leader) = self.leader() {
                let lost = proposed
                    .as_ref()
                    .is_none_or(|(h, hash, l)| *l != leader || !self.holds(leader, *h, hash));
                if lost {
                    if let Ok(h) = self.propose(leader, false) {
                        let hash = self.nodes[leader]
                            .raft()
                            .entry(h)
                            .expect("proposed")
                            .block
                            .hash
                            .clone();
                        proposed = Some((h, hash, leader));
                    }
                }
            }
            self.run_for(10);
            if let Some((h, hash, l)) = &proposed {
                let done = (0..self.nodes.len())
                    .filter(|&n| self.nodes[n].is_up() && self.reachable(*l, n))
                    .all(|n| {
                        let chain = &self.nodes[n].disk.chain;
                        chain.get(*h as usize).is_some_and(|(b, _)| b.hash == *hash)
                    });
                if done {
                    return Some(*h);
                }
            }
        }
        None
    }

    pub fn max_committed(&self) -> u64 {
        self.checker
            .committed
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
    }
}
