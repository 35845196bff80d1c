//! The optional HANDSHAKE `tls` flag: a node whose P2P port speaks TLS announces it, and peers
//! then advertise it (in `/peers` and PEER_LIST) as `wss://host:port`; without the flag (as from
//! a MiniLedger 0.2 node) the address stays `ws://host:port`.

use miniledger_core::net::{Direction, PeerConfig, PeerEvent, PeerManager, Transmit};
use miniledger_core::protocol::{Envelope, Handshake, Message};
use miniledger_core::Keypair;

fn manager(seed: u8, tls: bool) -> PeerManager {
    let mut config = PeerConfig::new(Keypair::from_seed([seed; 32]).public_hex(), "org", 9000);
    config.tls = tls;
    PeerManager::new(config, 0)
}

/// Everything the manager queued: its events and its transmits, each in order.
#[derive(Debug)]
struct Output {
    events: Vec<PeerEvent>,
    transmits: Vec<Transmit>,
}

fn drain(pm: &mut PeerManager) -> Output {
    Output {
        events: std::iter::from_fn(|| pm.poll_event()).collect(),
        transmits: std::iter::from_fn(|| pm.poll_transmit()).collect(),
    }
}

fn hello(seed: u8, tls: Option<bool>) -> String {
    let key = Keypair::from_seed([seed; 32]);
    let hello = Handshake {
        node_id: key.node_id().into(),
        public_key: key.public_hex().into(),
        org_id: "org".into(),
        chain_height: 0,
        listen_port: 9001,
        listen_address: None,
        light: None,
        tls,
        challenge: None,
        genesis_hash: None,
    };
    Envelope::new(key.node_id(), 0, Message::Handshake(hello)).encode()
}

/// The frames `pm` sent.
fn sent(out: &Output) -> Vec<&str> {
    out.transmits
        .iter()
        .filter_map(|t| match t {
            Transmit::Send { frame, .. } => Some(frame.as_ref()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_handshake_announces_tls_only_when_served() {
    for (tls, announced) in [(true, true), (false, false)] {
        let mut pm = manager(1, tls);
        let address = "wss://10.0.0.2:9001".to_string();
        pm.on_open(1, Direction::Outbound { address }, 0);
        let out = drain(&mut pm);
        let frames = sent(&out);
        assert_eq!(frames.len(), 1, "{out:?}");
        assert_eq!(
            frames[0].contains(r#""tls":true"#),
            announced,
            "{}",
            frames[0]
        );
    }
}

#[test]
fn peers_are_advertised_with_the_scheme_they_announce() {
    let mut pm = manager(1, false);
    let inbound = |ip: &str| Direction::Inbound {
        remote_ip: ip.into(),
    };
    pm.on_open(1, inbound("10.0.0.2"), 0);
    pm.on_frame(1, &hello(2, Some(true)), 0);
    pm.on_open(2, inbound("10.0.0.3"), 0);
    pm.on_frame(2, &hello(3, None), 0);
    let out = drain(&mut pm);
    let addresses: Vec<_> = out
        .events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::Connected(p) => p.address.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(addresses, ["wss://10.0.0.2:9001", "ws://10.0.0.3:9001"]);
    // The PEER_LIST the second peer got carries the first one's wss:// address.
    let list = sent(&out)
        .into_iter()
        .rfind(|f| f.contains("PEER_LIST"))
        .expect("a PEER_LIST");
    assert!(
        list.contains(r#""address":"wss://10.0.0.2:9001""#),
        "{list}"
    );
}
