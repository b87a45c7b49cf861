//! A day's delivered events → the machines' uploads: when each machine sends what, in
//! virtual time. The simulation hands over a day at a time (`IngestBatch`): per machine, any
//! backlog from an outage (earlier days' events, with their own times) before the day's own
//! events, and duplicates re-sent by the transport at the end. Here:
//! - an event of the day is delivered when it happened; a backlog when its machine is back
//!   online, which is its first event of the day (it is switched on), or `RECONNECT_HOUR`
//!   when it did nothing that day: a machine back after weeks sends weeks of events at once;
//! - a duplicate is a retry: delivered one upload interval after its original (at least
//!   `RETRY_AFTER_SECONDS`), so it reaches the target in another request;
//! - a machine uploads every `every` seconds (zero: each event as it comes), at instants
//!   offset per machine so that the fleet does not upload in lockstep;
//! - on a month's last day the head-end reads every machine at once for the month's billing
//!   (`month_end_read`): that day's counter readings go at `MONTH_END_READ_HOUR`, the whole
//!   fleet within `MONTH_END_READ_SPREAD` seconds, outside the machines' upload windows — the
//!   month-end peak;
//! - an upload longer than `batch_size` events is split into several requests, sent one after
//!   the other by one connection (a machine's events reach the target in sequence order).

use crate::event::{MachineId, ShopId, UsageEvent};
use std::collections::{BTreeMap, HashMap};

/// When a machine back online with nothing to do that day sends its backlog: 08:00.
pub const RECONNECT_HOUR: i64 = 8;
/// A retried event goes at least this long after its original (virtual seconds).
pub const RETRY_AFTER_SECONDS: i64 = 60;
/// The month-end read: at 23:00 on a month's last day…
pub const MONTH_END_READ_HOUR: i64 = 23;
/// …the whole fleet within a minute.
pub const MONTH_END_READ_SPREAD: i64 = 60;

/// How machines deliver: their upload interval (virtual seconds; zero: each event as it
/// comes), events per request at most, and whether the head-end reads the fleet at month-end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub every: i64,
    pub batch_size: usize,
    pub month_end_read: bool,
}

/// What one machine sends at one instant.
#[derive(Clone, Debug, PartialEq)]
pub struct Upload {
    /// Unix seconds, virtual time.
    pub at: i64,
    pub machine: MachineId,
    pub shop: ShopId,
    /// The requests, each at most `batch_size` events, in the order they are sent.
    pub requests: Vec<Vec<UsageEvent>>,
}

/// The uploads of the day starting at `day_start` (unix seconds), sorted by instant then
/// machine.
pub fn day_uploads(day_start: i64, events: &[UsageEvent], delivery: Delivery) -> Vec<Upload> {
    let Delivery {
        every, batch_size, ..
    } = delivery;
    let read_at = (delivery.month_end_read && is_month_end(day_start))
        .then_some(day_start + MONTH_END_READ_HOUR * 3600);
    let online = back_online(day_start, events);
    let mut delivered: HashMap<(MachineId, u64), i64> = HashMap::with_capacity(events.len());
    let mut groups: BTreeMap<(i64, MachineId, ShopId), Vec<UsageEvent>> = BTreeMap::new();
    for e in events {
        let at = match delivered.get(&(e.machine, e.seq)) {
            Some(first) => first + every.max(RETRY_AFTER_SECONDS),
            None => {
                let at = if e.time >= day_start {
                    e.time
                } else {
                    online[&e.machine]
                };
                delivered.insert((e.machine, e.seq), at);
                at
            }
        };
        let upload = match read_at {
            Some(read) if is_daily_reading(e, day_start) => {
                let spread = phase(e.machine, MONTH_END_READ_SPREAD);
                (read + spread).max(at)
            }
            _ => upload_instant(at, e.machine, every),
        };
        groups
            .entry((upload, e.machine, e.shop))
            .or_default()
            .push(*e);
    }
    groups
        .into_iter()
        .map(|((at, machine, shop), events)| Upload {
            at,
            machine,
            shop,
            requests: events
                .chunks(batch_size.max(1))
                .map(<[UsageEvent]>::to_vec)
                .collect(),
        })
        .collect()
}

