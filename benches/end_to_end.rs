//! Throughput benchmarks. Goals (issue #2): the French fleet over 48 months (≈ 80 M events)
//! end to end in under 60 s on 2 cores, i.e. ≥ 1.35 M events/s. The full-size figure comes
//! from `cargo run --release -- run scenarios/france.toml`; these benches track the same
//! paths at a size criterion can repeat.
//!
//! Run: `cargo bench --bench end_to_end` (or `-- end_to_end` for one group; `-- seen` for the
//! dedup set alone).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fleetsim::billing::{rate_period, PriceBook};
use fleetsim::calendar::Period;
use fleetsim::event::{EventBody, Frame, MachineId, Material, ShopId, UsageEvent};
use fleetsim::metering::seen::SeenSet;
use fleetsim::metering::sqlite::SqliteEngine;
use fleetsim::metering::{MeteringEngine, UsageRow};
use fleetsim::money::{Currency, UnitPrice};
use fleetsim::run::{run, RunOptions};
use fleetsim::scenario;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

/// A France-like fleet slice: calibrated demand, 2 months.
const SCENARIO: &str = r#"
[scenario]
name = "bench"
seed = 7
[calendar]
start = "2024-01-01"
months = 2
[fleet]
shops = 1000
[faults]
duplicate_share = 0.01
[output]
html = false
"#;

fn end_to_end(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario =
        scenario::parse(Path::new("bench.toml"), SCENARIO).expect("bench scenario is valid");
    let opts = RunOptions {
        out: Some(dir.path().to_path_buf()),
        seed: None,
        threads: 2,
        quiet: true,
    };
    let events = run(scenario.clone(), &opts)
        .expect("bench run")
        .summary
        .run
        .events;
    let mut group = c.benchmark_group("end_to_end");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(events));
    group.bench_function("1000_shops_2_months", |b| {
        b.iter(|| {
            let result = run(scenario.clone(), &opts).expect("bench run");
            assert!(
                result.reconciliation.ok,
                "a benchmark that loses events measures nothing"
            );
            black_box(result.summary.run.events)
        })
    });
    group.finish();
}

/// Events as the simulator delivers them: day by day, each day sorted by machine.
fn day_batches(machines: u32, days: u32, per_machine_day: u64) -> Vec<Vec<UsageEvent>> {
    let body = EventBody::Mounting {
        frame: Frame::FullRim,
        material: Material::Index150,
        remake: false,
    };
    (0..days)
        .map(|day| {
            let time = 1_704_067_200 + i64::from(day) * 86_400 + 36_000;
            (0..machines)
                .flat_map(|m| {
                    (0..per_machine_day).map(move |k| UsageEvent {
                        machine: MachineId(m),
                        seq: u64::from(day) * per_machine_day + k + 1,
                        time,
                        shop: ShopId(m),
                        body,
                    })
                })
                .collect()
        })
        .collect()
}

