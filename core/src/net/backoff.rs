//! Reconnect delays: `base × factor^attempt`, capped, plus up to `jitter` × delay extra so that
//! nodes restarted together do not redial in lockstep. Randomness comes from a seed the driver
//! supplies (core has no entropy source), through a small deterministic generator ([`SplitMix`]).

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub base_ms: u64,
    pub factor: f64,
    pub max_ms: u64,
    pub jitter: f64,
}

impl Default for Backoff {
    /// MiniLedger 0.2's schedule: 1 s × 1.5^attempt, at most 30 s, plus up to 20 %.
    fn default() -> Self {
        Backoff {
            base_ms: 1_000,
            factor: 1.5,
            max_ms: 30_000,
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// Delay before redial number `attempt` (0-based), given a uniform sample in [0, 1).
    pub fn delay_ms(&self, attempt: u32, unit_sample: f64) -> u64 {
        let raw = self.base_ms as f64 * self.factor.powi(attempt.min(64) as i32);
        let capped = raw.min(self.max_ms as f64);
        (capped * (1.0 + self.jitter * unit_sample)) as u64
    }
}

pub use crate::rng::SplitMix;
