//! Stays (machines that move between shops): where an event's time falls, what provisioning
//! may change, migrated stores and damaged stay rows.

use super::schema::{MIGRATIONS, SCHEMA_VERSION};
use super::*;
use crate::event::{EventBody, Frame, Material};

const T0: i64 = 1_709_625_600; // 2024-03-05T08:00:00Z
const HOUR: i64 = 3_600;

fn mounting(machine: u32, seq: u64, time: i64, shop: u32) -> UsageEvent {
    UsageEvent {
        machine: MachineId(machine),
        seq,
        time,
        shop: ShopId(shop),
        body: EventBody::Mounting {
            frame: Frame::FullRim,
            material: Material::Index150,
            remake: false,
        },
    }
}

fn reading(machine: u32, seq: u64, time: i64, shop: u32, count: u64, removal: bool) -> UsageEvent {
    UsageEvent {
        body: EventBody::Counter {
            total_cycles: count,
            mountings: count,
            trace_only: 0,
            removal,
            health: None,
        },
        ..mounting(machine, seq, time, shop)
    }
}

/// (accepted, refused wrong-shop) of one event, committed.
fn send(e: &mut SqliteEngine, event: UsageEvent) -> (u64, u64) {
    let r = e.ingest(&[event]).unwrap();
    e.commit().unwrap();
    (r.accepted, r.rejected_wrong_shop)
}

/// Machine 7 installed at shop 1 at T0, removed at T0 + 10 h, then provisioned at shop 2
/// without a time: its stay there begins the second after the removal read.
fn moved(path: &Path) -> SqliteEngine {
    let mut e = SqliteEngine::open(path).unwrap();
    e.provision_at(&[(MachineId(7), ShopId(1))], T0).unwrap();
    assert_eq!(send(&mut e, reading(7, 1, T0, 1, 100, false)), (1, 0));
    assert_eq!(
        send(&mut e, reading(7, 2, T0 + 10 * HOUR, 1, 110, true)),
        (1, 0)
    );
    e.provision(&[(MachineId(7), ShopId(2))]).unwrap();
    e
}

#[test]
fn an_event_belongs_to_the_stay_holding_its_time_both_ends_included() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite");
    let mut e = moved(&path);
    let removal = T0 + 10 * HOUR;
    let cases = [
        (mounting(7, 10, T0 - 1, 1), (0, 1), "before its first stay"),
        (mounting(7, 11, T0, 1), (1, 0), "at the installation"),
        (mounting(7, 12, removal, 1), (1, 0), "at the removal read"),
        (
            mounting(7, 13, removal + 1, 1),
            (0, 1),
            "shop 1 after its removal read",
        ),
        (
            mounting(7, 14, removal + 1, 2),
            (1, 0),
            "shop 2 from the second after",
        ),
        (
            mounting(7, 15, removal, 2),
            (0, 1),
            "shop 2 before its stay",
        ),
    ];
    for round in ["live", "after a restart"] {
        for (event, expected, what) in cases {
            let event = UsageEvent {
                seq: event.seq + if round == "live" { 0 } else { 100 },
                ..event
            };
            assert_eq!(send(&mut e, event), expected, "{what}, {round}");
        }
        drop(e);
        e = SqliteEngine::open(&path).unwrap();
    }
    let usage = e.usage(Period::of_unix(T0)).unwrap();
    let of = |shop| {
        usage
            .iter()
            .find(|r| r.shop == ShopId(shop))
            .map(|r| r.billable_mountings)
    };
    assert_eq!((of(1), of(2)), (Some(4), Some(2)));
}

