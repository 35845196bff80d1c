//! Raft in the node: connects core's [`Raft`] to the rest of it, following the driver
//! contract in `crate::raft`: persist (one durable store write per `Ready`), then send, then
//! apply committed entries through the ordinary commit path.
//!
//! Blocks are verified once, by core's block pipeline: a follower checks each entry
//! (`pipeline::check_entry`) when Raft asks, and keeps the resulting effects by block hash, so
//! neither the next entries' checks nor the commit (`pipeline::check_verified` over the
//! committed entries) re-execute it. The leader keeps the effects of the blocks it builds the
//! same way.

use super::events::{Level, Target};
use super::reforward::Reforward;
use super::refusal_pacing::RefusalPacing;
use super::sync_terms::SyncTerms;
use super::{
    CommitItem, Durability, Fatal, FullConfig, FullNode, Mode, NodeStorage, RaftWrite, StartError,
};
use crate::model::{Block, Transaction};
use crate::net::{Offence, PeerKind, PeerManager};
use crate::pipeline::{self, build, Known, Pending, Rules, SuffixLayers};
use crate::protocol::{BlockAnnounce, LogEntry, Message, TxMessage};
use crate::raft::{
    ConfigChange, ConfigChanges, EntryCheck, Event, ProposeError, Raft, RaftConfig, RaftStatus,
    Role,
};
use std::collections::VecDeque;

/// Uncommitted blocks a leader builds ahead of the commit (pipelining): enough to keep
/// replication busy, few enough that blocks fill up under load instead of carrying one
/// transaction each.
pub const PIPELINE: usize = 4;
/// Transactions re-forwarded to a new leader per pass (the native send queue holds 1,024
/// frames).
const FORWARD_CHUNK: usize = 256;
/// How soon `drive` should run again while transactions wait to be forwarded.
const FORWARD_AGAIN_MS: u64 = 5;

pub struct Consensus {
    raft: Raft,
    /// Checked effects of blocks not yet committed, by block hash.
    prepared: Known,
    /// The state after the uncommitted entries, layered once and kept between entries (a
    /// follower's checks, a leader's builds) instead of layered again for each; reused only
    /// on the same chain of block hashes (see `pipeline::SuffixLayers`).
    layers: SuffixLayers,
    /// The new leader must propose a block (even empty) so earlier terms' entries commit.
    needs_block: bool,
    /// Mempool transactions still to forward to the current leader.
    forward: VecDeque<Transaction>,
    /// (mempool change count, last entry hash) when the leader last found nothing to propose:
    /// nothing to retry until one of them changes.
    idle: Option<(u64, String)>,
    /// Forwarded transactions still pending go to the leader again periodically.
    reforward: Reforward,
    /// Terms served by validators with blocks still on their way through BlockSync.
    sync_terms: SyncTerms,
    /// Refusals to MiniLedger 0.2 leaders, paced (their retry loops).
    refusals: RefusalPacing,
    /// Leader: governance transactions stay out of blocks until then (monotonic ms), after
    /// Raft refused the change one would make (`membership`).
    hold_changes_until: u64,
}

impl Consensus {
    /// Starts a linearizable read (see `node/reads.rs`).
    pub(super) fn read_index(&mut self, id: u64) {
        self.raft.read_index(id);
    }
}

