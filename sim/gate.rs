//! `fleetsim gate`: compare a summary against a baseline and say what regressed.
//!
//! Both inputs are the same kind of summary: the JSON `fleetsim load --out` writes
//! (`load::LoadReport`) or a run's `summary.json` (`report::summary::Summary`). Each kind has
//! a fixed list of metrics (`metrics`), each read at a JSON pointer with a direction:
//! higher is better (throughput), lower is better (latency, errors), or exact (counts, cents,
//! verdicts: any difference fails, whatever the tolerance, since the same scenario and seed
//! must give the same figures). `compare` is pure; `read` and `write_outputs` do the I/O.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Which summary a JSON document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `fleetsim load --out FILE`.
    Load,
    /// `fleetsim run`'s summary.json.
    Run,
}

impl Kind {
    /// The kind of `doc`, from the sections only that kind has.
    pub fn detect(doc: &Value) -> Option<Kind> {
        let number = |pointer: &str| doc.pointer(pointer).is_some_and(Value::is_number);
        if number("/rate/events_per_second") && doc.pointer("/latency_us").is_some() {
            Some(Kind::Load)
        } else if number("/run/events_per_second") && doc.pointer("/truth").is_some() {
            Some(Kind::Run)
        } else {
            None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Load => "a `fleetsim load` report",
            Kind::Run => "a `fleetsim run` summary.json",
        }
    }
}

/// Which way a metric may move without regressing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
    /// Any difference fails.
    Exact,
}

/// A metric: its name on the command line and in the table, and where it is read.
#[derive(Clone, Copy, Debug)]
pub struct Metric {
    pub name: &'static str,
    pub pointer: &'static str,
    pub direction: Direction,
}

const fn m(name: &'static str, pointer: &'static str, direction: Direction) -> Metric {
    Metric {
        name,
        pointer,
        direction,
    }
}

use Direction::{Exact, HigherIsBetter as Higher, LowerIsBetter as Lower};

/// A load report's metrics. The set-up (mode, batch, connections, machines, rate asked for)
/// is exact: two runs set up differently are not comparable, and the table says so.
/// `error_rate` is not in the report; it is derived (`read_metric`).
const LOAD_METRICS: &[Metric] = &[
    m("events_per_second", "/rate/events_per_second", Higher),
    m("requests_per_second", "/rate/requests_per_second", Higher),
    m("acknowledged", "/requests/acknowledged", Higher),
    m("latency_p50", "/latency_us/p50", Lower),
    m("latency_p90", "/latency_us/p90", Lower),
    m("latency_p99", "/latency_us/p99", Lower),
    m("latency_p99_9", "/latency_us/p99_9", Lower),
    m("latency_max", "/latency_us/max", Lower),
    m("service_p50", "/service_time_us/p50", Lower),
    m("service_p90", "/service_time_us/p90", Lower),
    m("service_p99", "/service_time_us/p99", Lower),
    m("service_p99_9", "/service_time_us/p99_9", Lower),
    m("service_max", "/service_time_us/max", Lower),
    m("errors", "/requests/failed", Lower),
    m("error_rate", ERROR_RATE, Lower),
    m("late", "/requests/late", Lower),
    m("dropped", "/requests/dropped", Lower),
    m("mode", "/mode", Exact),
    m("batch_size", "/batch_size", Exact),
    m("connections", "/connections", Exact),
    m("machines", "/machines", Exact),
    m(
        "target_events_per_second",
        "/target_events_per_second",
        Exact,
    ),
    m("verification", "/verification/status", Exact),
    // A fleet-shaped load (`fleetsim load SCENARIO`): the scenario and seed fix the fleet's
    // traffic, so what was uploaded and how it reconciled must reproduce exactly; the sender's
    // own lateness and its retries are measured.
    m("fleet_scenario", "/fleet/scenario", Exact),
    m("fleet_seed", "/fleet/seed", Exact),
    m(
        "fleet_upload_every_seconds",
        "/fleet/upload_every_seconds",
        Exact,
    ),
    m("fleet_uploads", "/fleet/uploads", Exact),
    m("fleet_lost_events", "/fleet/lost_events", Exact),
    m("fleet_retries", "/fleet/retries", Lower),
    m("sender_lateness_p99", "/fleet/lateness_us/p99", Lower),
    m("sender_lateness_max", "/fleet/lateness_us/max", Lower),
    m("reconciliation_ok", "/fleet/reconciliation/ok", Exact),
    m(
        "reconciliation_missing_events",
        "/fleet/reconciliation/missing_events",
        Exact,
    ),
    m(
        "reconciliation_double_counted_events",
        "/fleet/reconciliation/double_counted_events",
        Exact,
    ),
    m(
        "reconciliation_misbilled_cents",
        "/fleet/reconciliation/misbilled_cents",
        Exact,
    ),
];