#[test]
fn a_move_needs_the_removal_read_and_a_start_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = SqliteEngine::open(&dir.path().join("m.sqlite")).unwrap();
    e.provision(&[(MachineId(8), ShopId(1)), (MachineId(9), ShopId(1))])
        .unwrap();
    send(&mut e, reading(8, 1, T0, 1, 5, false));
    let still = e
        .provision_at(&[(MachineId(8), ShopId(2))], T0 + HOUR)
        .unwrap_err();
    assert_eq!(still.class(), ErrorClass::Conflict);
    assert!(still.to_string().contains("not a removal read"), "{still}");
    send(&mut e, reading(8, 2, T0 + HOUR, 1, 6, true));
    let early = e
        .provision_at(&[(MachineId(8), ShopId(2))], T0 + HOUR)
        .unwrap_err();
    assert!(
        early.to_string().contains("must begin after that"),
        "{early}"
    );
    e.provision_at(&[(MachineId(8), ShopId(2))], T0 + HOUR + 1)
        .unwrap();
    assert_eq!(send(&mut e, mounting(8, 3, T0 + HOUR + 1, 2)), (1, 0));

    // Not removed and provisioned without a time: rebound, as provisioning always did.
    e.provision(&[(MachineId(9), ShopId(2))]).unwrap();
    assert_eq!(send(&mut e, mounting(9, 1, T0, 1)), (0, 1));
    assert_eq!(send(&mut e, mounting(9, 2, T0, 2)), (1, 0));
}

#[test]
fn a_version_5_store_migrates_and_its_machines_can_move() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite");
    {
        let conn = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..5] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(&format!(
            "PRAGMA user_version = 5;
             INSERT INTO machines VALUES (0, 3);
             INSERT INTO readings(source, seq, time, subject, total_cycles, mountings, trace_only, removal)
                 VALUES (0, 1, {T0}, 3, 10, 10, 0, 0), (0, 2, {}, 3, 17, 17, 0, 1);
             INSERT INTO seen VALUES (0, 1, 2);",
            T0 + HOUR
        ))
        .unwrap();
    }
    let mut e = SqliteEngine::open(&path).unwrap();
    let version: i64 = e
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(
        send(&mut e, mounting(0, 3, T0 - 86_400, 3)),
        (1, 0),
        "since ever"
    );
    e.provision_at(&[(MachineId(0), ShopId(4))], T0 + 2 * HOUR)
        .unwrap();
    drop(e);
    let mut e = SqliteEngine::open(&path).unwrap();
    assert_eq!(send(&mut e, mounting(0, 4, T0 + 2 * HOUR, 4)), (1, 0));
    assert_eq!(send(&mut e, mounting(0, 5, T0 + 2 * HOUR, 3)), (0, 1));
    assert_eq!(
        send(&mut e, mounting(0, 6, T0 + HOUR, 3)),
        (1, 0),
        "late, first stay"
    );
    assert_eq!(e.vee_differences().unwrap(), 0);
}

#[test]
fn damaged_stays_are_an_error_naming_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = dir.path().join("m.sqlite");
    drop(moved(&pristine));
    let damages = [
        (
            "UPDATE ended_stays SET stay = 1",
            "table `ended_stays`, row (machine 7, stay 1)",
        ),
        (
            "UPDATE ended_stays SET until = since - 1",
            "table `ended_stays`",
        ),
        ("UPDATE ended_stays SET shop = -2", "table `ended_stays`"),
        (
            "UPDATE machines SET since = 0 WHERE id = 7",
            "table `machines`, row id 7",
        ),
        (
            "DELETE FROM machines WHERE id = 7",
            "table `machines`, row id 7",
        ),
    ];
    for (sql, place) in damages {
        let damaged = dir.path().join("damaged.sqlite");
        let _ = std::fs::remove_file(&damaged);
        let conn = Connection::open(&pristine).unwrap();
        conn.execute_batch(&format!("VACUUM INTO '{}'", damaged.display()))
            .unwrap();
        drop(conn);
        Connection::open(&damaged)
            .unwrap()
            .execute_batch(sql)
            .unwrap();
        let error = match SqliteEngine::open(&damaged) {
            Ok(_) => panic!("{sql}: the damage went unnoticed"),
            Err(e) => e.to_string(),
        };
        assert!(error.contains(place), "{sql}: {error}");
    }
}
