//! The in-memory log: a bounded window of recent committed entries, then the uncommitted tail.
//!
//! Log index == block height. Everything at or below `base` lives only in the driver's chain;
//! `base` itself is remembered as a header and a term (unknown for a block obtained by
//! BlockSync). Memory is bounded by `retained` committed entries plus the uncommitted tail,
//! whatever the chain length.

use super::wire::encoded_len;
use crate::model::BlockHeader;
use crate::protocol::LogEntry;

#[derive(Debug, Clone)]
pub(crate) struct RaftLog {
    /// The entry just before `entries[0]`.
    base: BlockHeader,
    base_term: Option<u64>,
    /// Indices `base + 1 ..= last`, with their encoded sizes alongside.
    entries: Vec<LogEntry>,
    sizes: Vec<usize>,
    commit: u64,
    /// The last committed index handed to the driver (≤ commit).
    applied: u64,
    /// The first index not yet handed to the driver for persistence.
    unstable_from: u64,
    /// A truncation not yet reported to the driver.
    truncated_from: Option<u64>,
    retained: usize,
}

impl RaftLog {
    /// A log at `commit` (already applied and persisted) followed by persisted `tail` entries.
    pub fn restore(
        commit: BlockHeader,
        commit_term: Option<u64>,
        tail: Vec<LogEntry>,
        retained: usize,
    ) -> Self {
        let mut log = RaftLog {
            commit: commit.height,
            applied: commit.height,
            unstable_from: commit.height + 1,
            base: commit,
            base_term: commit_term,
            entries: Vec::new(),
            sizes: Vec::new(),
            truncated_from: None,
            retained,
        };
        for entry in tail {
            // Keep only a contiguous run that chains on the commit point.
            if entry.index <= log.commit {
                continue;
            }
            let parent_hash = log.last_header().hash;
            if entry.index != log.last_index() + 1 || entry.block.previous_hash != parent_hash {
                break;
            }
            log.push(entry);
        }
        log.unstable_from = log.last_index() + 1;
        log
    }

    pub fn base_index(&self) -> u64 {
        self.base.height
    }

    pub fn last_index(&self) -> u64 {
        self.base.height + self.entries.len() as u64
    }

    pub fn last_term(&self) -> Option<u64> {
        match self.entries.last() {
            Some(e) => Some(e.term),
            None => self.base_term,
        }
    }

    pub fn last_header(&self) -> BlockHeader {
        match self.entries.last() {
            Some(e) => e.block.header(),
            None => self.base.clone(),
        }
    }

    pub fn commit(&self) -> u64 {
        self.commit
    }

    /// The lowest index `i` for which `term(i)` is known: a leader can send entries after it.
    pub fn first_known(&self) -> u64 {
        match (self.base_term, self.entries.is_empty()) {
            (None, false) => self.base.height + 1,
            _ => self.base.height,
        }
    }

    fn pos(&self, index: u64) -> Option<usize> {
        (index > self.base.height && index <= self.last_index())
            .then(|| (index - self.base.height - 1) as usize)
    }

    pub fn entry(&self, index: u64) -> Option<&LogEntry> {
        self.pos(index).map(|p| &self.entries[p])
    }

    pub fn term(&self, index: u64) -> Option<u64> {
        if index == self.base.height {
            return self.base_term;
        }
        self.entry(index).map(|e| e.term)
    }

    /// Learns the term of the base entry (a synced block); true if it was unknown.
    pub fn learn_base_term(&mut self, term: u64) -> bool {
        let learned = self.base_term.is_none();
        self.base_term = Some(term);
        learned
    }

    /// Entries the driver has not applied yet, before `index` (what it verifies `index` against).
    pub fn pending_before(&self, index: u64) -> &[LogEntry] {
        let from = (self.applied - self.base.height) as usize;
        let to = (index.min(self.last_index() + 1) - self.base.height - 1) as usize;
        &self.entries[from..to.max(from)]
    }

    /// Appends at `last_index() + 1`.
    pub fn push(&mut self, entry: LogEntry) {
        debug_assert_eq!(entry.index, self.last_index() + 1);
        self.sizes.push(encoded_len(&entry));
        self.entries.push(entry);
    }

