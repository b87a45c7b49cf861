//! A rating mistake in plan invoices fails the run. Engines wrapping the real SQLite engine
//! bill plan invoices wrongly but consistently — the lines still add up, each is still its
//! quantity × its price rounded once, every mounting is still billed exactly once — which is
//! all the reconciliation used to check (`Invoice::is_consistent`). The reference rater
//! (`reconcile::reference`) catches each one, naming the shop, the period and the line group,
//! and the binary exits 3: `fleetsim run --target` through a proxy that hands the real
//! `fleetsim serve` a catalogue whose first graduated tier ends one mounting later.

mod common;
#[path = "common/server.rs"]
mod server;

use common::*;
use fleetsim::billing::vat::exact_vat;
use fleetsim::billing::{LineKind, PlanAgreement};
use fleetsim::calendar::Period;
use fleetsim::event::{MachineId, ShopId, UsageEvent};
use fleetsim::metering::sqlite::SqliteEngine;
use fleetsim::metering::{
    Contract, CounterUsageRow, Incident, IngestReceipt, Invoice, MeteringEngine, MeteringError,
    UsageRow,
};
use fleetsim::money::UnitPrice;
use fleetsim::reconcile::Reconciliation;
use fleetsim::run::{run_with_engine, RunOptions};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// 30 shops × 3 months, every plan kind and service tier of the default catalogue, both bases.
const SMALL: &str = "tests/data/plans_small.toml";
/// 40 shops × 15 months: mid-month starts and terminations, so prorated fees in odd cents.
const TERMS: &str = "tests/data/plans_terms.toml";

/// The default catalogue's VAT rate.
const VAT_PERCENT: i64 = 20;

/// (shop, period) of every invoice a wrapper changed.
type Rewritten = Arc<Mutex<BTreeSet<(String, String)>>>;

/// A mistake made to an issued invoice; true when it changed it.
type Mistake = fn(&mut Invoice) -> bool;

/// The real engine, whose issued invoices pass through `mistake` on their way out.
struct Misrating {
    inner: SqliteEngine,
    mistake: Mistake,
    rewritten: Rewritten,
}

impl Misrating {
    fn apply(&self, mut invoices: Vec<Invoice>) -> Vec<Invoice> {
        for inv in &mut invoices {
            if (self.mistake)(inv) {
                assert!(
                    inv.is_consistent(),
                    "the mistake keeps the invoice consistent: {inv:?}"
                );
                self.rewritten
                    .lock()
                    .unwrap()
                    .insert((inv.shop.to_string(), inv.period.to_string()));
            }
        }
        invoices
    }
}

impl MeteringEngine for Misrating {
    fn provision(&mut self, machines: &[(MachineId, ShopId)]) -> Result<(), MeteringError> {
        self.inner.provision(machines)
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
        let issued = self.inner.close_period(period)?;
        Ok(self.apply(issued))
    }
    fn invoices(&mut self, period: Period) -> Result<Vec<Invoice>, MeteringError> {
        let issued = self.inner.invoices(period)?;
        Ok(self.apply(issued))
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
        period: Period,
        incidents: &[Incident],
    ) -> Result<(), MeteringError> {
        self.inner.record_incidents(shop, period, incidents)
    }
    fn invoice_notes(
        &mut self,
        period: Period,
    ) -> Result<BTreeMap<ShopId, Vec<String>>, MeteringError> {
        self.inner.invoice_notes(period)
    }
}

/// Recomputes a line's amount by its kind's rule, as the billing engine does.
fn reprice(inv: &mut Invoice, i: usize) {
    let l = &inv.lines[i];
    inv.lines[i].amount_cents = l
        .kind
        .amount(l.quantity, l.unit_price, l.usage_period, &inv.currency)
        .unwrap();
}

/// The VAT line and total again, the VAT on the net rounded by `round` (cents from the exact).
fn redo_vat(inv: &mut Invoice, round: fn(Decimal) -> i64) {
    let net: i64 = inv
        .lines
        .iter()
        .filter(|l| l.kind != LineKind::Vat)
        .map(|l| l.amount_cents)
        .sum();
    let vat = inv
        .lines
        .iter_mut()
        .find(|l| l.kind == LineKind::Vat)
        .unwrap();
    let exact = exact_vat(net, Decimal::from(VAT_PERCENT));
    vat.amount_cents = round(exact.0 * Decimal::ONE_HUNDRED);
    // The line's price is what its amount says, so the line is still quantity × price.
    vat.unit_price = UnitPrice(Decimal::new(vat.amount_cents, 2));
    inv.total_cents = inv.lines.iter().map(|l| l.amount_cents).sum();
}

fn half_away_from_zero(cents: Decimal) -> i64 {
    cents
        .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        .try_into()
        .unwrap()
}

