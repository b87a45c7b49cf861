//! What a load run reports: the numbers (`LoadReport`, also the `--out` JSON), the human
//! summary, and the JUnit XML for CI (`--junit`).

use super::driver::Receipts;
use super::events::{BodyStats, Tally};
use super::series::SecondRow;
use super::stalls::Stall;
use super::threshold::{render_micros, Metric, Observations, Statistic, Verdict};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    pub target: String,
    /// "constant_rate" or "max".
    pub mode: &'static str,
    pub connections: usize,
    pub batch_size: u64,
    pub machines: u32,
    pub duration_seconds: f64,
    /// Asked for (constant rate only).
    pub target_events_per_second: Option<f64>,
    pub target_requests_per_second: Option<f64>,
    /// From the start to the last answer.
    pub elapsed_seconds: f64,
    pub requests: Requests,
    pub events: Events,
    pub rate: Rate,
    /// From each request's scheduled instant (coordinated omission corrected), microseconds.
    pub latency_us: Latency,
    /// From each request's actual send (uncorrected), microseconds.
    pub service_time_us: Latency,
    /// Responses by HTTP status.
    pub responses: BTreeMap<String, u64>,
    /// Requests without a response, by kind.
    pub transport_errors: BTreeMap<String, u64>,
    /// Requests that ended in error, by class (`connect`, `timeout`, `io`, `protocol`, `http_<status>`,
    /// `validation`: see `series::classify`).
    pub errors_by_class: BTreeMap<String, u64>,
    pub first_error: Option<String>,
    /// Sums of the server's receipts over acknowledged requests.
    pub server_receipts: Receipts,
    pub bodies: BodyStats,
    pub verification: Verification,
    pub thresholds: Vec<Verdict>,
    /// A `--first-seq` with which a later run on the same store sends only new ids.
    pub next_first_seq: u64,
    /// The generator's own CPU while sending (Linux only).
    pub sender_cpu: Option<SenderCpu>,
    /// A gap without answers longer than this, while requests waited, is a stall:
    /// max(100 ms, 20 × the median service time).
    pub stall_threshold_us: u64,
    pub stalls: Vec<Stall>,
    /// Second by second since the start (also the `--series` CSV).
    pub series: Vec<SecondRow>,
    /// Fleet-shaped runs (`fleetsim load SCENARIO`): stages, endpoints, lateness, the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet: Option<super::fleet::FleetSection>,
}

