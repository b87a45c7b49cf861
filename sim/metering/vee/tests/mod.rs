//! VEE rules, case by case (hand-computed) and as properties.

use super::*;
use proptest::prelude::*;

mod cases;
mod estimates;

/// 2024-01-01T19:30:00Z: the simulator's end-of-day read on the first day of 2024.
const JAN_1_1930: i64 = 1_704_137_400;

fn at(day: i64) -> i64 {
    JAN_1_1930 + day * DAY as i64
}

fn reading(seq: u64, time: i64, total: u64, mountings: u64, trace: u64) -> Reading {
    Reading {
        seq,
        time,
        counters: Channels {
            total_cycles: total,
            mountings,
            trace_only: trace,
        },
        removal: false,
    }
}

/// The same reading, taken when the machine is removed.
fn removal(r: Reading) -> Reading {
    Reading { removal: true, ..r }
}

fn period(year: i32, month: u32) -> Period {
    Period { year, month }
}

/// Applies daily readings (day index, seq = day + 1) that add `per_day` = (mountings,
/// trace_only) each day, total = their sum; returns the counters after the last one.
fn daily(
    vee: &mut MachineVee,
    days: std::ops::RangeInclusive<i64>,
    start: (u64, u64),
    per_day: (u64, u64),
) -> (u64, u64) {
    let (mut m, mut t) = start;
    for day in days {
        if vee.last_accepted().is_some() {
            m += per_day.0;
            t += per_day.1;
        }
        let v = vee.apply(reading(day as u64 + 1, at(day), m + t, m, t));
        assert!(v.applied() && v.flags.is_empty(), "{}", v.explanation);
    }
    (m, t)
}

/// One step of the conservation property's machine.
#[derive(Clone, Debug)]
enum Op {
    Read {
        gap: i64,
        mountings: u64,
        trace: u64,
        reset: bool,
        removal: bool,
    },
    Resend,
    Stale,
    CloseEnded,
    CloseCurrent,
}

fn op() -> impl Strategy<Value = Op> {
    let gap = prop_oneof![
        8 => (DAY as i64 - 3_600)..=(DAY as i64 + 3_600),
        2 => (DAY as i64)..=(6 * DAY as i64),
        1 => (6 * DAY as i64)..=(40 * DAY as i64),
    ];
    let read = (
        gap,
        0u64..=40,
        0u64..=10,
        prop::bool::weighted(0.05),
        prop::bool::weighted(0.05),
    )
        .prop_map(|(gap, mountings, trace, reset, removal)| Op::Read {
            gap,
            mountings,
            trace,
            reset,
            removal,
        });
    prop_oneof![
        12 => read,
        1 => Just(Op::Resend),
        1 => Just(Op::Stale),
        2 => Just(Op::CloseEnded),
        1 => Just(Op::CloseCurrent),
    ]
}

/// The true counters of a simulated machine: they wrap at the modulus, and a board swap
/// restarts them at 0 right after a reading (so reset-aware usage is the true usage).
struct Truth {
    counters: Channels<u64>,
    used: Channels<u64>,
    time: i64,
    seq: u64,
}

const MODULUS: u64 = 1_000_000;

impl Truth {
    fn run(&mut self, gap: i64, mountings: u64, trace: u64, reset: bool) -> Reading {
        let used = Channels {
            total_cycles: mountings + trace,
            mountings,
            trace_only: trace,
        };
        if reset && self.reset_is_visible(&used) {
            self.counters = Channels::default();
        }
        self.counters = Channels::from_fn(|c| (self.counters.get(c) + used.get(c)) % MODULUS);
        self.used = self.used.plus(&used);
        self.time += gap;
        self.seq += 1;
        self.now()
    }

    /// A reset the data can show: every channel drops (or was 0 anyway, so nothing
    /// changes), from below half the range (near the top a reset looks like a wrap).
    fn reset_is_visible(&self, used: &Channels<u64>) -> bool {
        Channel::ALL.iter().all(|&c| {
            let before = self.counters.get(c);
            before < MODULUS / 2 && (before == 0 || used.get(c) < before)
        })
    }

    fn now(&self) -> Reading {
        Reading {
            seq: self.seq,
            time: self.time,
            counters: self.counters,
            removal: false,
        }
    }
}

