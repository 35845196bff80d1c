//! The light client: the verifier on MiniLedger's conformance chain and its tampered variants,
//! bounded memory, nonce tracking; and LightNode against scripted full peers on an in-memory
//! network (sync, discovery, a tampered block, failover, announcements, a submitted transaction).

#[path = "support/variants.rs"]
mod variants;

use miniledger_core::decode::from_json;
use miniledger_core::hash::{sha256_hex, ZERO_HASH};
use miniledger_core::light::{
    BlockSource, Io, LightConfig, LightEvent, LightNode, LightVerifier, NonceTracker,
};
use miniledger_core::net::{ConnId, Direction, PeerConfig, PeerEvent, PeerManager, Transmit};
use miniledger_core::protocol::{BlockAnnounce, Message, SyncResponse};
use miniledger_core::validation::{Limits, Rule, ValidatorSet};
use miniledger_core::Governance;
use miniledger_core::{Block, Keypair, PayloadBody, Transaction};
use serde_json::Value;
use std::collections::BTreeMap;

const NOW: u64 = 1_700_000_100_000;

fn chain_json() -> Value {
    serde_json::from_str(include_str!("vectors/chain.json")).unwrap()
}

fn conformance_validators() -> ValidatorSet {
    let v = chain_json();
    ValidatorSet::new([v["proposer"]["publicKey"].as_str().unwrap().to_string()])
}

fn verifier(validators: ValidatorSet) -> LightVerifier {
    LightVerifier::new(
        validators,
        Governance::Recorded,
        Limits::default(),
        64,
        1 << 20,
        1_000,
    )
}

#[test]
fn conformance_chain_verifies_and_tampered_blocks_are_rejected() {
    let v = chain_json();
    let blocks: Vec<Block> = v["blocks"].as_array().unwrap()[1..]
        .iter()
        .map(|b| from_json(&b.to_string()).unwrap())
        .collect();
    let mut light = verifier(conformance_validators());
    for block in &blocks {
        light.verify_next(block.clone(), NOW).unwrap();
    }
    assert_eq!(light.tip().hash, v["tipHash"].as_str().unwrap());
    assert_eq!(light.stats().blocks_verified, 5);

    for variant in v["invalidVariants"].as_array().unwrap() {
        let name = variant["name"].as_str().unwrap();
        let mut light = verifier(conformance_validators());
        light.verify_next(blocks[0].clone(), NOW).unwrap();
        light.verify_next(blocks[1].clone(), NOW).unwrap();
        match (
            from_json::<Block>(&variant["block"].to_string()),
            variants::light_rule(name),
        ) {
            (Ok(block), Ok(Some(rule))) => {
                let err = light.verify_next(block, NOW).expect_err(name);
                assert_eq!(err.rule, rule, "{name}: {err}");
                assert_eq!(
                    light.height(),
                    2,
                    "{name}: a rejected block changes nothing"
                );
                assert_eq!(light.stats().blocks_rejected, 1);
                light
                    .verify_next(blocks[2].clone(), NOW)
                    .unwrap_or_else(|e| panic!("{name}: honest block refused: {e}"));
            }
            (Ok(block), Ok(None)) => light.verify_next(block, NOW).unwrap(),
            (Err(err), Err(field)) => assert_eq!(err.path, field, "{name}"),
            (parsed, expected) => panic!("{name}: parsed {parsed:?}, expected {expected:?}"),
        }
    }
}

fn proposer() -> Keypair {
    Keypair::from_seed([7; 32])
}

fn sender(i: u64) -> Keypair {
    Keypair::from_seed(
        sha256_hex(i.to_string()).as_bytes()[..32]
            .try_into()
            .unwrap(),
    )
}

/// `count` blocks on top of `parent`, each with `txs` transactions from `senders` senders,
/// numbered from `first_nonce_of` (the next nonce of each sender).
fn build(parent: &Block, count: u64, txs: u64, nonces: &mut BTreeMap<u64, u64>) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for _ in 0..count {
        let parent = out.last().unwrap_or(parent).header();
        let height = parent.height + 1;
        let body = |i: u64| PayloadBody::state_set(format!("k{height}-{i}"), "1").unwrap();
        let transactions = (0..txs)
            .map(|i| {
                let nonce = nonces.entry(i).or_insert(0);
                *nonce += 1;
                Transaction::new_signed(&sender(i), *nonce - 1, height * 1000, body(i))
            })
            .collect();
        let timestamp = 1_000_000 + height * 1000;
        out.push(Block::build(
            &parent,
            timestamp,
            transactions,
            ZERO_HASH.into(),
            &proposer(),
        ));
    }
    out
}

fn chain(len: u64, txs: u64) -> Vec<Block> {
    let mut blocks = vec![Block::genesis()];
    blocks.extend(build(&Block::genesis(), len, txs, &mut BTreeMap::new()));
    blocks
}

