//! VEE rules, case by case (hand-computed) and as properties.

use super::*;
use proptest::prelude::*;

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

#[test]
fn period_start_is_midnight_utc_on_the_first() {
    assert_eq!(period(2024, 1).start_unix(), 1_704_067_200);
    assert_eq!(period(2024, 3).start_unix(), 1_709_251_200);
    assert_eq!(
        Period::of_unix(period(2024, 3).start_unix() - 1),
        period(2024, 2)
    );
}

#[test]
fn rounding_is_half_up() {
    assert_eq!(round_half_up(255, 10), 26);
    assert_eq!(round_half_up(254, 10), 25);
    assert_eq!(round_half_up(6375, 1000), 6);
    assert_eq!(round_half_up(1, 2), 1);
    assert_eq!(round_half_up(0, 7), 0);
}

#[test]
fn counter_events_become_readings() {
    let event = UsageEvent {
        machine: crate::event::MachineId(1),
        seq: 9,
        time: 42,
        shop: crate::event::ShopId(2),
        body: EventBody::Counter {
            total_cycles: 10,
            mountings: 8,
            trace_only: 2,
            removal: false,
            health: None,
        },
    };
    assert_eq!(Reading::from_event(&event), Some(reading(9, 42, 10, 8, 2)));
    let removed = UsageEvent {
        body: EventBody::Counter {
            total_cycles: 10,
            mountings: 8,
            trace_only: 2,
            removal: true,
            health: None,
        },
        ..event
    };
    assert_eq!(
        Reading::from_event(&removed),
        Some(removal(reading(9, 42, 10, 8, 2)))
    );
    let trace = UsageEvent {
        body: EventBody::TraceOnly {
            frame: crate::event::Frame::FullRim,
        },
        ..event
    };
    assert_eq!(Reading::from_event(&trace), None);
}

#[test]
fn first_reading_is_a_baseline_without_usage() {
    let mut vee = MachineVee::new(VeeConfig::default());
    let v = vee.apply(reading(1, at(0), 500, 400, 100));
    assert!(v.applied());
    assert_eq!(v.steps.unwrap().mountings.kind, StepKind::Baseline);
    assert!(v.units().is_zero());
    assert_eq!(v.period, None);
    assert!(v.explanation.contains("baseline"), "{}", v.explanation);
}

/// An 8-digit counter (modulus 100_000_000) at 99_999_678 counts 99_999_679 ..= 99_999_999
/// (99_999_999 − 99_999_678 = 321 units), wraps to 0 (1 unit: 99_999_999 → 0 is a count
/// like any other), then 1 ..= 123 (123 units): 321 + 1 + 123 = 445 = 100_000_000 −
/// 99_999_678 + 123. The field notes' "444" is 99_999_999 − 99_999_678 + 123, which drops
/// the wrap's own count; a counter that counted 444 times from 99_999_678 would show 122.
#[test]
fn rollover_of_an_8_digit_counter_is_445_units() {
    let config = VeeConfig {
        modulus: 100_000_000,
        ..VeeConfig::default()
    };
    let mut vee = MachineVee::new(config);
    // 100 mountings a day for 4 days: 99_999_278 → 99_999_678; allowance 5 × 100 = 500.
    for day in 0..=4u64 {
        let m = 99_999_278 + 100 * day;
        let v = vee.apply(reading(day + 1, at(day as i64), 5_000 + 100 * day, m, 0));
        assert!(v.flags.is_empty(), "{}", v.explanation);
    }
    assert_eq!(vee.average_daily_use().mountings, 100);
    let v = vee.apply(reading(6, at(5), 5_845, 123, 0));
    let step = v.steps.unwrap().mountings;
    assert_eq!(
        step,
        Step {
            kind: StepKind::Rollover,
            units: 445,
            allowance: 500
        }
    );
    assert_eq!(v.units().total_cycles, 445);
    assert!(v.flags.is_empty(), "{}", v.explanation);
    assert!(
        v.explanation
            .contains("rollover +445 (= 100000000 − 99999678 + 123"),
        "{}",
        v.explanation
    );
}