/// Per machine of the batch, the instant it is online that day: its first event of the day.
fn back_online(day_start: i64, events: &[UsageEvent]) -> HashMap<MachineId, i64> {
    let mut online: HashMap<MachineId, i64> = HashMap::new();
    for e in events {
        let first = online.entry(e.machine).or_insert(i64::MAX);
        if e.time >= day_start {
            *first = (*first).min(e.time);
        }
    }
    for first in online.values_mut() {
        if *first == i64::MAX {
            *first = day_start + RECONNECT_HOUR * 3600;
        }
    }
    online
}

/// The end of the upload window holding `at`: windows of `every` seconds, shifted per machine
/// (a fixed multiplicative hash of its id), so machines spread over the interval.
fn upload_instant(at: i64, machine: MachineId, every: i64) -> i64 {
    if every <= 0 {
        return at;
    }
    let phase = phase(machine, every);
    phase + ((at - phase).div_euclid(every) + 1) * every
}

/// A machine's fixed offset in `0..every` (a multiplicative hash of its id).
fn phase(machine: MachineId, every: i64) -> i64 {
    (u64::from(machine.0).wrapping_mul(2_654_435_761) % every.max(1) as u64) as i64
}

/// Whether the day starting at `day_start` (unix seconds, UTC midnight) is its month's last.
fn is_month_end(day_start: i64) -> bool {
    let next = chrono::DateTime::from_timestamp(day_start + 86_400, 0);
    next.is_some_and(|d| chrono::Datelike::day(&d) == 1)
}

