//! Rules the conformance chain does not exercise: size and count limits, duplicates (the Merkle
//! `[a,b,c]` / `[a,b,c,c]` collision), transaction timestamps and range.

use miniledger_core::validation::{validate_transaction, verify_block, Limits, Rule, ValidatorSet};
use miniledger_core::{Block, Keypair, PayloadBody, Transaction};

const NOW: u64 = 1_700_000_100_000;

fn key() -> Keypair {
    Keypair::from_seed([3; 32])
}

fn tx(nonce: u64, value_json: &str) -> Transaction {
    Transaction::new_signed(
        &key(),
        nonce,
        NOW - 1_000,
        PayloadBody::state_set("k", value_json).unwrap(),
    )
}

fn block_of(txs: Vec<Transaction>) -> (Block, ValidatorSet) {
    let proposer = Keypair::from_seed([4; 32]);
    let block = Block::build(
        &Block::genesis().header(),
        NOW,
        txs,
        "0".repeat(64),
        &proposer,
    );
    (
        block,
        ValidatorSet::new([proposer.public_hex().to_string()]),
    )
}

fn block_rule(txs: Vec<Transaction>, limits: &Limits) -> Rule {
    let (block, validators) = block_of(txs);
    verify_block(&block, &Block::genesis().header(), &validators, limits, NOW)
        .unwrap_err()
        .rule
}

#[test]
fn oversized_transaction_is_refused() {
    let big = format!("\"{}\"", "x".repeat(256 * 1024));
    let err = validate_transaction(&tx(0, &big), &Limits::default()).unwrap_err();
    assert_eq!(err.rule, Rule::TxSize);
    assert!(
        err.to_string()
            .contains("exceeds the limit of 262144 bytes"),
        "{err}"
    );
    validate_transaction(
        &tx(0, &format!("\"{}\"", "x".repeat(200 * 1024))),
        &Limits::default(),
    )
    .unwrap();
}

#[test]
fn block_limits() {
    let limits = Limits {
        max_txs_per_block: 3,
        max_block_bytes: 2_000,
        ..Limits::default()
    };
    let four: Vec<Transaction> = (0..4).map(|n| tx(n, "1")).collect();
    assert_eq!(block_rule(four, &limits), Rule::BlockTxCount);
    let heavy: Vec<Transaction> = (0..3)
        .map(|n| tx(n, &format!("\"{}\"", "y".repeat(800))))
        .collect();
    assert_eq!(block_rule(heavy, &limits), Rule::BlockSize);
}

#[test]
fn duplicate_transaction_is_refused() {
    // [a, b, c, c] has the same Merkle root as [a, b, c]: only the duplicate rule tells them apart.
    let (a, b, c) = (tx(0, "1"), tx(1, "2"), tx(2, "3"));
    assert_eq!(
        block_rule(vec![a, b, c.clone(), c], &Limits::default()),
        Rule::TxDuplicate
    );
    // Two different transactions with one (sender, nonce) are refused too.
    assert_eq!(
        block_rule(vec![tx(0, "1"), tx(0, "2")], &Limits::default()),
        Rule::TxDuplicate
    );
}

#[test]
fn transaction_from_the_future_is_refused() {
    let late = Transaction::new_signed(
        &key(),
        0,
        NOW + 60_000,
        PayloadBody::state_set("k", "1").unwrap(),
    );
    assert_eq!(
        block_rule(vec![late], &Limits::default()),
        Rule::TxTimestamp
    );
}

#[test]
fn nonce_beyond_javascript_range_is_refused() {
    let err = validate_transaction(&tx(1 << 53, "1"), &Limits::default()).unwrap_err();
    assert_eq!(err.rule, Rule::TxRange);
}

#[test]
fn valid_block_passes() {
    let (block, validators) = block_of((0..3).map(|n| tx(n, "1")).collect());
    verify_block(
        &block,
        &Block::genesis().header(),
        &validators,
        &Limits::default(),
        NOW,
    )
    .unwrap();
}