/// The generator's own CPU use during the run: on a machine shared with the server, this is
/// what the server did not get.
#[derive(Clone, Debug, Serialize)]
pub struct SenderCpu {
    pub seconds: f64,
    /// Average cores busy: seconds of CPU per second of run.
    pub cores: f64,
    pub us_per_request: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Requests {
    /// Due in the schedule (constant rate), or the cap (max).
    pub scheduled: u64,
    pub sent: u64,
    /// Answered 2xx.
    pub acknowledged: u64,
    /// Not acknowledged: any other status, or no answer.
    pub failed: u64,
    /// Verbatim re-sends of an earlier batch (`--duplicate-share`).
    pub resent: u64,
    /// Started more than one interval (at least 1 ms) after their slot.
    pub late: u64,
    /// Never started: the deadline (end of schedule + grace) passed first.
    pub dropped: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Events {
    pub sent: u64,
    pub acknowledged: u64,
    pub resent: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Rate {
    /// Acknowledged events per second of elapsed time.
    pub events_per_second: f64,
    pub requests_per_second: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p99_9: u64,
    pub max: u64,
    pub mean: f64,
    /// Kept for thresholds on any quantile; not serialized.
    #[serde(skip)]
    pub histogram: Option<Histogram<u64>>,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
            histogram: Some(h.clone()),
        }
    }

    pub(crate) fn statistic(&self, s: Statistic) -> f64 {
        match (s, &self.histogram) {
            (_, None) => 0.0,
            (Statistic::Max, Some(h)) => h.max() as f64,
            (Statistic::Mean, Some(h)) => h.mean(),
            (Statistic::Quantile(q), Some(h)) => h.value_at_quantile(q) as f64,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Verification {
    /// "ok", "failed", "skipped", or "error" (usage could not be read back).
    pub status: &'static str,
    pub detail: String,
    /// Distinct events in acknowledged batches: what must be stored.
    pub acknowledged: Tally,
    /// Distinct events in batches without an answer: they may or may not be stored.
    pub unknown: Tally,
    /// What the server's usage grew by during the run.
    pub stored: Option<Tally>,
}

impl Observations for LoadReport {
    fn observe(&self, metric: Metric) -> f64 {
        match metric {
            Metric::Latency(s) => self.latency_us.statistic(s),
            Metric::ServiceTime(s) => self.service_time_us.statistic(s),
            Metric::EventRate => self.rate.events_per_second,
            Metric::RequestRate => self.rate.requests_per_second,
            Metric::Errors => self.requests.failed as f64,
            Metric::ErrorRate => self.requests.failed as f64 / self.requests.sent.max(1) as f64,
            Metric::Late => self.requests.late as f64,
            Metric::Dropped => self.requests.dropped as f64,
            // Synthetic batches have no fleet to reconcile: their exactly-once check stands in.
            Metric::Reconciliation => f64::from(u8::from(self.verification.status == "ok")),
            Metric::Lateness(s) => self
                .fleet
                .as_ref()
                .map_or(f64::NAN, |f| f.lateness_us.statistic(s)),
        }
    }
}

/// What a finished run amounts to, worst first: when several apply, the first wins
/// (correctness before speed). `cli` maps each to its exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conclusion {
    /// The server acknowledged no request: nothing was measured.
    NothingAcknowledged,
    /// Usage could not be read back after the run.
    VerificationError,
    /// An acknowledged event was lost, or counted twice.
    VerificationFailed,
    /// A `--threshold` was violated.
    ThresholdFailed,
    Ok,
}

impl LoadReport {
    pub fn thresholds_ok(&self) -> bool {
        self.thresholds.iter().all(|v| v.ok)
    }

    pub fn conclusion(&self) -> Conclusion {
        if self.requests.acknowledged == 0 {
            return Conclusion::NothingAcknowledged;
        }
        match self.verification.status {
            "error" => Conclusion::VerificationError,
            "failed" => Conclusion::VerificationFailed,
            _ if !self.thresholds_ok() => Conclusion::ThresholdFailed,
            _ => Conclusion::Ok,
        }
    }

    /// The summary printed on stdout.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.headline());
        let _ = writeln!(
            out,
            "sent {} requests ({} events) in {:.2} s: {:.0} events/s, {:.0} requests/s acknowledged",
            self.requests.sent,
            self.events.sent,
            self.elapsed_seconds,
            self.rate.events_per_second,
            self.rate.requests_per_second
        );
        let _ = writeln!(out, "{}", self.latency_lines());
        let _ = writeln!(out, "{}", self.responses_line());
        for stall in &self.stalls {
            let _ = writeln!(out, "{}", stall_line(stall));
        }
        if let Some(e) = &self.first_error {
            let _ = writeln!(out, "first error: {e}");
        }
        if self.target_events_per_second.is_some() {
            let _ = writeln!(
                out,
                "late: {} (started over an interval after their slot); dropped: {} (never started)",
                self.requests.late, self.requests.dropped
            );
        }
        let r = &self.server_receipts;
        let _ = writeln!(
            out,
            "server receipts: {} accepted, {} duplicates ({} events re-sent), {} rejected",
            r.accepted,
            r.duplicates,
            self.events.resent,
            r.rejected_unknown_machine + r.rejected_wrong_shop
        );
        match &self.fleet {
            Some(fleet) => out.push_str(&fleet.lines()),
            None => {
                let _ = writeln!(out, "{}", self.bodies_line());
            }
        }
        if let Some(cpu) = &self.sender_cpu {
            let _ = writeln!(
                out,
                "sender CPU: {:.2} s ({:.2} cores, {:.0} µs per request)",
                cpu.seconds, cpu.cores, cpu.us_per_request
            );
        }
        let _ = writeln!(
            out,
            "verification {}: {}",
            self.verification.status, self.verification.detail
        );
        for v in &self.thresholds {
            let verdict = if v.ok { "ok" } else { "FAILED" };
            let _ = writeln!(
                out,
                "threshold {}: {verdict} (observed {})",
                v.expression, v.observed_text
            );
        }
        out
    }

    /// The run in one line: pace, connections, machines, duration, target.
    pub fn headline(&self) -> String {
        if let Some(fleet) = &self.fleet {
            return format!(
                "fleetsim load: the fleet of {} (seed {}), {} machines uploading every {} s, {} connections, {} events per request at most → {}",
                fleet.scenario,
                fleet.seed,
                self.machines,
                fleet.upload_every_seconds,
                self.connections,
                self.batch_size,
                self.target
            );
        }
        let pace = match self.target_events_per_second {
            Some(rate) => format!(
                "constant rate {rate:.0} events/s ({:.1} requests/s × {} events)",
                self.target_requests_per_second.unwrap_or(0.0),
                self.batch_size
            ),
            None => format!(
                "max rate (closed loop), {} events per request",
                self.batch_size
            ),
        };
        format!(
            "fleetsim load: {pace}, {} connections, {} machines, {:.1} s → {}",
            self.connections, self.machines, self.duration_seconds, self.target
        )
    }

    /// Corrected and uncorrected latency; a closed loop has no schedule, so only one.
    fn latency_lines(&self) -> String {
        let quantiles = |l: &Latency| {
            format!(
                "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
                render_micros(l.p50 as f64),
                render_micros(l.p90 as f64),
                render_micros(l.p99 as f64),
                render_micros(l.p99_9 as f64),
                render_micros(l.max as f64)
            )
        };
        if self.mode == "max" {
            return format!(
                "latency (closed loop: service time): {}",
                quantiles(&self.service_time_us)
            );
        }
        let s = &self.service_time_us;
        format!(
            "latency from schedule: {}\nservice time (uncorrected): p50 {}  p90 {}  p99 {}  max {}",
            quantiles(&self.latency_us),
            render_micros(s.p50 as f64),
            render_micros(s.p90 as f64),
            render_micros(s.p99 as f64),
            render_micros(s.max as f64)
        )
    }

    fn responses_line(&self) -> String {
        let mut parts: Vec<String> = self
            .responses
            .iter()
            .map(|(status, n)| format!("{status} × {n}"))
            .collect();
        parts.extend(
            self.transport_errors
                .iter()
                .map(|(kind, n)| format!("{kind} × {n}")),
        );
        if parts.is_empty() {
            parts.push("none".into());
        }
        format!("responses: {}", parts.join(", "))
    }

    fn bodies_line(&self) -> String {
        let b = &self.bodies;
        format!(
            "bodies: {} ({} prebuilt in {:.2} s, {:.1} MB; {} built during the run; \
             {:.0} µs and {:.1} KB per body)",
            b.mode,
            b.prebuilt,
            b.build_seconds,
            b.prebuilt_bytes as f64 / 1e6,
            b.built_during_run,
            b.build_us_per_body,
            b.body_bytes as f64 / 1e3
        )
    }

    /// JUnit XML: one test case per threshold, plus one for the verification when it ran.
    pub fn junit(&self) -> String {
        let mut cases = String::new();
        let mut failures = 0;
        for v in &self.thresholds {
            let failure = (!v.ok).then(|| {
                format!(
                    "threshold {} violated: observed {}",
                    v.expression, v.observed_text
                )
            });
            failures += usize::from(failure.is_some());
            cases.push_str(&test_case(&v.expression, failure.as_deref()));
        }
        let mut tests = self.thresholds.len();
        if matches!(self.verification.status, "ok" | "failed" | "error") {
            let failure = (self.verification.status != "ok").then_some(&self.verification.detail);
            failures += usize::from(failure.is_some());
            tests += 1;
            cases.push_str(&test_case("verification", failure.map(String::as_str)));
        }
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <testsuites name=\"fleetsim load\" tests=\"{tests}\" failures=\"{failures}\">\n\
             <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" time=\"{:.3}\">\n\
             {cases}</testsuite>\n</testsuites>\n",
            xml_escape(&self.headline()),
            self.elapsed_seconds
        )
    }
}

/// "stall: no answer from 3.02 s to 4.53 s (1.51 s) while 120 requests waited; p99 from the
/// schedule 1.49 s, max 1.52 s".
fn stall_line(s: &Stall) -> String {
    format!(
        "stall: no answer from {:.2} s to {:.2} s ({:.2} s) while {} requests waited; \
         p99 from the schedule {}, max {}",
        s.start_s,
        s.end_s,
        s.seconds,
        s.requests_waiting,
        render_micros(s.latency_p99_us as f64),
        render_micros(s.latency_max_us as f64)
    )
}

fn test_case(name: &str, failure: Option<&str>) -> String {
    let name = xml_escape(name);
    match failure {
        None => format!("<testcase classname=\"fleetsim.load\" name=\"{name}\"/>\n"),
        Some(message) => format!(
            "<testcase classname=\"fleetsim.load\" name=\"{name}\">\
             <failure type=\"threshold\" message=\"{}\"/></testcase>\n",
            xml_escape(message)
        ),
    }
}

/// Text made safe for an XML attribute or element (also used by `gate`'s JUnit).
pub(crate) fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_reads_as_a_sentence() {
        let stall = Stall {
            start_s: 3.021,
            end_s: 4.533,
            seconds: 1.512,
            requests_waiting: 120,
            latency_p99_us: 1_490_000,
            latency_max_us: 1_520_000,
        };
        assert_eq!(
            stall_line(&stall),
            "stall: no answer from 3.02 s to 4.53 s (1.51 s) while 120 requests waited; \
             p99 from the schedule 1.49 s, max 1.52 s"
        );
    }

    #[test]
    fn xml_is_escaped() {
        assert_eq!(
            xml_escape("p99<10ms & \"x\"\u{1}"),
            "p99&lt;10ms &amp; &quot;x&quot; "
        );
    }

    #[test]
    fn a_failed_case_carries_a_failure_element() {
        let case = test_case("p99<1us", Some("observed 3 ms"));
        assert!(case.contains("name=\"p99&lt;1us\""));
        assert!(case.contains("<failure type=\"threshold\" message=\"observed 3 ms\"/>"));
        assert!(!test_case("rate>1", None).contains("failure"));
    }
}
