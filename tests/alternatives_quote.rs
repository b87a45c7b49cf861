//! The calculator and its settings as pricing alternatives (issue 12 items 1 and 2), on
//! `tests/data/alternatives_quote.toml` (faults off: what the engine meters is what the shops
//! did):
//! - `calc`, an alternative with the same quote as the run's `[quote]`, bills exactly the
//!   invoices the engine issued under `[quote]` (rated by `rate_close` from the metered
//!   closes, its audit's volumes from them: the independent check that it bills the real way);
//! - a margin sweep: each shop whose quote no bound clamps is dearer, and earns more, at
//!   every higher margin;
//! - an `included` sweep reconciles, and its invoices differ only in the plan's usage lines
//!   (included, overage) and what follows from them (VAT, total).

mod common;

use common::*;
use fleetsim::billing::{Invoice, InvoiceLine, LineKind};
use fleetsim::pricing::{net_cents, Evaluation, Priced};
use fleetsim::quote::Clamp;
use fleetsim::run::{run, RunOptions, RunResult};
use fleetsim::scenario::alternatives::SweepField;
use fleetsim::scenario::{self, Scenario};
use rust_decimal::Decimal;
use std::path::Path;

const QUOTE: &str = "tests/data/alternatives_quote.toml";
/// `[quote]`'s audit months in QUOTE.
const AUDIT: usize = 2;

fn quote_scenario() -> Scenario {
    scenario::load(&root().join(QUOTE)).expect("the test scenario is valid")
}

fn run_quote(out: &Path) -> RunResult {
    let opts = RunOptions {
        out: Some(out.to_path_buf()),
        seed: None,
        threads: 2,
        quiet: true,
    };
    let result = run(quote_scenario(), &opts).expect("the run completes");
    assert!(
        result.reconciliation.ok,
        "{}",
        result.reconciliation.describe()
    );
    let e = result.pricings.as_ref().expect("QUOTE has alternatives");
    let failed: Vec<String> = e
        .unreconciled()
        .map(|(id, r)| format!("{id}: {}", r.describe()))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    result
}

fn priced<'a>(e: &'a Evaluation, id: &str) -> &'a Priced {
    e.priced
        .iter()
        .find(|p| p.id == id)
        .unwrap_or_else(|| panic!("`{id}` was billed"))
}

/// The pricings of sweep `name`, in the order of their values.
fn sweep<'a>(e: &'a Evaluation, name: &str) -> Vec<&'a Priced> {
    let mut out: Vec<&Priced> = e
        .priced
        .iter()
        .filter(|p| p.swept.as_ref().is_some_and(|s| s.sweep == name))
        .collect();
    out.sort_by_key(|p| p.swept.as_ref().unwrap().value);
    out
}

fn json(invoice: &Invoice) -> String {
    serde_json::to_string(invoice).expect("an invoice serializes")
}

#[test]
fn a_quote_alternative_bills_what_the_engine_billed_under_quote() {
    let tmp = tempfile::tempdir().unwrap();
    let result = run_quote(&tmp.path().join("out"));
    let e = result.pricings.as_ref().unwrap();
    let (base, calc) = (&e.priced[0], priced(e, "calc"));
    assert_eq!(base.id, "base");
    // The precondition: the quote moved prices, so equal invoices are not equal prices alone.
    let repriced = base.repriced.as_ref().expect("the base has [quote]");
    assert_eq!(repriced.first_period, AUDIT);
    let moved = base
        .contracts
        .iter()
        .zip(&repriced.contracts)
        .filter(|(a, b)| a.price_per_mounting != b.price_per_mounting)
        .count();
    assert!(moved > 0, "the quote changes some shop's price");
    let calc_repriced = calc.repriced.as_ref().expect("`calc` has a quote");
    assert_eq!(calc_repriced.first_period, AUDIT);
    assert_eq!(
        calc_repriced.contracts, repriced.contracts,
        "`calc` quotes every shop what `[quote]` quoted"
    );
    assert_eq!(base.invoices.len(), calc.invoices.len());
    let mut compared = 0;
    for (p, (ours, theirs)) in base.invoices.iter().zip(&calc.invoices).enumerate() {
        for (shop, (b, c)) in ours.iter().zip(theirs).enumerate() {
            match (b, c) {
                (Some(b), Some(c)) => {
                    assert_eq!(json(b), json(c), "period {p}, shop {shop}");
                    compared += 1;
                }
                (None, None) => {}
                _ => panic!("period {p}, shop {shop}: invoiced by one pricing only"),
            }
        }
    }
    let shops = base.contracts.len();
    assert_eq!(
        compared,
        shops * base.invoices.len(),
        "every shop, every period"
    );
}

