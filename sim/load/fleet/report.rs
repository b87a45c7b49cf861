//! A fleet-shaped load's `LoadReport` (mode `fleet`): the common figures every load report
//! has (so thresholds, `gate` and the JUnit file read it as they read a synthetic one), its
//! `verification` being the run's reconciliation, and a `fleet` section with the stages, the
//! endpoints and the sender's lateness.

use super::engine::EndpointTotals;
use super::pacing::Pacing;
use super::sender::StageTotals;
use super::FleetPlan;
use crate::load::events::{BodyStats, Tally};
use crate::load::{Latency, LoadReport, Receipts, Requests, Verification};
use crate::metering::IngestReceipt;
use crate::run::RunResult;

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// What the run measured, handed to `assemble`.
pub struct Measured<'a> {
    pub pacing: &'a Pacing,
    pub mean_events_per_virtual_second: Option<f64>,
    pub stages: Vec<StageTotals>,
    /// Every request second by second, and the answers for stalls.
    pub timeline: crate::load::series::Timeline,
    /// The pacing's wall start, which the timeline counts from (`None`: nothing was queued).
    pub pacing_start: Option<Instant>,
    pub endpoints: BTreeMap<&'static str, EndpointTotals>,
    pub receipts: IngestReceipt,
    pub started: Instant,
    /// `None` when a threshold aborted the run (`aborted` says which).
    pub run: Option<&'a RunResult>,
    pub aborted: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FleetSection {
    pub scenario: String,
    pub seed: u64,
    /// The run's own outputs (summary.json, index.html, reconciliation).
    pub report_dir: String,
    /// The fleet's mean events per virtual second (when a rate was asked for: how it became
    /// a speed).
    pub fleet_events_per_virtual_second: Option<f64>,
    pub upload_every_seconds: u64,
    pub uploads: u64,
    /// Attempts beyond each request's first (retries after a failure).
    pub retries: u64,
    /// Requests given up on (refused, or out of attempts), and their events.
    pub lost_requests: u64,
    pub lost_events: u64,
    /// Failed attempts by class: connect, timeout, io, protocol, http_<status>, validation.
    pub errors: BTreeMap<String, u64>,
    /// How long after its scheduled instant each upload started (the sender's own delay).
    pub lateness_us: Latency,
    pub stages: Vec<StageReport>,
    pub endpoints: Vec<EndpointReport>,
    pub reconciliation: ReconciliationReport,
    /// Why the run stopped early (`--abort-on-fail`), if it did.
    pub aborted: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StageReport {
    pub name: String,
    /// Wall seconds from the start; `None` for the hold's open end.
    pub start_s: f64,
    pub end_s: Option<f64>,
    /// The fleet's speed (virtual seconds per wall second) at the stage's start and end.
    pub speed_from: f64,
    pub speed_to: f64,
    pub uploads: u64,
    pub requests: u64,
    pub events_acknowledged: u64,
    /// Acknowledged events per second of the stage's time with traffic.
    pub events_per_second: f64,
    pub latency_us: Latency,
    pub service_time_us: Latency,
    pub lateness_us: Latency,
    pub late: u64,
    pub lost_requests: u64,
    pub errors: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EndpointReport {
    pub endpoint: String,
    pub calls: u64,
    pub errors: u64,
    pub service_time_us: Latency,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReconciliationReport {
    pub ok: bool,
    pub missing_events: u64,
    pub double_counted_events: u64,
    pub misbilled_cents: i64,
    pub mismatches: u64,
}

pub(super) fn assemble(plan: &FleetPlan, m: Measured<'_>) -> LoadReport {
    let mut all = StageTotals::new();
    for s in &m.stages {
        all.merge(s);
    }
    let (series, stalls, threshold) = timeline(&m, &all);
    let seconds = match (all.first_send, all.last_done) {
        (Some(first), Some(last)) => last.duration_since(first).as_secs_f64(),
        _ => m.started.elapsed().as_secs_f64(),
    }
    .max(1e-9);
    let reconciled = m.run.is_some_and(|run| {
        run.reconciliation.ok
            && run
                .pricings
                .as_ref()
                .is_none_or(|p| p.unreconciled().next().is_none())
    });
    let mut report = LoadReport {
        target: plan.http.url.clone(),
        mode: "fleet",
        connections: plan.connections,
        batch_size: plan.batch_size as u64,
        machines: m.run.map_or(0, |r| r.summary.machines as u32),
        duration_seconds: seconds,
        target_events_per_second: constant_rate(plan),
        target_requests_per_second: None,
        elapsed_seconds: seconds,
        requests: Requests {
            scheduled: all.requests,
            sent: all.requests,
            acknowledged: all.acknowledged,
            failed: all.lost,
            resent: 0,
            late: all.late,
            dropped: 0,
        },
        events: crate::load::report::Events {
            sent: all.events_sent,
            acknowledged: all.events_acknowledged,
            resent: m.run.map_or(0, |r| r.summary.sent.duplicates),
        },
        rate: crate::load::report::Rate {
            events_per_second: all.events_acknowledged as f64 / seconds,
            requests_per_second: all.acknowledged as f64 / seconds,
        },
        latency_us: Latency::of(&all.latency),
        service_time_us: Latency::of(&all.service),
        responses: responses(&all),
        transport_errors: all
            .errors
            .iter()
            .filter(|(class, _)| !class.starts_with("http_") && *class != "validation")
            .map(|(c, n)| (c.clone(), *n))
            .collect(),
        first_error: all.first_error.clone(),
        server_receipts: Receipts {
            accepted: m.receipts.accepted,
            duplicates: m.receipts.duplicates,
            rejected_unknown_machine: m.receipts.rejected_unknown_machine,
            rejected_wrong_shop: m.receipts.rejected_wrong_shop,
            unreadable: 0,
        },
        bodies: BodyStats {
            mode: "per_upload",
            prebuilt: 0,
            prebuilt_bytes: 0,
            body_bytes: 0,
            build_seconds: 0.0,
            build_us_per_body: 0.0,
            built_during_run: all.requests,
        },
        verification: verification(&m, reconciled),
        thresholds: Vec::new(),
        next_first_seq: 0,
        sender_cpu: None,
        errors_by_class: all.errors.clone(),
        stall_threshold_us: crate::load::driver::micros(threshold),
        stalls,
        series,
        fleet: Some(section(plan, &m, &all, reconciled)),
    };
    report.thresholds = plan.thresholds.iter().map(|t| t.check(&report)).collect();
    report
}

/// The run's reconciliation as the load's verification; an aborted run is not reconciled.
fn verification(m: &Measured<'_>, reconciled: bool) -> Verification {
    let Some(run) = m.run else {
        return Verification {
            status: "skipped",
            detail: format!(
                "{}: the fleet was not all sent, so nothing is reconciled",
                m.aborted.as_deref().unwrap_or("aborted")
            ),
            acknowledged: Tally::default(),
            unknown: Tally::default(),
            stored: None,
        };
    };
    let s = &run.summary;
    Verification {
        status: if reconciled { "ok" } else { "failed" },
        detail: if reconciled {
            "the fleet's truth reconciles with what the target metered and billed: nothing lost, nothing counted twice, every cent accounted for".into()
        } else {
            run.reconciliation.describe()
        },
        acknowledged: Tally {
            billable_mountings: s.truth.billable_mountings,
            trace_only: s.truth.trace_only,
        },
        unknown: Tally::default(),
        stored: Some(Tally {
            billable_mountings: s.metered.billable_mountings,
            trace_only: s.metered.trace_only,
        }),
    }
}

fn section(plan: &FleetPlan, m: &Measured<'_>, all: &StageTotals, ok: bool) -> FleetSection {
    let unreconciled = crate::reconcile::Reconciliation::default();
    let r = m.run.map_or(&unreconciled, |run| &run.reconciliation);
    FleetSection {
        scenario: plan.scenario.name.clone(),
        seed: plan.run.seed.unwrap_or(plan.scenario.seed),
        report_dir: super::report_dir(plan).display().to_string(),
        fleet_events_per_virtual_second: m.mean_events_per_virtual_second,
        upload_every_seconds: plan.upload_every.as_secs(),
        uploads: all.uploads,
        retries: all.attempts.saturating_sub(all.requests),
        lost_requests: all.lost,
        lost_events: all.events_lost,
        errors: all.errors.clone(),
        lateness_us: Latency::of(&all.lateness),
        stages: stages(m),
        endpoints: m
            .endpoints
            .iter()
            .map(|(name, t)| EndpointReport {
                endpoint: name.to_string(),
                calls: t.calls,
                errors: t.errors,
                service_time_us: Latency::of(&t.service),
            })
            .collect(),
        reconciliation: ReconciliationReport {
            ok,
            missing_events: r.missing,
            double_counted_events: r.double_counted,
            misbilled_cents: r.misbilled_cents,
            mismatches: r.mismatch_count,
        },
        aborted: m.aborted.clone(),
    }
}

fn stages(m: &Measured<'_>) -> Vec<StageReport> {
    let names = m.pacing.names();
    let bounds = m.pacing.bounds();
    m.stages
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let (start, end) = bounds[i];
            let busy = match (t.first_send, t.last_done) {
                (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
                _ => 0.0,
            };
            StageReport {
                name: names[i].clone(),
                start_s: start,
                end_s: end.is_finite().then_some(end),
                speed_from: m.pacing.speed_at(start),
                speed_to: m
                    .pacing
                    .speed_at(if end.is_finite() { end - 1e-9 } else { start }),
                uploads: t.uploads,
                requests: t.requests,
                events_acknowledged: t.events_acknowledged,
                events_per_second: if busy > 0.0 {
                    t.events_acknowledged as f64 / busy
                } else {
                    0.0
                },
                latency_us: Latency::of(&t.latency),
                service_time_us: Latency::of(&t.service),
                lateness_us: Latency::of(&t.lateness),
                late: t.late,
                lost_requests: t.lost,
                errors: t.errors.clone(),
            }
        })
        .collect()
}

/// A constant mean rate, when that is what was asked.
fn constant_rate(plan: &FleetPlan) -> Option<f64> {
    match (&plan.pace.start, plan.pace.stages.is_empty()) {
        (Some(crate::scenario::load::PaceTarget::Rate(r)), true) => Some(*r),
        _ => None,
    }
}

/// Answers by status: acknowledged ones under "2xx", failures under their own status.
fn responses(all: &StageTotals) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    out.insert("2xx".to_string(), all.acknowledged);
    for (class, n) in &all.errors {
        if let Some(status) = class.strip_prefix("http_") {
            out.insert(status.to_string(), *n);
        }
    }
    out
}

impl FleetSection {
    /// The fleet's part of the printed summary: stages, lateness, retries, endpoints.
    pub fn lines(&self) -> String {
        use crate::threshold::render_micros;
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "sender lateness (start − scheduled instant): p50 {}  p99 {}  max {}; {} uploads, {} retries, {} requests lost ({} events)",
            render_micros(self.lateness_us.p50 as f64),
            render_micros(self.lateness_us.p99 as f64),
            render_micros(self.lateness_us.max as f64),
            self.uploads,
            self.retries,
            self.lost_requests,
            self.lost_events
        );
        for s in self.stages.iter().filter(|s| s.requests > 0) {
            let _ = writeln!(
                out,
                "  stage {:<22} {:>7.1}–{:<7} s  speed {:>17}  {:>7} requests  {:>9.0} events/s  p99 {:>9}  max {:>9}  late {}",
                s.name,
                s.start_s,
                s.end_s.map_or_else(|| "end".to_string(), |e| format!("{e:.1}")),
                format!("{:.0}x→{:.0}x", s.speed_from, s.speed_to),
                s.requests,
                s.events_per_second,
                render_micros(s.latency_us.p99 as f64),
                render_micros(s.latency_us.max as f64),
                s.late
            );
        }
        for e in &self.endpoints {
            let _ = writeln!(
                out,
                "  endpoint {:<40} {:>5} calls  {:>3} errors  p50 {:>9}  max {:>9}",
                e.endpoint,
                e.calls,
                e.errors,
                render_micros(e.service_time_us.p50 as f64),
                render_micros(e.service_time_us.max as f64)
            );
        }
        if let Some(why) = &self.aborted {
            let _ = writeln!(out, "aborted: {why}");
        }
        let _ = writeln!(out, "run report: {}", self.report_dir);
        out
    }
}

/// The run second by second and its stalls, by the synthetic mode's rule
/// (`load::stalls::threshold` of the median service time); the fleet's schedule is not a
/// fixed interval, so a stall's waiting requests are those in flight only.
fn timeline(
    m: &Measured<'_>,
    all: &StageTotals,
) -> (
    Vec<crate::load::series::SecondRow>,
    Vec<crate::load::stalls::Stall>,
    std::time::Duration,
) {
    let median = if all.service.is_empty() {
        0
    } else {
        all.service.value_at_quantile(0.5)
    };
    let threshold = crate::load::stalls::threshold(std::time::Duration::from_micros(median));
    let end = match (m.pacing_start, all.last_done) {
        (Some(start), Some(last)) => last.saturating_duration_since(start),
        _ => std::time::Duration::ZERO,
    };
    let found = m.timeline.watch.stalls(threshold, end, |_| None);
    let series = &m.timeline.series;
    let shown = found.iter().map(|f| f.shown(series)).collect();
    (series.rows(), shown, threshold)
}