/// Not a pointer into the report: failed / sent requests.
const ERROR_RATE: &str = "/requests/failed ÷ /requests/sent";

/// A run summary's metrics: its own speed and memory (`/run`, measured), and what a run of
/// the same scenario and seed must reproduce exactly.
const RUN_METRICS: &[Metric] = &[
    m("events_per_second", "/run/events_per_second", Higher),
    m("wall_seconds", "/run/wall_seconds", Lower),
    m(
        "ingest_batch_p50",
        "/run/ingest_batch_latency_us/p50",
        Lower,
    ),
    m(
        "ingest_batch_p99",
        "/run/ingest_batch_latency_us/p99",
        Lower,
    ),
    m(
        "ingest_batch_max",
        "/run/ingest_batch_latency_us/max",
        Lower,
    ),
    m("peak_rss_bytes", "/run/peak_rss_bytes", Lower),
    m("scenario", "/scenario", Exact),
    m("seed", "/seed", Exact),
    m("events", "/run/events", Exact),
    m("truth_events", "/truth/events", Exact),
    m("truth_jobs", "/truth/jobs", Exact),
    m("truth_mountings", "/truth/mountings", Exact),
    m("metered_accepted", "/metered/accepted", Exact),
    m("metered_duplicates", "/metered/duplicates", Exact),
    m("metered_rejected", "/metered/rejected", Exact),
    m("billed_invoices", "/billed/invoices", Exact),
    m("billed_mountings", "/billed/mountings", Exact),
    m("billed_total_cents", "/billed/total_cents", Exact),
    m("reconciliation_ok", "/reconciliation/ok", Exact),
    m(
        "reconciliation_mismatches",
        "/reconciliation/mismatch_count",
        Exact,
    ),
    m("service_cost_cents", "/service/cost_cents", Exact),
];

/// The metrics `fleetsim gate` reads from a summary of `kind`, in table order.
pub fn metrics(kind: Kind) -> &'static [Metric] {
    match kind {
        Kind::Load => LOAD_METRICS,
        Kind::Run => RUN_METRICS,
    }
}

/// The share a measured metric may move the wrong way: `10%` or `0.1`, from 0 to 1000 %.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tolerance(Decimal);

impl Tolerance {
    pub const DEFAULT: Tolerance = Tolerance(Decimal::from_parts(1, 0, 0, false, 1));
    const MAX: Decimal = Decimal::TEN;

    pub fn fraction(self) -> Decimal {
        self.0
    }

    fn as_f64(self) -> f64 {
        self.0.to_f64().unwrap_or(0.0)
    }
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", (self.0 * Decimal::ONE_HUNDRED).normalize())
    }
}

impl Serialize for Tolerance {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl FromStr for Tolerance {
    type Err = String;

