//! Committing blocks: the block row, its transaction rows, the state delta and the new sender
//! nonces go into ONE SQLite transaction, so a crash or an error at any point leaves either the
//! whole block or nothing. A run of synced blocks goes into one transaction too (one fsync for
//! the run; the whole run or nothing). This is the hot path; every statement is a cached
//! prepared one.

use super::error::{Context, StoreError};
use super::{blocks, raft, schema, state, transactions, tree, ReadSnapshot, RunReads, Store};
use miniledger_core::node::Durability;
use miniledger_core::pipeline::Executed;
use miniledger_core::state::commitment::TreeChanges;
use miniledger_core::state::reproducible_by_miniledger;
use miniledger_core::{Block, BlockHeader};
use rusqlite::{Connection, TransactionBehavior};
use std::sync::Arc;

impl Store {
    /// Stores `block` as the new tip with the `delta` its execution produced and each sender's
    /// `next_nonces` after it (core's block pipeline decided all three: storage checks no
    /// block rule). Refuses (writing nothing) a block that does not extend the tip,
    /// or any block while a failed `StateView`/`NonceView` read is pending (the delta may have
    /// been computed from a wrong view; the refusal clears it, so a recomputed delta can go in).
    pub fn commit_block(
        &mut self,
        item: CommitItem<'_>,
        tree: Option<&TreeChanges>,
    ) -> Result<(), StoreError> {
        self.commit_blocks(&[item], tree)
    }

