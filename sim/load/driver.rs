//! The senders: event loops, not a thread per connection. `--sender-threads` OS threads (default
//! 1), each running a tokio *current-thread* runtime; each connection is one task on one of them,
//! with its own lean HTTP/1.1 exchange (`exchange.rs`: a prebuilt request head, vectored
//! writes, `httparse` for the answer) over a `tokio::net::TcpStream`, strictly one request at a
//! time (like a real gateway), all taking request slots from one shared counter. Prebuilt
//! bodies are `Bytes` shared with the requests (a reference count, no copy).
//!
//! Why current-thread runtimes and not one multi-thread runtime: a sender's work per request is
//! small (write a body, parse a short answer), so what costs is wakeups and cross-thread
//! hand-offs; a current-thread runtime keeps a connection's socket, timer and task on one
//! thread with no work stealing, which is what makes one core go as far as wrk's event loop
//! (`wrk -t1`), and N threads scale like `wrk -tN`. The price: connections are split evenly
//! between threads up front, and a thread never helps a busier one.
//! Why not the blocking threads this replaced: a context switch and a thread per request in
//! flight capped a core at about a third of wrk's rate (README, Performance).
//!
//! Timeouts: connecting within `--timeout`, then the whole exchange (send, answer, body) within
//! `--timeout`. After any failure the connection is dropped and the next request reconnects;
//! so does a request after the server closed the connection (e.g. after an answer with
//! `Connection: close`).
//!
//! Open model (`Pace::Rate`): slot `i` is due at `start + i × interval`. A sender takes the
//! next slot when it is free, waits until the slot is due, sends, and records the latency from
//! the *due* instant (coordinated omission corrected) as well as from the actual send (service
//! time). Slots are waited for with tokio's timer, which has millisecond resolution: a send may
//! start up to about 1 ms after its due instant, which counts in the corrected latency (the
//! sender's own lateness) but never makes a slot `late` alone (`MIN_LATE_TOLERANCE` is 1 ms).
//! When every connection is busy, slots wait and their latency grows, as it would for real
//! clients. A start more than one interval after its slot is `late`; slots not started
//! by the hard deadline (end of the schedule + grace) are `dropped`, never sent.
//!
//! Closed model (`Pace::Max`): each sender sends back to back until the duration is over;
//! there is no schedule, so both latencies are the service time.

