//! Misbehaviour scores and bans, sans-IO: the driver and PeerManager report named offences per
//! peer; past a threshold the peer is disconnected and its nodeId banned for a while.
//!
//! Why these weights: what an honest peer can do by accident (a newer message type, a
//! transaction relayed just before it was committed elsewhere) costs little and decays away;
//! what only a broken or hostile peer does (garbage, forged blocks, floods) bans within a few
//! offences. Counts never decay: `/peers` shows every reason ever recorded.

use std::collections::BTreeMap;

/// Something a peer did wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Offence {
    /// A frame that is not a valid envelope (not JSON, truncated, missing fields).
    MalformedFrame,
    /// A binary WebSocket frame (the protocol is text).
    BinaryFrame,
    /// A message type we do not know (may be a newer peer: cheap).
    UnknownType,
    /// A known message type with missing, mistyped or unknown payload fields.
    MalformedPayload,
    /// HANDSHAKE, HANDSHAKE_ACK or HANDSHAKE_PROOF on an established connection.
    RepeatedHandshake,
    /// A block that fails validation.
    InvalidBlock,
    /// A transaction that fails validation (bad signature, size, fields).
    InvalidTransaction,
    /// A response to a request we never made (or already settled).
    UnsolicitedResponse,
    /// Frames beyond the per-peer rate limit.
    Flood,
    /// A consensus message no honest node of ours sends: from a non-validator or an
    /// unauthenticated connection, a leaderId/candidateId that is not the sender, impossible
    /// terms or indices (`raft::Raft::screen`).
    BogusConsensus,
}

impl Offence {
    pub const ALL: [Offence; 10] = [
        Offence::MalformedFrame,
        Offence::BinaryFrame,
        Offence::UnknownType,
        Offence::MalformedPayload,
        Offence::RepeatedHandshake,
        Offence::InvalidBlock,
        Offence::InvalidTransaction,
        Offence::UnsolicitedResponse,
        Offence::Flood,
        Offence::BogusConsensus,
    ];

    /// Points added to the peer's score (the default threshold is 100).
    pub fn weight(self) -> u32 {
        match self {
            Offence::UnknownType => 2,
            Offence::InvalidTransaction | Offence::UnsolicitedResponse => 10,
            Offence::RepeatedHandshake | Offence::BogusConsensus => 10,
            Offence::MalformedFrame | Offence::BinaryFrame | Offence::MalformedPayload => 20,
            Offence::Flood => 25,
            Offence::InvalidBlock => 50,
        }
    }

    /// The name logged and shown in `/peers`.
    pub fn name(self) -> &'static str {
        match self {
            Offence::MalformedFrame => "malformedFrame",
            Offence::BinaryFrame => "binaryFrame",
            Offence::UnknownType => "unknownType",
            Offence::MalformedPayload => "malformedPayload",
            Offence::RepeatedHandshake => "repeatedHandshake",
            Offence::InvalidBlock => "invalidBlock",
            Offence::InvalidTransaction => "invalidTransaction",
            Offence::UnsolicitedResponse => "unsolicitedResponse",
            Offence::Flood => "flood",
            Offence::BogusConsensus => "bogusConsensus",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoreConfig {
    /// A score reaching this disconnects and bans the peer.
    pub threshold: u32,
    /// One point is forgiven per this many milliseconds.
    pub decay_ms: u64,
    pub ban_ms: u64,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        ScoreConfig {
            threshold: 100,
            decay_ms: 1_000,
            ban_ms: 10 * 60 * 1_000,
        }
    }
}

/// One peer's record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// The score as of `updated`.
    score: u32,
    updated: u64,
    /// Offence name → how often.
    pub counts: BTreeMap<&'static str, u64>,
    /// Banned until this time (ms), if banned.
    pub banned_until: Option<u64>,
    pub bans: u64,
}

impl Record {
    /// The decayed score at `now`.
    pub fn score(&self, now: u64, config: &ScoreConfig) -> u32 {
        let forgiven = now.saturating_sub(self.updated) / config.decay_ms.max(1);
        self.score
            .saturating_sub(u32::try_from(forgiven).unwrap_or(u32::MAX))
    }
}

/// Records kept at most: nodeIds are free to make, so an attacker cycling keys must not grow
/// memory without bound. The least recently scored record goes first, banned ones last.
pub const MAX_RECORDS: usize = 1_024;

/// Records by nodeId.
#[derive(Debug, Default)]
pub struct Scores {
    pub config: ScoreConfig,
    records: BTreeMap<String, Record>,
}

