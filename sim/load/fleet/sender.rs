//! The fleet's senders: the same event-loop connections as the synthetic mode
//! (`exchange::Connection`, the lean HTTP/1.1 exchange on current-thread runtimes), fed from a queue
//! of machine uploads, each with its scheduled instant, instead of a fixed-interval schedule.
//!
//! A connection takes the next upload, waits for its instant, and sends its requests one
//! after the other (a machine's events arrive in sequence order). Latency is measured from the
//! upload's scheduled instant (the open model: a slow target or a sender behind shows as
//! latency, never as a slower schedule), the service time from each attempt's send, and the
//! sender's own lateness (first send − scheduled instant) on its own. A request that fails
//! (no answer, 429, 5xx) is retried with the same body, as a machine would, after 50 ms, 100
//! ms, … up to `attempts`; a request refused (another 4xx) or out of attempts is lost, and the
//! reconciliation will say what that cost.

use super::super::driver::{join_all, micros, new_histogram};
use super::super::exchange::{Answer, Connection, Endpoint};
use super::super::series::{classify, Ending, Timeline};
use crate::http::server::ReceiptBody;
use crate::metering::IngestReceipt;
use axum::http::HeaderValue;
use bytes::Bytes;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A start later than this after its scheduled instant counts as late: tokio's timer wakes
/// within about a millisecond, so 5 ms late means the sender is behind.
pub const LATE_TOLERANCE: Duration = Duration::from_millis(5);
/// Uploads queued ahead of the senders at most (the simulation waits beyond).
const QUEUE_UPLOADS: usize = 65_536;

/// One request of an upload.
pub struct Request {
    pub body: Bytes,
    pub events: u64,
    /// The shop's own key, if the target minted one.
    pub auth: Option<HeaderValue>,
}

/// A machine's upload, due at `due`.
pub struct Due {
    pub due: Instant,
    pub stage: usize,
    /// Virtual unix seconds of the upload (for the live view's simulated date).
    pub virtual_at: i64,
    pub requests: Vec<Request>,
}

/// Per stage (and for the whole run): what the requests did.
pub struct StageTotals {
    /// From the scheduled instant to the answer that settled the request, microseconds.
    pub latency: Histogram<u64>,
    /// From each attempt's send to its answer, microseconds.
    pub service: Histogram<u64>,
    /// How long after its scheduled instant an upload's first request started.
    pub lateness: Histogram<u64>,
    pub uploads: u64,
    pub requests: u64,
    pub attempts: u64,
    pub acknowledged: u64,
    pub events_sent: u64,
    pub events_acknowledged: u64,
    /// Requests given up on (refused, or out of attempts), and their events.
    pub lost: u64,
    pub events_lost: u64,
    pub late: u64,
    /// Failed attempts by class (`connect`, `timeout`, `io`, `protocol`, `http_<status>`, `validation`).
    pub errors: BTreeMap<String, u64>,
    pub first_error: Option<String>,
    pub first_send: Option<Instant>,
    pub last_done: Option<Instant>,
}

impl StageTotals {
    pub fn new() -> StageTotals {
        StageTotals {
            latency: new_histogram(),
            service: new_histogram(),
            lateness: new_histogram(),
            uploads: 0,
            requests: 0,
            attempts: 0,
            acknowledged: 0,
            events_sent: 0,
            events_acknowledged: 0,
            lost: 0,
            events_lost: 0,
            late: 0,
            errors: BTreeMap::new(),
            first_error: None,
            first_send: None,
            last_done: None,
        }
    }

    pub fn merge(&mut self, other: &StageTotals) {
        // Same bounds on both sides: adding cannot go out of range.
        let _ = self.latency.add(&other.latency);
        let _ = self.service.add(&other.service);
        let _ = self.lateness.add(&other.lateness);
        self.uploads += other.uploads;
        self.requests += other.requests;
        self.attempts += other.attempts;
        self.acknowledged += other.acknowledged;
        self.events_sent += other.events_sent;
        self.events_acknowledged += other.events_acknowledged;
        self.lost += other.lost;
        self.events_lost += other.events_lost;
        self.late += other.late;
        for (class, n) in &other.errors {
            *self.errors.entry(class.clone()).or_default() += n;
        }
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        self.first_send = match (self.first_send, other.first_send) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_done = self.last_done.max(other.last_done);
    }
}

