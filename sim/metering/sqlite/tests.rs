//! The embedded store: dedup, restarts, migrations, VEE replay, checkpoints.

use super::schema::{MIGRATIONS, SCHEMA_VERSION};
use super::*;
use crate::event::{EventBody, Frame, Material};

fn mounting(machine: u32, seq: u64, shop: u32) -> UsageEvent {
    UsageEvent {
        machine: MachineId(machine),
        seq,
        time: 1_704_186_000,
        shop: ShopId(shop),
        body: EventBody::Mounting {
            frame: Frame::FullRim,
            material: Material::Index150,
            remake: false,
        },
    }
}

fn engine(dir: &Path) -> SqliteEngine {
    let mut e = SqliteEngine::open(&dir.join("m.sqlite")).unwrap();
    e.provision(&[(MachineId(0), ShopId(0)), (MachineId(1), ShopId(1))])
        .unwrap();
    e
}

#[test]
fn duplicates_are_counted_once_across_batches_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(dir.path());
    let batch: Vec<_> = (1..=100).map(|s| mounting(0, s, 0)).collect();
    assert_eq!(e.ingest(&batch).unwrap().accepted, 100);
    assert_eq!(e.ingest(&batch[10..20]).unwrap().duplicates, 10);
    e.commit().unwrap();
    drop(e);
    let mut e = SqliteEngine::open(&dir.path().join("m.sqlite")).unwrap();
    let again = e.ingest(&batch).unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 100));
    assert_eq!(e.stored_events().unwrap(), 100);
}

#[test]
fn uncommitted_events_are_not_seen_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(dir.path());
    e.ingest(&[mounting(0, 1, 0)]).unwrap();
    e.commit().unwrap();
    e.ingest(&[mounting(0, 2, 0)]).unwrap();
    drop(e); // no commit: a crash
    let mut e = SqliteEngine::open(&dir.path().join("m.sqlite")).unwrap();
    let r = e.ingest(&[mounting(0, 1, 0), mounting(0, 2, 0)]).unwrap();
    assert_eq!((r.accepted, r.duplicates), (1, 1));
}

#[test]
fn stored_events_read_back_exactly_as_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(dir.path());
    let sent = vec![
        mounting(0, 1, 0),
        UsageEvent {
            body: EventBody::Mounting {
                frame: Frame::Drilled,
                material: Material::Mineral,
                remake: true,
            },
            ..mounting(0, 2, 0)
        },
        UsageEvent {
            body: EventBody::TraceOnly {
                frame: Frame::Grooved,
            },
            ..mounting(0, 3, 0)
        },
        UsageEvent {
            body: EventBody::Counter {
                total_cycles: 3,
                mountings: 2,
                trace_only: 1,
                removal: false,
                health: None,
            },
            time: 1_704_216_600,
            ..mounting(0, 4, 0)
        },
        UsageEvent {
            body: EventBody::Counter {
                total_cycles: 4,
                mountings: 3,
                trace_only: 1,
                removal: true,
                health: None,
            },
            time: 1_704_303_000,
            ..mounting(0, 5, 0)
        },
    ];
    e.ingest(&sent).unwrap();
    e.commit().unwrap();
    assert_eq!(e.stored_events_of(MachineId(0)).unwrap(), sent);
}

#[test]
fn rejects_unknown_machines_and_wrong_shops() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(dir.path());
    let r = e
        .ingest(&[mounting(9, 1, 0), mounting(1, 1, 0), mounting(1, 1, 1)])
        .unwrap();
    assert_eq!(
        (
            r.rejected_unknown_machine,
            r.rejected_wrong_shop,
            r.accepted
        ),
        (1, 1, 1)
    );
}

fn counter(machine: u32, seq: u64, time: i64, mountings: u64) -> UsageEvent {
    UsageEvent {
        body: EventBody::Counter {
            total_cycles: mountings,
            mountings,
            trace_only: 0,
            removal: false,
            health: None,
        },
        time,
        ..mounting(machine, seq, 0)
    }
}

