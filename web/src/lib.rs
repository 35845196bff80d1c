//! miniledger-web: the browser light node. `miniledger-core`'s [`LightNode`] (sans-IO) does the
//! protocol: handshake as a light peer, discovery, sync, verification against the trusted
//! validator set. This crate is only its platform layer — the browser's WebSocket, timers,
//! clock and entropy — and the wasm-bindgen API the npm package (`web/npm`) wraps.
//!
//! Everything here is wasm32-only; on other targets the crate is empty so the workspace still
//! builds and tests natively.
//!
//! [`LightNode`]: miniledger_core::light::LightNode

#[cfg(target_arch = "wasm32")]
mod api;
#[cfg(target_arch = "wasm32")]
mod driver;
#[cfg(target_arch = "wasm32")]
mod explorer;
#[cfg(target_arch = "wasm32")]
mod json;

#[cfg(target_arch = "wasm32")]
pub use api::WasmLightNode;