/// Per shop: the net of its invoices from the first quoted period on.
fn quoted_revenue(p: &Priced) -> Vec<i64> {
    (0..p.contracts.len())
        .map(|s| {
            p.invoices[AUDIT..]
                .iter()
                .filter_map(|period| period[s].as_ref())
                .map(net_cents)
                .sum()
        })
        .collect()
}

#[test]
fn a_margin_sweep_earns_more_with_each_step_on_shops_no_bound_clamps() {
    let tmp = tempfile::tempdir().unwrap();
    let result = run_quote(&tmp.path().join("out"));
    let e = result.pricings.as_ref().unwrap();
    let sweep = sweep(e, "margin");
    let ids: Vec<&str> = sweep.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "margin@0.05",
            "margin@0.10",
            "margin@0.15",
            "margin@0.20",
            "margin@0.25",
            "margin@0.30",
            "margin@0.35",
            "margin@0.40"
        ]
    );
    let mut unclamped_pairs = 0;
    for pair in sweep.windows(2) {
        let (lo, hi) = (pair[0], pair[1]);
        let (rl, rh) = (lo.repriced.as_ref().unwrap(), hi.repriced.as_ref().unwrap());
        let (el, eh) = (quoted_revenue(lo), quoted_revenue(hi));
        for s in 0..lo.contracts.len() {
            if rl.clamps[s] != Clamp::None || rh.clamps[s] != Clamp::None {
                continue;
            }
            let (pl, ph) = (
                rl.contracts[s].price_per_mounting,
                rh.contracts[s].price_per_mounting,
            );
            assert!(
                ph > pl,
                "shop {s}: {} at {} vs {} at {}",
                ph,
                hi.id,
                pl,
                lo.id
            );
            let billed: i64 = lo.invoices[AUDIT..]
                .iter()
                .filter_map(|period| period[s].as_ref())
                .map(Invoice::billed_mountings)
                .sum();
            if billed > 0 {
                assert!(
                    eh[s] > el[s],
                    "shop {s}: earns no more at {} than {}",
                    hi.id,
                    lo.id
                );
                unclamped_pairs += 1;
            } else {
                assert_eq!(eh[s], el[s], "shop {s}: nothing billed, nothing earned");
            }
        }
        let total = |r: &[i64]| r.iter().sum::<i64>();
        assert!(
            total(&eh) >= total(&el),
            "{} earns less than {}",
            hi.id,
            lo.id
        );
    }
    assert!(
        unclamped_pairs > 0,
        "some shop billed after its audit has its quote between the bounds at two margins"
    );
    // The sweep's value is the quote's margin.
    for p in &sweep {
        let swept = p.swept.as_ref().unwrap();
        assert_eq!(swept.field, SweepField::Margin);
        assert_eq!(swept.field.unit(), "margin");
        assert_eq!(p.id, format!("margin@{}", swept.label()));
    }
}

/// The lines an `included` sweep may change: the plan's usage lines, and VAT on the total.
fn follows_the_allowance(kind: LineKind) -> bool {
    matches!(
        kind,
        LineKind::Included | LineKind::Overage | LineKind::EstimateCorrection | LineKind::Vat
    )
}

fn mountings(lines: &[InvoiceLine]) -> i64 {
    lines
        .iter()
        .filter(|l| matches!(l.kind, LineKind::Included | LineKind::Overage))
        .map(|l| l.quantity)
        .sum()
}

