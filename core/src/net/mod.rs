//! The mesh's peer logic, sans-IO: handshakes, discovery, health checks and reconnection.
//! A driver (tokio natively, the browser's WebSocket in wasm) owns the sockets and feeds
//! connection events and frames in; it drains [`PeerEvent`]s and [`Transmit`]s out.

pub mod auth;
pub mod backoff;
mod connection;
pub mod discovery;
mod handshake;
mod health;
pub mod output;
pub mod peers;
pub mod rate;
pub mod score;

pub use auth::Admission;
pub use backoff::Backoff;
pub use discovery::DiscoveryConfig;
pub use output::{PeerEvent, Transmit};
pub use peers::{ConnId, Direction, Misbehaviour, PeerConfig, PeerKind, PeerManager, PeerSummary};
pub use rate::RateConfig;
pub use score::{Offence, ScoreConfig};
