//! The senders: one OS thread per connection, each with its own blocking `ureq::Agent` (one
//! keep-alive connection), all taking request slots from one shared counter.
//!
//! Why threads and not tokio tasks: the only HTTP client among the dependencies is ureq,
//! which is blocking; hyper's client would need new dependencies, and raw HTTP over tokio
//! sockets would be a second HTTP implementation to maintain. A thread per connection costs
//! ~8 KB of stack touched and one context switch per request, which is small next to a
//! request's parse-and-commit on the server, and it keeps each connection strictly one
//! request at a time, like a real gateway. The price: a few hundred connections at most.
//!
//! Open model (`Pace::Rate`): slot `i` is due at `start + i × interval`. A sender takes the
//! next slot when it is free, waits until the slot is due, sends, and records the latency from
//! the *due* instant (coordinated omission corrected) as well as from the actual send (service
//! time). When every connection is busy, slots wait and their latency grows, as it would for
//! real clients. A start more than one interval after its slot is `late`; slots not started
//! by the hard deadline (end of the schedule + grace) are `dropped`, never sent.
//!
//! Closed model (`Pace::Max`): each sender sends back to back until the duration is over;
//! there is no schedule, so both latencies are the service time.

use super::events::{Bodies, EventPlan};
use super::schedule::{Payload, Resends, Schedule};
use crate::http::server::ReceiptBody;
use crate::http::CLOUDEVENTS_BATCH_JSON;
use hdrhistogram::Histogram;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant};

/// Latencies are recorded in microseconds, from 1 µs to 10 minutes, 3 significant digits.
const HISTOGRAM_MAX_MICROS: u64 = 600_000_000;
/// The most of a failed response's body kept for the report.
const ERROR_TEXT_CHARS: usize = 300;

#[derive(Clone, Copy, Debug)]
pub enum Pace {
    Rate(Schedule),
    Max,
}

/// What the server did with a fresh batch, as far as the generator can know. Ordered: the
/// best outcome any of its requests had wins.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BatchState {
    NotSent = 0,
    /// Refused before anything was stored: a 4xx (429 included) or 503.
    Refused = 1,
    /// No answer (network error, timeout) or another 5xx: it may or may not be stored.
    Unknown = 2,
    /// Acknowledged (2xx): stored and durable.
    Acked = 3,
}

impl BatchState {
    fn from_u8(v: u8) -> BatchState {
        match v {
            1 => BatchState::Refused,
            2 => BatchState::Unknown,
            3 => BatchState::Acked,
            _ => BatchState::NotSent,
        }
    }
}

/// Everything a run needs, shared read-only by the senders (plus the atomic counters).
pub struct Drive<'a> {
    pub events_url: String,
    /// Every header of an ingestion request but Content-Type.
    pub headers: Vec<(String, String)>,
    pub health_url: String,
    pub pace: Pace,
    pub duration: Duration,
    /// How long after the end of the schedule a late slot may still start.
    pub grace: Duration,
    pub connections: usize,
    pub timeout: Duration,
    /// The most requests to send (the schedule's slots, or a cap in max mode).
    pub max_requests: u64,
    pub resends: Resends,
    pub plan: &'a EventPlan,
    pub bodies: &'a Bodies,
}

/// The totals of one sender, merged into the run's at the end.
pub struct Totals {
    /// Latency from the due instant (equal to `service` in max mode), microseconds.
    pub corrected: Histogram<u64>,
    /// Latency from the actual send, microseconds.
    pub service: Histogram<u64>,
    /// Responses by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests without a response, by kind of failure.
    pub transport_errors: BTreeMap<&'static str, u64>,
    pub sent_requests: u64,
    pub sent_events: u64,
    pub acked_requests: u64,
    pub acked_events: u64,
    pub resent_requests: u64,
    pub resent_events: u64,
    pub late: u64,
    /// Bodies built during the run (on the fly, or past the prebuilt ones).
    pub built_during_run: u64,
    pub receipts: Receipts,
    pub first_error: Option<String>,
    pub last_done: Option<Instant>,
}

/// Sums of the server's receipts over acknowledged requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Receipts {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected_unknown_machine: u64,
    pub rejected_wrong_shop: u64,
    /// 2xx answers without a readable receipt (a foreign endpoint).
    pub unreadable: u64,
}