#[test]
fn an_included_sweep_reconciles_and_changes_only_the_plan_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let result = run_quote(&tmp.path().join("out"));
    let e = result.pricings.as_ref().unwrap();
    let sweep = sweep(e, "allowance");
    let values: Vec<String> = sweep
        .iter()
        .map(|p| p.swept.as_ref().unwrap().label())
        .collect();
    assert_eq!(values, ["100", "125", "150", "175", "200"]);
    let mut differing = 0;
    for pair in sweep.windows(2) {
        let (lo, hi) = (pair[0], pair[1]);
        for (p, (a, b)) in lo.invoices.iter().zip(&hi.invoices).enumerate() {
            for (s, (a, b)) in a.iter().zip(b).enumerate() {
                let (a, b) = match (a, b) {
                    (Some(a), Some(b)) => (a, b),
                    (None, None) => continue,
                    _ => panic!("period {p}, shop {s}: invoiced under one allowance only"),
                };
                let fixed = |i: &Invoice| -> Vec<InvoiceLine> {
                    i.lines
                        .iter()
                        .filter(|l| !follows_the_allowance(l.kind))
                        .cloned()
                        .collect()
                };
                assert_eq!(fixed(a), fixed(b), "period {p}, shop {s}: other lines");
                assert_eq!(
                    mountings(&a.lines),
                    mountings(&b.lines),
                    "period {p}, shop {s}: the same mountings, split otherwise"
                );
                assert!(
                    b.total_cents <= a.total_cents,
                    "period {p}, shop {s}: more included costs more ({} > {})",
                    hi.id,
                    lo.id
                );
                if a != b {
                    differing += 1;
                }
            }
        }
    }
    assert!(
        differing > 0,
        "some shop mounts more than 100 a month, so the allowance shows"
    );
    // Each value bills its own copy of the catalogue: the scenario's is untouched.
    let s = quote_scenario();
    let plan = |c: &fleetsim::scenario::CatalogueSpec| match &c
        .catalogue
        .plan("subscription_100")
        .unwrap()
        .pricing
    {
        fleetsim::billing::catalogue::Pricing::Subscription {
            included_mountings, ..
        } => *included_mountings,
        other => panic!(
            "subscription_100 is a subscription, not {}",
            other.kind_name()
        ),
    };
    assert_eq!(plan(s.pricing.catalogue.as_ref().unwrap()), 100);
    let included: Vec<u64> = s
        .alternatives
        .iter()
        .filter(|a| a.id.starts_with("allowance@"))
        .map(|a| plan(a.pricing.catalogue.as_ref().unwrap()))
        .collect();
    assert_eq!(included, [100, 125, 150, 175, 200]);
    assert_eq!(
        sweep[0].swept.as_ref().unwrap().value,
        Decimal::from(100),
        "the value is the count"
    );
}

// --- parsing ------------------------------------------------------------------------------

#[test]
fn sweeps_expand_with_their_values_in_their_units() {
    let s = quote_scenario();
    let swept: Vec<(String, &str, &str, String)> = s
        .alternatives
        .iter()
        .filter_map(|a| {
            let w = a.swept.as_ref()?;
            Some((a.id.clone(), w.field.name(), w.field.unit(), w.label()))
        })
        .collect();
    assert_eq!(swept.len(), 8 + 5, "{swept:?}");
    assert_eq!(
        swept[0],
        (
            "margin@0.05".to_string(),
            "margin",
            "margin",
            "0.05".to_string()
        )
    );
    assert_eq!(
        swept[12],
        (
            "allowance@200".to_string(),
            "included",
            "mountings included",
            "200".to_string()
        )
    );
    // Each margin value is its quote's margin; the rest of the quote is the declared one.
    for a in s
        .alternatives
        .iter()
        .filter(|a| a.id.starts_with("margin@"))
    {
        let q = a.quote.as_ref().expect("a margin sweep keeps its quote");
        assert_eq!(q.terms.margin, a.swept.as_ref().unwrap().value, "{}", a.id);
        assert_eq!((q.audit_months, q.terms.term_months), (2, 48), "{}", a.id);
    }
    let calc = s.alternatives.iter().find(|a| a.id == "calc").unwrap();
    assert_eq!(calc.quote, s.quote, "`calc` is `[quote]`, key for key");
    // A per-mounting plan has included mountings too; a price sweep labels EUR.
    let text = std::fs::read_to_string(root().join(QUOTE)).unwrap();
    let text = text.split("\n[[alternative]]").next().unwrap().to_string()
        + "\n[[alternative]]\nid = \"pm\"\nplan = \"per_mounting\"\n\
           sweep = { field = \"included\", from = \"0\", to = \"20\", step = \"10\" }\n\
           \n[[alternative]]\nid = \"click\"\nsweep = { field = \"chain\", from = \"2\", to = \"3\", step = \"0.5\" }\n";
    let parsed = scenario::parse(&root().join(QUOTE), &text).expect("valid");
    let ids: Vec<&str> = parsed.alternatives.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "pm@0",
            "pm@10",
            "pm@20",
            "click@2.00",
            "click@2.50",
            "click@3.00"
        ]
    );
    assert_eq!(
        parsed.alternatives[3].swept.as_ref().unwrap().field.unit(),
        "EUR per mounting"
    );
}

#[test]
fn the_shipped_sweeps_scenario_validates() {
    const SHIPPED: &str = "scenarios/alternatives_sweeps.toml";
    let out = fleetsim().args(["check", SHIPPED]).output().unwrap();
    assert_exit(&out, 0, &format!("fleetsim check {SHIPPED}"));
    let s = scenario::load(&root().join(SHIPPED)).expect("it loads");
    let sweeps: Vec<&str> = s
        .alternatives
        .iter()
        .filter_map(|a| Some(a.swept.as_ref()?.field.name()))
        .collect();
    assert_eq!(sweeps.iter().filter(|f| **f == "margin").count(), 8);
    assert_eq!(sweeps.iter().filter(|f| **f == "included").count(), 7);
}
