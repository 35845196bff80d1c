//! In headless Chromium (wasm-bindgen-test): the MiniLedger conformance chain verifies and every
//! tampered variant of its block 3 is rejected, by the light verifier (naming the rule) and by
//! core's full in-memory chain — the same code the page runs. `scripts/web-test.sh` runs this.

#![cfg(target_arch = "wasm32")]

#[path = "../../core/tests/support/variants.rs"]
mod variants;

use miniledger_core::chain::{Chain, StateRootRule};
use miniledger_core::decode::from_json;
use miniledger_core::light::LightVerifier;
use miniledger_core::validation::{Limits, ValidatorSet};
use miniledger_core::Block;
use miniledger_core::Governance;
use serde_json::Value;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const NOW: u64 = 1_700_000_100_000;

fn vectors() -> Value {
    serde_json::from_str(include_str!("../../core/tests/vectors/chain.json")).unwrap()
}

fn validators(v: &Value) -> ValidatorSet {
    ValidatorSet::new([v["proposer"]["publicKey"].as_str().unwrap().to_string()])
}

fn blocks(v: &Value) -> Vec<Block> {
    let all = v["blocks"].as_array().unwrap();
    all[1..]
        .iter()
        .map(|b| from_json(&b.to_string()).unwrap())
        .collect()
}

#[wasm_bindgen_test]
fn light_verifier_accepts_the_chain_and_rejects_tampered_blocks() {
    let v = vectors();
    let blocks = blocks(&v);
    let fresh = || {
        LightVerifier::new(
            validators(&v),
            Governance::Recorded,
            Limits::default(),
            16,
            1 << 20,
            100,
        )
    };
    let mut light = fresh();
    for block in &blocks {
        light.verify_next(block.clone(), NOW).unwrap();
    }
    assert_eq!(light.tip().hash, v["tipHash"].as_str().unwrap());

    let variants = v["invalidVariants"].as_array().unwrap();
    assert_eq!(variants.len(), 27);
    let mut rejected = 0;
    for variant in variants {
        let name = variant["name"].as_str().unwrap();
        let mut light = fresh();
        light.verify_next(blocks[0].clone(), NOW).unwrap();
        light.verify_next(blocks[1].clone(), NOW).unwrap();
        match (
            from_json::<Block>(&variant["block"].to_string()),
            variants::light_rule(name),
        ) {
            (Ok(block), Ok(Some(rule))) => {
                let err = light.verify_next(block, NOW).expect_err(name);
                assert_eq!(err.rule, rule, "{name}: {err}");
                assert_eq!(light.height(), 2, "{name}");
                light.verify_next(blocks[2].clone(), NOW).unwrap();
                rejected += 1;
            }
            (Ok(block), Ok(None)) => light.verify_next(block, NOW).unwrap(),
            (Err(err), Err(field)) => {
                assert_eq!(err.path, field, "{name}");
                rejected += 1;
            }
            (parsed, expected) => panic!("{name}: parsed {parsed:?}, expected {expected:?}"),
        }
    }
    // All but state_root_wrong (see variants::light_rule).
    assert_eq!(rejected, 26);
}

#[wasm_bindgen_test]
fn full_chain_rejects_every_tampered_block_in_the_browser() {
    let v = vectors();
    let blocks = blocks(&v);
    for variant in v["invalidVariants"].as_array().unwrap() {
        let name = variant["name"].as_str().unwrap();
        let mut chain = Chain::new(
            validators(&v),
            Limits::default(),
            StateRootRule::MiniLedgerBefore,
        );
        chain.apply(&blocks[0], NOW).unwrap();
        chain.apply(&blocks[1], NOW).unwrap();
        match from_json::<Block>(&variant["block"].to_string()) {
            Ok(block) => {
                let err = chain.apply(&block, NOW).expect_err(name);
                let expected = variants::expected_rule(name).unwrap();
                assert_eq!(err.rule, expected, "{name}: {err}");
            }
            Err(err) => assert_eq!(err.path, "height", "{name}"),
        }
        chain.apply(&blocks[2], NOW).unwrap();
    }
}