/// A counter reading of the day itself (not a backlog's, not a removal's).
fn is_daily_reading(e: &UsageEvent, day_start: i64) -> bool {
    e.time >= day_start
        && matches!(
            e.body,
            crate::event::EventBody::Counter { removal: false, .. }
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventBody;

    const DAY: i64 = 1_750_000_000 - 1_750_000_000 % 86_400;

    fn each(every: i64, batch_size: usize) -> Delivery {
        Delivery {
            every,
            batch_size,
            month_end_read: true,
        }
    }

    fn event(machine: u32, seq: u64, time: i64) -> UsageEvent {
        UsageEvent {
            machine: MachineId(machine),
            seq,
            time,
            shop: ShopId(machine / 2),
            body: EventBody::TraceOnly {
                frame: crate::event::Frame::FullRim,
            },
        }
    }

    #[test]
    fn each_event_as_it_comes_without_an_interval() {
        let events = [event(1, 1, DAY + 9 * 3600), event(1, 2, DAY + 10 * 3600)];
        let uploads = day_uploads(DAY, &events, each(0, 100));
        let instants: Vec<i64> = uploads.iter().map(|u| u.at).collect();
        assert_eq!(instants, vec![DAY + 9 * 3600, DAY + 10 * 3600]);
    }

    #[test]
    fn a_backlog_goes_when_its_machine_is_back_in_batches_in_sequence() {
        // Machine 3 was offline for two days: five old events, then its first of today.
        let mut events: Vec<UsageEvent> = (1..=5)
            .map(|s| event(3, s, DAY - 2 * 86_400 + s as i64 * 600))
            .collect();
        events.push(event(3, 6, DAY + 9 * 3600 + 17));
        let uploads = day_uploads(DAY, &events, each(0, 2));
        assert_eq!(uploads.len(), 1, "{uploads:?}");
        assert_eq!(uploads[0].at, DAY + 9 * 3600 + 17);
        let seqs: Vec<Vec<u64>> = uploads[0]
            .requests
            .iter()
            .map(|r| r.iter().map(|e| e.seq).collect())
            .collect();
        assert_eq!(seqs, vec![vec![1, 2], vec![3, 4], vec![5, 6]]);
    }

    #[test]
    fn a_backlog_alone_goes_at_the_reconnect_hour() {
        let events = [event(4, 1, DAY - 86_400 + 3600)];
        let uploads = day_uploads(DAY, &events, each(0, 100));
        assert_eq!(uploads[0].at, DAY + RECONNECT_HOUR * 3600);
    }

    #[test]
    fn a_duplicate_is_a_retry_in_a_later_request() {
        let original = event(2, 7, DAY + 11 * 3600);
        let uploads = day_uploads(DAY, &[original, original], each(900, 100));
        assert_eq!(uploads.len(), 2, "{uploads:?}");
        assert_eq!(uploads[1].at - uploads[0].at, 900);
        assert!(uploads.iter().all(|u| u.requests == vec![vec![original]]));
    }

    #[test]
    fn an_interval_gathers_a_machines_events_and_spreads_the_machines() {
        let every = 900;
        let events: Vec<UsageEvent> = (0..40)
            .flat_map(|m| (0..3).map(move |k| event(m, k + 1, DAY + 9 * 3600 + k as i64 * 60)))
            .collect();
        let uploads = day_uploads(DAY, &events, each(every, 100));
        // Three events 60 s apart fall in one window or two, never more.
        let per_machine = uploads.len() as f64 / 40.0;
        assert!((1.0..=2.0).contains(&per_machine), "{per_machine}");
        for u in &uploads {
            for e in u.requests.iter().flatten() {
                assert!(u.at > e.time && u.at - e.time <= every, "{u:?}");
            }
        }
        let phases: std::collections::BTreeSet<i64> =
            uploads.iter().map(|u| u.at.rem_euclid(every)).collect();
        assert!(phases.len() > 20, "machines upload in lockstep: {phases:?}");
        let mut sorted = uploads.clone();
        sorted.sort_by_key(|u| (u.at, u.machine));
        assert_eq!(sorted, uploads);
    }

    fn reading(machine: u32, seq: u64, time: i64) -> UsageEvent {
        UsageEvent {
            body: EventBody::Counter {
                total_cycles: seq,
                mountings: seq,
                trace_only: 0,
                removal: false,
                health: None,
            },
            ..event(machine, seq, time)
        }
    }

    #[test]
    fn at_month_end_the_fleet_is_read_within_a_minute_and_on_other_days_not() {
        // 2025-06-30, a month's last day, and the 29th.
        let last = DAY + 15 * 86_400;
        for (day, month_end) in [(last, true), (last - 86_400, false)] {
            let events: Vec<UsageEvent> = (0..50)
                .flat_map(|m| {
                    [
                        event(m, 1, day + 10 * 3600),
                        reading(m, 2, day + 19 * 3600 + 1800),
                    ]
                })
                .collect();
            let uploads = day_uploads(day, &events, each(900, 100));
            let reads: Vec<i64> = uploads
                .iter()
                .filter(|u| matches!(u.requests[0][0].body, EventBody::Counter { .. }))
                .map(|u| u.at)
                .collect();
            assert_eq!(
                reads.len(),
                50,
                "one reading per machine, alone in its upload"
            );
            let (first, last) = (reads.iter().min().unwrap(), reads.iter().max().unwrap());
            if month_end {
                let read = day + MONTH_END_READ_HOUR * 3600;
                assert!(
                    *first >= read && *last < read + MONTH_END_READ_SPREAD,
                    "{reads:?}"
                );
            } else {
                assert!(
                    last - first > MONTH_END_READ_SPREAD,
                    "spread over the interval: {reads:?}"
                );
                assert!(*last <= day + 19 * 3600 + 1800 + 900, "{reads:?}");
            }
        }
        // Off, the month's last day is a day like the others.
        let events = [reading(3, 2, last + 19 * 3600 + 1800)];
        let off = Delivery {
            month_end_read: false,
            ..each(900, 100)
        };
        assert!(day_uploads(last, &events, off)[0].at < last + MONTH_END_READ_HOUR * 3600);
    }
}