/// A store as fleetsim left it at schema `version` (its first `version` migrations), plus
/// `rows` written then.
fn store_at_version(path: &Path, version: usize, rows: &str) {
    let conn = Connection::open(path).unwrap();
    for sql in &MIGRATIONS[..version] {
        conn.execute_batch(sql).unwrap();
    }
    conn.execute_batch(&format!("PRAGMA user_version = {version}; {rows}"))
        .unwrap();
}

fn schema_version(e: &SqliteEngine) -> i64 {
    e.conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_version_1_store_gets_its_readings_validated_when_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.sqlite");
    store_at_version(
        &path,
        1,
        "INSERT INTO machines VALUES (0, 0);
         INSERT INTO readings VALUES (0, 1, 1704067200, 0, 10, 10, 0), (0, 2, 1704223800, 0, 17, 17, 0);
         INSERT INTO seen VALUES (0, 1, 2);",
    );
    let mut e = SqliteEngine::open(&path).unwrap();
    assert_eq!(
        e.vee_differences().unwrap(),
        0,
        "every v1 reading was validated at open"
    );
    let steps: i64 = e
        .conn
        .query_row("SELECT SUM(step_m) FROM readings", [], |r| r.get(0))
        .unwrap();
    assert_eq!(steps, 7);
    let jan = Period {
        year: 2024,
        month: 1,
    };
    assert_eq!(e.counter_usage(jan).unwrap()[0].usage.actual.mountings, 7);
}

#[test]
fn vee_state_is_replayed_exactly_after_a_restart_and_closes_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let jan = Period {
        year: 2024,
        month: 1,
    };
    let mut e = engine(dir.path());
    e.set_contracts(&[Contract {
        shop: ShopId(0),
        basis: Basis::Counters,
        price_per_mounting: crate::money::UnitPrice::parse("2").unwrap(),
        currency: crate::money::Currency("EUR".into()),
    }])
    .unwrap();
    e.ingest(&[
        counter(0, 1, 1_704_067_200, 0),
        counter(0, 2, 1_704_223_800, 5),
    ])
    .unwrap();
    let issued = e.close_period(jan).unwrap();
    assert_eq!(issued.len(), 1);
    assert_eq!(
        issued[0].billed_mountings(),
        5 + issued[0].lines[1].quantity,
        "usage plus the estimate"
    );
    assert!(e.close_period(jan).unwrap().is_empty());
    drop(e);
    let mut e = SqliteEngine::open(&dir.path().join("m.sqlite")).unwrap();
    assert_eq!(e.invoices(jan).unwrap(), issued);
    assert!(
        e.close_period(jan).unwrap().is_empty(),
        "still closed after a restart"
    );
    // The estimate is outstanding in the replayed state: February's first read reverses it.
    e.ingest(&[counter(0, 3, 1_707_000_000, 9)]).unwrap();
    let feb = e.counter_usage(jan.next()).unwrap();
    assert_eq!(
        feb[0].usage.reversed.mountings,
        issued[0].lines[1].quantity as u64
    );
    assert_eq!(e.vee_differences().unwrap(), 0);
}

#[test]
fn a_version_3_store_keeps_its_price_contracts_when_migrated_to_plans() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite");
    store_at_version(
        &path,
        3,
        "INSERT INTO machines VALUES (0, 0);
         INSERT INTO contracts VALUES (0, 'events', '3.85', 'EUR');",
    );
    let mut e = SqliteEngine::open(&path).unwrap();
    assert_eq!(schema_version(&e), SCHEMA_VERSION);
    assert_eq!(e.catalogue().unwrap(), None);
    e.ingest(&[mounting(0, 1, 0), mounting(0, 2, 0)]).unwrap();
    e.commit().unwrap();
    let jan = Period {
        year: 2024,
        month: 1,
    };
    let issued = e.close_period(jan).unwrap();
    assert_eq!(issued[0].total_cents, 770, "2 × 3.85, as before");
    assert!(e.invoice_notes(jan).unwrap().is_empty());
}

