//! Per-connection frame rate limit: a token bucket, so bursts (a sync response, a batch of
//! relayed transactions) pass while a sustained flood is cut off.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateConfig {
    /// Sustained frames per second.
    pub per_sec: u32,
    /// Frames that may arrive at once.
    pub burst: u32,
}

impl Default for RateConfig {
    /// Well above what an honest peer sends: ours at the benchmarked 5,500 tx/s, a MiniLedger
    /// 0.2 leader at most 116 frames/s measured (RELIABILITY.md, "Honest bursts").
    fn default() -> Self {
        RateConfig {
            per_sec: 10_000,
            burst: 20_000,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RateLimit {
    /// In thousandths of a frame, so refills need no floating point.
    milli_tokens: u64,
    updated: u64,
}

impl RateLimit {
    pub fn new(config: &RateConfig, now: u64) -> Self {
        RateLimit {
            milli_tokens: u64::from(config.burst) * 1_000,
            updated: now,
        }
    }

    /// Takes one frame's token; false if the bucket is empty (the frame should be dropped).
    pub fn allow(&mut self, config: &RateConfig, now: u64) -> bool {
        let refill = now.saturating_sub(self.updated) * u64::from(config.per_sec);
        self.milli_tokens = (self.milli_tokens + refill).min(u64::from(config.burst) * 1_000);
        self.updated = now.max(self.updated);
        if self.milli_tokens < 1_000 {
            return false;
        }
        self.milli_tokens -= 1_000;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_pass_and_floods_are_cut_to_the_sustained_rate() {
        let config = RateConfig {
            per_sec: 100,
            burst: 10,
        };
        let mut limit = RateLimit::new(&config, 0);
        assert_eq!((0..20).filter(|_| limit.allow(&config, 0)).count(), 10);
        // 100/s refills one frame per 10 ms.
        assert!(!limit.allow(&config, 9));
        assert!(limit.allow(&config, 10));
        assert!(!limit.allow(&config, 10));
        // Over one second of flooding, about 100 frames pass.
        let passed = (0..10_000u64)
            .filter(|i| limit.allow(&config, 10 + i / 10))
            .count();
        assert!((99..=101).contains(&passed), "{passed}");
        // Idle time refills only up to the burst.
        assert_eq!(
            (0..50).filter(|_| limit.allow(&config, 100_000)).count(),
            10
        );
    }
}
