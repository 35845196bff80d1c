//! Hostile peers over real sockets. Each test runs a solo node with an honest follower joined to
//! it, then attacks the node through raw WebSocket clients: the node must stay up, react as
//! documented in RELIABILITY.md (close, refuse, score, ban) and log why, and the honest peer must
//! stay connected, unscored, and keep receiving blocks.

mod common;

use common::raw_peer::{hello, Next, RawPeer};
use common::{now_ms, wait_until, NodeProcess, DEADLINE};
use miniledger_core::protocol::{ChainHeight, Message, TxMessage};
use miniledger_core::{Keypair, PayloadBody, Transaction};
use serde_json::{json, Value};
use std::time::Duration;
use tempfile::TempDir;

struct Net {
    node: NodeProcess,
    honest: NodeProcess,
    honest_id: String,
    _config: TempDir,
}

/// The node (with `network` settings from a config file) and an honest follower of it.
fn net(network: Value) -> Net {
    let config = tempfile::tempdir().unwrap();
    let path = config.path().join("miniledger.json");
    std::fs::write(&path, json!({ "network": network }).to_string()).unwrap();
    let node = NodeProcess::start("node", None, &["--config", path.to_str().unwrap()]);
    let validator = node.get_ok("/identity")["publicKey"]
        .as_str()
        .unwrap()
        .to_string();
    let honest = NodeProcess::start("honest", Some(&node.p2p), &["--validators", &validator]);
    let honest_id = honest.get_ok("/identity")["nodeId"]
        .as_str()
        .unwrap()
        .to_string();
    wait_until("the honest peer connected", || {
        node.peer_ids().contains(&honest_id)
    });
    Net {
        node,
        honest,
        honest_id,
        _config: config,
    }
}