/// Machine `m` (shop `m`) read daily at 19:30 from Jan 1 to Jan 10, +5 a day; the Jan 10
/// read is the removal read when `removed`.
fn ten_january_reads(m: u32, removed: bool) -> Vec<UsageEvent> {
    (0..10u64)
        .map(|day| UsageEvent {
            body: EventBody::Counter {
                total_cycles: 5 * day,
                mountings: 5 * day,
                trace_only: 0,
                removal: removed && day == 9,
                health: None,
            },
            time: 1_704_137_400 + day as i64 * 86_400,
            ..mounting(m, day + 1, m)
        })
        .collect()
}

/// The removal flag is in the log, so a reopened store (log replay) still knows machine 0
/// is removed: the same counter usage, and January and February close without estimating
/// it, while machine 1, read the same way without the flag, is estimated.
#[test]
fn a_removal_read_survives_a_reopen_and_stops_estimates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite");
    let jan = Period {
        year: 2024,
        month: 1,
    };
    let mut e = engine(dir.path());
    e.ingest(&ten_january_reads(0, true)).unwrap();
    e.ingest(&ten_january_reads(1, false)).unwrap();
    e.commit().unwrap();
    let before = e.counter_usage(jan).unwrap();
    drop(e);

    let mut e = SqliteEngine::open(&path).unwrap();
    assert_eq!(e.counter_usage(jan).unwrap(), before);
    assert_eq!(before[0].usage.actual.mountings, 45);
    e.close_period(jan.next()).unwrap();
    drop(e);

    let mut e = SqliteEngine::open(&path).unwrap();
    for period in [jan, jan.next()] {
        let rows = e.counter_usage(period).unwrap();
        let (removed, kept) = (&rows[0], &rows[1]);
        assert_eq!(removed.estimated_machines, 0, "{period}");
        assert!(removed.usage.estimate.is_zero(), "{period}");
        assert_eq!(kept.estimated_machines, 1, "{period}");
        assert!(kept.usage.estimate.mountings > 0, "{period}");
    }
    assert_eq!(e.vee_differences().unwrap(), 0);
    let explained = e.explain_machine(MachineId(0)).unwrap().unwrap();
    let last = explained.readings.last().unwrap();
    assert!(last.raw.removal);
    assert!(
        last.explanation.contains("removal read"),
        "{}",
        last.explanation
    );
}

#[test]
fn a_version_4_store_gets_the_removal_column_when_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite");
    store_at_version(
        &path,
        4,
        "INSERT INTO machines VALUES (0, 0);
         INSERT INTO readings(source, seq, time, subject, total_cycles, mountings, trace_only)
             VALUES (0, 1, 1704067200, 0, 10, 10, 0), (0, 2, 1704223800, 0, 17, 17, 0);
         INSERT INTO seen VALUES (0, 1, 2);",
    );
    let mut e = SqliteEngine::open(&path).unwrap();
    assert_eq!(schema_version(&e), SCHEMA_VERSION);
    let stored = e.stored_events_of(MachineId(0)).unwrap();
    assert!(
        stored
            .iter()
            .all(|s| matches!(s.body, EventBody::Counter { removal: false, .. })),
        "readings stored before v5 are end-of-day reads: {stored:?}"
    );
    assert_eq!(e.vee_differences().unwrap(), 0);
    // A removal read after the migration is kept with its flag.
    let removal = UsageEvent {
        body: EventBody::Counter {
            total_cycles: 20,
            mountings: 20,
            trace_only: 0,
            removal: true,
            health: None,
        },
        ..counter(0, 3, 1_704_310_200, 20)
    };
    e.ingest(&[removal]).unwrap();
    e.commit().unwrap();
    assert_eq!(e.stored_events_of(MachineId(0)).unwrap()[2], removal);
}

#[test]
fn another_counter_width_on_an_existing_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite");
    let four_digits = VeeConfig {
        modulus: 10_000,
        ..VeeConfig::default()
    };
    drop(SqliteEngine::open_with(&path, Some(four_digits)).unwrap());
    assert_eq!(SqliteEngine::open(&path).unwrap().vee_config(), four_digits);
    let err = SqliteEngine::open_with(&path, Some(VeeConfig::default()))
        .err()
        .unwrap();
    assert!(err.to_string().contains("cannot switch"), "{err}");
}

