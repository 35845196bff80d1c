//! BlockSync: the requesting side of chain synchronization, as a sans-IO state machine.
//!
//! MiniLedger 0.2 syncs by asking the single best peer for 50 blocks at a time and waiting for
//! each answer. We keep its wire protocol (SYNC_REQUEST `{fromHeight, toHeight}`, inclusive, at
//! most 50 blocks; SYNC_RESPONSE `{blocks, hasMore}`) but pipeline it: several ranges are in
//! flight at once, spread over the peers that have them; responses may arrive in any order and
//! are buffered, then handed to the driver strictly in height order. The native node (tokio)
//! and the browser light node (wasm) drive the same machine, so it does no I/O: time comes in as
//! `now_ms`, requests go out as return values, and validation stays with the driver, which
//! reports back through [`BlockSync::on_applied`] and [`BlockSync::on_invalid`].
//!
//! Driver contract:
//! - feed peer heights (`set_peer_height` from HANDSHAKE/ACK/PING/PONG, `remove_peer`) and
//!   responses (`on_response`); after any input, send what `poll_requests` returns;
//! - drain `next_ready`: apply each run in order, then call `on_applied(chain height)`; if a
//!   block fails, call `on_applied` for the prefix that did apply, then `on_invalid(peer, ..)`
//!   and drop the rest of the run. Only one run is out at a time (`next_ready` returns `None`
//!   until the previous one is acknowledged);
//! - call `tick` at `next_deadline` (timeouts, abandonment expiry; also returns queued events).
//!
//! ```
//! use miniledger_core::{sync::BlockSync, Block};
//!
//! /// One pass after any input (response, peer change, timer).
//! fn drive(
//!     sync: &mut BlockSync,
//!     now_ms: u64,
//!     apply: &mut impl FnMut(&Block) -> Result<(), String>,
//!     send_sync_request: &mut impl FnMut(&str, u64, u64),
//! ) {
//!     for event in sync.tick(now_ms) {
//!         println!("sync: {event:?}");
//!     }
//!     while let Some((peer, run)) = sync.next_ready() {
//!         for block in &run {
//!             if let Err(reason) = apply(block) {
//!                 sync.on_applied(block.height - 1);
//!                 sync.on_invalid(&peer, &reason, now_ms);
//!                 break;
//!             }
//!             sync.on_applied(block.height);
//!         }
//!     }
//!     for (peer, range) in sync.poll_requests(now_ms) {
//!         send_sync_request(&peer, range.from_height, range.to_height);
//!     }
//!     // ...and arm a timer for `sync.next_deadline()`.
//! }
//! ```
//!
//! Memory is bounded however long the chain is: nothing above `applied + max_in_flight *
//! batch_size` is ever requested, so the buffer never holds more than that window.
//! Decisions iterate `BTreeMap`s only, so a given input sequence always yields the same output.

mod types;

pub use types::{PeerId, SyncConfig, SyncError, SyncEvent, MAX_BATCH};

use crate::model::Block;
use crate::protocol::HeightRange;
use std::collections::{BTreeMap, VecDeque};

#[derive(Debug, Clone)]
struct Request {
    peer: PeerId,
    to: u64,
    deadline: u64,
}

#[derive(Debug, Clone)]
struct Buffered {
    peer: PeerId,
    block: Block,
}

#[derive(Debug, Clone)]
pub struct BlockSync {
    config: SyncConfig,
    /// The chain height the driver started from.
    start: u64,
    /// The driver's chain height.
    applied: u64,
    /// Highest height handed out by `next_ready`; `(applied, delivered]` is with the driver.
    delivered: u64,
    /// The runs with the driver, oldest first: last height and who served it.
    outstanding: VecDeque<(u64, PeerId)>,
    /// Advertised chain height of each connected peer.
    peers: BTreeMap<PeerId, u64>,
    /// Peers skipped until the given time. Outlives disconnection, so reconnecting does not
    /// clear it.
    abandoned: BTreeMap<PeerId, u64>,
    /// Outstanding requests by `from_height`. Ranges are disjoint.
    in_flight: BTreeMap<u64, Request>,
    /// Received blocks above `delivered`, by height.
    buffer: BTreeMap<u64, Buffered>,
    events: Vec<SyncEvent>,
}

