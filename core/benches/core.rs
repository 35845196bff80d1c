//! Core hot paths, measured side by side so ratios are meaningful on a noisy machine.
//! `scripts/bench-core.sh` runs this and prints the ratios recorded in BENCHMARKS.md.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use miniledger_core::chain::{Chain, StateRootRule};
use miniledger_core::pipeline::{self, MemoryChain, Rules};
use miniledger_core::validation::{verify_block, Limits, ValidatorSet};
use miniledger_core::Governance;
use miniledger_core::{crypto, Block, Keypair, PayloadBody, Transaction};

/// A typical transaction: a small JSON object stored under a key.
fn typical_tx(key: &Keypair, nonce: u64) -> Transaction {
    let value = format!(
        r#"{{"owner":"{}","qty":{nonce},"price":12.5,"tags":["gold","bar"]}}"#,
        &key.public_hex()[..16]
    );
    Transaction::new_signed(
        key,
        nonce,
        1_700_000_000_000 + nonce,
        PayloadBody::state_set(format!("asset:{nonce}"), &value).unwrap(),
    )
}

/// A full block of 500 transactions from `senders` distinct keys.
fn full_block(senders: usize) -> (Block, ValidatorSet) {
    let proposer = Keypair::from_seed([200; 32]);
    let keys: Vec<Keypair> = (0..senders)
        .map(|i| {
            Keypair::from_seed([
                (i % 199) as u8 + 1,
                (i / 199) as u8,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            ])
        })
        .collect();
    let txs: Vec<Transaction> = (0..500)
        .map(|i| typical_tx(&keys[i % senders], (i / senders) as u64))
        .collect();
    let block = Block::build(
        &Block::genesis().header(),
        1_700_000_001_000,
        txs,
        miniledger_core::hash::ZERO_HASH.into(),
        &proposer,
    );
    (
        block,
        ValidatorSet::new([proposer.public_hex().to_string()]),
    )
}

const NOW: u64 = 1_700_000_002_000;

fn benches(c: &mut Criterion) {
    let key = Keypair::from_seed([1; 32]);
    let tx = typical_tx(&key, 7);

    // The unit: one plain ed25519-dalek verification (key and signature already decoded).
    let vk = ed25519_dalek::VerifyingKey::from_bytes(
        &miniledger_core::hex::decode::<32>(&tx.sender).unwrap(),
    )
    .unwrap();
    let sig = ed25519_dalek::Signature::from_bytes(
        &miniledger_core::hex::decode::<64>(&tx.signature).unwrap(),
    );
    c.bench_function("verify_single_raw", |b| {
        b.iter(|| {
            black_box(&vk)
                .verify_strict(black_box(tx.hash.as_bytes()), black_box(&sig))
                .unwrap()
        })
    });
    c.bench_function("verify_single_strict_hex", |b| {
        b.iter(|| {
            crypto::verify(
                black_box(&tx.sender),
                black_box(&tx.hash),
                black_box(&tx.signature),
            )
            .unwrap()
        })
    });

    c.bench_function("tx_canonical_hash", |b| {
        b.iter(|| black_box(&tx).compute_hash().unwrap())
    });

    let mut group = c.benchmark_group("block500");
    group.sample_size(20);
    for senders in [500, 20] {
        let (block, validators) = full_block(senders);
        let limits = Limits::default();
        group.bench_function(format!("verify_block_{senders}_senders"), |b| {
            b.iter(|| {
                verify_block(
                    black_box(&block),
                    &Block::genesis().header(),
                    &validators,
                    &limits,
                    NOW,
                )
                .unwrap()
            })
        });
        let chain = Chain::new(validators.clone(), limits, StateRootRule::Unchecked);
        group.bench_function(format!("chain_apply_{senders}_senders"), |b| {
            b.iter_batched(
                || chain.clone(),
                |mut chain| chain.apply(&block, NOW).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();

    // A block checked where the validator set is fixed configuration (the proposer rule among
    // the stateless checks) and where it is state (the rule in the state step, against the set
    // in force read at the block's height, plus the governance pass): same block, same store.
    let mut group = c.benchmark_group("set_history");
    group.sample_size(20);
    let (block, validators) = full_block(500);
    let store = MemoryChain::new(false);
    for governance in [Governance::Recorded, Governance::OnChain] {
        let rules = Rules {
            validators: validators.clone(),
            limits: Limits::default(),
            state_root: StateRootRule::Unchecked,
            governance,
        };
        let name = format!("pipeline_check_500_senders_{governance:?}");
        group.bench_function(name, |b| {
            b.iter(|| {
                let verdict = pipeline::check(&store, &rules, std::slice::from_ref(&block), NOW);
                assert!(verdict.refused.is_none());
            })
        });
    }
    group.finish();
}

criterion_group!(core_benches, benches);
criterion_main!(core_benches);
