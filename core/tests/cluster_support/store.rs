//! The simulator's store: core's [`MemoryChain`] for the committed chain, plus what the full
//! node keeps besides (block JSON, the transaction index, Raft's hard state and log, block
//! terms, the own-nonce reservation). Every write is atomic; as in the SQLite store, a
//! `Durability::Logged` commit (committed Raft entries) and a synced run are durable only once
//! a later write is synced (a Raft write, a `Synced` commit, a nonce reservation). A simulated
//! crash is a power failure: it keeps exactly what was durable ([`MemStore::power_loss`]).

use miniledger_core::node::{
    CommitItem, Durability, NodeStorage, RaftWrite, StorageError, SyncedRun,
};
use miniledger_core::pipeline::{self, ChainReads, Executed, MemoryChain, Rules, Verdict};
use miniledger_core::protocol::LogEntry;
use miniledger_core::raft::{HardState, Restored};
use miniledger_core::state::commitment::jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use miniledger_core::state::commitment::jmt::{KeyHash, OwnedValue, Version};
use miniledger_core::state::commitment::TreeChanges;
use miniledger_core::state::{StateEntry, StateView};
use miniledger_core::validation::{NonceView, ValidationError};
use miniledger_core::{Block, BlockHeader};
use std::collections::{BTreeMap, HashMap};

#[derive(Clone)]
pub struct MemStore {
    chain: MemoryChain,
    /// Index = height; genesis first.
    blocks: Vec<Block>,
    tx_heights: HashMap<String, u64>,
    terms: BTreeMap<u64, u64>,
    hard_state: HardState,
    log: BTreeMap<u64, LogEntry>,
    own_reserved: u64,
    /// The store as of its last synced write, while writes since may be lost (None: all of it
    /// is durable).
    durable: Option<Box<MemStore>>,
    /// Heights committed from synced runs since the last synced write.
    synced: std::collections::BTreeSet<u64>,
}

impl MemStore {
    pub fn new() -> Self {
        MemStore {
            chain: MemoryChain::new(true),
            blocks: vec![Block::genesis()],
            tx_heights: HashMap::new(),
            terms: BTreeMap::from([(0, 0)]),
            hard_state: HardState::default(),
            log: BTreeMap::new(),
            own_reserved: 0,
            durable: None,
            synced: Default::default(),
        }
    }

    /// What a power failure leaves: the store as of its last synced write, and the committed
    /// blocks it lost that it cannot get back from its own Raft log (neither a persisted entry
    /// with the same hash nor a block it synced from a peer, which peers still hold).
    pub fn power_loss(mut self) -> (MemStore, Vec<u64>) {
        let Some(durable) = self.durable.take() else {
            return (self, Vec::new());
        };
        let lost = (durable.height() + 1..=self.height())
            .filter(|&h| {
                let block = &self.blocks[h as usize];
                let logged = durable.log.get(&h).map(|e| &e.block.hash) == Some(&block.hash);
                !logged && !self.synced.contains(&h)
            })
            .collect();
        (*durable, lost)
    }

    /// Before a write that is not synced: keeps what is durable now, unless already kept.
    fn unsynced_write(&mut self) {
        if self.durable.is_none() {
            self.durable = Some(Box::new(self.clone()));
        }
    }

    /// After a synced write: everything written so far is durable.
    fn synced_write(&mut self) {
        self.durable = None;
        self.synced.clear();
    }

    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    pub fn height(&self) -> u64 {
        self.blocks.len() as u64 - 1
    }

    fn commit_verdict(&mut self, blocks: &[&Block], verdict: Verdict, terms: &[Option<u64>]) {
        let count = verdict.accepted.len();
        self.chain.commit(blocks, verdict);
        for (i, block) in blocks[..count].iter().enumerate() {
            for tx in &block.transactions {
                self.tx_heights.insert(tx.hash.clone(), block.height);
            }
            if let Some(Some(term)) = terms.get(i) {
                self.terms.insert(block.height, *term);
            }
            self.blocks.push((*block).clone());
        }
        let tip = self.height();
        self.log.retain(|&index, _| index > tip);
    }
}

impl StateView for MemStore {
    fn get(&self, key: &str) -> Option<StateEntry> {
        self.chain.get(key)
    }
}

impl NonceView for MemStore {
    fn next_nonce(&self, sender: &str) -> u64 {
        self.chain.next_nonce(sender)
    }
}

impl TreeReader for MemStore {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        self.chain.get_node_option(node_key)
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        self.chain.get_value_option(max_version, key_hash)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        self.chain.get_rightmost_leaf()
    }
}

impl ChainReads for MemStore {
    fn tip(&self) -> BlockHeader {
        self.chain.tip()
    }

    fn tree_version(&self) -> Option<Version> {
        self.chain.tree_version()
    }

    fn keeps_tree(&self) -> bool {
        self.chain.keeps_tree()
    }

