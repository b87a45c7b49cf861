//! Stalls: intervals in which requests were in flight or due but no answer came, for longer
//! than a threshold.
//!
//! The rule: a stall is a gap between two consecutive answers of the run (any connection,
//! any status) during which at least one request was waiting, from the moment the first of
//! them was due (or sent, in a closed loop; never before the gap's first answer) to the
//! answer that ends the gap, when that lasts longer than
//! `max(100 ms, 20 × the run's median service time)`. A run that ends while requests wait
//! (they fail or time out) ends its last stall at its last request's end. Requests waiting:
//! those due before the stall's end that had not ended by its start.
//!
//! How it is tracked: each connection keeps its own `Watch` (in its `Totals`, no locks; a
//! connection sends one request at a time, so its answers come in order), recording each
//! of its own gaps between answers longer than 100 ms (the least threshold: a gap of the run
//! lies inside a gap of every connection, so none is lost), with when its request started
//! waiting and how many of its requests had ended. At the end, the gaps of all connections
//! are intersected: what is left is the run's gaps. Why per connection rather than one
//! record per sender thread: a thread's connections are tasks that must be `Send`, so
//! sharing a `Cell` between them would need a lock, and the intersection is exact anyway.

use super::series::Series;
use serde::Serialize;
use std::time::Duration;

/// No stall is shorter than this, however fast the server answers.
pub const MIN_STALL: Duration = Duration::from_millis(100);
/// A stall lasts longer than this many median service times.
pub const SERVICE_TIMES: u32 = 20;

/// The threshold of a run whose median service time is `median_service`.
pub fn threshold(median_service: Duration) -> Duration {
    MIN_STALL.max(median_service.saturating_mul(SERVICE_TIMES))
}

/// A gap of one connection: no answer between `from` and `to` (times since the start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Gap {
    from: Duration,
    to: Duration,
    /// When the connection's first request after `from` was due (`None`: it had none).
    waiting_since: Option<Duration>,
    /// Its requests that had ended (answered or failed) by `from`.
    ended_before: u64,
}

/// One connection's record; merged watches keep each connection's apart.
#[derive(Clone, Debug, Default)]
pub struct Watch {
    connections: Vec<Connection>,
}

#[derive(Clone, Debug, Default)]
struct Connection {
    last_answer: Duration,
    waiting_since: Option<Duration>,
    ended: u64,
    ended_at_last_answer: u64,
    gaps: Vec<Gap>,
}

/// A stall as the report shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stall {
    /// Seconds since the run's start.
    pub start_s: f64,
    pub end_s: f64,
    pub seconds: f64,
    pub requests_waiting: u64,
    /// Latency from the schedule (µs) of the answers completed in the seconds the stall
    /// touches, from its start's second to its end's: the waiting requests show here.
    pub latency_p99_us: u64,
    pub latency_max_us: u64,
}

/// A stall found, before the report adds its latencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    pub start: Duration,
    pub end: Duration,
    pub requests_waiting: u64,
}

impl Found {
    /// The stall as the report shows it, with the latency of the seconds it touches.
    pub fn shown(&self, series: &Series) -> Stall {
        let (p99, max) = series.latency_between(self.start.as_secs(), self.end.as_secs());
        Stall {
            start_s: self.start.as_secs_f64(),
            end_s: self.end.as_secs_f64(),
            seconds: (self.end - self.start).as_secs_f64(),
            requests_waiting: self.requests_waiting,
            latency_p99_us: p99,
            latency_max_us: max,
        }
    }
}

impl Watch {
    pub fn new() -> Watch {
        Watch {
            connections: vec![Connection::default()],
        }
    }

    /// One request of this connection ended at `done`, due at `due` (both since the
    /// start); `answered` unless it got no answer.
    pub fn record(&mut self, due: Duration, done: Duration, answered: bool) {
        let Some(c) = self.connections.last_mut() else {
            return;
        };
        c.waiting_since.get_or_insert(due);
        c.ended += 1;
        if !answered {
            return;
        }
        if done.saturating_sub(c.last_answer) > MIN_STALL {
            c.gaps.push(Gap {
                from: c.last_answer,
                to: done,
                waiting_since: c.waiting_since,
                ended_before: c.ended_at_last_answer,
            });
        }
        c.last_answer = done;
        c.waiting_since = None;
        c.ended_at_last_answer = c.ended;
    }

    /// Keeps `other`'s connections beside these.
    pub fn merge(&mut self, other: Watch) {
        self.connections.extend(other.connections);
    }

    /// The run's stalls longer than `threshold`, in order. `end`: when the run's last
    /// request ended. `due_before(t)`: requests due before `t` by the schedule (`None` in a
    /// closed loop, where a request is due when it is sent).
    pub fn stalls(
        &self,
        threshold: Duration,
        end: Duration,
        due_before: impl Fn(Duration) -> Option<u64>,
    ) -> Vec<Found> {
        let mut connections = self.connections.iter().map(Connection::gaps_to_end);
        let Some(first) = connections.next() else {
            return Vec::new();
        };
        let run = connections.fold(first.iter().map(Silence::of).collect(), intersect);
        run.into_iter()
            .filter_map(|s| s.stall(threshold, end, &due_before))
            .collect()
    }
}

impl Connection {
    /// Its gaps, and the last one, from its last answer to the end of time.
    fn gaps_to_end(&self) -> Vec<Gap> {
        let mut gaps = self.gaps.clone();
        gaps.push(Gap {
            from: self.last_answer,
            to: Duration::MAX,
            waiting_since: self.waiting_since,
            ended_before: self.ended_at_last_answer,
        });
        gaps
    }
}

