//! The JSON the JavaScript side sees: events and snapshots, camelCase like the protocol.

use miniledger_core::light::{LightEvent, LightNode};
use miniledger_core::net::PeerSummary;
use serde_json::{json, Value};

/// One event; `verify_ms` is the time the step that produced a block event took.
pub fn event(event: &LightEvent, verify_ms: f64) -> Value {
    match event {
        LightEvent::Block(r) => {
            let (rule, reason) = match &r.result {
                Ok(()) => (None, None),
                Err(e) => (Some(e.rule.name()), Some(e.to_string())),
            };
            json!({
                "type": "block",
                "height": r.height,
                "hash": r.hash,
                "previousHash": r.previous_hash,
                "timestamp": r.timestamp,
                "proposer": r.proposer,
                "txCount": r.tx_count,
                "peer": r.peer,
                "source": r.source.name(),
                "verified": r.result.is_ok(),
                "rule": rule,
                "reason": reason,
                "verifyMs": verify_ms,
            })
        }
        LightEvent::PeerConnected(p) => {
            let mut v = peer(p, false);
            v["type"] = "peer".into();
            v["event"] = "connected".into();
            v
        }
        LightEvent::PeerDisconnected { node_id, reason } => json!({
            "type": "peer", "event": "disconnected", "nodeId": node_id, "reason": reason,
        }),
        LightEvent::Progress { height, target } => json!({
            "type": "sync", "height": height, "target": target,
        }),
        LightEvent::TxCommitted {
            hash,
            height,
            block_hash,
        } => json!({
            "type": "tx", "status": "committed", "hash": hash, "height": height,
            "blockHash": block_hash,
        }),
        LightEvent::Warning(message) => json!({ "type": "error", "message": message }),
    }
}

pub fn peer(p: &PeerSummary, abandoned: bool) -> Value {
    json!({
        "nodeId": p.node_id,
        "publicKey": p.public_key,
        "orgId": p.org_id,
        "address": p.address,
        "height": p.chain_height,
        "connectedAt": p.connected_at,
        "abandoned": abandoned,
    })
}

/// Everything the page shows that is not an event: heights, tip, peers, counters, trust root.
pub fn snapshot(node: &LightNode, now: u64) -> Value {
    let tip = node.tip();
    let stats = node.verifier().stats();
    let peers: Vec<Value> = node
        .peers(now)
        .iter()
        .map(|(p, abandoned)| peer(p, *abandoned))
        .collect();
    json!({
        "height": node.height(),
        "target": node.target_height(),
        "tip": { "height": tip.height, "hash": tip.hash, "timestamp": tip.timestamp },
        "peers": peers,
        "stats": {
            "blocksVerified": stats.blocks_verified,
            "txsVerified": stats.txs_verified,
            "blocksRejected": stats.blocks_rejected,
        },
        "noncesExact": node.verifier().nonces().is_exact(),
        "validators": node.validators().keys(),
        "publicKey": node.public_key(),
        "nodeId": node.node_id(),
    })
}
