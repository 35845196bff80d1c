//! PeerManager against hostile peers: offences are scored and ban the nodeId past the
//! threshold, bans refuse handshakes until they expire, per-IP and rate limits hold, and an
//! established peer cannot be displaced by a socket claiming its nodeId.

use miniledger_core::net::{
    ConnId, Direction, Offence, PeerConfig, PeerEvent, PeerManager, RateConfig, Transmit,
};
use miniledger_core::protocol::{ChainHeight, Envelope, Handshake, Message, PeerInfo, PeerList};
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
            tls: None,
            challenge: None,
            genesis_hash: None,
        }),
    )
    .encode()
}

/// Everything the manager queued: its events and its transmits, each in order.
#[derive(Debug)]
struct Output {
    events: Vec<PeerEvent>,
    transmits: Vec<Transmit>,
}

impl Output {
    fn is_empty(&self) -> bool {
        self.events.is_empty() && self.transmits.is_empty()
    }
}

fn drain(pm: &mut PeerManager) -> Output {
    Output {
        events: std::iter::from_fn(|| pm.poll_event()).collect(),
        transmits: std::iter::from_fn(|| pm.poll_transmit()).collect(),
    }
}

/// Opens `conn` from `ip` and handshakes as `key`; panics unless admitted.
fn connect(pm: &mut PeerManager, conn: ConnId, ip: &str, key: &Keypair, now: u64) {
    pm.on_open(conn, inbound(ip), now);
    pm.on_frame(conn, &hello(key), now);
    let out = drain(pm);
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, PeerEvent::Connected(p) if p.conn == conn)),
        "{out:?}"
    );
}

