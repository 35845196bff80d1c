//! BlockSync's vocabulary: configuration, log events and response errors.

use crate::protocol::HeightRange;

/// A peer's nodeId.
pub type PeerId = String;

/// The protocol's largest SYNC_REQUEST range.
pub const MAX_BATCH: u64 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncConfig {
    /// Blocks per request, clamped to `1..=MAX_BATCH`.
    pub batch_size: u64,
    /// Blocks in the request for the first height after the starting one, clamped to
    /// `1..=batch_size`. A light node asks for one, so it shows a verified block as soon as one
    /// arrives instead of after a whole batch (2,500 signatures in five 500-transaction blocks).
    /// A first batch shorter than `batch_size` is requested alone, the rest once it is answered.
    pub first_batch: u64,
    /// A request unanswered this long abandons the peer.
    pub request_timeout_ms: u64,
    /// Requests in flight over all peers (at least 1); also sizes the window.
    pub max_in_flight: usize,
    /// Requests in flight to one peer (at least 1).
    pub max_in_flight_per_peer: usize,
    /// How long a peer that timed out or misbehaved is skipped.
    pub abandon_ms: u64,
    /// Runs handed out by `next_ready` and not yet applied (at least 1). More than one lets a
    /// driver verify the next run while it commits the current one.
    pub max_outstanding_runs: usize,
    /// Blocks per run handed out by `next_ready` (at least 1). Small runs keep a pipelining
    /// driver's stages (verify, commit) in step; one big run would leave a stage idle.
    pub max_run_blocks: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            batch_size: MAX_BATCH,
            first_batch: MAX_BATCH,
            request_timeout_ms: 10_000,
            max_in_flight: 4,
            max_in_flight_per_peer: 2,
            abandon_ms: 60_000,
            max_outstanding_runs: 1,
            max_run_blocks: usize::MAX,
        }
    }
}

/// What happened, for logs. Returned (and cleared) by [`super::BlockSync::tick`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncEvent {
    /// A request got no answer within `request_timeout_ms`.
    PeerTimedOut { peer: PeerId, range: HeightRange },
    /// The peer is skipped until `until_ms`; its in-flight ranges went back to the pool.
    PeerAbandoned {
        peer: PeerId,
        reason: String,
        until_ms: u64,
    },
    /// An abandoned peer may be asked again.
    PeerReinstated { peer: PeerId },
    /// The peer answered with no blocks: we now take its height to be `height`.
    PeerHeightLowered { peer: PeerId, height: u64 },
}

/// A SYNC_RESPONSE that does not fit. All but `Unsolicited` abandon the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// No request to that peer is outstanding (never asked, already answered, timed out,
    /// abandoned or disconnected). Nothing changes; the caller may penalise the peer.
    #[error("unsolicited SYNC_RESPONSE from {peer}")]
    Unsolicited { peer: PeerId },
    #[error("SYNC_RESPONSE from {peer} starts at height {height}, which no request asked for")]
    UnexpectedStart { peer: PeerId, height: u64 },
    #[error("SYNC_RESPONSE from {peer}: height {got} where {expected} was expected")]
    NotConsecutive {
        peer: PeerId,
        expected: u64,
        got: u64,
    },
    #[error("SYNC_RESPONSE from {peer}: height {height} beyond the requested {}..={}",
        .range.from_height, .range.to_height)]
    BeyondRange {
        peer: PeerId,
        range: HeightRange,
        height: u64,
    },
}
