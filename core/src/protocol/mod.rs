//! The wire protocol: one JSON envelope per WebSocket text frame.

pub mod envelope;
pub mod payloads;

pub use envelope::{Envelope, Message, MessageError, PROTOCOL_VERSION};
pub use payloads::*;
