//! SQLite's WAL copied into the database off the commit path.

use rusqlite::Connection;
use std::path::Path;

/// SQLite's automatic WAL checkpoint runs inside a commit, every 1000 pages by default: a
/// stall of several ms on the commit path that every request in the next group waits for. A
/// background connection copies the WAL into the database instead (PASSIVE: it never blocks
/// the writer), every `WAL_CHECKPOINT_EVERY`; the writer's own automatic checkpoint is kept
/// only as a backstop, at 65,536 pages (256 MB of WAL), if the background one falls behind.
pub(super) struct WalCheckpointer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub(super) const WAL_CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

impl WalCheckpointer {
    /// Starts the background checkpoints; without a second connection (a store that cannot be
    /// opened twice), the writer's automatic checkpoint does the work alone.
    pub(super) fn start(path: &Path) -> WalCheckpointer {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = Connection::open(path).ok().and_then(|conn| {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("fleetsim-wal".into())
                .spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        std::thread::park_timeout(WAL_CHECKPOINT_EVERY);
                        // A busy or failed checkpoint is retried at the next tick.
                        let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
                    }
                })
                .ok()
        });
        WalCheckpointer { stop, thread }
    }
}

impl Drop for WalCheckpointer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
