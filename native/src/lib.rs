//! miniledger-native: the native full node (storage, networking, REST) built on miniledger-core.

pub mod cli;
pub mod config;
pub mod node;
pub mod storage;
pub mod transport;
