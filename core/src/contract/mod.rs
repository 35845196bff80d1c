//! Smart contracts: MiniLedger 0.2's JavaScript contracts (`contract:deploy {name, version,
//! code}`, `contract:invoke {contract, method, args}`, code of the form `return { method(ctx,
//! ...args) { … } }`, `ctx` with `get, set, del, sender, blockHeight, timestamp, log`), run
//! deterministically on the Boa engine (pure Rust, so the browser light node can run them too;
//! the choice is argued in BENCHMARKS.md).
//!
//! Determinism and limits:
//! - no clock (`Date` removed), no randomness (`Math.random` removed), no dynamic code (`eval`,
//!   the `Function` constructors), no I/O or host objects beyond `ctx`; every object reachable
//!   from the global scope is frozen, and each call builds its module afresh, so nothing
//!   survives a call and contracts cannot touch each other's prototypes;
//! - metering counts Boa instruction cost units in steps of [`GAS_STEP`], up to
//!   [`Limits::max_steps`] (`contract.out-of-gas`); call depth is checked at every function
//!   entry and the value stack is bounded (`contract.stack`); strings (every `+`, `+=` and
//!   template literal, and the builtins that build strings), arrays, values, writes and results
//!   are bounded (`contract.memory`, `contract.write-limit`);
//! - values written and returned are JSON (see prelude.js `toJson` for what is refused);
//! - writes are buffered and returned only when the call succeeds;
//! - every function entry is charged (`instrument`), so functions that native code calls back
//!   (getters, `valueOf`) count too, and each call's loops are bounded together.
//!
//! The block pipeline runs contracts through [`block::execute`], one runtime per thread, and
//! commits each receipt at `_receipt:TXHASH` in world state (so in the state root).
//!
//! Boa 0.21 panicked ("must be declarative environment") on getters and coercions writing a
//! method's variables when the code was compiled through the `Function` constructor; it is now
//! compiled as a function expression (`Engine::compile`). A panic is still caught as
//! `contract.engine-fault` (natively; a wasm build with `panic = "abort"` would abort, and the
//! browser build does not execute contracts).

pub mod block;
mod cache;
mod engine;
pub mod instrument;
mod json_value;
mod meter;
pub mod receipt;
pub mod registry;
mod runtime;

pub use receipt::{Failure, Outcome, Receipt};
pub use registry::{ContractMeta, Deployed};
pub use runtime::{ContractRuntime, Execution};

/// Stack a thread running contracts must have. Boa's parser and compiler recurse at every
/// nesting level of a contract's source; `instrument` bounds the nesting
/// ([`instrument::MAX_NESTING_WEIGHT`], [`instrument::MAX_SOURCE_UNITS`]) and
/// `core/tests/contracts.rs` deploys the deepest source of each shape the bounds admit on a
/// thread of this size. Reserved, not used: pages are touched only as deep as a parse goes.
pub const STACK_BYTES: usize = 256 << 20;

/// Instruction cost units per metering step (the granularity of `gas_used`).
pub const GAS_STEP: u64 = 1000;

/// The transaction facts a contract sees through `ctx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxContext {
    pub sender: String,
    pub block_height: u64,
    /// The transaction's timestamp (ms), 0.2's `ctx.timestamp`.
    pub timestamp: u64,
}

/// One state write of a successful call: canonical JSON, or `None` to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub key: String,
    pub value: Option<String>,
}

/// The bounds every node applies identically. Changing any of them changes results: they are
/// part of the protocol, not node configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Metering steps of [`GAS_STEP`] units per call.
    pub max_steps: u64,
    /// Loop iterations per function call, all its loops together (Boa counts them per call
    /// frame): bounds loops the step count cannot see.
    pub max_loop_iterations: u64,
    /// Function calls per call (charged at each entry, see `instrument`): with the loop limit,
    /// bounds the work of functions run by native code, which the step count cannot see.
    pub max_calls: u64,
    /// Nested JavaScript calls.
    pub max_depth: usize,
    /// Boa's value stack, in slots.
    pub max_stack_slots: usize,
    /// Longest string built by `repeat`/`pad*` and longest JSON text produced (UTF-16 units).
    pub max_string: usize,
    /// Longest array walked by a builtin or serialised, and most keys of a serialised object.
    pub max_elements: usize,
    /// Nesting of a JSON value.
    pub max_json_depth: usize,
    pub max_key_bytes: usize,
    pub max_value_bytes: usize,
    /// Distinct keys written per call.
    pub max_writes: usize,
    /// Keys plus values written per call.
    pub max_written_bytes: usize,
    pub max_result_bytes: usize,
    pub max_logs: usize,
    pub max_log_bytes: usize,
    /// Compiled modules kept.
    pub cached_modules: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: 10_000,
            max_loop_iterations: 100_000,
            max_calls: 10_000,
            max_depth: 256,
            max_stack_slots: 10 * 1024,
            max_string: 1 << 20,
            max_elements: 100_000,
            max_json_depth: 64,
            max_key_bytes: 512,
            max_value_bytes: 64 * 1024,
            max_writes: 256,
            max_written_bytes: 1 << 20,
            max_result_bytes: 64 * 1024,
            max_logs: 100,
            max_log_bytes: 16 * 1024,
            cached_modules: 64,
        }
    }
}