    fn from_str(text: &str) -> Result<Tolerance, String> {
        let bad = |why: &str| format!("{text:?} is not a tolerance: {why}; e.g. 10% or 0.1");
        let trimmed = text.trim();
        let (number, scale) = match trimmed.strip_suffix('%') {
            Some(n) => (n.trim_end(), Decimal::ONE_HUNDRED),
            None => (trimmed, Decimal::ONE),
        };
        let value = Decimal::from_str(number).map_err(|_| bad("not a number"))?;
        let fraction = value / scale;
        if fraction.is_sign_negative() && !fraction.is_zero() {
            return Err(bad("negative"));
        }
        if fraction > Tolerance::MAX {
            return Err(bad("above 1000%"));
        }
        Ok(Tolerance(fraction.normalize()))
    }
}

/// How a metric came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Within the tolerance (or, exact, equal).
    Ok,
    /// Moved the right way by more than the tolerance.
    Better,
    /// Moved the wrong way by more than the tolerance.
    Regressed,
    /// An exact figure differs.
    Changed,
    /// Present on one side only.
    Missing,
}

impl Verdict {
    pub fn failed(self) -> bool {
        matches!(
            self,
            Verdict::Regressed | Verdict::Changed | Verdict::Missing
        )
    }

    fn text(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Better => "better",
            Verdict::Regressed => "REGRESSED",
            Verdict::Changed => "CHANGED",
            Verdict::Missing => "MISSING",
        }
    }
}

/// One metric compared.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub metric: &'static str,
    pub pointer: &'static str,
    pub direction: Direction,
    pub baseline: Option<Value>,
    pub current: Option<Value>,
    /// (current − baseline) / baseline × 100; none for non-numeric figures, a zero baseline,
    /// or an exact figure that did not change (its "+0.0%" would read as a measurement).
    pub change_percent: Option<f64>,
    /// The worst value that still passes: baseline × (1 ∓ tolerance); exact: the baseline.
    pub limit: Option<Value>,
    pub verdict: Verdict,
}

/// Everything `compare` found, in the kind's metric order.
#[derive(Clone, Debug, Serialize)]
pub struct GateReport {
    pub kind: Kind,
    pub tolerance: Tolerance,
    pub rows: Vec<Row>,
}

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: not JSON: {message}", path.display())]
    NotJson {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "the {side} is neither a `fleetsim load` report (no number at /rate/events_per_second) \
         nor a `fleetsim run` summary.json (no number at /run/events_per_second)"
    )]
    UnknownKind { side: String },
    #[error(
        "the baseline is {} but the current is {}: compare a summary with one of its own kind",
        baseline.name(),
        current.name()
    )]
    DifferentKinds { baseline: Kind, current: Kind },
    #[error("--metric {name:?} is not a metric of {}; allowed: {}", kind.name(), allowed.join(", "))]
    UnknownMetric {
        name: String,
        kind: Kind,
        allowed: Vec<&'static str>,
    },
    #[error("{}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl GateError {
    /// Whether the input was at fault (rather than writing an output).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, GateError::Write { .. })
    }
}

