//! A block frame validated as block 3 of the conformance chain, by the full rules
//! (`Chain::apply`: header, transactions, proposer, signatures, nonces, state root) and by the
//! light client (`LightVerifier::check`), which must agree on everything but the state root.
//! The first byte picks structure-aware fix-ups applied after decoding, so mutated blocks get
//! past the hash checks and reach the later rules:
//! - bit 0: key-1 (the validator) as proposer;
//! - bit 1: height and previousHash chained on block 2;
//! - bit 2: every transaction rehashed, and signed when its sender is a fixture key;
//! - bit 3: Merkle root recomputed;
//! - bit 4: the expected stateRoot;
//! - bit 5: block hash recomputed, and signed when the proposer is a fixture key.
//!
//! The rest is the block's JSON. Properties: nothing panics; a decoded block round-trips
//! through JSON; a rejected block changes nothing; an accepted one becomes the tip.

use super::fixtures::{fixtures, key_for, NOW};
use miniledger_core::decode::from_json;
use miniledger_core::validation::Rule;
use miniledger_core::Block;

pub fn block_validate(data: &[u8]) {
    let Some((&flags, json)) = data.split_first() else {
        return;
    };
    let Ok(json) = std::str::from_utf8(json) else {
        return;
    };
    let Ok(mut block) = from_json::<Block>(json) else {
        return;
    };
    let encoded = serde_json::to_string(&block).expect("a block serializes");
    let again: Block = from_json(&encoded)
        .unwrap_or_else(|e| panic!("re-encoded block does not decode: {e}\n{encoded}"));
    assert_eq!(again, block, "round trip changed the block");

    let f = fixtures();
    let base = &f.chain_at_2;
    if flags & 1 != 0 {
        block.proposer = f.keys[0].public_hex().to_string();
    }
    if flags & 2 != 0 {
        block.height = base.tip().height + 1;
        block.previous_hash = base.tip().hash.clone();
    }
    if flags & 4 != 0 {
        for tx in &mut block.transactions {
            if let Ok(hash) = tx.compute_hash() {
                tx.hash = hash;
            }
            if let Some(key) = key_for(&tx.sender) {
                tx.signature = key.sign(&tx.hash);
            }
        }
    }
    if flags & 8 != 0 {
        block.merkle_root = block.compute_merkle_root();
    }
    if flags & 16 != 0 {
        block.state_root = base.state().miniledger_root();
    }
    if flags & 32 != 0 {
        block.hash = block.compute_hash();
        if let Some(key) = key_for(&block.proposer) {
            block.signature = key.sign(&block.hash);
        }
    }

    let mut chain = base.clone();
    let full = chain.apply(&block, NOW);
    let mut light = f.light_at_2.clone();
    let partial = light.check(&block, NOW);
    match &full {
        Ok(()) => assert_eq!(
            chain.tip(),
            &block.header(),
            "accepted block is not the tip"
        ),
        Err(e) => {
            assert!(e.to_string().starts_with(e.rule.name()), "{e}");
            if let Some(i) = e.tx_index {
                assert!(i < block.transactions.len(), "{e}");
            }
            assert_eq!(chain.tip(), base.tip(), "rejected block moved the tip: {e}");
            assert_eq!(
                chain.state(),
                base.state(),
                "rejected block changed state: {e}"
            );
        }
    }
    match (&full, &partial) {
        (Ok(()), Ok(_)) => {}
        (Err(e), Ok(_)) => assert_eq!(e.rule, Rule::BlockStateRoot, "light client accepts: {e}"),
        (Ok(()), Err(e)) => panic!("light client refuses a valid block: {e}"),
        (Err(a), Err(b)) => assert_eq!(a, b, "full and light rules disagree"),
    }
}