impl Receipts {
    fn add(&mut self, other: &Receipts) {
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.rejected_unknown_machine += other.rejected_unknown_machine;
        self.rejected_wrong_shop += other.rejected_wrong_shop;
        self.unreadable += other.unreadable;
    }
}

/// What one run did.
pub struct Outcome {
    pub totals: Totals,
    /// Requests due (rate) or allowed (max).
    pub slots: u64,
    pub started: u64,
    /// From the start to the last answer.
    pub elapsed: Duration,
    /// Per fresh batch, what became of it.
    pub batches: Vec<BatchState>,
    /// CPU time this process used while sending (Linux only): the sender's own cost, which
    /// on a shared machine is taken from the server.
    pub cpu: Option<Duration>,
}

fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds: creation cannot fail.
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_MICROS, 3).expect("valid histogram bounds")
}

impl Totals {
    fn new() -> Totals {
        Totals {
            corrected: new_histogram(),
            service: new_histogram(),
            statuses: BTreeMap::new(),
            transport_errors: BTreeMap::new(),
            sent_requests: 0,
            sent_events: 0,
            acked_requests: 0,
            acked_events: 0,
            resent_requests: 0,
            resent_events: 0,
            late: 0,
            built_during_run: 0,
            receipts: Receipts::default(),
            first_error: None,
            last_done: None,
        }
    }

    fn merge(&mut self, other: Totals) {
        // Same bounds on both sides, so adding cannot go out of range.
        let _ = self.corrected.add(&other.corrected);
        let _ = self.service.add(&other.service);
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        for (kind, n) in other.transport_errors {
            *self.transport_errors.entry(kind).or_default() += n;
        }
        self.sent_requests += other.sent_requests;
        self.sent_events += other.sent_events;
        self.acked_requests += other.acked_requests;
        self.acked_events += other.acked_events;
        self.resent_requests += other.resent_requests;
        self.resent_events += other.resent_events;
        self.late += other.late;
        self.built_during_run += other.built_during_run;
        self.receipts.add(&other.receipts);
        self.first_error = self.first_error.take().or(other.first_error);
        self.last_done = self.last_done.max(other.last_done);
    }
}

/// What a request got back.
enum Answer {
    Response { status: u16, body: String },
    Transport { kind: &'static str, detail: String },
}

/// One slot's timing, for recording.
struct Timing {
    due: Instant,
    sent: Instant,
    done: Instant,
}

/// State shared by the senders.
struct Shared<'a> {
    drive: &'a Drive<'a>,
    next_slot: AtomicU64,
    started: AtomicU64,
    batches: Vec<AtomicU8>,
    start: OnceLock<Instant>,
}

impl Drive<'_> {
    /// Runs the senders to completion; bounded in time by `duration + grace` plus one
    /// request's timeouts (per phase), and in count by `max_requests`.
    pub fn run(&self) -> Outcome {
        let cpu_before = process_cpu();
        let fresh = self.resends.fresh_batches(self.max_requests);
        let shared = Shared {
            drive: self,
            next_slot: AtomicU64::new(0),
            started: AtomicU64::new(0),
            batches: (0..fresh).map(|_| AtomicU8::new(0)).collect(),
            start: OnceLock::new(),
        };
        // Two rendezvous: every sender has warmed its connection, then the start is set.
        let barrier = Barrier::new(self.connections + 1);
        let all_totals = std::thread::scope(|scope| {
            let senders: Vec<_> = (0..self.connections)
                .map(|_| scope.spawn(|| sender(&shared, &barrier)))
                .collect();
            barrier.wait();
            let _ = shared.start.set(Instant::now());
            barrier.wait();
            senders
                .into_iter()
                .filter_map(|s| s.join().ok())
                .collect::<Vec<_>>()
        });
        let mut totals = Totals::new();
        for t in all_totals {
            totals.merge(t);
        }
        let cpu = process_cpu()
            .zip(cpu_before)
            .map(|(after, before)| after.saturating_sub(before));
        let start = shared.start.get().copied().unwrap_or_else(Instant::now);
        let elapsed = totals
            .last_done
            .map_or(self.duration, |done| done.duration_since(start));
        Outcome {
            totals,
            slots: self.max_requests,
            started: shared.started.load(Ordering::Relaxed),
            elapsed,
            batches: shared
                .batches
                .iter()
                .map(|b| BatchState::from_u8(b.load(Ordering::Relaxed)))
                .collect(),
            cpu,
        }
    }

    /// A sender's client: one keep-alive connection, every phase bounded by the timeout but
    /// name resolution (see `blocking_agent`: no thread spawned per request).
    fn agent(&self) -> ureq::Agent {
        crate::http::client::blocking_agent(self.timeout, 1)
    }
}