impl Consensus {
    /// Restores Raft from the store (hard state, tip and its term, persisted entries).
    /// `after_solo`: the chain so far was sealed by a lone validator (the network grew since),
    /// so a tip whose term was never recorded is of term 0, as genesis is: every node of the
    /// network then agrees on it and may vote at once.
    ///
    /// Persisted entries above the tip are checked again over the store (the pipeline that
    /// checked them when they were appended), so those carrying a validator-set change make it
    /// again (a crash between a change's append and its commit) and none is executed twice.
    pub(super) fn open<S: NodeStorage>(
        mut config: RaftConfig,
        store: &S,
        rules: &Rules,
        seed: u64,
        after_solo: bool,
    ) -> Result<Consensus, StartError> {
        config.max_uncommitted = PIPELINE;
        let mut restored = store.raft_restored().map_err(StartError::RaftState)?;
        if after_solo && restored.commit_term.is_none() {
            restored.commit_term = Some(0);
        }
        let mut prepared = Known::new();
        let tail: Vec<&Block> = (restored.entries.iter())
            .map(|e| &e.block)
            .filter(|b| b.height > restored.commit.height)
            .collect();
        if !tail.is_empty() {
            let _snapshot = store.read_snapshot();
            // Entries that no longer check (or do not chain on the tip) carry no change here;
            // Raft drops those that do not chain, and a leader replaces the others.
            let _ = Pending::new(store, rules).layer(&tail, None, Some(&mut prepared));
        }
        let changes = Restored {
            prepared: &prepared,
        };
        let raft = Raft::restore(config, restored, seed, &changes)
            .map_err(|e| StartError::RaftConfig(e.to_string()))?;
        Ok(Consensus {
            raft,
            prepared,
            layers: SuffixLayers::new(),
            needs_block: false,
            forward: VecDeque::new(),
            idle: None,
            reforward: Reforward::default(),
            sync_terms: SyncTerms::default(),
            refusals: RefusalPacing::default(),
            hold_changes_until: 0,
        })
    }

    pub fn status(&self) -> RaftStatus {
        self.raft.status()
    }

    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// The leader, if it is another node.
    fn remote_leader(&self) -> Option<&str> {
        self.raft.leader().filter(|l| *l != self.raft.node_id())
    }

    /// See [`Raft::chases_peers`].
    pub fn chases_peers(&self, now: u64) -> bool {
        self.raft.chases_peers(now)
    }

    pub fn is_validator(&self, node_id: &str) -> bool {
        self.raft.is_validator(node_id)
    }
}

/// The changes of restored entries: what checking them again found (see [`Consensus::open`]).
struct Restored<'a> {
    prepared: &'a Known,
}

impl ConfigChanges for Restored<'_> {
    fn config_change(&self, entry: &LogEntry) -> Option<ConfigChange> {
        self.prepared.get(&entry.block.hash)?.change().cloned()
    }
}

/// Follower-side block verification for [`Raft::step`].
struct Checker<'a, S> {
    store: &'a S,
    rules: &'a Rules,
    prepared: &'a mut Known,
    layers: &'a mut SuffixLayers,
    /// For `block.timestamp-future`.
    wall_ms: u64,
}

// The change an entry carries is what executing its block made (an approved add-peer or
// remove-peer): Raft asks right after `verify`, which left the block's effects in `prepared`.
impl<S: NodeStorage> ConfigChanges for Checker<'_, S> {
    fn config_change(&self, entry: &LogEntry) -> Option<ConfigChange> {
        self.prepared.get(&entry.block.hash)?.change().cloned()
    }
}

impl<S: NodeStorage> EntryCheck for Checker<'_, S> {
    fn verify(&mut self, before: &[LogEntry], entry: &LogEntry) -> Result<(), String> {
        let tip = self.store.tip().height;
        let before: Vec<&Block> = before
            .iter()
            .map(|e| &e.block)
            .filter(|b| b.height > tip)
            .collect();
        let _snapshot = self.store.read_snapshot();
        pipeline::check_entry(
            self.store,
            self.rules,
            self.prepared,
            self.layers,
            &before,
            &entry.block,
            self.wall_ms,
        )
        .map_err(|e| e.to_string())
    }
}

impl<S: NodeStorage> FullNode<S> {
    pub(super) fn raft_status(&self) -> Option<RaftStatus> {
        match &self.mode {
            Mode::Raft(c) => Some(c.status()),
            _ => None,
        }
    }

    /// When Raft's next timer is due (None outside Raft or when none runs).
    pub(super) fn raft_deadline(&self) -> Option<u64> {
        let Mode::Raft(c) = &self.mode else {
            return None;
        };
        if !c.forward.is_empty() {
            return Some(self.now.monotonic + FORWARD_AGAIN_MS);
        }
        c.raft.next_tick_at()
    }