/// Reads and parses a summary file; a parse error names its line and column.
pub fn read(path: &Path) -> Result<Value, GateError> {
    let text = std::fs::read_to_string(path).map_err(|source| GateError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| GateError::NotJson {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

/// Reads both files and compares them (`compare_only`); an error names the file at fault.
pub fn compare_files(
    baseline: &Path,
    current: &Path,
    tolerance: Tolerance,
    only: &[String],
) -> Result<GateReport, GateError> {
    let (b, c) = (read(baseline)?, read(current)?);
    compare_only(&b, &c, tolerance, only).map_err(|e| match e {
        GateError::UnknownKind { side } => {
            let path = if side == "baseline" {
                baseline
            } else {
                current
            };
            GateError::UnknownKind {
                side: format!("{side} ({})", path.display()),
            }
        }
        other => other,
    })
}

/// Compares every metric of the summaries' kind.
pub fn compare(
    baseline: &Value,
    current: &Value,
    tolerance: Tolerance,
) -> Result<GateReport, GateError> {
    compare_only(baseline, current, tolerance, &[])
}

/// Compares the metrics named in `only` (all when empty). A metric absent from both sides is
/// left out unless named; absent from one side, it is `Missing`.
pub fn compare_only(
    baseline: &Value,
    current: &Value,
    tolerance: Tolerance,
    only: &[String],
) -> Result<GateReport, GateError> {
    let kind = kind_of(baseline, "baseline")?;
    let current_kind = kind_of(current, "current")?;
    if kind != current_kind {
        return Err(GateError::DifferentKinds {
            baseline: kind,
            current: current_kind,
        });
    }
    let chosen = choose(kind, only)?;
    let rows = chosen
        .into_iter()
        .filter_map(|metric| {
            let named = !only.is_empty();
            row(metric, baseline, current, tolerance, named)
        })
        .collect();
    Ok(GateReport {
        kind,
        tolerance,
        rows,
    })
}

fn kind_of(doc: &Value, side: &'static str) -> Result<Kind, GateError> {
    Kind::detect(doc).ok_or_else(|| GateError::UnknownKind { side: side.into() })
}

/// The kind's metrics named in `only`, in the kind's order, each once.
fn choose(kind: Kind, only: &[String]) -> Result<Vec<Metric>, GateError> {
    let all = metrics(kind);
    if let Some(name) = only.iter().find(|n| !all.iter().any(|m| m.name == *n)) {
        return Err(GateError::UnknownMetric {
            name: name.clone(),
            kind,
            allowed: all.iter().map(|m| m.name).collect(),
        });
    }
    Ok(all
        .iter()
        .filter(|m| only.is_empty() || only.iter().any(|n| n == m.name))
        .copied()
        .collect())
}

/// The metric's value in `doc`; JSON null counts as absent (e.g. no peak RSS off Linux).
fn read_metric(metric: &Metric, doc: &Value) -> Option<Value> {
    if metric.pointer == ERROR_RATE {
        let failed = doc.pointer("/requests/failed")?.as_f64()?;
        let sent = doc.pointer("/requests/sent")?.as_f64()?;
        return serde_json::Number::from_f64(failed / sent.max(1.0)).map(Value::Number);
    }
    doc.pointer(metric.pointer)
        .filter(|v| !v.is_null())
        .cloned()
}

fn row(
    metric: Metric,
    baseline: &Value,
    current: &Value,
    tolerance: Tolerance,
    named: bool,
) -> Option<Row> {
    let (b, c) = (
        read_metric(&metric, baseline),
        read_metric(&metric, current),
    );
    let mut row = Row {
        metric: metric.name,
        pointer: metric.pointer,
        direction: metric.direction,
        baseline: b.clone(),
        current: c.clone(),
        change_percent: None,
        limit: None,
        verdict: Verdict::Missing,
    };
    let (Some(b), Some(c)) = (b, c) else {
        // Absent from both: the metric does not apply to this kind of run (no `[service]`).
        return (row.baseline.is_some() || row.current.is_some() || named).then_some(row);
    };
    let unchanged_exact = metric.direction == Direction::Exact && b == c;
    row.change_percent = change_percent(&b, &c).filter(|_| !unchanged_exact);
    match (metric.direction, b.as_f64(), c.as_f64()) {
        (Direction::Exact, _, _) | (_, None, _) | (_, _, None) => {
            row.verdict = if b == c {
                Verdict::Ok
            } else {
                Verdict::Changed
            };
            row.limit = Some(b);
        }
        (direction, Some(b), Some(c)) => {
            let (limit, verdict) = judge(direction, b, c, tolerance.as_f64());
            row.limit = serde_json::Number::from_f64(limit).map(Value::Number);
            row.verdict = verdict;
        }
    }
    Some(row)
}

/// The limit baseline × (1 ∓ tolerance) and the verdict of `current` against it.
fn judge(direction: Direction, baseline: f64, current: f64, tolerance: f64) -> (f64, Verdict) {
    let (worse, better) = match direction {
        Direction::HigherIsBetter => (baseline * (1.0 - tolerance), baseline * (1.0 + tolerance)),
        _ => (baseline * (1.0 + tolerance), baseline * (1.0 - tolerance)),
    };
    let higher = direction == Direction::HigherIsBetter;
    let verdict = if (higher && current < worse) || (!higher && current > worse) {
        Verdict::Regressed
    } else if (higher && current > better) || (!higher && current < better) {
        Verdict::Better
    } else {
        Verdict::Ok
    };
    (worse, verdict)
}

fn change_percent(baseline: &Value, current: &Value) -> Option<f64> {
    let (b, c) = (baseline.as_f64()?, current.as_f64()?);
    (b != 0.0).then(|| ((c - b) / b.abs() * 1000.0).round() / 10.0)
}

impl GateReport {
    pub fn failures(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.verdict.failed())
    }

    pub fn passed(&self) -> bool {
        self.failures().next().is_none()
    }

    /// The table the CLI prints: metric, baseline, current, change, limit, verdict.
    pub fn table(&self) -> String {
        let header = [
            "metric", "baseline", "current", "change", "limit", "verdict",
        ];
        let cells: Vec<[String; 6]> = self.rows.iter().map(cells).collect();
        let mut widths = header.map(str::len);
        for row in &cells {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |row: [&str; 6]| {
            let padded: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            format!("{}\n", padded.join("  ").trim_end())
        };
        let mut out = line(header);
        for row in &cells {
            out.push_str(&line(row.each_ref().map(String::as_str)));
        }
        out
    }

    /// The one-line outcome, naming each failed metric.
    pub fn verdict_line(&self) -> String {
        let failed: Vec<&str> = self.failures().map(|r| r.metric).collect();
        match failed.is_empty() {
            true => format!(
                "gate passed: {} within {} of the baseline",
                metrics_count(self.rows.len()),
                self.tolerance
            ),
            false => format!(
                "gate FAILED: {} of {} regressed, changed or missing: {}",
                failed.len(),
                metrics_count(self.rows.len()),
                failed.join(", ")
            ),
        }
    }

    /// JUnit XML: one test case per metric.
    pub fn junit(&self) -> String {
        let failures = self.failures().count();
        let tests = self.rows.len();
        let cases: String = self.rows.iter().map(test_case).collect();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <testsuites name=\"fleetsim gate\" tests=\"{tests}\" failures=\"{failures}\">\n\
             <testsuite name=\"fleetsim gate ({:?}, tolerance {})\" tests=\"{tests}\" \
             failures=\"{failures}\">\n{cases}</testsuite>\n</testsuites>\n",
            self.kind, self.tolerance
        )
    }
}

fn metrics_count(n: usize) -> String {
    match n {
        1 => "1 metric".into(),
        n => format!("{n} metrics"),
    }
}

fn cells(r: &Row) -> [String; 6] {
    let value = |v: &Option<Value>| v.as_ref().map_or("—".to_string(), render);
    let change = r
        .change_percent
        .map_or("—".to_string(), |c| format!("{c:+.1}%"));
    [
        r.metric.to_string(),
        value(&r.baseline),
        value(&r.current),
        change,
        limit_text(r),
        r.verdict.text().to_string(),
    ]
}

fn limit_text(r: &Row) -> String {
    let Some(limit) = &r.limit else {
        return "—".into();
    };
    match r.direction {
        Direction::HigherIsBetter => format!("≥ {}", render(limit)),
        Direction::LowerIsBetter => format!("≤ {}", render(limit)),
        Direction::Exact => format!("= {}", render(limit)),
    }
}

/// A value as a person reads it: strings unquoted, measured decimals to 4 places.
fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(0.0);
            let text = format!("{x:.4}");
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        }
        other => other.to_string(),
    }
}

