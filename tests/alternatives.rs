//! Pricing alternatives (issue 12) at library level, embedded and over HTTP:
//! - billing's pure close step (`billing::close::rate_close`) rates the engine's metered closes
//!   under the run's own contracts to the engine's stored invoices, byte for byte;
//! - an alternative that differs only in a price changes only the amounts it prices;
//! - every alternative is reconciled, and an engine whose metered closes lose a shop's events
//!   fails the alternatives' reconciliations (and the run's exit code) loudly;
//! - the shipped `scenarios/alternatives.toml` validates and runs; the benchmark's France
//!   variants differ from `scenarios/france.toml` by their alternatives alone.

mod common;
#[path = "common/server.rs"]
mod server;

use common::*;
use fleetsim::billing::close::{rate_close, MemoryLedger, MeteredClose, ResolvedPlans};
use fleetsim::billing::{Invoice, LineKind};
use fleetsim::calendar::Period;
use fleetsim::event::{MachineId, ShopId, UsageEvent};
use fleetsim::fleet::{Fleet, Segment};
use fleetsim::http::client::{HttpEngine, HttpOptions};
use fleetsim::metering::sqlite::SqliteEngine;
use fleetsim::metering::{
    Contract, CounterUsageRow, Incident, IngestReceipt, MachineExplanation, MachineHealth,
    MeteringEngine, MeteringError, PlanAgreement, UsageRow,
};
use fleetsim::pricing::contracts::{close_terms, plan_agreements, price_contracts};
use fleetsim::pricing::{bill_alternatives, Priced};
use fleetsim::progress::Silent;
use fleetsim::run::{run, run_with_engine, RunOptions, RunResult, METERING_DB};
use fleetsim::scenario::{self, Scenario};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// 40 shops × 5 months: segment prices, every plan kind and service tier, both bases, the
/// field on (incidents on plan invoices), long outages (late usage, estimates, true-ups).
const SMALL: &str = "tests/data/alternatives_small.toml";
const TOKEN: &str = "alternatives-admin-token";
/// The shop every alternative of SMALL bills from its events.
const EVENTS_SHOP: u32 = 7;

fn small() -> Scenario {
    scenario::load(&root().join(SMALL)).expect("the test scenario is valid")
}

fn options(out: &Path) -> RunOptions {
    RunOptions {
        out: Some(out.to_path_buf()),
        seed: None,
        threads: 2,
        quiet: true,
    }
}

fn periods(s: &Scenario) -> Vec<Period> {
    let first = Period::of_date(s.start);
    std::iter::successors(Some(first), |p| Some(p.next()))
        .take(s.months as usize)
        .collect()
}

fn json(invoice: &Invoice) -> String {
    serde_json::to_string(invoice).expect("an invoice serializes")
}

