//! What happened second by second: per wall second since the run's start, the requests and
//! events due (offered, by scheduled instant), the requests completed and events
//! acknowledged, the errors by class, and the latency from the schedule (p50, p99, max).
//!
//! Each connection records its own `Series` (no locks: a connection's `Totals` is its own),
//! and the run merges them exactly at the end: counts add, and each second's latencies are
//! kept as counts per 2-significant-digit bucket (hdrhistogram's buckets), which add exactly
//! like HDR histograms do.
//!
//! Memory, per connection and second in which it did anything: ≈ 120 bytes, plus ≈ 40 bytes
//! (a B-tree entry) per distinct latency bucket answered in that second. At 2 significant
//! digits a power of ten holds 90 buckets, and a second's latencies rarely span more than two
//! or three: ≤ 10 KB, typically under 1 KB (16 connections × 10 minutes ≈ 10 MB).

use super::schedule::Schedule;
use super::stalls::Watch;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::OnceLock;
use std::time::Duration;

/// Latencies are kept from 1 µs to 10 minutes (higher values are clamped to 10 minutes).
const MAX_MICROS: u64 = 600_000_000;
const SIGNIFICANT_DIGITS: u8 = 2;

/// Why a request failed, as the report counts it (issue 13: "errors by class").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorClass {
    /// The connection could not be opened: refused, failed, or the host not found.
    Connect,
    /// No complete answer within `--timeout` (connecting included).
    Timeout,
    /// The connection broke mid-exchange (reset, closed early).
    Io,
    /// The answer was not well-formed HTTP/1.x, or its head was over the sender's bound.
    Protocol,
    /// A non-2xx answer other than 400 and 422.
    Http(u16),
    /// The server refused the events themselves: a 400 or 422, or a 2xx receipt that
    /// rejected some (unknown machine, wrong shop).
    Validation,
}

impl ErrorClass {
    /// The class's name in the JSON and CSV: `connect`, `timeout`, `io`, `protocol`,
    /// `http_503`, `validation`.
    pub fn name(self) -> String {
        match self {
            ErrorClass::Connect => "connect".into(),
            ErrorClass::Timeout => "timeout".into(),
            ErrorClass::Io => "io".into(),
            ErrorClass::Protocol => "protocol".into(),
            ErrorClass::Http(status) => format!("http_{status}"),
            ErrorClass::Validation => "validation".into(),
        }
    }
}

/// How one request ended, as far as its error class goes.
#[derive(Clone, Copy, Debug)]
pub enum Ending<'a> {
    /// No answer: the sender's kind of failure (`connection_failed`, `host_not_found`,
    /// `timeout`, `io`, `protocol`, `other`).
    Failed(&'a str),
    /// An answer, with the events its receipt rejected (0 without a readable receipt).
    Answered { status: u16, rejected_events: u64 },
}

/// The one classification of a request's ending, used by the totals and the series alike.
pub fn classify(ending: Ending) -> Option<ErrorClass> {
    match ending {
        Ending::Failed("connection_failed" | "host_not_found") => Some(ErrorClass::Connect),
        Ending::Failed("timeout") => Some(ErrorClass::Timeout),
        Ending::Failed("protocol") => Some(ErrorClass::Protocol),
        Ending::Failed(_) => Some(ErrorClass::Io),
        Ending::Answered {
            status: 400 | 422, ..
        } => Some(ErrorClass::Validation),
        Ending::Answered { status, .. } if !(200..300).contains(&status) => {
            Some(ErrorClass::Http(status))
        }
        Ending::Answered {
            rejected_events, ..
        } if rejected_events > 0 => Some(ErrorClass::Validation),
        Ending::Answered { .. } => None,
    }
}

/// What a connection records of each request beyond its totals: its error class, its
/// second, and its place among the answers (for stalls). Merged like the totals.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// Requests that ended in error, by class.
    pub errors: BTreeMap<ErrorClass, u64>,
    pub series: Series,
    pub watch: Watch,
}

impl Timeline {
    pub fn new() -> Timeline {
        Timeline {
            errors: BTreeMap::new(),
            series: Series::new(),
            watch: Watch::new(),
        }
    }

    /// A request of `events` events, due at `due` and ended at `done` (since the start),
    /// `acked` of its events acknowledged; `latency_us` from the schedule if answered.
    pub fn record(
        &mut self,
        due: Duration,
        done: Duration,
        events: u64,
        acked: u64,
        latency_us: Option<u64>,
        ending: Ending,
    ) {
        let error = classify(ending);
        if let Some(class) = error {
            *self.errors.entry(class).or_default() += 1;
        }
        self.series.record_due(due, events);
        self.series.record_done(done, latency_us, acked, error);
        self.watch.record(due, done, latency_us.is_some());
    }

