//! The explorer's checks of data the page fetched over REST rather than through sync: a block
//! (every stateless rule against the trusted validator set, and whether it is the block this tab
//! verified at that height) and a state proof (against a block's `stateRoot`). Both answer JSON
//! `{ok, rule?, reason?}` so the page can say exactly what was checked and what failed.

use miniledger_core::decode;
use miniledger_core::light::LightNode;
use miniledger_core::model::{Block, BlockHeader};
use miniledger_core::state::proof_check;
use miniledger_core::state::StateEntry;
use miniledger_core::validation::{verify_block, Limits};
use serde_json::{json, Value};

/// Where a checked block stands relative to the chain this tab verified by syncing.
fn chain_position(node: &LightNode, block: &Block) -> &'static str {
    let tip = node.tip();
    if block.height > tip.height {
        return "ahead";
    }
    let known = if block.height == tip.height {
        Some(tip.hash.as_str())
    } else {
        node.block(block.height).map(|b| b.hash.as_str())
    };
    match known {
        Some(hash) if hash == block.hash => "same",
        Some(_) => "different",
        // Older than the recent window: the tab saw it once but keeps only headers it needs.
        None => "unknown",
    }
}

/// Verifies `block_json` on its own: its parent is taken to be what its header names (height
/// − 1, `previousHash`), so every rule but linkage to this tab's chain is checked (hashes,
/// Merkle root, limits, each transaction, the proposer in the trusted set, every signature).
/// `chain` then says whether it is the block this tab verified at that height.
pub fn check_block(node: &LightNode, block_json: &str, now: u64) -> Value {
    let block: Block = match decode::from_json(block_json) {
        Ok(block) => block,
        Err(e) => return json!({ "ok": false, "rule": "decode", "reason": e.to_string() }),
    };
    if block.height == 0 {
        let ok = block.hash == Block::genesis().hash;
        return json!({ "ok": ok, "rule": if ok { Value::Null } else { "block.hash".into() },
            "reason": if ok { Value::Null } else { "not the fixed genesis block".into() },
            "chain": if ok { "same" } else { "different" } });
    }
    let parent = BlockHeader {
        height: block.height - 1,
        hash: block.previous_hash.clone(),
        timestamp: 0,
    };
    match verify_block(&block, &parent, node.validators(), &Limits::default(), now) {
        Ok(()) => json!({ "ok": true, "chain": chain_position(node, &block) }),
        Err(e) => json!({ "ok": false, "rule": e.rule.name(), "reason": e.to_string() }),
    }
}

/// Checks that `proof_hex` proves `entry_json` (`{"value": …, "version": n}`, or `null` for
/// absence) for `key` under `root`.
pub fn check_state_proof(root: &str, key: &str, entry_json: &str, proof_hex: &str) -> Value {
    let fail = |rule: &str, reason: String| json!({ "ok": false, "rule": rule, "reason": reason });
    let entry: Option<(Box<serde_json::value::RawValue>, u64)> =
        match serde_json::from_str::<Option<EntryJson>>(entry_json) {
            Ok(e) => e.map(|e| (e.value, e.version)),
            Err(e) => return fail("decode", format!("entry: {e}")),
        };
    let entry = match entry {
        Some((value, version)) => match miniledger_core::canonical::canonicalize(value.get()) {
            Ok(value) => Some(StateEntry { value, version }),
            Err(e) => return fail("decode", format!("entry value: {e}")),
        },
        None => None,
    };
    // Not jmt's own `verify`: see `proof_check` (the wasm size budget).
    match proof_check::verify_hex(root, key, entry.as_ref(), proof_hex) {
        Ok(()) => json!({ "ok": true }),
        Err(e) => fail("state.proof", e.to_string()),
    }
}

#[derive(serde::Deserialize)]
struct EntryJson {
    value: Box<serde_json::value::RawValue>,
    version: u64,
}
