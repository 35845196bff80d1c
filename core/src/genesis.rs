//! The genesis document: what defines one of our networks (its name, consensus, initial
//! validators, admission lists and the block parameters every node must agree on). Its hash
//! identifies the network: nodes announce it in the handshake and refuse peers of another one.
//!
//! ```json
//! {"format": "miniledger-genesis/1", "chainName": "miniledger", "consensus": "solo",
//!  "validators": ["<public key>"], "allowedKeys": [], "allowedOrgs": [],
//!  "parameters": {"maxTxsPerBlock": 500, "maxTxBytes": 262144}}
//! ```
//!
//! The three lists are sets: a document is normalized (lists sorted; absent optional fields
//! filled with their defaults) before hashing, so the same network has one hash however its
//! file was written. `hash = sha256hex(canonical(normalized document))`. Unknown fields are
//! errors: a field this version does not understand could change what the network is.
//!
//! MiniLedger 0.2 networks have no genesis document (their genesis block is fixed and their
//! validators configured on each node): compat mode uses none.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::decode::{from_json, DecodeError};
use crate::validation::Limits;

/// The only format this version reads and writes.
pub const FORMAT: &str = "miniledger-genesis/1";
/// Chain name of a genesis made without one.
pub const DEFAULT_CHAIN_NAME: &str = "miniledger";
/// A genesis document larger than this is refused before parsing (a peer may send one).
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// Validators, allowed keys and orgs: at most this many each.
pub const MAX_LIST_LEN: usize = 1000;
const MAX_NAME_LEN: usize = 64;

/// How the validators agree on blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consensus {
    /// Each block sealed by a validator on its own (meant for one validator).
    Solo,
    /// The validators elect a leader and agree on each block (Raft).
    Raft,
}

/// Network-wide limits a block must respect. They may only tighten the protocol's own
/// ([`Limits::default`]), so every light node's default check still accepts the network's blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Parameters {
    pub max_txs_per_block: usize,
    pub max_tx_bytes: usize,
}

impl Default for Parameters {
    fn default() -> Self {
        let limits = Limits::default();
        Parameters {
            max_txs_per_block: limits.max_txs_per_block,
            max_tx_bytes: limits.max_tx_bytes,
        }
    }
}

/// A valid, normalized genesis document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Genesis {
    pub format: String,
    pub chain_name: String,
    pub consensus: Consensus,
    pub validators: Vec<String>,
    #[serde(default)]
    pub allowed_keys: Vec<String>,
    #[serde(default)]
    pub allowed_orgs: Vec<String>,
    #[serde(default)]
    pub parameters: Parameters,
}

/// A node's network: its genesis with the hash computed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub genesis: Genesis,
    pub hash: String,
}

impl From<Genesis> for Network {
    fn from(genesis: Genesis) -> Network {
        let hash = genesis.hash();
        Network { genesis, hash }
    }
}

/// Why a document is not a valid genesis; `path` names the field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("genesis: {0}")]
pub struct GenesisError(DecodeError);

fn invalid(path: impl Into<String>, message: impl Into<String>) -> GenesisError {
    GenesisError(DecodeError {
        path: path.into(),
        message: message.into(),
    })
}

impl Genesis {
    /// A new network's genesis with default parameters; lists are sorted, and checked as
    /// [`Genesis::parse`] checks them.
    pub fn new(
        chain_name: &str,
        consensus: Consensus,
        validators: &[String],
        allowed_keys: &[String],
        allowed_orgs: &[String],
    ) -> Result<Genesis, GenesisError> {
        Genesis {
            format: FORMAT.into(),
            chain_name: chain_name.into(),
            consensus,
            validators: validators.to_vec(),
            allowed_keys: allowed_keys.to_vec(),
            allowed_orgs: allowed_orgs.to_vec(),
            parameters: Parameters::default(),
        }
        .normalized()
    }

