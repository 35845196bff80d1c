//! A block's world-state effect with contracts executed: `state::execute_block` plus contract
//! payloads, in transaction order, each seeing the writes before it. The reference composition
//! for the block pipeline (not yet called by the node).

use super::{ContractRuntime, Receipt, TxContext};
use crate::canonical;
use crate::model::{Block, PayloadBody};
use crate::state::{StateDelta, StateEntry, StateView};

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
/// index in the block and its receipt. A failed call changes nothing but is still in the block.
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
                        receipts.push((index, exec.receipt));
                        exec.writes.into_iter().map(|w| (w.key, w.value)).collect()
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