fn trust() -> ValidatorSet {
    ValidatorSet::new([proposer().public_hex().to_string()])
}

#[test]
fn memory_is_bounded_by_the_recent_window() {
    let blocks = chain(300, 3);
    let mut light = LightVerifier::new(
        trust(),
        Governance::Recorded,
        Limits::default(),
        10,
        1 << 20,
        100,
    );
    for block in &blocks[1..] {
        light.verify_next(block.clone(), NOW).unwrap();
    }
    assert_eq!(light.height(), 300);
    assert_eq!(light.recent().count(), 10);
    assert_eq!(light.block(300), Some(&blocks[300]));
    assert_eq!(light.block(291), Some(&blocks[291]));
    assert_eq!(light.block(290), None);
    assert_eq!(light.stats().txs_verified, 900);
    // A byte bound smaller than one block still keeps the tip block.
    let mut tiny = LightVerifier::new(trust(), Governance::Recorded, Limits::default(), 10, 1, 100);
    for block in &blocks[1..] {
        tiny.verify_next(block.clone(), NOW).unwrap();
    }
    assert_eq!(tiny.recent().count(), 1);
}

#[test]
fn nonces_are_exact_until_the_capacity_then_forgotten_senders_restart() {
    let mut nonces = BTreeMap::new();
    let blocks = build(&Block::genesis(), 2, 4, &mut nonces);
    let mut tracker = NonceTracker::new(3);
    let update = tracker.check(&blocks[0]).unwrap();
    tracker.commit(update, 1);
    assert!(!tracker.is_exact(), "4 senders over a capacity of 3");
    assert!(tracker.len() <= 3);
    // Block 2 carries nonce 1 for every sender: tracked ones expect it, forgotten ones take it
    // as their baseline.
    let update = tracker.check(&blocks[1]).unwrap();
    tracker.commit(update, 2);
    // A replay of a tracked sender's nonce is still caught.
    let tracked = (0..4).find(|&i| tracker.next_nonce(sender(i).public_hex()) == Some(2));
    let i = tracked.expect("someone tracked");
    let mut replay = blocks[1].clone();
    replay
        .transactions
        .retain(|tx| tx.sender == sender(i).public_hex());
    assert_eq!(tracker.check(&replay).unwrap_err().rule, Rule::TxReplay);
    // Exact tracking: a new sender must start at 0.
    let exact = NonceTracker::new(100);
    assert_eq!(exact.check(&blocks[1]).unwrap_err().rule, Rule::TxNonceGap);
}

/// A scripted full node: a real PeerManager plus a chain it serves (optionally tampering one
/// height) and the transactions it received.
struct Full {
    peers: PeerManager,
    chain: Vec<Block>,
    tamper_at: Option<u64>,
    received: Vec<Transaction>,
    up: bool,
}

struct Net {
    light: LightNode,
    full: Vec<Full>,
    /// conn → full node index and its conn id there (same id on both ends).
    links: BTreeMap<ConnId, usize>,
    next_conn: ConnId,
    now: u64,
    events: Vec<LightEvent>,
}

fn address(i: usize) -> String {
    format!("ws://10.0.0.{i}:9000")
}

impl Net {
    fn new(chains: Vec<Vec<Block>>) -> Net {
        let full = chains
            .into_iter()
            .enumerate()
            .map(|(i, chain)| {
                let key = Keypair::from_seed([i as u8 + 100; 32]);
                let mut config = PeerConfig::new(key.public_hex(), "org", 9000);
                config.listen_address = Some(format!("10.0.0.{i}"));
                let mut peers = PeerManager::new(config, i as u64);
                peers.set_chain_height(chain.len() as u64 - 1);
                // Node 0 authenticates its peers; the others act as MiniLedger 0.2 nodes.
                if i == 0 {
                    peers.enable_auth(key.clone(), [42; 32]);
                }
                Full {
                    peers,
                    chain,
                    tamper_at: None,
                    received: Vec::new(),
                    up: true,
                }
            })
            .collect();
        let mut config = LightConfig::new(trust());
        config.sync.batch_size = 20;
        config.recent_blocks = 16;
        Net {
            light: LightNode::new([9; 32], 1, config),
            full,
            links: BTreeMap::new(),
            next_conn: 1,
            now: NOW,
            events: Vec::new(),
        }
    }

