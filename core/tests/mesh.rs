//! PeerManager scenarios on a deterministic in-memory network: node `i` listens at
//! `ws://10.0.0.i:9000`; frames are delivered in order; time only moves when a test says so.

use miniledger_core::net::{ConnId, Direction, PeerConfig, PeerEvent, PeerManager, Transmit};
use miniledger_core::protocol::{Envelope, Message};
use miniledger_core::rng::SplitMix;
use miniledger_core::Keypair;
use std::collections::{BTreeMap, BTreeSet};

struct Net {
    nodes: Vec<PeerManager>,
    /// conn id → (node, the other end's node and conn)
    links: BTreeMap<ConnId, (usize, usize, ConnId)>,
    next_conn: ConnId,
    /// Nodes that are down: they neither tick nor receive, and dials to them fail.
    down: BTreeSet<usize>,
    /// conn id → the node at its other end (kept after the socket closes).
    ends: BTreeMap<ConnId, usize>,
    now: u64,
    /// What each node reported, in order.
    events: Vec<(usize, PeerEvent)>,
    /// The socket work each node asked for, in order.
    transmits: Vec<(usize, Transmit)>,
}

fn address(i: usize) -> String {
    format!("ws://10.0.0.{i}:9000")
}

fn node_of(address: &str) -> usize {
    address
        .trim_start_matches("ws://10.0.0.")
        .trim_end_matches(":9000")
        .parse()
        .unwrap()
}

impl Net {
    fn new(n: usize) -> Net {
        let nodes = (0..n)
            .map(|i| {
                let key = Keypair::from_seed([i as u8 + 1; 32]);
                PeerManager::new(PeerConfig::new(key.public_hex(), "org", 9000), i as u64)
            })
            .collect();
        Net {
            nodes,
            links: BTreeMap::new(),
            next_conn: 1,
            down: BTreeSet::new(),
            ends: BTreeMap::new(),
            now: 1_000,
            events: Vec::new(),
            transmits: Vec::new(),
        }
    }

    /// Nodes `which` offer and answer challenge-responses; the others act as MiniLedger 0.2.
    fn authenticating(mut self, which: &[usize]) -> Net {
        for &i in which {
            let key = Keypair::from_seed([i as u8 + 1; 32]);
            self.nodes[i].enable_auth(key, [i as u8 + 100; 32]);
        }
        self
    }

    /// Every frame node `i` sent to node `j`.
    fn frames(&self, i: usize, j: usize) -> Vec<String> {
        self.transmits
            .iter()
            .filter_map(|(from, t)| match t {
                Transmit::Send { conn, frame } if *from == i => Some((*conn, frame)),
                _ => None,
            })
            .filter(|(conn, _)| self.sent_to(*conn) == Some(j))
            .map(|(_, frame)| frame.to_string())
            .collect()
    }

    fn sent_to(&self, conn: ConnId) -> Option<usize> {
        self.ends.get(&conn).copied()
    }

    fn id(&self, i: usize) -> String {
        self.nodes[i].config().node_id.clone()
    }

    /// Runs every node's output until quiet: as a driver does, its events first, then its
    /// transmits.
    fn settle(&mut self) {
        loop {
            let mut progressed = false;
            for i in 0..self.nodes.len() {
                while let Some(event) = self.nodes[i].poll_event() {
                    progressed = true;
                    self.events.push((i, event));
                }
                while let Some(transmit) = self.nodes[i].poll_transmit() {
                    progressed = true;
                    self.transmits.push((i, transmit.clone()));
                    self.perform(i, transmit);
                }
            }
            if !progressed {
                return;
            }
        }
    }

