//! The wasm-bindgen API that `web/npm` wraps (one instance per worker or page). Strings in and
//! out are JSON; events arrive at `onEvent` as a JSON array text, batched per event-loop turn.

use crate::driver::{self, now_ms, Shared};
use crate::explorer;
use crate::json;
use miniledger_core::hex::is_lower_hex;
use miniledger_core::light::{LightConfig, LightNode};
use miniledger_core::model::Payload;
use miniledger_core::ValidatorSet;
use serde::Deserialize;
use wasm_bindgen::prelude::*;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Options {
    /// `ws://host:port` addresses of full nodes' P2P ports.
    urls: Vec<String>,
    /// The trust root, one of: the network's genesis document (JSON text, e.g. from a node's
    /// `GET /genesis`), checked against `genesis_hash` when given, whose validator set the
    /// node then follows through governance itself; or a fixed set of public keys (64
    /// lowercase hex) allowed to propose blocks (a MiniLedger 0.2 network).
    genesis: Option<String>,
    genesis_hash: Option<String>,
    validators: Option<Vec<String>>,
    max_peers: Option<usize>,
    recent_blocks: Option<usize>,
    org_id: Option<String>,
    /// Longest verification slice before yielding to the event loop (default 40 ms).
    slice_ms: Option<f64>,
}

/// The light node's configuration from its trust root (see [`Options`]).
fn trust_root(options: &Options) -> Result<LightConfig, String> {
    match (&options.genesis, &options.validators) {
        (Some(text), None) => LightConfig::from_genesis(text, options.genesis_hash.as_deref())
            .map_err(|e| format!("options.{e}")),
        (None, Some(validators)) => {
            if validators.is_empty() {
                return Err("options.validators: the trust root must not be empty".into());
            }
            if let Some(bad) = validators.iter().find(|k| !is_lower_hex(k, 32)) {
                return Err(format!(
                    "options.validators: {bad:?} is not 64 lowercase hex characters"
                ));
            }
            Ok(LightConfig::new(ValidatorSet::new(validators.clone())))
        }
        _ => Err("options: give either genesis (and genesisHash) or validators".into()),
    }
}

#[wasm_bindgen]
pub struct WasmLightNode {
    shared: Shared,
}

#[wasm_bindgen]
impl WasmLightNode {
    /// Starts a light node with a fresh ephemeral identity and dials `urls`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: &str, on_event: js_sys::Function) -> Result<WasmLightNode, JsError> {
        let options: Options =
            serde_json::from_str(options).map_err(|e| JsError::new(&format!("options: {e}")))?;
        let mut config = trust_root(&options).map_err(|e| JsError::new(&e))?;
        if let Some(n) = options.max_peers {
            config.max_peers = n;
        }
        if let Some(n) = options.recent_blocks {
            config.recent_blocks = n;
        }
        if let Some(org) = options.org_id {
            config.org_id = org;
        }
        let mut seed = [0u8; 40];
        getrandom::getrandom(&mut seed).map_err(|e| JsError::new(&e.to_string()))?;
        let identity: [u8; 32] = seed[..32].try_into().expect("32 bytes");
        let jitter = u64::from_le_bytes(seed[32..].try_into().expect("8 bytes"));
        let node = LightNode::new(identity, jitter, config);
        let shared = driver::start(node, on_event, options.slice_ms.unwrap_or(40.0))
            .map_err(|e| JsError::new(&format!("{e:?}")))?;
        driver::with_node(&shared, |node, now| {
            for url in &options.urls {
                node.add_address(url, now);
            }
        });
        Ok(WasmLightNode { shared })
    }

    /// Heights, tip, peers, counters, trust root and identity (JSON).
    pub fn snapshot(&self) -> String {
        json::snapshot(&self.shared.borrow().node, now_ms()).to_string()
    }

    pub fn height(&self) -> f64 {
        self.shared.borrow().node.height() as f64
    }

    /// A verified block from the recent window (JSON), if still held.
    pub fn block(&self, height: f64) -> Option<String> {
        let inner = self.shared.borrow();
        let block = inner.node.block(height as u64)?;
        Some(serde_json::to_string(block).expect("blocks serialize"))
    }

    /// Signs a payload (`{"kind": "state:set", "key": .., "value": ..}` or any other kind) with
    /// the ephemeral key and broadcasts it; returns the signed transaction (JSON). A `tx`
    /// event with `status: "committed"` follows once a verified block holds it.
    pub fn submit(&self, payload: &str) -> Result<String, JsError> {
        let payload =
            Payload::from_json(payload).map_err(|e| JsError::new(&format!("payload: {e}")))?;
        let tx = driver::with_node(&self.shared, |node, now| {
            node.submit(payload.body().clone(), now)
        })
        .map_err(|e| JsError::new(&e.to_string()))?;
        Ok(serde_json::to_string(&tx).expect("transactions serialize"))
    }

    /// Verifies a block fetched outside sync (e.g. over REST) against the trusted validator set
    /// and says whether it is the block this tab verified at its height: JSON `{ok, rule,
    /// reason, chain: "same" | "different" | "unknown" | "ahead"}`.
    #[wasm_bindgen(js_name = checkBlock)]
    pub fn check_block(&self, block: &str) -> String {
        let inner = self.shared.borrow();
        explorer::check_block(&inner.node, block, now_ms()).to_string()
    }

    /// Checks a state proof (hex, as `GET /state/:key?proof=true` serves it) of `entry`
    /// (`{"value", "version"}` JSON, or `null` for absence) for `key` under `root`: JSON
    /// `{ok, rule, reason}`.
    #[wasm_bindgen(js_name = checkStateProof)]
    pub fn check_state_proof(&self, root: &str, key: &str, entry: &str, proof: &str) -> String {
        explorer::check_state_proof(root, key, entry, proof).to_string()
    }

    /// Another full node to keep connected to.
    #[wasm_bindgen(js_name = addPeer)]
    pub fn add_peer(&self, url: &str) {
        driver::with_node(&self.shared, |node, now| node.add_address(url, now));
    }

    /// Closes every connection and stops all timers.
    pub fn close(&self) {
        driver::close(&self.shared);
    }
}
