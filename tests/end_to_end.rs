//! End to end: the real binary on a small calibrated scenario (report contents, determinism,
//! and exit 3 behind a served engine that loses events), and the library with deliberately
//! faulty metering engines (reconciliation must catch them).

mod common;

use chrono::Datelike;
use common::*;
use fleetsim::calendar::Period;
use fleetsim::event::wire::decode::decode_batch;
use fleetsim::event::wire::encode::batch_json;
use fleetsim::event::{MachineId, ShopId, UsageEvent};
use fleetsim::metering::sqlite::SqliteEngine;
use fleetsim::metering::{
    Contract, CounterUsageRow, IngestReceipt, Invoice, MeteringEngine, MeteringError, UsageRow,
};
use fleetsim::run::{run_with_engine, RunOptions, RunResult};
use serde_json::Value;
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// 60 shops × 3 months, calibrated demand, 2% duplicate sends.
const SMALL: &str = "tests/data/e2e_small.toml";
const SHOPS: usize = 60;
const MONTHS: usize = 3;

/// Every pointer the README promises in summary.json.
const POINTERS: &[&str] = &[
    "/scenario",
    "/seed",
    "/shops",
    "/machines",
    "/days",
    "/truth/mountings",
    "/truth/billable_mountings",
    "/truth/trace_only",
    "/metered/billable_mountings",
    "/billed/total_cents",
    "/billed/currency",
    "/billed/by_group/usage",
    "/billed/by_group/vat",
    "/reconciliation/ok",
    "/reconciliation/missing",
    "/reconciliation/double_counted",
    "/run/events",
    "/run/wall_seconds",
    "/run/events_per_second",
];

fn ptr<'a>(v: &'a Value, p: &str) -> &'a Value {
    v.pointer(p)
        .unwrap_or_else(|| panic!("summary.json has no {p}"))
}

fn u(v: &Value, p: &str) -> u64 {
    ptr(v, p)
        .as_u64()
        .unwrap_or_else(|| panic!("{p} is not an unsigned integer: {}", ptr(v, p)))
}

