//! Whose chain heights BlockSync chases (it syncs from a peer only once it knows the peer is
//! ahead).
//!
//! Solo: every full peer's; sealed blocks are final. Raft: a node a live leader replicates to
//! is kept up by that leader (entries, and `sync_needed` beyond its window), so it chases
//! nobody (that would only race the log). Any other node (a validator that cannot hear the
//! leader, a candidate, an observer whose leader went quiet; `Raft::chases_peers`) chases the
//! validators ahead of it, whatever its own role: without this, a validator connected only to
//! a follower stayed at height 0 for good.
//!
//! Why validators only, over connections that may carry consensus (authenticated, or any in
//! compat mode): honest validators store committed blocks only, and a synced block replaces
//! whatever uncommitted entries do not chain on it (`Raft::on_synced`). An observer sees
//! uncommitted entries as a learner; a hostile one could serve such a block, validly signed by
//! a validator, and make this node drop entries it acknowledged. Synced blocks are verified
//! in full either way (signatures, proposer in the validator set, state root), and their terms
//! are taken from authenticated validators only (`sync_terms.rs`).

use super::consensus::consensus_connection;
use super::events::{Level, Target};
use super::{FullNode, Mode, NodeStorage};

impl<S: NodeStorage> FullNode<S> {
    /// Whether BlockSync should learn `node_id`'s height now (from HANDSHAKE, PING, PONG).
    pub(super) fn chases(&self, node_id: &str) -> bool {
        let Some(peer) = self.peers.peer(node_id).filter(|p| !p.light) else {
            return false;
        };
        let Mode::Raft(c) = &self.mode else {
            return true;
        };
        c.chases_peers(self.now.monotonic)
            && c.is_validator(&peer.node_id)
            && consensus_connection(&self.peers, &self.config, &peer.node_id)
    }

    /// Tells BlockSync `node_id`'s height if it chases that peer.
    pub(super) fn chase(&mut self, node_id: &str, height: u64) {
        if !self.chases(node_id) {
            return;
        }
        if matches!(self.mode, Mode::Raft(_)) && height > self.sync.target_height() {
            self.log(Level::Info, Target::Raft, format!("peer {node_id} height {height}: catching up through BlockSync (no leader reaches this node)"));
        }
        self.sync.set_peer_height(node_id, height);
    }
}
