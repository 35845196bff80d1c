//! The full node's durable storage: one SQLite database (`<data_dir>/ledger.db`) holding the
//! chain, a transaction index, world state, sender nonces and node metadata.
//!
//! Why SQLite in WAL mode with `synchronous=FULL`: each block (or run of synced blocks) is
//! committed as ONE SQLite transaction, so after a crash (kill -9, power loss) the database holds
//! either the whole block (run) with its state and nonces, or none of it, and a commit that
//! returned is on disk. Readers
//! (REST, sync) never block the committing writer.
//!
//! Layout: `schema` (DDL, pragmas, meta), `commit` (the block write: what core's block pipeline
//! accepted, no rule checked here), `run_reads` (the committed chain as the pipeline reads it
//! while a synced run is written), one file per table family
//! for its SQL and reads (`blocks`, `transactions`, `state`), `query` (the sandboxed read-only
//! SQL endpoint), `reader` (read handles for the REST API) and `identity` (org id, own nonces, and
//! erasing the node key earlier layouts kept in `meta`).

mod blocks;
mod checkpoint;
mod commit;
mod error;
mod identity;
mod node_storage;
mod query;
mod raft;
mod reader;
mod reads;
mod run_reads;
mod schema;
mod state;
mod transactions;
mod tree;

pub use commit::CommitItem;
pub use error::StoreError;
pub use query::{QueryResult, ReadOnlyQuery, READABLE_TABLES};
pub use raft::RaftWrite;
pub use reader::{Reader, StateProofRecord};
pub use reads::Reads;
pub use run_reads::RunReads;
pub use schema::SCHEMA_VERSION;
pub use state::StateRecord;
pub use tree::SqlTree;

use error::Context;
use miniledger_core::state::StateEntry;
use miniledger_core::BlockHeader;
use rusqlite::Connection;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// An open read transaction on the store's connection, ended when dropped.
pub struct ReadSnapshot<'a>(&'a Connection);

impl<'a> ReadSnapshot<'a> {
    /// None if `conn` is already inside a transaction (the reads then run in that one) or
    /// cannot start one (logged; the reads then run one statement at a time).
    fn begin(conn: &'a Connection) -> Option<Self> {
        if !conn.is_autocommit() {
            return None;
        }
        match conn.execute_batch("BEGIN DEFERRED") {
            Ok(()) => Some(ReadSnapshot(conn)),
            Err(error) => {
                tracing::warn!(%error, "cannot open a read transaction; reading without one");
                None
            }
        }
    }
}

impl Drop for ReadSnapshot<'_> {
    fn drop(&mut self) {
        // Only reads happened inside: ending it writes nothing.
        if let Err(error) = self.0.execute_batch("ROLLBACK") {
            tracing::warn!(%error, "ending a read transaction failed");
        }
    }
}

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "ledger.db";

/// The node's store: a read-write connection, the cached tip, and a separate read-only
/// connection for user-supplied SQL.
pub struct Store {
    conn: Connection,
    /// A second, read-only connection: a received run is checked through it while `conn`
    /// writes the blocks already accepted (see `commit_streamed`).
    run_conn: Connection,
    /// Runs `conn`'s WAL checkpoints on its own thread.
    _checkpointer: checkpoint::Checkpointer,
    path: PathBuf,
    /// Header of the highest stored block; changed only after its SQLite commit succeeded.
    tip: BlockHeader,
    query: Mutex<ReadOnlyQuery>,
    /// Newest state-tree version (None: no state was ever written).
    tree_version: Option<u64>,
    /// True while every stored transaction is one whose state effects MiniLedger 0.2 derives
    /// the way we do (see `state::reproducible_by_miniledger`): its roots are then checkable.
    miniledger_reproducible: bool,
    /// First error hit by a `StateView`/`NonceView` read since the last commit attempt (those
    /// traits cannot return errors); `commit_block(s)` refuses to write while one is pending.
    read_failure: Cell<Option<String>>,
}

impl Reads for Store {
    fn connection(&self) -> &Connection {
        &self.conn
    }
}

