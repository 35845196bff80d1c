//! A PeerManager fed a program of socket events decoded from the bytes: sockets opening (in and
//! out) and closing, handshakes and acks from a few keys (ours among them), pings, peer lists,
//! raw frames, ticks. Frames are written as JSON text, so they follow the wire format rather
//! than today's structs.
//!
//! Properties: nothing panics; full and light peer counts stay within `max_peers` and
//! `max_light_peers`; the manager never connects to itself; it only sends on, closes and
//! delivers from sockets that are open. Its output is handled as a driver does: events first,
//! then transmits, until both are empty.

use super::input::Input;
use miniledger_core::crypto::Keypair;
use miniledger_core::net::{
    ConnId, Direction, PeerConfig, PeerEvent, PeerKind, PeerManager, Transmit,
};
use std::collections::BTreeSet;
use std::sync::OnceLock;

const OPS: usize = 256;
const CONNS: u64 = 6;

fn keys() -> &'static [Keypair] {
    static KEYS: OnceLock<Vec<Keypair>> = OnceLock::new();
    KEYS.get_or_init(|| (1..=4).map(|i| Keypair::from_seed([i; 32])).collect())
}

fn envelope(from: &str, kind: &str, payload: &str) -> String {
    format!(r#"{{"version":1,"type":"{kind}","from":"{from}","timestamp":1,"payload":{payload}}}"#)
}

pub fn peer_frames(data: &[u8]) {
    let mut input = Input::new(data);
    let keys = keys();
    let mut config = PeerConfig::new(keys[0].public_hex(), "org", 9000);
    config.max_peers = 2;
    config.max_light_peers = 1;
    config.max_inbound_per_ip = 3;
    let (max_peers, max_light) = (config.max_peers, config.max_light_peers);
    let me = config.node_id.clone();
    let mut pm = PeerManager::new(config, u64::from(input.u16()));
    let mut open: BTreeSet<ConnId> = BTreeSet::new();
    let mut dials: Vec<String> = Vec::new();
    let mut now = 1_000u64;
    for _ in 0..OPS {
        if input.is_empty() {
            break;
        }
        let conn = u64::from(input.u8()) % CONNS;
        let key = &keys[input.below(keys.len())];
        let (id, public) = (key.node_id(), key.public_hex());
        match input.below(9) {
            0 if !open.contains(&conn) => {
                let direction = match (input.below(3), dials.pop()) {
                    (0, Some(address)) => Direction::Outbound { address },
                    (0 | 1, _) => Direction::Outbound {
                        address: format!("ws://127.0.0.1:{}", 9000 + conn),
                    },
                    _ => Direction::Inbound {
                        remote_ip: format!("10.0.0.{}", input.below(2)),
                    },
                };
                pm.on_open(conn, direction, now);
                open.insert(conn);
            }
            1 => {
                let payload = format!(
                    r#"{{"nodeId":"{id}","publicKey":"{public}","orgId":"org","chainHeight":{},"listenPort":{}}}"#,
                    input.u8(),
                    9000 + u16::from(input.u8() % 4)
                );
                pm.on_frame(conn, &envelope(id, "HANDSHAKE", &payload), now);
            }
            2 => {
                let payload = format!(
                    r#"{{"nodeId":"{id}","publicKey":"{public}","orgId":"org","chainHeight":{},"accepted":{}}}"#,
                    input.u8(),
                    input.bool()
                );
                pm.on_frame(conn, &envelope(id, "HANDSHAKE_ACK", &payload), now);
            }
            3 => {
                let kind = if input.bool() { "PING" } else { "PONG" };
                let payload = format!(r#"{{"chainHeight":{}}}"#, input.u16());
                pm.on_frame(conn, &envelope(id, kind, &payload), now);
            }
            4 => {
                let peers: Vec<String> = (0..input.below(4))
                    .map(|_| {
                        let k = &keys[input.below(keys.len())];
                        let address = match input.below(3) {
                            0 => format!("ws://127.0.0.1:{}", 9000 + input.below(4)),
                            1 => "not an address".to_string(),
                            _ => String::new(),
                        };
                        format!(
                            r#"{{"nodeId":"{}","publicKey":"{}","address":"{address}","orgId":"org"}}"#,
                            k.node_id(),
                            k.public_hex()
                        )
                    })
                    .collect();
                let payload = format!(r#"{{"peers":[{}]}}"#, peers.join(","));
                pm.on_frame(conn, &envelope(id, "PEER_LIST", &payload), now);
            }
            5 => {
                let bytes: Vec<u8> = (0..input.below(96)).map(|_| input.u8()).collect();
                pm.on_frame(conn, &String::from_utf8_lossy(&bytes), now);
            }
            6 if open.remove(&conn) => pm.on_closed(conn, now),
            7 => {
                now += u64::from(input.u16());
                pm.tick(now);
            }
            _ => {}
        }
        loop {
            let mut drained = false;
            while let Some(event) = pm.poll_event() {
                drained = true;
                match event {
                    PeerEvent::Rejected { conn, .. } => {
                        assert!(open.contains(&conn), "rejection on closed socket {conn}");
                    }
                    PeerEvent::Message { conn, from, .. }
                    | PeerEvent::Malformed { conn, from, .. } => {
                        assert!(open.contains(&conn), "delivery from closed socket {conn}");
                        assert!(
                            pm.peer(&from).is_some(),
                            "delivery from unknown peer {from}"
                        );
                    }
                    PeerEvent::Connected(peer) => {
                        assert_ne!(peer.node_id, me, "connected to itself")
                    }
                    PeerEvent::Disconnected { .. } => {}
                }
            }
            // In the order queued: nothing is sent on a socket after its close.
            while let Some(transmit) = pm.poll_transmit() {
                drained = true;
                match transmit {
                    Transmit::Send { conn, .. } => {
                        assert!(open.contains(&conn), "send on closed socket {conn}");
                    }
                    Transmit::Close { conn, .. } => {
                        // The driver closes the socket; its close event follows.
                        assert!(open.remove(&conn), "close of closed socket {conn}");
                        pm.on_closed(conn, now);
                    }
                    Transmit::Dial { address } => dials.push(address),
                }
            }
            if !drained {
                break;
            }
        }
        assert!(
            pm.count(PeerKind::Full) <= max_peers,
            "more than {max_peers} full peers"
        );
        assert!(
            pm.count(PeerKind::Light) <= max_light,
            "more than {max_light} light peers"
        );
    }
}
