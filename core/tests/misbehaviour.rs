//! PeerManager against hostile peers: offences are scored and ban the nodeId past the
//! threshold, bans refuse handshakes until they expire, per-IP and rate limits hold, and an
//! established peer cannot be displaced by a socket claiming its nodeId.

use miniledger_core::net::{
    Action, ConnId, Direction, Offence, PeerConfig, PeerManager, RateConfig,
};
use miniledger_core::protocol::{ChainHeight, Envelope, Handshake, Message};
use miniledger_core::Keypair;

fn manager(config: impl FnOnce(&mut PeerConfig)) -> PeerManager {
    let mut c = PeerConfig::new(Keypair::from_seed([1; 32]).public_hex(), "org", 9000);
    config(&mut c);
    PeerManager::new(c, 0)
}

fn inbound(ip: &str) -> Direction {
    Direction::Inbound {
        remote_ip: ip.into(),
    }
}

fn hello(key: &Keypair) -> String {
    Envelope::new(
        key.node_id(),
        0,
        Message::Handshake(Handshake {
            node_id: key.node_id().into(),
            public_key: key.public_hex().into(),
            org_id: "org".into(),
            chain_height: 0,
            listen_port: 9001,
            listen_address: None,
            light: None,
            challenge: None,
        }),
    )
    .encode()
}

fn drain(pm: &mut PeerManager) -> Vec<Action> {
    std::iter::from_fn(|| pm.poll()).collect()
}

/// Opens `conn` from `ip` and handshakes as `key`; panics unless admitted.
fn connect(pm: &mut PeerManager, conn: ConnId, ip: &str, key: &Keypair, now: u64) {
    pm.on_open(conn, inbound(ip), now);
    pm.on_frame(conn, &hello(key), now);
    let actions = drain(pm);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::PeerConnected(p) if p.conn == conn)),
        "{actions:?}"
    );
}

fn closed(actions: &[Action], conn: ConnId) -> Option<&str> {
    actions.iter().find_map(|a| match a {
        Action::Close { conn: c, reason } if *c == conn => Some(reason.as_str()),
        _ => None,
    })
}

#[test]
fn garbage_after_the_handshake_bans_the_peer_and_its_reconnects_are_refused() {
    let mut pm = manager(|_| {});
    let key = Keypair::from_seed([2; 32]);
    connect(&mut pm, 1, "10.0.0.2", &key, 0);
    for i in 0..4 {
        pm.on_frame(1, "{not json", i);
        let actions = drain(&mut pm);
        assert!(
            matches!(&actions[..], [Action::Rejected { reason, .. }] if reason.starts_with("malformedFrame")),
            "{actions:?}"
        );
    }
    pm.on_frame(1, r#"{"truncated":"#, 4);
    let actions = drain(&mut pm);
    let reason = closed(&actions, 1).expect("closed on the fifth");
    assert!(
        reason.contains("misbehaviour score reached 100"),
        "{reason}"
    );
    // Frames still in flight on the closing socket are not processed.
    pm.on_frame(1, "{not json", 5);
    assert!(drain(&mut pm).is_empty());
    pm.on_closed(1, 6);
    drain(&mut pm);

    let record = &pm.misbehaviour(6)[0];
    assert_eq!(record.node_id, key.node_id());
    assert_eq!(record.offences["malformedFrame"], 5);
    assert_eq!(record.bans, 1);
    let until = record.banned_until.expect("banned");

    pm.on_open(2, inbound("10.0.0.2"), 10);
    pm.on_frame(2, &hello(&key), 10);
    let actions = drain(&mut pm);
    assert!(
        closed(&actions, 2).is_some_and(|r| r.contains("banned")),
        "{actions:?}"
    );
    pm.on_closed(2, 11);
    // Once the ban expires the peer may come back.
    connect(&mut pm, 3, "10.0.0.2", &key, until);
}

#[test]
fn driver_reported_offences_ban_and_other_peers_are_unaffected() {
    let mut pm = manager(|_| {});
    let (bad, good) = (Keypair::from_seed([2; 32]), Keypair::from_seed([3; 32]));
    connect(&mut pm, 1, "10.0.0.2", &bad, 0);
    connect(&mut pm, 2, "10.0.0.3", &good, 0);
    pm.report(bad.node_id(), Offence::InvalidBlock, 1);
    assert!(
        closed(&drain(&mut pm), 1).is_none(),
        "one invalid block is not enough"
    );
    pm.report(bad.node_id(), Offence::InvalidBlock, 2);
    assert!(closed(&drain(&mut pm), 1).is_some());
    // The honest peer still gets its pings answered.
    let ping = Envelope::new(
        good.node_id(),
        3,
        Message::Ping(ChainHeight { chain_height: 1 }),
    );
    pm.on_frame(2, &ping.encode(), 3);
    let actions = drain(&mut pm);
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::Send { conn: 2, .. })));
    assert!(pm.peer(good.node_id()).is_some());
}

