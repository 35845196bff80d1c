//! The committed chain as core's block pipeline reads it while a received run is being
//! stored: the same queries as the store's own (`Reads`, `SqlTree`), on its second,
//! read-only connection, inside one read transaction (the state as of the last commit; the
//! writer's open transaction is invisible to it).

use super::reads::Reads;
use super::tree::SqlTree;
use super::{state, StoreError};
use miniledger_core::pipeline::ChainReads;
use miniledger_core::state::commitment::jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use miniledger_core::state::commitment::jmt::{KeyHash, OwnedValue, Version};
use miniledger_core::state::{StateEntry, StateView};
use miniledger_core::validation::NonceView;
use miniledger_core::BlockHeader;
use rusqlite::Connection;
use std::cell::Cell;
use std::collections::BTreeMap;

pub struct RunReads<'c> {
    conn: &'c Connection,
    tip: BlockHeader,
    tree_version: Option<Version>,
    reproducible: bool,
    /// First failed read (the pipeline's views cannot return errors): the run is then not
    /// committed (`Store::commit_streamed`).
    failure: Cell<Option<String>>,
}

impl<'c> RunReads<'c> {
    pub(super) fn new(
        conn: &'c Connection,
        tip: BlockHeader,
        tree_version: Option<Version>,
        reproducible: bool,
    ) -> Self {
        RunReads {
            conn,
            tip,
            tree_version,
            reproducible,
            failure: Cell::new(None),
        }
    }

    /// The first read that failed, if any.
    pub(super) fn failure(&self) -> Option<String> {
        self.failure.take()
    }

    fn note(&self, error: StoreError) {
        tracing::error!(%error, "state read failed");
        let first = self.failure.take();
        self.failure
            .set(Some(first.unwrap_or_else(|| error.to_string())));
    }
}

impl Reads for RunReads<'_> {
    fn connection(&self) -> &Connection {
        self.conn
    }
}

impl StateView for RunReads<'_> {
    fn get(&self, key: &str) -> Option<StateEntry> {
        match self.state_entry(key) {
            Ok(record) => record.map(|r| StateEntry {
                value: r.value,
                version: r.version,
            }),
            Err(e) => {
                self.note(e);
                None
            }
        }
    }
}

impl NonceView for RunReads<'_> {
    fn next_nonce(&self, sender: &str) -> u64 {
        self.nonce(sender).unwrap_or_else(|e| {
            self.note(e);
            0
        })
    }
}

impl TreeReader for RunReads<'_> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        SqlTree(self.conn).get_node_option(node_key)
    }

    fn get_value_option(&self, _: Version, _: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        Ok(None) // no values are stored: see `SqlTree`
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        Ok(None)
    }
}

impl ChainReads for RunReads<'_> {
    fn tip(&self) -> BlockHeader {
        self.tip.clone()
    }

    fn tree_version(&self) -> Option<Version> {
        self.tree_version
    }

    fn contains_transaction(&self, hash: &str) -> bool {
        super::transactions::exists(self.conn, hash).unwrap_or_else(|e| {
            self.note(e);
            false
        })
    }

    fn miniledger_reproducible(&self) -> bool {
        self.reproducible
    }

    fn miniledger_root_with(
        &self,
        pending: &BTreeMap<String, Option<StateEntry>>,
    ) -> Result<String, String> {
        state::miniledger_root_with(self.conn, pending).map_err(|e| e.to_string())
    }
}