impl Default for StageTotals {
    fn default() -> StageTotals {
        StageTotals::new()
    }
}

/// What the live view reads while the run goes on (atomics, and a histogram swapped out at
/// each reading).
#[derive(Default)]
pub struct Live {
    pub events_acknowledged: AtomicU64,
    pub requests: AtomicU64,
    /// Requests answered (acknowledged) so far.
    pub answered: AtomicU64,
    /// Failed attempts (retried or not).
    pub errors: AtomicU64,
    /// Requests given up on.
    pub lost: AtomicU64,
    pub late: AtomicU64,
    /// Virtual unix seconds of the latest upload started.
    pub virtual_now: AtomicI64,
    recent: Mutex<Option<Histogram<u64>>>,
    /// Since the start, for thresholds that abort the run early.
    latency: Mutex<Option<Histogram<u64>>>,
    lateness: Mutex<Option<Histogram<u64>>>,
    /// Why the run was aborted (a threshold that failed while it ran), once it was.
    aborted: std::sync::OnceLock<String>,
}

impl Live {
    fn record(&self, latency_us: u64) {
        for slot in [&self.recent, &self.latency] {
            let mut h = slot.lock().unwrap_or_else(|p| p.into_inner());
            h.get_or_insert_with(new_histogram)
                .saturating_record(latency_us);
        }
    }

    fn record_lateness(&self, lateness_us: u64) {
        let mut h = self.lateness.lock().unwrap_or_else(|p| p.into_inner());
        h.get_or_insert_with(new_histogram)
            .saturating_record(lateness_us);
    }

    /// A statistic of the latency from the schedule (or of the lateness) since the start;
    /// NaN before any answer.
    pub fn so_far(&self, lateness: bool, s: crate::threshold::Statistic) -> f64 {
        use crate::threshold::Statistic;
        let slot = if lateness {
            &self.lateness
        } else {
            &self.latency
        };
        let h = slot.lock().unwrap_or_else(|p| p.into_inner());
        match (h.as_ref(), s) {
            (None, _) => f64::NAN,
            (Some(h), Statistic::Max) => h.max() as f64,
            (Some(h), Statistic::Mean) => h.mean(),
            (Some(h), Statistic::Quantile(q)) => h.value_at_quantile(q) as f64,
        }
    }

    /// Stops the run: the engine refuses further days with this reason (the first kept).
    pub fn abort(&self, why: String) {
        let _ = self.aborted.set(why);
    }

    pub fn aborted(&self) -> Option<&str> {
        self.aborted.get().map(String::as_str)
    }

    /// The p99 latency from the schedule since the last call (microseconds), if any answer.
    pub fn take_p99(&self) -> Option<u64> {
        let taken = self.recent.lock().unwrap_or_else(|p| p.into_inner()).take();
        taken
            .filter(|h| !h.is_empty())
            .map(|h| h.value_at_quantile(0.99))
    }
}

/// State shared by the senders and the engine that feeds them.
pub struct Shared {
    endpoint: Arc<Endpoint>,
    timeout: Duration,
    attempts: u32,
    stages: usize,
    queue: tokio::sync::Mutex<mpsc::Receiver<Due>>,
    /// Uploads queued and not yet settled, and a signal when it falls to zero.
    outstanding: Mutex<u64>,
    settled: Condvar,
    /// Sender threads still running.
    alive: AtomicUsize,
    receipts: Mutex<IngestReceipt>,
    /// The pacing's wall start (the first day's events), once set.
    start: std::sync::OnceLock<Instant>,
    pub live: Live,
}

/// The producer's side: queue uploads, wait for them to settle, read the receipts.
pub struct Feed {
    tx: Option<mpsc::Sender<Due>>,
    shared: Arc<Shared>,
}