    pub fn size_of(&self, index: u64) -> Option<usize> {
        self.pos(index).map(|p| self.sizes[p])
    }

    /// Drops entries `index..`; they must be uncommitted.
    pub fn truncate_from(&mut self, index: u64) {
        assert!(index > self.commit, "truncating committed entry {index}");
        if let Some(p) = self.pos(index) {
            self.entries.truncate(p);
            self.sizes.truncate(p);
            self.unstable_from = self.unstable_from.min(index);
            self.truncated_from = Some(self.truncated_from.map_or(index, |t| t.min(index)));
        }
    }

    /// Raises the commit index to `index` (never past the last entry, never down).
    pub fn commit_to(&mut self, index: u64) -> bool {
        let index = index.min(self.last_index());
        if index > self.commit {
            self.commit = index;
            return true;
        }
        false
    }

    pub fn has_unstable(&self) -> bool {
        self.truncated_from.is_some() || self.unstable_from <= self.last_index()
    }

    /// The log change to persist: `(truncate_from, entries)`; marks them handed out.
    pub fn take_unstable(&mut self) -> (Option<u64>, Vec<LogEntry>) {
        let mut truncate = self.truncated_from.take();
        let mut entries = Vec::new();
        if self.unstable_from <= self.last_index() {
            let from = self.pos(self.unstable_from).expect("unstable entry in log");
            entries = self.entries[from..].to_vec();
            truncate = Some(truncate.map_or(self.unstable_from, |t| t.min(self.unstable_from)));
        }
        self.unstable_from = self.last_index() + 1;
        (truncate, entries)
    }

    /// The last index handed out for persistence.
    pub fn handed_out(&self) -> u64 {
        self.unstable_from - 1
    }

    pub fn has_committed(&self) -> bool {
        self.commit > self.applied
    }

    /// Newly committed entries for the driver to apply; then forgets old ones beyond the window.
    pub fn take_committed(&mut self) -> Vec<LogEntry> {
        let (from, to) = (self.applied + 1, self.commit);
        let out = match (self.pos(from), self.pos(to)) {
            (Some(a), Some(b)) => self.entries[a..=b].to_vec(),
            _ => Vec::new(),
        };
        self.applied = self.commit;
        self.compact();
        out
    }

    /// Keeps at most about 1.5 × `retained` applied entries (draining in batches).
    fn compact(&mut self) {
        let applied_held = (self.applied - self.base.height) as usize;
        if applied_held <= self.retained + self.retained / 2 {
            return;
        }
        let drop = applied_held - self.retained;
        let new_base = &self.entries[drop - 1];
        self.base = new_base.block.header();
        self.base_term = Some(new_base.term);
        self.entries.drain(..drop);
        self.sizes.drain(..drop);
    }

    /// The driver applied committed blocks up to `header` obtained by BlockSync, with its term
    /// if a validator told it (`None`: unknown). Returns true if uncommitted entries were
    /// dropped because they do not chain on it.
    pub fn synced(&mut self, header: BlockHeader, term: Option<u64>) -> bool {
        let h = header.height;
        if h <= self.applied {
            return false;
        }
        if self.entry(h).is_some_and(|e| e.block.hash == header.hash) {
            // Same block: by hash chaining, the same prefix. Keep the tail.
            self.commit = self.commit.max(h);
            self.applied = h;
            self.compact();
            return false;
        }
        let dropped = self.last_index() > h;
        self.entries.clear();
        self.sizes.clear();
        self.base = header;
        self.base_term = term;
        self.commit = h;
        self.applied = h;
        self.unstable_from = h + 1;
        self.truncated_from = dropped.then_some(h + 1);
        dropped
    }

    /// Entries from `next` whose encoded sizes (plus a separator each) fit in `budget` bytes.
    pub fn entries_for_message(&self, next: u64, budget: usize) -> Vec<LogEntry> {
        let Some(start) = self.pos(next) else {
            return Vec::new();
        };
        let mut used = 0;
        let mut end = start;
        // `<`: each entry also needs a separator byte.
        while end < self.entries.len() && used + self.sizes[end] < budget {
            used += self.sizes[end] + 1;
            end += 1;
        }
        self.entries[start..end].to_vec()
    }

