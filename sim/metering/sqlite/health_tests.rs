//! The embedded engine's `machine_health`: kept with each reading in the log, rebuilt at open.

use super::schema::SCHEMA_VERSION;
use super::*;
use crate::event::{EventBody, Health};
use crate::service::Cause;

const JAN_2: i64 = 1_704_186_000;
const DAY: i64 = 86_400;

fn reading(machine: u32, seq: u64, day: i64, health: Option<Health>) -> UsageEvent {
    UsageEvent {
        machine: MachineId(machine),
        seq,
        time: JAN_2 + day * DAY,
        shop: ShopId(machine),
        body: EventBody::Counter {
            total_cycles: 10 * seq,
            mountings: 10 * seq,
            trace_only: 0,
            removal: false,
            health,
        },
    }
}

fn worn(permille: u16, warning: Option<Cause>) -> Option<Health> {
    Some(Health {
        wheel_wear_permille: permille,
        warning,
    })
}

fn open(path: &Path) -> SqliteEngine {
    let mut e = SqliteEngine::open(path).unwrap();
    e.provision(&[0, 1, 2].map(|m| (MachineId(m), ShopId(m))))
        .unwrap();
    e
}

/// (machine, seq, wear, warning) of each report since `since`.
fn reports(e: &mut SqliteEngine, since: i64) -> Vec<(u32, u64, u16, Option<Cause>)> {
    let kept = e.machine_health(since).unwrap();
    kept.iter()
        .map(|h| {
            (
                h.machine.0,
                h.seq,
                h.health.wheel_wear_permille,
                h.health.warning,
            )
        })
        .collect()
}

#[test]
fn the_latest_health_is_the_same_after_a_restart_and_a_crash_forgets_the_uncommitted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite");
    let mut e = open(&path);
    e.set_checkpoint_every(2);
    e.ingest(&[
        reading(0, 1, 0, worn(100, None)),
        reading(1, 1, 0, worn(300, Some(Cause::WaterPump))),
        reading(0, 2, 1, worn(110, Some(Cause::SpindleMotor))),
        reading(2, 1, 1, None),
    ])
    .unwrap();
    e.commit().unwrap();
    let committed = reports(&mut e, i64::MIN);
    assert_eq!(
        committed,
        [
            (0, 2, 110, Some(Cause::SpindleMotor)),
            (1, 1, 300, Some(Cause::WaterPump))
        ]
    );
    e.ingest(&[reading(1, 2, 2, worn(320, None))]).unwrap();
    assert_eq!(reports(&mut e, i64::MIN)[1], (1, 2, 320, None), "ingested");
    drop(e); // no commit: a crash
    let mut e = SqliteEngine::open(&path).unwrap();
    assert_eq!(reports(&mut e, i64::MIN), committed);
    assert_eq!(
        e.stored_events_of(MachineId(0)).unwrap()[1],
        reading(0, 2, 1, worn(110, Some(Cause::SpindleMotor))),
        "the log keeps each reading's health as it came"
    );
}

#[test]
fn a_late_older_reading_or_one_without_health_leaves_the_latest_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite");
    let mut e = open(&path);
    e.ingest(&[
        reading(0, 5, 5, worn(500, None)),
        // An outage's backlog, delivered late: older readings of the same machine.
        reading(0, 3, 3, worn(300, Some(Cause::Clamping))),
        reading(0, 4, 4, worn(400, None)),
        // Newer, but without health: the machine stopped reporting it.
        reading(0, 6, 6, None),
    ])
    .unwrap();
    e.commit().unwrap();
    assert_eq!(reports(&mut e, i64::MIN), [(0, 5, 500, None)]);
    // A duplicate of an accepted reading never replaces it, whatever it says.
    e.ingest(&[reading(0, 5, 9, worn(999, None))]).unwrap();
    e.commit().unwrap();
    drop(e);
    let mut e = SqliteEngine::open(&path).unwrap();
    assert_eq!(reports(&mut e, i64::MIN), [(0, 5, 500, None)]);
}

#[test]
fn since_is_on_the_event_time_and_inclusive() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = open(&dir.path().join("m.sqlite"));
    e.ingest(&[
        reading(2, 1, 0, worn(20, None)),
        reading(1, 1, 3, worn(10, None)),
    ])
    .unwrap();
    let machines = |e: &mut SqliteEngine, since| -> Vec<u32> {
        reports(e, since).iter().map(|r| r.0).collect()
    };
    assert_eq!(machines(&mut e, JAN_2), [1, 2], "in machine order");
    assert_eq!(machines(&mut e, JAN_2 + 1), [1]);
    assert_eq!(machines(&mut e, JAN_2 + 3 * DAY), [1]);
    assert_eq!(machines(&mut e, JAN_2 + 3 * DAY + 1), Vec::<u32>::new());
}

#[test]
fn a_version_5_store_gets_the_health_columns_and_its_readings_report_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite");
    {
        let conn = Connection::open(&path).unwrap();
        for sql in &super::schema::MIGRATIONS[..5] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 5;
             INSERT INTO machines VALUES (0, 0);
             INSERT INTO readings(source, seq, time, subject, total_cycles, mountings, trace_only)
                 VALUES (0, 1, 1704067200, 0, 10, 10, 0);
             INSERT INTO seen VALUES (0, 1, 1);",
        )
        .unwrap();
    }
    let mut e = SqliteEngine::open(&path).unwrap();
    let version: i64 = e
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert!(reports(&mut e, i64::MIN).is_empty());
    let stored = e.stored_events_of(MachineId(0)).unwrap();
    assert!(matches!(
        stored[0].body,
        EventBody::Counter { health: None, .. }
    ));
    e.ingest(&[reading(0, 2, 0, worn(7, None))]).unwrap();
    e.commit().unwrap();
    assert_eq!(reports(&mut e, i64::MIN), [(0, 2, 7, None)]);
}