    /// A consensus message from `from`. What no honest node of ours sends (from an
    /// unauthenticated connection, a non-validator, a leaderId that is not the sender, ...;
    /// `Raft::screen`) is ignored and scored.
    pub(super) fn raft_step(&mut self, from: &str, message: &Message) {
        let Mode::Raft(c) = &mut self.mode else {
            let line = format!(
                "from {from}: ignoring {} (solo consensus)",
                message.type_name()
            );
            self.out.log(Level::Debug, Target::P2p, line);
            return;
        };
        let now = self.now.monotonic;
        let authenticated = consensus_connection(&self.peers, &self.config, from);
        if let Err(why) = c.raft.screen(from, authenticated, message) {
            let kind = message.type_name();
            if honest_02(&self.peers, &self.config, &self.validators, from) {
                self.out.log(Level::Info, Target::Raft, format!("from {from}: ignored {kind}: {why} (not scored: MiniLedger 0.2 peers send this)"));
                return;
            }
            let line = format!("from {from}: ignored {kind}: bogusConsensus: {why}");
            self.out.log(Level::Warn, Target::Raft, line);
            self.peers.report(from, Offence::BogusConsensus, now);
            return;
        }
        let mut checker = Checker {
            store: &self.store,
            rules: &self.config.rules,
            prepared: &mut c.prepared,
            layers: &mut c.layers,
            wall_ms: self.now.wall,
        };
        c.raft.step(from, message, now, &mut checker);
    }

    /// The connected full peers, as learner candidates (Raft drops the validators).
    pub(super) fn raft_update_learners(&mut self) {
        if let Mode::Raft(c) = &mut self.mode {
            let ids: Vec<String> = self
                .peers
                .peers()
                .filter(|p| !p.light)
                .map(|p| p.node_id.clone())
                .collect();
            c.raft.set_learners(ids);
        }
    }

    /// The optional `terms` of a SYNC_RESPONSE: kept for the blocks they came with, but only
    /// from an authenticated validator connection (even in compat mode, where consensus
    /// messages are taken unauthenticated: 0.2 never sends terms). An unauthenticated or
    /// non-validator peer could lie about terms and make this validator vote for a candidate
    /// missing committed blocks (see `sync_terms.rs`).
    pub(super) fn raft_record_sync_terms(&mut self, from: &str, blocks: &[Block], terms: &[u64]) {
        let peer = self.peers.peer(from);
        let trusted = peer.is_some_and(|p| p.authenticated && !p.light);
        let Mode::Raft(c) = &mut self.mode else {
            return;
        };
        if !trusted || !c.raft.is_validator(from) {
            self.out.log(Level::Debug, Target::Sync, format!("from {from}: ignoring block terms from a peer that is not an authenticated validator"));
            return;
        }
        let applied = self.store.tip().height;
        c.sync_terms.applied(applied);
        let window_end = self.sync.window_end();
        c.sync_terms.record(blocks, terms, applied, window_end);
    }

    /// The known terms of a synced run about to be applied (stored with its blocks).
    pub(super) fn raft_sync_terms(&self, run: &[Block]) -> Vec<Option<u64>> {
        match &self.mode {
            Mode::Raft(c) => c.sync_terms.terms_of(run),
            _ => Vec::new(),
        }
    }

    /// BlockSync applied blocks: tell Raft where the chain now ends, and the tip's term if a
    /// validator served it (stored with the block), so this node can vote and campaign at once.
    pub(super) fn raft_synced(&mut self) {
        let Mode::Raft(c) = &mut self.mode else {
            return;
        };
        let tip = self.store.tip();
        c.sync_terms.applied(tip.height);
        let term = match self.store.block_terms(tip.height, tip.height) {
            Ok(terms) => terms.and_then(|t| t.first().copied()),
            Err(e) => {
                let line = format!("cannot read the synced tip's term: {e}");
                self.out.log(Level::Warn, Target::Raft, line);
                None
            }
        };
        if term.is_none() && c.raft.last_entry().term.is_some() {
            self.out.log(Level::Info, Target::Raft, format!("height {}: synced tip's term unknown (no authenticated validator served it): not voting or campaigning until a leader appends", tip.height));
        }
        if self.config.rules.governance == crate::pipeline::Governance::OnChain {
            // The synced blocks may have changed the set: Raft never saw them.
            let set = Self::set_in_force(&self.store, &self.config.rules);
            if let Err(e) = c
                .raft
                .on_synced_with_validators(tip, term, set.keys().to_vec())
            {
                let line = format!("the synced validator set is unusable: {e}");
                self.out.log(Level::Error, Target::Raft, line);
            }
            return;
        }
        c.raft.on_synced(tip, term);
    }

