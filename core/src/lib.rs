//! miniledger-core: MiniLedger's protocol and data model, made strict. Sans-IO: no sockets,
//! clocks, randomness, threads or files; time and bytes come in as arguments, and results
//! (messages, blocks, state deltas, errors) go out as values. Builds for wasm32.

pub mod canonical;
pub mod chain;
#[cfg(feature = "contracts")]
pub mod contract;
pub mod crypto;
pub mod decode;
pub mod genesis;
pub mod governance;
pub mod hash;
pub mod hex;
pub mod light;
pub mod mempool;
pub mod merkle;
pub mod model;
pub mod net;
pub mod node;
pub mod pipeline;
pub mod protocol;
pub mod raft;
pub mod rng;
pub mod state;
pub mod sync;
pub mod validation;

pub use chain::{Chain, StateRootRule};
pub use crypto::Keypair;
pub use model::{Block, BlockHeader, Payload, PayloadBody, Transaction};
pub use pipeline::Governance;
pub use protocol::{Envelope, Message};
pub use validation::{Limits, Rule, ValidationError, ValidatorSet};
