//! The node loop's one input channel. The loop runs on its own OS thread and blocks on this
//! channel until its next timer; everything it reacts to arrives here, each source bounded:
//! socket events per socket by the transport (`transport::INGRESS_BYTES`, with backpressure on
//! the socket), API commands here ([`COMMAND_QUEUE`], the API waiting for a slot), checked
//! parts of runs by the verifier pool (at most `VERIFY_AHEAD` in flight).

use super::Command;
use crate::transport::TransportEvent;
use miniledger_core::node::PartDone;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// API commands waiting for the loop at most; a request beyond waits (asynchronously) for one
/// to be taken.
const COMMAND_QUEUE: usize = 1024;

pub enum Input {
    Transport(TransportEvent),
    /// A command and the queue slot it holds until the loop has taken it.
    Command(Command, CommandSlot),
    /// A part of a synced run, checked by a verifier thread.
    Verified(PartDone),
}

pub struct CommandSlot(#[allow(dead_code)] OwnedSemaphorePermit);

/// The node loop went away (it stopped, or the process is shutting down).
#[derive(Debug)]
pub struct Closed;

/// The API's side of the inbox: sends commands to the node loop.
#[derive(Clone)]
pub struct Commands {
    inbox: Sender<Input>,
    slots: Arc<Semaphore>,
}

impl Commands {
    /// Queues `command` for the loop, waiting while [`COMMAND_QUEUE`] commands are queued.
    pub async fn send(&self, command: Command) -> Result<(), Closed> {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Closed)?;
        (self.inbox.send(Input::Command(command, CommandSlot(slot)))).map_err(|_| Closed)
    }
}

pub fn channel() -> (Sender<Input>, Receiver<Input>) {
    std::sync::mpsc::channel()
}

/// The API's handle on `inbox` (clones share its [`COMMAND_QUEUE`] slots).
pub fn commands(inbox: Sender<Input>) -> Commands {
    Commands {
        inbox,
        slots: Arc::new(Semaphore::new(COMMAND_QUEUE)),
    }
}
