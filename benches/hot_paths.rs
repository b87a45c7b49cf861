//! The hot paths, one criterion group each (issue 13, item 10): demand per shop-day, event
//! encoding, ingestion into the embedded store, rating a close, and the HTTP sender. Each
//! group sets `Throughput`, so criterion prints elements/s next to the time, and states its
//! goal below.
//!
//! The goals come from one budget: France over 48 months (scenarios/france.toml: 13,144
//! shops, 19.2 M shop-days, 77.7 M events) in under 60 s on 2 cores, i.e. ≥ 1.3 M events/s
//! end to end and 120 CPU-s in all (≈ 1.5 µs of CPU per event; the run uses ≈ 0.8 today,
//! README "Performance"). The building blocks they are set against were measured on this
//! kind of machine (the field notes, ../shared/docs/field-notes.md, "Measured on this kind of
//! machine").
//!
//! What the other benches already cover is not repeated here: decoding a batch
//! (`http_ingest`: `batch/parse_100_events`, the reference decoding beside it), end to end
//! and the store's commit and checkpoint costs (`end_to_end`), `billing::plans::rate` over
//! France's 48 months (`rating`).
//!
//! Times are the CPU time of the bench's thread (`ThreadCpu`), not wall time: the machine's 2
//! cores are shared (other builds, other benches), and a descheduled thread would measure the
//! neighbours; the goals are per core anyway. The sender's group is the exception: a run's
//! wall time, its CPU printed apart.
//!
//! Run: `cargo bench --bench hot_paths` (all five groups, about 95 s), or one group:
//! `-- demand`, `-- encode`, `-- ingest`, `-- rate_close`, `-- sender`.

use chrono::NaiveDate;
use clap::Parser;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, BatchSize, Criterion, SamplingMode, Throughput};
use fleetsim::billing::catalogue::Catalogue;
use fleetsim::billing::catalogue_file;
use fleetsim::billing::close::{
    rate_close, ContractTerms, MemoryLedger, MeteredClose, ResolvedPlans,
};
use fleetsim::billing::service::Incident;
use fleetsim::billing::{Basis, Contract, CounterDue, EventDue, PlanTerms};
use fleetsim::calendar::Period;
use fleetsim::calendar::{Calendar, DayIndex, DayInfo};
use fleetsim::demand::{DemandModel, Job, JobKind};
use fleetsim::event::wire::encode::batch_json;
use fleetsim::event::wire::to_cloudevent;
use fleetsim::event::{EventBody, MachineId, ShopId, UsageEvent};
use fleetsim::fleet::{Fleet, Segment, ShopProfile};
use fleetsim::load::{run_load, LoadArgs, LoadPlan};
use fleetsim::metering::sqlite::SqliteEngine;
use fleetsim::metering::vee::{Channels, VeeConfig};
use fleetsim::metering::{CounterUsageRow, MeteringEngine};
use fleetsim::money::{Currency, UnitPrice};
use fleetsim::rng::{stream, Purpose};
use fleetsim::scenario::{self, Scenario};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[path = "support/fixed_receipt_server.rs"]
mod fixed_receipt_server;

/// The French fleet as a run draws it: the scenario's calibrated demand, every shop's profile.
struct France {
    scenario: Scenario,
    fleet: Fleet,
    calendar: Calendar,
    demand: DemandModel,
}

fn france() -> France {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/france.toml");
    let scenario = scenario::load(&path).expect("france.toml is valid");
    France {
        fleet: Fleet::generate(&scenario),
        calendar: Calendar::new(scenario.start, scenario.months),
        demand: DemandModel::new(&scenario.demand),
        scenario,
    }
}

impl France {
    fn demand_rng(&self, shop: &ShopProfile) -> ChaCha8Rng {
        stream(self.scenario.seed, Purpose::ShopDemand, shop.id.0)
    }

    /// One shop-day as the shop actor draws it (`actors::shop`): a fresh job list, filled
    /// only if the shop's machines are installed and it opens.
    fn shop_day(&self, shop: &ShopProfile, day: &DayInfo, rng: &mut ChaCha8Rng) -> Vec<Job> {
        let mut jobs = Vec::new();
        if shop.in_service.covers(day.index) && self.demand.is_open(shop, day) {
            self.demand.draw_day(shop, day, rng, &mut jobs);
        }
        jobs
    }
}