    /// A transaction this node admitted: a follower passes it to the leader.
    pub(super) fn raft_forward(&mut self, tx: Transaction) {
        let Mode::Raft(c) = &self.mode else {
            return;
        };
        let Some(leader) = c.remote_leader() else {
            return;
        };
        let leader = leader.to_string();
        let message = Message::TxForward(TxMessage { transaction: tx });
        self.peers.send_to(&leader, &message, self.now.monotonic);
    }

    /// Every mempool transaction goes (again) to the leader: after a leader change, or when the
    /// leader's connection comes back. Nonces make a second copy harmless.
    pub(super) fn raft_forward_all(&mut self) {
        let mempool = &self.mempool;
        if let Mode::Raft(c) = &mut self.mode {
            c.forward = match c.remote_leader() {
                Some(_) => mempool.transactions().cloned().collect(),
                None => VecDeque::new(),
            };
        }
    }

    pub(super) fn raft_is_leader(&self, node_id: &str) -> bool {
        matches!(&self.mode, Mode::Raft(c) if c.raft.leader() == Some(node_id))
    }

    /// Timers, Ready handling, leader production, forwarding. True if anything happened.
    pub(super) fn raft_drive(&mut self) -> Result<bool, Fatal> {
        let Mode::Raft(c) = &mut self.mode else {
            return Ok(false);
        };
        let now = self.now.monotonic;
        if c.raft.next_tick_at().is_some_and(|at| at <= now) {
            c.raft.tick(now);
        }
        let mut progressed = self.raft_ready()?;
        if self.raft_produce() {
            progressed = true;
            self.raft_ready()?;
        }
        self.raft_forward_chunk();
        Ok(progressed)
    }

    fn raft_forward_chunk(&mut self) {
        let Mode::Raft(c) = &mut self.mode else {
            return;
        };
        let Some(leader) = c.remote_leader().map(str::to_string) else {
            c.forward.clear();
            return;
        };
        let now = self.now.monotonic;
        if c.forward.is_empty() {
            c.forward.extend(c.reforward.due(now, &self.mempool));
        }
        for _ in 0..FORWARD_CHUNK {
            let Some(transaction) = c.forward.pop_front() else {
                return;
            };
            if self.mempool.contains(&transaction.hash) {
                let message = Message::TxForward(TxMessage { transaction });
                if !self.peers.send_to(&leader, &message, now) {
                    c.forward.clear();
                    return;
                }
            }
        }
    }

    /// Handles every pending `Ready` in the contract's order. True if there was one.
    fn raft_ready(&mut self) -> Result<bool, Fatal> {
        let mut handled = false;
        loop {
            let Mode::Raft(c) = &mut self.mode else {
                return Ok(handled);
            };
            if !c.raft.has_ready() {
                return Ok(handled);
            }
            handled = true;
            let mut rd = c.raft.ready();
            // A leader's AppendEntries promise nothing of its own disk, so they go out before
            // its write and the followers' writes overlap it (Raft thesis §10.2.1). The leader
            // counts its own entries toward commit only once `advance` says they are written.
            // A Ready with a hard state change sends nothing early.
            let send_early = c.raft.role() == Role::Leader && rd.hard_state.is_none();
            let (early, late): (Vec<_>, Vec<_>) = std::mem::take(&mut rd.messages)
                .into_iter()
                .partition(|(_, m)| send_early && matches!(m, Message::AppendEntries(_)));
            self.raft_send(&early);
            // 1. Durable before anything that promises it is sent.
            let write = RaftWrite {
                hard_state: rd.hard_state.as_ref(),
                truncate_from: rd.truncate_from,
                entries: &rd.entries,
                learned_term: rd.learned_term,
            };
            if let Err(e) = self.store.persist_raft(&write) {
                return Err(Fatal::new("cannot persist Raft state", e));
            }
            // 2. Send.
            self.raft_send(&late);
            let Mode::Raft(c) = &mut self.mode else {
                unreachable!("raft mode");
            };
            let peers = &self.peers;
            c.refusals.retain(|id| peers.peer(id).is_some());
            // 3. Apply.
            self.raft_apply(rd.committed)?;
            let Mode::Raft(c) = &mut self.mode else {
                unreachable!("raft mode");
            };
            c.raft.advance();
            // 4. The rest.
            if rd.needs_block {
                c.needs_block = true;
                c.idle = None;
            }
            if let Some(target) = rd.sync_needed {
                let line = format!(
                    "peer {} height {}: catching up through BlockSync",
                    target.peer, target.height
                );
                self.out.log(Level::Info, Target::Raft, line);
                self.sync.set_peer_height(&target.peer, target.height);
            }
            self.on_read_states(rd.reads);
            for event in rd.events {
                self.out.log(Level::Info, Target::Raft, event.to_string());
                if let Event::LeaderChanged { .. } = event {
                    self.raft_forward_all();
                }
            }
        }
    }