    fn perform(&mut self, i: usize, transmit: Transmit) {
        let now = self.now;
        match transmit {
            Transmit::Dial { address } => {
                let j = node_of(&address);
                if self.down.contains(&j) {
                    self.nodes[i].on_dial_failed(&address, now);
                    return;
                }
                let (a, b) = (self.next_conn, self.next_conn + 1);
                self.next_conn += 2;
                self.links.insert(a, (i, j, b));
                self.links.insert(b, (j, i, a));
                self.ends.insert(a, j);
                self.ends.insert(b, i);
                self.nodes[j].on_open(
                    b,
                    Direction::Inbound {
                        remote_ip: format!("10.0.0.{i}"),
                    },
                    now,
                );
                self.nodes[i].on_open(a, Direction::Outbound { address }, now);
            }
            Transmit::Send { conn, frame } => {
                if let Some(&(_, j, other)) = self.links.get(&conn) {
                    if !self.down.contains(&j) {
                        self.nodes[j].on_frame(other, &frame, now);
                    }
                }
            }
            Transmit::Close { conn, .. } => self.cut(conn),
        }
    }

    fn cut(&mut self, conn: ConnId) {
        let now = self.now;
        if let Some((i, j, other)) = self.links.remove(&conn) {
            self.links.remove(&other);
            self.nodes[i].on_closed(conn, now);
            self.nodes[j].on_closed(other, now);
        }
    }

    /// Advances time in steps, ticking every node and settling after each step.
    fn run_for(&mut self, ms: u64, step: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.now += step;
            for i in 0..self.nodes.len() {
                if !self.down.contains(&i) {
                    self.nodes[i].tick(self.now);
                }
            }
            self.settle();
        }
    }

    /// Stops node `k`: its sockets close, and it stays silent and undialable.
    fn crash(&mut self, k: usize) {
        self.down.insert(k);
        let conns: Vec<ConnId> = self
            .links
            .iter()
            .filter(|(_, (i, _, _))| *i == k)
            .map(|(c, _)| *c)
            .collect();
        for c in conns {
            self.cut(c);
        }
        self.settle();
    }

    fn connected(&self, i: usize) -> BTreeSet<String> {
        self.nodes[i].peers().map(|p| p.node_id.clone()).collect()
    }

    fn full_mesh(&self, alive: &[usize]) -> bool {
        alive.iter().all(|&i| {
            let want: BTreeSet<String> = alive
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| self.id(j))
                .collect();
            self.connected(i) == want
        })
    }
}

#[test]
fn five_nodes_with_one_seed_form_a_full_mesh() {
    let mut net = Net::new(5);
    for i in 1..5 {
        net.nodes[i].add_address(&address(0), net.now);
    }
    net.run_for(3_000, 100);
    assert!(
        net.full_mesh(&[0, 1, 2, 3, 4]),
        "{:?}",
        (0..5).map(|i| net.connected(i)).collect::<Vec<_>>()
    );
    // Exactly one socket per pair survives.
    assert_eq!(net.links.len(), 2 * 10);
}

#[test]
fn stopped_node_is_noticed_by_all_and_reconnected_when_back() {
    let mut net = Net::new(5);
    for i in 1..5 {
        net.nodes[i].add_address(&address(0), net.now);
    }
    net.run_for(3_000, 100);
    net.crash(3);
    for i in [0, 1, 2, 4] {
        assert!(
            !net.connected(i).contains(&net.id(3)),
            "node {i} still lists node 3"
        );
    }
    let disconnects = net
        .events
        .iter()
        .filter(|(_, e)| matches!(e, PeerEvent::Disconnected { .. }))
        .count();
    assert!(disconnects >= 4);
    // Node 3 comes back: peers that dialed it reconnect by backoff, without operator action.
    net.down.remove(&3);
    // It restarts with no addresses at all: the others find it.
    net.nodes[3] = PeerManager::new(
        PeerConfig::new(Keypair::from_seed([4; 32]).public_hex(), "org", 9000),
        99,
    );
    net.run_for(40_000, 250);
    assert!(
        net.full_mesh(&[0, 1, 2, 3, 4]),
        "{:?}",
        (0..5).map(|i| net.connected(i).len()).collect::<Vec<_>>()
    );
}

