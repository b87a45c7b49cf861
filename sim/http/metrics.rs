//! Counters and latency for `GET /metrics` (Prometheus text format 0.0.4).

use crate::metering::IngestReceipt;
use hdrhistogram::Histogram;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct Metrics {
    requests: AtomicU64,
    accepted: AtomicU64,
    duplicates: AtomicU64,
    rejected_unknown_machine: AtomicU64,
    rejected_wrong_shop: AtomicU64,
    rejected_malformed: AtomicU64,
    rejected_too_large: AtomicU64,
    rejected_unauthorized: AtomicU64,
    rejected_forbidden: AtomicU64,
    rejected_rate_limited: AtomicU64,
    /// Microseconds from a request's arrival to its acknowledgement (after commit).
    latency_us: Mutex<Option<Histogram<u64>>>,
    /// Group commits, the ingestion requests and events they held, and the time the store
    /// thread spent ingesting and committing them: the average group size and the store
    /// thread's utilisation, which bound the server's ceiling.
    commits: AtomicU64,
    committed_requests: AtomicU64,
    committed_events: AtomicU64,
    store_busy_us: AtomicU64,
}

/// Why a request (not an event) was refused.
#[derive(Clone, Copy)]
pub enum Refusal {
    Malformed,
    TooLarge,
    Unauthorized,
    Forbidden,
    RateLimited,
}

impl Metrics {
    pub fn ingested(&self, r: &IngestReceipt, micros: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.accepted.fetch_add(r.accepted, Ordering::Relaxed);
        self.duplicates.fetch_add(r.duplicates, Ordering::Relaxed);
        self.rejected_unknown_machine
            .fetch_add(r.rejected_unknown_machine, Ordering::Relaxed);
        self.rejected_wrong_shop
            .fetch_add(r.rejected_wrong_shop, Ordering::Relaxed);
        let mut guard = self.latency_us.lock().unwrap_or_else(|p| p.into_inner());
        let hist = guard.get_or_insert_with(|| {
            Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
        });
        hist.saturating_record(micros.max(1));
    }

    /// One group commit of `requests` ingestion requests holding `events` events, which kept
    /// the store thread busy for `busy_us` microseconds.
    pub fn committed(&self, requests: u64, events: u64, busy_us: u64) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.committed_requests
            .fetch_add(requests, Ordering::Relaxed);
        self.committed_events.fetch_add(events, Ordering::Relaxed);
        self.store_busy_us.fetch_add(busy_us, Ordering::Relaxed);
    }

    pub fn refused(&self, why: Refusal) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let counter = match why {
            Refusal::Malformed => &self.rejected_malformed,
            Refusal::TooLarge => &self.rejected_too_large,
            Refusal::Unauthorized => &self.rejected_unauthorized,
            Refusal::Forbidden => &self.rejected_forbidden,
            Refusal::RateLimited => &self.rejected_rate_limited,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP fleetsim_ingest_requests_total Requests to POST /v1/events."
        );
        let _ = writeln!(out, "# TYPE fleetsim_ingest_requests_total counter");
        let _ = writeln!(
            out,
            "fleetsim_ingest_requests_total {}",
            get(&self.requests)
        );
        let _ = writeln!(
            out,
            "# HELP fleetsim_events_ingested_total Distinct events stored."
        );
        let _ = writeln!(out, "# TYPE fleetsim_events_ingested_total counter");
        let _ = writeln!(
            out,
            "fleetsim_events_ingested_total {}",
            get(&self.accepted)
        );
        let _ = writeln!(out, "# HELP fleetsim_events_duplicate_total Events already stored (same source and id), counted once.");
        let _ = writeln!(out, "# TYPE fleetsim_events_duplicate_total counter");
        let _ = writeln!(
            out,
            "fleetsim_events_duplicate_total {}",
            get(&self.duplicates)
        );
        let _ = writeln!(
            out,
            "# HELP fleetsim_events_rejected_total Events or requests refused, by reason."
        );
        let _ = writeln!(out, "# TYPE fleetsim_events_rejected_total counter");
        for (reason, c) in [
            ("unknown_machine", &self.rejected_unknown_machine),
            ("wrong_shop", &self.rejected_wrong_shop),
            ("malformed_request", &self.rejected_malformed),
            ("too_large_request", &self.rejected_too_large),
            ("unauthorized_request", &self.rejected_unauthorized),
            ("forbidden_request", &self.rejected_forbidden),
            ("rate_limited_request", &self.rejected_rate_limited),
        ] {
            let _ = writeln!(
                out,
                "fleetsim_events_rejected_total{{reason=\"{reason}\"}} {}",
                get(c)
            );
        }
        self.render_latency(&mut out);
        self.render_commits(&mut out);
        out
    }

    fn render_commits(&self, out: &mut String) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        for (name, help, value) in [
            (
                "fleetsim_commits_total",
                "Group commits of the store.",
                get(&self.commits),
            ),
            (
                "fleetsim_commit_requests_total",
                "Ingestion requests committed, summed over commits.",
                get(&self.committed_requests),
            ),
            (
                "fleetsim_commit_events_total",
                "Events (new or not) committed, summed over commits.",
                get(&self.committed_events),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let busy = get(&self.store_busy_us) as f64 / 1e6;
        let _ = writeln!(out, "# HELP fleetsim_store_busy_seconds_total Time the store thread spent ingesting and committing.");
        let _ = writeln!(out, "# TYPE fleetsim_store_busy_seconds_total counter\nfleetsim_store_busy_seconds_total {busy}");
    }

    fn render_latency(&self, out: &mut String) {
        let guard = self.latency_us.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "# HELP fleetsim_ingest_latency_seconds Request arrival to acknowledgement (after commit).");
        let _ = writeln!(out, "# TYPE fleetsim_ingest_latency_seconds summary");
        let Some(h) = guard.as_ref() else {
            let _ = writeln!(out, "fleetsim_ingest_latency_seconds_count 0");
            return;
        };
        for q in [0.5, 0.9, 0.99, 0.999] {
            let seconds = h.value_at_quantile(q) as f64 / 1e6;
            let _ = writeln!(
                out,
                "fleetsim_ingest_latency_seconds{{quantile=\"{q}\"}} {seconds}"
            );
        }
        let _ = writeln!(out, "fleetsim_ingest_latency_seconds_count {}", h.len());
    }
}