/// Panics with every failing reconciliation described unless the run and all its
/// alternatives reconciled.
fn assert_all_reconciled(r: &RunResult, alternatives: usize) {
    assert!(r.reconciliation.ok, "{}", r.reconciliation.describe());
    let e = r
        .pricings
        .as_ref()
        .expect("a run with alternatives evaluates them");
    assert_eq!(e.reconciliations.len(), alternatives, "one per alternative");
    assert_eq!(e.priced.len(), alternatives + 1, "base first, then each");
    let failed: Vec<String> = e
        .unreconciled()
        .map(|(id, r)| format!("{id}: {}", r.describe()))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

// --- rate_close reproduces the engine's invoices ---------------------------------------

/// Rates every closed period from `engine`'s metered closes under the scenario's base
/// contracts, a fresh ledger carried period after period, and checks each invoice (struct and
/// JSON) and each plan invoice's notes against what the engine stored. Returns the engine's
/// invoices, per period.
fn assert_rate_close_reproduces(
    engine: &mut dyn MeteringEngine,
    s: &Scenario,
) -> Vec<Vec<Invoice>> {
    let fleet = Fleet::generate(s);
    let contracts = price_contracts(&s.pricing, &fleet);
    let plans = plan_agreements(&s.pricing, &fleet);
    let terms = close_terms(&s.pricing, &contracts, &plans);
    let catalogue = s.pricing.catalogue.as_ref().map(|c| &c.catalogue);
    let mut ledger = MemoryLedger::default();
    let mut book = ResolvedPlans::new(catalogue);
    let mut stored_all = Vec::new();
    for p in periods(s) {
        let metered: MeteredClose = engine
            .metered_close(p)
            .expect("metered_close answers")
            .unwrap_or_else(|| panic!("{p} was closed by the run"));
        assert_eq!(metered.period, p);
        let rated = rate_close(&metered, &terms, &mut book, &mut ledger)
            .unwrap_or_else(|e| panic!("{p}: rate_close refused the engine's own close: {e:?}"));
        let stored = engine.invoices(p).expect("invoices answer");
        assert!(!stored.is_empty(), "{p}: the engine issued invoices");
        let rated_shops: Vec<ShopId> = rated.invoices.iter().map(|i| i.shop).collect();
        let stored_shops: Vec<ShopId> = stored.iter().map(|i| i.shop).collect();
        assert_eq!(rated_shops, stored_shops, "{p}: the same shops invoiced");
        for (r, e) in rated.invoices.iter().zip(&stored) {
            assert_eq!(r, e, "{p} {}: rate_close vs the engine's invoice", e.shop);
            assert_eq!(json(r), json(e), "{p} {}: serialized", e.shop);
        }
        let notes: BTreeMap<ShopId, Vec<String>> = rated.notes.into_iter().collect();
        assert_eq!(
            notes,
            engine.invoice_notes(p).expect("notes answer"),
            "{p}: plan invoices' notes"
        );
        stored_all.push(stored);
    }
    stored_all
}

/// The scenario must exercise what makes a close hard: without these, "byte for byte" would
/// be proven on easy invoices only.
fn assert_exercises_corrections(invoices: &[Vec<Invoice>]) {
    let kinds: BTreeSet<LineKind> = invoices
        .iter()
        .flatten()
        .flat_map(|i| i.lines.iter().filter(|l| l.quantity != 0).map(|l| l.kind))
        .collect();
    for needed in [
        LineKind::Usage,
        LineKind::LateUsage,
        LineKind::CounterUsage,
        LineKind::Estimate,
        LineKind::TrueUp,
        LineKind::EstimateCorrection,
        LineKind::Subscription,
        LineKind::Package,
        LineKind::ServiceFee,
        LineKind::ServiceInstalment,
        LineKind::Labour,
        LineKind::Vat,
    ] {
        assert!(
            kinds.contains(&needed),
            "{SMALL} no longer bills a `{}` line (kinds billed: {kinds:?}): make it exercise one again",
            needed.name()
        );
    }
}

#[test]
fn rate_close_reproduces_the_embedded_engines_invoices_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let s = small();
    let result = run(s.clone(), &options(&out)).expect("the run completes");
    assert!(
        result.reconciliation.ok,
        "{}",
        result.reconciliation.describe()
    );
    let mut engine = SqliteEngine::open(&out.join(METERING_DB)).unwrap();
    let invoices = assert_rate_close_reproduces(&mut engine, &s);
    assert_exercises_corrections(&invoices);
}

fn http_engine(server: &server::Server) -> HttpEngine {
    HttpEngine::new(HttpOptions {
        attempts: 3,
        admin_token: Some(TOKEN.into()),
        ..HttpOptions::new(&server.url)
    })
}

#[test]
fn rate_close_reproduces_a_served_engines_invoices_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let server = server::Server::start_at(
        &tmp.path().join("served.sqlite"),
        TOKEN,
        &[],
        server::FIXTURES_NOW,
    );
    let s = small();
    let alternatives = s.alternatives.len();
    let result = run_with_engine(
        s.clone(),
        &options(&tmp.path().join("out")),
        Box::new(http_engine(&server)),
    )
    .expect("the run against the server completes");
    // The pricing stage read every metered close over HTTP too.
    assert_all_reconciled(&result, alternatives);
    let mut engine = http_engine(&server);
    let invoices = assert_rate_close_reproduces(&mut engine, &s);
    assert_exercises_corrections(&invoices);
}