    /// Delivers everything and verifies every ready block, until quiet.
    fn settle(&mut self) {
        loop {
            // Discovered addresses are dialed at the next tick (the driver's timer).
            self.light.tick(self.now);
            let mut progressed = self.light.step(self.now);
            while let Some(io) = self.light.poll_io() {
                progressed = true;
                self.light_io(io);
            }
            // Each full node's driver: its events first, then its transmits, until both are
            // empty (what handling an event sends queues behind the manager's own transmits).
            for i in 0..self.full.len() {
                loop {
                    let mut drained = false;
                    while let Some(event) = self.full[i].peers.poll_event() {
                        drained = true;
                        self.full_event(i, event);
                    }
                    while let Some(transmit) = self.full[i].peers.poll_transmit() {
                        drained = true;
                        self.full_transmit(i, transmit);
                    }
                    if !drained {
                        break;
                    }
                    progressed = true;
                }
            }
            while let Some(event) = self.light.poll_event() {
                self.events.push(event);
            }
            if !progressed {
                break;
            }
        }
    }

    fn light_io(&mut self, io: Io) {
        match io {
            Io::Dial { address } => {
                let i: usize = address["ws://10.0.0.".len()..]
                    .split(':')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                if !self.full[i].up {
                    return self.light.on_dial_failed(&address, self.now);
                }
                let conn = self.next_conn;
                self.next_conn += 1;
                self.links.insert(conn, i);
                let remote_ip = "10.0.0.99".into();
                self.full[i]
                    .peers
                    .on_open(conn, Direction::Inbound { remote_ip }, self.now);
                self.light.on_open(conn, &address, self.now);
            }
            Io::Send { conn, frame } => {
                if let Some(&i) = self.links.get(&conn) {
                    self.full[i].peers.on_frame(conn, &frame, self.now);
                }
            }
            Io::Close { conn, .. } => {
                if let Some(i) = self.links.remove(&conn) {
                    self.full[i].peers.on_closed(conn, self.now);
                    self.light.on_closed(conn, self.now);
                }
            }
        }
    }

    fn full_transmit(&mut self, i: usize, transmit: Transmit) {
        let now = self.now;
        match transmit {
            Transmit::Send { conn, frame } if self.links.get(&conn) == Some(&i) => {
                self.light.on_frame(conn, &frame, now);
            }
            Transmit::Close { conn, .. } if self.links.remove(&conn).is_some() => {
                self.light.on_closed(conn, now);
                self.full[i].peers.on_closed(conn, now);
            }
            _ => {}
        }
    }

    fn full_event(&mut self, i: usize, event: PeerEvent) {
        let now = self.now;
        if let PeerEvent::Message { from, message, .. } = event {
            let node = &mut self.full[i];
            match message {
                Message::SyncRequest(range) => {
                    let top = (node.chain.len() as u64 - 1).min(range.to_height);
                    let mut blocks: Vec<Block> = (range.from_height..=top)
                        .map(|h| node.chain[h as usize].clone())
                        .collect();
                    for block in &mut blocks {
                        if Some(block.height) == node.tamper_at {
                            block.signature = block.signature.replace('a', "b");
                        }
                    }
                    let response = Message::SyncResponse(SyncResponse {
                        blocks,
                        has_more: false,
                        terms: None,
                    });
                    node.peers.send_to(&from, &response, now);
                }
                Message::TxBroadcast(m) => node.received.push(m.transaction),
                _ => {}
            }
        }
    }

    /// Full node `i` goes down: its sockets close.
    fn kill(&mut self, i: usize) {
        self.full[i].up = false;
        let conns: Vec<ConnId> = self
            .links
            .iter()
            .filter(|(_, &n)| n == i)
            .map(|(&c, _)| c)
            .collect();
        for conn in conns {
            self.links.remove(&conn);
            self.light.on_closed(conn, self.now);
        }
    }

    fn blocks(&self) -> Vec<(u64, bool, BlockSource)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                LightEvent::Block(r) => Some((r.height, r.result.is_ok(), r.source)),
                _ => None,
            })
            .collect()
    }

    fn verified_heights(&self) -> Vec<u64> {
        let blocks = self.blocks().into_iter();
        blocks.filter(|b| b.1).map(|b| b.0).collect()
    }
}

