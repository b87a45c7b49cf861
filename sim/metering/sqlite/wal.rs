//! SQLite's WAL copied into the database off the commit path, and restarted before it grows
//! to the writer's backstop.

use rusqlite::Connection;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// SQLite's automatic WAL checkpoint runs inside a commit, every 1000 pages by default: a
/// stall of several ms on the commit path that every request in the next group waits for. A
/// background connection copies the WAL into the database instead (PASSIVE: it never blocks
/// the writer), every `WAL_CHECKPOINT_EVERY`; the writer's own automatic checkpoint is kept
/// only as a backstop, at 65,536 pages (256 MB of WAL), if the background one falls behind.
///
/// A PASSIVE checkpoint never lets the WAL start over while the writer keeps writing: it
/// copies the frames there were when it began, and the writer has added more by the time it
/// ends, so the WAL only restarts from its beginning after a checkpoint that found nothing
/// new — at a steady 400 k events/s, never. The WAL then grew to the backstop every ≈ 7 s
/// and the writer's own checkpoint stalled that commit 28–32 ms (measured in the server).
/// So once the WAL holds `WAL_RESTART_FRAMES`, the background connection follows its PASSIVE
/// copy with a RESTART one: it holds the writer lock while it copies the few frames written
/// meanwhile and resets the WAL to its start (≈ 0.85 ms measured at 400 k events/s, once
/// every ≈ 3.5 s), and the writer waits on its fine-grained busy handler (`writer_busy`).
pub(super) struct WalCheckpointer {
    stop: Arc<AtomicBool>,
    /// WAL restarts so far (read by the tests).
    #[cfg_attr(not(test), allow(dead_code))]
    restarts: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub(super) const WAL_CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// WAL frames (pages) from which a tick also restarts the WAL: 128 MB, half the backstop.
pub(super) const WAL_RESTART_FRAMES: i64 = 32_768;

/// The checkpointer's wait for the writer lock, per try, and the tries before it gives up
/// the restart until the next tick (≈ 20 ms: the writer's transactions last well under that).
const RESTART_POLL: Duration = Duration::from_micros(50);
const RESTART_TRIES: i32 = 400;

/// The writer's wait for a lock held by another connection (the RESTART above), per try,
/// and the tries before it reports the store busy (≈ 5 s, SQLite's default timeout in
/// rusqlite). SQLite's own handler sleeps 1, 2, 5, 10 ms… between tries: a writer behind a
/// 0.85 ms restart would wait ≥ 1 ms, and often 3 or 8.
const WRITER_POLL: Duration = Duration::from_micros(100);
const WRITER_TRIES: i32 = 50_000;

/// The writer connection's busy handler: retries every `WRITER_POLL`, `WRITER_TRIES` times.
pub(super) fn writer_busy(tries: i32) -> bool {
    if tries >= WRITER_TRIES {
        return false;
    }
    std::thread::sleep(WRITER_POLL);
    true
}

fn restart_busy(tries: i32) -> bool {
    if tries >= RESTART_TRIES {
        return false;
    }
    std::thread::sleep(RESTART_POLL);
    true
}

impl WalCheckpointer {
    /// Starts the background checkpoints; without a second connection (a store that cannot be
    /// opened twice), the writer's automatic checkpoint does the work alone.
    pub(super) fn start(path: &Path) -> WalCheckpointer {
        WalCheckpointer::start_with(path, WAL_CHECKPOINT_EVERY, WAL_RESTART_FRAMES)
    }

    fn start_with(path: &Path, every: Duration, restart_frames: i64) -> WalCheckpointer {
        let stop = Arc::new(AtomicBool::new(false));
        let restarts = Arc::new(AtomicU64::new(0));
        let thread = Connection::open(path).ok().and_then(|conn| {
            conn.busy_handler(Some(restart_busy)).ok()?;
            let stop = stop.clone();
            let restarts = restarts.clone();
            std::thread::Builder::new()
                .name("fleetsim-wal".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::park_timeout(every);
                        // A busy or failed checkpoint is retried at the next tick.
                        if tick(&conn, restart_frames) {
                            restarts.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
                .ok()
        });
        WalCheckpointer {
            stop,
            restarts,
            thread,
        }
    }

    /// WAL restarts so far.
    #[cfg(test)]
    fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }
}

/// One tick: the PASSIVE copy, then a RESTART if the WAL holds `restart_frames` or more.
/// Whether the WAL was restarted.
fn tick(conn: &Connection, restart_frames: i64) -> bool {
    // (busy, frames in the WAL, frames copied), as of the checkpoint's start.
    let checkpoint = |mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })
    };
    match checkpoint("PASSIVE") {
        Ok((0, frames)) if frames >= restart_frames => {
            matches!(checkpoint("RESTART"), Ok((0, _)))
        }
        _ => false,
    }
}

impl Drop for WalCheckpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames of a WAL file of `bytes` (32-byte header, 24-byte frame headers, 4 KB pages).
    fn frames(bytes: u64) -> u64 {
        bytes.saturating_sub(32) / (24 + 4096)
    }

    /// A writer that never checkpoints itself, writing steadily: the WAL restarts from its
    /// start once it passes the threshold, so its file stays near the threshold instead of
    /// holding everything written.
    #[test]
    fn the_wal_restarts_instead_of_growing_with_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let writer = Connection::open(&path).unwrap();
        writer.busy_handler(Some(writer_busy)).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;
                 CREATE TABLE t(x BLOB NOT NULL);",
            )
            .unwrap();
        let restart_frames = 64;
        let checkpointer =
            WalCheckpointer::start_with(&path, Duration::from_millis(1), restart_frames);
        let blob = vec![7u8; 3000];
        let rounds = 20;
        let mut written = 0;
        for round in 0..rounds {
            // ≥ 100 frames a round (each row fills most of a page), past the threshold.
            for _ in 0..100 {
                writer
                    .execute("INSERT INTO t VALUES (?1)", [&blob])
                    .unwrap();
                written += 1;
            }
            // The next restart, waited for (not timed): the round's frames are copied and
            // the next round writes from the WAL's start.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while checkpointer.restarts() <= round {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no restart after round {round}"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let wal = std::fs::metadata(dir.path().join("s.sqlite-wal"))
            .unwrap()
            .len();
        // Without restarts the WAL holds every commit's frames (≥ 2,000 here).
        assert!(
            frames(wal) < written / 4,
            "{} frames in the WAL after {written} commits",
            frames(wal)
        );
        drop(checkpointer);
        let count: u64 = writer
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, written, "every committed row is in the store");
    }
}