#[test]
fn usage_aggregate_equals_recomputation_from_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(dir.path());
    let mut batch: Vec<_> = (1..=77).map(|s| mounting(0, s, 0)).collect();
    batch.extend((1..=5).map(|s| mounting(1, s, 1)));
    batch.extend((1..=5).map(|s| mounting(1, s, 1)));
    e.ingest(&batch).unwrap();
    e.commit().unwrap();
    let period = Period {
        year: 2024,
        month: 1,
    };
    let usage = e.usage(period).unwrap();
    assert_eq!(usage, e.recompute_usage(period).unwrap());
    assert_eq!(usage[0].billable_mountings, 77);
    assert_eq!(usage[1].billable_mountings, 5);
}

/// One step of a crash-and-restart history: a batch of (machine, seq, day) events,
/// committed or lost in a crash.
#[derive(Clone, Debug)]
struct Step {
    events: Vec<(u32, u64, i64)>,
    committed: bool,
    reopen: bool,
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    (
        proptest::collection::vec((0u32..2, 1u64..40, 0i64..60), 0..30),
        proptest::bool::weighted(0.8),
        proptest::bool::weighted(0.3),
    )
        .prop_map(|(events, committed, reopen)| Step {
            events,
            committed,
            reopen,
        })
}

/// Replays a history with a given checkpoint interval; returns the usage of both
/// periods and how a final resend of everything is received.
fn run_history(steps: &[Step], every: u64, slice: usize) -> (Vec<Vec<UsageRow>>, (u64, u64)) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite");
    let mut e = engine(dir.path());
    e.set_checkpoint_every(every);
    e.set_checkpoint_slice(slice);
    let as_events = |events: &[(u32, u64, i64)]| -> Vec<UsageEvent> {
        events
            .iter()
            .map(|&(m, seq, day)| UsageEvent {
                time: 1_704_186_000 + day * 86_400,
                ..mounting(m, seq, m)
            })
            .collect()
    };
    let mut all = Vec::new();
    for s in steps {
        let batch = as_events(&s.events);
        e.ingest(&batch).unwrap();
        all.extend(batch);
        if s.committed {
            e.commit().unwrap();
        }
        if s.reopen || !s.committed {
            drop(e);
            e = SqliteEngine::open(&path).unwrap();
            e.set_checkpoint_every(every);
            e.set_checkpoint_slice(slice);
        }
    }
    e.commit().unwrap();
    let periods = [Period::from_key(202401), Period::from_key(202402)];
    let usage: Vec<Vec<UsageRow>> = periods.iter().map(|p| e.usage(*p).unwrap()).collect();
    for (p, u) in periods.iter().zip(&usage) {
        assert_eq!(
            u,
            &e.recompute_usage(*p).unwrap(),
            "aggregate = sum of events"
        );
    }
    drop(e);
    let mut e = SqliteEngine::open(&path).unwrap();
    let resend = e.ingest(&all).unwrap();
    (usage, (resend.accepted, resend.duplicates))
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// Checkpointing is invisible: whatever the interval, however many commits a checkpoint
    /// is spread over (slice 1: a machine and a usage row per commit) and wherever the crashes
    /// fall, usage and deduplication are those of a store that checkpoints at every commit.
    #[test]
    fn checkpoint_interval_and_crashes_do_not_change_what_is_stored(
        steps in proptest::collection::vec(step(), 1..8)
    ) {
        let every_commit = run_history(&steps, 1, usize::MAX);
        for (every, slice) in [(1, 1), (3, 1), (3, 256), (17, 1), (u64::MAX, 1)] {
            proptest::prop_assert_eq!(&run_history(&steps, every, slice), &every_commit);
        }
    }
}

// A damaged or foreign store: an error naming the table and the row, never a panic.

const JAN_2: i64 = 1_704_186_000; // 2024-01-02T09:00:00Z
const DAY: i64 = 86_400;

