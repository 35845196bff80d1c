//! The state tree behind our `stateRoot` (core's `state::commitment`): its nodes
//! (`state_nodes`, keyed by [`row_key`]), written in the block's SQLite
//! transaction. Leaf values are not stored twice: a leaf's value is its key's `world_state` row.
//! Only the newest tree version is kept: the nodes an update makes stale are deleted in the
//! same transaction, so the table is O(state). The newest version number is
//! `meta.state_tree_version`.

use super::error::{Context, StoreError};
use super::schema::{get_meta, set_meta};
use miniledger_core::state::commitment::jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use miniledger_core::state::commitment::jmt::{KeyHash, OwnedValue, Version};
use miniledger_core::state::commitment::TreeChanges;
use rusqlite::{Connection, OptionalExtension};

const SELECT_NODE: &str = "SELECT node FROM state_nodes WHERE key = ?1";
const INSERT_NODE: &str = "INSERT OR REPLACE INTO state_nodes (key, node) VALUES (?1, ?2)";
const DELETE_NODE: &str = "DELETE FROM state_nodes WHERE key = ?1";
const VERSION_KEY: &str = "state_tree_version";

/// A node's row key: its version big-endian, then its nibble path (borsh). Rows sort by
/// version, so a commit's new nodes go in at the end of the table, and [`write`] visits the
/// rows it deletes in table order: each page is read and written once per commit. (Layouts
/// before 6 used jmt's borsh key, version little-endian: a commit's rows landed all over the
/// table, and with a state much larger than the page cache each write re-read a page.)
fn row_key(key: &NodeKey) -> Vec<u8> {
    let mut row = key.version().to_be_bytes().to_vec();
    borsh::to_writer(&mut row, key.nibble_path()).expect("borsh into memory");
    row
}

/// Fills `state_nodes` from a layout-5 table `old` (same rows, keyed by borsh's encoding of
/// the node key: the version's 8 bytes little-endian, then the nibble path), in the caller's
/// transaction.
pub(crate) fn copy_from_layout_5(conn: &Connection, old: &str) -> Result<(), StoreError> {
    let op = || "re-keying the state tree's nodes".to_string();
    let mut select = conn
        .prepare(&format!("SELECT key, node FROM {old}"))
        .op_with(op)?;
    let mut insert = conn.prepare(INSERT_NODE).op_with(op)?;
    let mut rows = select.query([]).op_with(op)?;
    while let Some(row) = rows.next().op_with(op)? {
        let (key, node): (Vec<u8>, Vec<u8>) = (row.get(0).op_with(op)?, row.get(1).op_with(op)?);
        let key: NodeKey = borsh::from_slice(&key)
            .map_err(|e| StoreError::Corrupt(format!("a state tree key: {e}")))?;
        insert.execute((row_key(&key), node)).op_with(op)?;
    }
    Ok(())
}

/// jmt's reads over a connection (the writer's, or a reader's inside a snapshot).
pub struct SqlTree<'a>(pub &'a Connection);

impl TreeReader for SqlTree<'_> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        let key = row_key(node_key);
        let bytes: Option<Vec<u8>> = self
            .0
            .prepare_cached(SELECT_NODE)?
            .query_row([key], |row| row.get(0))
            .optional()?;
        Ok(match bytes {
            Some(bytes) => Some(borsh::from_slice(&bytes)?),
            None => None,
        })
    }

    fn get_value_option(&self, _: Version, _: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        // No values are stored (core's `commitment::prove` takes the world-state entry).
        Ok(None)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only jmt's snapshot restore uses it; this ledger restores by replaying blocks.
        Ok(None)
    }
}

/// The newest tree version stored (None: no state was ever written).
pub(crate) fn version(conn: &Connection) -> Result<Option<Version>, StoreError> {
    get_meta(conn, VERSION_KEY)?
        .map(|text| {
            text.parse()
                .map_err(|_| StoreError::Corrupt(format!("{VERSION_KEY} is {text:?}")))
        })
        .transpose()
}

/// Persists the net changes of a run of updates (inside the caller's transaction, the one
/// storing the blocks up to `height`): deletes pruned nodes, stores new nodes, in row order.
pub(crate) fn write(
    conn: &Connection,
    changes: &TreeChanges,
    height: u64,
) -> Result<(), StoreError> {
    let op = || format!("writing the state tree up to block {height}");
    let mut insert = conn.prepare_cached(INSERT_NODE).op_with(op)?;
    let mut delete = conn.prepare_cached(DELETE_NODE).op_with(op)?;
    let mut rows: Vec<(Vec<u8>, &Option<Node>)> = changes
        .nodes
        .iter()
        .map(|(key, node)| (row_key(key), node))
        .collect();
    rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (key, node) in rows {
        match node {
            Some(node) => insert.execute((key, borsh::to_vec(node).expect("borsh into memory"))),
            None => delete.execute([key]),
        }
        .op_with(op)?;
    }
    match changes.version {
        Some(version) => set_meta(conn, VERSION_KEY, &version.to_string()),
        None => Ok(()),
    }
}

/// The store's own tree (its writer connection), so core's `PendingTree` can layer over it.
impl TreeReader for super::Store {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        self.tree().get_node_option(node_key)
    }

    fn get_value_option(&self, _: Version, _: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        Ok(None)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        Ok(None)
    }
}

/// What core's block pipeline reads: the committed chain as of the tip. Failed state and nonce
/// reads answer "absent" and refuse the next commit (see `StateView for Store`).
impl miniledger_core::pipeline::ChainReads for super::Store {
    fn tip(&self) -> miniledger_core::BlockHeader {
        super::Store::tip(self)
    }

    fn tree_version(&self) -> Option<Version> {
        super::Store::tree_version(self)
    }

    fn contains_transaction(&self, hash: &str) -> bool {
        super::Store::contains_transaction(self, hash)
    }

    fn miniledger_reproducible(&self) -> bool {
        super::Store::miniledger_reproducible(self)
    }

    fn miniledger_root_with(
        &self,
        pending: &std::collections::BTreeMap<String, Option<miniledger_core::state::StateEntry>>,
    ) -> Result<String, String> {
        super::Store::miniledger_root_with(self, pending).map_err(|e| e.to_string())
    }
}