// --- a price-only alternative changes only the amounts ---------------------------------

/// `q` mountings at 4.105 a mounting in cents, rounded once, half away from zero.
fn at_4_105(q: i64) -> i64 {
    let tenths = i128::from(q.unsigned_abs()) * 4105;
    let cents = ((tenths + 5) / 10) as i64;
    if q < 0 {
        -cents
    } else {
        cents
    }
}

/// Whether `dear` (chain = "4.105") reprices the shop: a chain on the segment price, with
/// neither its own price nor a plan.
fn repriced_by_dear(s: &Scenario, fleet: &Fleet, shop: u32) -> bool {
    fleet.shops[shop as usize].segment == Segment::Chain
        && !s.pricing.per_shop.contains_key(&shop)
        && s.pricing.plan_of(shop).is_none()
}

/// Same lines but for amounts, each mountings line at 4.105; returns how many lines had a
/// half cent to round.
fn assert_repriced(base: &Invoice, dear: &Invoice) -> usize {
    let at = format!("{} {}", base.period, base.shop);
    let mut half_cents = 0;
    for (b, d) in base.lines.iter().zip(&dear.lines) {
        assert_eq!(
            (b.kind, b.usage_period, b.quantity),
            (d.kind, d.usage_period, d.quantity),
            "{at}: same line, same usage"
        );
        if b.kind.is_mountings() {
            assert_eq!(d.unit_price.to_string(), "4.105", "{at} {}", b.kind.name());
            assert_eq!(
                d.amount_cents,
                at_4_105(d.quantity),
                "{at} {}: {} × 4.105",
                b.kind.name(),
                d.quantity
            );
            half_cents += usize::from(d.quantity % 2 != 0);
        } else {
            assert_eq!(b, d, "{at}: a line without a price stays as it was");
        }
    }
    assert_eq!(
        dear.total_cents,
        dear.lines.iter().map(|l| l.amount_cents).sum::<i64>(),
        "{at}: lines add up to the total"
    );
    half_cents
}

fn assert_only_amounts_differ(s: &Scenario, base: &[Vec<Invoice>], dear: &Priced) {
    let fleet = Fleet::generate(s);
    assert_eq!(dear.invoices.len(), base.len(), "one list per period");
    let (mut repriced, mut unchanged, mut half_cents, mut dearer) = (0, 0, 0, 0);
    for (stored, priced) in base.iter().zip(&dear.invoices) {
        let issued: Vec<&Invoice> = priced.iter().flatten().collect();
        assert_eq!(issued.len(), stored.len(), "the same invoices issued");
        for (b, d) in stored.iter().zip(issued) {
            let at = format!("{} {}", b.period, b.shop);
            assert_eq!(
                (b.shop, b.period, b.basis, &b.currency, b.lines.len()),
                (d.shop, d.period, d.basis, &d.currency, d.lines.len()),
                "{at}: same shop, period, basis, currency and line count"
            );
            if repriced_by_dear(s, &fleet, b.shop.0) {
                half_cents += assert_repriced(b, d);
                repriced += 1;
                dearer += usize::from(d.total_cents > b.total_cents);
            } else {
                assert_eq!(
                    b, d,
                    "{at}: a shop `dear` does not price is billed as before"
                );
                unchanged += 1;
            }
        }
    }
    assert!(
        repriced >= 20,
        "chains on the segment price are most of the fleet: {repriced}"
    );
    assert!(
        unchanged >= 20,
        "independents and plan shops keep their bills: {unchanged}"
    );
    assert!(half_cents > 0, "some odd quantity makes the rounding count");
    assert!(
        dearer * 2 > repriced,
        "4.105 instead of 3.20 bills most chains more: {dearer} of {repriced}"
    );
}