    pub fn merge(&mut self, other: Timeline) {
        for (class, n) in other.errors {
            *self.errors.entry(class).or_default() += n;
        }
        self.series.merge(other.series);
        self.watch.merge(other.watch);
    }
}

/// One wall second of one connection (or, merged, of the run).
#[derive(Clone, Debug, Default)]
struct Second {
    requests_due: u64,
    events_due: u64,
    requests_completed: u64,
    events_acknowledged: u64,
    errors: BTreeMap<ErrorClass, u64>,
    /// Latency from the schedule of the answers completed in this second: bucket (its
    /// highest equivalent value, µs) → count.
    latency: BTreeMap<u64, u64>,
}

/// A per-second time series of a run; see the module's documentation.
#[derive(Clone, Debug, Default)]
pub struct Series {
    seconds: Vec<Second>,
}

/// One second of the series as the report shows it (JSON `series`, and the `--series` CSV).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SecondRow {
    /// The row covers [second, second + 1) seconds since the run's start.
    pub second: u64,
    /// Requests (and their events) due in this second: scheduled then (constant rate), or
    /// sent then (closed loop).
    pub requests_due: u64,
    pub events_due: u64,
    /// Requests that ended in this second, answered or failed.
    pub requests_completed: u64,
    /// Events in requests answered 2xx in this second.
    pub events_acknowledged: u64,
    /// Requests that ended in this second in error, by class (`ErrorClass::name`).
    pub errors: BTreeMap<String, u64>,
    /// Latency from the schedule of the answers completed in this second (0 without any),
    /// at 2 significant digits.
    pub latency_p50_us: u64,
    pub latency_p99_us: u64,
    pub latency_max_us: u64,
}

/// The header of the `--series` CSV, in the order of `SecondRow::csv_line`.
pub const CSV_HEADER: &str = "second,requests_due,events_due,requests_completed,\
events_acknowledged,errors,errors_connect,errors_timeout,errors_io,errors_http,\
errors_validation,errors_protocol,latency_p50_us,latency_p99_us,latency_max_us";

impl Series {
    pub fn new() -> Series {
        Series::default()
    }

    /// A request due `since_start` after the start, carrying `events`.
    pub fn record_due(&mut self, since_start: Duration, events: u64) {
        let s = self.second(since_start);
        s.requests_due += 1;
        s.events_due += events;
    }

    /// Slots `slots` of `schedule`, `events` each, as due (those never sent: dropped), a
    /// second at a time rather than slot by slot (there may be millions).
    pub fn record_due_slots(&mut self, schedule: &Schedule, slots: Range<u64>, events: u64) {
        if slots.is_empty() {
            return;
        }
        let first = schedule.offset(slots.start).as_secs();
        let last = schedule.offset(slots.end - 1).as_secs();
        let within = |second: u64| {
            let due = schedule.slots_within(Duration::from_secs(second));
            due.clamp(slots.start, slots.end)
        };
        for second in first..=last {
            let n = within(second + 1) - within(second);
            let s = self.second(Duration::from_secs(second));
            s.requests_due += n;
            s.events_due += n * events;
        }
    }

    /// A request that ended `since_start` after the start: answered (with its latency from
    /// the schedule; `None` when it got no answer), with `events_acked` events acknowledged,
    /// and its error class if any.
    pub fn record_done(
        &mut self,
        since_start: Duration,
        latency_us: Option<u64>,
        events_acked: u64,
        error: Option<ErrorClass>,
    ) {
        let s = self.second(since_start);
        s.requests_completed += 1;
        s.events_acknowledged += events_acked;
        if let Some(class) = error {
            *s.errors.entry(class).or_default() += 1;
        }
        if let Some(us) = latency_us {
            *s.latency.entry(bucket(us)).or_default() += 1;
        }
    }

    /// Adds `other`'s seconds to these: counts add, latency buckets add (exactly).
    pub fn merge(&mut self, other: Series) {
        if self.seconds.len() < other.seconds.len() {
            self.seconds
                .resize_with(other.seconds.len(), Second::default);
        }
        for (mine, theirs) in self.seconds.iter_mut().zip(other.seconds) {
            mine.requests_due += theirs.requests_due;
            mine.events_due += theirs.events_due;
            mine.requests_completed += theirs.requests_completed;
            mine.events_acknowledged += theirs.events_acknowledged;
            for (class, n) in theirs.errors {
                *mine.errors.entry(class).or_default() += n;
            }
            for (value, n) in theirs.latency {
                *mine.latency.entry(value).or_default() += n;
            }
        }
    }