fn jan() -> Period {
    Period {
        year: 2024,
        month: 1,
    }
}

/// A store with a row in every table a read decodes: jobs of each kind and readings of three
/// machines, price contracts on both bases and a plan contract with an open estimate, a closed
/// January (invoices, notes, counter usage), February incidents, and a log tail past the
/// last checkpoint.
fn full_store(path: &Path) {
    let mut e = SqliteEngine::open(path).unwrap();
    let machines = [0, 1, 2].map(|m| (MachineId(m), ShopId(m)));
    e.provision(&machines).unwrap();
    e.set_catalogue(include_str!("../../../scenarios/catalogue/default.toml"))
        .unwrap();
    let price = |shop, basis| Contract {
        shop: ShopId(shop),
        basis,
        price_per_mounting: crate::money::UnitPrice::parse("3.85").unwrap(),
        currency: crate::money::Currency("EUR".into()),
    };
    e.set_contracts(&[price(0, Basis::Events), price(1, Basis::Counters)])
        .unwrap();
    let plan = PlanAgreement {
        shop: ShopId(2),
        basis: Basis::Counters,
        terms: PlanTerms {
            plan: "per_mounting".into(),
            segment: None,
            price_override: None,
            service: Some("maintenance".into()),
            options: Vec::new(),
            start: chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            term_months: None,
            terminated_on: None,
        },
    };
    e.set_plan_contracts(&[plan]).unwrap();
    let mut events = vec![
        mounting(0, 1, 0),
        UsageEvent {
            body: EventBody::TraceOnly {
                frame: Frame::Drilled,
            },
            ..mounting(0, 2, 0)
        },
    ];
    // Machines 1 and 2 read daily; machine 2 stops on Jan 10, so January is estimated.
    // Machine 1 reports its health.
    let read = |m: u32, seq: u64, time: i64, count: u64| {
        let mut e = UsageEvent {
            shop: ShopId(m),
            ..counter(m, seq, time, count)
        };
        if let (1, EventBody::Counter { health, .. }) = (m, &mut e.body) {
            *health = Some(crate::event::Health {
                wheel_wear_permille: seq as u16,
                warning: (seq % 3 == 0).then_some(crate::service::Cause::Clamping),
            });
        }
        e
    };
    for day in 0..20 {
        events.push(read(1, day as u64 + 1, JAN_2 + day * DAY, 10 * day as u64));
        if day < 9 {
            events.push(read(2, day as u64 + 1, JAN_2 + day * DAY, 5 * day as u64));
        }
    }
    let receipt = e.ingest(&events).unwrap();
    assert_eq!(receipt.accepted, events.len() as u64);
    e.commit().unwrap();
    e.close_period(jan()).unwrap();
    let incident = Incident {
        response_hours: "30".parse().unwrap(),
        repair_hours: "50".parse().unwrap(),
        labour_minutes: 90,
        visits: 1,
        parts_cost: "120.00".parse().unwrap(),
    };
    e.record_incidents(ShopId(2), jan().next(), &[incident])
        .unwrap();
    // February's first events stay in the log tail.
    let feb = JAN_2 + 31 * DAY;
    e.ingest(&[
        UsageEvent {
            time: feb,
            ..mounting(0, 3, 0)
        },
        read(1, 40, feb, 400),
    ])
    .unwrap();
    e.commit().unwrap();
}

/// Every read the engine serves, then a close: the first error, if any.
fn read_everything(path: &Path) -> Result<(), MeteringError> {
    let mut e = SqliteEngine::open(path)?;
    for period in [jan(), jan().next()] {
        e.usage(period)?;
        e.counter_usage(period)?;
        e.invoices(period)?;
        e.invoice_notes(period)?;
    }
    for m in 0..3 {
        e.explain_machine(MachineId(m))?;
        e.stored_events_of(MachineId(m))?;
    }
    e.machine_health(i64::MIN)?;
    e.recompute_usage(jan())?;
    e.close_period(jan().next())?;
    Ok(())
}