/// A tier boundary one mounting early: the first of the period's own mountings lines (the
/// first graduated tier, a subscription's allowance) gives one mounting to the next line
/// (the next tier, the overage). Quantities still sum to the period's mountings.
fn boundary_one_early(inv: &mut Invoice) -> bool {
    let own: Vec<usize> = (0..inv.lines.len())
        .filter(|&i| inv.lines[i].kind.is_mountings() && inv.lines[i].usage_period == inv.period)
        .collect();
    let [from, to, ..] = own[..] else {
        return false;
    };
    if inv.lines[from].quantity == 0 || inv.lines[from].unit_price == inv.lines[to].unit_price {
        return false;
    }
    inv.lines[from].quantity -= 1;
    inv.lines[to].quantity += 1;
    reprice(inv, from);
    reprice(inv, to);
    redo_vat(inv, half_away_from_zero);
    true
}

/// VAT rounded down instead of half away from zero: a cent short whenever the exact VAT's
/// fraction of a cent is one half or more.
fn vat_rounded_down(inv: &mut Invoice) -> bool {
    let Some(before) = inv.lines.iter().find(|l| l.kind == LineKind::Vat).cloned() else {
        return false;
    };
    redo_vat(inv, |cents| cents.floor().try_into().unwrap());
    inv.lines
        .iter()
        .any(|l| l.kind == LineKind::Vat && l.amount_cents != before.amount_cents)
}

fn run_misrating(scenario: &str, mistake: Mistake) -> (Reconciliation, BTreeSet<(String, String)>) {
    let tmp = tempfile::tempdir().unwrap();
    let rewritten = Rewritten::default();
    let engine = Misrating {
        inner: SqliteEngine::open(&tmp.path().join("misrating.sqlite")).unwrap(),
        mistake,
        rewritten: rewritten.clone(),
    };
    let scenario = fleetsim::scenario::load(&root().join(scenario)).unwrap();
    let opts = RunOptions {
        out: Some(tmp.path().join("out")),
        threads: 2,
        quiet: true,
        ..RunOptions::default()
    };
    let result = run_with_engine(scenario, &opts, Box::new(engine)).unwrap();
    let rewritten = rewritten.lock().unwrap().clone();
    (result.reconciliation, rewritten)
}

/// Only cents mismatches, only where the invoices were changed, every changed one listed.
fn assert_caught(r: &Reconciliation, rewritten: &BTreeSet<(String, String)>, groups: &[&str]) {
    assert!(!rewritten.is_empty(), "the mistake changed no invoice");
    assert!(!r.ok, "a mis-rated invoice passed the reconciliation");
    let mut places = BTreeSet::new();
    for m in &r.mismatches {
        assert!(
            m.what == "plan_total_cents" || groups.contains(&m.what),
            "only the cents are off: {m:?}"
        );
        assert_ne!(m.truth, m.observed);
        let place = (m.shop.clone(), m.period.clone());
        assert!(rewritten.contains(&place), "{m:?} was not changed");
        places.insert(place);
    }
    assert!(r.conservation_errors.is_empty());
    assert_eq!(r.missing + r.double_counted, 0);
    let per_invoice = groups.len() as u64 + 1;
    assert_eq!(
        r.mismatch_count,
        per_invoice * rewritten.len() as u64,
        "each changed invoice: its groups and its total"
    );
    if (r.mismatch_count as usize) <= r.mismatches.len() {
        assert_eq!(&places, rewritten, "every changed invoice is listed");
    }
    assert!(r.misbilled_cents > 0);
    let text = r.describe();
    assert!(text.contains("reconciliation FAILED") && text.contains("plan_total_cents"));
}

#[test]
fn a_tier_boundary_one_mounting_early_fails_the_run() {
    let (r, rewritten) = run_misrating(SMALL, boundary_one_early);
    // The graduated shop (S000002) in its months past the first tier, the subscription
    // (S000001) in every month: its allowance one short.
    let shops: BTreeSet<&str> = rewritten.iter().map(|(s, _)| s.as_str()).collect();
    assert!(
        shops.contains("S000001") && shops.contains("S000002"),
        "{rewritten:?}"
    );
    assert_caught(&r, &rewritten, &["plan_usage_cents", "plan_vat_cents"]);
}

#[test]
fn vat_rounded_down_fails_the_run() {
    // plans_small's nets are all multiples of 5 cents, whose 20 % VAT is whole cents: only
    // prorated fees make the rounding matter.
    let (r, rewritten) = run_misrating(TERMS, vat_rounded_down);
    assert!(rewritten.len() >= 5, "{rewritten:?}");
    assert_caught(&r, &rewritten, &["plan_vat_cents"]);
    // One cent short on each.
    for m in r.mismatches.iter().filter(|m| m.what == "plan_vat_cents") {
        assert_eq!(m.truth - m.observed, 1, "{m:?}");
    }
}

#[test]
fn the_same_engine_without_a_mistake_reconciles() {
    // Control: the wrapper itself changes nothing.
    for scenario in [SMALL, TERMS] {
        let (r, rewritten) = run_misrating(scenario, |_| false);
        assert!(rewritten.is_empty());
        assert!(r.ok, "{scenario}: {}", r.describe());
    }
}

