//! What hand-written scenarios need beyond the random runs: scripted peers, waiting for a
//! condition, what a node's API would show (its peers, leader, tip, state, linearizable reads),
//! wall-clock steps and the nodes' logs.

use super::fake::{Fake, Script, Ticker};
use super::MemStore;
use super::{End, Link, Sim, WALL_BASE};
use miniledger_core::net::Direction;
use miniledger_core::net::Misbehaviour;
use miniledger_core::node::{NodeStorage, Status};
use miniledger_core::pipeline::ChainReads;
use miniledger_core::pipeline::Rules;
use miniledger_core::raft::Role;
use miniledger_core::state::StateView;
use miniledger_core::validation::{check_transaction, Limits};
use miniledger_core::{Block, Keypair, PayloadBody, Transaction};
use std::collections::BTreeSet;

impl Sim {
    /// Adds a scripted peer listening at [`Sim::fake_address`]`(k)`; returns `k`. Nodes reach it
    /// by dialing that address (give it with [`Sim::add_seed`] before they start).
    pub fn add_fake(
        &mut self,
        key: Keypair,
        height: u64,
        script: Script,
        ticker: Option<(u64, Ticker)>,
    ) -> usize {
        self.fakes.push(Fake {
            key,
            height,
            script,
            ticker,
            handshaken: BTreeSet::new(),
            last_tick: self.now,
        });
        self.fakes.len() - 1
    }

    pub fn fake_address(k: usize) -> String {
        format!("ws://10.0.2.{k}:9000")
    }

    /// The address node `i` listens at.
    pub fn address(i: usize) -> String {
        super::address(i)
    }

    /// Adds `address` to node `i`'s seeds (takes effect at its next start).
    pub fn add_seed(&mut self, i: usize, address: &str) {
        self.full[i].config.seeds.push(address.to_string());
    }

    /// Changes node `i`'s start configuration (takes effect at its next start).
    pub fn configure(
        &mut self,
        i: usize,
        change: impl FnOnce(&mut miniledger_core::node::FullConfig),
    ) {
        change(&mut self.full[i].config);
    }

    pub(super) fn dial_fake(&mut self, from: End, address: &str, k: usize) {
        let End::Full(i) = from else {
            return; // light nodes do not dial scripted peers here
        };
        let conn = self.next_conn;
        self.next_conn += 1;
        self.links.insert(
            conn,
            Link {
                a: from,
                b: End::Fake(k),
                last_at: [0; 2],
            },
        );
        let n = self.now_of(i);
        let address = address.to_string();
        if let Some(node) = self.full[i].node.as_mut() {
            node.on_open(conn, Direction::Outbound { address }, n);
        }
    }

    /// Sends each scripted peer's ticker frames when due.
    pub(super) fn tick_fakes(&mut self) {
        let wall = self.light_now();
        for k in 0..self.fakes.len() {
            let fake = &mut self.fakes[k];
            let Some((every, ticker)) = &mut fake.ticker else {
                continue;
            };
            if self.now < fake.last_tick + *every {
                continue;
            }
            fake.last_tick = self.now;
            let frames = ticker(wall);
            let conns: Vec<_> = fake.handshaken.iter().copied().collect();
            for conn in conns {
                for frame in &frames {
                    self.send(End::Fake(k), conn, frame);
                }
            }
        }
    }

    /// Keeps every full node's log lines (Info and above) from now on.
    pub fn keep_logs(&mut self) {
        if self.node_logs.is_none() {
            self.node_logs = Some(vec![Vec::new(); self.full.len()]);
        }
    }

    /// Node `i`'s log lines kept since [`Sim::keep_logs`] ("Warn sync: message").
    pub fn logs(&self, i: usize) -> &[String] {
        self.node_logs.as_ref().map_or(&[], |l| &l[i])
    }

    /// Runs until `condition` holds (checked after every step), at most `ms`; the simulated
    /// time it took, or what did not happen (with the trace's last lines).
    pub fn run_until(
        &mut self,
        ms: u64,
        what: &str,
        mut condition: impl FnMut(&Sim) -> bool,
    ) -> Result<u64, String> {
        let mut max_seen = vec![0u64; self.full.len()];
        let (start, end) = (self.now, self.now + ms);
        loop {
            self.step(&mut max_seen);
            if !self.violations.is_empty() {
                return Err(self.violations.join("; "));
            }
            if condition(self) {
                return Ok(self.now - start);
            }
            if self.now >= end {
                let tail = self.log.len().saturating_sub(20);
                return Err(format!(
                    "not within {ms} ms: {what}\n{}",
                    self.log[tail..].join("\n")
                ));
            }
            self.advance(end);
        }
    }