#[test]
fn a_damaged_store_is_an_error_naming_the_table_and_row_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = dir.path().join("pristine.sqlite");
    full_store(&pristine);
    // Reading writes (checkpoints, a close): the undamaged twin shows the reads succeed.
    let twin = dir.path().join("twin.sqlite");
    full_store(&twin);
    read_everything(&twin).expect("the undamaged store reads back");
    let last = |table: &str| format!("(SELECT MAX(rowid) FROM {table})");
    let damages: Vec<(String, &str)> = vec![
        (
            format!(
                "UPDATE events SET attrs = 15 WHERE rowid = {}",
                last("events")
            ),
            "table `events`, row",
        ),
        (
            "UPDATE events SET attrs = 3 << 4 | 7 << 4 WHERE rowid = 1".into(),
            "table `events`, row 1",
        ),
        (
            format!(
                "UPDATE events SET type = 7 WHERE rowid = {}",
                last("events")
            ),
            "table `events`",
        ),
        (
            format!(
                "UPDATE events SET source = -5 WHERE rowid = {}",
                last("events")
            ),
            "table `events`",
        ),
        (
            format!(
                "UPDATE events SET subject = 99999999 WHERE rowid = {}",
                last("events")
            ),
            "table `events`",
        ),
        (
            format!(
                "UPDATE events SET seq = -1 WHERE rowid = {}",
                last("events")
            ),
            "table `events`",
        ),
        (
            "UPDATE readings SET removal = 7 WHERE rowid = 3".into(),
            "table `readings`, row 3",
        ),
        (
            "UPDATE readings SET source = 4000000000 WHERE rowid = 1".into(),
            "table `readings`, row 1",
        ),
        (
            "UPDATE readings SET wheel_wear_permille = 1001 WHERE rowid = 3".into(),
            "table `readings`, row 3: wheel_wear_permille = 1001",
        ),
        (
            "UPDATE readings SET wheel_wear_permille = 10, warning = 6 WHERE rowid = 3".into(),
            "table `readings`, row 3: warning = 6",
        ),
        (
            "UPDATE readings SET wheel_wear_permille = NULL, warning = 2 WHERE rowid = 3".into(),
            "table `readings`, row 3: warning = 2",
        ),
        (
            "INSERT INTO machines(id, shop) VALUES (4294967296, 0)".into(),
            "table `machines`, row id 4294967296",
        ),
        (
            "UPDATE machines SET shop = 123456789 WHERE id = 1".into(),
            "table `machines`, row id 1",
        ),
        (
            "UPDATE machines SET id = -1 WHERE id = 2".into(),
            "table `machines`, row id -1",
        ),
        (
            "UPDATE seen SET lo = hi + 5 WHERE source = 1".into(),
            "table `seen`",
        ),
        (
            "UPDATE seen SET source = -3 WHERE source = 0".into(),
            "table `seen`",
        ),
        (
            "UPDATE checkpoint SET events_through = -7".into(),
            "table `checkpoint`",
        ),
        (
            "UPDATE usage SET events_through = 1000000 WHERE shop = 0".into(),
            "table `usage`, row (period 202401, shop 0): events_through = 1000000",
        ),
        (
            "UPDATE usage SET readings_through = -1 WHERE shop = 1".into(),
            "table `usage`, row (period 202401, shop 1): readings_through = -1",
        ),
        (
            "UPDATE closes SET period = 202413".into(),
            "table `closes`, row period 202413",
        ),
        (
            "UPDATE usage SET shop = -2 WHERE shop = 0".into(),
            "table `usage`",
        ),
        (
            "UPDATE usage SET invoiced_mountings = billable_mountings + 10 WHERE shop = 0".into(),
            "table `usage`",
        ),
        (
            "UPDATE counter_usage SET actual_m = -4".into(),
            "table `counter_usage`",
        ),
        (
            "UPDATE counter_usage SET estimated_machines = -1".into(),
            "table `counter_usage`",
        ),
        (
            "UPDATE invoice_lines SET kind = 'bogus' WHERE shop = 0".into(),
            "table `invoice_lines`, row (period 2024-01, shop 0)",
        ),
        (
            "UPDATE invoice_lines SET usage_period = 202400 WHERE shop = 1".into(),
            "table `invoice_lines`",
        ),
        (
            "UPDATE invoice_lines SET unit_price = 'three' WHERE shop = 1".into(),
            "table `invoice_lines`",
        ),
        (
            "UPDATE invoices SET basis = 'x' WHERE shop = 1".into(),
            "table `invoices`",
        ),
        (
            "UPDATE invoices SET shop = 10000000 WHERE shop = 1".into(),
            "table `invoices`",
        ),
        (
            "UPDATE contracts SET basis = 'x' WHERE shop = 0".into(),
            "table `contracts`, row shop 0",
        ),
        (
            "UPDATE contracts SET price = 'abc' WHERE shop = 1".into(),
            "table `contracts`, row shop 1",
        ),
        (
            "UPDATE contracts SET plan = '{' WHERE shop = 2".into(),
            "table `contracts`, row shop 2",
        ),
        (
            "UPDATE incidents SET visits = -1".into(),
            "table `incidents`",
        ),
        (
            "UPDATE incidents SET parts_cost = 'lots'".into(),
            "table `incidents`",
        ),
        (
            "UPDATE vee_notes SET period = 5".into(),
            "table `vee_notes`",
        ),
        (
            "UPDATE plan_billed SET mountings = -3 WHERE estimate_left > 0".into(),
            "table `plan_billed`",
        ),
        (
            "UPDATE invoice_notes SET shop = -1".into(),
            "table `invoice_notes`",
        ),
        (
            "UPDATE settings SET value = 'nope' WHERE key = 'catalogue'".into(),
            "stored catalogue",
        ),
        (
            "UPDATE settings SET value = 'wide' WHERE key = 'vee.modulus'".into(),
            "table `settings`, row vee.modulus",
        ),
        (
            "DELETE FROM settings WHERE key = 'vee.spike_factor'".into(),
            "table `settings`, row vee.spike_factor",
        ),
    ];
    for (sql, place) in damages {
        let damaged = dir.path().join("damaged.sqlite");
        std::fs::copy(&pristine, &damaged).unwrap();
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(dir.path().join(format!("damaged.sqlite{suffix}")));
        }
        let conn = Connection::open(&damaged).unwrap();
        assert!(conn.execute_batch(&sql).is_ok(), "{sql}");
        drop(conn);
        let outcome = std::panic::catch_unwind(|| read_everything(&damaged));
        let error = match outcome {
            Err(_) => panic!("{sql}: the engine panicked"),
            Ok(Ok(())) => panic!("{sql}: the damage went unnoticed"),
            Ok(Err(e)) => e.to_string(),
        };
        assert!(error.contains(place), "{sql}: {error}");
    }
}