    /// Sends a Ready's messages (refusals paced per peer).
    fn raft_send(&mut self, messages: &[(String, Message)]) {
        let Mode::Raft(c) = &mut self.mode else {
            return;
        };
        let now = self.now.monotonic;
        for (to, message) in messages {
            let paced = self.peers.peer(to).is_some_and(|p| !p.authenticated);
            if c.refusals.allow(to, message, paced, now) {
                self.peers.send_to(to, message, now);
            }
        }
    }

    /// Commits final entries (in order) through the ordinary commit path, with their terms.
    fn raft_apply(&mut self, entries: Vec<LogEntry>) -> Result<(), Fatal> {
        let tip = self.store.tip();
        let run: Vec<&LogEntry> = entries.iter().filter(|e| e.index > tip.height).collect();
        if run.is_empty() {
            return Ok(());
        }
        let Mode::Raft(c) = &mut self.mode else {
            unreachable!("raft mode");
        };
        let blocks: Vec<&Block> = run.iter().map(|e| &e.block).collect();
        let terms: Vec<Option<u64>> = run.iter().map(|e| Some(e.term)).collect();
        let verdict = {
            let _snapshot = self.store.read_snapshot();
            let known = Some(&mut c.prepared);
            pipeline::check_verified(&self.store, &self.config.rules, &blocks, None, known)
        };
        if let Some(refused) = verdict.refused {
            return Err(Fatal::new("a committed block does not apply", refused));
        }
        let items: Vec<CommitItem> = (blocks.iter().zip(&verdict.accepted))
            .map(|(block, executed)| CommitItem::new(block, executed))
            .collect();
        if let Err(e) = (self.store).commit(&items, verdict.tree, &terms, Durability::Logged) {
            return Err(Fatal::new("cannot store committed blocks", e));
        }
        for block in &blocks {
            c.prepared.remove(&block.hash);
        }
        // Entries truncated away leave their effects behind: keep only the log's.
        if c.prepared.len() > 4 * PIPELINE {
            let live: std::collections::HashSet<&str> = c
                .raft
                .entries()
                .iter()
                .map(|e| e.block.hash.as_str())
                .collect();
            c.prepared.retain(|hash, _| live.contains(hash.as_str()));
        }
        self.sync.on_applied(self.store.tip().height);
        let now = self.now.monotonic;
        // Light nodes do not speak Raft: they follow announcements, each encoded once for all.
        for block in &blocks {
            let message = Message::BlockAnnounce(BlockAnnounce {
                block: (*block).clone(),
            });
            self.peers.broadcast_to(PeerKind::Light, &message, now);
        }
        let owned: Vec<Block> = blocks.into_iter().cloned().collect();
        self.on_committed(&owned);
        Ok(())
    }

