//! Memory per cached contract module (`scripts/bench-contracts.sh`, BENCHMARKS.md): live heap
//! bytes, counted by a wrapping global allocator, before and after a runtime compiles and caches
//! N distinct deployments of each example contract. Not a timing bench: it prints figures.

use miniledger_core::contract::{ContractRuntime, Limits, TxContext};
use miniledger_core::model::PayloadBody;
use miniledger_core::state::MemoryState;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MODULES: usize = 32;
const CONTRACTS: [(&str, &str); 3] = [
    ("empty", "return { noop(ctx) {} }"),
    ("token", include_str!("../../examples/contracts/token.js")),
    (
        "supply_chain",
        include_str!("../../examples/contracts/supply_chain.js"),
    ),
];

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn main() {
    let tx = TxContext {
        sender: "alice".into(),
        block_height: 1,
        timestamp: 1_700_000_000_000,
    };
    let limits = Limits {
        cached_modules: MODULES,
        ..Limits::default()
    };
    println!("| contract | source bytes | heap per cached module |");
    println!("|---|---|---|");
    for (kind, code) in CONTRACTS {
        let mut runtime = ContractRuntime::new(limits);
        let state = MemoryState::default();
        // The realm is created on the first call; measure from after it.
        let warm = PayloadBody::ContractDeploy {
            name: "warm".into(),
            version: "1".into(),
            code: code.into(),
        };
        runtime.execute(&state, &tx, &warm).unwrap();
        boa_engine::gc::force_collect();
        let before = live();
        // Deploys of new names read nothing from state, so it stays empty and each execution's
        // writes are dropped: what stays live is the cache.
        for i in 0..MODULES {
            let deploy = PayloadBody::ContractDeploy {
                name: format!("{kind}{i}"),
                version: "1".into(),
                code: code.into(),
            };
            let exec = runtime.execute(&state, &tx, &deploy).unwrap();
            assert!(exec.receipt.is_success(), "{kind}: {:?}", exec.receipt);
        }
        boa_engine::gc::force_collect();
        assert_eq!(runtime.cached_modules(), MODULES);
        let per_module = (live() - before) / MODULES as isize;
        println!(
            "| {kind} | {} | {:.1} KiB |",
            code.len(),
            per_module as f64 / 1024.0
        );
        // And the whole runtime: realm, prelude and the cache, freed together.
        let with_cache = live();
        drop(runtime);
        boa_engine::gc::force_collect();
        println!(
            "| ({kind}: the runtime with its {MODULES} modules) | | {:.1} KiB |",
            (with_cache - live()) as f64 / 1024.0
        );
    }
}