#[test]
fn a_foreign_or_non_sqlite_file_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("crm.sqlite");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE customers(id INTEGER, name TEXT)")
        .unwrap();
    let refused = SqliteEngine::open(&foreign).err().unwrap().to_string();
    assert!(
        refused.contains("not a fleetsim metering store: it holds tables (customers)"),
        "{refused}"
    );
    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        b"this is a text file, long enough to have a header: not SQLite at all",
    )
    .unwrap();
    let refused = SqliteEngine::open(&text).err().unwrap().to_string();
    assert!(
        refused.contains("notes.txt") && refused.contains("not a database"),
        "{refused}"
    );
}

#[test]
fn machine_ids_above_the_limit_are_refused_before_they_size_anything() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = SqliteEngine::open(&dir.path().join("m.sqlite")).unwrap();
    let refused = e
        .provision(&[(MachineId(MAX_ID + 1), ShopId(0))])
        .unwrap_err();
    assert_eq!(refused.class(), ErrorClass::Invalid);
    assert!(refused.to_string().contains("M10000000"), "{refused}");
    e.provision(&[(MachineId(MAX_ID), ShopId(MAX_ID))]).unwrap();
}

/// Every integer of an event is kept exactly: the largest sequence number the wire
/// allows (i64::MAX) and counters over the whole u64 range, also after a reopen. A
/// sequence number beyond i64::MAX is refused whole, never clamped onto another event.
#[test]
fn integers_are_stored_exactly_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(dir.path());
    let top = i64::MAX as u64;
    let extremes = vec![
        mounting(0, top - 1, 0),
        UsageEvent {
            body: EventBody::Counter {
                total_cycles: u64::MAX,
                mountings: u64::MAX - 1,
                trace_only: top + 1,
                removal: false,
                health: None,
            },
            ..mounting(0, top, 0)
        },
    ];
    assert_eq!(e.ingest(&extremes).unwrap().accepted, 2);
    e.commit().unwrap();
    let beyond = [mounting(1, 1, 1), mounting(1, top + 1, 1)];
    let refused = e.ingest(&beyond);
    assert!(
        matches!(&refused, Err(MeteringError::Unstorable(m)) if m.contains("9223372036854775807")),
        "{refused:?}"
    );
    assert_eq!(
        e.ingest(&beyond[..1]).unwrap().accepted,
        1,
        "nothing of the refused batch was counted"
    );
    e.commit().unwrap();
    drop(e);
    let mut e = SqliteEngine::open(&dir.path().join("m.sqlite")).unwrap();
    assert_eq!(e.stored_events_of(MachineId(0)).unwrap(), extremes);
    assert_eq!(e.ingest(&extremes).unwrap().duplicates, 2);
}