    /// Every second from the start to the last one with anything in it, empty ones included
    /// (a second without answers is the point of a stall).
    pub fn rows(&self) -> Vec<SecondRow> {
        self.seconds
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let h = histogram_of(std::iter::once(s));
                let at = |q: f64| {
                    if h.is_empty() {
                        0
                    } else {
                        h.value_at_quantile(q)
                    }
                };
                SecondRow {
                    second: i as u64,
                    requests_due: s.requests_due,
                    events_due: s.events_due,
                    requests_completed: s.requests_completed,
                    events_acknowledged: s.events_acknowledged,
                    errors: s.errors.iter().map(|(c, n)| (c.name(), *n)).collect(),
                    latency_p50_us: at(0.5),
                    latency_p99_us: at(0.99),
                    latency_max_us: if h.is_empty() { 0 } else { h.max() },
                }
            })
            .collect()
    }

    /// Latency from the schedule (p99, max, µs) of the answers completed in seconds `first`
    /// to `last` included; (0, 0) without any.
    pub fn latency_between(&self, first: u64, last: u64) -> (u64, u64) {
        let end = usize::try_from(last.saturating_add(1)).unwrap_or(usize::MAX);
        let start = usize::try_from(first).unwrap_or(usize::MAX);
        let seconds = self.seconds.get(start..end.min(self.seconds.len()));
        let h = histogram_of(seconds.unwrap_or_default().iter());
        if h.is_empty() {
            return (0, 0);
        }
        (h.value_at_quantile(0.99), h.max())
    }

    fn second(&mut self, since_start: Duration) -> &mut Second {
        // Bounded by the run: at most duration + grace + two timeouts (24 h + …) of seconds.
        let i = usize::try_from(since_start.as_secs()).unwrap_or(usize::MAX);
        if self.seconds.len() <= i {
            self.seconds.resize_with(i + 1, Second::default);
        }
        &mut self.seconds[i]
    }
}

impl SecondRow {
    /// The row as a line of the `--series` CSV (see `CSV_HEADER`).
    pub fn csv_line(&self) -> String {
        let class = |name: &str| self.errors.get(name).copied().unwrap_or(0);
        let http: u64 = self
            .errors
            .iter()
            .filter(|(name, _)| name.starts_with("http_"))
            .map(|(_, n)| n)
            .sum();
        format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            self.second,
            self.requests_due,
            self.events_due,
            self.requests_completed,
            self.events_acknowledged,
            self.errors.values().sum::<u64>(),
            class("connect"),
            class("timeout"),
            class("io"),
            http,
            class("validation"),
            class("protocol"),
            self.latency_p50_us,
            self.latency_p99_us,
            self.latency_max_us
        )
    }
}

/// The whole `--series` CSV: the header, then one line per second.
pub fn csv(rows: &[SecondRow]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for row in rows {
        out.push_str(&row.csv_line());
        out.push('\n');
    }
    out
}

/// An empty histogram of the series' precision.
fn empty_histogram() -> Histogram<u64> {
    // Constant, valid bounds: creation cannot fail.
    Histogram::new_with_bounds(1, MAX_MICROS, SIGNIFICANT_DIGITS).expect("valid histogram bounds")
}

/// The bucket of `us`: the highest value hdrhistogram holds as equivalent at 2 digits.
fn bucket(us: u64) -> u64 {
    static SHAPE: OnceLock<Histogram<u64>> = OnceLock::new();
    let shape = SHAPE.get_or_init(empty_histogram);
    shape.highest_equivalent(us.clamp(1, MAX_MICROS))
}