impl BlockSync {
    pub fn new(config: SyncConfig, local_height: u64) -> Self {
        let batch_size = config.batch_size.clamp(1, MAX_BATCH);
        let config = SyncConfig {
            batch_size,
            first_batch: config.first_batch.clamp(1, batch_size),
            max_in_flight: config.max_in_flight.max(1),
            max_in_flight_per_peer: config.max_in_flight_per_peer.max(1),
            max_outstanding_runs: config.max_outstanding_runs.max(1),
            max_run_blocks: config.max_run_blocks.max(1),
            ..config
        };
        BlockSync {
            config,
            start: local_height,
            applied: local_height,
            delivered: local_height,
            outstanding: VecDeque::new(),
            peers: BTreeMap::new(),
            abandoned: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            buffer: BTreeMap::new(),
            events: Vec::new(),
        }
    }

    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    /// Records a peer's advertised height (HANDSHAKE, HANDSHAKE_ACK, PING, PONG).
    pub fn set_peer_height(&mut self, peer: &str, height: u64) {
        self.peers.insert(peer.to_string(), height);
    }

    /// The peer disconnected: its in-flight ranges go back to the pool. Blocks it already
    /// served stay buffered; an abandonment stays in force.
    pub fn remove_peer(&mut self, peer: &str) {
        self.peers.remove(peer);
        self.in_flight.retain(|_, r| r.peer != peer);
    }

    /// New requests to send now, lowest heights first. Each range is inclusive, at most
    /// `batch_size` long, within the asked peer's advertised height and the window, and
    /// disjoint from everything buffered or in flight.
    pub fn poll_requests(&mut self, now_ms: u64) -> Vec<(PeerId, HeightRange)> {
        let mut out = Vec::new();
        let window_end = self.window_end();
        let mut from = self.delivered + 1;
        let first = self.start + 1;
        // A short first range (see `SyncConfig::first_batch`) goes alone, the rest once the
        // driver has applied it: responses to later ranges, arriving meanwhile, would be parsed
        // before it could be verified (seen in the browser: ~60 ms later on screen).
        let first_alone = self.config.first_batch < self.config.batch_size;
        let first_asked = self.in_flight.contains_key(&first)
            || self.buffer.contains_key(&first)
            || self.delivered >= first;
        if first_alone && self.applied < first && first_asked {
            return out;
        }
        while self.in_flight.len() < self.config.max_in_flight {
            let Some((gap_from, gap_to)) = self.next_gap(from, window_end) else {
                break;
            };
            // Peers able to serve a higher gap are a subset of those for this one: if no peer
            // can take this gap, none can take any later gap either.
            let Some((peer, peer_height)) = self.best_peer(gap_from, now_ms) else {
                break;
            };
            let size = if gap_from == first {
                self.config.first_batch
            } else {
                self.config.batch_size
            };
            let to = (gap_from + size - 1).min(gap_to).min(peer_height);
            let request = Request {
                peer: peer.clone(),
                to,
                deadline: now_ms.saturating_add(self.config.request_timeout_ms),
            };
            self.in_flight.insert(gap_from, request);
            out.push((peer, range(gap_from, to)));
            if first_alone && gap_from == first {
                break;
            }
            from = to + 1;
        }
        out
    }

    /// Takes a SYNC_RESPONSE. A response is matched to the peer's request starting at its first
    /// block's height; an empty one to the peer's highest request (if the peer lacks a height it
    /// lacks every later one, so this is right whichever request it answers). A short response
    /// frees the unserved tail for re-request; an empty one lowers the peer's height to
    /// `from - 1`. `has_more` is only used as proof of the peer's height.
    pub fn on_response(
        &mut self,
        peer: &str,
        blocks: Vec<Block>,
        has_more: bool,
        now_ms: u64,
    ) -> Result<(), SyncError> {
        let unsolicited = || SyncError::Unsolicited { peer: peer.into() };
        let Some(first) = blocks.first().map(|b| b.height) else {
            let (&from, _) = self
                .in_flight
                .iter()
                .rev()
                .find(|(_, r)| r.peer == peer)
                .ok_or_else(unsolicited)?;
            self.in_flight.remove(&from);
            let lowered = from - 1;
            if let Some(height) = self.peers.get_mut(peer).filter(|h| **h > lowered) {
                *height = lowered;
                self.events.push(SyncEvent::PeerHeightLowered {
                    peer: peer.into(),
                    height: lowered,
                });
            }
            return Ok(());
        };
        if !self.in_flight.values().any(|r| r.peer == peer) {
            return Err(unsolicited());
        }
        let Some(request) = self.in_flight.get(&first).filter(|r| r.peer == peer) else {
            let err = SyncError::UnexpectedStart {
                peer: peer.into(),
                height: first,
            };
            self.abandon(peer, err.to_string(), now_ms);
            return Err(err);
        };
        let requested = range(first, request.to);
        self.in_flight.remove(&first);
        for (expected, block) in (first..).zip(&blocks) {
            let err = if block.height != expected {
                SyncError::NotConsecutive {
                    peer: peer.into(),
                    expected,
                    got: block.height,
                }
            } else if block.height > requested.to_height {
                SyncError::BeyondRange {
                    peer: peer.into(),
                    range: requested,
                    height: block.height,
                }
            } else {
                continue;
            };
            self.abandon(peer, err.to_string(), now_ms);
            return Err(err);
        }
        let last = first + blocks.len() as u64 - 1;
        if let Some(height) = self.peers.get_mut(peer) {
            *height = (*height).max(last + u64::from(has_more));
        }
        // Heights at or below `delivered` came in meanwhile by other means (`on_applied`).
        for block in blocks.into_iter().filter(|b| b.height > self.delivered) {
            let peer = peer.to_string();
            self.buffer.insert(block.height, Buffered { peer, block });
        }
        Ok(())
    }

