//! The light client, sans-IO: what a browser tab (or any small device) needs to follow the
//! chain without storing it.
//!
//! - [`LightVerifier`]: the chain view of a light client. It keeps the tip header, a bounded
//!   window of recent blocks and each sender's next nonce (bounded too), and checks every
//!   block with the full node's stateless rules ([`crate::validation::verify_block`]: linkage
//!   to the previous verified header, proposer in the trusted validator set, every signature)
//!   plus nonces. It cannot check `stateRoot`: that needs the world state, which a light
//!   client does not hold. For the same reason it does not execute contract calls (the
//!   browser build has no engine): their results and receipts (`_receipt:TXHASH`) are in the
//!   state the validators' signed `stateRoot` commits to, and a single entry can be checked
//!   against a verified header with `state::commitment::verify` (`GET /state/:key?proof=true`).
//! - [`LightNode`]: the mesh side. It composes [`crate::net::PeerManager`] (as a light peer:
//!   outbound only, marked light in the handshake), [`crate::sync::BlockSync`] and the
//!   verifier, and verifies one block per [`LightNode::step`] so the driver can yield between
//!   blocks. Time, bytes and entropy come in as arguments; sockets and timers stay with the
//!   driver (the `miniledger-web` crate in a browser).

mod node;
mod nonces;
mod verifier;

pub use node::{BlockReport, BlockSource, Io, LightConfig, LightEvent, LightNode, SubmitError};
pub use nonces::NonceTracker;
pub use verifier::{Checked, LightVerifier, VerifierStats};