/// The same drop is a rollover when 445 is within the allowance, a reset (123) when not.
#[test]
fn rollover_or_reset_is_decided_by_the_allowance() {
    for (allowance, kind, units) in [(445, StepKind::Rollover, 445), (444, StepKind::Reset, 123)] {
        let config = VeeConfig {
            modulus: 100_000_000,
            min_daily_allowance: allowance,
            ..VeeConfig::default()
        };
        let mut vee = MachineVee::new(config);
        vee.apply(reading(1, at(0), 0, 99_999_678, 0));
        let v = vee.apply(reading(2, at(1), 0, 123, 0));
        let step = v.steps.unwrap().mountings;
        assert_eq!((step.kind, step.units), (kind, units), "{}", v.explanation);
    }
}

/// 100 → 350 → 50: +250, then a reset (a 32-bit wrap would be 2^32 − 350 + 50 = 4_294_966_996 units), +50.
/// Reset-aware usage is 300; a naive end − start would say −50.
#[test]
fn reset_aware_usage_of_100_350_50_is_300() {
    let mut vee = MachineVee::new(VeeConfig::default());
    // Three days apart, so 250 stays within the new machine's 3 × 100 allowance.
    vee.apply(reading(1, at(0), 100, 100, 0));
    let up = vee.apply(reading(2, at(3), 350, 350, 0));
    let down = vee.apply(reading(3, at(6), 50, 50, 0));
    let (up, down) = (up.steps.unwrap(), down.steps.unwrap());
    assert_eq!(
        (up.total_cycles.kind, up.total_cycles.units),
        (StepKind::Normal, 250)
    );
    assert_eq!(
        (down.total_cycles.kind, down.total_cycles.units),
        (StepKind::Reset, 50)
    );
    assert_eq!(down.mountings.kind, StepKind::Reset);
    assert_eq!(up.total_cycles.units + down.total_cycles.units, 300);
    let billed = vee
        .open_periods()
        .map(|p| p.billed().total_cycles)
        .sum::<i128>();
    assert_eq!(billed, 300);
}

#[test]
fn reset_explanation_names_the_rejected_rollover() {
    let mut vee = MachineVee::new(VeeConfig::default());
    vee.apply(reading(1, at(0), 350, 350, 0));
    let v = vee.apply(reading(2, at(1), 50, 50, 0));
    assert!(
        v.explanation
            .contains("total_cycles 350 → 50: reset +50 (restarted at 0; a rollover would be +4294966996, allowance 100)"),
        "{}",
        v.explanation
    );
}

/// 40/day for 10 days: allowance max(100, 5 × 40) = 200 a day. +200 passes, +201 is a
/// spike: kept, billed, flagged, and left out of the average.
#[test]
fn spike_is_flagged_kept_and_left_out_of_the_average() {
    let mut vee = MachineVee::new(VeeConfig::default());
    let (m, _) = daily(&mut vee, 0..=10, (0, 0), (40, 0));
    let ok = vee.apply(reading(12, at(11), m + 200, m + 200, 0));
    assert!(ok.flags.is_empty(), "{}", ok.explanation);
    let m = m + 200;
    // The average now includes the 200: (400 + 200) / 11 days = 54.5 → 55; allowance 275.
    assert_eq!(vee.average_daily_use().mountings, 55);
    let v = vee.apply(reading(13, at(12), m + 276, m + 276, 0));
    assert_eq!(
        v.flags,
        vec![
            Flag::Spike(Channel::TotalCycles),
            Flag::Spike(Channel::Mountings)
        ]
    );
    assert_eq!(v.units().mountings, 276);
    assert!(
        v.explanation
            .contains("spike: mountings +276 is above the allowance 275"),
        "{}",
        v.explanation
    );
    assert_eq!(
        vee.average_daily_use().mountings,
        55,
        "the spike is not averaged"
    );
    let billed: i128 = vee.open_periods().map(|p| p.billed().mountings).sum();
    assert_eq!(billed, 400 + 200 + 276, "spiked usage is still billed");
}