    /// The next run to apply: contiguous blocks from `delivered_height() + 1`, all served by
    /// the returned peer. `None` while `max_outstanding_runs` runs are unacknowledged or the
    /// next height is missing.
    pub fn next_ready(&mut self) -> Option<(PeerId, Vec<Block>)> {
        if self.outstanding.len() >= self.config.max_outstanding_runs {
            return None;
        }
        // The buffer holds only heights above `delivered`.
        let entry = self
            .buffer
            .first_entry()
            .filter(|e| *e.key() == self.delivered + 1)?;
        let Buffered { peer, block } = entry.remove();
        let mut run = vec![block];
        while let Some(entry) = self.buffer.first_entry() {
            if run.len() >= self.config.max_run_blocks
                || *entry.key() != block_after(&run)
                || entry.get().peer != peer
            {
                break;
            }
            run.push(entry.remove().block);
        }
        self.delivered = block_after(&run) - 1;
        self.outstanding.push_back((self.delivered, peer.clone()));
        Some((peer, run))
    }

    /// The driver's chain is now at `new_height` (from a sync run or from elsewhere, e.g. a
    /// block announcement). Lower values are ignored.
    pub fn on_applied(&mut self, new_height: u64) {
        if new_height <= self.applied {
            return;
        }
        self.applied = new_height;
        while self
            .outstanding
            .front()
            .is_some_and(|(end, _)| *end <= new_height)
        {
            self.outstanding.pop_front();
        }
        if new_height >= self.delivered {
            self.delivered = new_height;
            self.outstanding.clear();
        }
        self.buffer = self.buffer.split_off(&(new_height + 1));
    }

    /// A block served by `peer` failed validation. Call `on_applied` first for the blocks before
    /// it. If `peer` served any outstanding run, every outstanding run is void (the later ones
    /// were checked against blocks that will not be applied): `delivered_height` falls back to
    /// `applied_height` and the driver must drop them. Also drops everything buffered from
    /// `peer` and abandons it for `abandon_ms`; those heights are re-requested from others.
    pub fn on_invalid(&mut self, peer: &str, reason: &str, now_ms: u64) {
        if self.outstanding.iter().any(|(_, p)| p == peer) {
            self.void_outstanding();
        }
        self.buffer.retain(|_, b| b.peer != peer);
        self.abandon(peer, format!("invalid block: {reason}"), now_ms);
    }

    /// Times out overdue requests (abandoning their peers), reinstates peers whose abandonment
    /// ran out, and returns every event since the last call.
    pub fn tick(&mut self, now_ms: u64) -> Vec<SyncEvent> {
        let overdue: Vec<(u64, Request)> = self
            .in_flight
            .iter()
            .filter(|(_, r)| r.deadline <= now_ms)
            .map(|(&from, r)| (from, r.clone()))
            .collect();
        for (from, request) in overdue {
            // An earlier timeout of the same peer may already have freed this one.
            if self.in_flight.contains_key(&from) {
                self.events.push(SyncEvent::PeerTimedOut {
                    peer: request.peer.clone(),
                    range: range(from, request.to),
                });
                self.abandon(&request.peer, "request timed out".into(), now_ms);
            }
        }
        let expired: Vec<PeerId> = self
            .abandoned
            .iter()
            .filter(|(_, &until)| until <= now_ms)
            .map(|(peer, _)| peer.clone())
            .collect();
        for peer in expired {
            self.abandoned.remove(&peer);
            self.events.push(SyncEvent::PeerReinstated { peer });
        }
        std::mem::take(&mut self.events)
    }

    /// When `tick` should next run: the earliest request deadline or abandonment expiry.
    pub fn next_deadline(&self) -> Option<u64> {
        let deadlines = self.in_flight.values().map(|r| r.deadline);
        deadlines.chain(self.abandoned.values().copied()).min()
    }

    /// Whether some known peer (abandoned or not) advertises more than we have.
    pub fn is_syncing(&self) -> bool {
        self.target_height() > self.applied
    }

