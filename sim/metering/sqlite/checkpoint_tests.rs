//! Checkpoints spread over commits: a crash or a read in the middle of one changes nothing
//! of what the store holds.

use super::checkpoint::log_ends;
use super::*;
use crate::event::{EventBody, Frame, Material};

const JAN_2: i64 = 1_704_186_000; // 2024-01-02T09:00:00Z
const DAY: i64 = 86_400;
const MACHINES: u32 = 10;

/// Batch `b`: every machine (its own shop) edges a pair (a trace-only cycle on odd machines)
/// and reads its counters, on day 8·b: batches 0 to 3 in January, the next in February.
fn batch(b: u64) -> Vec<UsageEvent> {
    let time = JAN_2 + 8 * DAY * b as i64;
    let mut events = Vec::new();
    for m in 0..MACHINES {
        let job = if m % 2 == 0 {
            EventBody::Mounting {
                frame: Frame::FullRim,
                material: Material::Index150,
                remake: b % 3 == 0,
            }
        } else {
            EventBody::TraceOnly {
                frame: Frame::Drilled,
            }
        };
        let read = EventBody::Counter {
            total_cycles: 10 * (b + 1),
            mountings: 10 * (b + 1),
            trace_only: 0,
            removal: false,
            health: None,
        };
        for (seq, body) in [(2 * b + 1, job), (2 * b + 2, read)] {
            events.push(UsageEvent {
                machine: MachineId(m),
                seq,
                time,
                shop: ShopId(m),
                body,
            });
        }
    }
    events
}

/// A store whose checkpoints come every 15 events and write 3 machines and usage rows per
/// commit: a round of 10 machines and shops spans 4 commits or more.
fn open(path: &Path) -> SqliteEngine {
    let mut e = SqliteEngine::open(path).unwrap();
    e.set_checkpoint_every(15);
    e.set_checkpoint_slice(3);
    e
}

fn provisioned(path: &Path) -> SqliteEngine {
    let mut e = open(path);
    let machines: Vec<_> = (0..MACHINES).map(|m| (MachineId(m), ShopId(m))).collect();
    e.provision(&machines).unwrap();
    e
}

fn periods() -> [Period; 2] {
    [Period::from_key(202401), Period::from_key(202402)]
}

/// Whether the store is in the middle of a round: a usage row holds events past the
/// checkpoint (read from a connection of its own).
fn mid_round(path: &Path) -> bool {
    let conn = Connection::open(path).unwrap();
    conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM usage, checkpoint
                       WHERE usage.events_through > checkpoint.events_through)",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

/// Usage the store serves equals the sum of its logged events, and a resend of everything
/// sent finds exactly the `committed` events stored.
fn assert_exact(e: &mut SqliteEngine, sent: &[UsageEvent], committed: u64) {
    for period in periods() {
        let served = e.usage(period).unwrap();
        assert_eq!(served, e.recompute_usage(period).unwrap(), "{period}");
    }
    let resend = e.ingest(sent).unwrap();
    assert_eq!(
        (resend.duplicates, resend.accepted),
        (committed, sent.len() as u64 - committed)
    );
}

#[test]
fn a_crash_at_any_commit_of_a_checkpoint_recovers_exactly() {
    let mut crashed_mid_round = 0;
    for commits in 1..=9 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.sqlite");
        let mut e = provisioned(&path);
        let mut sent = Vec::new();
        for b in 0..commits {
            let events = batch(b);
            assert_eq!(e.ingest(&events).unwrap().accepted, 20);
            e.commit().unwrap();
            sent.extend(events);
        }
        let committed = sent.len() as u64;
        let lost = batch(commits);
        e.ingest(&lost).unwrap();
        sent.extend(lost);
        drop(e); // a crash: the last batch was never committed
        crashed_mid_round += u32::from(mid_round(&path));
        let mut e = open(&path);
        assert_exact(&mut e, &sent, committed);
    }
    // The first round (10 machines, 10 January rows) ends at commit 4; the second, from
    // commit 5 (10 machines, 20 rows of two months), at commit 11: every other crash falls
    // inside one.
    assert_eq!(crashed_mid_round, 8);
}

#[test]
fn a_crash_after_a_restart_mid_checkpoint_recovers_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite");
    let mut e = provisioned(&path);
    let mut sent = Vec::new();
    for b in 0..8 {
        let events = batch(b);
        e.ingest(&events).unwrap();
        e.commit().unwrap();
        sent.extend(events);
        if b % 3 == 1 {
            assert!(mid_round(&path), "batch {b}");
            drop(e);
            e = open(&path);
        }
    }
    drop(e);
    let mut e = open(&path);
    let committed = sent.len() as u64;
    assert_exact(&mut e, &sent, committed);
}

#[test]
fn a_read_in_the_middle_of_a_checkpoint_writes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite");
    let mut e = provisioned(&path);
    let mut sent = Vec::new();
    for b in 0..2 {
        let events = batch(b);
        e.ingest(&events).unwrap();
        e.commit().unwrap();
        sent.extend(events);
    }
    assert!(mid_round(&path));
    let jan = e.usage(periods()[0]).unwrap();
    assert_eq!(jan, e.recompute_usage(periods()[0]).unwrap());
    assert!(e.round.is_none(), "the read wrote the round's rest");
    let checkpoint = checkpoint::load_checkpoint(&e.conn).unwrap();
    assert_eq!(checkpoint, log_ends(&e.conn).unwrap());
    let stored: i64 = e
        .conn
        .query_row("SELECT COUNT(DISTINCT source) FROM seen", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, i64::from(MACHINES));
    drop(e);
    let mut e = open(&path);
    let committed = sent.len() as u64;
    assert_exact(&mut e, &sent, committed);
}