/// What one connection measured: per stage, and its timeline.
type ConnectionTotals = (Vec<StageTotals>, Timeline);

/// The running senders; `join` returns their totals per stage once the feed is dropped.
pub struct Senders {
    threads: Vec<std::thread::JoinHandle<Vec<ConnectionTotals>>>,
    pub shared: Arc<Shared>,
}

/// Why the senders could not take more.
#[derive(Debug)]
pub struct Stopped;

/// Starts `threads` sender threads running `connections` connections between them.
pub fn start(
    endpoint: Endpoint,
    connections: usize,
    threads: usize,
    timeout: Duration,
    attempts: u32,
    stages: usize,
) -> (Feed, Senders) {
    let (tx, rx) = mpsc::channel(QUEUE_UPLOADS);
    let threads = threads.clamp(1, connections.max(1));
    let shared = Arc::new(Shared {
        endpoint: Arc::new(endpoint),
        timeout,
        attempts: attempts.max(1),
        stages,
        queue: tokio::sync::Mutex::new(rx),
        outstanding: Mutex::new(0),
        settled: Condvar::new(),
        alive: AtomicUsize::new(threads),
        receipts: Mutex::new(IngestReceipt::default()),
        start: std::sync::OnceLock::new(),
        live: Live::default(),
    });
    let handles = (0..threads)
        .map(|t| {
            let shared = Arc::clone(&shared);
            let mine = connections / threads + usize::from(t < connections % threads);
            std::thread::Builder::new()
                .name(format!("fleetsim-send-{t}"))
                .spawn(move || sender_thread(shared, mine))
                .expect("spawning a thread")
        })
        .collect();
    (
        Feed {
            tx: Some(tx),
            shared: Arc::clone(&shared),
        },
        Senders {
            threads: handles,
            shared,
        },
    )
}

impl Feed {
    /// Sets the pacing's wall start (once; later calls keep the first) and returns it.
    pub fn start_at(&self, start: Instant) -> Instant {
        *self.shared.start.get_or_init(|| start)
    }

    /// Queues an upload; waits while the queue is full (the simulation is far enough ahead).
    pub fn push(&self, due: Due) -> Result<(), Stopped> {
        *self
            .shared
            .outstanding
            .lock()
            .unwrap_or_else(|p| p.into_inner()) += 1;
        let sent = self.tx.as_ref().ok_or(Stopped)?.blocking_send(due);
        if sent.is_err() {
            self.shared.settle();
            return Err(Stopped);
        }
        Ok(())
    }

    /// Why the run was aborted, if it was.
    pub fn aborted(&self) -> Option<&str> {
        self.shared.live.aborted()
    }