fn sender(shared: &Shared, barrier: &Barrier) -> Totals {
    let drive = shared.drive;
    let agent = drive.agent();
    // Opens the keep-alive connection, so that its handshake is not in the first latency.
    let _ = agent
        .get(&drive.health_url)
        .call()
        .map(|mut r| r.body_mut().read_to_string());
    barrier.wait();
    barrier.wait();
    let start = shared.start.get().copied().unwrap_or_else(Instant::now);
    match drive.pace {
        Pace::Rate(schedule) => paced_sender(shared, &agent, start, schedule),
        Pace::Max => closed_loop_sender(shared, &agent, start),
    }
}

fn paced_sender(shared: &Shared, agent: &ureq::Agent, start: Instant, s: Schedule) -> Totals {
    let drive = shared.drive;
    let deadline = start + drive.duration + drive.grace;
    let tolerance = s.late_tolerance();
    let mut totals = Totals::new();
    loop {
        let slot = shared.next_slot.fetch_add(1, Ordering::Relaxed);
        if slot >= drive.max_requests {
            break;
        }
        let due = start + s.offset(slot);
        let payload = drive.resends.payload(slot);
        // Built before waiting for the slot: off the timed path unless the sender is behind.
        let body = shared.body(payload, &mut totals);
        let now = Instant::now();
        if now > deadline {
            break;
        }
        if due > now {
            std::thread::sleep(due - now);
        }
        let sent = Instant::now();
        if sent.duration_since(due) > tolerance {
            totals.late += 1;
        }
        shared.started.fetch_add(1, Ordering::Relaxed);
        let answer = post(agent, drive, &body);
        let timing = Timing {
            due,
            sent,
            done: Instant::now(),
        };
        shared.record(&mut totals, payload, answer, timing);
    }
    totals
}

fn closed_loop_sender(shared: &Shared, agent: &ureq::Agent, start: Instant) -> Totals {
    let drive = shared.drive;
    let end = start + drive.duration;
    let mut totals = Totals::new();
    while Instant::now() < end {
        let slot = shared.next_slot.fetch_add(1, Ordering::Relaxed);
        if slot >= drive.max_requests {
            break;
        }
        let payload = drive.resends.payload(slot);
        let body = shared.body(payload, &mut totals);
        let sent = Instant::now();
        shared.started.fetch_add(1, Ordering::Relaxed);
        let answer = post(agent, drive, &body);
        let timing = Timing {
            due: sent,
            sent,
            done: Instant::now(),
        };
        shared.record(&mut totals, payload, answer, timing);
    }
    totals
}

fn post(agent: &ureq::Agent, drive: &Drive, body: &[u8]) -> Answer {
    let mut request = agent
        .post(&drive.events_url)
        .header("Content-Type", CLOUDEVENTS_BATCH_JSON);
    for (name, value) in &drive.headers {
        request = request.header(name, value);
    }
    match request.send(body) {
        Ok(mut response) => Answer::Response {
            status: response.status().as_u16(),
            body: response.body_mut().read_to_string().unwrap_or_default(),
        },
        Err(e) => Answer::Transport {
            kind: transport_kind(&e),
            detail: e.to_string(),
        },
    }
}

fn transport_kind(e: &ureq::Error) -> &'static str {
    match e {
        ureq::Error::Timeout(_) => "timeout",
        ureq::Error::ConnectionFailed => "connection_failed",
        ureq::Error::HostNotFound => "host_not_found",
        ureq::Error::Io(_) => "io",
        _ => "other",
    }
}

fn fresh_index(payload: Payload) -> u64 {
    match payload {
        Payload::Fresh(f) | Payload::Resend(f) => f,
    }
}