fn previous(p: Period) -> Period {
    Period::of_unix(p.start_unix() - 1)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// For random streams with wraps, resets, gaps over month ends, duplicates, stale
    /// readings, removal reads (and reinstallations), and closes at any time: every accepted
    /// step equals the true usage, every estimate is reversed exactly once, nothing is
    /// estimated while the machine is removed, and the billed total over all periods is the
    /// true total, channel by channel.
    #[test]
    fn billed_usage_is_conserved(
        start in proptest::array::uniform3(MODULUS - 600..MODULUS),
        offset in 0i64..(DAY as i64),
        ops in proptest::collection::vec(op(), 1..160),
    ) {
        let config = VeeConfig { modulus: MODULUS, ..VeeConfig::default() };
        let mut vee = MachineVee::new(config);
        let mut truth = Truth {
            counters: Channels { total_cycles: start[0], mountings: start[1], trace_only: start[2] },
            used: Channels::default(),
            time: period(2024, 1).start_unix() + offset,
            seq: 1,
        };
        let mut steps = Channels::default();
        let mut closed: Vec<PeriodUsage> = Vec::new();
        prop_assert!(vee.apply(truth.now()).applied());
        for op in ops {
            match op {
                Op::Read { gap, mountings, trace, reset, removal } => {
                    let read = Reading { removal, ..truth.run(gap, mountings, trace, reset) };
                    let v = vee.apply(read);
                    prop_assert!(v.applied(), "{}", v.explanation);
                    prop_assert_eq!(vee.is_removed(), removal);
                    // The running window sums are the window's own sums, and the live state is
                    // the one the kept readings replay to.
                    prop_assert!(vee.head_is_replayable());
                    steps = steps.plus(&v.units());
                }
                Op::Resend => {
                    let v = vee.apply(truth.now());
                    prop_assert_eq!(v.flags, vec![Flag::Duplicate]);
                }
                Op::Stale => {
                    let stale = Reading { seq: truth.seq + 1_000_000, time: truth.time, ..truth.now() };
                    prop_assert_eq!(vee.apply(stale).flags, vec![Flag::OutOfOrder]);
                }
                Op::CloseEnded | Op::CloseCurrent => {
                    let mut through = Period::of_unix(truth.time);
                    if matches!(op, Op::CloseEnded) {
                        through = previous(through);
                    }
                    let removed = vee.is_removed();
                    let now = vee.close_through(through);
                    // A removal read settled every estimate and stops new ones.
                    prop_assert!(!removed || now.iter().all(|p| !p.estimated && p.estimate.is_zero()));
                    prop_assert!(!removed || vee.outstanding_estimate().is_zero());
                    closed.extend(now);
                }
            }
        }
        // A last reading after every closed period settles any estimate still outstanding.
        let after_closed = closed.last().map_or(truth.time, |p| p.period.next().start_unix());
        let gap = after_closed.max(truth.time) - truth.time + DAY as i64;
        steps = steps.plus(&vee.apply(truth.run(gap, 5, 1, false)).units());

        prop_assert!(vee.outstanding_estimate().is_zero());
        prop_assert_eq!(steps, truth.used, "reset/rollover-aware steps are the true usage");
        for pair in closed.windows(2) {
            prop_assert_eq!(pair[0].period.next(), pair[1].period, "periods close once, in order");
        }
        let all: Vec<&PeriodUsage> = closed.iter().chain(vee.open_periods()).collect();
        for c in Channel::ALL {
            let billed: i128 = all.iter().map(|p| p.billed().get(c)).sum();
            prop_assert_eq!(billed, i128::from(truth.used.get(c)), "{}", c.name());
            let estimated: u64 = all.iter().map(|p| p.estimate.get(c)).sum();
            let reversed: u64 = all.iter().map(|p| p.reversed_estimate.get(c)).sum();
            prop_assert_eq!(estimated, reversed, "every estimate reversed exactly once");
        }
    }
}

#[test]
fn a_new_boards_zero_read_is_a_reset_even_just_under_the_top() {
    let mut vee = MachineVee::new(VeeConfig {
        modulus: 1_000,
        ..VeeConfig::default()
    });
    vee.apply(reading(1, at(0), 990, 990, 0));
    // Just under the top, a drop to 5 is read as a wrap of 15 (within the allowance)...
    let wrap = vee.clone().apply(reading(2, at(1), 5, 5, 0));
    assert_eq!(wrap.steps.unwrap().mountings.kind, StepKind::Rollover);
    // ...but the new board's zero read says it restarted: the old count ended at 990.
    let zero = vee.apply(reading(2, at(1), 0, 0, 0));
    let steps = zero.steps.unwrap();
    assert_eq!(
        (steps.mountings.kind, steps.mountings.units),
        (StepKind::Reset, 0)
    );
    let next = vee.apply(reading(3, at(1) + 3_600, 5, 5, 0));
    assert_eq!(
        next.steps.unwrap().mountings.units,
        5,
        "{}",
        next.explanation
    );
}