#[test]
fn silent_peer_is_dropped_after_three_intervals() {
    let mut net = Net::new(2);
    net.nodes[1].add_address(&address(0), net.now);
    net.run_for(500, 100);
    assert_eq!(net.connected(0).len(), 1);
    // Node 1 freezes: its socket stays open but it neither sends nor receives.
    net.down.insert(1);
    net.run_for(14_000, 500);
    assert_eq!(
        net.connected(0).len(),
        1,
        "dropped before three missed intervals"
    );
    net.run_for(1_500, 500);
    assert!(net.connected(0).is_empty(), "silent peer kept");
    let closed_for_silence = net.transmits.iter().any(|(i, t)| {
        *i == 0 && matches!(t, Transmit::Close { reason, .. } if reason.starts_with("silent for"))
    });
    assert!(closed_for_silence);
}

#[test]
fn self_connection_is_refused_and_not_redialed() {
    let mut net = Net::new(1);
    net.nodes[0].add_address(&address(0), net.now);
    net.run_for(60_000, 1_000);
    let dials = net
        .transmits
        .iter()
        .filter(|(_, t)| matches!(t, Transmit::Dial { .. }))
        .count();
    assert_eq!(dials, 1);
    assert!(net.connected(0).is_empty());
    assert!(net.transmits.iter().any(
        |(_, t)| matches!(t, Transmit::Close { reason, .. } if reason.contains("self-connection"))
    ));
}

#[test]
fn simultaneous_dials_keep_exactly_one_connection() {
    let mut net = Net::new(2);
    net.nodes[0].add_address(&address(1), net.now);
    net.nodes[1].add_address(&address(0), net.now);
    net.run_for(20_000, 100);
    assert_eq!(net.connected(0).len(), 1);
    assert_eq!(net.connected(1).len(), 1);
    assert_eq!(net.links.len(), 2, "one socket, two ends");
    let disconnects = net
        .events
        .iter()
        .filter(|(_, e)| matches!(e, PeerEvent::Disconnected { .. }))
        .count();
    assert_eq!(
        disconnects, 0,
        "a duplicate must not report the peer as gone"
    );
}

#[test]
fn first_frame_must_be_a_handshake() {
    let mut pm = PeerManager::new(
        PeerConfig::new(Keypair::from_seed([1; 32]).public_hex(), "org", 9000),
        0,
    );
    pm.on_open(
        7,
        Direction::Inbound {
            remote_ip: "10.0.0.9".into(),
        },
        0,
    );
    let ping = Envelope::new(
        "aaaaaaaaaaaaaaaa",
        0,
        Message::Ping(miniledger_core::protocol::ChainHeight { chain_height: 1 }),
    );
    pm.on_frame(7, &ping.encode(), 1);
    assert!(
        matches!(pm.poll_transmit(), Some(Transmit::Close { conn: 7, reason }) if reason.contains("expected a handshake first, got PING"))
    );
    // The close is all it queued: nothing is left over for the next socket's checks.
    assert_eq!(pm.poll_transmit(), None);
    assert_eq!(pm.poll_event(), None);
    pm.on_open(
        8,
        Direction::Inbound {
            remote_ip: "10.0.0.9".into(),
        },
        0,
    );
    pm.on_frame(8, "{not json", 1);
    assert!(
        matches!(pm.poll_transmit(), Some(Transmit::Close { conn: 8, reason }) if reason.starts_with("invalid handshake frame"))
    );
    assert_eq!(pm.poll_event(), None);
    pm.on_open(
        9,
        Direction::Inbound {
            remote_ip: "10.0.0.9".into(),
        },
        0,
    );
    pm.tick(5_000);
    assert!(std::iter::from_fn(|| pm.poll_transmit()).any(|t| matches!(t, Transmit::Close { conn: 9, reason } if reason.starts_with("no handshake within"))));
}

