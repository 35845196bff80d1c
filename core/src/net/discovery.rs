//! Discovery: when we share our peer list (PEER_LIST), and which learnt entries we keep.
//!
//! MiniLedger 0.2 sends PEER_LIST once, from the accepting side of a connection. A node that
//! only dials (a hub started with `--peers a,b`) then tells nobody about anybody, and `a` and
//! `b` never meet. We share the list from both ends as soon as a connection is admitted, and
//! again with every peer whenever a full peer joins (at most once per `min_interval_ms`), plus
//! a slow periodic refresh (for addresses given up on). In any connected starting topology
//! each node learns its neighbours' neighbours and dials them, so the mesh closes completely.
//! A 0.2 node takes a PEER_LIST on any connection the same way (it dials the addresses it does
//! not know), so sending one from the dialing side is wire compatible.

use crate::protocol::PeerInfo;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// Least time between two rounds of list sharing caused by joins.
    pub min_interval_ms: u64,
    /// Every peer gets the list again this often, changed or not.
    pub refresh_ms: u64,
    /// Learnt (not configured) addresses kept at most: a peer cannot grow the dial list
    /// without bound by sending long or many lists.
    pub max_learnt: usize,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            min_interval_ms: 1_000,
            refresh_ms: 60_000,
            max_learnt: 256,
        }
    }
}

/// When the next round of list sharing is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Schedule {
    /// Nothing changed since the last round: only the refresh is pending.
    Idle,
    /// The list changed; it goes out at this time.
    Due(u64),
}

/// Versions our peer list and rate-limits the rounds sharing it. Each connection remembers the
/// version it last got ([`Announcer::version`]); a round sends to those behind.
#[derive(Debug, Clone)]
pub struct Announcer {
    config: DiscoveryConfig,
    version: u64,
    schedule: Schedule,
    last_round: Option<u64>,
    next_refresh: u64,
}

impl Announcer {
    pub fn new(config: DiscoveryConfig, now: u64) -> Self {
        Announcer {
            config,
            version: 1,
            schedule: Schedule::Idle,
            last_round: None,
            next_refresh: now + config.refresh_ms,
        }
    }

    pub fn config(&self) -> &DiscoveryConfig {
        &self.config
    }

    /// The current list's version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// A full peer joined: the list changed; the peers behind get it in the next round.
    pub fn changed(&mut self, now: u64) {
        self.version += 1;
        if self.schedule == Schedule::Idle {
            let earliest = self
                .last_round
                .map_or(now, |t| t + self.config.min_interval_ms);
            self.schedule = Schedule::Due(earliest.max(now));
        }
    }

    /// When [`Announcer::round_due`] next has work.
    pub fn deadline(&self) -> u64 {
        match self.schedule {
            Schedule::Idle => self.next_refresh,
            Schedule::Due(at) => at.min(self.next_refresh),
        }
    }

    /// True if a round is due now: send the list to every connection behind
    /// [`Announcer::version`].
    pub fn round_due(&mut self, now: u64) -> bool {
        if now >= self.next_refresh {
            self.next_refresh = now + self.config.refresh_ms;
            self.version += 1; // everybody is behind
            self.schedule = Schedule::Due(now);
        }
        match self.schedule {
            Schedule::Due(at) if now >= at => {
                self.schedule = Schedule::Idle;
                self.last_round = Some(now);
                true
            }
            _ => false,
        }
    }
}

/// Whether a PEER_LIST entry is usable at all: a nodeId that is its key's (so a target's
/// expected identity means something) and a WebSocket address.
pub fn well_formed(info: &PeerInfo) -> bool {
    crate::hex::is_lower_hex(&info.public_key, 32)
        && crate::crypto::node_id(&info.public_key) == info.node_id
        && (info.address.starts_with("ws://") || info.address.starts_with("wss://"))
        && info.address.len() <= 256
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_are_shared_at_most_once_per_interval() {
        let mut a = Announcer::new(DiscoveryConfig::default(), 0);
        assert!(!a.round_due(10));
        a.changed(10);
        assert_eq!(a.deadline(), 10);
        assert!(a.round_due(10));
        a.changed(20);
        a.changed(30);
        assert_eq!(a.deadline(), 1_010);
        assert!(!a.round_due(500));
        assert!(a.round_due(1_010));
        assert!(!a.round_due(1_020));
    }

    #[test]
    fn the_refresh_makes_everybody_behind() {
        let mut a = Announcer::new(DiscoveryConfig::default(), 0);
        let v = a.version();
        assert_eq!(a.deadline(), 60_000);
        assert!(a.round_due(60_000));
        assert!(a.version() > v);
        assert_eq!(a.deadline(), 120_000);
    }
}