// ---------------------------------------------------------------------------------------------
// The binary: `fleetsim run --target` against a real server rating with a shifted tier.

/// A loopback HTTP proxy in front of `upstream` that passes every request and answer through,
/// except the body of `PUT /v1/admin/catalogue`, which goes through `rewrite`. Stopped when
/// dropped.
struct Proxy {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(upstream: &str, rewrite: fn(String) -> String) -> Proxy {
        let upstream = upstream.trim_end_matches('/').to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, addr) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready.send(listener.local_addr().unwrap()).unwrap();
                let agent = fleetsim::http::client::blocking_agent(Duration::from_secs(60), 4);
                let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
                    forward(agent.clone(), upstream.clone(), rewrite, req)
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr.recv_timeout(Duration::from_secs(10)).unwrap();
        Proxy {
            url: format!("http://{addr}"),
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Headers that belong to one connection, not to the request or answer passed on.
const HOP_BY_HOP: [&str; 4] = ["host", "content-length", "connection", "transfer-encoding"];

async fn forward(
    agent: ureq::Agent,
    upstream: String,
    rewrite: fn(String) -> String,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let mut body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap()
        .to_vec();
    if parts.method == axum::http::Method::PUT && parts.uri.path() == "/v1/admin/catalogue" {
        body = rewrite(String::from_utf8(body).unwrap()).into_bytes();
    }
    let target = format!(
        "{upstream}{}",
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let (status, headers, answer) = tokio::task::spawn_blocking(move || {
        let mut request = ureq::http::Request::builder()
            .method(parts.method.as_str())
            .uri(target);
        for (name, value) in &parts.headers {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                request = request.header(name.as_str(), value.as_bytes());
            }
        }
        let mut response = agent.run(request.body(body).unwrap()).unwrap();
        let headers: Vec<(String, Vec<u8>)> = response
            .headers()
            .iter()
            .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
            .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
            .collect();
        let answer = response.body_mut().read_to_vec().unwrap();
        (response.status().as_u16(), headers, answer)
    })
    .await
    .unwrap();
    let mut out = axum::response::Response::builder().status(status);
    for (name, value) in headers {
        out = out.header(name, value);
    }
    out.body(axum::body::Body::from(answer)).unwrap()
}

/// The default catalogue's graduated plan with its first tier one mounting longer.
fn first_graduated_tier_one_longer(catalogue: String) -> String {
    let tier = r#"{ up_to = 60, price = "4.50" }"#;
    assert!(
        catalogue.contains(tier),
        "the catalogue has the graduated tier"
    );
    catalogue.replace(tier, r#"{ up_to = 61, price = "4.50" }"#)
}

#[test]
fn a_server_rating_with_a_shifted_tier_makes_run_exit_3() {
    let tmp = tempfile::tempdir().unwrap();
    let token = "reference-admin-token";
    let run_through = |proxy: &Proxy, out: &str| {
        fleetsim()
            .args(["run", "--quiet", "--target", &proxy.url, "--out"])
            .arg(tmp.path().join(out))
            .arg(SMALL)
            .env("FLEETSIM_ADMIN_TOKEN", token)
            .output()
            .unwrap()
    };
    // Control: the same path with the catalogue passed through unchanged.
    let honest = server::Server::start(&tmp.path().join("honest.sqlite"), token, &[]);
    let out = run_through(&Proxy::start(&honest.url, |c| c), "honest");
    assert_exit(&out, 0, "run --target through a pass-through proxy");

    let shifted = server::Server::start(&tmp.path().join("shifted.sqlite"), token, &[]);
    let out = run_through(
        &Proxy::start(&shifted.url, first_graduated_tier_one_longer),
        "shifted",
    );
    assert_exit(
        &out,
        3,
        "run --target against a server rating with a shifted tier",
    );
    // stderr lists where: the graduated shop, in a month past its first tier, and what.
    let stderr = text(&out.stderr);
    let listed: Vec<&str> = stderr.lines().filter(|l| l.starts_with("  S")).collect();
    assert!(!listed.is_empty(), "{stderr}");
    for line in &listed {
        assert!(
            line.starts_with("  S000002 2024-0"),
            "only the graduated shop: {stderr}"
        );
        assert!(line.contains("_cents: truth "), "{stderr}");
    }
    // One more mounting at 4.50 instead of 3.60: 0.90 more, VAT 0.18 more.
    let usage = listed
        .iter()
        .find(|l| l.contains("plan_usage_cents"))
        .unwrap();
    let figures: Vec<i64> = usage
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let (truth, observed) = (figures[figures.len() - 2], figures[figures.len() - 1]);
    assert_eq!(observed - truth, 90, "{usage}");
    assert!(stderr.contains("plan_vat_cents") && stderr.contains("plan_total_cents"));
}
