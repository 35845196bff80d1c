//! Fixed material the targets validate against: the conformance chain (core/tests/vectors) and
//! its keys, built once per process.

use miniledger_core::chain::{Chain, StateRootRule};
use miniledger_core::crypto::Keypair;
use miniledger_core::decode::from_json;
use miniledger_core::hash::sha256_hex;
use miniledger_core::light::LightVerifier;
use miniledger_core::validation::{Limits, ValidatorSet};
use miniledger_core::Block;
use miniledger_core::Governance;
use std::sync::OnceLock;

/// "Now" for the vector chain: shortly after its last block (as in core's conformance tests).
pub const NOW: u64 = 1_700_000_100_000;

pub struct Fixtures {
    /// key-1 (the proposer), key-2, key-3: private key = sha256Hex(label).
    pub keys: Vec<Keypair>,
    /// The chain after blocks 1 and 2 (the tampered variants target height 3).
    pub chain_at_2: Chain,
    /// A light verifier at the same height.
    pub light_at_2: LightVerifier,
}

pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let text = include_str!("../../../core/tests/vectors/chain.json");
        let v: serde_json::Value = serde_json::from_str(text).expect("chain.json parses");
        let blocks: Vec<Block> = v["blocks"]
            .as_array()
            .expect("blocks")
            .iter()
            .map(|b| from_json(&b.to_string()).expect("vector block decodes"))
            .collect();
        let keys: Vec<Keypair> = ["key-1", "key-2", "key-3"]
            .iter()
            .map(|label| Keypair::from_private_hex(&sha256_hex(label)).expect("key"))
            .collect();
        let validators = ValidatorSet::new([keys[0].public_hex()]);
        let limits = Limits::default();
        let mut chain = Chain::new(validators.clone(), limits, StateRootRule::MiniLedgerBefore);
        let mut light = LightVerifier::new(
            validators.clone(),
            Governance::Recorded,
            limits,
            8,
            1 << 20,
            1024,
        );
        for block in &blocks[1..3] {
            chain.apply(block, NOW).expect("vector block applies");
            light
                .verify_next(block.clone(), NOW)
                .expect("vector block verifies");
        }
        Fixtures {
            keys,
            chain_at_2: chain,
            light_at_2: light,
        }
    })
}

/// The fixture key whose public key is `public_hex`, if any.
pub fn key_for(public_hex: &str) -> Option<&'static Keypair> {
    fixtures()
        .keys
        .iter()
        .find(|k| k.public_hex() == public_hex)
}