use super::events::{Bodies, EventPlan};
use super::exchange::{Answer, Connection, Endpoint};
use super::schedule::{Payload, Resends, Schedule};
use super::series::{Ending, Timeline};
use super::LoadError;
use crate::http::server::ReceiptBody;
use bytes::Bytes;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
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
pub struct Drive {
    pub events_url: String,
    /// Every header of an ingestion request but Content-Type.
    pub headers: Vec<(String, String)>,
    pub health_url: String,
    pub pace: Pace,
    pub duration: Duration,
    /// How long after the end of the schedule a late slot may still start.
    pub grace: Duration,
    pub connections: usize,
    /// OS threads running the connections, each its own current-thread runtime.
    pub sender_threads: usize,
    pub timeout: Duration,
    /// The most requests to send (the schedule's slots, or a cap in max mode).
    pub max_requests: u64,
    pub resends: Resends,
    pub plan: EventPlan,
    pub bodies: Bodies,
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
    /// Errors by class, second by second, and the gaps between answers (stalls).
    pub timeline: Timeline,
    /// The connection's last receipt, so that an identical one is not parsed again.
    receipt_memo: ReceiptMemo,
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

/// The longest receipt remembered by `ReceiptMemo` (a fleetsim receipt is about 80 bytes).
const MEMO_RECEIPT_BYTES: usize = 256;

/// The last receipt a connection read, as bytes and as what they say. A server answers most
/// batches with the very same receipt bytes (`{"accepted":92,"duplicates":0,…}`), and comparing
/// 80 bytes costs a few dozen instructions where parsing them with serde_json costs thousands
/// (≈ a fifth of the sender's user-space instructions per request against a fixed receipt,
/// callgrind): the same bytes always parse the same, so the result is exact.
#[derive(Default)]
struct ReceiptMemo {
    last: Option<(Vec<u8>, Receipts)>,
}

impl ReceiptMemo {
    /// What the 2xx answer `body` says, as the receipts of one answer (`unreadable` 1 when it
    /// is not a receipt).
    fn read(&mut self, body: &[u8]) -> Receipts {
        if let Some((bytes, receipts)) = &self.last {
            if bytes.as_slice() == body {
                return *receipts;
            }
        }
        let receipts = parse_receipt(body);
        if body.len() <= MEMO_RECEIPT_BYTES {
            self.last = Some((body.to_vec(), receipts));
        }
        receipts
    }
}

/// A receipt's counts (serde_json), or `unreadable` 1 when `body` is not a receipt.
fn parse_receipt(body: &[u8]) -> Receipts {
    match serde_json::from_slice::<ReceiptBody>(body) {
        Ok(r) => Receipts {
            accepted: r.accepted,
            duplicates: r.duplicates,
            rejected_unknown_machine: r.rejected.unknown_machine,
            rejected_wrong_shop: r.rejected.wrong_shop,
            unreadable: 0,
        },
        Err(_) => Receipts {
            unreadable: 1,
            ..Receipts::default()
        },
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

pub(super) fn new_histogram() -> Histogram<u64> {
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
            timeline: Timeline::new(),
            receipt_memo: ReceiptMemo::default(),
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
        self.timeline.merge(other.timeline);
    }
}

/// One slot's timing, for recording.
struct Timing {
    due: Instant,
    sent: Instant,
    done: Instant,
}

/// State shared by the senders; in an `Arc` because tokio tasks own what they hold.
struct Shared {
    drive: Drive,
    endpoint: Arc<Endpoint>,
    next_slot: AtomicU64,
    started: AtomicU64,
    batches: Vec<AtomicU8>,
    start: OnceLock<Instant>,
}

impl Drive {
    /// Runs the senders to completion; bounded in time by `duration + grace` plus one
    /// request's timeouts (connect, then the exchange), and in count by `max_requests`.
    /// Fails only on a URL or header that cannot be sent (bad input).
    pub fn run(self) -> Result<Outcome, LoadError> {
        let cpu_before = process_cpu();
        let endpoint = Arc::new(Endpoint::new(
            &self.events_url,
            &self.health_url,
            &self.headers,
        )?);
        let fresh = self.resends.fresh_batches(self.max_requests);
        let threads = self.sender_threads.clamp(1, self.connections.max(1));
        let shared = Arc::new(Shared {
            next_slot: AtomicU64::new(0),
            started: AtomicU64::new(0),
            batches: (0..fresh).map(|_| AtomicU8::new(0)).collect(),
            start: OnceLock::new(),
            endpoint,
            drive: self,
        });
        // Two rendezvous: every thread has warmed its connections, then the start is set.
        let barrier = Barrier::new(threads + 1);
        let all_totals = std::thread::scope(|scope| {
            let senders: Vec<_> = (0..threads)
                .map(|t| {
                    let (shared, barrier) = (Arc::clone(&shared), &barrier);
                    let mine = connections_of(shared.drive.connections, threads, t);
                    scope.spawn(move || sender_thread(shared, barrier, mine))
                })
                .collect();
            barrier.wait();
            let _ = shared.start.set(Instant::now());
            barrier.wait();
            senders
                .into_iter()
                .filter_map(|s| s.join().ok())
                .flatten()
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
            .map_or(shared.drive.duration, |done| done.duration_since(start));
        Ok(Outcome {
            totals,
            slots: shared.drive.max_requests,
            started: shared.started.load(Ordering::Relaxed),
            elapsed,
            batches: shared
                .batches
                .iter()
                .map(|b| BatchState::from_u8(b.load(Ordering::Relaxed)))
                .collect(),
            cpu,
        })
    }
}

/// How many of `connections` thread `t` of `threads` runs: as even as it gets.
fn connections_of(connections: usize, threads: usize, t: usize) -> usize {
    connections / threads + usize::from(t < connections % threads)
}

/// One thread: a current-thread runtime driving `connections` connections, one task each.
fn sender_thread(shared: Arc<Shared>, barrier: &Barrier, connections: usize) -> Vec<Totals> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let Ok(runtime) = runtime else {
        // Keep the rendezvous: the other threads (and the run) go on without this one.
        barrier.wait();
        barrier.wait();
        return Vec::new();
    };
    let warmed = runtime.block_on(join_all((0..connections).map(|_| {
        let (endpoint, timeout) = (Arc::clone(&shared.endpoint), shared.drive.timeout);
        // Opens the keep-alive connection, so that connecting is not in the first latency.
        async move { Connection::warm(endpoint, timeout).await }
    })));
    barrier.wait();
    barrier.wait();
    let start = shared.start.get().copied().unwrap_or_else(Instant::now);
    runtime.block_on(join_all(
        warmed
            .into_iter()
            .map(|c| c.send_all(Arc::clone(&shared), start)),
    ))
}

/// Runs the futures as tasks of the current runtime and collects what they return (a task
/// that panicked is left out, as a sender thread that panicked was).
pub(super) async fn join_all<T, F>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for f in futures {
        set.spawn(f);
    }
    let mut out = Vec::new();
    while let Some(done) = set.join_next().await {
        out.extend(done.ok());
    }
    out
}

impl Connection {
    async fn send_all(self, shared: Arc<Shared>, start: Instant) -> Totals {
        match shared.drive.pace {
            Pace::Rate(schedule) => self.paced(shared, start, schedule).await,
            Pace::Max => self.closed_loop(shared, start).await,
        }
    }

    async fn paced(mut self, shared: Arc<Shared>, start: Instant, s: Schedule) -> Totals {
        let drive = &shared.drive;
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
                tokio::time::sleep_until(due.into()).await;
            }
            let sent = Instant::now();
            if sent.duration_since(due) > tolerance {
                totals.late += 1;
            }
            shared.started.fetch_add(1, Ordering::Relaxed);
            let answer = self.exchange(shared.endpoint.events(body)).await;
            let timing = Timing {
                due,
                sent,
                done: Instant::now(),
            };
            shared.record(&mut totals, payload, answer, timing);
        }
        totals
    }

