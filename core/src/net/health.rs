//! Health: PING every interval with our height, PONG answers, heights learnt from both, and
//! timeouts: a socket without a handshake after `handshake_timeout_ms`, or a peer silent for
//! `missed_pings` intervals, is dropped.

use super::peers::{ConnId, PeerManager};
use crate::protocol::{ChainHeight, Message};

impl PeerManager {
    pub(super) fn on_ping(&mut self, conn: ConnId, from: String, ping: ChainHeight, now: u64) {
        self.set_height(&from, ping.chain_height);
        let pong = Message::Pong(ChainHeight {
            chain_height: self.chain_height,
        });
        self.send(conn, &pong, now);
        self.deliver(conn, from, Message::Ping(ping));
    }

    pub(super) fn on_pong(&mut self, conn: ConnId, from: String, pong: ChainHeight) {
        self.set_height(&from, pong.chain_height);
        self.deliver(conn, from, Message::Pong(pong));
    }

    fn set_height(&mut self, node_id: &str, height: u64) {
        if let Some(peer) = self.peers.get_mut(node_id) {
            peer.chain_height = height;
        }
    }

    /// The earliest handshake timeout or ping round.
    pub(super) fn health_deadline(&self) -> u64 {
        self.conns
            .values()
            .filter(|c| c.peer().is_none())
            .map(|c| c.opened_at + self.config.handshake_timeout_ms)
            .fold(self.next_ping, u64::min)
    }

    /// Closes (and forgets at once) sockets past their handshake timeout and silent peers,
    /// then pings everyone if a round is due.
    pub(super) fn check_health(&mut self, now: u64) {
        let silent_limit = self.config.ping_interval_ms * self.config.missed_pings;
        let mut to_close = Vec::new();
        for (id, c) in &self.conns {
            let handshaken = c.peer().is_some();
            if !handshaken && now >= c.opened_at + self.config.handshake_timeout_ms {
                to_close.push((
                    *id,
                    format!(
                        "no handshake within {} ms",
                        self.config.handshake_timeout_ms
                    ),
                ));
            } else if handshaken && now >= c.last_seen + silent_limit {
                to_close.push((*id, format!("silent for {} ms", now - c.last_seen)));
            }
        }
        for (id, reason) in to_close {
            self.close(id, reason);
            self.on_closed(id, now);
        }
        if now >= self.next_ping {
            self.next_ping = now + self.config.ping_interval_ms;
            self.broadcast(
                &Message::Ping(ChainHeight {
                    chain_height: self.chain_height,
                }),
                now,
            );
        }
    }
}