impl Shared<'_> {
    fn body(&self, payload: Payload, totals: &mut Totals) -> Cow<'_, [u8]> {
        let batch = fresh_index(payload);
        if let Bodies::Prebuilt(bodies) = self.drive.bodies {
            if let Some(body) = usize::try_from(batch).ok().and_then(|b| bodies.get(b)) {
                return Cow::Borrowed(body);
            }
        }
        totals.built_during_run += 1;
        Cow::Owned(self.drive.plan.body(batch))
    }

    fn record(&self, totals: &mut Totals, payload: Payload, answer: Answer, t: Timing) {
        let batch_size = self.drive.plan.batch_size;
        totals.sent_requests += 1;
        totals.sent_events += batch_size;
        if let Payload::Resend(_) = payload {
            totals.resent_requests += 1;
            totals.resent_events += batch_size;
        }
        totals.last_done = totals.last_done.max(Some(t.done));
        let state = match answer {
            Answer::Response { status, body } => {
                *totals.statuses.entry(status).or_default() += 1;
                totals
                    .corrected
                    .saturating_record(micros(t.done.duration_since(t.due)));
                totals
                    .service
                    .saturating_record(micros(t.done.duration_since(t.sent)));
                self.read_response(totals, status, &body)
            }
            Answer::Transport { kind, detail } => {
                *totals.transport_errors.entry(kind).or_default() += 1;
                totals.first_error.get_or_insert(detail);
                BatchState::Unknown
            }
        };
        if let Some(cell) = usize::try_from(fresh_index(payload))
            .ok()
            .and_then(|b| self.batches.get(b))
        {
            cell.fetch_max(state as u8, Ordering::Relaxed);
        }
    }

    fn read_response(&self, totals: &mut Totals, status: u16, body: &str) -> BatchState {
        if !(200..300).contains(&status) {
            let text: String = body.chars().take(ERROR_TEXT_CHARS).collect();
            totals
                .first_error
                .get_or_insert_with(|| format!("HTTP {status}: {text}"));
            return match status {
                400..=499 | 503 => BatchState::Refused,
                _ => BatchState::Unknown,
            };
        }
        totals.acked_requests += 1;
        totals.acked_events += self.drive.plan.batch_size;
        match serde_json::from_str::<ReceiptBody>(body) {
            Ok(r) => totals.receipts.add(&Receipts {
                accepted: r.accepted,
                duplicates: r.duplicates,
                rejected_unknown_machine: r.rejected.unknown_machine,
                rejected_wrong_shop: r.rejected.wrong_shop,
                unreadable: 0,
            }),
            Err(_) => totals.receipts.unreadable += 1,
        }
        BatchState::Acked
    }
}

/// Whole microseconds, at least 1 (the histogram's lowest value).
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Linux's clock ticks per second for /proc times (USER_HZ, 100 on every architecture).
const USER_HZ: u64 = 100;

/// CPU time (user + system, all threads) this process has used so far, from /proc/self/stat;
/// `None` where that file does not exist.
pub fn process_cpu() -> Option<Duration> {
    cpu_from_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// utime + stime of a `/proc/PID/stat` line.
fn cpu_from_stat(stat: &str) -> Option<Duration> {
    // The command name (field 2) may hold spaces and parentheses: fields resume after the
    // last ')', at field 3; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / USER_HZ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_after_the_command_name_whatever_it_holds() {
        // Fields 3 to 15 after a command name with a space and a parenthesis: utime 250 and
        // stime 31 ticks.
        let stat = "4242 (fleet sim) x) S 1 4242 4242 0 -1 4194560 1290 0 0 0 250 31 0 0 20 0";
        assert_eq!(cpu_from_stat(stat), Some(Duration::from_millis(2810)));
        assert_eq!(cpu_from_stat("4242 (cut short) S 1 2"), None);
        assert_eq!(cpu_from_stat("no parenthesis at all"), None);
    }

    /// The sender's CPU figure needs /proc: on Linux it must be there (a missing /proc fails
    /// here rather than silently dropping the figure from every report).
    #[cfg(target_os = "linux")]
    #[test]
    fn on_linux_this_process_cpu_time_is_read_and_grows_while_it_works() {
        assert!(
            std::path::Path::new("/proc/self/stat").exists(),
            "/proc/self/stat is missing: the load report's sender_cpu needs it on Linux"
        );
        let before = process_cpu().expect("/proc/self/stat parses");
        // Bounded: at least one clock tick (10 ms) of CPU within 5 s, even on a loaded host.
        let spin = Instant::now();
        while process_cpu().expect("/proc/self/stat parses") <= before {
            assert!(
                spin.elapsed() < Duration::from_secs(5),
                "5 s of spinning did not show in /proc/self/stat"
            );
            std::hint::black_box((0..1000u64).sum::<u64>());
        }
    }
}
