//! Raft consensus, sans-IO (the etcd raft / raft-rs shape): a log entry is a block, a committed
//! entry is a final block. The state machine never touches a socket, clock, disk or entropy
//! source: time comes in as `now_ms`, randomness from the seed given to [`Raft::new`], and
//! everything to persist, send and apply comes out as a [`Ready`].
//!
//! It speaks MiniLedger 0.2's four consensus messages, with optional fields of ours that 0.2
//! ignores: `preVote` on CONSENSUS_REQUEST_VOTE(_REPLY) and `firstIndex` on
//! CONSENSUS_APPEND_ENTRIES. Log index == block height; genesis is entry 0 of term 0.
//!
//! # Safety rules beyond the paper's
//! - The validator set is the committed set the driver restores with (public keys → nodeIds),
//!   changed one server at a time by log entries the driver marks ([`ConfigChanges`]; see
//!   `membership.rs`): each node uses the latest configuration in its log. Consensus messages
//!   from any other node are ignored, so a stray node (or a MiniLedger 0.2 node) cannot push terms up;
//!   [`Raft::screen`] also tells the driver which messages no honest node sends (including
//!   any from a connection that did not prove the validator's key), to score the sender.
//!   A node in no configuration of its log is a learner: it follows validators' AppendEntries
//!   and acknowledges them, never campaigns, and answers a vote request only from a candidate
//!   whose log is ahead of its own (one that may hold the change adding it).
//! - Pre-vote, check-quorum and the leader lease (see `election.rs`).
//! - Every follower verifies each entry through [`EntryCheck`] before acknowledging it; a
//!   leader whose entry fails is not followed (see `replication.rs`).
//! - A node whose last entry is a synced block of unknown term neither votes nor campaigns
//!   until a leader tells it the term, or the driver passes it with `on_synced` (see
//!   `election.rs`).
//!
//! # Driver contract
//! ```text
//! on start:    restored = (hard state, chain tip + its term, persisted uncommitted entries)
//!              raft = Raft::restore(config, restored, seed from the OS, &changes)
//!                     // config.validators: the set committed at the chain tip (Raft::new for
//!                     // a network whose set never changes)
//! on input:    raft.screen(from, authenticated, &message)    // Err: bogus; ignore, score
//!              raft.step(from, &message, now, &mut checker)   // consensus messages
//!              raft.tick(now)                                  // at raft.next_tick_at()
//!              raft.propose(block, now)                        // leader: block on last_entry()
//!              raft.propose_change(block, change, now)         // leader: a block carrying a change
//!              raft.set_learners(observer node ids)            // when connections change
//!              raft.on_synced(tip header, tip term if known)   // after applying synced blocks
//!                (on_synced_with_validators if they may carry changes: the set at the tip)
//! after input: while raft.has_ready() {
//!                  let rd = raft.ready();
//!                  1. persist, durably and in this order: rd.hard_state; then the log change
//!                     (delete uncommitted entries ≥ rd.truncate_from, append rd.entries);
//!                     rd.learned_term (the term of an applied block)
//!                  2. send rd.messages (never before step 1 is durable: a vote or an
//!                     acknowledgement promises that state)
//!                  3. apply rd.committed in order: these are final blocks; store each with its
//!                     term, and drop persisted uncommitted entries at or below the chain tip
//!                  4. rd.sync_needed → BlockSync from that peer up to that height, then
//!                     on_synced; rd.needs_block → propose a block now (even empty);
//!                     log rd.events; Event::ConfigChanged { committed: true } is the set to
//!                     restore with (the driver may as well derive it from applied blocks)
//!                  raft.advance();
//!              }
//! ```
//! A crash anywhere in that sequence is safe: on restart the driver passes what was durable
//! (give the restarted node a fresh seed). Only blocks final on the validators may be obtained
//! through BlockSync (serve committed blocks only), and `on_synced` must not be called while a
//! `Ready` is being handled.
//!
//! More of the contract:
//! - `EntryCheck` (with its `ConfigChanges`, which must give the same answer for an entry on
//!   every node, every time) runs on followers and learners, against the driver's applied state plus the
//!   uncommitted entries before the one checked. The leader's own proposals are not checked:
//!   build only blocks you would accept.
//! - Pipelining: `propose` takes a block on top of `last_entry()`, committed or not, until
//!   `max_uncommitted` entries wait (`ProposeError::Backlog`).
//! - `set_learners` can be called on every node; only a leader uses it. A learner of ours in a
//!   MiniLedger 0.2 network (its validators configured as ours) acknowledges AppendEntries, so a
//!   0.2 leader, which counts every connected peer, is not stalled by it.
//! - `sync_needed` is repeated with every heartbeat while the follower is behind the leader's
//!   window; start BlockSync once, towards the latest height.
//!
//! Departures from the sketch this module was specified against: `on_synced` takes the synced
//! tip's header, not only its height (its hash tells whether uncommitted entries still chain
//! on it, its timestamp lets the next block be built); `last_entry` returns the header the
//! same way; whether this node is a learner follows from the validator set instead of a flag
//! that could contradict it; `Ready` also carries `learned_term` and `needs_block`.
//!
//! Memory is bounded: `retained_entries` committed entries plus at most `max_uncommitted` (on
//! a leader) uncommitted ones, however long the chain; followers that fall further behind are
//! told to sync.

mod config;
mod election;
mod log;
mod membership;
mod node;
mod progress;
mod read;
mod ready;
mod replication;
mod screen;
mod status;
pub mod wire;

pub use config::{ConfigError, RaftConfig, Validator};
pub use membership::{ConfigChange, ConfigChanges, StaticMembership};
pub use node::{EntryCheck, LastEntry, ProposeError, Raft};
pub use read::{ReadRefused, ReadState};
pub use ready::{Event, HardState, Ready, Restored, SyncTarget};
pub use status::{PeerProgress, RaftStatus, Role};