#[test]
fn a_new_machine_is_allowed_the_minimum_per_day() {
    for (used, flagged) in [(100, false), (101, true)] {
        let mut vee = MachineVee::new(VeeConfig::default());
        vee.apply(reading(1, at(0), 0, 0, 0));
        let v = vee.apply(reading(2, at(1), used, used, 0));
        assert_eq!(
            v.flags.contains(&Flag::Spike(Channel::Mountings)),
            flagged,
            "{}",
            v.explanation
        );
    }
}

/// trace_only stays at 0 under daily readings: 14 days unchanged is allowed, 15 is flagged,
/// and the flag stays until the channel moves.
#[test]
fn zero_channel_is_flagged_after_max_zero_days() {
    let mut vee = MachineVee::new(VeeConfig::default());
    daily(&mut vee, 0..=14, (0, 0), (3, 0));
    let v = vee.apply(reading(16, at(15), 48, 48, 0));
    assert_eq!(v.flags, vec![Flag::Zero(Channel::TraceOnly)]);
    assert!(
        v.explanation
            .contains("zero: trace_only unchanged since 2024-01-01T19:30:00Z (more than 14 days)"),
        "{}",
        v.explanation
    );
    let v = vee.apply(reading(17, at(16), 52, 51, 1));
    assert!(v.flags.is_empty(), "{}", v.explanation);
}

#[test]
fn duplicates_same_time_and_out_of_range_readings_are_not_applied() {
    let config = VeeConfig {
        modulus: 100_000_000,
        ..VeeConfig::default()
    };
    let mut vee = MachineVee::new(config);
    vee.apply(reading(1, at(0), 10, 10, 0));
    vee.apply(reading(2, at(1), 20, 20, 0));
    let duplicate = vee.apply(reading(2, at(1), 20, 20, 0));
    assert_eq!(duplicate.flags, vec![Flag::Duplicate]);
    let same_time = vee.apply(reading(4, at(1), 25, 25, 0));
    assert_eq!(same_time.flags, vec![Flag::OutOfOrder]);
    let too_big = vee.apply(reading(5, at(2), 100_000_000, 30, 0));
    assert_eq!(too_big.flags, vec![Flag::OutOfRange(Channel::TotalCycles)]);
    for v in [&duplicate, &same_time, &too_big] {
        assert!(!v.applied() && v.period.is_none() && v.units().is_zero());
        assert!(v.flags.iter().all(|f| f.rejects()));
        assert!(v.explanation.contains("not applied"), "{}", v.explanation);
    }
    assert_eq!(vee.last_accepted(), Some(&reading(2, at(1), 20, 20, 0)));
    // A restarted seq with a later time is accepted: time orders readings.
    assert!(vee.apply(reading(1, at(2), 30, 30, 0)).applied());
}

#[test]
fn inconsistent_channels_are_flagged() {
    let mut vee = MachineVee::new(VeeConfig::default());
    vee.apply(reading(1, at(0), 100, 80, 20));
    let v = vee.apply(reading(2, at(1), 105, 83, 21));
    assert_eq!(v.flags, vec![Flag::Inconsistent]);
    assert!(
        v.explanation
            .contains("total_cycles +5 ≠ mountings +3 + trace_only +1"),
        "{}",
        v.explanation
    );
    assert_eq!(
        v.units(),
        Channels {
            total_cycles: 5,
            mountings: 3,
            trace_only: 1
        }
    );
}