    /// Stores a contiguous run of blocks, each with its delta and next nonces as for
    /// [`Store::commit_block`], in ONE SQLite transaction: one fsync for the whole run, and
    /// after a crash or an error either every block of the run is stored or none is. The first
    /// block must extend the tip and each later one the block before it; the tip moves to the
    /// last block only after the commit. Each delta and nonce map must already include the
    /// effects of the earlier blocks of the run (core's `pipeline::Verdict`). An empty run is a no-op.
    ///
    /// `tree`: the state tree's net changes after the run (core's `PendingTree`), persisted in
    /// the same transaction; None when the caller keeps no tree (storage tests).
    pub fn commit_blocks(
        &mut self,
        items: &[CommitItem<'_>],
        tree: Option<&TreeChanges>,
    ) -> Result<(), StoreError> {
        self.commit_run(items, tree, &[])
    }

    /// [`Store::commit_blocks`] for committed Raft entries: each block's entry term
    /// (`terms[i]` for `items[i]`) is stored in the same transaction.
    pub fn commit_entries(
        &mut self,
        items: &[CommitItem<'_>],
        tree: Option<&TreeChanges>,
        terms: &[u64],
    ) -> Result<(), StoreError> {
        assert_eq!(items.len(), terms.len(), "one term per committed entry");
        let terms: Vec<Option<u64>> = terms.iter().copied().map(Some).collect();
        self.commit_run(items, tree, &terms)
    }

    /// Stores the blocks of a run received through BlockSync as core's block pipeline accepts
    /// them: `decide` runs the pipeline on this thread over [`RunReads`] (the committed chain,
    /// read through the store's second connection) and hands each accepted block's effects
    /// (its position in `blocks`, in order) to the sink it is given, which writes its rows at
    /// once on another thread, into one open SQLite transaction; the state tree's changes
    /// `decide` returns go in last, and the transaction commits once. Only accepted blocks are
    /// ever written, and the decision and the writes overlap. Returns how many blocks were
    /// committed, and `decide`'s answer. `terms[i]`: the Raft term of `blocks[i]` if known.
    ///
    /// Nothing is committed if no block was accepted, a write fails, or a read of `decide`
    /// failed (the effects may have been computed from a wrong view).
    ///
    /// Durability: received blocks are held by the peers they came from, so their commit skips
    /// the WAL fsync (`synchronous=NORMAL`: still atomic; the next FULL commit or checkpoint
    /// makes it durable). After a power loss the node may be a few synced blocks behind and
    /// fetches them again. Produced blocks and Raft state always commit with FULL.
    pub fn commit_streamed<T>(
        &mut self,
        blocks: &[Block],
        terms: &[Option<u64>],
        decide: impl FnOnce(&RunReads<'_>, &mut dyn FnMut(usize, Arc<Executed>)) -> (TreeChanges, T),
    ) -> Result<(usize, T), StoreError> {
        self.relaxed(|store| store.stream_run(blocks, terms, decide))
    }

    /// [`Store::commit_streamed`] at the connection's current durability.
    fn stream_run<T>(
        &mut self,
        blocks: &[Block],
        terms: &[Option<u64>],
        decide: impl FnOnce(&RunReads<'_>, &mut dyn FnMut(usize, Arc<Executed>)) -> (TreeChanges, T),
    ) -> Result<(usize, T), StoreError> {
        if let Some(failure) = self.read_failure.take() {
            return Err(StoreError::ViewReadFailed(failure));
        }
        let reads = RunReads::new(
            &self.run_conn,
            self.tip.clone(),
            self.tree_version,
            self.miniledger_reproducible,
        );
        let (to_writer, writes) = std::sync::mpsc::channel();
        let tip = self.tip.clone();
        let (conn, run_conn) = (&mut self.conn, &self.run_conn);
        let (written, version, answer) = std::thread::scope(|s| {
            let writer = s.spawn(move || write_streamed(conn, blocks, terms, tip, writes));
            let (changes, answer) = {
                let _snapshot = ReadSnapshot::begin(run_conn);
                let mut sink = |i, executed| {
                    // The writer stops early only on an error, which its result reports.
                    let _ = to_writer.send(Streamed::Block(i, executed));
                };
                decide(&reads, &mut sink)
            };
            let version = changes.version;
            let written = match reads.failure() {
                Some(failure) => {
                    drop(to_writer); // rolls the writes back
                    let _ = writer.join().expect("block writer thread");
                    Err(StoreError::ViewReadFailed(failure))
                }
                None => {
                    let _ = to_writer.send(Streamed::Finish(changes));
                    writer.join().expect("block writer thread")
                }
            };
            (written, version, answer)
        });
        let count = written?;
        if let Some(last) = count.checked_sub(1).map(|i| &blocks[i]) {
            self.tip = last.header();
            self.tree_version = version;
            self.miniledger_reproducible &= blocks[..count].iter().all(reproducible_by_miniledger);
            tracing::debug!(
                from = blocks[0].height,
                to = last.height,
                "blocks committed"
            );
        }
        Ok((count, answer))
    }

    /// Runs `f` with this connection's commits at `synchronous=NORMAL` (atomic and in order,
    /// durable at the next FULL commit), and FULL again afterwards, whether `f` failed or not.
    fn relaxed<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        schema::set_synchronous(&self.conn, "NORMAL")?;
        let result = f(self);
        let restored = schema::set_synchronous(&self.conn, "FULL");
        let value = result?;
        restored?;
        Ok(value)
    }

    /// [`Store::commit_run`] as durably as asked: `Logged` commits without the WAL fsync
    /// (`synchronous=NORMAL`: atomic, in order, and made durable by the next FULL commit, e.g.
    /// the next Raft write); see core's `Durability`.
    pub(super) fn commit_run_with(
        &mut self,
        items: &[CommitItem<'_>],
        tree: Option<&TreeChanges>,
        terms: &[Option<u64>],
        durability: Durability,
    ) -> Result<(), StoreError> {
        match durability {
            Durability::Synced => self.commit_run(items, tree, terms),
            Durability::Logged => self.relaxed(|store| store.commit_run(items, tree, terms)),
        }
    }

    /// [`Store::commit_blocks`] with each block's Raft term where known (`terms` empty: none).
    pub(super) fn commit_run(
        &mut self,
        items: &[CommitItem<'_>],
        tree: Option<&TreeChanges>,
        terms: &[Option<u64>],
    ) -> Result<(), StoreError> {
        self.start_run(items)?;
        let Some(last) = items.last() else {
            return Ok(());
        };
        let (tx, what) = write_run(&mut self.conn, items, terms)?;
        if let Some(changes) = tree {
            tree::write(&tx, changes, last.block.height)?;
        }
        // On failure the dropped transaction rolls back.
        tx.commit().op_with(|| format!("committing {what}"))?;
        self.finish_run(items, tree);
        Ok(())
    }

    /// Refuses a run that does not extend the tip (or follows a failed view read).
    fn start_run(&self, items: &[CommitItem<'_>]) -> Result<(), StoreError> {
        if let Some(failure) = self.read_failure.take() {
            return Err(StoreError::ViewReadFailed(failure));
        }
        let mut parent = self.tip.clone();
        for CommitItem { block, .. } in items {
            check_extends(&parent, block)?;
            parent = block.header();
        }
        Ok(())
    }

    /// The store's view after a run was committed.
    fn finish_run(&mut self, items: &[CommitItem<'_>], tree: Option<&TreeChanges>) {
        let Some(last) = items.last() else {
            return;
        };
        self.tip = last.block.header();
        if let Some(changes) = tree {
            self.tree_version = changes.version;
        }
        self.miniledger_reproducible &= items
            .iter()
            .all(|item| reproducible_by_miniledger(item.block));
        tracing::debug!(
            from = items[0].block.height,
            to = last.block.height,
            txs = items
                .iter()
                .map(|item| item.block.transactions.len())
                .sum::<usize>(),
            state_writes = items.iter().map(|item| item.delta.len()).sum::<usize>(),
            "blocks committed"
        );
    }
}

/// Writes the rows of a non-empty run (blocks, transactions, state, nonces, entry terms) in a
/// new write transaction, left open for the caller to add the tree and commit. Returns it
/// with a description of the run for errors.
fn write_run<'c>(
    conn: &'c mut Connection,
    items: &[CommitItem<'_>],
    terms: &[Option<u64>],
) -> Result<(rusqlite::Transaction<'c>, String), StoreError> {
    let (from, to) = (items[0].block.height, items[items.len() - 1].block.height);
    let what = match items.len() {
        1 => format!("block {from}"),
        _ => format!("blocks {from}..={to}"),
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .op_with(|| format!("starting the write of {what}"))?;
    for item in items {
        let block = item.block;
        let json = serde_json::to_string(block).map_err(|source| StoreError::Encode {
            height: block.height,
            source,
        })?;
        write_block(&tx, item, &json)?;
    }
    for (item, term) in items.iter().zip(terms) {
        if let Some(term) = term {
            raft::set_block_term(&tx, item.block.height, *term)?;
        }
    }
    // Persisted Raft entries at or below the new tip are now blocks (however they came:
    // committed entries or BlockSync); a no-op outside Raft.
    raft::drop_committed(&tx, to)?;
    Ok((tx, what))
}

/// What the pipeline hands the block writer of [`Store::commit_streamed`].
enum Streamed {
    /// `blocks[i]` was accepted, with these effects.
    Block(usize, Arc<Executed>),
    /// No more blocks: write the tree changes and commit.
    Finish(TreeChanges),
}

/// The writer side of [`Store::commit_streamed`]: each accepted block's rows as it comes, in
/// one transaction opened at the first, committed at `Finish` (a closed channel without it
/// rolls everything back). Returns how many blocks were committed.
fn write_streamed(
    conn: &mut Connection,
    blocks: &[Block],
    terms: &[Option<u64>],
    mut parent: BlockHeader,
    writes: std::sync::mpsc::Receiver<Streamed>,
) -> Result<usize, StoreError> {
    let first = blocks.first().map_or(0, |b| b.height);
    let what = |to: u64| format!("blocks {first}..={to}");
    // Nothing is opened before the first accepted block.
    let mut streamed = match writes.recv() {
        Ok(Streamed::Block(i, executed)) => Streamed::Block(i, executed),
        Ok(Streamed::Finish(_)) | Err(_) => return Ok(0),
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .op_with(|| format!("starting the write of {}", what(first)))?;
    let mut count = 0;
    loop {
        match streamed {
            Streamed::Block(i, executed) => {
                let block = &blocks[i];
                check_extends(&parent, block)?;
                let json = serde_json::to_string(block).map_err(|source| StoreError::Encode {
                    height: block.height,
                    source,
                })?;
                write_block(&tx, &CommitItem::new(block, &executed), &json)?;
                if let Some(Some(term)) = terms.get(i) {
                    raft::set_block_term(&tx, block.height, *term)?;
                }
                parent = block.header();
                count += 1;
            }
            Streamed::Finish(changes) => {
                raft::drop_committed(&tx, parent.height)?;
                tree::write(&tx, &changes, parent.height)?;
                tx.commit()
                    .op_with(|| format!("committing {}", what(parent.height)))?;
                return Ok(count);
            }
        }
        // A closed channel without `Finish`: the dropped transaction rolls back.
        let Ok(next) = writes.recv() else {
            return Ok(0);
        };
        streamed = next;
    }
}

/// One block for [`Store::commit_blocks`] (core's, shared with the node's storage trait).
pub use miniledger_core::node::CommitItem;

/// Refuses a block that does not directly follow `parent`.
fn check_extends(parent: &BlockHeader, block: &Block) -> Result<(), StoreError> {
    let reason = if block.height != parent.height + 1 {
        format!("the tip is at height {}", parent.height)
    } else if block.previous_hash != parent.hash {
        format!(
            "previousHash {} is not the tip's hash {}",
            block.previous_hash, parent.hash
        )
    } else {
        return Ok(());
    };
    Err(StoreError::NotNextBlock {
        height: block.height,
        reason,
    })
}

/// Writes every row of one block inside the caller's SQLite transaction.
pub(crate) fn write_block(
    conn: &Connection,
    item: &CommitItem<'_>,
    json: &str,
) -> Result<(), StoreError> {
    let CommitItem {
        block,
        delta,
        next_nonces,
    } = *item;
    blocks::insert(conn, block, json)?;
    // Nonces first: a transaction row refers to its sender's row in `nonces`.
    state::store_nonces(conn, next_nonces, block.height)?;
    transactions::insert_all(conn, block)?;
    state::apply_delta(conn, delta, block.height)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use miniledger_core::hash::ZERO_HASH;
    use miniledger_core::state::StateDelta;
    use miniledger_core::Keypair;
    use std::collections::HashMap;

    fn synchronous(store: &Store) -> i64 {
        (store.conn)
            .query_row("PRAGMA synchronous", [], |row| row.get(0))
            .unwrap()
    }

    /// A `Logged` commit skips its own fsync only: the Raft writes after it are FULL again.
    #[test]
    fn a_logged_commit_leaves_the_next_writes_synced() {
        let dir = tempfile::TempDir::new().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(synchronous(&store), 2, "FULL from the start");
        let tip = store.tip();
        let key = Keypair::from_seed([7; 32]);
        let block = Block::build(&tip, tip.timestamp + 1, vec![], ZERO_HASH.into(), &key);
        let (delta, nonces) = (StateDelta::default(), HashMap::new());
        let item = CommitItem {
            block: &block,
            delta: &delta,
            next_nonces: &nonces,
        };
        (store.commit_run_with(&[item], None, &[Some(1)], Durability::Logged)).unwrap();
        assert_eq!(store.tip().height, 1);
        assert_eq!(synchronous(&store), 2, "FULL again after a Logged commit");
        // A refused Logged commit (not on the tip) restores FULL too.
        let refused = store.commit_run_with(&[item], None, &[Some(1)], Durability::Logged);
        assert!(refused.is_err());
        assert_eq!(synchronous(&store), 2);
    }
}
