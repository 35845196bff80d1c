//! Who last wrote a state key, and when: MiniLedger 0.2's `updatedBy` and `updatedAt`, derived
//! from the chain rather than stored (our state rows, and the state tree's leaves, hold only
//! value and version). `updatedBy` is the sender of the last transaction in the entry's block
//! that set or deleted the key (the block's proposer when contract or governance execution
//! wrote it); `updatedAt` is that block's timestamp, the same on every node (0.2 stamps the
//! applying node's clock).

use crate::storage::{Reads, StateRecord, StoreError};
use miniledger_core::{Block, PayloadBody};
use std::collections::hash_map::Entry;
use std::collections::HashMap;

pub struct Provenance {
    pub updated_at: u64,
    pub updated_by: String,
}

/// Each record's provenance, reading every block involved once.
pub fn of(reader: &impl Reads, records: &[StateRecord]) -> Result<Vec<Provenance>, StoreError> {
    let mut blocks: HashMap<u64, Option<Block>> = HashMap::new();
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        let height = record.block_height;
        let block = match blocks.entry(height) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(slot) => slot.insert(reader.block(height)?),
        };
        let block = block.as_ref().ok_or_else(|| {
            StoreError::Corrupt(format!(
                "state key {:?}: block {height} missing",
                record.key
            ))
        })?;
        out.push(in_block(block, &record.key));
    }
    Ok(out)
}

fn in_block(block: &Block, key: &str) -> Provenance {
    let writer = block.transactions.iter().rev().find(|tx| {
        matches!(tx.payload.body(),
            PayloadBody::StateSet { key: k, .. } | PayloadBody::StateDelete { key: k } if k == key)
    });
    Provenance {
        updated_at: block.timestamp,
        updated_by: writer.map_or(&block.proposer, |tx| &tx.sender).clone(),
    }
}
