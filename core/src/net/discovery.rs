//! Discovery: when we share our peer list (PEER_LIST), and which learnt entries we keep.
//!
//! MiniLedger 0.2 sends PEER_LIST once, from the accepting side of a connection. A node that
//! only dials (a hub started with `--peers a,b`) then tells nobody about anybody, and `a` and
//! `b` never meet. We share the list from both ends as soon as a connection is admitted, and
//! again with every peer whenever a full peer joins (at most once per `min_interval_ms`), plus
//! a slow periodic refresh (for addresses given up on). In any connected starting topology
//! each node learns its neighbours' neighbours and dials them, so the mesh closes completely.
//! A 0.2 node takes a PEER_LIST on any connection the same way (it dials the addresses it does
//! not know), so sending one from the dialing side is wire compatible.
//!
//! Also here: the dial list ([`DialList`]: configured and learnt addresses, redialed with
//! backoff) and the manager's PEER_LIST handling (what it sends, what it learns).

use super::backoff::{Backoff, SplitMix};
use super::output::Transmit;
use super::peers::{ConnId, PeerKind, PeerManager, PeerSummary};
use crate::protocol::{Message, PeerInfo, PeerList};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// Least time between two rounds of list sharing caused by joins.
    pub min_interval_ms: u64,
    /// Every peer gets the list again this often, changed or not.
    pub refresh_ms: u64,
    /// Learnt (not configured) addresses kept at most: a peer cannot grow the dial list
    /// without bound by sending long or many lists.
    pub max_learnt: usize,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            min_interval_ms: 1_000,
            refresh_ms: 60_000,
            max_learnt: 256,
        }
    }
}

/// When the next round of list sharing is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Schedule {
    /// Nothing changed since the last round: only the refresh is pending.
    Idle,
    /// The list changed; it goes out at this time.
    Due(u64),
}

/// Versions our peer list and rate-limits the rounds sharing it. Each connection remembers the
/// version it last got ([`Announcer::version`]); a round sends to those behind.
#[derive(Debug, Clone)]
pub struct Announcer {
    config: DiscoveryConfig,
    version: u64,
    schedule: Schedule,
    last_round: Option<u64>,
    next_refresh: u64,
}

impl Announcer {
    pub fn new(config: DiscoveryConfig, now: u64) -> Self {
        Announcer {
            config,
            version: 1,
            schedule: Schedule::Idle,
            last_round: None,
            next_refresh: now + config.refresh_ms,
        }
    }

    pub fn config(&self) -> &DiscoveryConfig {
        &self.config
    }

    /// The current list's version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// A full peer joined: the list changed; the peers behind get it in the next round.
    pub fn changed(&mut self, now: u64) {
        self.version += 1;
        if self.schedule == Schedule::Idle {
            let earliest = self
                .last_round
                .map_or(now, |t| t + self.config.min_interval_ms);
            self.schedule = Schedule::Due(earliest.max(now));
        }
    }

    /// When [`Announcer::round_due`] next has work.
    pub fn deadline(&self) -> u64 {
        match self.schedule {
            Schedule::Idle => self.next_refresh,
            Schedule::Due(at) => at.min(self.next_refresh),
        }
    }

    /// True if a round is due now: send the list to every connection behind
    /// [`Announcer::version`].
    pub fn round_due(&mut self, now: u64) -> bool {
        if now >= self.next_refresh {
            self.next_refresh = now + self.config.refresh_ms;
            self.version += 1; // everybody is behind
            self.schedule = Schedule::Due(now);
        }
        match self.schedule {
            Schedule::Due(at) if now >= at => {
                self.schedule = Schedule::Idle;
                self.last_round = Some(now);
                true
            }
            _ => false,
        }
    }
}

/// Whether a PEER_LIST entry is usable at all: a nodeId that is its key's (so a target's
/// expected identity means something) and a WebSocket address.
pub fn well_formed(info: &PeerInfo) -> bool {
    crate::hex::is_lower_hex(&info.public_key, 32)
        && crate::crypto::node_id(&info.public_key) == info.node_id
        && (info.address.starts_with("ws://") || info.address.starts_with("wss://"))
        && info.address.len() <= 256
}

/// How long an address is redialed after failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Configured addresses, and one learnt address per `keep_dialing` key.
    Forever,
    /// Other learnt addresses: forgotten after [`MAX_DISCOVERED_ATTEMPTS`] failures in a row.
    Limited,
}