    /// The true wall clock (ms since the epoch): what scripted peers stamp their envelopes with.
    pub fn wall(&self) -> u64 {
        self.light_now()
    }

    /// A transaction node `i` signs with its own key and wall clock (as `POST /tx` with a
    /// `{key, value}` body), run until node `i` has committed it (at most `ms`); its hash.
    pub fn commit_own(&mut self, i: usize, body: PayloadBody, ms: u64) -> Result<String, String> {
        let hash = self.submit_own_to(i, body)?;
        self.run_until(ms, &format!("n{i} commits its own transaction"), |s| {
            s.committed_at(i, &hash)
        })?;
        Ok(hash)
    }

    /// Simulated time since the start (ms).
    pub fn now(&self) -> u64 {
        self.now
    }

    pub fn node_up(&self, i: usize) -> bool {
        self.full[i].node.is_some()
    }

    pub fn node_id(&self, i: usize) -> String {
        self.full[i].key.node_id().to_string()
    }

    /// The node ids of node `i`'s full peers (none while it is down).
    pub fn peer_ids(&self, i: usize) -> BTreeSet<String> {
        let Some(node) = &self.full[i].node else {
            return BTreeSet::new();
        };
        (node.peers().peers())
            .filter(|p| !p.light)
            .map(|p| p.node_id.clone())
            .collect()
    }

    /// Node `i`'s connection id to each of its full peers (a reconnect changes it).
    pub fn peer_conns(&self, i: usize) -> std::collections::BTreeMap<String, u64> {
        let Some(node) = &self.full[i].node else {
            return Default::default();
        };
        (node.peers().peers())
            .filter(|p| !p.light)
            .map(|p| (p.node_id.clone(), p.conn))
            .collect()
    }

    /// Node `i`'s `/status` (None: down).
    pub fn status(&self, i: usize) -> Option<Status> {
        Some(self.full[i].node.as_ref()?.status())
    }

    /// The node among `nodes` that every one of them, up, agrees leads, in one term.
    pub fn agreed_leader(&self, nodes: &[usize]) -> Option<usize> {
        let views: Vec<_> = (nodes.iter())
            .map(|&i| self.raft_status(i))
            .collect::<Option<_>>()?;
        let at = views.iter().position(|v| v.role == Role::Leader)?;
        let (id, term) = (&views[at].node_id, views[at].term);
        (views.iter())
            .all(|v| v.leader.as_ref() == Some(id) && v.term == term)
            .then_some(nodes[at])
    }

    /// Runs until `nodes` agree on a leader; its index.
    pub fn await_leader(&mut self, nodes: &[usize], ms: u64) -> Result<usize, String> {
        let nodes = nodes.to_vec();
        self.run_until(ms, "a leader all nodes agree on", |s| {
            s.agreed_leader(&nodes).is_some()
        })?;
        Ok(self.agreed_leader(&nodes).expect("agreed"))
    }

    /// Node `i`'s tip: height and hash.
    pub fn tip(&self, i: usize) -> (u64, String) {
        let store = match (&self.full[i].node, &self.full[i].stopped) {
            (Some(node), _) => node.store(),
            (None, Some(store)) => store,
            _ => return (0, String::new()),
        };
        let tip = store.tip();
        (tip.height, tip.hash)
    }

    /// Node `i`'s block at `height`, if it has it.
    pub fn block(&self, i: usize, height: u64) -> Option<Block> {
        let store = match (&self.full[i].node, &self.full[i].stopped) {
            (Some(node), _) => node.store(),
            (None, Some(store)) => store,
            _ => return None,
        };
        store.blocks().get(height as usize).cloned()
    }

    /// Every transaction hash in node `i`'s chain, in order.
    pub fn chain_tx_hashes(&self, i: usize) -> Vec<String> {
        let top = self.tip(i).0;
        (1..=top)
            .filter_map(|h| self.block(i, h))
            .flat_map(|b| b.transactions.into_iter().map(|t| t.hash))
            .collect()
    }

    /// Node `i`'s value for `key` (canonical JSON), from its applied state.
    pub fn state(&self, i: usize, key: &str) -> Option<String> {
        let node = self.full[i].node.as_ref()?;
        node.store().get(key).map(|e| e.value)
    }

