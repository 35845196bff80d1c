//! Refusals of a MiniLedger 0.2 leader's entries, paced. A 0.2 leader answers every
//! `success: false` CONSENSUS_APPEND_ENTRIES_REPLY at once with another AppendEntries
//! (nextIndex − 1), and every heartbeat (2/s) starts one more such retry loop; while we refuse
//! (catching up through BlockSync, or a block we cannot take) the loops pile up and run at the
//! socket's round trip: measured ~1,000 frames/s per loop, so a few seconds of refusals are
//! over any rate budget and our node scored its honest peer a flood (RELIABILITY.md, "Honest
//! bursts"). One refusal per [`INTERVAL_MS`] to each unauthenticated (0.2) connection ends
//! the extra loops; the leader's nextIndex still walks down, at 1 step per interval, while
//! BlockSync brings us up to meet it. Our own leaders (authenticated) do not retry
//! immediately and are answered in full.

use crate::protocol::Message;
use std::collections::HashMap;

/// At most one refusal per interval to each 0.2 leader.
pub const INTERVAL_MS: u64 = 100;

#[derive(Debug, Default)]
pub struct RefusalPacing {
    last_sent: HashMap<String, u64>,
}

impl RefusalPacing {
    /// Whether `message` to `to` goes out. `paced`: `to` is a connection our pacing applies
    /// to (an unauthenticated full peer).
    pub fn allow(&mut self, to: &str, message: &Message, paced: bool, now: u64) -> bool {
        let Message::AppendEntriesReply(reply) = message else {
            return true;
        };
        if reply.success || !paced {
            return true;
        }
        match self.last_sent.get(to) {
            Some(&at) if now < at.saturating_add(INTERVAL_MS) => false,
            _ => {
                self.last_sent.insert(to.to_string(), now);
                true
            }
        }
    }

    /// Forgets peers no longer connected.
    pub fn retain(&mut self, connected: impl Fn(&str) -> bool) {
        self.last_sent.retain(|id, _| connected(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::AppendEntriesReply;

    fn reply(success: bool) -> Message {
        Message::AppendEntriesReply(AppendEntriesReply {
            term: 1,
            success,
            match_index: 0,
            ..AppendEntriesReply::default()
        })
    }

    #[test]
    fn one_refusal_per_interval_to_a_paced_peer() {
        let mut pacing = RefusalPacing::default();
        assert!(pacing.allow("a", &reply(false), true, 1_000));
        assert!(!pacing.allow("a", &reply(false), true, 1_050));
        assert!(
            pacing.allow("a", &reply(true), true, 1_050),
            "acks always go"
        );
        assert!(pacing.allow("b", &reply(false), true, 1_050), "per peer");
        assert!(pacing.allow("c", &reply(false), false, 1_050));
        assert!(
            pacing.allow("c", &reply(false), false, 1_051),
            "ours: not paced"
        );
        assert!(pacing.allow("a", &reply(false), true, 1_100));
    }
}