/// About ten minutes of failed redials at the 30 s cap.
const MAX_DISCOVERED_ATTEMPTS: u32 = 20;

/// An address we dial and keep dialing.
#[derive(Debug, Clone)]
struct DialTarget {
    node_id: Option<String>,
    /// Set for configured addresses: the operator's, never dropped or demoted.
    configured: bool,
    retry: Retry,
    attempt: u32,
    /// When to dial next; None while dialing or connected.
    due: Option<u64>,
}

/// The addresses we keep connected to, by address.
#[derive(Debug, Clone)]
pub(super) struct DialList {
    targets: BTreeMap<String, DialTarget>,
    /// Backoff jitter (seeded by the driver).
    rng: SplitMix,
}

impl DialList {
    pub fn new(seed: u64) -> Self {
        DialList {
            targets: BTreeMap::new(),
            rng: SplitMix::new(seed),
        }
    }

    /// An operator's address (configured seeds, `join`), due at `now`.
    pub fn add_configured(&mut self, address: &str, now: u64) {
        self.targets
            .entry(address.to_string())
            .or_insert(DialTarget {
                node_id: None,
                configured: true,
                retry: Retry::Forever,
                attempt: 0,
                due: Some(now),
            });
    }

    /// A learnt address of `node_id` (unless already listed), dialed at `due`. `keep`: its key
    /// is one we keep dialing; only one learnt address per nodeId is then redialed forever, so
    /// forged lists cannot pile up endless dials.
    fn add_learnt(&mut self, address: String, node_id: &str, keep: bool, due: Option<u64>) {
        let retry = if keep
            && !self.targets.values().any(|t| {
                !t.configured && t.retry == Retry::Forever && t.node_id.as_deref() == Some(node_id)
            }) {
            Retry::Forever
        } else {
            Retry::Limited
        };
        self.targets.entry(address).or_insert(DialTarget {
            node_id: Some(node_id.to_string()),
            configured: false,
            retry,
            attempt: 0,
            due,
        });
    }

    /// The earliest due dial.
    pub fn deadline(&self) -> Option<u64> {
        self.targets.values().filter_map(|t| t.due).min()
    }

    pub fn contains(&self, address: &str) -> bool {
        self.targets.contains_key(address)
    }

    fn learnt(&self) -> usize {
        self.targets.values().filter(|t| !t.configured).count()
    }

    /// A dial failed or a connection ended: dial again after the backoff, or forget a learnt
    /// address that failed too often.
    pub fn schedule_redial(&mut self, address: &str, backoff: &Backoff, now: u64) {
        let sample = self.rng.next_unit();
        let Some(target) = self.targets.get_mut(address) else {
            return;
        };
        if target.retry == Retry::Limited && target.attempt >= MAX_DISCOVERED_ATTEMPTS {
            self.targets.remove(address);
            return;
        }
        target.due = Some(now + backoff.delay_ms(target.attempt, sample));
        target.attempt = target.attempt.saturating_add(1);
    }

    /// Whether `address` waits for its dial's outcome (neither due nor forgotten).
    pub fn in_flight(&self, address: &str) -> bool {
        self.targets.get(address).is_some_and(|t| t.due.is_none())
    }

    /// `node_id` answered at `address`.
    pub fn answered(&mut self, address: &str, node_id: &str) {
        if let Some(target) = self.targets.get_mut(address) {
            if target.node_id.as_ref().is_some_and(|id| id != node_id) && !target.configured {
                // Listed as someone else: not the address of the key we keep dialing.
                target.retry = Retry::Limited;
            }
            target.node_id = Some(node_id.to_string());
        }
    }

    /// The peer at `address` was admitted: backoff starts over.
    pub fn connected(&mut self, address: &str) {
        if let Some(target) = self.targets.get_mut(address) {
            target.attempt = 0;
        }
    }

    /// Our own address: never dialed again.
    pub fn remove(&mut self, address: &str) {
        self.targets.remove(address);
    }

    /// The addresses due at `now`, taken off the schedule; those of connected peers are
    /// skipped, and none is dialed while the peer table is `full`.
    pub fn take_due(
        &mut self,
        now: u64,
        connected: impl Fn(&str) -> bool,
        full: bool,
    ) -> Vec<String> {
        let mut dials = Vec::new();
        for (address, target) in self.targets.iter_mut() {
            let Some(due) = target.due else { continue };
            if due > now {
                continue;
            }
            if target.node_id.as_deref().is_some_and(&connected) {
                target.due = None; // already connected through another socket
            } else if !full {
                target.due = None;
                dials.push(address.clone());
            }
        }
        dials
    }
}