// Re-sequencing: readings that arrive out of order.

/// A board swap read back to front (the issue-10 reproduction): the old board's final read
/// (seq 4, 15 units since the last read) arrives after the new board's zero read. Placed in
/// its place, the 15 units are billed and the zero read stays a reset.
#[test]
fn a_final_read_arriving_after_the_new_boards_zero_read_is_placed_before_it() {
    let mut vee = MachineVee::new(VeeConfig::default());
    vee.apply(reading(1, at(0), 500, 400, 100));
    vee.apply(reading(2, at(1), 520, 415, 105));
    let swap = at(2) - 12 * 3_600; // the technician's visit, in the morning
    let zero = vee.apply(reading(4, swap + 60, 0, 0, 0));
    assert_eq!(zero.units().total_cycles, 0, "a reset to 0");
    let final_read = vee.apply(reading(3, swap, 535, 427, 108));
    assert!(final_read.applied(), "{}", final_read.explanation);
    assert_eq!(final_read.units().total_cycles, 15);
    assert_eq!(final_read.period, Some(period(2024, 1)));
    assert!(
        final_read.explanation.contains("re-sequenced after seq 2"),
        "{}",
        final_read.explanation
    );
    let after = vee.apply(reading(5, at(2), 7, 5, 2));
    assert_eq!(after.units().total_cycles, 7);
    let january = vee.open_periods().next().unwrap();
    assert_eq!(january.actual.total_cycles, 20 + 15 + 7);
    assert!(vee.head_is_replayable());
}

/// Placed between two readings of the same open month, a late reading splits a step: the
/// month's use is unchanged, and the later reading's step is derived again.
#[test]
fn a_late_reading_in_an_open_month_splits_the_step_it_falls_in() {
    let mut vee = MachineVee::new(VeeConfig::default());
    daily(&mut vee, 0..=2, (0, 0), (8, 2)); // Jan 1 .. Jan 3, 10 a day: 20 on Jan 3
    vee.apply(reading(10, at(5), 50, 40, 10)); // Jan 6: 30 since Jan 3
    let late = vee.apply(reading(9, at(4), 42, 34, 8)); // Jan 5
    assert_eq!(late.units().total_cycles, 22);
    assert!(
        late.explanation
            .contains("seq 10 at 2024-01-06T19:30:00Z derived again: total_cycles 30, mountings 24, trace_only 6 → total_cycles 8, mountings 6, trace_only 2"),
        "{}",
        late.explanation
    );
    let january = vee.open_periods().next().unwrap();
    assert_eq!(january.actual.total_cycles, 50);
    assert!(vee.head_is_replayable());
}

/// The later reading is in February: the late January reading moves its share back to
/// January, both months still open.
#[test]
fn a_late_reading_moves_use_to_its_own_open_month() {
    let mut vee = MachineVee::new(VeeConfig::default());
    daily(&mut vee, 0..=28, (0, 0), (8, 2)); // Jan 1 .. Jan 29
    vee.apply(reading(40, at(32), 320, 256, 64)); // Feb 2: 40 since Jan 29
    let open = |vee: &MachineVee| {
        vee.open_periods()
            .map(|p| p.actual.total_cycles)
            .collect::<Vec<_>>()
    };
    assert_eq!(open(&vee), [280, 40]);
    vee.apply(reading(31, at(30), 300, 240, 60)); // Jan 31, arriving late
    assert_eq!(open(&vee), [300, 20]);
    let closed = vee.close_through(period(2024, 1));
    assert!(!closed[0].estimated, "Jan 31 19:30 is within the grace");
}