    async fn closed_loop(mut self, shared: Arc<Shared>, start: Instant) -> Totals {
        let drive = &shared.drive;
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
            let answer = self.exchange(shared.endpoint.events(body)).await;
            let timing = Timing {
                due: sent,
                sent,
                done: Instant::now(),
            };
            shared.record(&mut totals, payload, answer, timing);
        }
        totals
    }
}

fn fresh_index(payload: Payload) -> u64 {
    match payload {
        Payload::Fresh(f) | Payload::Resend(f) => f,
    }
}

impl Shared {
    /// The slot's body: a prebuilt one shared (a reference count, no copy), else built now.
    fn body(&self, payload: Payload, totals: &mut Totals) -> Bytes {
        let batch = fresh_index(payload);
        if let Bodies::Prebuilt(bodies) = &self.drive.bodies {
            if let Some(body) = usize::try_from(batch).ok().and_then(|b| bodies.get(b)) {
                return body.clone();
            }
        }
        totals.built_during_run += 1;
        Bytes::from(self.drive.plan.body(batch))
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
        let (state, ending, latency) = match answer {
            Answer::Response { status, body } => {
                *totals.statuses.entry(status).or_default() += 1;
                let latency = micros(t.done.duration_since(t.due));
                totals.corrected.saturating_record(latency);
                totals
                    .service
                    .saturating_record(micros(t.done.duration_since(t.sent)));
                let (state, rejected_events) = self.read_response(totals, status, body);
                let ending = Ending::Answered {
                    status,
                    rejected_events,
                };
                (state, ending, Some(latency))
            }
            Answer::Transport { kind, detail } => {
                *totals.transport_errors.entry(kind).or_default() += 1;
                totals.first_error.get_or_insert(detail);
                (BatchState::Unknown, Ending::Failed(kind), None)
            }
        };
        let start = self.start.get().copied().unwrap_or(t.due);
        let acked = if state == BatchState::Acked {
            batch_size
        } else {
            0
        };
        let (due, done) = (t.due.duration_since(start), t.done.duration_since(start));
        totals
            .timeline
            .record(due, done, batch_size, acked, latency, ending);
        if let Some(cell) = usize::try_from(fresh_index(payload))
            .ok()
            .and_then(|b| self.batches.get(b))
        {
            cell.fetch_max(state as u8, Ordering::Relaxed);
        }
    }