fn test_case(r: &Row) -> String {
    let name = crate::load::xml_escape(r.metric);
    if !r.verdict.failed() {
        return format!("<testcase classname=\"fleetsim.gate\" name=\"{name}\"/>\n");
    }
    let [_, baseline, current, change, limit, verdict] = cells(r);
    let message = format!(
        "{verdict}: baseline {baseline}, current {current} ({change}), limit {limit}",
        verdict = verdict.to_lowercase()
    );
    format!(
        "<testcase classname=\"fleetsim.gate\" name=\"{name}\">\
         <failure type=\"{}\" message=\"{}\"/></testcase>\n",
        r.verdict.text().to_lowercase(),
        crate::load::xml_escape(&message)
    )
}

/// Writes the report as JSON and as JUnit XML where asked.
pub fn write_outputs(
    report: &GateReport,
    json: Option<&Path>,
    junit: Option<&Path>,
) -> Result<(), GateError> {
    let write = |path: &Path, text: String| {
        std::fs::write(path, text).map_err(|source| GateError::Write {
            path: path.to_path_buf(),
            source,
        })
    };
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(report).map_err(|e| GateError::Write {
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        write(path, text + "\n")?;
    }
    if let Some(path) = junit {
        write(path, report.junit())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(events_per_second: f64, cents: i64) -> Value {
        json!({
            "scenario": "s", "seed": 1,
            "truth": {"events": 10, "jobs": 5, "mountings": 4},
            "billed": {"total_cents": cents},
            "reconciliation": {"ok": true, "mismatch_count": 0},
            "run": {"events": 10, "events_per_second": events_per_second, "wall_seconds": 2.0,
                    "peak_rss_bytes": null}
        })
    }

    fn row<'r>(report: &'r GateReport, metric: &str) -> &'r Row {
        report
            .rows
            .iter()
            .find(|r| r.metric == metric)
            .unwrap_or_else(|| panic!("no row {metric}: {:?}", report.rows))
    }

    fn verdict(report: &GateReport, metric: &str) -> Verdict {
        row(report, metric).verdict
    }

    fn tol(text: &str) -> Tolerance {
        text.parse().unwrap()
    }

    #[test]
    fn tolerances_read_as_percent_or_fraction() {
        assert_eq!(tol("10%"), tol("0.1"));
        assert_eq!(tol("10%"), Tolerance::DEFAULT);
        assert_eq!(tol(" 2.5 % ").fraction(), Decimal::new(25, 3));
        assert_eq!(tol("0").fraction(), Decimal::ZERO);
        assert_eq!(tol("0.1").to_string(), "10%");
        for bad in ["", "%", "ten", "-5%", "1001%", "10%%", "0.1.2"] {
            assert!(bad.parse::<Tolerance>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn throughput_may_fall_by_the_tolerance_and_no_more() {
        let base = run(1000.0, 5);
        let at = |eps| {
            verdict(
                &compare(&base, &run(eps, 5), tol("10%")).unwrap(),
                "events_per_second",
            )
        };
        assert_eq!(at(900.0), Verdict::Ok);
        assert_eq!(at(899.0), Verdict::Regressed);
        assert_eq!(at(1101.0), Verdict::Better);
    }

    #[test]
    fn a_lower_is_better_metric_fails_when_it_rises() {
        let mut current = run(1000.0, 5);
        current["run"]["wall_seconds"] = json!(2.3);
        let report = compare(&run(1000.0, 5), &current, tol("10%")).unwrap();
        assert_eq!(verdict(&report, "wall_seconds"), Verdict::Regressed);
        let row = report
            .rows
            .iter()
            .find(|r| r.metric == "wall_seconds")
            .unwrap();
        assert_eq!(row.change_percent, Some(15.0));
        assert_eq!(row.limit, Some(json!(2.2)));
    }

    #[test]
    fn an_exact_figure_fails_on_any_change_whatever_the_tolerance() {
        let report = compare(&run(1000.0, 5), &run(1000.0, 6), tol("1000%")).unwrap();
        assert_eq!(verdict(&report, "billed_total_cents"), Verdict::Changed);
        assert_eq!(verdict(&report, "events_per_second"), Verdict::Ok);
        assert!(!report.passed());
    }

    #[test]
    fn null_on_both_sides_is_left_out_and_absent_on_one_side_is_missing() {
        let mut current = run(1000.0, 5);
        current["truth"]
            .as_object_mut()
            .unwrap()
            .remove("mountings");
        let report = compare(&run(1000.0, 5), &current, tol("10%")).unwrap();
        assert!(!report.rows.iter().any(|r| r.metric == "peak_rss_bytes"));
        assert_eq!(verdict(&report, "truth_mountings"), Verdict::Missing);
        assert!(report.verdict_line().contains("truth_mountings"));
    }

    /// A fleet-shaped load's report: the synthetic figures plus `/fleet`.
    fn fleet(seed: u64, lateness_p99: u64, missing: u64) -> Value {
        json!({
            "mode": "fleet", "batch_size": 200, "connections": 16,
            "rate": {"events_per_second": 900.0, "requests_per_second": 700.0},
            "requests": {"sent": 100, "failed": 0, "acknowledged": 100},
            "latency_us": {"p99": 9000},
            "fleet": {
                "scenario": "load_small", "seed": seed, "upload_every_seconds": 900,
                "uploads": 100, "lost_events": 0, "retries": 0,
                "lateness_us": {"p99": lateness_p99, "max": 2 * lateness_p99},
                "reconciliation": {"ok": missing == 0, "missing_events": missing,
                                   "double_counted_events": 0, "misbilled_cents": 0}
            }
        })
    }

    #[test]
    fn a_fleet_load_is_gated_on_its_seed_its_reconciliation_and_the_senders_lateness() {
        let base = fleet(7, 1000, 0);
        let same = compare(&base, &fleet(7, 1050, 0), tol("10%")).unwrap();
        assert!(same.passed(), "{}", same.table());
        assert_eq!(verdict(&same, "fleet_uploads"), Verdict::Ok);
        let other_seed = compare(&base, &fleet(8, 1000, 0), tol("1000%")).unwrap();
        assert_eq!(verdict(&other_seed, "fleet_seed"), Verdict::Changed);
        let lost = compare(&base, &fleet(7, 1000, 3), tol("1000%")).unwrap();
        assert_eq!(verdict(&lost, "reconciliation_ok"), Verdict::Changed);
        assert_eq!(
            verdict(&lost, "reconciliation_missing_events"),
            Verdict::Changed
        );
        let late = compare(&base, &fleet(7, 1500, 0), tol("10%")).unwrap();
        assert_eq!(verdict(&late, "sender_lateness_p99"), Verdict::Regressed);
        // A synthetic report has no `/fleet`: none of those rows appears.
        let synthetic = compare(&synthetic_load(), &synthetic_load(), tol("10%")).unwrap();
        assert!(!synthetic
            .rows
            .iter()
            .any(|r| r.metric.starts_with("fleet_")));
    }

    fn synthetic_load() -> Value {
        json!({"mode": "max", "rate": {"events_per_second": 5.0}, "latency_us": {"p99": 3}})
    }

    #[test]
    fn an_unchanged_exact_figure_shows_no_change_and_a_changed_one_does() {
        let same = compare(&run(1000.0, 5), &run(1000.0, 5), tol("10%")).unwrap();
        assert_eq!(row(&same, "billed_total_cents").change_percent, None);
        let moved = compare(&run(1000.0, 5), &run(1000.0, 6), tol("10%")).unwrap();
        assert_eq!(row(&moved, "billed_total_cents").change_percent, Some(20.0));
    }

    #[test]
    fn kinds_are_detected_and_must_match() {
        let load = json!({"rate": {"events_per_second": 1.0}, "latency_us": {}});
        assert_eq!(Kind::detect(&load), Some(Kind::Load));
        assert!(matches!(
            compare(&run(1.0, 1), &load, Tolerance::DEFAULT),
            Err(GateError::DifferentKinds { .. })
        ));
        assert!(matches!(
            compare(&json!({"run": {}}), &load, Tolerance::DEFAULT),
            Err(GateError::UnknownKind { side }) if side == "baseline"
        ));
    }

    #[test]
    fn an_unknown_metric_name_lists_the_allowed_ones() {
        let err = compare_only(
            &run(1.0, 1),
            &run(1.0, 1),
            Tolerance::DEFAULT,
            &["p99".into()],
        )
        .unwrap_err();
        assert!(err.to_string().contains("billed_total_cents"), "{err}");
    }
}