#[test]
fn syncs_as_a_light_peer_from_two_full_nodes_found_by_discovery() {
    let blocks = chain(120, 2);
    let mut net = Net::new(vec![blocks.clone(), blocks.clone()]);
    // Node 1 is connected to node 0, so node 0's PEER_LIST tells the light node about it.
    net.full[0].peers.add_address(&address(1), net.now);
    net.full[0].peers.tick(net.now);
    let dial = net.full[0].peers.poll_transmit();
    assert_eq!(
        dial,
        Some(Transmit::Dial {
            address: address(1)
        })
    );
    assert_eq!(net.full[0].peers.poll_event(), None);
    let conn = 1_000;
    net.full[1].peers.on_open(
        conn,
        Direction::Inbound {
            remote_ip: "10.0.0.0".into(),
        },
        net.now,
    );
    net.full[0].peers.on_open(
        conn,
        Direction::Outbound {
            address: address(1),
        },
        net.now,
    );
    for _ in 0..4 {
        for (from, to) in [(0, 1), (1, 0)] {
            // Only frames cross; the events (a connected peer) are not needed here.
            while net.full[from].peers.poll_event().is_some() {}
            while let Some(transmit) = net.full[from].peers.poll_transmit() {
                if let Transmit::Send { frame, .. } = transmit {
                    net.full[to].peers.on_frame(conn, &frame, net.now);
                }
            }
        }
    }
    assert_eq!(net.full[0].peers.peers().count(), 1);

    net.light.add_address(&address(0), net.now);
    net.settle();
    assert_eq!(net.verified_heights(), (1..=120).collect::<Vec<_>>());
    assert_eq!(net.light.tip().hash, blocks[120].hash);
    let peers = net.light.peers(net.now);
    assert_eq!(peers.len(), 2, "connected to both full nodes");
    // Both full nodes see a light peer and keep it out of their PEER_LISTs; the light node
    // proved its key to node 0, which offers authentication, and to it only.
    for (i, full) in net.full.iter().enumerate() {
        let light = full.peers.peers().find(|p| p.light).expect("light peer");
        assert_eq!(light.address, None);
        assert_eq!(light.authenticated, i == 0);
    }
    for (peer, _) in &peers {
        assert_eq!(
            peer.authenticated,
            peer.node_id == net.full[0].peers.config().node_id
        );
    }
    // Bounded: only the recent window is kept.
    assert_eq!(net.light.verifier().recent().count(), 16);
    assert!(net.light.block(104).is_none() && net.light.block(105).is_some());
    assert!(net.events.iter().any(|e| matches!(
        e,
        LightEvent::Progress {
            height: 120,
            target: 120
        }
    )));
}

#[test]
fn a_tampered_block_is_rejected_and_fetched_again_from_an_honest_peer() {
    let blocks = chain(60, 2);
    let mut net = Net::new(vec![blocks.clone(), blocks.clone()]);
    net.full[0].tamper_at = Some(30);
    net.light.add_address(&address(0), net.now);
    net.settle(); // only the malicious peer is known: verified up to 29, 30 rejected
    assert_eq!(net.light.height(), 29);
    let rejected: Vec<_> = net
        .events
        .iter()
        .filter_map(|e| match e {
            LightEvent::Block(r) if r.result.is_err() => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].height, 30);
    assert_eq!(
        rejected[0].result.as_ref().unwrap_err().rule,
        Rule::BlockSignature
    );
    assert!(net.light.peers(net.now)[0].1, "the peer is skipped");

    net.light.add_address(&address(1), net.now);
    net.settle();
    assert_eq!(net.light.height(), 60);
    assert_eq!(net.verified_heights(), (1..=60).collect::<Vec<_>>());
}

#[test]
fn fails_over_when_its_peer_drops_and_follows_announcements() {
    let mut blocks = chain(80, 1);
    let mut net = Net::new(vec![blocks[..=40].to_vec(), blocks.clone()]);
    net.light.add_address(&address(0), net.now);
    net.light.add_address(&address(1), net.now);
    net.settle();
    assert_eq!(net.light.height(), 80);
    net.kill(1);
    net.settle();
    assert_eq!(net.light.peers(net.now).len(), 1);

    // Node 0 catches up and produces a block holding the light node's transaction.
    net.full[0].chain = blocks.clone();
    let tx = net
        .light
        .submit(PayloadBody::state_set("from-light", "42").unwrap(), net.now)
        .unwrap();
    net.settle();
    assert_eq!(net.full[0].received, vec![tx.clone()]);
    let next = Block::build(
        &blocks[80].header(),
        net.now,
        vec![tx.clone()],
        ZERO_HASH.into(),
        &proposer(),
    );
    blocks.push(next.clone());
    net.full[0].chain = blocks.clone();
    net.full[0].peers.set_chain_height(81);
    net.full[0].peers.broadcast(
        &Message::BlockAnnounce(BlockAnnounce {
            block: next.clone(),
        }),
        net.now,
    );
    net.settle();
    assert_eq!(net.light.height(), 81);
    assert_eq!(
        net.blocks().last(),
        Some(&(81, true, BlockSource::Announce))
    );
    assert!(net.events.contains(&LightEvent::TxCommitted {
        hash: tx.hash.clone(),
        height: 81,
        block_hash: next.hash.clone(),
    }));
    assert_eq!(net.light.pending().count(), 0);
    // The next own transaction takes the next nonce.
    let second = net
        .light
        .submit(PayloadBody::state_set("again", "1").unwrap(), net.now)
        .unwrap();
    assert_eq!(second.nonce, 1);
}