fn histogram_of<'a>(seconds: impl Iterator<Item = &'a Second>) -> Histogram<u64> {
    let mut h = empty_histogram();
    for s in seconds {
        for (value, n) in &s.latency {
            // Buckets are clamped into the bounds when recorded: this cannot fail.
            let _ = h.record_n((*value).min(MAX_MICROS), *n);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn every_ending_has_one_class_and_a_clean_answer_none() {
        let cases = [
            (Ending::Failed("connection_failed"), Some("connect")),
            (Ending::Failed("host_not_found"), Some("connect")),
            (Ending::Failed("timeout"), Some("timeout")),
            (Ending::Failed("io"), Some("io")),
            (Ending::Failed("other"), Some("io")),
            (Ending::Failed("protocol"), Some("protocol")),
            (answered(503, 0), Some("http_503")),
            (answered(500, 0), Some("http_500")),
            (answered(429, 0), Some("http_429")),
            (answered(400, 0), Some("validation")),
            (answered(422, 0), Some("validation")),
            (answered(200, 3), Some("validation")),
            (answered(200, 0), None),
            (answered(204, 0), None),
        ];
        for (ending, expected) in cases {
            let class = classify(ending).map(ErrorClass::name);
            assert_eq!(class.as_deref(), expected, "{ending:?}");
        }
    }

    fn answered(status: u16, rejected_events: u64) -> Ending<'static> {
        Ending::Answered {
            status,
            rejected_events,
        }
    }

    #[test]
    fn requests_land_in_the_second_of_their_instant_and_empty_seconds_are_rows() {
        let mut s = Series::new();
        s.record_due(ms(10), 5);
        s.record_due(ms(999), 5);
        s.record_done(ms(1_000), Some(990), 5, None);
        s.record_due(ms(3_500), 5);
        s.record_done(ms(3_900), None, 0, Some(ErrorClass::Timeout));
        let rows = s.rows();
        assert_eq!(rows.len(), 4);
        assert_eq!((rows[0].requests_due, rows[0].events_due), (2, 10));
        assert_eq!(rows[0].requests_completed, 0);
        assert_eq!(
            (rows[1].requests_completed, rows[1].events_acknowledged),
            (1, 5)
        );
        assert_eq!(
            rows[2],
            SecondRow {
                second: 2,
                ..empty_row()
            }
        );
        assert_eq!(rows[3].errors, BTreeMap::from([("timeout".to_string(), 1)]));
        // A failure has no latency: the second's quantiles stay empty.
        assert_eq!(rows[3].latency_max_us, 0);
    }

    fn empty_row() -> SecondRow {
        SecondRow {
            second: 0,
            requests_due: 0,
            events_due: 0,
            requests_completed: 0,
            events_acknowledged: 0,
            errors: BTreeMap::new(),
            latency_p50_us: 0,
            latency_p99_us: 0,
            latency_max_us: 0,
        }
    }

    /// Two connections' latencies merged give the quantiles of all of them, not an average
    /// of each one's.
    #[test]
    fn merged_latencies_are_the_quantiles_of_all_answers_at_two_digits() {
        let (mut a, mut b) = (Series::new(), Series::new());
        for i in 0..98 {
            a.record_done(ms(100 + i), Some(1_000), 1, None);
        }
        b.record_done(ms(500), Some(480_000), 1, None);
        b.record_done(ms(600), Some(612_345), 1, None);
        b.record_due(ms(2_100), 1);
        a.merge(b);
        let rows = a.rows();
        assert_eq!(rows.len(), 3, "the longer series sets the length");
        let r = &rows[0];
        assert_eq!(r.requests_completed, 100);
        assert_eq!(r.latency_p50_us, bucket(1_000));
        assert_eq!(r.latency_p99_us, bucket(480_000));
        assert_eq!(r.latency_max_us, bucket(612_345));
        // 2 significant digits: within 1 % of the value, never below it.
        assert!((612_345..=618_500).contains(&r.latency_max_us), "{r:?}");
        assert_eq!(rows[2].requests_due, 1);
        assert_eq!(a.latency_between(0, 0), (bucket(480_000), bucket(612_345)));
        assert_eq!(a.latency_between(1, 9), (0, 0));
    }

    /// Dropped slots are due at their scheduled second: 10 requests/s, slots 15 to 34 are
    /// 5 in second 1, 10 in second 2 and 5 in second 3.
    #[test]
    fn slots_never_sent_are_due_in_the_seconds_of_their_schedule() {
        let schedule = Schedule::from_request_rate(10).unwrap();
        let mut s = Series::new();
        s.record_due_slots(&schedule, 15..35, 3);
        s.record_due_slots(&schedule, 40..40, 3);
        let due: Vec<(u64, u64)> = s
            .rows()
            .iter()
            .map(|r| (r.requests_due, r.events_due))
            .collect();
        assert_eq!(due, [(0, 0), (5, 15), (10, 30), (5, 15)]);
    }

    #[test]
    fn the_csv_has_one_line_per_second_and_sums_http_classes() {
        let mut s = Series::new();
        s.record_done(ms(5), Some(2_000), 0, Some(ErrorClass::Http(503)));
        s.record_done(ms(6), Some(2_000), 0, Some(ErrorClass::Http(500)));
        s.record_done(ms(7), Some(2_000), 10, Some(ErrorClass::Validation));
        s.record_done(ms(8), None, 0, Some(ErrorClass::Connect));
        s.record_done(ms(9), None, 0, Some(ErrorClass::Protocol));
        let text = csv(&s.rows());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        // The latency is its bucket's highest value, as hdrhistogram reports quantiles.
        let l = bucket(2_000);
        assert_eq!(lines[1], format!("0,0,0,5,10,5,1,0,0,2,1,1,{l},{l},{l}"));
        assert_eq!(lines.len(), 2);
        assert_eq!(
            CSV_HEADER.split(',').count(),
            lines[1].split(',').count(),
            "as many fields as the header"
        );
    }
}
