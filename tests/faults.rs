//! Field faults in the simulated machines' data: counter width and rollovers, board swaps
//! (counter resets), lost reads and connectivity outages (late delivery).
//!
//! These tests drive the actors directly (`actors::simulate`) and read the event batches the
//! ingestion thread would get, so they see exactly what a metering engine receives.

use fleetsim::actors::{simulate, Counters, FaultTally, IngestBatch, SimOutcome};
use fleetsim::calendar::{Calendar, DayIndex};
use fleetsim::event::wire::encode::batch_json;
use fleetsim::event::{EventBody, MachineId, UsageEvent};
use fleetsim::fleet::Fleet;
use fleetsim::progress::Silent;
use fleetsim::scenario::{parse, InitialCounters, Scenario};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

/// Runs the simulation, handing every batch to `eat` (on another thread, as ingestion does).
fn simulate_with<S: Send + 'static>(
    scenario: &Scenario,
    threads: usize,
    mut sink: S,
    eat: fn(&mut S, IngestBatch),
) -> (S, SimOutcome) {
    let scenario = Arc::new(scenario.clone());
    let fleet = Arc::new(Fleet::generate(&scenario));
    let calendar = Arc::new(Calendar::new(scenario.start, scenario.months));
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let drain = std::thread::spawn(move || {
        while let Some(batch) = rx.blocking_recv() {
            eat(&mut sink, batch);
        }
        sink
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .build()
        .expect("a runtime");
    let outcome = runtime
        .block_on(simulate(scenario, fleet, calendar, tx, Arc::new(Silent)))
        .expect("the simulation completes");
    (drain.join().expect("the drain thread"), outcome)
}

/// Every batch the simulation hands to ingestion, in order, and the outcome.
fn simulate_batches(scenario: &Scenario, threads: usize) -> (Vec<IngestBatch>, SimOutcome) {
    simulate_with(scenario, threads, Vec::new(), |all, batch| all.push(batch))
}

/// FNV-1a over every batch's day, commit flag and events, as a metering engine receives
/// them: the CloudEvents batch body (`event::wire`, which writes every field of an event).
/// Equal digests mean byte-identical streams, in the same order.
fn digest(batches: &[IngestBatch]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            hash = (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for batch in batches {
        eat(format!("{} {}\n", batch.day, batch.commit).as_bytes());
        eat(&batch_json(&batch.events));
        eat(b"\n");
    }
    hash
}

fn scenario_file(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    fleetsim::scenario::load(&path).expect("a valid scenario")
}

fn scenario(text: &str) -> Scenario {
    parse(Path::new("faults.toml"), text).expect("a valid scenario")
}

/// 60 shops over half a year with every fault frequent: 3-digit counters starting anywhere,
/// six board swaps and six outages per machine-year, one read in twenty lost.
fn heavy(faults: &str) -> Scenario {
    scenario(&format!(
        "[scenario]\nname = \"heavy\"\nseed = 7\n\
         [calendar]\nstart = \"2024-01-01\"\nmonths = 6\n\
         [fleet]\nshops = 60\n\
         [faults]\nduplicate_share = 0.02\ncounter_digits = 3\ninitial_counters = \"random\"\n\
         lost_read_share = 0.05\noutages_per_machine_year = 6.0\n{faults}\n\
         [output]\nhtml = false\n"
    ))
}

fn without_faults(mut s: Scenario) -> Scenario {
    let f = &mut s.faults;
    f.counter_digits = 18;
    f.initial_counters = InitialCounters::Zero;
    f.board_swaps_per_machine_year = 0.0;
    f.lost_read_share = 0.0;
    f.outages.per_machine_year = 0.0;
    s
}

/// The golden scenario's event stream (batch days, commit flags, every event and duplicate,
/// in order) as fleetsim produced it before faults existed (commit 3b22737), plus each
/// machine's commissioning reading on its first working day (the VEE baseline, commit 081b0f4):
/// the fault streams must not change anything else. (Pinned first on the events' `Debug`
/// text; re-pinned on their wire bytes from the very stream that still matched that pin;
/// re-pinned once more when re-sends were drawn per machine instead of from one stream, which
/// changes only which copies each day appends: `re_sends_only_append_copies_of_the_days_events`
/// shows that the stream without them is the stream with no re-sends, which draws nothing.)
const GOLDEN_STREAM_BEFORE_FAULTS: u64 = 1_054_265_440_578_445_072;

#[test]
fn with_every_fault_off_the_golden_stream_is_unchanged() {
    let s = without_faults(scenario_file("tests/data/golden/small.toml"));
    let (batches, outcome) = simulate_batches(&s, 2);
    assert_eq!(digest(&batches), GOLDEN_STREAM_BEFORE_FAULTS);
    assert_eq!(outcome.faults, FaultTally::default());
    // And the faults the golden file writes out do change the stream.
    let faulty = scenario_file("tests/data/golden/small.toml");
    let (batches, _) = simulate_batches(&faulty, 2);
    assert_ne!(digest(&batches), GOLDEN_STREAM_BEFORE_FAULTS);
}

/// Re-sends (`duplicate_share`) append copies of the day's events and change nothing else:
/// with the copies taken out, the stream is the one simulated with no re-sends at all.
#[test]
fn re_sends_only_append_copies_of_the_days_events() {
    let golden = without_faults(scenario_file("tests/data/golden/small.toml"));
    assert!(
        golden.faults.duplicate_share > 0.0,
        "the golden file re-sends"
    );
    let mut none = golden.clone();
    none.faults.duplicate_share = 0.0;
    let (with, outcome) = simulate_batches(&golden, 2);
    let (without, _) = simulate_batches(&none, 2);
    let mut copies = 0;
    let originals: Vec<IngestBatch> = with
        .into_iter()
        .map(|mut batch| {
            let mut seen = BTreeSet::new();
            let before = batch.events.len();
            batch.events.retain(|e| seen.insert((e.machine, e.seq)));
            copies += before - batch.events.len();
            batch
        })
        .collect();
    assert!(copies > 0, "some events were re-sent");
    assert_eq!(copies as u64, outcome.duplicates_sent);
    assert_eq!(digest(&originals), digest(&without));
}

#[test]
fn faulty_streams_do_not_depend_on_the_thread_count() {
    let s = heavy("board_swaps_per_machine_year = 6.0");
    let (one, one_outcome) = simulate_batches(&s, 1);
    let (two, two_outcome) = simulate_batches(&s, 2);
    assert_eq!(digest(&one), digest(&two), "events depend on --threads");
    assert_eq!(one_outcome.faults, two_outcome.faults);
    let f = one_outcome.faults;
    // Every kind of fault is there to be reproduced.
    assert!(
        f.rollovers > 0
            && f.board_swaps > 0
            && f.lost_reads > 0
            && f.outages > 0
            && f.events_delivered_late > 0,
        "{f:?}"
    );
}

/// Distinct events by machine, in delivery order, each with the day it was delivered.
struct Delivered {
    machines: BTreeMap<MachineId, Vec<(DayIndex, UsageEvent)>>,
    duplicates: u64,
}

fn delivered(batches: &[IngestBatch]) -> Delivered {
    let mut seen = BTreeSet::new();
    let mut d = Delivered {
        machines: BTreeMap::new(),
        duplicates: 0,
    };
    for batch in batches {
        for e in &batch.events {
            if seen.insert((e.machine, e.seq)) {
                d.machines
                    .entry(e.machine)
                    .or_default()
                    .push((batch.day, *e));
            } else {
                d.duplicates += 1;
            }
        }
    }
    d
}

fn day_of(e: &UsageEvent, calendar: &Calendar) -> DayIndex {
    (e.time - calendar.midnight_unix(0)).div_euclid(86_400) as DayIndex
}

#[test]
fn every_event_is_delivered_once_in_sequence_order_and_lateness_is_counted() {
    let s = heavy("board_swaps_per_machine_year = 6.0");
    let calendar = Calendar::new(s.start, s.months);
    let (batches, outcome) = simulate_batches(&s, 2);
    let d = delivered(&batches);
    let (mut distinct, mut late, mut max_delay) = (0, 0, 0);
    for (machine, events) in &d.machines {
        for (i, (delivered_on, e)) in events.iter().enumerate() {
            assert_eq!(e.seq, i as u64 + 1, "{machine}: sequence gap or disorder");
            let happened = day_of(e, &calendar);
            assert!(
                *delivered_on >= happened,
                "{machine}: delivered before it happened"
            );
            late += u64::from(*delivered_on > happened);
            max_delay = max_delay.max(delivered_on - happened);
        }
        distinct += events.len() as u64;
    }
    assert_eq!(distinct, outcome.events_emitted);
    assert_eq!(distinct, outcome.truth.fleet_total().events());
    assert_eq!(d.duplicates, outcome.duplicates_sent);
    assert_eq!(late, outcome.faults.events_delivered_late);
    assert_eq!(max_delay, outcome.faults.max_delay_days);
    // An outage lasts at most 42 days; the backlog then waits for the shop's next open day
    // (a summer closure of up to 3 weeks next to a closed Sunday and Monday).
    assert!(max_delay <= 42 + 21 + 2, "max delay {max_delay}");
}

#[test]
fn faults_leave_demand_and_the_truth_by_day_of_use_alone() {
    let faulty = heavy("board_swaps_per_machine_year = 6.0");
    let (fb, fo) = simulate_batches(&faulty, 2);
    let (cb, co) = simulate_batches(&without_faults(faulty), 2);
    // What the machines did, and when: every job event, whatever its sequence number (lost
    // reads shift those) and whenever it was delivered.
    let jobs = |batches: &[IngestBatch]| -> Vec<(MachineId, i64, String)> {
        let mut v: Vec<_> = delivered(batches)
            .machines
            .into_values()
            .flatten()
            .filter(|(_, e)| !matches!(e.body, EventBody::Counter { .. }))
            .map(|(_, e)| (e.machine, e.time, format!("{:?} {:?}", e.shop, e.body)))
            .collect();
        v.sort();
        v
    };
    assert_eq!(jobs(&fb), jobs(&cb));
    assert!(fo.faults.events_delivered_late > 0);
    for (day, (f, c)) in fo.truth.daily.iter().zip(&co.truth.daily).enumerate() {
        let mut f_tally = f.tally;
        f_tally.counter_reads = c.tally.counter_reads;
        assert_eq!(
            f_tally, c.tally,
            "day {day}: truth differs beyond counter reads"
        );
        assert_eq!(f.open_shops, c.open_shops, "day {day}");
    }
    assert_eq!(
        fo.truth.fleet_total().counter_reads + fo.faults.lost_reads,
        co.truth.fleet_total().counter_reads + 2 * fo.faults.board_swaps,
        "each open machine-day gives a reading or a lost read; a board swap adds the old \
         board's final read and the new board's first"
    );
}

/// A machine's counters replayed from its own events: each reading must equal the previous
/// one plus the cycles between them, modulo the width, unless the board was swapped, when it
/// counts from 0 (so it is at most those cycles).
#[derive(Debug, Default, PartialEq)]
struct Replay {
    /// (total_cycles, mountings, trace_only) before the first job, inferred.
    start: (u64, u64, u64),
    readings: u64,
    resets: u64,
    /// Wraps the counters went through, valid when no board was swapped.
    wraps: u64,
}

fn replay(events: &[(DayIndex, UsageEvent)], modulus: u64) -> Replay {
    let mut r = Replay::default();
    let first = events
        .iter()
        .position(|(_, e)| matches!(e.body, EventBody::Counter { .. }))
        .expect("a machine delivers at least one reading");
    // The starting values, inferred from the first reading and the cycles before it.
    let (m_before, t_before) = cycles(&events[..first]);
    let EventBody::Counter {
        mountings,
        trace_only,
        ..
    } = events[first].1.body
    else {
        unreachable!()
    };
    let back = |now: u64, n: u64| (now + modulus - n % modulus) % modulus;
    let mut m = back(mountings, m_before);
    let mut t = back(trace_only, t_before);
    let mut total = (m + t) % modulus;
    r.start = (total, m, t);
    let mut since_reading = (0, 0);
    for (_, e) in events {
        let mut step = |v: &mut u64| {
            *v = (*v + 1) % modulus;
            r.wraps += u64::from(*v == 0);
        };
        match e.body {
            EventBody::Mounting { .. } => {
                step(&mut total);
                step(&mut m);
                since_reading.0 += 1;
            }
            EventBody::TraceOnly { .. } => {
                step(&mut total);
                step(&mut t);
                since_reading.1 += 1;
            }
            EventBody::Counter {
                total_cycles,
                mountings,
                trace_only,
                ..
            } => {
                r.readings += 1;
                assert_eq!(total_cycles, (mountings + trace_only) % modulus, "{e:?}");
                if (total_cycles, mountings, trace_only) != (total, m, t) {
                    assert!(
                        mountings <= since_reading.0 && trace_only <= since_reading.1,
                        "{e:?} is neither the counters' continuation nor a restart from 0"
                    );
                    r.resets += 1;
                    (total, m, t) = (total_cycles, mountings, trace_only);
                }
                since_reading = (0, 0);
            }
        }
    }
    r
}

fn cycles(events: &[(DayIndex, UsageEvent)]) -> (u64, u64) {
    events.iter().fold((0, 0), |(m, t), (_, e)| match e.body {
        EventBody::Mounting { .. } => (m + 1, t),
        EventBody::TraceOnly { .. } => (m, t + 1),
        EventBody::Counter { .. } => (m, t),
    })
}

#[test]
fn reported_counters_follow_usage_modulo_their_width() {
    let s = heavy("board_swaps_per_machine_year = 0.0");
    let (batches, outcome) = simulate_batches(&s, 2);
    let d = delivered(&batches);
    let mut total = Replay::default();
    for (machine, events) in &d.machines {
        let r = replay(events, s.faults.counter_modulus());
        let start = Counters::new(&s.faults, s.seed, *machine);
        assert_eq!(
            r.start,
            (start.total_cycles, start.mountings, start.trace_only),
            "{machine}: the installation reading is where its counters started"
        );
        total.readings += r.readings;
        total.resets += r.resets;
        total.wraps += r.wraps;
    }
    assert_eq!(total.resets, 0, "no board swap, no restart");
    assert_eq!(total.wraps, outcome.faults.rollovers);
    assert_eq!(total.readings, outcome.truth.fleet_total().counter_reads);
    // 3 digits, about 400 cycles per machine in 6 months: plenty of wraps to check.
    assert!(total.wraps > 50, "{total:?}");
}

#[test]
fn board_swaps_restart_the_reported_counters_at_zero() {
    let s = heavy("board_swaps_per_machine_year = 6.0");
    let (batches, outcome) = simulate_batches(&s, 2);
    let resets: u64 = delivered(&batches)
        .machines
        .values()
        .map(|events| replay(events, s.faults.counter_modulus()).resets)
        .sum();
    let swaps = outcome.faults.board_swaps;
    // A swap shows as a restart at the next delivered reading. It hides when it comes before
    // a machine's first reading (the replay then only sees where the counters start: about 2
    // of 60 machines at 6/yr, over the first open day or two), when no reading follows it, or
    // when nothing was counted since the previous swap: a few percent, hence 90%.
    assert!(swaps > 100, "{swaps} swaps");
    assert!(
        resets <= swaps && resets * 10 >= swaps * 9,
        "{resets} restarts seen for {swaps} swaps"
    );
}

#[test]
fn offline_machines_deliver_their_backlog_on_a_closed_last_day() {
    // March 2024 ends on a Sunday, when every shop is closed (no actor wakes up).
    let s = scenario(
        "[scenario]\nname = \"flush\"\nseed = 3\n\
         [calendar]\nstart = \"2024-03-01\"\nmonths = 1\n\
         [fleet]\nshops = 40\n\
         [faults]\noutages_per_machine_year = 40.0\noutage_median_days = 10.0\n",
    );
    let calendar = Calendar::new(s.start, s.months);
    let (batches, outcome) = simulate_batches(&s, 2);
    let last = batches.last().expect("a batch per day");
    assert_eq!(last.day, 30);
    assert!(
        !last.events.is_empty(),
        "the backlogs arrive on the last day"
    );
    assert!(last.events.iter().all(|e| day_of(e, &calendar) < 30));
    let distinct: usize = delivered(&batches).machines.values().map(Vec::len).sum();
    assert_eq!(distinct as u64, outcome.events_emitted);
}

#[test]
fn random_faults_default_to_the_estimates_in_calibrated_mode_and_to_none_in_fixed_mode() {
    let calibrated = scenario("[fleet]\nshops = 3\n").faults;
    assert_eq!(calibrated.counter_digits, 8);
    assert_eq!(calibrated.initial_counters, InitialCounters::Random);
    assert_eq!(calibrated.board_swaps_per_machine_year, 0.1);
    assert_eq!(calibrated.lost_read_share, 0.005);
    assert_eq!(calibrated.outages.per_machine_year, 0.5);
    let fixed = scenario("[demand]\nmode = \"fixed\"\n").faults;
    assert_eq!(fixed.counter_digits, 8);
    assert_eq!(fixed.initial_counters, InitialCounters::Zero);
    assert_eq!(fixed.board_swaps_per_machine_year, 0.0);
    assert_eq!(fixed.lost_read_share, 0.0);
    assert_eq!(fixed.outages.per_machine_year, 0.0);
    // Written values hold in either mode.
    let fixed_lossy = scenario("[demand]\nmode = \"fixed\"\n[faults]\nlost_read_share = 0.2\n");
    assert_eq!(fixed_lossy.faults.lost_read_share, 0.2);
}

#[test]
fn a_faulty_run_reconciles_through_the_embedded_engine() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = fleetsim::run::RunOptions {
        out: Some(tmp.path().join("out")),
        seed: None,
        threads: 2,
        quiet: true,
    };
    let result = fleetsim::run::run(heavy("board_swaps_per_machine_year = 6.0"), &opts)
        .expect("the run completes");
    assert!(
        result.reconciliation.ok,
        "{}",
        result.reconciliation.describe()
    );
}

/// Mean whole-day length of an outage under the default duration law (lognormal, median 5
/// days, sigma 1, rounded up, capped at 42), by Monte Carlo.
fn mean_outage_days() -> f64 {
    use rand::SeedableRng;
    use rand_distr::{Distribution, LogNormal};
    let law = LogNormal::new(5f64.ln(), 1.0).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let n = 200_000;
    let sum: f64 = (0..n)
        .map(|_| law.sample(&mut rng).ceil().clamp(1.0, 42.0))
        .sum();
    sum / f64::from(n)
}

#[track_caller]
fn assert_count_near(what: &str, observed: u64, expected: f64, standard_error: f64) {
    let off = (observed as f64 - expected).abs();
    assert!(
        off <= 5.0 * standard_error,
        "{what}: {observed} is {:.1} standard errors from {expected:.0}",
        off / standard_error
    );
}

#[test]
fn fault_counts_match_the_calibrated_rates_over_a_large_fleet() {
    // Every fault at its calibrated default: 1,500 shops over two years, ≈ 3,000 machine-years.
    let s = scenario(
        "[scenario]\nname = \"rates\"\nseed = 11\n\
         [calendar]\nstart = \"2024-01-01\"\nmonths = 24\n[fleet]\nshops = 1500\n",
    );
    let machines = Fleet::generate(&s).machine_count() as f64;
    let days = f64::from(Calendar::new(s.start, s.months).days());
    let machine_years = machines * days / 365.25;
    let ((), outcome) = simulate_with(&s, 2, (), |_, _| {});
    let f = outcome.faults;

    // Board swaps: Poisson at 0.1 per machine-year (a swap due on a closed day waits for the
    // next open day; only those due in the run's last closed days are lost, a negligible few).
    let swaps = 0.1 * machine_years;
    assert_count_near("board swaps", f.board_swaps, swaps, swaps.sqrt());

    // Lost reads: each open machine-day's reading is lost with p = 0.005 (binomial).
    let reads = (outcome.truth.fleet_total().counter_reads + f.lost_reads) as f64;
    let p = 0.005;
    assert_count_near(
        "lost reads",
        f.lost_reads,
        p * reads,
        (reads * p * (1.0 - p)).sqrt(),
    );

    // Outages: 0.5 per machine-year, but the next can only begin once the last is over: a
    // renewal process of cycle 365.25/0.5 days online + the mean outage.
    let outage_days = mean_outage_days();
    let cycle = 365.25 / 0.5 + outage_days;
    let outages = machines * days / cycle;
    assert_count_near("outages", f.outages, outages, outages.sqrt());

    // Late events: those emitted while offline, so their share is the share of time offline.
    // The spread comes from outage lengths (CV ≈ 1.3) and shop volumes (CV ≈ 1) over ≈ 1,500
    // outages: relative s.e. ≈ 6.5%; ±35% is about 5 s.e.
    let offline = outage_days / cycle;
    let late = f.events_delivered_late as f64 / outcome.events_emitted as f64;
    assert!(
        (late / offline - 1.0).abs() < 0.35,
        "late share {late:.4} vs offline share {offline:.4}"
    );
    assert!(
        f.max_delay_days >= 30 && f.max_delay_days <= 42 + 21 + 2,
        "{f:?}"
    );
}