    /// Entries held in memory (window and tail), for status and tests.
    pub fn entries(&self) -> &[LogEntry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;
    use crate::model::Block;

    /// `n` entries of `term` chained on `parent`.
    fn chain(parent: &BlockHeader, n: u64, term: u64, salt: u8) -> Vec<LogEntry> {
        let key = Keypair::from_seed([salt; 32]);
        let mut parent = parent.clone();
        (0..n)
            .map(|_| {
                let block =
                    Block::build(&parent, parent.timestamp + 1, vec![], "0".repeat(64), &key);
                parent = block.header();
                LogEntry {
                    term,
                    index: block.height,
                    block,
                }
            })
            .collect()
    }

    fn log_with(entries: Vec<LogEntry>, retained: usize) -> RaftLog {
        RaftLog::restore(Block::genesis().header(), Some(0), entries, retained)
    }

    #[test]
    fn restore_keeps_only_a_tail_that_chains_on_the_commit_point() {
        let good = chain(&Block::genesis().header(), 3, 1, 1);
        let mut entries = good.clone();
        entries.extend(chain(&good[0].block.header(), 2, 1, 2)); // a second height 2 and 3
        let log = log_with(entries, 4);
        assert_eq!(log.last_index(), 3);
        assert_eq!(log.entry(3), Some(&good[2]));
        assert!(
            !log.has_unstable(),
            "restored entries are already persisted"
        );
    }

    #[test]
    fn applied_entries_beyond_the_window_are_forgotten() {
        let mut log = log_with(Vec::new(), 2);
        for e in chain(&Block::genesis().header(), 10, 1, 1) {
            log.push(e);
        }
        assert_eq!(log.take_unstable().1.len(), 10);
        log.commit_to(10);
        assert_eq!(log.take_committed().len(), 10);
        assert_eq!(log.entries().len(), 2, "only the retained window stays");
        assert_eq!(log.first_known(), 8);
        assert_eq!(log.term(8), Some(1), "the base keeps its term");
        assert_eq!(log.term(7), None);
    }

    #[test]
    fn sync_keeps_a_matching_tail_and_drops_a_conflicting_one() {
        let entries = chain(&Block::genesis().header(), 4, 1, 1);
        let mut log = log_with(entries.clone(), 4);
        log.synced(entries[1].block.header(), None);
        assert_eq!(
            (log.commit(), log.last_index()),
            (2, 4),
            "same block 2: tail kept"
        );
        assert!(log.pending_before(4).iter().map(|e| e.index).eq([3]));

        let other = chain(&entries[1].block.header(), 1, 1, 9); // a different block 3
        log.synced(other[0].block.header(), None);
        assert_eq!((log.commit(), log.last_index()), (3, 3));
        assert_eq!(log.last_term(), None, "a synced block's term is unknown");
        assert_eq!(log.first_known(), 3);
        assert_eq!(
            log.take_unstable(),
            (Some(4), Vec::new()),
            "entry 4 must be deleted"
        );
    }

    #[test]
    fn a_synced_block_with_a_known_term_is_a_known_base() {
        let mut log = log_with(Vec::new(), 4);
        let blocks = chain(&Block::genesis().header(), 3, 2, 1);
        log.synced(blocks[2].block.header(), Some(2));
        assert_eq!((log.commit(), log.last_index()), (3, 3));
        assert_eq!(log.last_term(), Some(2));
        assert_eq!(log.term(3), Some(2));
        assert!(!log.learn_base_term(2), "already known");
    }

    #[test]
    fn message_batches_fit_the_budget() {
        let entries = chain(&Block::genesis().header(), 5, 1, 1);
        let size = encoded_len(&entries[0]);
        let log = log_with(entries, 4);
        assert_eq!(log.entries_for_message(1, 3 * (size + 1)).len(), 3);
        assert_eq!(log.entries_for_message(1, 3 * (size + 1) - 1).len(), 2);
        assert!(log.entries_for_message(1, size).is_empty(), "not even one");
        assert_eq!(log.entries_for_message(4, usize::MAX).len(), 2);
    }
}
