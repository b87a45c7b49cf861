//! Estimates and true-ups at closes, credits, silent periods, removal reads, hand-computed.

use super::*;

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