/// A step whose readings straddle a month end goes wholly to the later reading's month; a
/// January whose last reading is 4.5 h before its end is not estimated.
#[test]
fn a_step_across_a_month_end_goes_to_the_later_reading() {
    let mut vee = MachineVee::new(VeeConfig::default());
    daily(&mut vee, 0..=30, (0, 0), (8, 2)); // Jan 1 .. Jan 31
    let v = vee.apply(reading(32, at(31), 310, 248, 62)); // Feb 1 19:30
    assert_eq!(v.period, Some(period(2024, 2)));
    let closed = vee.close_through(period(2024, 1));
    assert_eq!(closed.len(), 1);
    assert!(!closed[0].estimated);
    assert_eq!(closed[0].billed().total_cycles, 300);
    assert_eq!(vee.open_periods().next().unwrap().actual.total_cycles, 10);
}

/// Hand-computed. 10/day (8 mountings + 2 trace-only) read daily at 19:30 from Jan 1
/// (baseline) to Jan 28: January's actual steps are 27 × 10 = 270. The window holds 27
/// steps of one day each: 10/day exactly. January closes with its last reading at Jan 28
/// 19:30, 3 d 04:30 = 275_400 s (3.1875 days) before Feb 1 00:00, so the estimate is
/// total 10 × 3.1875 = 31.875 → 32, mountings 8 × 3.1875 = 25.5 → 26 (half up), trace-only
/// 2 × 3.1875 = 6.375 → 6. January bills 270 + 32 = 302.
/// The Feb 3 reading shows 70 since Jan 28 (56 + 14): February bills 70 − 32 = 38 for it,
/// then 26 daily steps of 10 (Feb 4 .. Feb 29, 2024 is a leap year) = 260: 298 in all.
/// Feb 29 19:30 is 4.5 h before March: within the 24 h grace, not estimated.
/// 302 + 298 = 600 = 270 + 70 + 260, every unit once.
#[test]
fn missing_end_of_period_reading_is_estimated_then_trued_up() {
    let mut vee = MachineVee::new(VeeConfig::default());
    let (m, t) = daily(&mut vee, 0..=27, (0, 0), (8, 2)); // Jan 1 .. Jan 28
    assert_eq!(
        vee.average_daily_use(),
        Channels {
            total_cycles: 10,
            mountings: 8,
            trace_only: 2
        }
    );

    let january = vee.close_through(period(2024, 1));
    assert_eq!(january.len(), 1);
    let january = &january[0];
    assert!(january.estimated);
    assert_eq!(
        january.actual,
        Channels {
            total_cycles: 270,
            mountings: 216,
            trace_only: 54
        }
    );
    assert_eq!(
        january.estimate,
        Channels {
            total_cycles: 32,
            mountings: 26,
            trace_only: 6
        }
    );
    assert_eq!(
        january.billed(),
        Channels {
            total_cycles: 302,
            mountings: 242,
            trace_only: 60
        }
    );
    assert!(
        january.notes[0].contains("2024-01-28T19:30:00Z → 2024-02-01T00:00:00Z (3 d 04:30:00)"),
        "{}",
        january.notes[0]
    );
    assert_eq!(vee.outstanding_estimate(), january.estimate);

    let (m, t) = (m + 56, t + 14);
    let feb_3 = vee.apply(reading(100, at(33), m + t, m, t));
    assert_eq!(feb_3.period, Some(period(2024, 2)));
    assert_eq!(
        feb_3.units(),
        Channels {
            total_cycles: 70,
            mountings: 56,
            trace_only: 14
        }
    );
    assert_eq!(feb_3.reversed_estimate, january.estimate);
    assert!(
        feb_3.explanation.contains("true-up"),
        "{}",
        feb_3.explanation
    );
    assert!(vee.outstanding_estimate().is_zero());

    // Feb 4 .. Feb 29 (seq need not increase: time orders readings).
    daily(&mut vee, 34..=59, (m, t), (8, 2));
    let february = vee.close_through(period(2024, 2));
    let february = &february[0];
    assert!(!february.estimated);
    assert_eq!(february.actual.total_cycles, 70 + 260);
    assert_eq!(february.reversed_estimate.total_cycles, 32);
    assert_eq!(
        february.billed(),
        Channels {
            total_cycles: 298,
            mountings: 238,
            trace_only: 60
        }
    );
    assert_eq!(
        january.billed().total_cycles + february.billed().total_cycles,
        600
    );
}