// ---------------------------------------------------------------------------------------
// 1. Demand per shop-day.

/// Every 52nd day of the 48 months: 29 days over every month, weekday and year.
const DEMAND_DAY_STEP: usize = 52;

/// `DemandModel::draw_day` for every French shop on 29 days spread over the term (each shop
/// on its own stream, days in order, as its actor draws them). Elements: shop-days, open or
/// closed (a run visits them all).
///
/// **Goal: ≥ 6.4 M shop-days/s on one core**, so that France's 19.2 M shop-days take ≤ 3 s
/// of CPU (2.5 % of the 120 CPU-s budget). The building block: ChaCha8 + Poisson per
/// machine-day runs at 77–155 M draws/s; a shop-day adds a Gamma draw and, per job, a frame,
/// an in-store draw, a material and a remake draw (≈ 4 jobs a day on average).
fn demand(c: &mut Criterion<ThreadCpu>) {
    let france = france();
    let days: Vec<DayInfo> = (0..france.calendar.days())
        .step_by(DEMAND_DAY_STEP)
        .map(|d| france.calendar.info(d))
        .collect();
    let draw_all = || {
        let mut jobs = 0usize;
        for shop in &france.fleet.shops {
            let mut rng = france.demand_rng(shop);
            for day in &days {
                jobs += black_box(france.shop_day(shop, day, &mut rng)).len();
            }
        }
        jobs
    };
    let expected = draw_all();
    assert!(expected > 0, "the calibrated fleet has demand");
    let shop_days = (france.fleet.shops.len() * days.len()) as u64;
    println!(
        "demand: {shop_days} shop-days, {expected} jobs ({:.2} a shop-day)",
        expected as f64 / shop_days as f64
    );
    let mut group = c.benchmark_group("demand");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(shop_days));
    group.bench_function("france_13144_shops_x_29_days", |b| {
        b.iter(|| {
            let jobs = draw_all();
            assert_eq!(jobs, expected, "the same streams draw the same jobs");
            jobs
        })
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------
// Events as the machines would emit them, from the calibrated demand (for 2. and 3.).

/// Counters wrap at 10^8 (`[faults] counter_digits = 8` in france.toml).
const COUNTER_MODULUS: u64 = 100_000_000;
const OPENS: i64 = 9 * 3600;
const CLOSES: i64 = 19 * 3600;
const READ_AT: i64 = 19 * 3600 + 1800;

/// What each machine has told so far: its sequence number and its counters.
#[derive(Clone, Copy)]
struct Meter {
    seq: u64,
    counters: Channels<u64>,
}

/// The fleet's days turned into events as the machine actors emit them: each open day a
/// machine takes every n-th of its shop's jobs (n = the shop's machines) at times spread over
/// the opening hours, then reads its counters at the end of the day; its first day starts
/// with a commissioning read of the counters as installed (anywhere in their range). No
/// faults. The real emitter (`actors::machine`) is private to the actors; this one keeps
/// the mix, order and sizes of its events.
struct Emitter<'a> {
    france: &'a France,
    rngs: Vec<ChaCha8Rng>,
    meters: Vec<Meter>,
}

impl<'a> Emitter<'a> {
    fn new(france: &'a France) -> Emitter<'a> {
        let meters = (0..france.fleet.machine_count() as u64)
            .map(|m| {
                let start = mix(m) % COUNTER_MODULUS;
                Meter {
                    seq: 0,
                    counters: Channels {
                        total_cycles: start,
                        mountings: start / 4 * 3,
                        trace_only: start / 4,
                    },
                }
            })
            .collect();
        Emitter {
            rngs: france
                .fleet
                .shops
                .iter()
                .map(|s| france.demand_rng(s))
                .collect(),
            meters,
            france,
        }
    }

    /// Day `index`'s batch, in (machine, seq) order as the coordinator delivers it.
    fn day(&mut self, index: DayIndex) -> Vec<UsageEvent> {
        let day = self.france.calendar.info(index);
        let mut events = Vec::new();
        for shop in &self.france.fleet.shops {
            let jobs = self
                .france
                .shop_day(shop, &day, &mut self.rngs[shop.id.0 as usize]);
            if jobs.is_empty() {
                continue;
            }
            let n = shop.machines.len();
            for (i, &machine) in shop.machines.iter().enumerate() {
                let share: Vec<Job> = jobs.iter().skip(i).step_by(n).copied().collect();
                let meter = &mut self.meters[machine.0 as usize];
                emit_machine_day(meter, machine, shop.id, day.midnight, &share, &mut events);
            }
        }
        events.sort_unstable_by_key(|e| (e.machine, e.seq));
        events
    }
}

fn emit_machine_day(
    meter: &mut Meter,
    machine: MachineId,
    shop: ShopId,
    midnight: i64,
    jobs: &[Job],
    out: &mut Vec<UsageEvent>,
) {
    let mut emit = |meter: &mut Meter, time: i64, body: EventBody| {
        meter.seq += 1;
        out.push(UsageEvent {
            machine,
            seq: meter.seq,
            time,
            shop,
            body,
        });
    };
    if meter.seq == 0 {
        emit(meter, midnight, reading(meter.counters));
    }
    let step = (CLOSES - OPENS) / (jobs.len() as i64 + 1);
    for (i, job) in jobs.iter().enumerate() {
        count_job(&mut meter.counters, job);
        let body = match job.kind {
            JobKind::Mounting { material, remake } => EventBody::Mounting {
                frame: job.frame,
                material,
                remake,
            },
            JobKind::TraceOnly => EventBody::TraceOnly { frame: job.frame },
        };
        emit(meter, midnight + OPENS + step * (i as i64 + 1), body);
    }
    emit(meter, midnight + READ_AT, reading(meter.counters));
}

fn count_job(counters: &mut Channels<u64>, job: &Job) {
    let bump = |c: &mut u64| *c = (*c + 1) % COUNTER_MODULUS;
    bump(&mut counters.total_cycles);
    match job.kind {
        JobKind::Mounting { .. } => bump(&mut counters.mountings),
        JobKind::TraceOnly => bump(&mut counters.trace_only),
    }
}

fn reading(c: Channels<u64>) -> EventBody {
    EventBody::Counter {
        total_cycles: c.total_cycles,
        mountings: c.mountings,
        trace_only: c.trace_only,
        removal: false,
        health: None,
    }
}

/// splitmix64: a fixed, dependency-free value per index.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

// ---------------------------------------------------------------------------------------
// 2. Event encoding.

const BATCH: usize = 100;
const ENCODE_BATCHES: usize = 100;

/// Typed events to CloudEvents JSON batch bytes (`event::wire::encode::batch_json`, what
/// `run --target` and `fleetsim load` do per request), over 100 batches of 100 events from
/// the 10th day of France (mountings, trace-only cycles and end-of-day counter reads, in
/// machine order). Beside it, the reference: `to_cloudevent` and `serde_json`, the bytes
/// `batch_json` must equal (checked here too). Elements: events. Decoding is
/// `http_ingest`'s `batch/parse_100_events`.
///
/// **Goal: ≥ 5 M events/s on one core (≤ 0.2 µs an event)**: a sender at the server's goal of
/// 500 k events/s then spends ≤ 10 % of its core encoding (and France's 1.3 M events/s over
/// HTTP ≤ 26 %), well under the ≈ 9 µs of CPU a request costs a wrk-class sender (one request:
/// 100 events ≈ 20 µs at the goal).
fn encode(c: &mut Criterion<ThreadCpu>) {
    let france = france();
    let mut emitter = Emitter::new(&france);
    let day = (0..10).map(|d| emitter.day(d)).last().expect("ten days");
    let batches: Vec<&[UsageEvent]> = day.chunks(BATCH).take(ENCODE_BATCHES).collect();
    assert_eq!(
        batches.len(),
        ENCODE_BATCHES,
        "a French day holds 10,000 events"
    );
    for batch in &batches {
        assert_eq!(batch_json(batch), reference_json(batch), "the same bytes");
    }
    let mut group = c.benchmark_group("encode");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements((BATCH * ENCODE_BATCHES) as u64));
    group.bench_function("batch_json_100x100_events", |b| {
        b.iter(|| batches.iter().map(|e| batch_json(e).len()).sum::<usize>())
    });
    group.bench_function("reference_serde_100x100_events", |b| {
        b.iter(|| {
            batches
                .iter()
                .map(|e| reference_json(e).len())
                .sum::<usize>()
        })
    });
    group.finish();
}

fn reference_json(events: &[UsageEvent]) -> Vec<u8> {
    let cloud: Vec<_> = events.iter().map(to_cloudevent).collect();
    serde_json::to_vec(&cloud).expect("CloudEvents serialize")
}

// ---------------------------------------------------------------------------------------
// 3. Ingestion.

const INGEST_DAYS: u32 = 7;

/// The embedded store (`SqliteEngine`, VEE on, as `fleetsim run` opens it) ingesting
/// France's first week of events (every machine's commissioning read included), one batch
/// per day in machine order, into a fresh store with every machine provisioned (outside the
/// timing): committing after every day, and once after the 7th (`[engine]
/// commit_every_days`' default). Elements: events. The store's commit and checkpoint costs
/// alone: `end_to_end`'s `store` group.
///
/// **Goal: ≥ 1.5 M events/s on one core.** The ingestion thread sets a run's pace (README
/// "Performance"): France's 77.7 M events in < 60 s needs ≥ 1.3 M events/s on it, with
/// headroom for the store growing over 48 months. The building block: SQLite inserts ≈ 1 M
/// rows/s in key order (1.46 M WITHOUT ROWID), 47–114 k/s interleaved across machines.
fn ingest(c: &mut Criterion<ThreadCpu>) {
    let france = france();
    let mut emitter = Emitter::new(&france);
    let days: Vec<Vec<UsageEvent>> = (0..INGEST_DAYS).map(|d| emitter.day(d)).collect();
    let events: u64 = days.iter().map(|d| d.len() as u64).sum();
    println!(
        "ingest: {} machines, {events} events in {INGEST_DAYS} days",
        france.fleet.machine_count()
    );
    let bindings: Vec<(MachineId, ShopId)> = (0u32..)
        .zip(&france.fleet.machine_shop)
        .map(|(m, &s)| (MachineId(m), s))
        .collect();
    let vee = VeeConfig {
        modulus: france.scenario.faults.counter_modulus(),
        ..VeeConfig::default()
    };
    let fresh_store = || {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut engine =
            SqliteEngine::open_with(&dir.path().join("m.sqlite"), Some(vee)).expect("open");
        engine.provision(&bindings).expect("provision");
        (dir, engine)
    };
    let mut group = c.benchmark_group("ingest");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(events));
    for (name, every) in [("commit_daily", 1), ("commit_after_7_days", 7)] {
        group.bench_function(format!("france_7_days/{name}"), |b| {
            b.iter_batched(
                fresh_store,
                |(dir, mut engine)| {
                    ingest_days(&mut engine, &days, every, events);
                    (dir, engine)
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

/// As the run's ingestion thread: each day's batch, a commit every `every` days and after
/// the last. Every event must be accepted, or the bench measures refusals.
fn ingest_days(engine: &mut SqliteEngine, days: &[Vec<UsageEvent>], every: usize, events: u64) {
    for (i, day) in days.iter().enumerate() {
        engine.ingest(day).expect("ingest");
        if (i + 1) % every == 0 || i + 1 == days.len() {
            engine.commit().expect("commit");
        }
    }
    let receipt = engine.receipt_totals();
    assert_eq!(receipt.accepted, events, "every event accepted once");
}

// ---------------------------------------------------------------------------------------
// 4. Rating a close.

const RATE_SHOPS: u32 = 3_000;
const RATE_MONTHS: u32 = 12;
#[path = "support/plan_mix.rs"]
mod plan_mix;
use plan_mix::{PLANS, SERVICES};

/// `billing::close::rate_close`, the pure step a pricing alternative runs once per close
/// (`pricing::bill_one`, a ledger in memory), over 12 monthly closes of 3,000 shops with one
/// ledger: contracts priced per mounting on event usage (the closing month's usage, one shop
/// in ten with late usage of the month before), the same on counter usage after VEE (one in
/// ten with an estimated tail, reversed the month after), and plan contracts from the default
/// catalogue (five plans, service tiers, options, incidents; counter usage). Elements:
/// invoices. `billing::plans::rate` alone over France: the `rating` bench.
///
/// **Goal: ≥ 630 k invoices/s on one core**: one alternative rates France's 48 months
/// (630,912 invoices) in ≤ 1 s, and a sweep of five (benches/data/france_5alt.toml) in ≤ 5 s
/// of one core, under a tenth of the 60 s budget.
fn rate_close_group(c: &mut Criterion<ThreadCpu>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let catalogue = catalogue_file::load(&root.join("scenarios/catalogue/default.toml"))
        .expect("the default catalogue is valid");
    let invoices = u64::from(RATE_SHOPS * RATE_MONTHS);
    let mut group = c.benchmark_group("rate_close");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(invoices));
    for (name, basis, plans) in [
        ("per_mounting_events", Basis::Events, false),
        ("per_mounting_counters", Basis::Counters, false),
        ("plans_counters", Basis::Counters, true),
    ] {
        let contracts = rate_contracts(basis, plans);
        let closes: Vec<MeteredClose> = (0..RATE_MONTHS).map(|m| metered_close(m, basis)).collect();
        let catalogue = plans.then_some(&catalogue);
        assert_eq!(rate_year(&closes, &contracts, catalogue), invoices);
        group.bench_function(format!("3000_shops_x_12_closes/{name}"), |b| {
            b.iter(|| rate_year(&closes, &contracts, catalogue))
        });
    }
    group.finish();
}

/// Rates the closes in order with one ledger, as an alternative is billed; the invoices.
fn rate_year(
    closes: &[MeteredClose],
    contracts: &[ContractTerms],
    catalogue: Option<&Catalogue>,
) -> u64 {
    let mut ledger = MemoryLedger::default();
    let mut book = ResolvedPlans::new(catalogue);
    let mut invoices = 0;
    for close in closes {
        let rated = rate_close(close, contracts, &mut book, &mut ledger)
            .unwrap_or_else(|_| panic!("{} rates", close.period));
        invoices += black_box(rated.invoices).len() as u64;
    }
    invoices
}

fn month(m: u32) -> Period {
    (0..m).fold(
        Period {
            year: 2024,
            month: 1,
        },
        |p, _| p.next(),
    )
}

fn rate_contracts(basis: Basis, plans: bool) -> Vec<ContractTerms> {
    let start = NaiveDate::from_ymd_opt(2024, 1, 1).expect("a date");
    (0..RATE_SHOPS)
        .map(|s| {
            let h = mix(u64::from(s));
            let segment = if h % 10 < 7 {
                Segment::Chain
            } else {
                Segment::Independent
            };
            let price = if segment == Segment::Chain {
                "3.20"
            } else {
                "3.80"
            };
            let contract = Contract {
                shop: ShopId(s),
                basis,
                price_per_mounting: UnitPrice::parse(price).expect("a price"),
                currency: Currency("EUR".into()),
            };
            let terms = plans.then(|| PlanTerms {
                plan: PLANS[(h >> 16) as usize % PLANS.len()].to_string(),
                segment: Some(segment.as_str().to_string()),
                price_override: None,
                service: SERVICES[(h >> 24) as usize % SERVICES.len()].map(str::to_string),
                options: if (h >> 32) % 3 == 0 {
                    vec!["loaner".into(), "remote_support".into()]
                } else {
                    Vec::new()
                },
                start,
                term_months: None,
                terminated_on: None,
            });
            (contract, terms)
        })
        .collect()
}

/// Month `m`'s close: per shop 20–300 mountings a month and a third as many trace-only
/// cycles; one shop in eight with an incident.
fn metered_close(m: u32, basis: Basis) -> MeteredClose {
    let period = month(m);
    let mut close = MeteredClose::empty(period);
    for s in 0..RATE_SHOPS {
        let shop = ShopId(s);
        let r = mix((u64::from(s) << 8) | u64::from(m));
        let mountings = 20 + mix(u64::from(s)) % 280 + r % 15;
        let trace = mountings / 3;
        let late = m > 0 && r % 10 == 0;
        match basis {
            Basis::Events => {
                let mut by_period = Vec::new();
                if late {
                    by_period.push((month(m - 1), 1 + r % 5, 0));
                }
                by_period.push((period, mountings, trace));
                close.events.insert(shop, EventDue { by_period });
            }
            Basis::Counters => {
                let channels = |mountings: u64, trace: u64| Channels {
                    total_cycles: mountings + trace,
                    mountings,
                    trace_only: trace,
                };
                // An estimated tail in one month in ten, reversed by the next month's reads.
                let estimate = if r % 10 == 1 { mountings / 10 } else { 0 };
                let reversed = if late { 1 + r % 5 } else { 0 };
                let usage = CounterDue {
                    actual: channels(mountings - estimate, trace),
                    estimate: channels(estimate, 0),
                    reversed: channels(reversed, 0),
                };
                let row = CounterUsageRow {
                    shop,
                    usage,
                    estimated_machines: u32::from(estimate > 0),
                };
                close.counters.insert(shop, row);
            }
        }
        if r % 8 == 0 {
            close.incidents.insert(shop, vec![incident(r)]);
        }
    }
    close
}

fn incident(r: u64) -> Incident {
    Incident {
        response_hours: Decimal::from((r >> 8) % 96),
        repair_hours: Decimal::from((r >> 16) % 200),
        labour_minutes: ((r >> 24) % 240) as u32,
        visits: ((r >> 32) % 2) as u32,
        parts_cost: Decimal::new(((r >> 40) % 30_000) as i64, 2),
    }
}

// ---------------------------------------------------------------------------------------
// 5. The sender.

/// The argument that makes this binary the fixed-receipt endpoint (a child process).
const SERVE_FIXED_RECEIPT: &str = "__serve-fixed-receipt";
/// The most the endpoint lives, should this process die without stopping it.
const SERVER_SECONDS: u64 = 300;
/// Requests per criterion element count: each run's time is scaled to this many requests.
const SENDER_REQUESTS: u64 = 10_000;
const SENDER_FLAGS: [&str; 13] = [
    "--max",
    "--max-requests",
    "10000",
    "--duration",
    "5s",
    "--connections",
    "64",
    "--batch-size",
    "100",
    "--machines",
    "1000",
    "--no-verify",
    "--quiet",
];

/// `fleetsim::load` (`run_load`, the event-loop sender) in a closed loop of 10,000 requests
/// (≈ 0.5 s; at most 5 s), 64 connections, 100-event bodies prebuilt (as `--max` builds them
/// within its default `--prebuild-mb`), against the fixed-receipt endpoint of
/// `benches/fixed_receipt.rs` run as a child process on 127.0.0.1 (one thread), so the
/// report's `sender_cpu` is the sender's alone. One criterion iteration is one whole run
/// (`iter_custom`); its time is scaled to 10,000 requests at the run's rate (the same, unless
/// it stopped at 5 s), so the
/// elements/s criterion prints are requests/s. The sender's CPU per request
/// (`LoadReport.sender_cpu`) is printed after the group: median and range over the runs.
///
/// **Goals: ≥ 20 k requests/s (2 M events/s, the HTTP ceiling measured for axum on this box:
/// ≈ 25 k requests/s of 100 events), and ≤ 20 µs of sender CPU a request**, so one sender
/// core drives a server at its goal of 500 k events/s (5 k requests/s) with 10 % of the core
/// and at France's 1.3 M events/s with 26 %; the bar per core is wrk's ≈ 9 µs (field notes;
/// 18–23 µs when measured beside compiling helpers, README "The sender against wrk").
fn sender(c: &mut Criterion) {
    let mut endpoint: Option<Endpoint> = None;
    let mut cpu_us_per_request = Vec::new();
    let mut group = c.benchmark_group("sender");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        // Under the runs' time (≈ 0.3–1 s each): one run per sample.
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(SENDER_REQUESTS));
    group.bench_function("closed_loop_10k_requests_64_connections_100_events", |b| {
        let url = &endpoint.get_or_insert_with(Endpoint::start).url;
        b.iter_custom(|runs| {
            (0..runs)
                .map(|_| {
                    let (time, cpu) = sender_run(url);
                    cpu_us_per_request.extend(cpu);
                    time
                })
                .sum()
        })
    });
    group.finish();
    drop(endpoint);
    print_cpu_summary(&mut cpu_us_per_request);
}

/// One closed-loop run: its time scaled to `SENDER_REQUESTS` requests, and the sender's CPU
/// per request (Linux).
fn sender_run(url: &str) -> (Duration, Option<f64>) {
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        load: LoadArgs,
    }
    let argv = [&["load", "--target", url][..], &SENDER_FLAGS[..]].concat();
    let args = Cli::try_parse_from(argv).expect("valid flags").load;
    let plan = LoadPlan::from_args(&args).expect("a valid plan");
    let report = run_load(&plan).expect("the run");
    assert_eq!(report.requests.failed, 0, "{:?}", report.first_error);
    let done = report.requests.acknowledged.max(1);
    let scaled = report.elapsed_seconds * SENDER_REQUESTS as f64 / done as f64;
    let cpu = report.sender_cpu.map(|c| c.us_per_request);
    (Duration::from_secs_f64(scaled), cpu)
}

fn print_cpu_summary(samples: &mut [f64]) {
    if samples.is_empty() {
        return;
    }
    samples.sort_by(f64::total_cmp);
    println!(
        "sender CPU: median {:.1} µs/request (range {:.1}–{:.1}) over {} runs",
        samples[samples.len() / 2],
        samples[0],
        samples[samples.len() - 1],
        samples.len()
    );
}

/// The fixed-receipt endpoint in a child process (this binary, `SERVE_FIXED_RECEIPT`),
/// stopped when dropped.
struct Endpoint {
    url: String,
    child: Child,
}

impl Endpoint {
    fn start() -> Endpoint {
        let exe = std::env::current_exe().expect("this binary's path");
        let mut child = Command::new(exe)
            .args([SERVE_FIXED_RECEIPT, &SERVER_SECONDS.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("the endpoint starts");
        let stdout = child.stdout.take().expect("its stdout");
        let mut addr = String::new();
        BufReader::new(stdout)
            .read_line(&mut addr)
            .expect("its address");
        assert!(
            !addr.trim().is_empty(),
            "the endpoint exited before binding"
        );
        Endpoint {
            url: format!("http://{}", addr.trim()),
            child,
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child's side: binds a loopback port, says which on stdout, serves for `seconds`.
fn serve_fixed_receipt(seconds: &str) {
    let seconds = seconds.parse().expect("SECONDS: a number");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    let mut out = std::io::stdout();
    writeln!(out, "{addr}")
        .and_then(|()| out.flush())
        .expect("stdout");
    fixed_receipt_server::serve_on(listener, seconds);
}

// ---------------------------------------------------------------------------------------

/// Criterion's measurement as the CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`),
/// shown as durations like wall time.
struct ThreadCpu;

/// The formatter of wall time, which prints durations.
static DURATIONS: WallTime = WallTime;

impl Measurement for ThreadCpu {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        DURATIONS.formatter()
    }
}

#[repr(C)]
struct Timespec {
    seconds: i64,
    nanoseconds: i64,
}

extern "C" {
    // The C library's, which std links on Linux; the crate has no `libc` dependency.
    fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
}

const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

fn thread_cpu() -> Duration {
    let mut t = Timespec {
        seconds: 0,
        nanoseconds: 0,
    };
    // SAFETY: `t` is a valid, writable timespec for the call's duration.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(t.seconds as u64, t.nanoseconds as u32)
}

criterion_group! {
    name = cpu_bound;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = demand, encode, ingest, rate_close_group
}
criterion_group!(wall_clock, sender);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, seconds] = &args[..] {
        if flag == SERVE_FIXED_RECEIPT {
            serve_fixed_receipt(seconds);
            return;
        }
    }
    cpu_bound();
    wall_clock();
    Criterion::default().configure_from_args().final_summary();
}