    /// Parses and checks a document (from a file or a peer).
    pub fn parse(text: &str) -> Result<Genesis, GenesisError> {
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(invalid(
                "",
                format!(
                    "document of {} bytes exceeds {MAX_DOCUMENT_BYTES}",
                    text.len()
                ),
            ));
        }
        from_json::<Genesis>(text)
            .map_err(GenesisError)?
            .normalized()
    }

    /// The normalized document as JSON text (what `miniledger genesis` prints, pretty).
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a genesis serializes")
    }

    /// The normalized document's canonical JSON, the bytes the hash is taken over.
    pub fn canonical(&self) -> String {
        let text = serde_json::to_string(self).expect("a genesis serializes");
        crate::canonical::canonicalize(&text).expect("serde_json output is valid JSON")
    }

    /// The network's identity: `sha256hex(canonical(normalized document))`.
    pub fn hash(&self) -> String {
        crate::hash::sha256_hex(self.canonical())
    }

    /// `base` tightened by this network's parameters.
    pub fn limits(&self, base: Limits) -> Limits {
        Limits {
            max_txs_per_block: self.parameters.max_txs_per_block,
            max_tx_bytes: self.parameters.max_tx_bytes,
            ..base
        }
    }

    fn normalized(mut self) -> Result<Genesis, GenesisError> {
        if self.format != FORMAT {
            return Err(invalid(
                "format",
                format!("{:?} is not {FORMAT:?}", self.format),
            ));
        }
        check_name(&self.chain_name)?;
        if self.validators.is_empty() {
            return Err(invalid("validators", "at least one validator is needed"));
        }
        self.validators = key_set("validators", self.validators)?;
        self.allowed_keys = key_set("allowedKeys", self.allowed_keys)?;
        self.allowed_orgs = org_set(self.allowed_orgs)?;
        let (p, max) = (self.parameters, Parameters::default());
        if !(1..=max.max_txs_per_block).contains(&p.max_txs_per_block) {
            return Err(invalid(
                "parameters.maxTxsPerBlock",
                format!("must be 1 to {}", max.max_txs_per_block),
            ));
        }
        if !(1..=max.max_tx_bytes).contains(&p.max_tx_bytes) {
            return Err(invalid(
                "parameters.maxTxBytes",
                format!("must be 1 to {}", max.max_tx_bytes),
            ));
        }
        Ok(self)
    }
}

fn check_name(name: &str) -> Result<(), GenesisError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "chainName",
            format!("{name:?}: 1 to {MAX_NAME_LEN} characters of A-Z a-z 0-9 . _ -"),
        ))
    }
}

/// Sorted; every entry a strict Ed25519 public key (lowercase hex, canonical, not small-order).
fn key_set(field: &str, keys: Vec<String>) -> Result<Vec<String>, GenesisError> {
    check_len(field, keys.len())?;
    for (i, key) in keys.iter().enumerate() {
        crate::crypto::parse_key(key)
            .map_err(|e| invalid(format!("{field}[{i}]"), format!("{key:?}: {e}")))?;
    }
    sorted_set(field, keys)
}

fn org_set(orgs: Vec<String>) -> Result<Vec<String>, GenesisError> {
    check_len("allowedOrgs", orgs.len())?;
    for (i, org) in orgs.iter().enumerate() {
        if org.is_empty() || org.len() > MAX_NAME_LEN || org.chars().any(char::is_control) {
            return Err(invalid(
                format!("allowedOrgs[{i}]"),
                format!("{org:?}: 1 to {MAX_NAME_LEN} characters, no control characters"),
            ));
        }
    }
    sorted_set("allowedOrgs", orgs)
}

fn check_len(field: &str, len: usize) -> Result<(), GenesisError> {
    if len > MAX_LIST_LEN {
        return Err(invalid(field, format!("more than {MAX_LIST_LEN} entries")));
    }
    Ok(())
}

