//! Predictive maintenance (`[service.predictive]`): the service desk's weekly review of the
//! machines' health through the engine, preventive visits before failures, measured against
//! the same seed and demand without the policy.

mod common;

use common::*;
use fleetsim::calendar::Period;
use fleetsim::event::{MachineId, ShopId, UsageEvent};
use fleetsim::metering::sqlite::SqliteEngine;
use fleetsim::metering::{
    Contract, CounterUsageRow, IngestReceipt, Invoice, MachineHealth, MeteringEngine,
    MeteringError, UsageRow,
};
use fleetsim::run::{run_with_engine, RunOptions};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Failures every few months per machine, most foreseen: enough visits to judge in a year.
/// `[service.predictive]` comes last (tests add keys to it).
const TEXT: &str = "[scenario]\nseed = 5\n[calendar]\nmonths = 12\n[fleet]\nshops = 250\n[output]\nhtml = false\n\
    [faults]\noutages_per_machine_year = 1.0\n\
    [service]\nenabled = true\n[service.failures]\nincidents_per_year_at_reference = 6.0\n\
    [service.failures.causes.clamping]\nprecursor = 0.8\n[service.failures.causes.tracer_blocker]\nprecursor = 0.8\n\
    [service.predictive]\nenabled = true\n";

fn run_to(scenario: &Path, dir: &Path, extra: &[&str]) -> serde_json::Value {
    assert_exit(
        &run_quiet(scenario.to_str().unwrap(), dir, extra),
        0,
        "predictive",
    );
    read_json(&dir.join("summary.json"))
}

fn run_text(text: &str, dir: &Path, extra: &[&str]) -> serde_json::Value {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    run_to(&path, &dir.join("out"), extra)
}

fn column(csv: &Csv, name: &str) -> Vec<i64> {
    csv.rows.iter().map(|r| cell_i64(r, name)).collect()
}

#[test]
fn predictive_maintenance_changes_failures_and_nothing_of_the_demand() {
    let tmp = tempfile::tempdir().unwrap();
    let on = run_text(TEXT, &tmp.path().join("on"), &[]);
    // The desk never acting is the policy off, for the simulation: the run's own "without".
    let idle = run_text(
        &format!("{TEXT}acts_on = 0.0\n"),
        &tmp.path().join("idle"),
        &[],
    );
    assert_eq!(on["reconciliation"]["ok"], true, "{}", on["reconciliation"]);
    let p = &on["service"]["predictive"];
    let (with, without) = (&p["with"], &p["without"]);
    let visits = with["preventive_visits"].as_u64().unwrap();
    assert!(visits > 30, "{p}");
    assert_eq!(without["preventive_visits"], 0);
    let fails = |f: &serde_json::Value| f["failures"].as_u64().unwrap();
    assert!(fails(with) < fails(without), "{p}");
    // The same demand, whatever the desk did.
    assert_eq!(with["demand_jobs"], without["demand_jobs"], "{p}");
    // The desk that never acts: the simulation is the policy-off one, to the figure.
    let q = &idle["service"]["predictive"];
    assert_eq!(q["with"]["preventive_visits"], 0, "{q}");
    assert_eq!(q["with"], q["without"]);
    assert_eq!(
        q["without"], *without,
        "the same scenario without the policy"
    );
    // Per shop: the same jobs given to the machines, other failures.
    let a = read_csv(&tmp.path().join("on/out/shops.csv"));
    let b = read_csv(&tmp.path().join("idle/out/shops.csv"));
    assert_eq!(column(&a, "demand_jobs"), column(&b, "demand_jobs"));
    assert!(column(&a, "demand_jobs").iter().sum::<i64>() > 100_000);
    assert_ne!(column(&a, "incidents"), column(&b, "incidents"));
    // Preventive visits are in the cost to serve, as a component of their own.
    let mut fleet = 0;
    for (i, row) in a.rows.iter().enumerate() {
        let total = cell_i64(row, "cost_to_serve_cents");
        let parts: i64 = [
            "machine",
            "consumables",
            "parts",
            "labour",
            "travel",
            "loaner",
            "preventive",
        ]
        .iter()
        .map(|c| cell_i64(row, &format!("cost_{c}_cents")))
        .sum();
        assert_eq!(total, parts, "row {i}");
        assert_eq!(
            cell_i64(row, "cost_preventive_cents") > 0,
            cell_i64(row, "preventive_visits") > 0,
            "row {i}"
        );
        fleet += cell_i64(row, "cost_preventive_cents");
    }
    let service = &on["service"];
    assert_eq!(service["cost_by_component"]["preventive_cents"], fleet);
    assert_eq!(
        column(&a, "preventive_visits").iter().sum::<i64>() as u64,
        visits
    );
    assert_eq!(with["cost_cents"], service["cost_cents"]);
    // A preventive visit is not an incident: the incidents are the failures.
    assert_eq!(service["incidents"], with["failures"]);
}

