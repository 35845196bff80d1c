//! Full and light peers count against separate limits (`max_peers`, `max_light_peers`): a
//! crowd of browser tabs must not lock the mesh out of a node, nor full peers the tabs.
//! Peers here are handshakes fed straight into one node's PeerManager, each from its own IP
//! (the per-IP limit is not what is tested).

use miniledger_core::net::{
    ConnId, Direction, PeerConfig, PeerEvent, PeerKind, PeerManager, Transmit,
};
use miniledger_core::protocol::{Envelope, Handshake, Message};
use miniledger_core::Keypair;

const NOW: u64 = 1_000;

#[derive(Clone, Copy)]
enum Role {
    Full,
    Light,
}

/// The node under test: at most 2 full and 3 light peers.
fn node() -> PeerManager {
    let key = Keypair::from_seed([1; 32]);
    let mut config = PeerConfig::new(key.public_hex(), "org", 9000);
    config.max_peers = 2;
    config.max_light_peers = 3;
    PeerManager::new(config, 7)
}

/// Peer `n` (a fresh key) dials the node as `role`: the node's answer, `Ok` if admitted, else
/// the reason its HANDSHAKE_ACK gave.
fn connect(pm: &mut PeerManager, n: u8, role: Role) -> Result<(), String> {
    let key = Keypair::from_seed([n + 10; 32]);
    let conn = ConnId::from(n);
    let remote_ip = format!("10.0.1.{n}");
    pm.on_open(conn, Direction::Inbound { remote_ip }, NOW);
    let hello = Handshake {
        node_id: key.node_id().to_string(),
        public_key: key.public_hex().to_string(),
        org_id: "org".into(),
        chain_height: 0,
        listen_port: 9000,
        listen_address: None,
        light: matches!(role, Role::Light).then_some(true),
        tls: None,
        challenge: None,
        genesis_hash: None,
    };
    let frame = Envelope::new(hello.node_id.clone(), NOW, Message::Handshake(hello)).encode();
    pm.on_frame(conn, &frame, NOW);
    while pm.poll_event().is_some() {}
    let mut answer = None;
    while let Some(t) = pm.poll_transmit() {
        if let Transmit::Send { conn: c, frame } = t {
            if let (true, Ok(e)) = (c == conn, Envelope::decode(&frame)) {
                if let Message::HandshakeAck(ack) = e.message {
                    answer = Some(if ack.accepted {
                        Ok(())
                    } else {
                        Err(ack.reason.unwrap_or_default())
                    });
                }
            }
        }
    }
    answer.expect("a HANDSHAKE_ACK")
}

#[test]
fn a_light_peer_gets_in_when_the_full_peer_limit_is_reached() {
    let mut pm = node();
    connect(&mut pm, 1, Role::Full).unwrap();
    connect(&mut pm, 2, Role::Full).unwrap();
    assert_eq!(
        connect(&mut pm, 3, Role::Full),
        Err("peer limit of 2 reached".into())
    );
    connect(&mut pm, 4, Role::Light).expect("light peers have their own limit");
    assert_eq!(
        (pm.count(PeerKind::Full), pm.count(PeerKind::Light)),
        (2, 1)
    );
}

#[test]
fn a_full_peer_gets_in_when_the_light_peer_limit_is_reached() {
    let mut pm = node();
    for n in 1..=3 {
        connect(&mut pm, n, Role::Light).unwrap();
    }
    assert_eq!(
        connect(&mut pm, 4, Role::Light),
        Err("light peer limit of 3 reached".into())
    );
    connect(&mut pm, 5, Role::Full).expect("full peers have their own limit");
    connect(&mut pm, 6, Role::Full).unwrap();
    assert_eq!(
        (pm.count(PeerKind::Full), pm.count(PeerKind::Light)),
        (2, 3)
    );
}

#[test]
fn light_peers_do_not_stop_the_node_dialing_full_ones() {
    let mut pm = node();
    for n in 1..=3 {
        connect(&mut pm, n, Role::Light).unwrap();
    }
    pm.add_address("ws://10.0.2.1:9000", NOW);
    pm.tick(NOW);
    while let Some(PeerEvent::Connected(_)) = pm.poll_event() {}
    let dialed = std::iter::from_fn(|| pm.poll_transmit())
        .any(|t| matches!(t, Transmit::Dial { address } if address == "ws://10.0.2.1:9000"));
    assert!(dialed, "a node full of light peers still dials its seeds");
}