/// The same January, but Feb 3 shows only 20 since Jan 28: February is credited 20 − 32 = −12.
#[test]
fn an_estimate_that_was_too_high_becomes_a_credit() {
    let mut vee = MachineVee::new(VeeConfig::default());
    let (m, t) = daily(&mut vee, 0..=27, (0, 0), (8, 2));
    vee.close_through(period(2024, 1));
    vee.apply(reading(100, at(33), m + t + 20, m + 16, t + 4));
    let february = vee.open_periods().next().unwrap();
    assert_eq!(
        february.billed(),
        Channels {
            total_cycles: -12,
            mountings: -10,
            trace_only: -2
        }
    );
}

/// A late reading inside the estimated interval (Jan 30, arriving after January closed)
/// goes to February and reverses only itself (15 of 32); Feb 3 reverses the other 17.
#[test]
fn a_late_reading_inside_the_estimate_reverses_only_itself() {
    let mut vee = MachineVee::new(VeeConfig::default());
    let (m, t) = daily(&mut vee, 0..=27, (0, 0), (8, 2));
    vee.close_through(period(2024, 1));
    let late = vee.apply(reading(100, at(29), m + t + 15, m + 12, t + 3));
    assert_eq!(late.period, Some(period(2024, 2)));
    assert_eq!(late.reversed_estimate.total_cycles, 15);
    assert_eq!(vee.outstanding_estimate().total_cycles, 17);
    let feb_3 = vee.apply(reading(101, at(33), m + t + 70, m + 56, t + 14));
    assert_eq!(feb_3.reversed_estimate.total_cycles, 17);
    let february = vee.open_periods().next().unwrap();
    assert_eq!(february.billed().total_cycles, 70 - 32);
}

/// Silent through February: January is estimated to Feb 1 (32), February for all its 29
/// days (290); the Mar 5 reading reverses both.
#[test]
fn estimates_carry_across_silent_periods() {
    let mut vee = MachineVee::new(VeeConfig::default());
    let (m, t) = daily(&mut vee, 0..=27, (0, 0), (8, 2));
    let closed = vee.close_through(period(2024, 2));
    assert_eq!(
        closed.iter().map(|p| p.period).collect::<Vec<_>>(),
        [period(2024, 1), period(2024, 2)]
    );
    assert_eq!(closed[1].estimate.total_cycles, 290);
    assert_eq!(closed[1].actual.total_cycles, 0);
    assert_eq!(vee.outstanding_estimate().total_cycles, 322);
    let march_5 = vee.apply(reading(100, at(64), m + t + 350, m + 280, t + 70));
    assert_eq!(march_5.reversed_estimate.total_cycles, 322);
    assert_eq!(
        vee.open_periods().next().unwrap().billed().total_cycles,
        350 - 322
    );
}

#[test]
fn without_history_the_estimate_is_zero_but_marked() {
    let mut vee = MachineVee::new(VeeConfig::default());
    vee.apply(reading(1, at(10), 0, 0, 0));
    let january = vee.close_through(period(2024, 1));
    assert!(january[0].estimated);
    assert!(january[0].estimate.is_zero());
    assert!(
        january[0].notes[0].contains("no history"),
        "{}",
        january[0].notes[0]
    );
}