/// Reviews fall at fixed calendar instants, visits reach the organisations in exact order:
/// a day, three, a week or a month per round of messages, one thread or two, the same bytes.
#[test]
fn the_span_length_and_the_threads_change_nothing_with_predictive_on() {
    let tmp = tempfile::tempdir().unwrap();
    let text = TEXT.replace("months = 12", "months = 4");
    let mut runs = Vec::new();
    for (span, threads) in [(1, "2"), (3, "2"), (7, "1"), (7, "2"), (31, "2")] {
        let dir = tmp.path().join(format!("span{span}t{threads}"));
        let s = run_text(
            &format!("{text}[engine]\nspan_days = {span}\n"),
            &dir,
            &["--threads", threads],
        );
        let out = dir.join("out");
        let files: Vec<Vec<u8>> = ["invoices.csv", "shops.csv"]
            .iter()
            .map(|f| std::fs::read(out.join(f)).unwrap())
            .collect();
        runs.push(((span, threads), s["service"].clone(), files));
    }
    let visits = &runs[0].1["predictive"]["with"]["preventive_visits"];
    assert!(visits.as_u64().unwrap() > 10, "{}", runs[0].1);
    for (run, service, files) in &runs[1..] {
        assert_eq!(service, &runs[0].1, "{run:?}");
        assert!(
            files == &runs[0].2,
            "{run:?}: invoices.csv or shops.csv differ"
        );
    }
}

/// The real engine, its health answers seen (or hidden) on the way to the desk.
struct Watched {
    inner: SqliteEngine,
    hide: bool,
    /// Shops whose machines the engine reported a warning for.
    warned: Arc<Mutex<BTreeSet<u32>>>,
}

impl MeteringEngine for Watched {
    fn provision(&mut self, machines: &[(MachineId, ShopId)]) -> Result<(), MeteringError> {
        self.inner.provision(machines)
    }
    fn provision_at(
        &mut self,
        machines: &[(MachineId, ShopId)],
        since: i64,
    ) -> Result<(), MeteringError> {
        self.inner.provision_at(machines, since)
    }
    fn ingest(&mut self, events: &[UsageEvent]) -> Result<IngestReceipt, MeteringError> {
        self.inner.ingest(events)
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
    fn machine_health(&mut self, since: i64) -> Result<Vec<MachineHealth>, MeteringError> {
        if self.hide {
            return Ok(Vec::new());
        }
        let health = self.inner.machine_health(since)?;
        let mut warned = self.warned.lock().unwrap();
        warned.extend(
            health
                .iter()
                .filter(|h| h.health.warning.is_some())
                .map(|h| h.shop.0),
        );
        Ok(health)
    }
}

fn run_watched(dir: &Path, hide: bool) -> (serde_json::Value, BTreeSet<u32>) {
    let text = TEXT.replace("months = 12", "months = 6");
    let scenario = fleetsim::scenario::parse(&dir.join("s.toml"), &text).unwrap();
    let warned = Arc::new(Mutex::new(BTreeSet::new()));
    let engine = Watched {
        inner: SqliteEngine::open(&dir.join("watched.sqlite")).unwrap(),
        hide,
        warned: warned.clone(),
    };
    let opts = RunOptions {
        out: Some(dir.join("out")),
        seed: None,
        threads: 2,
        quiet: true,
    };
    let r = run_with_engine(scenario, &opts, Box::new(engine)).unwrap();
    assert!(r.reconciliation.ok, "{}", r.reconciliation.describe());
    let summary = read_json(&dir.join("out/summary.json"));
    let warned = warned.lock().unwrap().clone();
    (summary, warned)
}

/// The desk acts on what the engine answers, nothing else: an engine that reports no health
/// gets no visit sent, and visits go only to shops the engine reported a warning for.
#[test]
fn the_desk_acts_only_on_what_the_engine_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let (hidden, _) = run_watched(tmp.path(), true);
    let p = &hidden["service"]["predictive"];
    assert_eq!(p["with"]["preventive_visits"], 0, "{p}");
    assert_eq!(p["with"], p["without"]);

    let seen = tmp.path().join("seen");
    std::fs::create_dir_all(&seen).unwrap();
    let (shown, warned) = run_watched(&seen, false);
    let p = &shown["service"]["predictive"];
    assert!(p["with"]["preventive_visits"].as_u64().unwrap() > 10, "{p}");
    let shops = read_csv(&seen.join("out/shops.csv"));
    for row in &shops.rows {
        if cell_i64(row, "preventive_visits") > 0 {
            let shop: u32 = row["shop"].trim_start_matches('S').parse().unwrap();
            assert!(warned.contains(&shop), "shop {shop} visited unwarned");
        }
    }
}
