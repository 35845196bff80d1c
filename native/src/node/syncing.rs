//! The BlockSync side of the node loop: answering peers' range requests, taking announced
//! blocks, and driving a sync — requests out first, received runs to the verifier pool,
//! verified runs through the block pipeline and committed, one per pass.

use super::apply::apply_verified;
use super::verify::Verified;
use super::{blame, respond, Node};
use miniledger_core::net::ConnId;
use miniledger_core::protocol::{HeightRange, Message};
use miniledger_core::Block;

impl Node {
    /// Answers a SYNC_REQUEST (or BLOCK_REQUEST) from the stored block JSON.
    pub(super) fn answer_range(&mut self, conn: ConnId, range: HeightRange, block_response: bool) {
        let frame = respond::sync_response_frame(
            &self.store,
            range,
            block_response,
            self.key.node_id(),
            self.clock.wall_ms(),
            self.settings.max_frame_bytes,
        );
        match frame {
            Ok(frame) => self.send_frame(conn, frame.into()),
            Err(e) => tracing::error!(target: "sync", "cannot answer {range:?}: {e}"),
        }
    }

    /// The next block, announced live: apply it; anything further ahead only raises the
    /// peer's known height (sync fetches the gap).
    pub(super) fn on_announce(&mut self, from: &str, block: Block) {
        let height = block.height;
        if height == self.store.height() + 1 {
            if self.apply(&block, Some(from)) {
                self.sync.on_applied(height);
            }
        } else if height > self.store.height() {
            self.sync.set_peer_height(from, height);
        }
    }

    /// Sends due requests and applies blocks that arrived in order. True if anything happened.
    pub(super) fn drive_sync(&mut self) -> bool {
        let (now, wall) = (self.clock.monotonic_ms(), self.clock.wall_ms());
        let mut progressed = false;
        let mut requested = false;
        for (peer, range) in self.sync.poll_requests(now) {
            self.peers.send_to(&peer, &Message::SyncRequest(range), now);
            requested = true;
        }
        // Hand ready runs to the verifiers (the next one is checked while this one commits).
        while self.verify.has_room() {
            let Some((peer, blocks)) = self.sync.next_ready() else {
                break;
            };
            let tip = self.store.tip();
            self.verify.start(peer, blocks, tip, wall);
            progressed = true;
        }
        if requested {
            // Send the requests before committing (`drive` does at its next pass): the
            // responses then arrive while this loop commits.
            return true;
        }
        // Apply the oldest verified run (ONE per call: `drive` then takes in what arrived
        // meanwhile and hands the next runs to the verifiers before the loop commits again, so
        // verification keeps pace with the commits instead of waiting for a batch of them).
        if let Some(Verified {
            peer,
            blocks,
            first_bad,
        }) = self.verify.next_verified()
        {
            progressed = true;
            // Heights already applied by other means (an announcement) are skipped; if the
            // chain moved to other blocks meanwhile, the runs in flight are void.
            let tip = self.store.tip();
            let start = blocks.partition_point(|b| b.height <= tip.height);
            let run = &blocks[start..];
            if run.first().is_some_and(|b| b.previous_hash != tip.hash) {
                self.sync.void_outstanding();
                self.verify.drop_above(self.sync.delivered_height());
                return progressed;
            }
            let first_bad = first_bad
                .filter(|(i, _)| *i >= start)
                .map(|(i, e)| (i - start, e));
            let terms = self.raft_sync_terms(run);
            let rules = &self.settings.rules;
            let store = &mut self.store;
            let outcome = apply_verified(store, run, first_bad, rules, &terms);
            if outcome.committed > 0 {
                self.disk.on_written();
            }
            if let Some(e) = &outcome.error {
                // Not the peer's fault: the run is fetched again and retried.
                self.disk.on_failed(e, now);
            }
            self.on_committed(&run[..outcome.committed]);
            self.synced_blocks += outcome.committed as u64;
            if outcome.committed > 0 {
                self.raft_synced();
            }
            self.sync.on_applied(self.store.height());
            if let Some(error) = outcome.error {
                tracing::warn!(target: "chain", from = %peer, "{error}");
                if let Some(offence) = blame::block(&error) {
                    self.peers.report(&peer, offence, now);
                }
                let height = run[outcome.committed].height;
                self.sync
                    .on_invalid(&peer, &format!("invalid block {height}"), now);
                self.verify.drop_above(self.sync.delivered_height());
            }
        }
        if progressed {
            self.progress
                .update(self.store.height(), self.sync.target_height());
        }
        progressed
    }
}