fn closed(out: &Output, conn: ConnId) -> Option<&str> {
    out.transmits.iter().find_map(|t| match t {
        Transmit::Close { conn: c, reason } if *c == conn => Some(reason.as_str()),
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
        let out = drain(&mut pm);
        assert!(
            matches!(&out.events[..], [PeerEvent::Rejected { reason, .. }] if reason.starts_with("malformedFrame"))
                && out.transmits.is_empty(),
            "{out:?}"
        );
    }
    pm.on_frame(1, r#"{"truncated":"#, 4);
    let out = drain(&mut pm);
    let reason = closed(&out, 1).expect("closed on the fifth");
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
    let out = drain(&mut pm);
    assert!(
        closed(&out, 2).is_some_and(|r| r.contains("banned")),
        "{out:?}"
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
    let out = drain(&mut pm);
    assert!(out
        .transmits
        .iter()
        .any(|t| matches!(t, Transmit::Send { conn: 2, .. })));
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
    let out = drain(&mut pm);
    assert!(
        closed(&out, 1).is_some_and(|r| r.contains("exceeds 65536")),
        "{out:?}"
    );
}

#[test]
fn per_ip_inbound_limit_closes_the_excess_sockets_before_any_handshake() {
    let mut pm = manager(|c| c.max_inbound_per_ip = 2);
    pm.on_open(1, inbound("10.0.0.2"), 0);
    pm.on_open(2, inbound("10.0.0.2"), 0);
    pm.on_open(3, inbound("10.0.0.2"), 0);
    pm.on_open(4, inbound("10.0.0.4"), 0);
    let out = drain(&mut pm);
    assert_eq!((out.events.len(), out.transmits.len()), (0, 1), "{out:?}");
    assert!(closed(&out, 3).is_some_and(|r| r.contains("per IP")));
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
        let out = drain(&mut pm);
        for event in out.events {
            if let PeerEvent::Message { .. } = event {
                delivered += 1;
            }
        }
        for transmit in out.transmits {
            if let Transmit::Close { reason, .. } = transmit {
                ban = ban.or(Some((i, reason)));
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
    dial(&mut pm, 1, "ws://10.0.0.2:9001");
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
            genesis_hash: None,
        }),
    );
    pm.on_frame(1, &ack.encode(), 1);
    assert!(drain(&mut pm)
        .events
        .iter()
        .any(|e| matches!(e, PeerEvent::Connected(_))));
    // Long after, an impostor presents the honest peer's (public) identity.
    pm.on_open(2, inbound("10.6.6.6"), 60_000);
    pm.on_frame(2, &hello(&honest), 60_000);
    let out = drain(&mut pm);
    assert!(
        closed(&out, 2).is_some_and(|r| r.contains("duplicate")),
        "{out:?}"
    );
    assert!(closed(&out, 1).is_none());
    assert_eq!(pm.peer(honest.node_id()).unwrap().conn, 1);
}

// --- authenticated handshakes and admission (net/auth.rs) ---

use miniledger_core::net::auth::{self, Role};
use miniledger_core::net::Admission;
use miniledger_core::protocol::{HandshakeAck, HandshakeProof};

const CHALLENGE: &str = "1111111111111111111111111111111111111111111111111111111111111111";

/// A manager with auth on (our key is seed 1).
fn authed(config: impl FnOnce(&mut PeerConfig)) -> PeerManager {
    let mut pm = manager(config);
    pm.enable_auth(Keypair::from_seed([1; 32]), [7; 32]);
    pm
}

fn our_key() -> String {
    Keypair::from_seed([1; 32]).public_hex().to_string()
}

/// HANDSHAKE as `key`, offering a challenge (None: a 0.2 dialer), as a light node or not.
/// `pm` dials `address` (the dial action drained) and the socket opens as connection `conn`.
fn dial(pm: &mut PeerManager, conn: ConnId, address: &str) {
    pm.add_address(address, 0);
    pm.tick(0);
    drain(pm);
    pm.on_open(
        conn,
        Direction::Outbound {
            address: address.into(),
        },
        0,
    );
}

fn hello_as(key: &Keypair, challenge: Option<&str>, light: bool, org: &str) -> String {
    let hello = Handshake {
        node_id: key.node_id().into(),
        public_key: key.public_hex().into(),
        org_id: org.into(),
        chain_height: 0,
        listen_port: 9001,
        listen_address: None,
        light: light.then_some(true),
        tls: None,
        challenge: challenge.map(Into::into),
        genesis_hash: None,
    };
    Envelope::new(key.node_id(), 0, Message::Handshake(hello)).encode()
}

fn acks(out: &Output) -> Vec<HandshakeAck> {
    out.transmits
        .iter()
        .filter_map(|t| match t {
            Transmit::Send { frame, .. } => match Envelope::decode(frame).ok()?.message {
                Message::HandshakeAck(ack) => Some(ack),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn connected(out: &Output) -> Option<&miniledger_core::net::PeerSummary> {
    out.events.iter().find_map(|e| match e {
        PeerEvent::Connected(p) => Some(p),
        _ => None,
    })
}

fn proof(signature: String) -> String {
    Envelope::new(
        "x",
        0,
        Message::HandshakeProof(HandshakeProof { signature }),
    )
    .encode()
}

#[test]
fn a_dialer_that_proves_its_key_is_admitted_authenticated() {
    let mut pm = authed(|_| {});
    let key = Keypair::from_seed([2; 32]);
    pm.on_open(1, inbound("10.0.0.2"), 0);
    pm.on_frame(1, &hello_as(&key, Some(CHALLENGE), false, "org"), 0);
    let out = drain(&mut pm);
    assert!(connected(&out).is_none(), "admitted before its proof");
    let ack = acks(&out).remove(0);
    assert!(ack.accepted);
    // Our answer proves our key, for this dialer only, as the responder.
    let sig = ack.challenge_signature.unwrap();
    auth::verify(
        Role::Responder,
        CHALLENGE,
        &our_key(),
        key.public_hex(),
        &sig,
    )
    .unwrap();
    assert!(auth::verify(Role::Dialer, CHALLENGE, &our_key(), key.public_hex(), &sig).is_err());
    let theirs = ack.challenge.unwrap();
    assert!(auth::is_challenge(&theirs) && theirs != CHALLENGE);
    pm.on_frame(
        1,
        &proof(auth::sign(&key, Role::Dialer, &theirs, &our_key())),
        1,
    );
    let out = drain(&mut pm);
    assert!(connected(&out).is_some_and(|p| p.authenticated), "{out:?}");
    // A second proof on the established connection is an offence.
    pm.on_frame(1, &proof("ab".repeat(64)), 2);
    drain(&mut pm);
    let record = &pm.misbehaviour(2)[0];
    assert_eq!(record.offences.get("repeatedHandshake"), Some(&1));
    // A challenge that is not 32 bytes of hex is refused.
    pm.on_open(2, inbound("10.0.0.3"), 0);
    let other = Keypair::from_seed([3; 32]);
    pm.on_frame(2, &hello_as(&other, Some("abc"), false, "org"), 0);
    let ack = acks(&drain(&mut pm)).remove(0);
    assert!(!ack.accepted && ack.challenge_signature.is_none());
    assert!(ack
        .reason
        .unwrap()
        .contains("challenge must be 64 lowercase hex"));
}

#[test]
fn a_dialer_announcing_someone_elses_key_is_refused_and_not_scored() {
    let mut pm = authed(|_| {});
    let victim = Keypair::from_seed([2; 32]);
    let impostor = Keypair::from_seed([3; 32]);
    for (conn, signature) in [
        // Signed with its own key.
        (1, None),
        // The victim's responder signature, replayed as a dialer's proof.
        (2, Some(Role::Responder)),
        // Garbage.
        (3, Some(Role::Dialer)),
    ] {
        pm.on_open(conn, inbound("10.6.6.6"), 0);
        pm.on_frame(conn, &hello_as(&victim, Some(CHALLENGE), false, "org"), 0);
        let theirs = acks(&drain(&mut pm)).remove(0).challenge.unwrap();
        let sig = match signature {
            None => auth::sign(&impostor, Role::Dialer, &theirs, &our_key()),
            Some(Role::Responder) => auth::sign(&victim, Role::Responder, CHALLENGE, &our_key()),
            Some(Role::Dialer) => "ab".repeat(64),
        };
        pm.on_frame(conn, &proof(sig), 1);
        let out = drain(&mut pm);
        assert!(connected(&out).is_none());
        let reason = closed(&out, conn).expect("closed");
        assert!(
            reason.contains("HANDSHAKE_PROOF does not prove its publicKey"),
            "{reason}"
        );
    }
    // What it failed to prove is the very identity it claimed: nobody is scored.
    assert!(pm.misbehaviour(1).is_empty());
    // Another frame instead of the proof closes the socket too.
    pm.on_open(4, inbound("10.6.6.6"), 0);
    pm.on_frame(4, &hello_as(&victim, Some(CHALLENGE), false, "org"), 0);
    drain(&mut pm);
    pm.on_frame(
        4,
        &Envelope::new("x", 0, Message::Ping(ChainHeight { chain_height: 1 })).encode(),
        1,
    );
    let out = drain(&mut pm);
    assert!(closed(&out, 4).is_some_and(|r| r.contains("expected HANDSHAKE_PROOF, got PING")));
}

#[test]
fn a_responder_that_cannot_sign_for_its_key_is_refused() {
    let mut pm = authed(|_| {});
    let claimed = Keypair::from_seed([2; 32]);
    let liar = Keypair::from_seed([3; 32]);
    dial(&mut pm, 1, "ws://10.0.0.2:9001");
    let ours = match Envelope::decode(match &drain(&mut pm).transmits[0] {
        Transmit::Send { frame, .. } => frame,
        other => panic!("{other:?}"),
    })
    .unwrap()
    .message
    {
        Message::Handshake(h) => h.challenge.expect("a challenge offered"),
        other => panic!("{other:?}"),
    };
    let ack = HandshakeAck {
        node_id: claimed.node_id().into(),
        public_key: claimed.public_hex().into(),
        org_id: "org".into(),
        chain_height: 0,
        accepted: true,
        reason: None,
        challenge: Some(CHALLENGE.into()),
        challenge_signature: Some(auth::sign(&liar, Role::Responder, &ours, &our_key())),
        genesis_hash: None,
    };
    pm.on_frame(
        1,
        &Envelope::new("x", 1, Message::HandshakeAck(ack)).encode(),
        1,
    );
    let out = drain(&mut pm);
    assert!(connected(&out).is_none());
    assert!(
        closed(&out, 1).is_some_and(|r| r.contains("challengeSignature does not prove")),
        "{out:?}"
    );
    // We sent no proof to it.
    assert!(!out
        .transmits
        .iter()
        .any(|t| matches!(t, Transmit::Send { frame, .. } if frame.contains("HANDSHAKE_PROOF"))));
}

#[test]
fn admission_lists_admit_listed_authenticated_keys_only() {
    let listed = Keypair::from_seed([2; 32]);
    let stranger = Keypair::from_seed([3; 32]);
    let mut pm = authed(|c| {
        c.admission = Admission {
            allowed_keys: Some(vec![listed.public_hex().to_string()]),
            allowed_orgs: None,
            allow_light: true,
        }
    });
    let refused = |pm: &mut PeerManager, conn, frame: String| {
        pm.on_open(conn, inbound("10.0.0.9"), 0);
        pm.on_frame(conn, &frame, 0);
        let ack = acks(&drain(pm)).remove(0);
        assert!(!ack.accepted);
        ack.reason.unwrap()
    };
    let r = refused(
        &mut pm,
        1,
        hello_as(&stranger, Some(CHALLENGE), false, "org"),
    );
    assert!(r.contains("publicKey not in network.allowedKeys"), "{r}");
    // The listed key without a challenge (a 0.2 node): it cannot prove the key.
    let r = refused(&mut pm, 2, hello_as(&listed, None, false, "org"));
    assert!(r.contains("authentication required"), "{r}");
    // A light node is admitted whatever the list says.
    pm.on_open(3, inbound("10.0.0.9"), 0);
    pm.on_frame(3, &hello_as(&stranger, None, true, "org"), 0);
    assert!(connected(&drain(&mut pm)).is_some_and(|p| p.light));
    // The listed key, authenticated.
    pm.on_open(4, inbound("10.0.0.9"), 0);
    pm.on_frame(4, &hello_as(&listed, Some(CHALLENGE), false, "org"), 0);
    let theirs = acks(&drain(&mut pm)).remove(0).challenge.unwrap();
    pm.on_frame(
        4,
        &proof(auth::sign(&listed, Role::Dialer, &theirs, &our_key())),
        1,
    );
    assert!(connected(&drain(&mut pm)).is_some_and(|p| p.authenticated));
    // Of the peers it advertises, only listed ones are dialed.
    let info = |key: &Keypair, address: &str| miniledger_core::protocol::PeerInfo {
        node_id: key.node_id().into(),
        public_key: key.public_hex().into(),
        address: address.into(),
        org_id: "org".into(),
    };
    let third = Keypair::from_seed([4; 32]);
    let list = miniledger_core::protocol::PeerList {
        peers: vec![
            info(&third, "ws://10.0.0.4:9000"),
            info(&stranger, "ws://10.0.0.3:9000"),
        ],
    };
    pm.on_frame(
        4,
        &Envelope::new("x", 1, Message::PeerList(list)).encode(),
        1,
    );
    pm.tick(2);
    let dials: Vec<Transmit> = drain(&mut pm)
        .transmits
        .into_iter()
        .filter(|t| matches!(t, Transmit::Dial { .. }))
        .collect();
    assert!(dials.is_empty(), "dialed unlisted peers: {dials:?}");

    // Orgs, and light nodes turned away.
    let mut pm = authed(|c| {
        c.admission = Admission {
            allowed_keys: None,
            allowed_orgs: Some(vec!["acme".to_string()]),
            allow_light: false,
        }
    });
    let r = refused(
        &mut pm,
        1,
        hello_as(&stranger, Some(CHALLENGE), false, "other"),
    );
    assert!(
        r.contains(r#"orgId "other" not in network.allowedOrgs"#),
        "{r}"
    );
    let r = refused(
        &mut pm,
        2,
        hello_as(&stranger, Some(CHALLENGE), true, "acme"),
    );
    assert!(r.contains("light nodes are not admitted"), "{r}");
}

#[test]
fn unknown_fields_are_ignored_and_not_scored_but_mistyped_ones_are() {
    let mut pm = manager(|_| {});
    let key = Keypair::from_seed([2; 32]);
    connect(&mut pm, 1, "10.0.0.2", &key, 0);
    let ping = |payload: &str| {
        format!(
            r#"{{"version":1,"type":"PING","from":"x","timestamp":0,"payload":{payload},"extra":[1]}}"#
        )
    };
    pm.on_frame(1, &ping(r#"{"chainHeight":5,"newerField":{"a":1}}"#), 1);
    let out = drain(&mut pm);
    assert!(out.events.iter().any(|e| matches!(
        e,
        PeerEvent::Message {
            message: Message::Ping(_),
            ..
        }
    )));
    assert!(pm.misbehaviour(1).is_empty());
    // One of our own optional fields, mistyped: malformed.
    pm.on_frame(1, &ping(r#"{"chainHeight":"5"}"#), 2);
    drain(&mut pm);
    let record = &pm.misbehaviour(2)[0];
    assert_eq!(record.offences.get("malformedPayload"), Some(&1));
}

fn peer_list(from: &Keypair, peers: Vec<PeerInfo>) -> String {
    Envelope::new(from.node_id(), 0, Message::PeerList(PeerList { peers })).encode()
}

fn info(key: &Keypair, address: String) -> PeerInfo {
    PeerInfo {
        node_id: key.node_id().into(),
        public_key: key.public_hex().into(),
        address,
        org_id: "org".into(),
    }
}

fn dials(out: &Output) -> Vec<&str> {
    out.transmits
        .iter()
        .filter_map(|t| match t {
            Transmit::Dial { address } => Some(address.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn peer_lists_cannot_grow_the_dial_list_without_bound_nor_plant_forged_entries() {
    let mut pm = manager(|_| {});
    let key = Keypair::from_seed([2; 32]);
    connect(&mut pm, 1, "10.0.0.2", &key, 0);
    let mut forged = info(&Keypair::from_seed([3; 32]), "ws://10.9.9.9:9000".into());
    forged.node_id = "0123456789abcdef".into(); // not its key's
    let not_ws = info(&Keypair::from_seed([4; 32]), "http://10.9.9.8:9000".into());
    pm.on_frame(1, &peer_list(&key, vec![forged, not_ws]), 1);
    // Sent again and again, a long list only ever yields `max_learnt` addresses.
    for round in 0..3u32 {
        let entries = (0..400u32)
            .map(|i| {
                let k = Keypair::from_seed([(i % 200) as u8 + 10; 32]);
                info(&k, format!("ws://10.1.{round}.{i}:9000"))
            })
            .collect();
        pm.on_frame(1, &peer_list(&key, entries), 2);
    }
    pm.tick(10);
    let out = drain(&mut pm);
    let dialed = dials(&out);
    assert_eq!(dialed.len(), pm.config().discovery.max_learnt);
    assert!(
        dialed.iter().all(|a| a.starts_with("ws://10.1.")),
        "{dialed:?}"
    );
    assert!(
        !out.transmits
            .iter()
            .any(|t| matches!(t, Transmit::Close { .. })),
        "lists are not an offence"
    );
}

#[test]
fn a_learnt_validator_address_is_redialed_forever_others_are_given_up() {
    let validator = Keypair::from_seed([3; 32]);
    let other = Keypair::from_seed([4; 32]);
    let mut pm = manager(|c| {
        c.keep_dialing.insert(validator.public_hex().into());
    });
    let key = Keypair::from_seed([2; 32]);
    connect(&mut pm, 1, "10.0.0.2", &key, 0);
    let (v_addr, o_addr) = ("ws://10.0.0.3:9000", "ws://10.0.0.4:9000");
    let list = vec![info(&validator, v_addr.into()), info(&other, o_addr.into())];
    pm.on_frame(1, &peer_list(&key, list), 1);
    let mut tried = std::collections::BTreeMap::<String, u32>::new();
    let mut now = 1;
    // An hour of failing dials (and pings to keep the seed peer connected).
    while now < 3_600_000 {
        pm.tick(now);
        pm.on_frame(1, &ping(&key), now);
        for address in dials(&drain(&mut pm)) {
            *tried.entry(address.to_string()).or_default() += 1;
            pm.on_dial_failed(address, now);
        }
        drain(&mut pm);
        now += 1_000;
    }
    assert_eq!(tried[o_addr], 21, "{tried:?}");
    assert!(tried[v_addr] > 100, "{tried:?}");
}

fn ping(from: &Keypair) -> String {
    Envelope::new(
        from.node_id(),
        0,
        Message::Ping(ChainHeight { chain_height: 0 }),
    )
    .encode()
}
