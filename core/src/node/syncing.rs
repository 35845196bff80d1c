//! The BlockSync side of the node: taking announced blocks, and driving a sync — requests
//! out first, received runs to the stateless checks, verified runs through the block pipeline
//! and committed, one per pass.

use super::apply::{blame_block, ApplyError};
use super::events::{FullEvent, Level, Target};
use super::verifying::Verified;
use super::{FullNode, NodeStorage};
use crate::model::Block;
use crate::protocol::Message;

impl<S: NodeStorage> FullNode<S> {
    /// The next block, announced live: apply it; anything further ahead only raises the
    /// peer's known height (sync fetches the gap).
    pub(super) fn on_announce(&mut self, from: &str, block: Block) {
        let height = block.height;
        let tip = self.store.tip().height;
        if height == tip + 1 {
            if self.apply(&block, from) {
                self.sync.on_applied(height);
            }
        } else if height > tip {
            self.sync.set_peer_height(from, height);
        }
    }

    /// Sends due requests and applies blocks that arrived in order. True if anything happened.
    pub(super) fn drive_sync(&mut self) -> bool {
        let (now, wall) = (self.now.monotonic, self.now.wall);
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
            let jobs = self.verify.start(peer, blocks, tip, wall);
            self.out.verify.extend(jobs);
            progressed = true;
        }
        if requested {
            // Send the requests before committing (at the next pass): the responses then
            // arrive while this node commits.
            return true;
        }
        // Apply the oldest verified run (ONE per call: the driver then takes in what arrived
        // meanwhile and the next runs reach the verifiers before the node commits again, so
        // verification keeps pace with the commits instead of waiting for a batch of them).
        if let Some(verified) = self.verify.next_verified() {
            progressed = true;
            self.apply_synced(verified);
        }
        if progressed {
            let (height, target) = (self.store.tip().height, self.sync.target_height());
            (self.out.events).push_back(FullEvent::SyncProgress { height, target });
        }
        progressed
    }

    fn apply_synced(&mut self, verified: Verified) {
        let Verified {
            peer,
            blocks,
            first_bad,
        } = verified;
        let now = self.now.monotonic;
        // Heights already applied by other means (an announcement) are skipped; if the chain
        // moved to other blocks meanwhile, the runs in flight are void.
        let tip = self.store.tip();
        let start = blocks.partition_point(|b| b.height <= tip.height);
        let run = &blocks[start..];
        if run.first().is_some_and(|b| b.previous_hash != tip.hash) {
            self.sync.void_outstanding();
            self.verify.drop_above(self.sync.delivered_height());
            return;
        }
        let first_bad = first_bad
            .filter(|(i, _)| *i >= start)
            .map(|(i, e)| (i - start, e));
        let terms = self.raft_sync_terms(run);
        let rules = &self.config.rules;
        let started = (run.first(), run.last());
        let (committed, error) = match self.store.commit_synced(run, first_bad, rules, &terms) {
            Ok((committed, refused)) => (committed, refused.map(ApplyError::from)),
            Err(error) => (
                0,
                Some(match started {
                    (Some(first), Some(last)) => ApplyError::StoreRun {
                        from: first.height,
                        to: last.height,
                        error,
                    },
                    _ => ApplyError::Store { height: 0, error },
                }),
            ),
        };
        if committed > 0 {
            self.disk.on_written(&mut self.out);
        }
        if let Some(e) = &error {
            // Not the peer's fault: the run is fetched again and retried.
            self.disk.on_failed(e, now, &mut self.out);
        }
        self.on_committed(&run[..committed]);
        self.synced_blocks += committed as u64;
        if committed > 0 {
            self.raft_synced();
        }
        self.sync.on_applied(self.store.tip().height);
        if let Some(error) = error {
            self.log(Level::Warn, Target::Chain, format!("from {peer}: {error}"));
            if let Some(offence) = blame_block(&error) {
                self.peers.report(&peer, offence, now);
            }
            let height = run[committed].height;
            self.sync
                .on_invalid(&peer, &format!("invalid block {height}"), now);
            self.verify.drop_above(self.sync.delivered_height());
        }
    }
}
