//! Per-invocation cost of the contract runtime (`scripts/bench-contracts.sh`, BENCHMARKS.md).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use miniledger_core::contract::{ContractRuntime, Limits, TxContext};
use miniledger_core::model::PayloadBody;
use miniledger_core::state::{MemoryState, StateDelta, StateEntry};
use serde_json::value::RawValue;

const TOKEN: &str = include_str!("../../examples/contracts/token.js");

fn invoke(contract: &str, method: &str, args: &str) -> PayloadBody {
    PayloadBody::ContractInvoke {
        contract: contract.into(),
        method: method.into(),
        args: RawValue::from_string(args.into()).unwrap(),
    }
}

fn benches(c: &mut Criterion) {
    let mut runtime = ContractRuntime::new(Limits::default());
    let mut state = MemoryState::default();
    let tx = TxContext {
        sender: "alice".into(),
        block_height: 1,
        timestamp: 1_700_000_000_000,
    };
    let deploy = |name: &str, code: &str| PayloadBody::ContractDeploy {
        name: name.into(),
        version: "1".into(),
        code: code.into(),
    };
    for (name, code) in [("token", TOKEN), ("empty", "return { noop(ctx) {} }")] {
        let exec = runtime.execute(&state, &tx, &deploy(name, code)).unwrap();
        assert!(exec.receipt.is_success());
        let delta: StateDelta = exec
            .writes
            .into_iter()
            .map(|w| (w.key, w.value.map(|value| StateEntry { value, version: 1 })))
            .collect();
        state.apply(delta);
    }
    state.apply(StateDelta::from([(
        "balance:alice".to_string(),
        Some(StateEntry {
            value: "1000000000".into(),
            version: 1,
        }),
    )]));
    let transfer = invoke("token", "transfer", r#"["bob", 1]"#);
    let noop = invoke("empty", "noop", "[]");
    assert!(runtime
        .execute(&state, &tx, &transfer)
        .unwrap()
        .receipt
        .is_success());

    c.bench_function("contract/token_transfer", |b| {
        b.iter(|| black_box(runtime.execute(&state, &tx, &transfer)))
    });
    c.bench_function("contract/empty_method", |b| {
        b.iter(|| black_box(runtime.execute(&state, &tx, &noop)))
    });
    // A cold call: compile the token from source, then call it (a new runtime each time would
    // also measure the context set-up, below).
    c.bench_function("contract/token_deploy_compile", |b| {
        b.iter(|| black_box(runtime.execute(&state, &tx, &deploy("token2", TOKEN))))
    });
    c.bench_function("contract/context_setup", |b| {
        b.iter(|| {
            let mut fresh = ContractRuntime::new(Limits::default());
            black_box(fresh.execute(&state, &tx, &noop))
        })
    });
}

criterion_group!(contract_benches, benches);
criterion_main!(contract_benches);