impl Net {
    /// The honest peer is still connected with a clean record, and a new transaction reaches it.
    fn honest_unaffected(&self, key: &str) {
        let peers = self.node.get_ok("/peers");
        let honest = peers["peers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["nodeId"] == self.honest_id.as_str())
            .unwrap_or_else(|| panic!("honest peer dropped: {peers}"));
        assert_eq!(honest["score"], 0, "{honest}");
        assert_eq!(honest["offences"], json!({}), "{honest}");
        let (code, answer) = self.node.post("/tx", &json!({"key": key, "value": 1}));
        assert_eq!(code, 202, "{answer}");
        let hash = answer["hash"].as_str().unwrap();
        self.node.wait_committed(hash);
        self.honest.wait_committed(hash);
    }

    /// The node's misbehaviour record of `node_id` (from `/peers`).
    fn record(&self, node_id: &str) -> Option<Value> {
        let peers = self.node.get_ok("/peers");
        peers["misbehaviour"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["nodeId"] == node_id)
            .cloned()
    }

    /// Waits until the node's log has a line with every one of `parts`.
    fn logged(&self, parts: &[&str]) {
        wait_until(&format!("log line with {parts:?}"), || {
            self.node
                .log()
                .lines()
                .any(|l| parts.iter().all(|p| l.contains(p)))
        });
    }
}

/// Something sent on a fresh socket; false if the send failed.
type Attack<'a> = dyn Fn(&mut RawPeer) -> bool + 'a;

fn envelope(kind: &str, from: &str, payload: &str) -> String {
    format!(
        r#"{{"version":1,"type":"{kind}","from":"{from}","timestamp":{},"payload":{payload}}}"#,
        now_ms()
    )
}

#[test]
fn bad_first_frames_and_silence_close_the_socket_before_any_handshake() {
    let net = net(json!({}));
    let key = Keypair::from_seed([7; 32]);
    let id = key.node_id();
    let ping = envelope("PING", id, r#"{"chainHeight":1}"#);
    let cases: [(&str, Box<Attack>, &str); 8] = [
        (
            "1 MiB before the handshake",
            Box::new(|p| p.send_text(format!("\"{}\"", "x".repeat(1 << 20)))),
            "exceeds 65536",
        ),
        (
            "garbage",
            Box::new(|p| p.send_text("hello?")),
            "invalid handshake frame",
        ),
        (
            "truncated JSON",
            Box::new(|p| p.send_text(r#"{"version":1,"type":"HANDSH"#)),
            "invalid handshake frame",
        ),
        (
            "mistyped handshake",
            Box::new(move |p| p.send_text(envelope("HANDSHAKE", id, r#"{"nodeId":5}"#))),
            "malformed HANDSHAKE payload",
        ),
        (
            "unknown type first",
            Box::new(move |p| p.send_text(envelope("HELLO_THERE", id, "{}"))),
            "unknown message type",
        ),
        (
            "not a handshake first",
            Box::new(move |p| p.send_text(ping.clone())),
            "expected a handshake first, got PING",
        ),
        (
            "binary",
            Box::new(|p| p.send_binary(vec![0, 159, 146, 150])),
            "binaryFrame before the handshake",
        ),
        (
            "forged nodeId",
            Box::new(|p| {
                let mut forged = hello(&Keypair::from_seed([8; 32]));
                if let Message::Handshake(h) = &mut forged {
                    h.node_id = "0123456789abcdef".into();
                }
                p.send(&Keypair::from_seed([8; 32]), forged)
            }),
            "nodeId must be the first 16 hex",
        ),
    ];
    for (name, attack, reason) in cases {
        let mut peer = RawPeer::connect(&net.node.p2p);
        assert!(attack(&mut peer), "{name}: send failed");
        peer.expect_closed(name, DEADLINE);
        net.logged(&["closing", reason]);
    }

    // Silence: closed after the 5 s handshake timeout, not before.
    let mut silent = RawPeer::connect(&net.node.p2p);
    let took = silent.expect_closed("silent socket", DEADLINE);
    assert!(
        took >= Duration::from_millis(4_500),
        "closed after {took:?}"
    );
    net.logged(&["closing", "no handshake within 5000 ms"]);

    // No identity was proven, so nothing is scored; the honest peer never noticed.
    assert_eq!(net.node.get_ok("/peers")["misbehaviour"], json!([]));
    net.honest_unaffected("after-bad-first-frames");
}

#[test]
fn offences_after_the_handshake_are_scored_counted_and_ban_the_peer() {
    let net = net(json!({}));
    let key = Keypair::from_seed([9; 32]);
    let id = key.node_id();
    let mut peer = RawPeer::connect_as(&net.node.p2p, &key);
    // 20 + 20 + 20 + 2 + 20 + 10 = 92 points: still connected.
    peer.send_text("not json at all");
    peer.send_text(r#"{"version":1,"type":"PING","from":"#);
    peer.send_text(envelope("PING", id, r#"{"chainHeight":"high"}"#));
    peer.send_text(envelope("FROM_THE_FUTURE", id, "{}"));
    peer.send_binary(vec![1, 2, 3]);
    peer.send(&key, hello(&key));
    wait_until("six offences counted", || {
        net.record(id).is_some_and(|r| {
            r["offences"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum::<u64>()
                == 6
        })
    });
    assert_eq!(net.record(id).unwrap()["bans"], 0);
    assert!(net.node.peer_ids().contains(&id.to_string()));
    // An unsolicited SYNC_RESPONSE (10 more) crosses 100.
    peer.send_text(envelope(
        "SYNC_RESPONSE",
        id,
        r#"{"blocks":[],"hasMore":false}"#,
    ));
    peer.expect_closed("banned peer", DEADLINE);

    let record = net.record(id).unwrap();
    assert_eq!(
        record["offences"],
        json!({"malformedFrame": 2, "malformedPayload": 1, "unknownType": 1, "binaryFrame": 1,
               "repeatedHandshake": 1, "unsolicitedResponse": 1}),
        "{record}"
    );
    assert_eq!(record["bans"], 1);
    let until = record["bannedUntil"].as_u64().expect("banned");
    assert!(
        until > now_ms() + 9 * 60_000,
        "banned for about 10 minutes: {record}"
    );
    // Every reason was logged.
    for reason in [
        "malformedFrame: malformed envelope",
        "malformed PING payload",
        "unknownType: ignored unknown message type",
        "binaryFrame: binary frame",
        "repeatedHandshake: handshake repeated",
        "unsolicited SYNC_RESPONSE",
        "misbehaviour score reached 100 (last offence: unsolicitedResponse)",
    ] {
        net.logged(&[reason]);
    }

    // Coming back under the same identity is refused while the ban lasts.
    let mut again = RawPeer::connect(&net.node.p2p);
    let ack = again.handshake(&key).expect("a refusal");
    assert!(!ack.accepted);
    assert!(ack.reason.as_deref().unwrap().contains("banned"), "{ack:?}");
    again.expect_closed("banned reconnect", DEADLINE);

    net.honest_unaffected("after-ban");
}

#[test]
fn oversized_frames_and_floods_are_cut_off() {
    let net = net(json!({"maxFrameBytes": 11_534_336, "maxMessagesPerSecond": 50}));

    // A frame over the cap: the transport closes the socket before the protocol sees it.
    let key = Keypair::from_seed([10; 32]);
    let mut big = RawPeer::connect_as(&net.node.p2p, &key);
    big.send_text(format!("\"{}\"", "x".repeat(12 * 1024 * 1024)));
    big.expect_closed("oversized frame", DEADLINE);
    net.logged(&["socket closed", "Space limit exceeded"]);

    // A flood of valid frames: 100 pass (the burst), then dropped frames are offences.
    let key = Keypair::from_seed([11; 32]);
    let mut flood = RawPeer::connect_as(&net.node.p2p, &key);
    for _ in 0..400 {
        if !flood.send(&key, Message::Pong(ChainHeight { chain_height: 0 })) {
            break; // already cut off
        }
    }
    flood.expect_closed("flooding peer", DEADLINE);
    let record = net.record(key.node_id()).expect("scored");
    assert_eq!(record["bans"], 1, "{record}");
    assert!(
        record["offences"]["flood"].as_u64().unwrap() >= 4,
        "{record}"
    );
    net.logged(&["flood: frame rate limit exceeded"]);

    net.honest_unaffected("after-flood");
}

/// VmRSS of a process, kB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap();
    line.trim().trim_end_matches("kB").trim().parse().unwrap()
}

/// A connection sending frames faster than the node loop handles them (a rate limit high
/// enough to let every frame through, so only the ingress bound stands in the way) holds at
/// most its socket's ingress budget in the node: the node's memory stays flat while the flood
/// runs (before the bound, everything the socket delivered queued in an unbounded channel),
/// and the honest peer is served meanwhile.
#[test]
fn a_flooding_connection_cannot_grow_the_nodes_memory() {
    let net = net(json!({"maxMessagesPerSecond": 1_000_000_000}));
    let key = Keypair::from_seed([12; 32]);
    let mut flood = RawPeer::connect_as(&net.node.p2p, &key);
    // 48 KiB PONGs: valid (the unknown field is ignored, never scored), and under the size the
    // transport decodes on the socket's task, so the loop decodes each one itself.
    let frame = envelope(
        "PONG",
        key.node_id(),
        &format!(
            r#"{{"chainHeight":0,"padding":"{}"}}"#,
            "x".repeat(48 << 10)
        ),
    );
    let pid = net.node.pid();
    let before = rss_kb(pid);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (sent, peak, served) = std::thread::scope(|s| {
        let flooder = s.spawn(|| {
            let mut sent = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && flood.send_text(&*frame) {
                sent += frame.len() as u64;
            }
            sent
        });
        let started = std::time::Instant::now();
        let mut peak = before;
        while started.elapsed() < Duration::from_secs(6) {
            peak = peak.max(rss_kb(pid));
            std::thread::sleep(Duration::from_millis(50));
        }
        // Still flooding: the honest peer is served.
        let serving = std::time::Instant::now();
        net.honest_unaffected("during-flood");
        let served = serving.elapsed();
        peak = peak.max(rss_kb(pid));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (flooder.join().unwrap(), peak, served)
    });
    let grown = peak.saturating_sub(before);
    eprintln!(
        "flood: {} MiB sent, RSS {before} kB before, peak {peak} kB (+{grown} kB); honest peer served in {served:?}",
        sent >> 20
    );
    // Far more than one socket's ingress budget (4 MiB) went out.
    assert!(
        sent > 64 << 20,
        "the flood was too slow to show anything: {sent} bytes"
    );
    assert!(grown < 64 << 10, "RSS grew by {grown} kB during the flood");
    assert!(
        net.record(key.node_id()).is_none(),
        "the flood was within the rate limit"
    );
}

#[test]
fn handshake_floods_are_bounded_by_the_per_ip_and_peer_limits() {
    // The honest peer holds one of the 5 inbound sockets from 127.0.0.1 and one of 3 full peer
    // slots; the raw peers handshake as light nodes, 2 of which may connect.
    let net = net(json!({"maxPeers": 3, "maxLightPeers": 2, "maxInboundPerIp": 5}));
    let mut sockets: Vec<(Keypair, RawPeer)> = (0..10u8)
        .map(|i| {
            (
                Keypair::from_seed([20 + i; 32]),
                RawPeer::connect(&net.node.p2p),
            )
        })
        .collect();
    // Hold them all open, then handshake on each.
    let mut accepted = 0;
    let mut refused = 0;
    let mut closed_unanswered = 0;
    for (key, socket) in &mut sockets {
        match socket.handshake(key) {
            Some(ack) if ack.accepted => accepted += 1,
            Some(ack) => {
                let reason = ack.reason.unwrap();
                assert!(reason.contains("light peer limit of 2 reached"), "{reason}");
                refused += 1;
            }
            None => closed_unanswered += 1,
        }
    }
    assert_eq!((accepted, refused, closed_unanswered), (2, 2, 6));
    net.logged(&["closing", "limit of 5 inbound sockets per IP reached"]);
    assert_eq!(net.node.peer_ids().len(), 3);
    net.honest_unaffected("after-handshake-flood");
}

#[test]
fn replayed_transactions_and_a_claimed_node_id_change_nothing() {
    let net = net(json!({}));
    // A transaction signed elsewhere, committed.
    let sender = Keypair::from_seed([40; 32]);
    let body = PayloadBody::state_set("replayed", "1").unwrap();
    let tx = Transaction::new_signed(&sender, 0, now_ms(), body);
    let (code, answer) = net.node.post("/tx", &serde_json::to_value(&tx).unwrap());
    assert_eq!(code, 202, "{answer}");
    net.node.wait_committed(&tx.hash);
    let tip = net.node.tip();

    // A peer replays it 20 times: refused each time, not blamed (an honest relay can race a
    // commit: the honest follower's own relay of it arrives after the commit too), never
    // committed again.
    let key = Keypair::from_seed([41; 32]);
    let mut peer = RawPeer::connect_as(&net.node.p2p, &key);
    for _ in 0..20 {
        peer.send(
            &key,
            Message::TxBroadcast(TxMessage {
                transaction: tx.clone(),
            }),
        );
    }
    wait_until("20 replays refused", || {
        let log = net.node.log();
        log.lines()
            .filter(|l| {
                l.contains(&tx.hash) && l.contains("tx.replay") && l.contains(key.node_id())
            })
            .count()
            == 20
    });
    assert_eq!(net.node.tip(), tip);
    assert_eq!(net.node.status()["mempool"], 0);
    assert!(
        net.record(key.node_id()).is_none(),
        "replays are not offences"
    );

    // A forged signature is blamed.
    let body = PayloadBody::state_set("forged", "1").unwrap();
    let mut forged = Transaction::new_signed(&sender, 1, now_ms(), body);
    forged.signature = format!(
        "{}{}",
        if forged.signature.starts_with('0') {
            "1"
        } else {
            "0"
        },
        &forged.signature[1..]
    );
    peer.send(
        &key,
        Message::TxBroadcast(TxMessage {
            transaction: forged,
        }),
    );
    wait_until("the forged transaction scored", || {
        net.record(key.node_id())
            .is_some_and(|r| r["offences"]["invalidTransaction"] == 1)
    });

    // A socket claims the honest peer's (public) identity: refused, the honest connection
    // stays. (The honest peer dialed the node; the case where the node dialed it, which the
    // dial-race rule alone would have given to the newcomer, is in core/tests/misbehaviour.rs.)
    let honest = net.honest.get_ok("/identity");
    let mut impostor = RawPeer::connect(&net.node.p2p);
    let claim = Message::Handshake(miniledger_core::protocol::Handshake {
        node_id: net.honest_id.clone(),
        public_key: honest["publicKey"].as_str().unwrap().into(),
        org_id: "org1".into(),
        chain_height: 0,
        listen_port: 9,
        listen_address: None,
        light: None,
        tls: None,
        challenge: None,
        genesis_hash: None,
    });
    impostor.send_text(
        miniledger_core::Envelope::new(net.honest_id.as_str(), now_ms(), claim).encode(),
    );
    match impostor.next(DEADLINE) {
        Next::Text(text) => assert!(
            text.contains(r#""accepted":false"#) && text.contains("duplicate connection"),
            "{text}"
        ),
        other => panic!("no refusal: {other:?}"),
    }
    impostor.expect_closed("impostor", DEADLINE);
    net.honest_unaffected("after-impostor");
}

#[test]
fn forged_block_announcements_ban_the_peer() {
    let net = net(json!({}));
    let key = Keypair::from_seed([60; 32]);
    let mut peer = RawPeer::connect_as(&net.node.p2p, &key);
    // The next block on the node's tip, sealed by a key that is no validator.
    let latest: miniledger_core::Block =
        serde_json::from_value(net.node.get_ok("/blocks/latest")).unwrap();
    let forged = miniledger_core::Block::build(
        &latest.header(),
        latest.timestamp + 1,
        Vec::new(),
        miniledger_core::hash::ZERO_HASH.into(),
        &key,
    );
    let tip = net.node.tip();
    let announce =
        Message::BlockAnnounce(miniledger_core::protocol::BlockAnnounce { block: forged });
    peer.send(&key, announce.clone());
    wait_until("one invalid block counted", || {
        net.record(key.node_id())
            .is_some_and(|r| r["offences"]["invalidBlock"] == 1)
    });
    assert!(net.node.peer_ids().contains(&key.node_id().to_string()));
    peer.send(&key, announce);
    peer.expect_closed("peer announcing forged blocks", DEADLINE);
    net.logged(&["block.proposer", key.node_id()]);
    net.logged(&["misbehaviour score reached 100 (last offence: invalidBlock)"]);
    assert_eq!(net.node.tip(), tip, "nothing applied");
    net.honest_unaffected("after-forged-announcements");
}