    /// Whether node `i`'s own chain holds the transaction.
    pub fn committed_at(&self, i: usize, hash: &str) -> bool {
        self.full[i]
            .node
            .as_ref()
            .is_some_and(|n| n.store().contains_transaction(hash))
    }

    /// A new client's `state:set` of `key` to `value` (JSON text) submitted to node `i`.
    pub fn submit_set(&mut self, i: usize, key: &str, value: &str) -> Result<String, String> {
        self.clients += 1;
        let mut seed = [0xc1u8; 32];
        seed[..8].copy_from_slice(&self.clients.to_le_bytes());
        let client = Keypair::from_seed(seed);
        let body = PayloadBody::state_set(key, value).map_err(|e| e.to_string())?;
        let tx = Transaction::new_signed(&client, 0, WALL_BASE + self.now, body);
        self.submit_tx(i, tx)
    }

    /// `tx` submitted to node `i` as a client would (acknowledged: held to commit).
    pub fn submit_tx(&mut self, i: usize, tx: Transaction) -> Result<String, String> {
        // What the native node's admission thread does before the node sees it.
        let checked =
            check_transaction(tx.clone(), &Limits::default()).map_err(|e| e.to_string())?;
        let n = self.now_of(i);
        let node = self.full[i].node.as_mut().ok_or("node down")?;
        node.submit(checked, n).map_err(|e| e.to_string())?;
        self.touched.insert(End::Full(i));
        let hash = tx.hash.clone();
        self.acked.push(super::Acked {
            tx,
            at: vec![i],
            lost_with: BTreeSet::new(),
        });
        Ok(hash)
    }

    /// `POST /tx?wait=commit` on node `i`: submits and runs until node `i` has committed it
    /// (at most `ms`); the block height.
    pub fn commit_set(&mut self, i: usize, key: &str, value: &str, ms: u64) -> Result<u64, String> {
        let hash = self.submit_set(i, key, value)?;
        self.run_until(ms, &format!("n{i} commits {key}"), |s| {
            s.committed_at(i, &hash)
        })?;
        let (top, _) = self.tip(i);
        Ok((1..=top)
            .rev()
            .find(|&h| {
                (self.block(i, h)).is_some_and(|b| b.transactions.iter().any(|t| t.hash == hash))
            })
            .expect("committed"))
    }

    /// `GET /state/:key?consistency=linearizable` on node `i`: the read barrier, then the
    /// node's own state; Err with the node's reason when it refuses.
    pub fn linearizable_read(
        &mut self,
        i: usize,
        key: &str,
        ms: u64,
    ) -> Result<Option<String>, String> {
        let id = self.next_read;
        self.next_read += 1;
        let n = self.now_of(i);
        let node = self.full[i].node.as_mut().ok_or("node down")?;
        let answer = node.read_barrier(id, n);
        self.touched.insert(End::Full(i));
        let result = match answer {
            Some(result) => result,
            None => {
                self.run_until(ms, "the read barrier answers", |s| {
                    s.reads_ready.contains_key(&(i, id))
                })?;
                self.reads_ready.remove(&(i, id)).expect("answered")
            }
        };
        result.map_err(|e| e.to_string())?;
        Ok(self.state(i, key))
    }

    /// Steps node `i`'s wall clock to `offset_ms` from true time (an NTP step, `date -s`); its
    /// monotonic clock runs on.
    pub fn set_wall_offset(&mut self, i: usize, offset_ms: i64) {
        self.full[i].skew_ms = offset_ms;
        self.touched.insert(End::Full(i));
        self.note(format!("n{i}'s wall clock stepped to {offset_ms} ms"));
    }

    /// Node `i`'s misbehaviour record of `node_id`, as `/peers` shows it.
    pub fn misbehaviour(&self, i: usize, node_id: &str) -> Option<Misbehaviour> {
        let node = self.full[i].node.as_ref()?;
        let now = self.now_of(i).monotonic;
        (node.peers().misbehaviour(now).into_iter()).find(|m| m.node_id == node_id)
    }

    /// Node `i` (not started) starts on a store that already holds `blocks` (committed under
    /// `rules`), as a data directory filled beforehand.
    pub fn preload(&mut self, i: usize, blocks: &[Block], rules: &Rules) {
        let mut store = MemStore::new();
        let (count, refused) = (store.commit_synced(blocks, None, rules, &[])).expect("in memory");
        assert_eq!(
            (count, refused),
            (blocks.len(), None),
            "the preloaded blocks commit"
        );
        self.full[i].stopped = Some(store);
    }
}