fn run_ok(out: &Path, extra: &[&str]) {
    let output = run_quiet(SMALL, out, extra);
    assert_exit(&output, 0, &format!("fleetsim run {SMALL} {extra:?}"));
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn small_calibrated_run_writes_a_complete_reconciled_report() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let output = run_quiet(SMALL, &out, &[]);
    assert_exit(&output, 0, "fleetsim run --quiet");
    assert!(
        output.stdout.is_empty(),
        "--quiet prints nothing on success: {}",
        text(&output.stdout)
    );

    let s = read_json(&out.join("summary.json"));
    for p in POINTERS {
        ptr(&s, p);
    }
    assert_eq!(ptr(&s, "/scenario"), "e2e_small");
    assert_eq!(u(&s, "/seed"), 20240101);
    assert_eq!(u(&s, "/shops"), SHOPS as u64);
    assert!(
        u(&s, "/machines") >= SHOPS as u64,
        "every shop has at least one machine"
    );
    assert_eq!(
        u(&s, "/days"),
        31 + 29 + 31,
        "January to March 2024 (leap year)"
    );
    assert_eq!(ptr(&s, "/billed/currency"), "EUR");

    assert_eq!(
        ptr(&s, "/reconciliation/ok"),
        true,
        "reconciliation: {}",
        ptr(&s, "/reconciliation")
    );
    assert_eq!(u(&s, "/reconciliation/missing"), 0);
    assert_eq!(u(&s, "/reconciliation/double_counted"), 0);
    let truth_billable = u(&s, "/truth/billable_mountings");
    assert!(
        truth_billable > 1000,
        "60 shops over a quarter mount thousands of pairs, got {truth_billable}"
    );
    assert_eq!(u(&s, "/metered/billable_mountings"), truth_billable);
    assert_eq!(
        u(&s, "/truth/mountings"),
        truth_billable,
        "every mounting (remakes included) is billable"
    );
    assert!(u(&s, "/truth/trace_only") > 0, "remote-edged orders exist");
    // The scenario re-sends 2% of events: duplicates were sent and the engine caught them all.
    assert!(
        u(&s, "/sent/duplicates") > 0,
        "the transport re-sent some events"
    );
    assert_eq!(u(&s, "/metered/duplicates"), u(&s, "/sent/duplicates"));
    assert_eq!(u(&s, "/run/events"), u(&s, "/sent/events"));

    // invoices.csv: one row per invoice line, an invoice per shop and month; the amounts add
    // up to the billed total, the quantities to the truth plus what is still estimated.
    let invoices = read_csv(&out.join("invoices.csv"));
    let issued: HashSet<(&str, &str)> = invoices
        .rows
        .iter()
        .map(|r| (r["shop"].as_str(), r["period"].as_str()))
        .collect();
    assert_eq!(
        issued.len(),
        SHOPS * MONTHS,
        "one invoice per shop and month"
    );
    let cents: i64 = invoices
        .rows
        .iter()
        .map(|r| r["amount_cents"].parse::<i64>().unwrap())
        .sum();
    assert_eq!(cents, ptr(&s, "/billed/total_cents").as_i64().unwrap());
    let mountings: i64 = invoices
        .rows
        .iter()
        .filter(|r| r["kind"] != "trace_only")
        .map(|r| r["quantity"].parse::<i64>().unwrap())
        .sum();
    let outstanding = ptr(&s, "/reconciliation/bases/counters/outstanding")
        .as_i64()
        .unwrap();
    assert_eq!(mountings, truth_billable as i64 + outstanding);
    let periods: HashSet<&str> = invoices.rows.iter().map(|r| r["period"].as_str()).collect();
    assert_eq!(periods, HashSet::from(["2024-01", "2024-02", "2024-03"]));
    assert!(
        invoices
            .rows
            .iter()
            .filter(|r| r["shop"] == "S000005" && r["kind"] != "trace_only")
            .all(|r| r["unit_price"] == "4.25"),
        "the per-shop price override applies to shop 5"
    );

    // shops.csv: one row per shop, in shop order.
    let shops = read_csv(&out.join("shops.csv"));
    assert_eq!(shops.rows.len(), SHOPS);
    for (i, row) in shops.rows.iter().enumerate() {
        assert_eq!(row["shop"], format!("S{i:06}"));
    }
    // Price-per-mounting contracts, no VAT: everything a shop pays is usage.
    assert_split_adds_up(&shops);
    for row in &shops.rows {
        assert_eq!(cell_i64(row, "vat_cents"), 0, "{row:?}");
        assert_eq!(
            cell_i64(row, "usage_cents"),
            cell_i64(row, "net_cents"),
            "{row:?}"
        );
    }
    let total = u(&s, "/billed/total_cents") as i64;
    for (group, cents) in ptr(&s, "/billed/by_group").as_object().unwrap() {
        let expected = if group == "usage" { total } else { 0 };
        assert_eq!(cents.as_i64(), Some(expected), "/billed/by_group/{group}");
    }

    let html = std::fs::read_to_string(out.join("index.html")).expect("index.html is written");
    assert!(html.contains("<svg"), "index.html has inline SVG charts");
    assert!(html.contains("Reconciliation OK"));
    assert!(
        html.contains("Billed, by group"),
        "index.html splits revenue by group"
    );
}

#[test]
fn run_prints_where_its_report_is() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("report-here");
    // Without --quiet: the run reports what it did and where the report is.
    let output = fleetsim()
        .arg("run")
        .arg(SMALL)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_exit(&output, 0, "fleetsim run (not quiet)");
    let stdout = text(&output.stdout);
    let index = out.join("index.html");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("report: "))
        .unwrap_or_else(|| panic!("no `report: ` line in stdout:\n{stdout}"));
    assert_eq!(
        Path::new(line.trim_start_matches("report: ")),
        index,
        "{line}"
    );
    assert!(index.is_file(), "the printed report exists");
    assert!(stdout.contains("reconciliation ok"), "{stdout}");
    assert!(stdout.contains("e2e_small: 60 shops"), "{stdout}");
}