fn ingest(c: &mut Criterion) {
    let (machines, days, per) = (10_000, 10, 5);
    let batches = day_batches(machines, days, per);
    let total: u64 = batches.iter().map(|b| b.len() as u64).sum();
    let bindings: Vec<_> = (0..machines).map(|m| (MachineId(m), ShopId(m))).collect();
    let mut group = c.benchmark_group("ingest");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(total));
    group.bench_function(BenchmarkId::new("sqlite_in_process", "10k_machines"), |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("temp dir");
                let mut engine = SqliteEngine::open(&dir.path().join("m.sqlite")).expect("open");
                engine.provision(&bindings).expect("provision");
                (dir, engine)
            },
            |(dir, mut engine)| {
                for batch in &batches {
                    engine.ingest(batch).expect("ingest");
                }
                engine.commit().expect("commit");
                drop(engine);
                dir
            },
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// What a checkpoint costs (the one commit in 2^21 events that writes `seen` and usage for
/// every machine touched since the last one: here all 15,000 of a French-size fleet) against
/// an ordinary group commit, and what opening a store costs when 2^21 events wait past its
/// checkpoint (the most a crash leaves to replay).
fn checkpoint(c: &mut Criterion) {
    let machines = 15_000u32;
    let bindings: Vec<_> = (0..machines).map(|m| (MachineId(m), ShopId(m))).collect();
    let one_day = day_batches(machines, 1, 1).remove(0);
    let mut group = c.benchmark_group("store");
    group.sample_size(10);
    for (name, every) in [
        ("commit_15k_machines_checkpoint", 1),
        ("commit_15k_machines_plain", u64::MAX),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let mut engine =
                        SqliteEngine::open(&dir.path().join("m.sqlite")).expect("open");
                    engine.provision(&bindings).expect("provision");
                    engine.set_checkpoint_every(every);
                    engine.ingest(&one_day).expect("ingest");
                    (dir, engine)
                },
                |(dir, mut engine)| {
                    engine.commit().expect("commit");
                    (dir, engine)
                },
                criterion::BatchSize::PerIteration,
            )
        });
    }
    // ≈ 2^21 events past the checkpoint: 1,000 machines × 21 days × 100 events.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("m.sqlite");
    {
        let mut engine = SqliteEngine::open(&path).expect("open");
        let small: Vec<_> = bindings[..1000].to_vec();
        engine.provision(&small).expect("provision");
        engine.set_checkpoint_every(u64::MAX);
        for batch in day_batches(1000, 21, 100) {
            engine.ingest(&batch).expect("ingest");
            engine.commit().expect("commit");
        }
    }
    group.throughput(Throughput::Elements(2_100_000));
    group.bench_function("open_replaying_2.1M_events", |b| {
        b.iter(|| black_box(SqliteEngine::open(&path).expect("open")))
    });
    group.finish();
}

/// Sequence numbers in the orders a machine's events can arrive in: in order (the fast path),
/// reversed, and two streams interleaved (the even ones first, then the odd ones that were
/// held back; and the same reversed), which leave a gap at every other number until the
/// second stream fills them. Each case inserts `SEEN_EVENTS` numbers into an empty set.
fn seen_orders() -> Vec<(&'static str, Vec<u64>)> {
    let n = SEEN_EVENTS;
    let evens = || (1..=n / 2).map(|k| 2 * k);
    let odds = || (1..=n / 2).map(|k| 2 * k - 1);
    vec![
        ("ascending", (1..=n).collect()),
        ("descending", (1..=n).rev().collect()),
        ("interleaved", evens().chain(odds()).collect()),
        (
            "interleaved_descending",
            evens().rev().chain(odds().rev()).collect(),
        ),
    ]
}

const SEEN_EVENTS: u64 = 20_000;

fn seen(c: &mut Criterion) {
    let mut group = c.benchmark_group("seen");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(SEEN_EVENTS));
    for (name, order) in seen_orders() {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut set = SeenSet::default();
                for &seq in &order {
                    set.insert(seq);
                }
                assert_eq!(set.len(), SEEN_EVENTS, "{name}: every number inserted once");
                black_box(set)
            })
        });
    }
    group.finish();
}

fn rating(c: &mut Criterion) {
    let shops = 13_144u32;
    let book = PriceBook {
        currency: Currency("EUR".into()),
        per_mounting: (0..shops)
            .map(|s| UnitPrice::parse(if s % 3 == 0 { "3.80" } else { "3.20" }).expect("price"))
            .collect(),
    };
    let usage: Vec<UsageRow> = (0..shops)
        .map(|s| UsageRow {
            shop: ShopId(s),
            billable_mountings: u64::from(s % 250),
            trace_only: u64::from(s % 40),
            ..UsageRow::default()
        })
        .collect();
    let mut group = c.benchmark_group("rating");
    group.throughput(Throughput::Elements(u64::from(shops)));
    group.bench_function("france_one_month_invoices", |b| {
        b.iter(|| {
            black_box(
                rate_period(
                    Period {
                        year: 2024,
                        month: 1,
                    },
                    &usage,
                    &book,
                )
                .expect("rate"),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, end_to_end, ingest, seen, checkpoint, rating);
criterion_main!(benches);