    /// What the answer means for its batch, and how many events its receipt rejected.
    fn read_response(&self, totals: &mut Totals, status: u16, body: &[u8]) -> (BatchState, u64) {
        if !(200..300).contains(&status) {
            let text: String = String::from_utf8_lossy(body)
                .chars()
                .take(ERROR_TEXT_CHARS)
                .collect();
            totals
                .first_error
                .get_or_insert_with(|| format!("HTTP {status}: {text}"));
            let state = match status {
                400..=499 | 503 => BatchState::Refused,
                _ => BatchState::Unknown,
            };
            return (state, 0);
        }
        totals.acked_requests += 1;
        totals.acked_events += self.drive.plan.batch_size;
        let receipt = totals.receipt_memo.read(body);
        totals.receipts.add(&receipt);
        let rejected = receipt.rejected_unknown_machine + receipt.rejected_wrong_shop;
        (BatchState::Acked, rejected)
    }
}

/// Whole microseconds, at least 1 (the histogram's lowest value).
pub(super) fn micros(d: Duration) -> u64 {
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
    fn connections_are_split_between_threads_all_of_them_and_evenly() {
        for (connections, threads) in [(64, 1), (7, 3), (64, 5), (3, 3), (1000, 7)] {
            let split: Vec<usize> = (0..threads)
                .map(|t| connections_of(connections, threads, t))
                .collect();
            assert_eq!(split.iter().sum::<usize>(), connections, "{split:?}");
            let (min, max) = (split.iter().min(), split.iter().max());
            assert!(max.zip(min).is_some_and(|(a, b)| a - b <= 1), "{split:?}");
        }
    }

    /// The memo must give what parsing gives, whatever the sequence: repeats, changes, a
    /// receipt after a non-receipt, an empty body, one too long to remember.
    #[test]
    fn a_remembered_receipt_reads_as_parsing_it_would() {
        let receipt = |a: u64, d: u64, u: u64, w: u64| {
            format!(
                r#"{{"accepted":{a},"duplicates":{d},"rejected":{{"unknown_machine":{u},"wrong_shop":{w}}}}}"#
            )
            .into_bytes()
        };
        let long = format!(
            r#"{{"accepted":7,"duplicates":1,"rejected":{{"unknown_machine":2,"wrong_shop":3}},"note":"{}"}}"#,
            "x".repeat(MEMO_RECEIPT_BYTES)
        )
        .into_bytes();
        let bodies: Vec<Vec<u8>> = vec![
            receipt(92, 0, 0, 0),
            receipt(92, 0, 0, 0),
            receipt(90, 1, 1, 0),
            receipt(90, 1, 1, 0),
            b"not json".to_vec(),
            b"not json".to_vec(),
            receipt(92, 0, 0, 0),
            Vec::new(),
            long.clone(),
            long,
            receipt(0, 0, 40, 52),
        ];
        let mut memo = ReceiptMemo::default();
        for body in &bodies {
            assert_eq!(
                memo.read(body),
                parse_receipt(body),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        // And the parse itself reads every field (the memo would only repeat a wrong one).
        assert_eq!(
            parse_receipt(&receipt(90, 1, 2, 3)),
            Receipts {
                accepted: 90,
                duplicates: 1,
                rejected_unknown_machine: 2,
                rejected_wrong_shop: 3,
                unreadable: 0,
            }
        );
        assert_eq!(parse_receipt(b"{}").unreadable, 1);
    }

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