/// summary.json without its `/run` section (the only part that depends on the wall clock).
fn summary_without_run(dir: &Path) -> Value {
    let mut s = read_json(&dir.join("summary.json"));
    let removed = s.as_object_mut().unwrap().remove("run");
    assert!(removed.is_some(), "summary.json has a /run section");
    s
}

/// index.html without its "Throughput" table row (wall-clock figures and thread count).
fn html_without_throughput(dir: &Path) -> String {
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    let start = html
        .find("<tr><th>Throughput</th>")
        .expect("index.html has a Throughput row");
    let end = start + html[start..].find("</tr>").expect("the row ends");
    format!("{}{}", &html[..start], &html[end..])
}

#[test]
fn same_seed_gives_byte_identical_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    run_ok(&a, &["--threads", "2"]);
    run_ok(&b, &["--threads", "2"]);
    for file in ["invoices.csv", "shops.csv"] {
        assert!(
            read(&a.join(file)) == read(&b.join(file)),
            "{file} differs between two runs with the same seed"
        );
    }
    assert_eq!(summary_without_run(&a), summary_without_run(&b));
    assert_eq!(
        html_without_throughput(&a),
        html_without_throughput(&b),
        "index.html differs beyond its throughput row"
    );
}

#[test]
fn thread_count_does_not_change_invoices() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("t1"), tmp.path().join("t2"));
    run_ok(&one, &["--threads", "1"]);
    run_ok(&two, &["--threads", "2"]);
    assert!(
        read(&one.join("invoices.csv")) == read(&two.join("invoices.csv")),
        "invoices.csv depends on --threads"
    );
    assert!(
        read(&one.join("shops.csv")) == read(&two.join("shops.csv")),
        "shops.csv depends on --threads"
    );
    assert_eq!(
        summary_without_run(&one),
        summary_without_run(&two),
        "summary.json (minus /run) depends on --threads"
    );
    assert_eq!(
        html_without_throughput(&one),
        html_without_throughput(&two),
        "index.html (minus its throughput row) depends on --threads"
    );
}

#[test]
fn a_different_seed_gives_different_invoices() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    run_ok(&a, &[]);
    run_ok(&b, &["--seed", "7"]);
    assert!(
        read(&a.join("invoices.csv")) != read(&b.join("invoices.csv")),
        "--seed 7 changed nothing"
    );
    assert_eq!(
        u(&read_json(&b.join("summary.json")), "/seed"),
        7,
        "--seed overrides the scenario's seed"
    );
    // Still a valid, reconciled run.
    assert_eq!(
        ptr(&read_json(&b.join("summary.json")), "/reconciliation/ok"),
        true
    );
}