/// A close of a store without contracts or counter readings visits only the periods
/// holding usage, and the last: closing through December 2030 after usage in January and
/// March 2024 closes 3 periods one by one, not 84; the store is closed through 2030 all the
/// same (also after a reopen), and the usage was taken. With a contract, every month is
/// invoiced, so every month is closed.
#[test]
fn a_close_visits_the_periods_holding_data_not_the_calendar_span() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite");
    let mut e = engine(dir.path());
    let march = UsageEvent {
        time: 1_709_287_200,
        ..mounting(0, 2, 0)
    };
    e.ingest(&[mounting(0, 1, 0), march]).unwrap();
    e.commit().unwrap();
    let p = |year, month| Period { year, month };
    assert!(e.close_period(p(2030, 12)).unwrap().is_empty());
    assert_eq!(e.periods_closed(), 3);
    assert!(
        e.close_period(p(2030, 12)).unwrap().is_empty(),
        "idempotent"
    );
    assert_eq!(e.periods_closed(), 3);
    drop(e);
    let mut e = SqliteEngine::open(&path).unwrap();
    let skipped = e.record_incidents(ShopId(0), p(2027, 5), &[]);
    assert!(
        matches!(skipped, Err(MeteringError::PeriodClosed { .. })),
        "{skipped:?}"
    );
    // The usage was invoiced (taken) by the close: a contract set now bills none of it.
    e.set_contracts(&[Contract {
        shop: ShopId(0),
        basis: Basis::Events,
        price_per_mounting: crate::money::UnitPrice::parse("3.00").unwrap(),
        currency: crate::money::Currency("EUR".into()),
    }])
    .unwrap();
    let next = e.close_period(p(2031, 3)).unwrap();
    assert_eq!(
        e.periods_closed(),
        3,
        "since the reopen: every month of a contract"
    );
    assert_eq!(next.len(), 3);
    assert!(next.iter().all(|i| i.total_cents == 0), "{next:?}");
}

/// The WAL thread's RESTART checkpoint holds the write lock for a moment; a store operation that
/// meets it must wait its turn, not fail "database is locked" (see `Store::begin`).
#[test]
fn a_close_waits_for_another_connections_write_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite");
    let mut e = engine(dir.path());
    e.ingest(&[mounting(0, 1, 0), mounting(1, 1, 1)]).unwrap();
    e.commit().unwrap();
    let (locked, is_locked) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let other = rusqlite::Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        other.execute_batch("COMMIT").unwrap();
    });
    is_locked.recv().unwrap();
    let jan = Period {
        year: 2024,
        month: 1,
    };
    let closed = e.close_period(jan);
    holder.join().unwrap();
    assert!(closed.is_ok(), "{closed:?}");
}
