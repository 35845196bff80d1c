//! Bugs found by fuzzing (fuzz/regressions/), each as a plain test of the public API.

use miniledger_core::net::{Direction, PeerConfig, PeerEvent, PeerManager, Transmit};
use miniledger_core::protocol::{Envelope, HandshakeAck, Message};
use miniledger_core::Keypair;

/// peer_frames: a HANDSHAKE_ACK with `accepted: false` and no `reason` admitted the peer with
/// none of the checks (self-connection, ban, nodeId derived from the key, peer limit).
#[test]
fn a_refusing_ack_without_a_reason_is_a_refusal() {
    let me = Keypair::from_seed([1; 32]);
    let mut pm = PeerManager::new(PeerConfig::new(me.public_hex(), "org", 9000), 0);
    let address = "ws://10.0.0.2:9001".to_string();
    pm.on_open(7, Direction::Outbound { address }, 0);
    // Our own identity, which an accepted ack could never pass.
    let ack = HandshakeAck {
        node_id: me.node_id().into(),
        public_key: me.public_hex().into(),
        org_id: "org".into(),
        chain_height: 0,
        accepted: false,
        reason: None,
        challenge: None,
        challenge_signature: None,
        genesis_hash: None,
    };
    pm.on_frame(
        7,
        &Envelope::new(me.node_id(), 0, Message::HandshakeAck(ack)).encode(),
        1,
    );
    let events: Vec<PeerEvent> = std::iter::from_fn(|| pm.poll_event()).collect();
    let transmits: Vec<Transmit> = std::iter::from_fn(|| pm.poll_transmit()).collect();
    assert!(
        !events.iter().any(|e| matches!(e, PeerEvent::Connected(_))),
        "{events:?} {transmits:?}"
    );
    assert!(
        transmits.iter().any(
            |t| matches!(t, Transmit::Close { conn: 7, reason } if reason.ends_with("failed: refused"))
        ),
        "{events:?} {transmits:?}"
    );
    assert_eq!(pm.peers().count(), 0);
}