#[test]
fn a_served_engine_that_drops_events_fails_the_run_with_exit_3_listing_the_places() {
    let tmp = tempfile::tempdir().unwrap();
    let server = server::Server::start(&tmp.path().join("m.sqlite"), TOKEN, &[]);
    // Shop 7's February mountings vanish between the run and the engine, acknowledged.
    let (shop, month) = (ShopId(7), (2024, 2));
    let proxy = LossyProxy::start(&server.url, move |e| {
        e.shop == shop && e.billable() && month_of(e) == month
    });
    let out = tmp.path().join("out");
    let output = fleetsim()
        .args(["run", SMALL, "--quiet", "--target", &proxy.url, "--out"])
        .arg(&out)
        .env("FLEETSIM_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap();
    let dropped = proxy.dropped();
    assert!(dropped > 20, "the proxy dropped only {dropped} events");
    assert_exit(&output, 3, "run --target through a proxy that drops events");
    assert!(
        output.stdout.is_empty(),
        "--quiet: {}",
        text(&output.stdout)
    );

    let stderr = text(&output.stderr);
    let mut lines = stderr.lines();
    let headline = lines.next().unwrap_or_default();
    assert!(
        headline.starts_with(&format!(
            "reconciliation FAILED: {dropped} missing, 0 double-counted events ({dropped} / 0 \
             billable mountings)"
        )),
        "the headline counts every dropped event as missing:\n{stderr}"
    );
    // Every listed place is the one the proxy emptied: shop, month, what, truth vs observed.
    let places: Vec<&str> = lines.clone().filter(|l| l.starts_with("  S")).collect();
    assert!(!places.is_empty(), "no place listed:\n{stderr}");
    for place in &places {
        assert!(place.starts_with("  S000007 2024-02 "), "{place}\n{stderr}");
    }
    let usage = places
        .iter()
        .find_map(|l| l.strip_prefix("  S000007 2024-02 billable_mountings: truth "))
        .unwrap_or_else(|| panic!("no billable_mountings line for S000007 2024-02:\n{stderr}"));
    let (truth, observed) = usage
        .split_once(" vs observed ")
        .map(|(t, o)| (t.parse::<u64>().unwrap(), o.parse::<u64>().unwrap()))
        .unwrap_or_else(|| panic!("not `truth T vs observed O`: {usage}"));
    assert_eq!(truth - observed, dropped, "{usage}");
    assert_eq!(
        lines.last(),
        Some(format!("report: {}", out.join("index.html").display()).as_str()),
        "{stderr}"
    );
    assert_eq!(
        ptr(&read_json(&out.join("summary.json")), "/reconciliation/ok"),
        false
    );
}

#[path = "common/server.rs"]
mod server;

const TOKEN: &str = "end-to-end-admin-token";

fn month_of(e: &UsageEvent) -> (i32, u32) {
    let t = chrono::DateTime::from_timestamp(e.time, 0).expect("a valid time");
    (t.year(), t.month())
}

/// A front for a real `fleetsim serve` that loses events like a faulty engine would: it
/// forwards every request, but removes the events `lose` picks from each `POST /v1/events`
/// batch and answers as if they had been stored (accepted, or duplicates when re-sent).
/// Loopback only; stopped when dropped.
struct LossyProxy {
    url: String,
    lost: Arc<Mutex<HashSet<(u32, u64)>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Upstream {
    url: String,
    agent: ureq::Agent,
    lose: Box<dyn Fn(&UsageEvent) -> bool + Send + Sync>,
    lost: Arc<Mutex<HashSet<(u32, u64)>>>,
}

impl LossyProxy {
    fn start(upstream: &str, lose: impl Fn(&UsageEvent) -> bool + Send + Sync + 'static) -> Self {
        let lost = Arc::new(Mutex::new(HashSet::new()));
        let upstream = Arc::new(Upstream {
            url: upstream.to_string(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into(),
            lose: Box::new(lose),
            lost: lost.clone(),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound, address) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                bound.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new().fallback(forward).with_state(upstream);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let address = address
            .recv_timeout(Duration::from_secs(10))
            .expect("the proxy listens");
        LossyProxy {
            url: format!("http://{address}"),
            lost,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Distinct events lost so far.
    fn dropped(&self) -> u64 {
        self.lost.lock().unwrap().len() as u64
    }
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn forward(
    axum::extract::State(upstream): axum::extract::State<Arc<Upstream>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let answer =
        tokio::task::spawn_blocking(move || upstream.answer(&method, &uri, &headers, &body))
            .await
            .unwrap_or_else(|e| (502, "text/plain".into(), e.to_string().into_bytes()));
    let (status, kind, body) = answer;
    (
        axum::http::StatusCode::from_u16(status).unwrap(),
        [(axum::http::header::CONTENT_TYPE, kind)],
        body,
    )
        .into_response()
}

impl Upstream {
    /// (status, content type, body) of the upstream's answer, after losing events.
    fn answer(
        &self,
        method: &axum::http::Method,
        uri: &axum::http::Uri,
        headers: &axum::http::HeaderMap,
        body: &[u8],
    ) -> (u16, String, Vec<u8>) {
        let events = (method == axum::http::Method::POST && uri.path() == "/v1/events")
            .then(|| decode_batch(body))
            .flatten();
        let Some(events) = events else {
            return self.send(method, uri, headers, body.to_vec());
        };
        let (lost, kept): (Vec<UsageEvent>, Vec<UsageEvent>) =
            events.into_iter().partition(|e| (self.lose)(e));
        let (status, kind, body) = self.send(method, uri, headers, batch_json(&kept));
        if status != 200 || lost.is_empty() {
            return (status, kind, body);
        }
        let mut receipt: Value = serde_json::from_slice(&body).expect("a JSON receipt");
        let mut set = self.lost.lock().unwrap();
        for e in &lost {
            let field = if set.insert((e.machine.0, e.seq)) {
                "accepted"
            } else {
                "duplicates"
            };
            receipt[field] = (receipt[field].as_u64().unwrap() + 1).into();
        }
        (status, kind, receipt.to_string().into_bytes())
    }

    fn send(
        &self,
        method: &axum::http::Method,
        uri: &axum::http::Uri,
        headers: &axum::http::HeaderMap,
        body: Vec<u8>,
    ) -> (u16, String, Vec<u8>) {
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = ureq::http::Request::builder()
            .method(method.as_str())
            .uri(format!("{}{path}", self.url));
        for name in [
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
        ] {
            if let Some(value) = headers.get(&name) {
                request = request.header(name.as_str(), value.as_bytes());
            }
        }
        let response = if matches!(method.as_str(), "GET" | "HEAD" | "DELETE") {
            self.agent.run(request.body(()).unwrap())
        } else {
            self.agent.run(request.body(body).unwrap())
        };
        let mut response = response.expect("the upstream server answers");
        let kind = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_string();
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_vec().unwrap_or_default();
        (status, kind, body)
    }
}

// ---------------------------------------------------------------------------------------------
// Faulty engines: wrappers around the real SQLite engine that lose or forge events.

/// Silently drops every `every`-th event it is given (counted across the whole run).
struct Dropping {
    inner: SqliteEngine,
    every: u64,
    seen: u64,
    dropped: Arc<AtomicU64>,
    /// Report the dropped events as accepted (a lying engine) instead of not mentioning them.
    lie: bool,
    totals: IngestReceipt,
}

impl MeteringEngine for Dropping {
    fn provision(&mut self, machines: &[(MachineId, ShopId)]) -> Result<(), MeteringError> {
        self.inner.provision(machines)
    }

    fn ingest(&mut self, events: &[UsageEvent]) -> Result<IngestReceipt, MeteringError> {
        let mut kept = Vec::with_capacity(events.len());
        let mut dropped = 0;
        for e in events {
            self.seen += 1;
            if self.seen % self.every == 0 {
                dropped += 1;
            } else {
                kept.push(*e);
            }
        }
        let mut receipt = self.inner.ingest(&kept)?;
        if self.lie {
            receipt.accepted += dropped;
        }
        self.dropped.fetch_add(dropped, Ordering::Relaxed);
        self.totals.add(&receipt);
        Ok(receipt)
    }

    fn commit(&mut self) -> Result<(), MeteringError> {
        self.inner.commit()
    }

    fn usage(&mut self, period: Period) -> Result<Vec<UsageRow>, MeteringError> {
        self.inner.usage(period)
    }

    fn receipt_totals(&self) -> IngestReceipt {
        self.totals
    }
    fn set_contracts(&mut self, contracts: &[Contract]) -> Result<(), MeteringError> {
        self.inner.set_contracts(contracts)
    }

    fn close_period(&mut self, period: Period) -> Result<Vec<Invoice>, MeteringError> {
        self.inner.close_period(period)
    }

    fn invoices(&mut self, period: Period) -> Result<Vec<Invoice>, MeteringError> {
        self.inner.invoices(period)
    }

    fn counter_usage(&mut self, period: Period) -> Result<Vec<CounterUsageRow>, MeteringError> {
        self.inner.counter_usage(period)
    }
}

/// Counts some re-sent events twice: every other event whose (machine, seq) it has already
/// seen gets a new sequence number before it reaches the real engine, so it looks new.
struct DoubleCounting {
    inner: SqliteEngine,
    seen: HashSet<(u32, u64)>,
    repeats: u64,
    forged: Arc<AtomicU64>,
}

impl MeteringEngine for DoubleCounting {
    fn provision(&mut self, machines: &[(MachineId, ShopId)]) -> Result<(), MeteringError> {
        self.inner.provision(machines)
    }

    fn ingest(&mut self, events: &[UsageEvent]) -> Result<IngestReceipt, MeteringError> {
        let mut forged = 0;
        let events: Vec<UsageEvent> = events
            .iter()
            .map(|e| {
                let mut e = *e;
                if !self.seen.insert((e.machine.0, e.seq)) {
                    self.repeats += 1;
                    if self.repeats % 2 == 1 {
                        e.seq += 1 << 40;
                        forged += 1;
                    }
                }
                e
            })
            .collect();
        self.forged.fetch_add(forged, Ordering::Relaxed);
        self.inner.ingest(&events)
    }

    fn commit(&mut self) -> Result<(), MeteringError> {
        self.inner.commit()
    }

    fn usage(&mut self, period: Period) -> Result<Vec<UsageRow>, MeteringError> {
        self.inner.usage(period)
    }

    fn receipt_totals(&self) -> IngestReceipt {
        self.inner.receipt_totals()
    }
    fn set_contracts(&mut self, contracts: &[Contract]) -> Result<(), MeteringError> {
        self.inner.set_contracts(contracts)
    }

    fn close_period(&mut self, period: Period) -> Result<Vec<Invoice>, MeteringError> {
        self.inner.close_period(period)
    }

    fn invoices(&mut self, period: Period) -> Result<Vec<Invoice>, MeteringError> {
        self.inner.invoices(period)
    }

    fn counter_usage(&mut self, period: Period) -> Result<Vec<CounterUsageRow>, MeteringError> {
        self.inner.counter_usage(period)
    }
}

fn small_scenario(duplicate_share: f64) -> fleetsim::scenario::Scenario {
    let mut s = fleetsim::scenario::load(&root().join(SMALL)).expect("the test scenario is valid");
    s.faults.duplicate_share = duplicate_share;
    // These engines lose or forge events; billing from events shows it on the invoices.
    s.pricing.basis = fleetsim::billing::Basis::Events;
    s
}

fn run_faulty(dir: &Path, duplicate_share: f64, engine: Box<dyn MeteringEngine>) -> RunResult {
    let opts = RunOptions {
        out: Some(dir.join("out")),
        seed: None,
        threads: 2,
        quiet: true,
    };
    run_with_engine(small_scenario(duplicate_share), &opts, engine)
        .expect("a faulty engine is not a runtime error")
}

fn assert_failure_is_reported(r: &RunResult) {
    assert!(!r.reconciliation.ok);
    assert!(r.reconciliation.mismatch_count > 0);
    assert!(
        !r.reconciliation.mismatches.is_empty(),
        "mismatches are listed"
    );
    for m in &r.reconciliation.mismatches {
        assert!(
            m.shop.starts_with('S') && m.period.starts_with("2024-"),
            "a mismatch names its place: {m:?}"
        );
        assert_ne!(m.truth, m.observed, "{m:?}");
    }
    let describe = r.reconciliation.describe();
    assert!(describe.contains("reconciliation FAILED"), "{describe}");
    // The written report says so too.
    let s = read_json(&r.out_dir.join("summary.json"));
    assert_eq!(ptr(&s, "/reconciliation/ok"), false);
    let html = std::fs::read_to_string(r.out_dir.join("index.html")).unwrap();
    assert!(html.contains("Reconciliation FAILED"));
}

#[test]
fn an_engine_that_silently_drops_events_fails_reconciliation() {
    for lie in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let dropped = Arc::new(AtomicU64::new(0));
        let engine = Dropping {
            inner: SqliteEngine::open(&tmp.path().join("faulty.sqlite")).unwrap(),
            every: 500,
            seen: 0,
            dropped: dropped.clone(),
            lie,
            totals: IngestReceipt::default(),
        };
        // No duplicate sends: every dropped event is an original, so the loss is exact.
        let r = run_faulty(tmp.path(), 0.0, Box::new(engine));
        let dropped = dropped.load(Ordering::Relaxed);
        assert!(dropped > 10, "the wrapper dropped events ({dropped})");
        assert_failure_is_reported(&r);
        let rec = &r.reconciliation;
        assert_eq!(
            rec.missing, dropped,
            "lie = {lie}: every dropped event is missing, once"
        );
        assert_eq!(rec.double_counted, 0, "lie = {lie}");
        assert!(
            rec.missing_mountings > 0,
            "some dropped events were billable mountings"
        );
        assert!(rec.misbilled_cents > 0, "lost mountings were not billed");
        assert!(rec
            .mismatches
            .iter()
            .any(|m| m.what == "billable_mountings" && m.observed < m.truth));
        if !lie {
            assert!(
                !rec.conservation_errors.is_empty(),
                "an honest receipt shows the shortfall"
            );
        }
    }
}

#[test]
fn an_engine_that_counts_resent_events_twice_fails_reconciliation() {
    let tmp = tempfile::tempdir().unwrap();
    let forged = Arc::new(AtomicU64::new(0));
    let engine = DoubleCounting {
        inner: SqliteEngine::open(&tmp.path().join("faulty.sqlite")).unwrap(),
        seen: HashSet::new(),
        repeats: 0,
        forged: forged.clone(),
    };
    let r = run_faulty(tmp.path(), 0.05, Box::new(engine));
    let forged = forged.load(Ordering::Relaxed);
    assert!(forged > 10, "the wrapper forged events ({forged})");
    assert_failure_is_reported(&r);
    let rec = &r.reconciliation;
    assert_eq!(
        rec.double_counted, forged,
        "every forged copy is double-counted, once"
    );
    assert_eq!(rec.missing, 0);
    assert!(rec.double_counted_mountings > 0);
    assert!(
        rec.misbilled_cents > 0,
        "double-counted mountings were overbilled"
    );
    assert!(rec
        .mismatches
        .iter()
        .any(|m| m.what == "invoiced_mountings" && m.observed > m.truth));
    assert!(
        !rec.conservation_errors.is_empty(),
        "more events accepted than the machines emitted"
    );
}

#[test]
fn the_real_engine_behind_run_with_engine_reconciles() {
    // Control for the two tests above: the same path with an unwrapped engine is clean.
    let tmp = tempfile::tempdir().unwrap();
    let engine = SqliteEngine::open(&tmp.path().join("ok.sqlite")).unwrap();
    let r = run_faulty(tmp.path(), 0.05, Box::new(engine));
    assert!(r.reconciliation.ok, "{}", r.reconciliation.describe());
    assert_eq!(r.summary.metered.duplicates, r.summary.sent.duplicates);
    assert!(r.summary.sent.duplicates > 0);
}