impl PeerManager {
    /// A connected peer went away: its advertised address becomes a target (either side may
    /// redial), and the addresses that led to it are dialed again (unless it was self).
    pub(super) fn redial_lost(&mut self, peer: PeerSummary, now: u64) {
        let node_id = peer.node_id.as_str();
        if let Some(address) = peer.address {
            let keep = self.config.keep_dialing.contains(&peer.public_key);
            self.dials.add_learnt(address, node_id, keep, None);
        }
        let addresses: Vec<String> = self
            .dials
            .targets
            .iter()
            .filter(|(_, t)| t.node_id.as_deref() == Some(node_id) && t.due.is_none())
            .map(|(a, _)| a.clone())
            .collect();
        for address in addresses {
            self.dials
                .schedule_redial(&address, &self.config.backoff, now);
        }
    }

    /// Sends our current peer list on `conn` (an admitted peer's), unless it already has it.
    pub(super) fn share_list_on(&mut self, conn: ConnId, now: u64) {
        let version = self.announcer.version();
        let Some(link) = self
            .conns
            .get_mut(&conn)
            .and_then(|c| c.link_mut())
            .filter(|l| l.shared < version)
        else {
            return;
        };
        link.shared = version;
        let node_id = link.node_id.clone();
        let list = self.peer_list_for(&node_id);
        self.send(conn, &Message::PeerList(list), now);
    }

    /// A round of list sharing: every peer behind the current version gets it.
    pub(super) fn share_list(&mut self, now: u64) {
        let conns: Vec<ConnId> = self.peers.values().map(|p| p.conn).collect();
        for conn in conns {
            self.share_list_on(conn, now);
        }
    }

    /// The connected full peers other than `except`, for discovery.
    fn peer_list_for(&self, except: &str) -> PeerList {
        let peers = self
            .peers
            .values()
            .filter(|p| p.node_id != except && !p.light)
            .filter_map(|p| {
                Some(PeerInfo {
                    node_id: p.node_id.clone(),
                    public_key: p.public_key.clone(),
                    address: p.address.clone()?,
                    org_id: p.org_id.clone(),
                })
            })
            .collect();
        PeerList { peers }
    }

    /// Learnt addresses to dial: well-formed entries of peers we are not connected to, that
    /// the admission lists would let in, up to `discovery.max_learnt` learnt targets.
    pub(super) fn on_peer_list(&mut self, list: PeerList, now: u64) {
        let mut learnt = self.dials.learnt();
        for info in list.peers {
            let known =
                info.node_id == self.config.node_id || self.peers.contains_key(&info.node_id);
            let refused = !self
                .config
                .admission
                .may_dial(&info.public_key, &info.org_id);
            if known || refused || !well_formed(&info) || self.dials.contains(&info.address) {
                continue;
            }
            if learnt >= self.config.discovery.max_learnt {
                return;
            }
            learnt += 1;
            let keep = self.config.keep_dialing.contains(&info.public_key);
            self.dials
                .add_learnt(info.address, &info.node_id, keep, Some(now));
        }
    }

    /// Due dials, unless their peer is connected already.
    pub(super) fn dial_due(&mut self, now: u64) {
        // Dials reach full nodes: light peers (however many) must not stop them.
        let full = self.count(PeerKind::Full) >= self.config.max_peers;
        let peers = &self.peers;
        for address in self.dials.take_due(now, |id| peers.contains_key(id), full) {
            self.transmit(Transmit::Dial { address });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_are_shared_at_most_once_per_interval() {
        let mut a = Announcer::new(DiscoveryConfig::default(), 0);
        assert!(!a.round_due(10));
        a.changed(10);
        assert_eq!(a.deadline(), 10);
        assert!(a.round_due(10));
        a.changed(20);
        a.changed(30);
        assert_eq!(a.deadline(), 1_010);
        assert!(!a.round_due(500));
        assert!(a.round_due(1_010));
        assert!(!a.round_due(1_020));
    }

    #[test]
    fn the_refresh_makes_everybody_behind() {
        let mut a = Announcer::new(DiscoveryConfig::default(), 0);
        let v = a.version();
        assert_eq!(a.deadline(), 60_000);
        assert!(a.round_due(60_000));
        assert!(a.version() > v);
        assert_eq!(a.deadline(), 120_000);
    }
}