#[test]
fn an_alternative_that_differs_only_in_price_changes_only_the_amounts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let s = small();
    let result = run(s.clone(), &options(&out)).expect("the run completes");
    let mut engine = SqliteEngine::open(&out.join(METERING_DB)).unwrap();
    let base: Vec<Vec<Invoice>> = periods(&s)
        .into_iter()
        .map(|p| engine.invoices(p).unwrap())
        .collect();

    // An alternative parsed on its own, billed from the engine's metered closes.
    let text = std::fs::read_to_string(root().join(SMALL)).unwrap();
    let text = text.split("\n[[alternative]]").next().unwrap().to_string()
        + "\n[[alternative]]\nid = \"dear\"\nchain = \"4.105\"\n";
    let parsed = scenario::parse(&root().join(SMALL), &text).expect("SMALL with one alternative");
    assert_eq!(parsed.alternatives.len(), 1);
    let fleet = Fleet::generate(&parsed);
    let billed = bill_alternatives(
        &mut engine,
        &parsed.alternatives,
        &fleet,
        &periods(&s),
        None,
        &Silent,
    )
    .expect("the alternative bills");
    assert_only_amounts_differ(&s, &base, &billed[0]);

    // The run's own pricing stage billed the file's `dear` identically.
    let e = result.pricings.expect("SMALL has alternatives");
    let run_dear = e
        .priced
        .iter()
        .find(|p| p.id == "dear")
        .expect("`dear` was billed");
    assert_eq!(
        run_dear.invoices, billed[0].invoices,
        "the run's `dear` and bill_alternatives'"
    );
}

// --- alternatives are reconciled ----------------------------------------------------------

#[test]
fn every_alternative_of_a_run_is_reconciled() {
    let tmp = tempfile::tempdir().unwrap();
    let s = small();
    let ids: Vec<String> = s.alternatives.iter().map(|a| a.id.clone()).collect();
    assert_eq!(
        ids,
        [
            "dear",
            "plans",
            "events",
            "flat@3.00",
            "flat@3.50",
            "flat@4.00"
        ],
        "the sweep expands in order"
    );
    let result = run(s, &options(&tmp.path().join("out"))).expect("the run completes");
    assert_all_reconciled(&result, ids.len());
    let e = result.pricings.as_ref().unwrap();
    let priced: Vec<&str> = e.priced.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(priced[0], "base");
    assert_eq!(&priced[1..], ids.as_slice());
    // Pricing alone differs: every alternative bills something else than the base.
    let total = |p: &Priced| -> i64 {
        p.invoices
            .iter()
            .flatten()
            .flatten()
            .map(|i| i.total_cents)
            .sum()
    };
    let base = total(&e.priced[0]);
    for p in &e.priced[1..] {
        assert_ne!(
            total(p),
            base,
            "`{}` bills the same total as the base",
            p.id
        );
    }
}

/// The embedded engine, except that its metered closes lose one shop's event usage: what a
/// broken `GET /v1/closes/{period}/metered` would hand the pricing stage. Its own closes (the
/// base's invoices) are untouched.
struct LosingMeteredEvents {
    inner: SqliteEngine,
    shop: ShopId,
}