    fn contains_transaction(&self, hash: &str) -> bool {
        self.chain.contains_transaction(hash)
    }

    fn miniledger_reproducible(&self) -> bool {
        self.chain.miniledger_reproducible()
    }

    fn miniledger_root_with(
        &self,
        pending: &BTreeMap<String, Option<StateEntry>>,
    ) -> Result<String, String> {
        self.chain.miniledger_root_with(pending)
    }
}

impl NodeStorage for MemStore {
    type Snapshot<'a> = ();

    fn read_snapshot(&self) -> Self::Snapshot<'_> {}

    fn next_nonce_of(&self, sender: &str) -> Result<u64, StorageError> {
        Ok(self.chain.next_nonce(sender))
    }

    fn committed_height(&self, hash: &str) -> Result<Option<u64>, StorageError> {
        Ok(self.tx_heights.get(hash).copied())
    }

    fn commit(
        &mut self,
        items: &[CommitItem<'_>],
        tree: TreeChanges,
        terms: &[Option<u64>],
        durability: Durability,
    ) -> Result<(), StorageError> {
        let blocks: Vec<&Block> = items.iter().map(|i| i.block).collect();
        if let Some(first) = blocks.first() {
            let tip = self.chain.tip();
            if first.previous_hash != tip.hash || first.height != tip.height + 1 {
                return Err(StorageError::new("not the next block", false));
            }
        }
        let accepted = (items.iter())
            .map(|i| {
                std::sync::Arc::new(Executed {
                    delta: i.delta.clone(),
                    next_nonces: i.next_nonces.clone(),
                    change: None, // membership is Raft's, not the store's
                })
            })
            .collect();
        let verdict = Verdict {
            accepted,
            tree,
            refused: None,
        };
        match durability {
            Durability::Logged => self.unsynced_write(),
            Durability::Synced => {}
        }
        self.commit_verdict(&blocks, verdict, terms);
        if durability == Durability::Synced {
            self.synced_write();
        }
        Ok(())
    }

    fn commit_synced(
        &mut self,
        blocks: &[Block],
        stateless: Option<(usize, ValidationError)>,
        rules: &Rules,
        terms: &[Option<u64>],
    ) -> Result<SyncedRun, StorageError> {
        // As the SQLite store's: synced blocks are held by peers, their commit not synced.
        self.unsynced_write();
        let verdict = pipeline::check_verified(&self.chain, rules, blocks, stateless, None);
        let refused = verdict.refused.clone();
        let count = verdict.accepted.len();
        let refs: Vec<&Block> = blocks.iter().collect();
        self.synced.extend(blocks[..count].iter().map(|b| b.height));
        self.commit_verdict(&refs, verdict, terms);
        Ok((count, refused))
    }

    fn raft_restored(&self) -> Result<Restored, StorageError> {
        let commit = self.chain.tip();
        Ok(Restored {
            hard_state: self.hard_state.clone(),
            commit_term: self.terms.get(&commit.height).copied(),
            entries: self
                .log
                .range(commit.height + 1..)
                .map(|(_, e)| e.clone())
                .collect(),
            commit,
        })
    }

    fn persist_raft(&mut self, write: &RaftWrite<'_>) -> Result<(), StorageError> {
        if write.is_empty() {
            return Ok(());
        }
        if let Some(hard) = write.hard_state {
            self.hard_state = hard.clone();
        }
        if let Some(from) = write.truncate_from {
            self.log.split_off(&from);
        }
        for entry in write.entries {
            self.log.insert(entry.index, entry.clone());
        }
        if let Some((height, term)) = write.learned_term {
            self.terms.insert(height, term);
        }
        self.synced_write();
        Ok(())
    }

    fn block_terms(&self, from: u64, to: u64) -> Result<Option<Vec<u64>>, StorageError> {
        let terms: Vec<u64> = (from..=to)
            .filter_map(|h| self.terms.get(&h).copied())
            .collect();
        Ok((terms.len() as u64 == to + 1 - from).then_some(terms))
    }

    fn block_json_range(
        &self,
        from: u64,
        to: u64,
        max_bytes: usize,
    ) -> Result<Vec<String>, StorageError> {
        let mut out = Vec::new();
        let mut total = 0;
        for block in self
            .blocks
            .iter()
            .skip(from as usize)
            .take((to + 1 - from) as usize)
        {
            let json = serde_json::to_string(block).expect("blocks serialize");
            if !out.is_empty() && total + json.len() > max_bytes {
                break;
            }
            total += json.len();
            out.push(json);
        }
        Ok(out)
    }

    fn own_nonces_reserved(&self) -> Result<u64, StorageError> {
        Ok(self.own_reserved)
    }

    fn reserve_own_nonces(&mut self, below: u64) -> Result<(), StorageError> {
        self.own_reserved = below;
        self.synced_write();
        Ok(())
    }
}