    /// The highest advertised height of any connected peer, or our own if higher.
    pub fn target_height(&self) -> u64 {
        self.peers.values().copied().fold(self.applied, u64::max)
    }

    /// `peer` sent a message of type `kind` that did not decode. An unusable SYNC_RESPONSE
    /// fails like an invalid block (see [`BlockSync::on_invalid`]) instead of leaving its
    /// request to time out; other kinds do not concern sync. True if it was a sync response.
    pub fn on_malformed(&mut self, peer: &str, kind: &str, reason: &str, now_ms: u64) -> bool {
        let is_response = kind == "SYNC_RESPONSE";
        if is_response {
            self.on_invalid(peer, reason, now_ms);
        }
        is_response
    }

    /// Takes back every run handed out and not yet applied (the driver dropped them, e.g.
    /// because the chain moved by other means); their heights are requested again.
    pub fn void_outstanding(&mut self) {
        self.delivered = self.applied;
        self.outstanding.clear();
    }

    /// Highest height handed out by `next_ready` (runs above `applied_height` are with the
    /// driver).
    pub fn delivered_height(&self) -> u64 {
        self.delivered
    }

    pub fn applied_height(&self) -> u64 {
        self.applied
    }

    /// A peer's advertised height, as last set or lowered.
    pub fn peer_height(&self, peer: &str) -> Option<u64> {
        self.peers.get(peer).copied()
    }

    /// Whether `peer` is being skipped at `now_ms`.
    pub fn is_abandoned(&self, peer: &str, now_ms: u64) -> bool {
        self.abandoned
            .get(peer)
            .is_some_and(|&until| until > now_ms)
    }

    /// Outstanding requests, lowest heights first.
    pub fn in_flight(&self) -> Vec<(PeerId, HeightRange)> {
        let ranges = self.in_flight.iter();
        ranges
            .map(|(&from, r)| (r.peer.clone(), range(from, r.to)))
            .collect()
    }

    /// Blocks received and not yet handed out; never more than `max_in_flight * batch_size`.
    pub fn buffered_len(&self) -> usize {
        self.buffer.len()
    }

    /// The highest height that may be requested now.
    pub fn window_end(&self) -> u64 {
        let window = self.config.max_in_flight as u64 * self.config.batch_size;
        self.applied.saturating_add(window)
    }

    fn abandon(&mut self, peer: &str, reason: String, now_ms: u64) {
        let until = now_ms.saturating_add(self.config.abandon_ms);
        let until_ms = *self
            .abandoned
            .entry(peer.to_string())
            .and_modify(|u| *u = (*u).max(until))
            .or_insert(until);
        self.in_flight.retain(|_, r| r.peer != peer);
        self.events.push(SyncEvent::PeerAbandoned {
            peer: peer.into(),
            reason,
            until_ms,
        });
    }

    /// The first run of heights in `[from, end]` neither buffered nor in flight.
    fn next_gap(&self, mut from: u64, end: u64) -> Option<(u64, u64)> {
        while from <= end {
            if self.buffer.contains_key(&from) {
                from += 1;
                continue;
            }
            let covering = self.in_flight.range(..=from).next_back();
            if let Some((_, r)) = covering.filter(|(_, r)| r.to >= from) {
                from = r.to + 1;
                continue;
            }
            let next_buffered = self.buffer.range(from..).next().map(|(&h, _)| h);
            let next_requested = self.in_flight.range(from..).next().map(|(&h, _)| h);
            let to = match (next_buffered, next_requested) {
                (Some(a), Some(b)) => a.min(b) - 1,
                (Some(h), None) | (None, Some(h)) => h - 1,
                (None, None) => end,
            };
            return Some((from, to.min(end)));
        }
        None
    }

    /// The peer to ask for `from`: available, with room, advertising at least `from`; highest
    /// height first, then fewest in flight, then lowest id.
    fn best_peer(&self, from: u64, now_ms: u64) -> Option<(PeerId, u64)> {
        let load = |peer: &str| self.in_flight.values().filter(|r| r.peer == peer).count();
        self.peers
            .iter()
            .filter(|(_, &height)| height >= from)
            .filter(|(peer, _)| !self.is_abandoned(peer, now_ms))
            .map(|(peer, &height)| (peer, height, load(peer)))
            .filter(|&(_, _, load)| load < self.config.max_in_flight_per_peer)
            .min_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)).then(a.0.cmp(b.0)))
            .map(|(peer, height, _)| (peer.clone(), height))
    }
}

/// The height following a non-empty run.
fn block_after(run: &[Block]) -> u64 {
    run.last().map_or(0, |b| b.height + 1)
}

fn range(from_height: u64, to_height: u64) -> HeightRange {
    HeightRange {
        from_height,
        to_height,
    }
}