impl MeteringEngine for LosingMeteredEvents {
    fn provision(&mut self, machines: &[(MachineId, ShopId)]) -> Result<(), MeteringError> {
        self.inner.provision(machines)
    }
    fn provision_at(&mut self, m: &[(MachineId, ShopId)], since: i64) -> Result<(), MeteringError> {
        self.inner.provision_at(m, since)
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
    fn latest_data_period(&mut self) -> Result<Option<Period>, MeteringError> {
        self.inner.latest_data_period()
    }
    fn metered_close(&mut self, period: Period) -> Result<Option<MeteredClose>, MeteringError> {
        let mut close = self.inner.metered_close(period)?;
        if let Some(c) = close.as_mut() {
            c.events.remove(&self.shop);
        }
        Ok(close)
    }
    fn invoices(&mut self, period: Period) -> Result<Vec<Invoice>, MeteringError> {
        self.inner.invoices(period)
    }
    fn counter_usage(&mut self, period: Period) -> Result<Vec<CounterUsageRow>, MeteringError> {
        self.inner.counter_usage(period)
    }
    fn set_catalogue(&mut self, source: &str) -> Result<(), MeteringError> {
        self.inner.set_catalogue(source)
    }
    fn catalogue(&mut self) -> Result<Option<String>, MeteringError> {
        self.inner.catalogue()
    }
    fn set_plan_contracts(&mut self, contracts: &[PlanAgreement]) -> Result<(), MeteringError> {
        self.inner.set_plan_contracts(contracts)
    }
    fn record_incidents(
        &mut self,
        shop: ShopId,
        p: Period,
        i: &[Incident],
    ) -> Result<(), MeteringError> {
        self.inner.record_incidents(shop, p, i)
    }
    fn invoice_notes(
        &mut self,
        period: Period,
    ) -> Result<BTreeMap<ShopId, Vec<String>>, MeteringError> {
        self.inner.invoice_notes(period)
    }
    fn machine_health(&mut self, since: i64) -> Result<Vec<MachineHealth>, MeteringError> {
        self.inner.machine_health(since)
    }
    fn explain_machine(
        &mut self,
        m: MachineId,
    ) -> Result<Option<MachineExplanation>, MeteringError> {
        self.inner.explain_machine(m)
    }
}

#[test]
fn metered_closes_that_lose_a_shops_events_fail_every_alternatives_reconciliation() {
    let tmp = tempfile::tempdir().unwrap();
    let s = small();
    let ids: Vec<String> = s.alternatives.iter().map(|a| a.id.clone()).collect();
    for a in &s.alternatives {
        assert_eq!(
            a.pricing.basis_of(EVENTS_SHOP),
            fleetsim::billing::Basis::Events,
            "`{}` bills shop {EVENTS_SHOP} from events (the precondition of this test)",
            a.id
        );
    }
    let engine = LosingMeteredEvents {
        inner: SqliteEngine::open(&tmp.path().join("losing.sqlite")).unwrap(),
        shop: ShopId(EVENTS_SHOP),
    };
    let result = run_with_engine(s, &options(&tmp.path().join("out")), Box::new(engine))
        .expect("a lossy read-back is a reconciliation failure, not a runtime error");
    assert!(
        result.reconciliation.ok,
        "the engine's own closes are intact: {}",
        result.reconciliation.describe()
    );
    let e = result.pricings.as_ref().expect("alternatives evaluated");
    let failed: Vec<&str> = e.unreconciled().map(|(id, _)| id).collect();
    assert_eq!(
        failed, ids,
        "every alternative bills the lost shop, and every one fails"
    );
    let shop = ShopId(EVENTS_SHOP).to_string();
    for (id, r) in e.unreconciled() {
        assert!(r.mismatch_count > 0, "{id}: {}", r.describe());
        assert!(
            r.mismatches.iter().any(|m| m.shop == shop),
            "{id}: the mismatches name {shop}: {}",
            r.describe()
        );
        assert!(
            r.mismatches.iter().all(|m| m.shop == shop),
            "{id}: only {shop} was lost: {}",
            r.describe()
        );
    }
}

// --- the shipped scenario and the benchmark's variants ----------------------------------

const SHIPPED: &str = "scenarios/alternatives.toml";

#[test]
fn the_shipped_alternatives_scenario_validates() {
    let out = fleetsim().args(["check", SHIPPED]).output().unwrap();
    assert_exit(&out, 0, &format!("fleetsim check {SHIPPED}"));
    assert!(
        text(&out.stdout)
            .contains("ok: scenarios/alternatives.toml (alternatives: 400 shops, 24 months"),
        "{}",
        text(&out.stdout)
    );
}

/// The click sweep's judgements in sweep order: (price, judgement).
fn click_sweep(
    e: &fleetsim::pricing::Evaluation,
) -> Vec<(String, &fleetsim::analysis::tariffs::Judgement)> {
    e.priced
        .iter()
        .zip(&e.judgements)
        .filter_map(|(p, j)| {
            let swept = p.swept.as_ref()?;
            (swept.sweep == "click").then(|| (swept.label(), j))
        })
        .collect()
}

#[test]
fn the_shipped_alternatives_scenario_runs_reconciled_and_its_sweep_is_ordered() {
    let tmp = tempfile::tempdir().unwrap();
    let s = scenario::load(&root().join(SHIPPED)).expect("the shipped scenario loads");
    assert!(
        s.service.enabled,
        "the field gives each shop its cost to serve"
    );
    let alternatives = s.alternatives.len();
    let result = run(s, &options(&tmp.path().join("out"))).expect("the run completes");
    assert_all_reconciled(&result, alternatives);
    let e = result.pricings.as_ref().unwrap();
    assert_eq!(e.judgements.len(), alternatives + 1);

    let sweep = click_sweep(e);
    let prices: Vec<&str> = sweep.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(prices.len(), 17, "2.00 to 6.00 by 0.25: {prices:?}");
    assert_eq!((prices[0], prices[16]), ("2.00", "6.00"));
    // One simulated fleet: the same mountings and cost to serve under every pricing.
    let base = &e.judgements[0];
    let cost = |j: &fleetsim::analysis::tariffs::Judgement| j.costs.as_ref().map(|c| c.cost_cents);
    assert!(
        cost(base).is_some_and(|c| c > 0),
        "the field costs something"
    );
    for j in &e.judgements {
        assert_eq!(j.mountings, base.mountings, "{}: mountings", j.id);
        assert_eq!(cost(j), cost(base), "{}: cost to serve", j.id);
    }
    // A dearer click earns more and leaves no more shops at a loss.
    for pair in sweep.windows(2) {
        let ((lo, a), (hi, b)) = (&pair[0], &pair[1]);
        assert!(
            b.revenue_cents > a.revenue_cents,
            "revenue at {hi} above {lo}"
        );
        let loss =
            |j: &fleetsim::analysis::tariffs::Judgement| j.costs.as_ref().unwrap().shops_at_loss;
        assert!(
            loss(b) <= loss(a),
            "shops at a loss at {hi} ({}) not above {lo} ({})",
            loss(b),
            loss(a)
        );
    }
    // Today's two segment prices spread the price per mounting more than one flat price.
    let flat = e
        .judgements
        .iter()
        .find(|j| j.id == "flat")
        .expect("`flat` is judged");
    assert!(
        flat.gini < base.gini,
        "flat {} vs segment prices {}",
        flat.gini,
        base.gini
    );
}

/// The benchmark compares pricings, not fleets: each variant is france.toml plus its
/// alternatives (and no HTML, for both).
#[test]
fn the_benchmarks_france_variants_are_france_plus_alternatives() {
    let france = scenario::load(&root().join("scenarios/france.toml")).unwrap();
    for (file, n) in [
        ("benches/data/france_1alt.toml", 1),
        ("benches/data/france_5alt.toml", 5),
    ] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let original = std::fs::read_to_string(root().join("scenarios/france.toml")).unwrap();
        let renamed = original.replace(
            "name = \"france\"",
            &format!(
                "name = \"{}\"",
                file.trim_start_matches("benches/data/")
                    .trim_end_matches(".toml")
            ),
        );
        assert!(
            text.starts_with(&renamed),
            "{file} begins with scenarios/france.toml, renamed"
        );
        let v = scenario::load(&root().join(file)).unwrap();
        assert_eq!(v.alternatives.len(), n, "{file}");
        assert_eq!(
            (v.seed, v.months, v.fleet.shops, v.start),
            (france.seed, france.months, france.fleet.shops, france.start),
            "{file}"
        );
        assert!(
            !v.output.html,
            "{file}: the benchmark measures billing, not charts"
        );
    }
}