/// January is closed (and estimated) when its last days' readings arrive, after February's
/// first one: what they change in January is booked in February, and the estimate, trued up
/// by February's reading, stays reversed once.
#[test]
fn late_readings_of_a_closed_month_are_booked_in_the_first_open_one() {
    let mut vee = MachineVee::new(VeeConfig::default());
    let (m, t) = daily(&mut vee, 0..=27, (0, 0), (8, 2)); // Jan 1 .. Jan 28
    let january = vee.close_through(period(2024, 1)).remove(0);
    assert_eq!(january.estimate.total_cycles, 32);
    let feb_3 = vee.apply(reading(100, at(33), m + t + 60, m + 48, t + 12));
    assert_eq!(feb_3.reversed_estimate.total_cycles, 32);
    // Jan 30 arrives now: 20 of the 60 were January's, but January is closed.
    let late = vee.apply(reading(99, at(29), m + t + 20, m + 16, t + 4));
    assert_eq!(late.period, Some(period(2024, 2)));
    let february = vee.open_periods().next().unwrap();
    assert_eq!(
        february.actual.total_cycles, 60,
        "moved within February's books"
    );
    assert_eq!(february.billed().total_cycles, 60 - 32);
    assert!(vee.outstanding_estimate().is_zero());
    assert!(vee.head_is_replayable());
}

/// Readings are kept at least 42 days (at most 84) back from the latest: after 201 daily
/// reads, one from day 10 cannot be placed; one from 41 days before the latest can.
#[test]
fn a_reading_older_than_the_kept_ones_is_not_applied() {
    let mut vee = MachineVee::new(VeeConfig::default());
    daily(&mut vee, 0..=200, (0, 0), (8, 2));
    let old = vee.apply(reading(500, at(10) + 600, 105, 84, 21));
    assert_eq!(old.flags, vec![Flag::OutOfOrder]);
    assert!(
        old.explanation
            .contains("the oldest reading kept to place late ones"),
        "{}",
        old.explanation
    );
    let kept = vee.apply(reading(501, at(159) + 600, 1595, 1276, 319));
    assert!(kept.applied(), "{}", kept.explanation);
    assert_eq!(kept.units().total_cycles, 5);
    assert!(vee.head_is_replayable());
}

/// A reading from before the baseline becomes the baseline: the old baseline's step is use.
#[test]
fn a_reading_before_the_baseline_becomes_the_baseline() {
    let mut vee = MachineVee::new(VeeConfig::default());
    vee.apply(reading(2, at(1), 10, 8, 2));
    vee.apply(reading(3, at(2), 20, 16, 4));
    let first = vee.apply(reading(1, at(0), 0, 0, 0));
    assert!(
        first.applied() && first.period.is_none(),
        "{}",
        first.explanation
    );
    assert!(
        first.explanation.contains("the new baseline"),
        "{}",
        first.explanation
    );
    assert_eq!(vee.open_periods().next().unwrap().actual.total_cycles, 20);
}

/// A machine's true readings, and an arrival order where each is delayed by a few places.
fn shuffled(
    truth_steps: &[(i64, u64, u64, bool)],
    delays: &[usize],
) -> (Vec<Reading>, Vec<Reading>, Channels<u64>) {
    let mut truth = Truth {
        // Near the top, so that counters wrap; never all 0 at once (that reads as a new board).
        counters: Channels {
            total_cycles: MODULUS - 301,
            mountings: MODULUS - 250,
            trace_only: MODULUS - 44,
        },
        used: Channels::default(),
        time: period(2024, 1).start_unix() + 70_000,
        seq: 1,
    };
    let mut in_order = vec![truth.now()];
    for &(gap, m, t, reset) in truth_steps {
        in_order.push(truth.run(gap, m, t, reset));
    }
    // Reading i arrives at slot i + delay: a stable sort by slot gives the arrival order.
    let mut slots: Vec<(usize, usize)> = (0..in_order.len())
        .map(|i| (i + delays.get(i).copied().unwrap_or(0), i))
        .collect();
    slots.sort();
    let arrival = slots.iter().map(|&(_, i)| in_order[i]).collect();
    (in_order, arrival, truth.used)
}

