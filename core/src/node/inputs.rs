//! Inputs from the network: socket events, then what the peer manager makes of them (peers
//! coming and going, messages), dispatched to sync, the mempool and consensus.

use super::apply::blame_transaction;
use super::events::{Level, Target};
use super::{FullNode, Mode, NodeStorage, Now};
use crate::mempool::AdmitError;
use crate::net::{ConnId, Direction, Offence, PeerEvent};
use crate::protocol::{Envelope, Message, MessageError};
use crate::sync::SyncError;
use crate::validation::check_transaction;

impl<S: NodeStorage> FullNode<S> {
    /// A socket opened (accepted, or dialed by us).
    pub fn on_open(&mut self, conn: ConnId, direction: Direction, now: Now) {
        self.set_now(now);
        self.peers.on_open(conn, direction, now.monotonic);
    }

    /// A text frame from `conn`.
    pub fn on_frame(&mut self, conn: ConnId, frame: &str, now: Now) {
        self.set_now(now);
        self.peers.on_frame(conn, frame, now.monotonic);
    }

    /// A frame of `len` bytes the driver already decoded (off the loop).
    pub fn on_decoded_frame(
        &mut self,
        conn: ConnId,
        len: usize,
        decoded: Result<Envelope, MessageError>,
        now: Now,
    ) {
        self.set_now(now);
        self.peers
            .on_decoded_frame(conn, len, decoded, now.monotonic);
    }

    /// The driver refused a frame without passing it on (a binary frame).
    pub fn on_refused_frame(&mut self, conn: ConnId, reason: &str, now: Now) {
        self.set_now(now);
        self.log(
            Level::Warn,
            Target::P2p,
            format!("[conn {conn}] refused frame: binaryFrame: {reason}"),
        );
        self.peers
            .report_conn(conn, Offence::BinaryFrame, now.monotonic);
    }

    pub fn on_closed(&mut self, conn: ConnId, now: Now) {
        self.set_now(now);
        self.peers.on_closed(conn, now.monotonic);
    }

    pub fn on_dial_failed(&mut self, address: &str, now: Now) {
        self.set_now(now);
        self.peers.on_dial_failed(address, now.monotonic);
    }

    /// Handles what the peer manager reported, in order. Its socket work stays queued in
    /// order ahead of anything the handlers send (see `Output::take_transmits`).
    pub(super) fn drain_peer_events(&mut self) {
        while let Some(event) = self.peers.poll_event() {
            match event {
                PeerEvent::Connected(peer) => {
                    self.log(
                        Level::Info,
                        Target::P2p,
                        format!(
                            "peer:connected node_id={} height={}",
                            peer.node_id, peer.chain_height
                        ),
                    );
                    self.chase(&peer.node_id, peer.chain_height);
                    self.handoff_on_connected(&peer);
                    self.raft_update_learners();
                    if self.raft_is_leader(&peer.node_id) {
                        self.raft_forward_all();
                    }
                }
                PeerEvent::Disconnected { node_id, reason } => {
                    self.log(
                        Level::Info,
                        Target::P2p,
                        format!("{node_id} peer:disconnected ({reason})"),
                    );
                    self.sync.remove_peer(&node_id);
                    self.raft_update_learners();
                }
                PeerEvent::Rejected { conn, reason } => self.log(
                    Level::Warn,
                    Target::P2p,
                    format!("[conn {conn}] rejected frame: {reason}"),
                ),
                PeerEvent::Malformed {
                    conn,
                    from,
                    kind,
                    reason,
                } => {
                    self.log(
                        Level::Warn,
                        Target::P2p,
                        format!("[conn {conn}] from {from}: rejected frame: {reason}"),
                    );
                    let now = self.now.monotonic;
                    if self.sync.on_malformed(&from, kind, &reason, now) {
                        self.verify.drop_above(self.sync.delivered_height());
                    }
                }
                PeerEvent::Message {
                    conn,
                    from,
                    message,
                } => {
                    // Frames decoded before their socket closed (a dropped peer, a replaced
                    // duplicate) come out after the peer left the table: whatever they say
                    // can no longer be answered or judged (was: consensus messages from a
                    // gone peer scored as from an unauthenticated validator, a ban for an
                    // honest node).
                    if self.peers.peer(&from).map(|p| p.conn) != Some(conn) {
                        let kind = message.type_name();
                        let line = format!("from {from}: dropped {kind}: its connection closed before it was handled");
                        self.log(Level::Debug, Target::P2p, line);
                        continue;
                    }
                    self.on_message(conn, from, message)
                }
            }
        }
    }

    fn on_message(&mut self, conn: ConnId, from: String, message: Message) {
        let now = self.now.monotonic;
        match message {
            Message::Ping(h) | Message::Pong(h) => self.chase(&from, h.chain_height),
            Message::SyncRequest(range) => self.answer_range(conn, range, false),
            Message::BlockRequest(range) => self.answer_range(conn, range, true),
            Message::SyncResponse(r) => {
                if let Some(terms) = &r.terms {
                    self.raft_record_sync_terms(&from, &r.blocks, terms);
                }
                if let Err(e) = self.sync.on_response(&from, r.blocks, r.has_more, now) {
                    self.log(
                        Level::Warn,
                        Target::Sync,
                        format!("from {from}: bad sync response: {e}"),
                    );
                    if matches!(e, SyncError::Unsolicited { .. }) {
                        self.peers.report(&from, Offence::UnsolicitedResponse, now);
                    }
                }
            }
            Message::BlockResponse(r) => {
                if let Err(e) = self.sync.on_response(&from, r.blocks, false, now) {
                    self.log(
                        Level::Debug,
                        Target::Sync,
                        format!("from {from}: block response: {e}"),
                    );
                }
            }
            // Under Raft blocks arrive as log entries (or through BlockSync).
            Message::BlockAnnounce(_) if matches!(self.mode, Mode::Raft(_)) => {}
            Message::BlockAnnounce(announce) => self.on_announce(&from, announce.block),
            Message::TxBroadcast(m) | Message::TxForward(m) => {
                let tx = m.transaction;
                let hash = tx.hash.clone();
                if self.mempool.contains(&hash) {
                    return; // a copy we hold: no need to verify it again
                }
                let admitted = check_transaction(tx.clone(), &self.config.rules.limits)
                    .map_err(AdmitError::Invalid)
                    .and_then(|checked| self.admit(checked));
                match admitted {
                    Ok(()) => self.spread(tx),
                    Err(AdmitError::Duplicate) => {}
                    Err(e) => {
                        self.log(
                            Level::Info,
                            Target::Mempool,
                            format!("from {from}: transaction {hash} refused: {e}"),
                        );
                        if let Some(offence) = blame_transaction(&e) {
                            self.peers.report(&from, offence, now);
                        }
                    }
                }
            }
            Message::RequestVote(_)
            | Message::RequestVoteReply(_)
            | Message::AppendEntries(_)
            | Message::AppendEntriesReply(_) => self.raft_step(&from, &message),
            other => self.log(
                Level::Debug,
                Target::P2p,
                format!("from {from}: ignoring {}", other.type_name()),
            ),
        }
    }
}
