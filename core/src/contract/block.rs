//! A block's world-state effect with contracts executed: `state::execute_block` plus contract
//! payloads, in transaction order, each seeing the writes before it, and each contract
//! transaction's receipt written at `_receipt:TXHASH` (so the state root commits to it). The
//! block pipeline calls [`execute`] for every block it checks or builds.

use super::{ContractRuntime, Receipt, TxContext};
use crate::canonical;
use crate::model::{Block, PayloadBody};
use crate::state::{receipt_key, StateDelta, StateEntry, StateView};
use std::cell::RefCell;
use std::mem::ManuallyDrop;

thread_local! {
    /// One runtime per thread: Boa's context is neither `Send` nor cheap to build (the prelude
    /// hardens every builtin), and the module cache is invisible to results (every call starts
    /// from the same frozen realm), so which thread's runtime runs a block changes nothing.
    /// Never dropped: at thread exit Boa's own thread-local collector may already be gone, and
    /// dropping a context after it corrupts the heap (seen: "corrupted double-linked list").
    static RUNTIME: RefCell<Option<ManuallyDrop<ContractRuntime>>> = const { RefCell::new(None) };
}

/// [`execute_block`] on this thread's runtime (built with the protocol's [`super::Limits`] on
/// first use): the block pipeline's execution step.
pub fn execute(block: &Block, view: &impl StateView) -> StateDelta {
    RUNTIME.with(|cell| {
        let mut slot = cell.borrow_mut();
        let runtime =
            slot.get_or_insert_with(|| ManuallyDrop::new(ContractRuntime::new(Default::default())));
        execute_block(block, view, runtime).0
    })
}

/// `view` with the block's pending writes on top.
struct Overlay<'a, V: StateView> {
    view: &'a V,
    delta: &'a StateDelta,
}

impl<V: StateView> StateView for Overlay<'_, V> {
    fn get(&self, key: &str) -> Option<StateEntry> {
        match self.delta.get(key) {
            Some(pending) => pending.clone(),
            None => self.view.get(key),
        }
    }
}

/// Applies `block` on top of `view`: the state delta and, for each contract transaction, its
/// index in the block and its receipt. A failed call changes nothing but its receipt and is
/// still in the block. Receipts are in the delta too, at `_receipt:TXHASH`.
pub fn execute_block(
    block: &Block,
    view: &impl StateView,
    runtime: &mut ContractRuntime,
) -> (StateDelta, Vec<(usize, Receipt)>) {
    let mut delta = StateDelta::new();
    let mut receipts = Vec::new();
    for (index, tx) in block.transactions.iter().enumerate() {
        let writes: Vec<(String, Option<String>)> = match tx.payload.body() {
            PayloadBody::StateSet { key, value } => {
                let value =
                    canonical::canonicalize(value.get()).expect("payload values are valid JSON");
                vec![(key.clone(), Some(value))]
            }
            PayloadBody::StateDelete { key } => vec![(key.clone(), None)],
            body => {
                let context = TxContext {
                    sender: tx.sender.clone(),
                    block_height: block.height,
                    timestamp: tx.timestamp,
                };
                let overlay = Overlay {
                    view,
                    delta: &delta,
                };
                match runtime.execute(&overlay, &context, body) {
                    Some(exec) => {
                        let mut writes: Vec<_> =
                            exec.writes.into_iter().map(|w| (w.key, w.value)).collect();
                        writes.push((receipt_key(&tx.hash), Some(exec.receipt.to_json())));
                        receipts.push((index, exec.receipt));
                        writes
                    }
                    None => Vec::new(),
                }
            }
        };
        for (key, value) in writes {
            let entry = value.map(|value| {
                let previous = match delta.get(&key) {
                    Some(pending) => pending.clone(),
                    None => view.get(&key),
                };
                StateEntry {
                    value,
                    version: previous.map_or(1, |e| e.version + 1),
                }
            });
            delta.insert(key, entry);
        }
    }
    (delta, receipts)
}