#[test]
fn forged_node_id_is_refused_with_a_reason() {
    let mut net = Net::new(2);
    // Node 1 claims a nodeId that is not its key's prefix.
    let mut pm = PeerManager::new(
        PeerConfig::new(Keypair::from_seed([2; 32]).public_hex(), "org", 9000),
        1,
    );
    let mut config = pm.config().clone();
    config.node_id = "0123456789abcdef".into();
    pm = PeerManager::new(config, 1);
    net.nodes[1] = pm;
    net.nodes[1].add_address(&address(0), net.now);
    net.run_for(500, 100);
    assert!(net.connected(0).is_empty());
    let refused = net.transmits.iter().any(|(i, t)| *i == 0 && matches!(t, Transmit::Close { reason, .. } if reason.contains("nodeId must be the first 16 hex")));
    assert!(refused);
}

#[test]
fn light_nodes_are_not_advertised() {
    let mut net = Net::new(3);
    let mut light = net.nodes[2].config().clone();
    light.light = true;
    net.nodes[2] = PeerManager::new(light, 2);
    net.nodes[2].add_address(&address(0), net.now);
    net.run_for(500, 100);
    net.nodes[1].add_address(&address(0), net.now);
    net.run_for(2_000, 100);
    assert_eq!(net.connected(0).len(), 2);
    // The light node learns of node 1 (and may dial it), never the other way round.
    assert!(
        net.frames(0, 1).iter().all(|f| !f.contains(&net.id(2))),
        "node 1 learned of the light node"
    );
    let full: BTreeSet<String> = net.nodes[1]
        .peers()
        .filter(|p| !p.light)
        .map(|p| p.node_id.clone())
        .collect();
    assert_eq!(full, BTreeSet::from([net.id(0)]));
    assert!(net.nodes[1]
        .peers()
        .filter(|p| p.light)
        .all(|p| !p.outbound));
    let light_peer = net.nodes[0].peer(&net.id(2)).unwrap();
    assert!(light_peer.light && light_peer.address.is_none());
}

#[test]
fn ping_carries_heights_both_ways() {
    let mut net = Net::new(2);
    net.nodes[0].set_chain_height(42);
    net.nodes[1].add_address(&address(0), net.now);
    net.run_for(200, 100);
    assert_eq!(net.nodes[1].peer(&net.id(0)).unwrap().chain_height, 42);
    net.nodes[0].set_chain_height(50);
    net.nodes[1].set_chain_height(7);
    net.run_for(6_000, 500);
    assert_eq!(net.nodes[1].peer(&net.id(0)).unwrap().chain_height, 50);
    assert_eq!(net.nodes[0].peer(&net.id(1)).unwrap().chain_height, 7);
}

#[test]
fn backoff_is_capped_and_jittered() {
    let b = miniledger_core::net::Backoff::default();
    assert_eq!(b.delay_ms(0, 0.0), 1_000);
    assert_eq!(b.delay_ms(1, 0.0), 1_500);
    assert_eq!(b.delay_ms(50, 0.0), 30_000);
    assert_eq!(b.delay_ms(50, 0.999_999), 35_999);
}

#[test]
fn authenticating_nodes_prove_their_keys_to_each_other() {
    let mut net = Net::new(4).authenticating(&[0, 1, 2, 3]);
    for i in 1..4 {
        net.nodes[i].add_address(&address(0), net.now);
    }
    net.run_for(3_000, 100);
    assert!(net.full_mesh(&[0, 1, 2, 3]));
    for i in 0..4 {
        assert!(
            net.nodes[i].peers().all(|p| p.authenticated),
            "node {i}: {:?}",
            net.nodes[i].peers().collect::<Vec<_>>()
        );
    }
    // Each connection carried exactly one proof, from its dialer.
    let proofs = net
        .transmits
        .iter()
        .filter(
            |(_, t)| matches!(t, Transmit::Send { frame, .. } if frame.contains("HANDSHAKE_PROOF")),
        )
        .count();
    assert_eq!(proofs, net.links.len() / 2);
}

