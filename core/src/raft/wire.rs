//! The four consensus messages as Raft uses them, and their encoded sizes (to respect the frame
//! cap without encoding whole batches twice).

use crate::model::MAX_SAFE_INTEGER;
use crate::protocol::{Envelope, LogEntry, Message};

/// Counts the bytes serde_json would write.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The JSON size of one entry as it appears inside `entries: [...]`.
pub fn encoded_len(entry: &LogEntry) -> usize {
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, entry).expect("entries always serialize");
    counter.0
}

/// The size of the whole frame for `message` sent by `from` with the widest timestamp, so the
/// driver's clock can never push it over the cap.
pub fn frame_len(from: &str, message: &Message) -> usize {
    Envelope::new(from, u64::MAX, message.clone())
        .encode()
        .len()
}

/// Consensus messages are the only ones Raft reads.
pub fn is_consensus(message: &Message) -> bool {
    matches!(
        message,
        Message::RequestVote(_)
            | Message::RequestVoteReply(_)
            | Message::AppendEntries(_)
            | Message::AppendEntriesReply(_)
    )
}

/// Every term and index in `message` is at most 2^53 - 1, the largest a MiniLedger 0.2 node
/// (JavaScript numbers) holds exactly. Raft drops other messages: a term of `u64::MAX` would
/// overflow the next campaign's `term + 1` (a panic in debug builds, a term wrapping to 0 in
/// release), and an index there would overflow `prevLogIndex + 1` (found by fuzzing).
pub fn in_range(message: &Message) -> bool {
    let ok = |n: u64| n <= MAX_SAFE_INTEGER;
    match message {
        Message::RequestVote(m) => ok(m.term) && ok(m.last_log_index) && ok(m.last_log_term),
        Message::RequestVoteReply(m) => ok(m.term),
        Message::AppendEntries(m) => {
            ok(m.term)
                && ok(m.prev_log_index)
                && ok(m.prev_log_term)
                && ok(m.leader_commit)
                && m.first_index.iter().all(|&n| ok(n))
                && m.read_round.iter().all(|&n| ok(n))
                && m.entries.iter().all(|e| ok(e.term) && ok(e.index))
        }
        Message::AppendEntriesReply(m) => {
            ok(m.term) && ok(m.match_index) && m.read_round.iter().all(|&n| ok(n))
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use crate::crypto::Keypair;
    use crate::protocol::{AppendEntries, LogEntry, Message, RequestVoteReply};
    use crate::raft::{Raft, RaftConfig, Restored, Role};

    /// Fuzzing regression (fuzz/regressions/raft_step): a validator's reply carrying term
    /// `u64::MAX` was taken as the new term, and the next election timeout computed
    /// `term + 1`; an AppendEntries with `prevLogIndex` `u64::MAX` overflowed at once.
    #[test]
    fn terms_and_indices_beyond_2_pow_53_are_ignored() {
        let keys: Vec<Keypair> = (1..=3).map(|i| Keypair::from_seed([i; 32])).collect();
        let public: Vec<String> = keys.iter().map(|k| k.public_hex().to_string()).collect();
        let config = RaftConfig::new(public[0].clone(), public.clone());
        let mut raft = Raft::new(config, Restored::fresh(), 1).unwrap();
        let mut accept = |_: &[LogEntry], _: &LogEntry| Ok::<(), String>(());
        let peer = keys[1].node_id();
        let reply = RequestVoteReply {
            term: u64::MAX,
            vote_granted: false,
            pre_vote: false,
        };
        raft.step(peer, &Message::RequestVoteReply(reply), 0, &mut accept);
        let append = AppendEntries {
            term: 1,
            leader_id: peer.to_string(),
            prev_log_index: u64::MAX,
            prev_log_term: 1,
            entries: Vec::new(),
            leader_commit: 0,
            first_index: None,
            ..AppendEntries::default()
        };
        raft.step(peer, &Message::AppendEntries(append), 0, &mut accept);
        assert_eq!((raft.term(), raft.leader()), (0, None), "both ignored");
        raft.tick(0);
        raft.tick(10_000);
        assert_eq!(raft.role(), Role::PreCandidate, "campaigns as usual");
    }
}