    /// Waits until every upload queued so far is settled (acknowledged or given up on).
    pub fn drain(&self) -> Result<(), Stopped> {
        let mut outstanding = self
            .shared
            .outstanding
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        while *outstanding > 0 {
            if self.shared.alive.load(Ordering::Acquire) == 0 {
                return Err(Stopped);
            }
            // Bounded waits, so that senders that all died are noticed.
            outstanding = self
                .shared
                .settled
                .wait_timeout(outstanding, Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Ok(())
    }

    /// The sums of the target's receipts over acknowledged requests so far.
    pub fn receipts(&self) -> IngestReceipt {
        self.shared.receipts()
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        // Closing the queue lets the senders finish what is in it, then stop.
        self.tx.take();
    }
}

impl Senders {
    /// Waits for the senders (the feed must be dropped first) and merges their totals per
    /// stage and their timelines (second by second, answers for stalls).
    pub fn join(self) -> (Vec<StageTotals>, Timeline) {
        let mut merged: Vec<StageTotals> = (0..self.shared.stages)
            .map(|_| StageTotals::new())
            .collect();
        let mut timeline = Timeline::new();
        for handle in self.threads {
            for (per_connection, mine) in handle.join().unwrap_or_default() {
                for (stage, t) in per_connection.iter().enumerate() {
                    merged[stage].merge(t);
                }
                timeline.merge(mine);
            }
        }
        (merged, timeline)
    }
}

impl Shared {
    /// The pacing's wall start, once the first events are queued.
    pub fn start(&self) -> Option<Instant> {
        self.start.get().copied()
    }

    /// The sums of the target's receipts over acknowledged requests so far.
    pub fn receipts(&self) -> IngestReceipt {
        *self.receipts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn settle(&self) {
        let mut outstanding = self.outstanding.lock().unwrap_or_else(|p| p.into_inner());
        *outstanding = outstanding.saturating_sub(1);
        if *outstanding == 0 {
            self.settled.notify_all();
        }
    }

    async fn next(&self) -> Option<Due> {
        self.queue.lock().await.recv().await
    }
}

fn sender_thread(shared: Arc<Shared>, connections: usize) -> Vec<ConnectionTotals> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let totals = match runtime {
        Ok(runtime) => runtime.block_on(join_all((0..connections).map(|_| {
            let shared = Arc::clone(&shared);
            async move { connection_loop(shared).await }
        }))),
        Err(_) => Vec::new(),
    };
    shared.alive.fetch_sub(1, Ordering::AcqRel);
    shared.settled.notify_all();
    totals
}

async fn connection_loop(shared: Arc<Shared>) -> ConnectionTotals {
    let mut totals: Vec<StageTotals> = (0..shared.stages).map(|_| StageTotals::new()).collect();
    let mut timeline = Timeline::new();
    let mut connection = Connection::warm(Arc::clone(&shared.endpoint), shared.timeout).await;
    while let Some(upload) = shared.next().await {
        let stage = upload.stage.min(shared.stages - 1);
        if upload.due > Instant::now() {
            tokio::time::sleep_until(upload.due.into()).await;
        }
        // Aborted by a threshold: what is still queued is settled unsent.
        if shared.live.aborted().is_none() {
            let live = &shared.live;
            live.virtual_now
                .fetch_max(upload.virtual_at, Ordering::Relaxed);
            let mine = (&mut totals[stage], &mut timeline);
            send_upload(&shared, &mut connection, upload, mine).await;
        }
        shared.settle();
    }
    (totals, timeline)
}

async fn send_upload(
    shared: &Shared,
    connection: &mut Connection,
    upload: Due,
    (totals, timeline): (&mut StageTotals, &mut Timeline),
) {
    totals.uploads += 1;
    let started = Instant::now();
    let lateness = started.saturating_duration_since(upload.due);
    totals.lateness.saturating_record(micros(lateness));
    shared.live.record_lateness(micros(lateness));
    if lateness > LATE_TOLERANCE {
        totals.late += 1;
        shared.live.late.fetch_add(1, Ordering::Relaxed);
    }
    totals.first_send = Some(totals.first_send.map_or(started, |f| f.min(started)));
    for request in upload.requests {
        let outcome = send_request(shared, connection, upload.due, &request, totals).await;
        record(shared, timeline, upload.due, &request, outcome);
    }
}

/// What one attempt came to.
enum Attempt {
    Acknowledged(IngestReceipt),
    Retry,
    Refused,
}

/// How a request ended: when, and its last attempt's ending as `series::classify` reads it.
struct Settled {
    done: Instant,
    acknowledged: bool,
    status: Option<u16>,
    failure: Option<&'static str>,
    rejected_events: u64,
}

/// The request in the run's timeline (second by second, answers for stalls), from the
/// pacing's start.
fn record(shared: &Shared, timeline: &mut Timeline, due: Instant, request: &Request, s: Settled) {
    let Some(start) = shared.start() else {
        return;
    };
    let ending = match (s.status, s.failure) {
        (Some(status), _) => Ending::Answered {
            status,
            rejected_events: s.rejected_events,
        },
        (None, kind) => Ending::Failed(kind.unwrap_or("other")),
    };
    let latency = s
        .acknowledged
        .then(|| micros(s.done.saturating_duration_since(due)));
    timeline.record(
        due.saturating_duration_since(start),
        s.done.saturating_duration_since(start),
        request.events,
        if s.acknowledged { request.events } else { 0 },
        latency,
        ending,
    );
}

async fn send_request(
    shared: &Shared,
    connection: &mut Connection,
    due: Instant,
    request: &Request,
    totals: &mut StageTotals,
) -> Settled {
    let mut settled = Settled {
        done: Instant::now(),
        acknowledged: false,
        status: None,
        failure: None,
        rejected_events: 0,
    };
    totals.requests += 1;
    totals.events_sent += request.events;
    shared.live.requests.fetch_add(1, Ordering::Relaxed);
    for attempt in 0..shared.attempts {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(50 << attempt.min(6))).await;
        }
        let sent = Instant::now();
        let http = match &request.auth {
            Some(auth) => shared.endpoint.events_as(request.body.clone(), auth),
            None => shared.endpoint.events(request.body.clone()),
        };
        let answer = connection.exchange(http).await;
        let done = Instant::now();
        settled.done = done;
        (settled.status, settled.failure) = match &answer {
            Answer::Response { status, .. } => (Some(*status), None),
            Answer::Transport { kind, .. } => (None, Some(*kind)),
        };
        totals.attempts += 1;
        totals.last_done = totals.last_done.max(Some(done));
        if let Answer::Response { .. } = answer {
            totals.service.saturating_record(micros(done - sent));
        }
        match judge(answer, request.events, totals) {
            Attempt::Acknowledged(receipt) => {
                let latency = micros(done.saturating_duration_since(due));
                totals.latency.saturating_record(latency);
                shared.live.record(latency);
                totals.acknowledged += 1;
                shared.live.answered.fetch_add(1, Ordering::Relaxed);
                totals.events_acknowledged += request.events;
                shared
                    .live
                    .events_acknowledged
                    .fetch_add(request.events, Ordering::Relaxed);
                shared
                    .receipts
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .add(&receipt);
                settled.acknowledged = true;
                settled.rejected_events =
                    receipt.rejected_unknown_machine + receipt.rejected_wrong_shop;
                return settled;
            }
            Attempt::Refused => {
                shared.live.errors.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Attempt::Retry => {
                shared.live.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    totals.lost += 1;
    shared.live.lost.fetch_add(1, Ordering::Relaxed);
    totals.events_lost += request.events;
    settled
}

/// Classifies an answer (`series::classify`, as the synthetic mode), counting a failed
/// attempt by its class.
fn judge(answer: Answer, events: u64, totals: &mut StageTotals) -> Attempt {
    let (ending, detail, retry) = match answer {
        Answer::Response { status, body } if (200..300).contains(&status) => {
            return Attempt::Acknowledged(receipt(body, events));
        }
        Answer::Response { status, body } => {
            let text: String = String::from_utf8_lossy(body).chars().take(300).collect();
            let retry = status == 429 || status >= 500;
            let ending = Ending::Answered {
                status,
                rejected_events: 0,
            };
            (classify(ending), format!("HTTP {status}: {text}"), retry)
        }
        Answer::Transport { kind, detail } => (classify(Ending::Failed(kind)), detail, true),
    };
    let class = ending.map_or_else(|| "other".to_string(), |c| c.name());
    *totals.errors.entry(class).or_default() += 1;
    totals.first_error.get_or_insert(detail);
    if retry {
        Attempt::Retry
    } else {
        Attempt::Refused
    }
}

/// The target's receipt; an empty 2xx (a foreign endpoint) accepted the request's `events`,
/// as `HttpEngine` takes it.
fn receipt(body: &[u8], events: u64) -> IngestReceipt {
    if body.iter().all(u8::is_ascii_whitespace) {
        return IngestReceipt {
            accepted: events,
            ..IngestReceipt::default()
        };
    }
    match serde_json::from_slice::<ReceiptBody>(body) {
        Ok(r) => IngestReceipt {
            accepted: r.accepted,
            duplicates: r.duplicates,
            rejected_unknown_machine: r.rejected.unknown_machine,
            rejected_wrong_shop: r.rejected.wrong_shop,
        },
        Err(_) => IngestReceipt::default(),
    }
}
