//! WAL checkpoints off the committing thread. SQLite's automatic checkpoint runs inside the
//! commit that crosses the threshold, copying pages back into the database file on the node's
//! loop (about a tenth of a synced block's cost). Here the writer's WAL hook only wakes a
//! thread with its own connection, which runs a PASSIVE checkpoint (it never blocks the
//! writer or readers); the writer keeps appending meanwhile.

use super::error::{Context, StoreError};
use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// WAL size (pages) that asks for a checkpoint: SQLite's own default threshold.
const CHECKPOINT_PAGES: i32 = 1000;

#[derive(Default)]
struct Signal {
    state: Mutex<Wake>,
    changed: Condvar,
}

#[derive(Default)]
struct Wake {
    wanted: bool,
    stop: bool,
}

impl Signal {
    fn set(&self, f: impl FnOnce(&mut Wake)) {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner));
        self.changed.notify_one();
    }
}

/// The checkpoint thread of one database; stopped and joined when dropped.
pub(crate) struct Checkpointer {
    signal: Arc<Signal>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread and hands `writer`'s checkpoints to it (the hook replaces SQLite's
    /// automatic checkpoint on that connection).
    pub(crate) fn start(writer: &mut Connection, path: &Path) -> Result<Self, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .op_with(|| format!("cannot open {} for checkpoints", path.display()))?;
        conn.busy_timeout(Duration::from_secs(5))
            .op("setting the busy timeout")?;
        // A connection only learns the database is in WAL mode once it reads it; until then
        // checkpoints are no-ops.
        let _: String = conn
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .op("reading the journal mode")?;
        let signal = Arc::new(Signal::default());
        let hook_signal = Arc::clone(&signal);
        writer
            .wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
                if pages >= CHECKPOINT_PAGES {
                    hook_signal.set(|w| w.wanted = true);
                }
                Ok(())
            }))
            .op("installing the WAL hook")?;
        let thread_signal = Arc::clone(&signal);
        let thread = std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || run(&conn, &thread_signal))
            .map_err(|e| StoreError::Unsupported(format!("cannot start a thread: {e}")))?;
        Ok(Checkpointer {
            signal,
            thread: Some(thread),
        })
    }
}

fn run(conn: &Connection, signal: &Signal) {
    loop {
        {
            let guard = signal.state.lock().unwrap_or_else(PoisonError::into_inner);
            let mut wake = signal
                .changed
                .wait_while(guard, |w| !w.wanted && !w.stop)
                .unwrap_or_else(PoisonError::into_inner);
            if wake.stop {
                return;
            }
            wake.wanted = false;
        }
        // A failed checkpoint loses nothing (the WAL keeps the pages); the next one retries.
        if let Err(error) = conn.wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE) {
            tracing::warn!(%error, "WAL checkpoint failed; retrying after the next commit");
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.signal.set(|w| w.stop = true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