/// An interval without any answer so far in the intersection: when each connection's
/// request started waiting (only those before `to`: a later one waited for nothing in it),
/// and the requests ended by `from`.
#[derive(Clone, Debug)]
struct Silence {
    from: Duration,
    to: Duration,
    waiting_since: Vec<Duration>,
    ended_before: u64,
}

impl Silence {
    fn of(g: &Gap) -> Silence {
        Silence {
            from: g.from,
            to: g.to,
            waiting_since: g.waiting_since.into_iter().filter(|w| *w < g.to).collect(),
            ended_before: g.ended_before,
        }
    }

    fn stall(
        &self,
        threshold: Duration,
        end: Duration,
        due_before: impl Fn(Duration) -> Option<u64>,
    ) -> Option<Found> {
        let to = self.to.min(end);
        let waiting: Vec<Duration> = self
            .waiting_since
            .iter()
            .copied()
            .filter(|w| *w < to)
            .collect();
        let start = self.from.max(waiting.iter().copied().min()?);
        if to.saturating_sub(start) <= threshold {
            return None;
        }
        let scheduled = due_before(to).map_or(0, |d| d.saturating_sub(self.ended_before));
        Some(Found {
            start,
            end: to,
            requests_waiting: scheduled.max(waiting.len() as u64),
        })
    }
}

/// The intervals in both `silences` and `gaps` (each sorted and disjoint), with what each
/// side knew added up.
fn intersect(silences: Vec<Silence>, gaps: Vec<Gap>) -> Vec<Silence> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < silences.len() && j < gaps.len() {
        let (s, g) = (&silences[i], &gaps[j]);
        let (from, to) = (s.from.max(g.from), s.to.min(g.to));
        if from < to {
            let mut waiting_since: Vec<Duration> = s.waiting_since.clone();
            waiting_since.extend(g.waiting_since);
            waiting_since.retain(|w| *w < to);
            out.push(Silence {
                from,
                to,
                waiting_since,
                ended_before: s.ended_before + g.ended_before,
            });
        }
        if s.to <= g.to {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A connection answering every `step` ms from `from` to `to`, each request due `lag`
    /// ms before its answer.
    fn steady(w: &mut Watch, from: u64, to: u64, step: u64, lag: u64) {
        for t in (from..to).step_by(step as usize) {
            w.record(ms(t.saturating_sub(lag)), ms(t), true);
        }
    }

    #[test]
    fn the_threshold_is_twenty_service_times_but_never_under_100_ms() {
        assert_eq!(threshold(ms(1)), ms(100));
        assert_eq!(threshold(ms(8)), ms(160));
    }

    /// Two connections both silent from 1.0 s to 1.6 s while their requests wait: one stall,
    /// from the last answer to the first one after it; requests waiting by the schedule.
    #[test]
    fn a_silence_of_every_connection_while_requests_wait_is_a_stall() {
        let (mut a, mut b) = (Watch::new(), Watch::new());
        steady(&mut a, 10, 1_000, 10, 1);
        steady(&mut b, 15, 1_005, 10, 1);
        // Both answer again at 1.6 s, their requests due at 1.001 s and 1.006 s.
        a.record(ms(1_001), ms(1_600), true);
        b.record(ms(1_006), ms(1_601), true);
        steady(&mut a, 1_610, 2_000, 10, 1);
        steady(&mut b, 1_615, 2_000, 10, 1);
        a.merge(b);
        // 200 requests per second, due every 5 ms from 0.
        let due = |t: Duration| Some((t.as_millis() as u64).div_ceil(5));
        let found = a.stalls(ms(100), ms(2_000), due);
        assert_eq!(found.len(), 1, "{found:?}");
        let s = found[0];
        // From a's first waiting request (due at 1.001 s, after b's last answer at 0.995 s).
        assert_eq!((s.start, s.end), (ms(1_001), ms(1_600)));
        // Due before 1.6 s: 320; ended by 0.995 s: a's 99 and b's 99.
        assert_eq!(s.requests_waiting, 320 - 198);
    }

    #[test]
    fn one_connection_answering_or_nobody_waiting_is_no_stall() {
        let (mut a, mut b) = (Watch::new(), Watch::new());
        // a is silent from 1 s to 2 s, b answers all along.
        steady(&mut a, 10, 1_000, 10, 1);
        a.record(ms(1_001), ms(2_000), true);
        steady(&mut b, 5, 2_000, 10, 1);
        // Then both are idle from 2 s to 3 s: their next requests are due at 2.999 s.
        a.record(ms(2_999), ms(3_000), true);
        b.record(ms(2_999), ms(3_001), true);
        a.merge(b);
        assert_eq!(a.stalls(ms(100), ms(3_001), |_| None), vec![]);
    }

    /// A closed loop whose requests all fail after the last answer (the server hangs, the
    /// requests time out): the stall runs to the run's end; waiting: one per connection.
    #[test]
    fn requests_failing_after_the_last_answer_end_the_last_stall_at_the_run_end() {
        let (mut a, mut b) = (Watch::new(), Watch::new());
        steady(&mut a, 10, 500, 10, 0);
        steady(&mut b, 12, 502, 10, 0);
        a.record(ms(490), ms(1_490), false);
        b.record(ms(492), ms(1_492), false);
        a.merge(b);
        let found = a.stalls(ms(100), ms(1_492), |_| None);
        assert_eq!(
            found,
            vec![Found {
                start: ms(492),
                end: ms(1_492),
                requests_waiting: 2
            }]
        );
        // Over a longer threshold, none.
        assert_eq!(a.stalls(ms(1_000), ms(1_492), |_| None), vec![]);
    }
}
