//! The ledger's data: transactions with their six payload kinds, and blocks.

pub mod block;
pub mod payload;
pub mod transaction;

pub use block::{Block, BlockHeader};
pub use payload::{Payload, PayloadBody};
pub use transaction::Transaction;

/// Largest integer a JavaScript number holds exactly; heights, nonces and timestamps above it
/// would hash differently in the reference (it parses them into doubles).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
