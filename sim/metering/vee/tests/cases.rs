//! VEE rules on single readings, hand-computed: baselines, rollovers and resets, spikes, zero and inconsistent channels, steps across month ends.

use super::*;

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