/// Feeds readings in the given order, closing every period that ended a day before the
/// latest reading seen; then one last reading after every close. Returns (billed over all
/// periods − pending withdrawal, per channel; the machine).
fn feed(readings: &[Reading], close_lag_days: i64) -> (Channels<i128>, MachineVee) {
    let config = VeeConfig {
        modulus: MODULUS,
        ..VeeConfig::default()
    };
    let mut vee = MachineVee::new(config);
    let mut closed: Vec<PeriodUsage> = Vec::new();
    let mut latest = i64::MIN;
    let mut applied: Vec<Reading> = Vec::new();
    for r in readings {
        let v = vee.apply(*r);
        assert!(v.applied(), "{}", v.explanation);
        assert!(vee.head_is_replayable());
        let at = applied.partition_point(|a| a.time < r.time);
        applied.insert(at, *r);
        assert!(
            vee.base_is_exact(&applied),
            "the kept generations' base is exact"
        );
        latest = latest.max(r.time);
        let through = previous(Period::of_unix(latest - close_lag_days * DAY as i64));
        closed.extend(vee.close_through(through));
    }
    let last = vee.last_accepted().copied().unwrap();
    let after = closed
        .last()
        .map_or(last.time, |p| p.period.next().start_unix())
        .max(last.time)
        + DAY as i64;
    vee.apply(Reading {
        seq: last.seq + 10_000,
        time: after,
        ..last
    });
    let all: Vec<&PeriodUsage> = closed.iter().chain(vee.open_periods()).collect();
    let billed = Channels::from_fn(|c| {
        all.iter().map(|p| p.billed().get(c)).sum::<i128>()
            - i128::from(vee.pending_withdrawal().get(c))
    });
    (billed, vee)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// The issue-10 property: whatever order a machine's readings arrive in (each up to a
    /// dozen places late, so within the kept horizon), with closes between them, the usage
    /// billed over the run is the same, and it is the true use.
    #[test]
    fn any_arrival_order_bills_the_same_usage(
        steps in proptest::collection::vec(
            ((DAY as i64 / 2)..=(3 * DAY as i64), 0u64..=40, 0u64..=10, prop::bool::weighted(0.08)),
            1..120),
        delays in proptest::collection::vec(prop_oneof![6 => Just(0usize), 3 => 1usize..4, 1 => 4usize..12], 0..120),
        close_lag_days in 0i64..10,
    ) {
        let (in_order, arrival, used) = shuffled(&steps, &delays);
        let (in_order_billed, in_order_vee) = feed(&in_order, close_lag_days);
        let (billed, vee) = feed(&arrival, close_lag_days);
        prop_assert!(vee.same_validation_state(&in_order_vee), "re-sequencing is exact");
        prop_assert_eq!(billed, in_order_billed);
        prop_assert_eq!(billed, used.map(i128::from), "the billed use is the true use");
        prop_assert!(vee.outstanding_estimate().is_zero());
    }
}

/// Re-sequencing can lower use already invoiced: the late Jan 25 reading makes the step before
/// it a spike (45 in half a day, above the allowance of 30), so the average falls from 12 to 5
/// a day and the Jan 29 drop 9990 → 45, a rollover of 55 within the old allowance of 60, is now
/// beyond the new one (25): a reset of 45, 10 less. January is closed: the 10 come off
/// February's steps when February closes.
#[test]
fn a_fall_in_a_closed_month_comes_off_the_next_closing_month() {
    let config = VeeConfig {
        modulus: 10_000,
        min_daily_allowance: 10,
        ..VeeConfig::default()
    };
    let mut vee = MachineVee::new(config);
    let read =
        |seq: u64, day: f64, n: u64| reading(seq, at(0) + (day * DAY as f64) as i64, n, n, 0);
    for (seq, day) in (20..=24).enumerate() {
        vee.apply(read(seq as u64 + 1, day as f64, 9_000 + 6 * seq as u64));
    }
    let n = vee.apply(read(7, 26.0, 9_074));
    assert!(n.flags.is_empty(), "{}", n.explanation);
    vee.apply(read(8, 27.0, 9_990)); // a spike either way
    let z = vee.apply(read(9, 28.0, 45));
    assert_eq!(
        z.steps.unwrap().mountings.kind,
        StepKind::Rollover,
        "{}",
        z.explanation
    );
    vee.apply(read(10, 31.0, 55)); // Feb 1
    let january = vee.close_through(period(2024, 1)).remove(0);
    assert_eq!(january.billed().mountings, 24 + 50 + 916 + 55);

    let late = vee.apply(read(6, 24.5, 9_069));
    assert!(late.applied(), "{}", late.explanation);
    assert!(
        late.explanation
            .contains("seq 9 at 2024-01-29T19:30:00Z derived again"),
        "{}",
        late.explanation
    );
    assert_eq!(vee.pending_withdrawal().mountings, 10);
    vee.apply(read(11, 40.0, 155));
    let february = vee.close_through(period(2024, 2)).remove(0);
    assert_eq!(february.actual.mountings, 10 + 100 - 10);
    assert!(vee.pending_withdrawal().is_zero());
    assert!(
        february
            .notes
            .iter()
            .any(|n| n.contains("re-sequencing correction")),
        "{:?}",
        february.notes
    );
    assert!(vee.head_is_replayable());
}