#[test]
fn closing_starts_at_the_baseline_period_and_never_repeats() {
    let mut vee = MachineVee::new(VeeConfig::default());
    assert_eq!(vee.close_through(period(2023, 12)).len(), 1);
    let mut vee = MachineVee::new(VeeConfig::default());
    vee.apply(reading(1, at(0), 0, 0, 0));
    vee.apply(reading(2, at(70), 10, 10, 0)); // Mar 11
    let closed = vee.close_through(period(2024, 2));
    assert_eq!(
        closed.iter().map(|p| p.period).collect::<Vec<_>>(),
        [period(2024, 1), period(2024, 2)]
    );
    assert!(
        closed.iter().all(|p| !p.estimated),
        "a later reading covers both"
    );
    assert!(vee.close_through(period(2024, 2)).is_empty());
}

/// January at 10/day read daily through Jan 27, then the Jan 28 read (+10), flagged as the
/// removal read or not; then January, February and March close with no further reading.
fn closes_after_a_last_read_on_jan_28(flagged: bool) -> (MachineVee, Vec<PeriodUsage>) {
    let mut vee = MachineVee::new(VeeConfig::default());
    let (m, t) = daily(&mut vee, 0..=26, (0, 0), (8, 2));
    let last = reading(28, at(27), m + t + 10, m + 8, t + 2);
    let v = vee.apply(Reading {
        removal: flagged,
        ..last
    });
    assert!(v.applied() && v.flags.is_empty(), "{}", v.explanation);
    let closed = vee.close_through(period(2024, 3));
    assert_eq!(closed.len(), 3);
    (vee, closed)
}

/// (a) A removed machine has no unread tail: three closes after its removal read estimate
/// nothing, and January bills exactly its 27 steps of 10.
#[test]
fn no_tail_is_estimated_after_a_removal_read() {
    let (vee, closed) = closes_after_a_last_read_on_jan_28(true);
    assert!(vee.is_removed());
    for p in &closed {
        assert!(!p.estimated, "{}: {:?}", p.period, p.notes);
        assert!(p.estimate.is_zero());
    }
    assert!(vee.outstanding_estimate().is_zero());
    assert_eq!(closed[0].billed().total_cycles, 270);
    assert!(closed[1..].iter().all(|p| p.billed().total_cycles == 0));
}

/// (b) The same history without the flag: the machine is still in the shop, so every close
/// estimates its tail (January's 3 d 04:30 → 32, February's 29 days → 290, March's 31 → 310).
#[test]
fn the_same_history_without_the_removal_flag_is_estimated() {
    let (vee, closed) = closes_after_a_last_read_on_jan_28(false);
    assert!(!vee.is_removed());
    assert!(closed.iter().all(|p| p.estimated));
    let estimates: Vec<u64> = closed.iter().map(|p| p.estimate.total_cycles).collect();
    assert_eq!(estimates, [32, 290, 310]);
    assert_eq!(vee.outstanding_estimate().total_cycles, 632);
}

/// (c) January is estimated (32 from Jan 28 19:30), then the machine is removed on Feb 3
/// with 70 since Jan 28: the removal read is the first reading after the estimate and trues
/// it up (February bills 70 − 32 = 38); February and March close without an estimate.
/// 302 + 38 = 340 = 270 + 70, every unit once.
#[test]
fn an_outstanding_estimate_is_trued_up_by_the_removal_read() {
    let mut vee = MachineVee::new(VeeConfig::default());
    let (m, t) = daily(&mut vee, 0..=27, (0, 0), (8, 2));
    let january = vee.close_through(period(2024, 1)).remove(0);
    assert_eq!(january.estimate.total_cycles, 32);
    let v = vee.apply(removal(reading(100, at(33), m + t + 70, m + 56, t + 14)));
    assert_eq!(v.period, Some(period(2024, 2)));
    assert_eq!(v.reversed_estimate, january.estimate);
    assert!(v.explanation.contains("true-up"), "{}", v.explanation);
    assert!(v.explanation.contains("removal read"), "{}", v.explanation);
    assert!(vee.outstanding_estimate().is_zero());
    let closed = vee.close_through(period(2024, 3));
    assert!(closed.iter().all(|p| !p.estimated), "{closed:?}");
    assert_eq!(closed[0].billed().total_cycles, 70 - 32);
    assert!(
        closed[0]
            .notes
            .iter()
            .any(|n| n.starts_with("removal: seq 100")),
        "{:?}",
        closed[0].notes
    );
    assert_eq!(
        january.billed().total_cycles + closed[0].billed().total_cycles,
        270 + 70
    );
}

