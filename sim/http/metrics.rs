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
        out
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