impl Store {
    /// Opens (creating if needed) `<data_dir>/ledger.db`, brings its schema up to date and
    /// stores the genesis block if the chain is empty.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        probe_writable(data_dir)?;
        let path = data_dir.join(DB_FILE);
        let mut conn =
            Connection::open(&path).op_with(|| format!("cannot open {}", path.display()))?;
        schema::configure(&conn)?;
        schema::migrate(&mut conn)?;
        let tip = blocks::load_tip(&conn)?;
        let tree_version = tree::version(&conn)?;
        let miniledger_reproducible = state::only_key_value_writes(&conn)?;
        let query = ReadOnlyQuery::open(&path)?;
        let run_conn = schema::open_run_reader(&path)?;
        let checkpointer = checkpoint::Checkpointer::start(&mut conn, &path)?;
        tracing::info!(path = %path.display(), height = tip.height, "ledger store opened");
        Ok(Store {
            conn,
            run_conn,
            _checkpointer: checkpointer,
            path,
            tip,
            tree_version,
            miniledger_reproducible,
            query: Mutex::new(query),
            read_failure: Cell::new(None),
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Header of the highest stored block.
    pub fn tip(&self) -> BlockHeader {
        self.tip.clone()
    }

    pub fn height(&self) -> u64 {
        self.tip.height
    }

    /// Opens one read transaction for a burst of reads (a block's or a run's state step):
    /// without it every statement takes and drops SQLite's shared lock (fcntl calls) on its
    /// own. None if one is already open (the reads then simply run in that one). The guard must
    /// be dropped before the next commit, which the borrow of `self` ensures.
    pub fn read_snapshot(&self) -> Option<ReadSnapshot<'_>> {
        ReadSnapshot::begin(&self.conn)
    }

    /// The stored state tree, for jmt's reads (and core's `PendingTree` over it).
    pub fn tree(&self) -> SqlTree<'_> {
        SqlTree(&self.conn)
    }

    /// Newest state-tree version (None: no state was ever written).
    pub fn tree_version(&self) -> Option<u64> {
        self.tree_version
    }

    /// True while MiniLedger 0.2's state root of this chain can be reproduced (see the field).
    pub fn miniledger_reproducible(&self) -> bool {
        self.miniledger_reproducible
    }

    /// MiniLedger 0.2's root of the stored state with `pending` writes (`None`: deleted)
    /// layered on top. O(state): compat mode only.
    pub fn miniledger_root_with(
        &self,
        pending: &BTreeMap<String, Option<StateEntry>>,
    ) -> Result<String, StoreError> {
        state::miniledger_root_with(&self.conn, pending)
    }

    /// Runs one read-only statement on the store's own read-only connection (see
    /// [`ReadOnlyQuery::run`]). Callers that must not hold the store while a query runs can
    /// open their own with [`Store::open_query_connection`].
    pub fn query_readonly(
        &self,
        sql: &str,
        max_rows: usize,
        timeout: Duration,
    ) -> Result<QueryResult, StoreError> {
        self.query
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .run(sql, &[], max_rows, timeout)
    }

    /// A new read-only connection to this store's database, usable from another thread.
    pub fn open_query_connection(&self) -> Result<ReadOnlyQuery, StoreError> {
        ReadOnlyQuery::open(&self.path)
    }

    /// A new read-only handle for this store's blocks, transactions and state, usable from
    /// another thread while this store commits.
    pub fn open_reader(&self) -> Result<Reader, StoreError> {
        Reader::open(&self.path)
    }

    /// Records a failed view read (logged; the next commit is refused).
    fn note_read_failure(&self, error: StoreError) {
        tracing::error!(%error, "state read failed");
        let first = self.read_failure.take();
        self.read_failure
            .set(Some(first.unwrap_or_else(|| error.to_string())));
    }
}

/// Fails with a clear reason if no file can be created in `data_dir` (read-only mount, no
/// permission, no space for even a few bytes) — SQLite alone would only say "unable to open
/// database file" when it first needs its WAL.
fn probe_writable(data_dir: &Path) -> Result<(), StoreError> {
    use std::io::Write;
    let probe = data_dir.join(".write-probe");
    let written = std::fs::File::create(&probe).and_then(|mut f| {
        f.write_all(b"miniledger")?;
        f.sync_all()
    });
    let _ = std::fs::remove_file(&probe);
    written.map_err(|source| StoreError::NotWritable {
        path: data_dir.to_path_buf(),
        source,
    })
}