/// A removal read dated inside the estimated interval (Jan 30, after January closed with 32
/// estimated to Feb 1) reverses all 32, not only its own 15: nothing will follow it, and the
/// use estimated after Jan 30 never happened. February bills 15 − 32 = −17.
#[test]
fn a_late_removal_read_inside_the_estimate_reverses_all_of_it() {
    let mut vee = MachineVee::new(VeeConfig::default());
    let (m, t) = daily(&mut vee, 0..=27, (0, 0), (8, 2));
    vee.close_through(period(2024, 1));
    let v = vee.apply(removal(reading(100, at(29), m + t + 15, m + 12, t + 3)));
    assert_eq!(v.reversed_estimate.total_cycles, 32);
    assert!(vee.outstanding_estimate().is_zero());
    let february = vee.close_through(period(2024, 2)).remove(0);
    assert_eq!(february.billed().total_cycles, 15 - 32);
    assert!(!february.estimated);
}

/// (d) Removed on Jan 29 (nothing estimated for January's 2 d 04:30 tail nor for February),
/// reinstalled with a read on Mar 4 showing 8 more: that step is billed in March as usual,
/// the machine is no longer removed, and March's close estimates its tail again.
#[test]
fn a_reading_after_the_removal_reinstalls_the_machine() {
    let mut vee = MachineVee::new(VeeConfig::default());
    let (m, t) = daily(&mut vee, 0..=27, (0, 0), (8, 2));
    let (m, t) = (m + 8, t + 2);
    vee.apply(removal(reading(29, at(28), m + t, m, t)));
    let closed = vee.close_through(period(2024, 2));
    assert!(closed.iter().all(|p| !p.estimated), "{closed:?}");

    let (m, t) = (m + 6, t + 2);
    let v = vee.apply(reading(64, at(63), m + t, m, t));
    assert!(v.flags.is_empty(), "{}", v.explanation);
    assert_eq!(v.period, Some(period(2024, 3)));
    assert_eq!(v.units().total_cycles, 8);
    assert!(v.reversed_estimate.is_zero());
    assert!(v.explanation.contains("reinstalled"), "{}", v.explanation);
    assert!(!vee.is_removed());

    daily(&mut vee, 64..=79, (m, t), (8, 2)); // Mar 5 .. Mar 20
    let march = vee.close_through(period(2024, 3)).remove(0);
    assert!(march.estimated, "{:?}", march.notes);
    assert!(march.estimate.total_cycles > 0);
    assert_eq!(march.actual.total_cycles, 8 + 16 * 10);
}

/// A removal read that is not applied does not remove: the machine is still estimated.
#[test]
fn a_rejected_removal_read_does_not_remove() {
    let mut vee = MachineVee::new(VeeConfig::default());
    let (m, t) = daily(&mut vee, 0..=27, (0, 0), (8, 2));
    let duplicate = vee.apply(removal(reading(28, at(28), m + t, m, t)));
    assert_eq!(duplicate.flags, vec![Flag::Duplicate]);
    let same_time = vee.apply(removal(reading(99, at(27), m + t, m, t)));
    assert_eq!(same_time.flags, vec![Flag::OutOfOrder]);
    assert!(!vee.is_removed());
    // Placed before the latest reading, a removal read is followed by one: still installed.
    let placed = vee.apply(removal(reading(98, at(27) - 60, m + t, m, t)));
    assert!(placed.applied(), "{}", placed.explanation);
    assert!(!vee.is_removed());
    assert!(vee.close_through(period(2024, 1))[0].estimated);
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
