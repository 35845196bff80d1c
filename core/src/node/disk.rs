//! What the node does when the disk refuses a block write (full, read-only, failing): the
//! write was rolled back whole (one store transaction per block or run), so the store is as
//! it was. The node says so once in its log, refuses new transactions from the API with the
//! reason, keeps what it already accepted in the mempool, and retries the write once a second
//! (sync re-fetches); the first write that succeeds ends the fault. Raft, which must not vote
//! or acknowledge what it could not persist, stops instead ([`super::Fatal`]).

use super::apply::ApplyError;
use super::events::{Level, Target};
use super::output::Output;
use super::SubmitError;

/// How often production retries a write the disk refused.
const RETRY_MS: u64 = 1_000;

#[derive(Debug, Default)]
pub struct DiskFault {
    reason: Option<String>,
    retry_at: u64,
}

impl DiskFault {
    /// The current fault, if the last block write failed on the disk.
    pub fn fault(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    pub fn refusal(&self) -> SubmitError {
        SubmitError::Disk(self.reason.clone().unwrap_or_default())
    }

    /// False while a fault's retry delay runs.
    pub fn may_retry(&self, now: u64) -> bool {
        self.reason.is_none() || now >= self.retry_at
    }

    /// A block write failed at `now` (monotonic): true (and logged once) if the disk is at
    /// fault.
    pub fn on_failed(&mut self, error: &ApplyError, now: u64, out: &mut Output) -> bool {
        if !error.is_disk_fault() {
            return false;
        }
        if self.reason.is_none() {
            out.log(Level::Error, Target::Chain, format!("disk fault: {error}; nothing of it was stored; refusing new transactions and retrying every {RETRY_MS} ms until the write succeeds (free space or fix the data directory)"));
        } else {
            out.log(
                Level::Debug,
                Target::Chain,
                format!("disk fault persists: {error}"),
            );
        }
        self.reason = Some(error.to_string());
        self.retry_at = now + RETRY_MS;
        true
    }

    /// A block write succeeded: any fault is over.
    pub fn on_written(&mut self, out: &mut Output) {
        if let Some(reason) = self.reason.take() {
            out.log(
                Level::Info,
                Target::Chain,
                format!("disk fault over (was: {reason}); accepting transactions again"),
            );
        }
    }
}
