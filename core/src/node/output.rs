//! The full node's output queues: socket work and events, drained by the driver.

use super::events::{FullEvent, Level, Target};
use super::verifying::VerifyJob;
use crate::net::{PeerManager, Transmit};
use std::collections::VecDeque;

#[derive(Default)]
pub struct Output {
    pub io: VecDeque<Transmit>,
    pub events: VecDeque<FullEvent>,
    pub verify: VecDeque<VerifyJob>,
}

impl Output {
    pub fn log(&mut self, level: Level, target: Target, message: String) {
        self.events.push_back(FullEvent::Log {
            level,
            target,
            message,
        });
    }

    /// Moves the peer manager's queued socket work behind what is already queued here, so a
    /// frame the node writes itself never overtakes what the manager queued before it.
    pub fn take_transmits(&mut self, peers: &mut PeerManager) {
        self.io.extend(std::iter::from_fn(|| peers.poll_transmit()));
    }
}