    /// Leader: the next block from the mempool on the last entry (committed or not), with its
    /// stateRoot over the store plus the uncommitted entries. True if one was proposed.
    fn raft_produce(&mut self) -> bool {
        let latest = self.latest_tx_timestamp();
        let Mode::Raft(c) = &mut self.mode else {
            return false;
        };
        if c.raft.role() != Role::Leader || (self.mempool.is_empty() && !c.needs_block) {
            return false;
        }
        let last = c.raft.last_entry();
        let uncommitted = last.header.height.saturating_sub(c.raft.commit_index());
        if uncommitted >= PIPELINE as u64 && last.term == Some(c.raft.term()) {
            return false;
        }
        let idle_key = (self.mempool_changes, last.header.hash.clone());
        if !c.needs_block && c.idle.as_ref() == Some(&idle_key) {
            return false;
        }
        let tip = self.store.tip();
        let built = {
            let blocks: Vec<&Block> = c
                .raft
                .entries()
                .iter()
                .filter(|e| e.index > tip.height)
                .map(|e| &e.block)
                .collect();
            let _snapshot = self.store.read_snapshot();
            let rules = &self.config.rules;
            let suffix = match c.layers.open(&self.store, rules, &blocks, &mut c.prepared) {
                Ok(suffix) => suffix,
                Err(e) => {
                    let line = format!("cannot build on the uncommitted entries: {e}");
                    self.out.log(Level::Error, Target::Raft, line);
                    return false;
                }
            };
            let pending = suffix.pending();
            let max = self.config.rules.limits.max_txs_per_block;
            let mut txs = self.mempool.ready(max, pending.nonces(), latest);
            let mut held = false;
            if self.now.monotonic < c.hold_changes_until {
                (txs, held) = super::membership::without_governance(txs);
            }
            let idle = txs.is_empty() && !c.needs_block;
            let built =
                (!idle).then(|| build(pending, &last.header, self.now.wall, txs, &self.key));
            c.layers.keep(suffix);
            match built {
                Some(built) => built,
                None => {
                    if !held {
                        c.idle = Some(idle_key);
                    }
                    return false;
                }
            }
        };
        let (block, prepared) = match built {
            Ok(built) => built,
            Err(e) => {
                let line = format!("cannot build a block: {e}");
                self.out.log(Level::Error, Target::Raft, line);
                return false;
            }
        };
        let (hash, height, txs) = (block.hash.clone(), block.height, block.transactions.len());
        let change = prepared.change().cloned();
        let proposed = match change {
            Some(change) => c.raft.propose_change(block, change, self.now.monotonic),
            None => c.raft.propose(block, self.now.monotonic),
        };
        match proposed {
            Ok(_) => {
                let line = format!("proposed height={height} txs={txs}");
                self.out.log(Level::Debug, Target::Raft, line);
                c.prepared.insert(hash, prepared);
                c.needs_block = false;
                c.idle = None;
                true
            }
            Err(ProposeError::Backlog(_)) => false,
            Err(
                e @ (ProposeError::ChangeInProgress
                | ProposeError::NoCommitInTerm
                | ProposeError::NotCaughtUp { .. }),
            ) => {
                let line = format!("holding governance transactions back: {e}");
                self.out.log(Level::Info, Target::Raft, line);
                c.hold_changes_until = self.now.monotonic + super::membership::HOLD_CHANGES_MS;
                false
            }
            Err(e) => {
                let line = format!("proposal refused: {e}");
                self.out.log(Level::Warn, Target::Raft, line);
                false
            }
        }
    }
}

/// Whether `from`'s connection may carry consensus: an authenticated full peer, or any full
/// peer in compat mode (0.2 validators cannot authenticate).
pub(super) fn consensus_connection(peers: &PeerManager, config: &FullConfig, from: &str) -> bool {
    let peer = peers.peer(from);
    peer.is_some_and(|p| p.authenticated && !p.light)
        || (!config.authenticated_consensus && peer.is_some_and(|p| !p.light))
}

/// Whether a screened-out consensus message may be MiniLedger 0.2 behaving as 0.2 does, and so
/// goes unscored: from an unauthenticated full peer that does not claim one of our validators'
/// keys (a 0.2 node campaigns among every node it is connected to), or from any
/// unauthenticated peer in compat mode (a 0.2 validator's Raft log, kept in memory, restarts
/// at index 1 after a restart while block heights go on). It is still ignored. A peer claiming
/// a validator's key without proving it is scored outside compat mode: no honest node does.
fn honest_02(
    peers: &PeerManager,
    config: &FullConfig,
    validators: &crate::validation::ValidatorSet,
    from: &str,
) -> bool {
    let Some(peer) = peers.peer(from) else {
        return false;
    };
    let claims_validator = validators.contains(&peer.public_key);
    !peer.authenticated && !peer.light && (!claims_validator || !config.authenticated_consensus)
}
