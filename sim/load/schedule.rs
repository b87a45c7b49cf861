//! The open model's arithmetic: when each request is due, how many fit in the run, which ones
//! are re-sends, and when a start counts as late.
//!
//! Request `i` is due at `start + i × interval`, computed as one exact integer product per
//! request (never by adding intervals), so the schedule does not drift over a long run.

use std::time::Duration;

const NANOS_PER_SECOND: u128 = 1_000_000_000;
const PARTS_PER_MILLION: u64 = 1_000_000;

/// The shortest lateness that counts as late: below this, a start is within the sleep and
/// wake-up jitter of an ordinary OS thread, whatever the interval.
pub const MIN_LATE_TOLERANCE: Duration = Duration::from_millis(1);

/// Fixed instants at a constant request rate: the interval is `numerator / denominator`
/// nanoseconds, kept as a fraction so that rates like 3 requests/s stay exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    numerator: u128,
    denominator: u128,
}

impl Schedule {
    /// `events_per_second` in batches of `batch_size`; `None` if either is zero.
    pub fn from_event_rate(events_per_second: u64, batch_size: u64) -> Option<Schedule> {
        (events_per_second > 0 && batch_size > 0).then(|| Schedule {
            numerator: u128::from(batch_size) * NANOS_PER_SECOND,
            denominator: u128::from(events_per_second),
        })
    }

    /// `requests_per_second`; `None` if zero.
    pub fn from_request_rate(requests_per_second: u64) -> Option<Schedule> {
        (requests_per_second > 0).then(|| Schedule {
            numerator: NANOS_PER_SECOND,
            denominator: u128::from(requests_per_second),
        })
    }

    /// When request `index` is due, counted from the start of the run.
    pub fn offset(&self, index: u64) -> Duration {
        duration_from_nanos(u128::from(index) * self.numerator / self.denominator)
    }

    /// The number of requests due before `duration` has elapsed (those with offset < duration).
    pub fn slots_within(&self, duration: Duration) -> u64 {
        let scaled = duration.as_nanos() * self.denominator;
        let slots = scaled.div_ceil(self.numerator);
        u64::try_from(slots).unwrap_or(u64::MAX)
    }

    pub fn interval(&self) -> Duration {
        duration_from_nanos(self.numerator / self.denominator)
    }

    pub fn requests_per_second(&self) -> f64 {
        self.denominator as f64 * NANOS_PER_SECOND as f64 / self.numerator as f64
    }

    /// A start later than this after its slot counts as late: one interval, but never less
    /// than `MIN_LATE_TOLERANCE`.
    pub fn late_tolerance(&self) -> Duration {
        self.interval().max(MIN_LATE_TOLERANCE)
    }
}

fn duration_from_nanos(nanos: u128) -> Duration {
    let seconds = u64::try_from(nanos / NANOS_PER_SECOND).unwrap_or(u64::MAX);
    Duration::new(seconds, (nanos % NANOS_PER_SECOND) as u32)
}

/// What a request slot carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// The fresh batch with this index (batches are numbered 0, 1, 2 … in slot order).
    Fresh(u64),
    /// A verbatim re-send of an earlier fresh batch, as a client retry would be.
    Resend(u64),
}

/// Spreads re-sends evenly over the slots: slot `i` is a re-send exactly when
/// `floor((i + 1) × share)` steps up, so any prefix of the run holds its share of re-sends
/// (rounded down) and no random draw is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resends {
    /// The share of slots that re-send, in parts per million (below one million).
    share_ppm: u64,
    /// How many fresh batches back a re-send reaches, so that the original has most likely
    /// been answered already (a retry follows a timeout), e.g. the number of connections.
    lag: u64,
}

impl Resends {
    pub const NONE: Resends = Resends {
        share_ppm: 0,
        lag: 0,
    };

    /// `share` in [0, 1); `None` otherwise.
    pub fn new(share: f64, lag: u64) -> Option<Resends> {
        if !(0.0..1.0).contains(&share) {
            return None;
        }
        Some(Resends {
            share_ppm: (share * PARTS_PER_MILLION as f64).round() as u64,
            lag,
        })
    }

    fn resends_before(&self, slot: u64) -> u64 {
        (u128::from(slot) * u128::from(self.share_ppm) / u128::from(PARTS_PER_MILLION)) as u64
    }

    pub fn is_resend(&self, slot: u64) -> bool {
        self.resends_before(slot.saturating_add(1)) > self.resends_before(slot)
    }

