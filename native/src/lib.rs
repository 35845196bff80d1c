//! miniledger-native: the native full node (storage, networking, REST) built on miniledger-core.

pub mod api;
pub mod cli;
pub mod client;
pub mod config;
pub mod demo;
pub mod genesis;
pub mod identity;
pub mod keys;
pub mod node;
pub mod storage;
pub mod tls;
pub mod transport;
