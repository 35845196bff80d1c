//! The node's two clocks. Timers (election and heartbeat deadlines, the leader lease, bans,
//! backoff, sync timeouts, health, rate limits: every `now` core's PeerManager, BlockSync and
//! Raft take) run on the monotonic clock, so an NTP correction or an operator's `date -s` does
//! not fire or freeze them. The wall clock is read only for what the protocol timestamps
//! (blocks, transactions, envelopes, the `block.timestamp-future` check) and for display.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Monotonic readings start here rather than at 0, so that no deadline core computes from an
/// early reading is mistaken for "unset" (0) and subtractions of a timeout stay positive.
const MONOTONIC_BASE_MS: u64 = 1 << 32;

#[derive(Debug, Clone)]
pub struct Clock {
    start: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    /// Milliseconds on a clock that never steps (for timers only: meaningless across processes).
    pub fn monotonic_ms(&self) -> u64 {
        MONOTONIC_BASE_MS + self.start.elapsed().as_millis() as u64
    }

    /// Milliseconds since the Unix epoch (for protocol timestamps and display only).
    pub fn wall_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    /// The wall time matching a monotonic reading (for display: `bannedUntil`, `lastSeen`).
    pub fn to_wall(&self, monotonic_ms: u64) -> u64 {
        let (wall, now) = (self.wall_ms(), self.monotonic_ms());
        wall.saturating_add(monotonic_ms).saturating_sub(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_readings_map_to_wall_times() {
        let clock = Clock::new();
        let (mono, wall) = (clock.monotonic_ms(), clock.wall_ms());
        assert!((MONOTONIC_BASE_MS..MONOTONIC_BASE_MS + 60_000).contains(&mono));
        let later = clock.to_wall(mono + 10_000);
        assert!(
            later >= wall + 9_000 && later <= wall + 11_000,
            "{later} vs {wall}"
        );
        let earlier = clock.to_wall(mono - 10_000);
        assert!(
            earlier + 11_000 >= wall && earlier + 9_000 <= wall,
            "{earlier} vs {wall}"
        );
    }
}