#[test]
fn unknown_types_from_a_newer_peer_cost_little() {
    let mut pm = manager(|_| {});
    let key = Keypair::from_seed([2; 32]);
    connect(&mut pm, 1, "10.0.0.2", &key, 0);
    let frame = format!(
        r#"{{"version":1,"type":"FUTURE_THING","from":"{}","timestamp":0,"payload":{{}}}}"#,
        key.node_id()
    );
    for i in 0..100 {
        pm.on_frame(1, &frame, i * 2_000);
    }
    assert!(closed(&drain(&mut pm), 1).is_none());
    assert_eq!(pm.misbehaviour(0)[0].offences["unknownType"], 100);
}

#[test]
fn a_big_frame_before_the_handshake_is_not_even_decoded() {
    let mut pm = manager(|_| {});
    pm.on_open(1, inbound("10.0.0.2"), 0);
    // A valid handshake padded past 64 KiB (JSON allows the whitespace).
    let padded = format!(
        "{}{}",
        hello(&Keypair::from_seed([2; 32])),
        " ".repeat(64 * 1024)
    );
    pm.on_frame(1, &padded, 1);
    let actions = drain(&mut pm);
    assert!(
        closed(&actions, 1).is_some_and(|r| r.contains("exceeds 65536")),
        "{actions:?}"
    );
}

#[test]
fn per_ip_inbound_limit_closes_the_excess_sockets_before_any_handshake() {
    let mut pm = manager(|c| c.max_inbound_per_ip = 2);
    pm.on_open(1, inbound("10.0.0.2"), 0);
    pm.on_open(2, inbound("10.0.0.2"), 0);
    pm.on_open(3, inbound("10.0.0.2"), 0);
    pm.on_open(4, inbound("10.0.0.4"), 0);
    let actions = drain(&mut pm);
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert!(closed(&actions, 3).is_some_and(|r| r.contains("per IP")));
    // A handshake already on its way over the refused socket is ignored.
    pm.on_frame(3, &hello(&Keypair::from_seed([2; 32])), 1);
    assert!(drain(&mut pm).is_empty());
    pm.on_closed(3, 2);
    pm.on_closed(1, 2);
    pm.on_open(5, inbound("10.0.0.2"), 3);
    assert!(drain(&mut pm).is_empty(), "room again once one closed");
}

#[test]
fn a_flood_is_cut_at_the_rate_limit_and_then_banned() {
    let rate = RateConfig {
        per_sec: 100,
        burst: 50,
    };
    let mut pm = manager(|c| c.rate = rate);
    let key = Keypair::from_seed([2; 32]);
    connect(&mut pm, 1, "10.0.0.2", &key, 0);
    let ping = Envelope::new(
        key.node_id(),
        0,
        Message::Ping(ChainHeight { chain_height: 0 }),
    );
    let frame = ping.encode();
    let mut delivered = 0;
    let mut ban = None;
    for i in 0..1_000 {
        pm.on_frame(1, &frame, 0);
        for action in drain(&mut pm) {
            match action {
                Action::Message { .. } => delivered += 1,
                Action::Close { reason, .. } => ban = ban.or(Some((i, reason))),
                _ => {}
            }
        }
    }
    // 49 after the handshake's token; the 4th dropped frame bans (4 × 25).
    assert_eq!(delivered, 49);
    let (at, reason) = ban.expect("banned");
    assert_eq!(at, 52);
    assert!(reason.contains("flood"), "{reason}");
}

#[test]
fn an_established_peer_is_not_displaced_by_a_socket_claiming_its_node_id() {
    let mut pm = manager(|_| {});
    let honest = Keypair::from_seed([2; 32]);
    // We dialed the honest peer (the case where a dial race would prefer the inbound socket).
    pm.add_address("ws://10.0.0.2:9001", 0);
    pm.tick(0);
    drain(&mut pm);
    pm.on_open(
        1,
        Direction::Outbound {
            address: "ws://10.0.0.2:9001".into(),
        },
        0,
    );
    let ack = Envelope::new(
        honest.node_id(),
        0,
        Message::HandshakeAck(miniledger_core::protocol::HandshakeAck {
            node_id: honest.node_id().into(),
            public_key: honest.public_hex().into(),
            org_id: "org".into(),
            chain_height: 0,
            accepted: true,
            reason: None,
            challenge: None,
            challenge_signature: None,
        }),
    );
    pm.on_frame(1, &ack.encode(), 1);
    assert!(drain(&mut pm)
        .iter()
        .any(|a| matches!(a, Action::PeerConnected(_))));
    // Long after, an impostor presents the honest peer's (public) identity.
    pm.on_open(2, inbound("10.6.6.6"), 60_000);
    pm.on_frame(2, &hello(&honest), 60_000);
    let actions = drain(&mut pm);
    assert!(
        closed(&actions, 2).is_some_and(|r| r.contains("duplicate")),
        "{actions:?}"
    );
    assert!(closed(&actions, 1).is_none());
    assert_eq!(pm.peer(honest.node_id()).unwrap().conn, 1);
}