    /// The payload of slot `slot`.
    pub fn payload(&self, slot: u64) -> Payload {
        let fresh_before = slot - self.resends_before(slot);
        if !self.is_resend(slot) {
            return Payload::Fresh(fresh_before);
        }
        // fresh_before ≥ 1 here: with a share below one, slot 0 is always fresh.
        let newest = fresh_before.saturating_sub(1);
        Payload::Resend(newest - self.lag.min(newest))
    }

    /// How many fresh batches the first `slots` slots carry.
    pub fn fresh_batches(&self, slots: u64) -> u64 {
        slots - self.resends_before(slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_exact_multiples_of_the_interval() {
        let s = Schedule::from_event_rate(20_000, 100).unwrap();
        assert_eq!(s.interval(), Duration::from_millis(5));
        assert_eq!(s.offset(0), Duration::ZERO);
        assert_eq!(s.offset(3), Duration::from_millis(15));
        assert_eq!(s.offset(200_000), Duration::from_secs(1_000));
        assert_eq!(s.requests_per_second(), 200.0);
    }

    #[test]
    fn fractional_intervals_do_not_drift() {
        // 3 requests/s: an interval of 333,333,333.3 ns; request 3 000 000 is due at exactly
        // 1 000 000 s, where summing rounded intervals would be a second early.
        let s = Schedule::from_request_rate(3).unwrap();
        assert_eq!(s.offset(1), Duration::from_nanos(333_333_333));
        assert_eq!(s.offset(3), Duration::from_secs(1));
        assert_eq!(s.offset(3_000_000), Duration::from_secs(1_000_000));
    }

    #[test]
    fn slots_are_those_due_before_the_end() {
        let s = Schedule::from_request_rate(200).unwrap();
        assert_eq!(s.slots_within(Duration::from_secs(1)), 200);
        assert_eq!(s.slots_within(Duration::from_millis(1001)), 201);
        assert_eq!(s.slots_within(Duration::ZERO), 0);
        let s = Schedule::from_request_rate(3).unwrap();
        assert_eq!(s.slots_within(Duration::from_secs(1)), 3);
        assert!(s.offset(s.slots_within(Duration::from_secs(1)) - 1) < Duration::from_secs(1));
    }

    #[test]
    fn zero_rates_are_refused() {
        assert_eq!(Schedule::from_event_rate(0, 100), None);
        assert_eq!(Schedule::from_event_rate(100, 0), None);
        assert_eq!(Schedule::from_request_rate(0), None);
    }

    #[test]
    fn lateness_tolerance_is_an_interval_but_at_least_a_millisecond() {
        let slow = Schedule::from_request_rate(10).unwrap();
        assert_eq!(slow.late_tolerance(), Duration::from_millis(100));
        let fast = Schedule::from_request_rate(100_000).unwrap();
        assert_eq!(fast.late_tolerance(), MIN_LATE_TOLERANCE);
    }

    #[test]
    fn resends_take_their_share_evenly_and_point_back() {
        let r = Resends::new(0.25, 2).unwrap();
        let payloads: Vec<Payload> = (0..8).map(|i| r.payload(i)).collect();
        use Payload::*;
        assert_eq!(
            payloads,
            [
                Fresh(0),
                Fresh(1),
                Fresh(2),
                Resend(0),
                Fresh(3),
                Fresh(4),
                Fresh(5),
                Resend(3)
            ]
        );
        assert_eq!(r.fresh_batches(8), 6);
        assert_eq!(r.fresh_batches(1000), 750);
    }

    #[test]
    fn fresh_batches_are_numbered_without_gaps() {
        let r = Resends::new(0.07, 16).unwrap();
        let fresh: Vec<u64> = (0..10_000)
            .filter_map(|i| match r.payload(i) {
                Payload::Fresh(f) => Some(f),
                Payload::Resend(_) => None,
            })
            .collect();
        assert_eq!(fresh, (0..r.fresh_batches(10_000)).collect::<Vec<_>>());
        assert_eq!(10_000 - fresh.len(), 700);
    }

    #[test]
    fn resends_only_repeat_batches_already_scheduled() {
        let r = Resends::new(0.5, 1_000).unwrap();
        for i in 0..1_000 {
            if let Payload::Resend(f) = r.payload(i) {
                assert!(f < r.fresh_batches(i), "slot {i} re-sends {f}");
            }
        }
    }

    #[test]
    fn no_share_means_no_resends_and_bad_shares_are_refused() {
        assert!((0..1000).all(|i| Resends::NONE.payload(i) == Payload::Fresh(i)));
        assert_eq!(Resends::new(1.0, 0), None);
        assert_eq!(Resends::new(-0.1, 0), None);
        assert_eq!(Resends::new(f64::NAN, 0), None);
    }
}
