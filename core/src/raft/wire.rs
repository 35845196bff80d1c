//! The four consensus messages as Raft uses them, and their encoded sizes (to respect the frame
//! cap without encoding whole batches twice).

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