fn sorted_set(field: &str, list: Vec<String>) -> Result<Vec<String>, GenesisError> {
    let mut set = BTreeSet::new();
    for item in list {
        if set.contains(&item) {
            return Err(invalid(field, format!("{item:?} is listed twice")));
        }
        set.insert(item);
    }
    Ok(set.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keypair;

    fn key(i: u8) -> String {
        Keypair::from_seed([i; 32]).public_hex().to_string()
    }

    fn doc(validators: &str) -> String {
        format!(
            r#"{{"format":"miniledger-genesis/1","chainName":"t","consensus":"raft","validators":{validators}}}"#
        )
    }

    #[test]
    fn the_hash_is_pinned_and_independent_of_list_order_spacing_and_defaults() {
        let (a, b) = (key(1), key(2));
        let g = Genesis::parse(&doc(&format!(r#"["{a}","{b}"]"#))).unwrap();
        // Pinned: a change to normalization, field names or canonical JSON changes every
        // network's identity, and must be a deliberate new format.
        assert_eq!(
            g.hash(),
            crate::hash::sha256_hex(format!(
                r#"{{"allowedKeys":[],"allowedOrgs":[],"chainName":"t","consensus":"raft","format":"miniledger-genesis/1","parameters":{{"maxTxBytes":262144,"maxTxsPerBlock":500}},"validators":["{}","{}"]}}"#,
                a.clone().min(b.clone()),
                a.clone().max(b.clone())
            ))
        );
        let reordered = format!(
            "{{ \"validators\": [\"{b}\", \"{a}\"], \"consensus\": \"raft\",\n \"chainName\": \"t\", \"allowedKeys\": [], \"format\": \"miniledger-genesis/1\", \"parameters\": {{\"maxTxBytes\": 262144, \"maxTxsPerBlock\": 500}} }}"
        );
        assert_eq!(Genesis::parse(&reordered).unwrap().hash(), g.hash());
        let built = Genesis::new("t", Consensus::Raft, &[b.clone(), a.clone()], &[], &[]).unwrap();
        assert_eq!(built.hash(), g.hash());
        // Its own output parses back to the same network.
        assert_eq!(Genesis::parse(&g.to_json_pretty()).unwrap(), g);
    }

    #[test]
    fn every_field_is_part_of_the_identity() {
        let a = vec![key(1)];
        let base = Genesis::new("t", Consensus::Solo, &a, &[], &[]).unwrap();
        let variants = [
            Genesis::new("u", Consensus::Solo, &a, &[], &[]).unwrap(),
            Genesis::new("t", Consensus::Raft, &a, &[], &[]).unwrap(),
            Genesis::new("t", Consensus::Solo, &[key(2)], &[], &[]).unwrap(),
            Genesis::new("t", Consensus::Solo, &a, &a, &[]).unwrap(),
            Genesis::new("t", Consensus::Solo, &a, &[], &["o".into()]).unwrap(),
            Genesis {
                parameters: Parameters {
                    max_txs_per_block: 10,
                    ..Parameters::default()
                },
                ..base.clone()
            },
        ];
        for v in &variants {
            assert_ne!(v.hash(), base.hash(), "{v:?}");
        }
    }

    #[test]
    fn bad_documents_are_refused_naming_the_field() {
        let a = key(1);
        let cases = [
            ("[]".to_string(), ""),
            (doc("[]"), "validators: at least one"),
            (doc(r#"["00"]"#), "validators[0]"),
            (doc(&format!(r#"["{}"]"#, "0".repeat(64))), "validators[0]"),
            (
                doc(&format!(r#"["{}"]"#, a.to_uppercase())),
                "validators[0]",
            ),
            (doc(&format!(r#"["{a}","{a}"]"#)), "listed twice"),
            (
                doc(&format!(r#"["{a}"]"#)).replace("\"t\"", "\"a b\""),
                "chainName",
            ),
            (
                doc(&format!(r#"["{a}"]"#)).replace("raft", "pbft"),
                "consensus",
            ),
            (
                doc(&format!(r#"["{a}"]"#)).replace("genesis/1", "genesis/2"),
                "format",
            ),
            (
                doc(&format!(r#"["{a}"]"#)).replace("}", r#","extra":1}"#),
                "extra",
            ),
            (
                doc(&format!(r#"["{a}"]"#)).replace(
                    "}",
                    r#","parameters":{"maxTxsPerBlock":501,"maxTxBytes":1}}"#,
                ),
                "parameters.maxTxsPerBlock",
            ),
            (
                doc(&format!(r#"["{a}"]"#))
                    .replace("}", r#","parameters":{"maxTxsPerBlock":1,"maxTxBytes":0}}"#),
                "parameters.maxTxBytes",
            ),
            (
                doc(&format!(r#"["{a}"]"#)).replace("}", r#","allowedOrgs":[""]}"#),
                "allowedOrgs[0]",
            ),
            (" ".repeat(MAX_DOCUMENT_BYTES + 1), "exceeds"),
        ];
        for (text, expected) in cases {
            let err = Genesis::parse(&text).expect_err(&text).to_string();
            assert!(
                err.starts_with("genesis: ") && err.contains(expected),
                "{err:?} lacks {expected:?}"
            );
        }
    }

    #[test]
    fn parameters_tighten_the_limits() {
        let mut g = Genesis::new("t", Consensus::Solo, &[key(1)], &[], &[]).unwrap();
        assert_eq!(g.limits(Limits::default()), Limits::default());
        g.parameters.max_txs_per_block = 7;
        assert_eq!(g.limits(Limits::default()).max_txs_per_block, 7);
    }
}