#[test]
fn miniledger_0_2_peers_connect_unauthenticated_and_never_see_a_proof() {
    // Node 0 authenticates; nodes 1 (dials 0) and 2 (dialed by 0) are 0.2 nodes.
    let mut net = Net::new(3).authenticating(&[0]);
    net.nodes[1].add_address(&address(0), net.now);
    net.nodes[0].add_address(&address(2), net.now);
    net.run_for(2_000, 100);
    assert_eq!(
        net.connected(0).len(),
        2,
        "{:?} {:?}",
        net.events,
        net.transmits
    );
    assert!(net.nodes[0].peers().all(|p| !p.authenticated));
    assert!(net.nodes[1].peers().all(|p| !p.authenticated));
    for j in [1, 2] {
        let frames = net.frames(0, j);
        assert!(!frames.is_empty());
        assert!(
            frames.iter().all(|f| !f.contains("HANDSHAKE_PROOF")),
            "node 0 sent a proof to 0.2 node {j}"
        );
    }
    // The ACK to the 0.2 dialer carries none of our fields; the HANDSHAKE to the 0.2 responder
    // carries only the optional challenge, which 0.2 ignores.
    let ack = &net.frames(0, 1)[0];
    assert!(
        ack.contains("HANDSHAKE_ACK") && !ack.contains("challenge"),
        "{ack}"
    );
    let hello = &net.frames(0, 2)[0];
    assert!(hello.contains(r#""challenge":""#), "{hello}");
}

#[test]
fn an_authenticated_newcomer_replaces_an_unauthenticated_holder_of_its_node_id() {
    // Node 1 first connects as a 0.2 node, then (restarted with auth) from another address.
    let mut net = Net::new(3).authenticating(&[0]);
    net.nodes[1].add_address(&address(0), net.now);
    net.run_for(10_000, 500);
    let first = net.nodes[0].peer(&net.id(1)).unwrap().clone();
    assert!(!first.authenticated);
    // Node 2 plays node 1 with its key and auth on (an impostor could not: it lacks the key).
    let mut config = net.nodes[1].config().clone();
    config.listen_port = 9000;
    net.nodes[2] = PeerManager::new(config, 7);
    net.nodes[2].enable_auth(Keypair::from_seed([2; 32]), [9; 32]);
    net.nodes[2].add_address(&address(0), net.now);
    net.run_for(1_000, 100);
    let now = net.nodes[0].peer(&net.id(1)).unwrap();
    assert!(now.authenticated && now.conn != first.conn, "{now:?}");
}

#[test]
fn simultaneous_dials_between_authenticating_nodes_keep_exactly_one_connection() {
    let mut net = Net::new(2).authenticating(&[0, 1]);
    net.nodes[0].add_address(&address(1), net.now);
    net.nodes[1].add_address(&address(0), net.now);
    net.run_for(20_000, 100);
    assert_eq!(net.connected(0).len(), 1);
    assert_eq!(net.connected(1).len(), 1);
    assert_eq!(net.links.len(), 2, "one socket, two ends");
    assert!(net.nodes.iter().all(|n| n.peers().all(|p| p.authenticated)));
    let disconnects = net
        .events
        .iter()
        .filter(|(_, e)| matches!(e, PeerEvent::Disconnected { .. }))
        .count();
    assert_eq!(disconnects, 0);
}

/// A connected starting topology: `(dialer, dialed)` pairs over `n` nodes.
fn topology(kind: usize, n: usize, rng: &mut SplitMix) -> (&'static str, Vec<(usize, usize)>) {
    let flip = |rng: &mut SplitMix, a: usize, b: usize| {
        if rng.next_u64().is_multiple_of(2) {
            (a, b)
        } else {
            (b, a)
        }
    };
    match kind {
        0 => (
            "star, leaves dial the hub",
            (1..n).map(|i| (i, 0)).collect(),
        ),
        1 => (
            "a hub that dials everyone",
            (1..n).map(|i| (0, i)).collect(),
        ),
        2 => (
            "line, random directions",
            (1..n).map(|i| flip(rng, i - 1, i)).collect(),
        ),
        _ => (
            "random tree, random directions",
            (1..n)
                .map(|i| {
                    let parent = rng.range(0, i as u64) as usize;
                    flip(rng, parent, i)
                })
                .collect(),
        ),
    }
}

#[test]
fn any_connected_starting_topology_becomes_a_full_mesh() {
    for seed in 0..48u64 {
        let mut rng = SplitMix::new(seed);
        let n = 5 + (seed % 3) as usize;
        let (name, edges) = topology((seed % 4) as usize, n, &mut rng);
        // Some nodes authenticate, the others act as MiniLedger 0.2 peers would on connect.
        let auth: Vec<usize> = (0..n)
            .filter(|_| !rng.next_u64().is_multiple_of(4))
            .collect();
        let mut net = Net::new(n).authenticating(&auth);
        for &(from, to) in &edges {
            net.nodes[from].add_address(&address(to), net.now);
        }
        net.run_for(20_000, 100);
        let all: Vec<usize> = (0..n).collect();
        assert!(
            net.full_mesh(&all),
            "seed {seed}: {name} {edges:?} left {:?}",
            (0..n).map(|i| net.connected(i).len()).collect::<Vec<_>>()
        );
        assert_eq!(
            net.links.len(),
            n * (n - 1),
            "seed {seed}: one socket per pair"
        );
        let rejected: Vec<_> = net
            .events
            .iter()
            .filter(|(_, e)| matches!(e, PeerEvent::Rejected { .. }))
            .collect();
        assert!(rejected.is_empty(), "seed {seed}: {rejected:?}");
    }
}

/// A driver with two clocks: timers follow `now` (monotonic) whatever the wall clock does,
/// envelopes carry the wall clock, steps included.
#[test]
fn timers_follow_now_while_envelopes_carry_the_wall_clock() {
    let mut pm = PeerManager::new(
        PeerConfig::new(Keypair::from_seed([1; 32]).public_hex(), "org", 9000),
        0,
    );
    let wall = 1_700_000_000_000;
    pm.set_wall_clock(wall, 1_000);
    let outbound = Direction::Outbound {
        address: address(2),
    };
    pm.on_open(7, outbound.clone(), 1_000);
    let stamp = |transmit: Option<Transmit>| match transmit {
        Some(Transmit::Send { frame, .. }) => Envelope::decode(&frame).unwrap().timestamp,
        other => panic!("expected a send, got {other:?}"),
    };
    assert_eq!(
        stamp(pm.poll_transmit()),
        wall,
        "the HANDSHAKE carries the wall clock"
    );
    // The HANDSHAKE is all it queued.
    assert_eq!(pm.poll_transmit(), None);
    assert_eq!(pm.poll_event(), None);
    // The wall clock steps back an hour: the handshake timeout still runs on `now`.
    pm.set_wall_clock(wall + 500 - 3_600_000, 1_500);
    pm.on_open(8, outbound, 1_500);
    assert_eq!(stamp(pm.poll_transmit()), wall + 500 - 3_600_000);
    assert_eq!(pm.poll_event(), None);
    pm.tick(5_999);
    assert!(std::iter::from_fn(|| pm.poll_transmit()).all(|t| !matches!(t, Transmit::Close { .. })));
    pm.tick(6_000);
    assert!(std::iter::from_fn(|| pm.poll_transmit())
        .any(|t| matches!(t, Transmit::Close { conn: 7, reason } if reason.starts_with("no handshake within"))));
}