impl Scores {
    pub fn new(config: ScoreConfig) -> Self {
        Scores {
            config,
            records: BTreeMap::new(),
        }
    }

    /// Adds an offence; true if it pushed the peer over the threshold (it is now banned).
    pub fn report(&mut self, node_id: &str, offence: Offence, now: u64) -> bool {
        let config = self.config;
        if !self.records.contains_key(node_id) && self.records.len() >= MAX_RECORDS {
            self.evict(now);
        }
        let record = self.records.entry(node_id.to_string()).or_default();
        *record.counts.entry(offence.name()).or_default() += 1;
        if record.banned_until.is_some_and(|t| t > now) {
            return false; // already banned; the count still tells what it kept doing
        }
        record.score = record.score(now, &config).saturating_add(offence.weight());
        record.updated = now;
        if record.score < config.threshold {
            return false;
        }
        record.score = 0;
        record.banned_until = Some(now + config.ban_ms);
        record.bans += 1;
        true
    }

    fn evict(&mut self, now: u64) {
        let victim = self
            .records
            .iter()
            .min_by_key(|(_, r)| (r.banned_until.is_some_and(|t| t > now), r.updated))
            .map(|(id, _)| id.clone());
        if let Some(id) = victim {
            self.records.remove(&id);
        }
    }

    /// Until when `node_id` is banned, if it is at `now`.
    pub fn banned_until(&self, node_id: &str, now: u64) -> Option<u64> {
        self.records
            .get(node_id)
            .and_then(|r| r.banned_until)
            .filter(|&t| t > now)
    }

    pub fn record(&self, node_id: &str) -> Option<&Record> {
        self.records.get(node_id)
    }

    pub fn records(&self) -> impl Iterator<Item = (&String, &Record)> {
        self.records.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossing_the_threshold_bans_for_the_configured_time() {
        let mut scores = Scores::default();
        for _ in 0..4 {
            assert!(!scores.report("p", Offence::MalformedFrame, 0));
        }
        assert!(scores.report("p", Offence::MalformedFrame, 0), "5 × 20");
        assert_eq!(scores.banned_until("p", 0), Some(600_000));
        assert_eq!(scores.banned_until("p", 600_000), None, "ban expires");
        assert_eq!(scores.record("p").unwrap().counts["malformedFrame"], 5);
        assert_eq!(scores.banned_until("q", 0), None);
    }

    #[test]
    fn scores_decay_so_rare_slips_never_ban() {
        let mut scores = Scores::default();
        // An unknown type every 3 s forever: 2 points in, 3 forgiven before the next one.
        for i in 0..1_000u64 {
            assert!(!scores.report("p", Offence::UnknownType, i * 3_000));
        }
        assert_eq!(scores.record("p").unwrap().counts["unknownType"], 1_000);
        // Two invalid blocks 100 s apart do not ban either; two at once do.
        assert!(!scores.report("q", Offence::InvalidBlock, 0));
        assert!(!scores.report("q", Offence::InvalidBlock, 100_000));
        assert!(scores.report("q", Offence::InvalidBlock, 100_001));
    }

    #[test]
    fn records_are_bounded_and_bans_outlive_mere_offences() {
        let mut scores = Scores::default();
        assert!(!scores.report("banned", Offence::InvalidBlock, 0));
        assert!(scores.report("banned", Offence::InvalidBlock, 0));
        for i in 0..2 * MAX_RECORDS as u64 {
            scores.report(&format!("key{i}"), Offence::UnknownType, i + 1);
        }
        assert_eq!(scores.records().count(), MAX_RECORDS);
        assert!(scores.banned_until("banned", 10_000).is_some());
        assert!(
            scores.record("key0").is_none(),
            "the least recent went first"
        );
        assert!(scores
            .record(&format!("key{}", 2 * MAX_RECORDS - 1))
            .is_some());
    }

    #[test]
    fn offences_while_banned_are_counted_but_do_not_extend_the_ban() {
        let mut scores = Scores::default();
        assert!(!scores.report("p", Offence::InvalidBlock, 0));
        assert!(scores.report("p", Offence::InvalidBlock, 0));
        assert!(!scores.report("p", Offence::Flood, 1));
        let record = scores.record("p").unwrap();
        assert_eq!((record.bans, record.counts["flood"]), (1, 1));
        assert_eq!(scores.banned_until("p", 1), Some(600_000));
    }
}
