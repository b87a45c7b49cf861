//! Contract dates in a run (`tests/data/plans_terms.toml`): a contract bills only the months
//! it covers, prorates a mid-month start, charges the early termination fee in its last month,
//! and its machines are installed on its first day and removed (with a final read) on its
//! last, so the reconciliation still finds every mounting billed exactly once.

mod common;
#[path = "common/server.rs"]
mod server;

use common::*;
use std::collections::{BTreeMap, BTreeSet};

const TERMS: &str = "tests/data/plans_terms.toml";

/// Invoice lines of one shop, by period.
fn lines_by_period(invoices: &Csv, shop: &str) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for row in invoices.rows.iter().filter(|r| r["shop"] == shop) {
        out.entry(row["period"].clone())
            .or_default()
            .push(row.clone());
    }
    out
}

fn periods(by: &BTreeMap<String, Vec<BTreeMap<String, String>>>) -> Vec<&str> {
    by.keys().map(String::as_str).collect()
}

fn line<'a>(
    by: &'a BTreeMap<String, Vec<BTreeMap<String, String>>>,
    period: &str,
    kind: &str,
) -> Option<&'a BTreeMap<String, String>> {
    by.get(period)?.iter().find(|l| l["kind"] == kind)
}

#[test]
fn contracts_bill_only_their_term_with_a_prorated_start_and_a_termination_fee() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("terms");
    assert_exit(&run_quiet(TERMS, &out, &[]), 0, "run plans_terms");
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["reconciliation"]["ok"], true, "{summary}");
    let invoices = read_csv(&out.join("invoices.csv"));
    let notes = read_csv(&out.join("invoice_notes.csv"));

    // Shop 0 starts on 15 January: a stub of 17 days, then 12 full months (February 2024 to
    // January 2025); the run's last two months have no invoice.
    let s0 = lines_by_period(&invoices, "S000000");
    assert_eq!(periods(&s0).first(), Some(&"2024-01"));
    assert_eq!(periods(&s0).last(), Some(&"2025-01"));
    assert_eq!(periods(&s0).len(), 13);
    let stub = line(&s0, "2024-01", "service_fee").expect("a January service fee");
    // 100.00 × 17/31 = 54.8387… → 54.84.
    assert_eq!(
        (stub["quantity"].as_str(), stub["amount_cents"].as_str()),
        ("17", "5484")
    );
    assert!(notes.rows.iter().any(|n| n["shop"] == "S000000"
        && n["period"] == "2024-01"
        && n["note"].contains("covers 17 of 31 days")));

    // Shop 1: 10 February to 20 September (subscription, events basis). First full month
    // March, so the 12-month term would run to February 2025: five full months are left
    // (October to February), each charged at the plan's early termination rate.
    let s1 = lines_by_period(&invoices, "S000001");
    assert_eq!(periods(&s1).first(), Some(&"2024-02"));
    assert_eq!(periods(&s1).last(), Some(&"2024-09"));
    let fee = line(&s1, "2024-09", "early_termination").expect("a termination fee");
    assert_eq!(fee["quantity"], "5");
    let september = line(&s1, "2024-09", "subscription").unwrap();
    // 349.00 × 20/30 = 232.666… → 232.67.
    assert_eq!(september["amount_cents"], "23267");

    // Shop 2 terminates on 30 June (a Sunday, when it is closed): June is its last invoice.
    let s2 = lines_by_period(&invoices, "S000002");
    assert_eq!(periods(&s2).last(), Some(&"2024-06"));
    assert!(line(&s2, "2024-06", "early_termination").is_some());

    // The drawn dates: the rollout starts some shops after the 1st, and some shops (besides
    // 1 and 2) terminate early.
    let shops: BTreeSet<&str> = invoices.rows.iter().map(|r| r["shop"].as_str()).collect();
    assert_eq!(shops.len(), 40, "every shop is billed");
    let prorated_starts = shops
        .iter()
        .filter(|&&s| s != "S000000" && s != "S000001")
        .filter(|&&s| {
            let first = invoices.rows.iter().find(|r| r["shop"] == s).unwrap();
            notes.rows.iter().any(|n| {
                n["shop"] == s && n["period"] == first["period"] && n["note"].starts_with("covers ")
            })
        })
        .count();
    assert!(
        prorated_starts >= 10,
        "{prorated_starts} shops start mid-month"
    );
    let shops_csv = read_csv(&out.join("shops.csv"));
    let terminated: BTreeSet<&str> = shops_csv
        .rows
        .iter()
        .filter(|r| !r["terminated_on"].is_empty())
        .map(|r| r["shop"].as_str())
        .collect();
    assert!(
        terminated.len() >= 4 && terminated.len() <= 20,
        "{} shops terminate early: {terminated:?}",
        terminated.len()
    );
    // Each pays a fee for the full months left of its term, unless it leaves in the term's
    // last month (S000003 and S000008, whose last invoice has no fee line).
    let paid: BTreeSet<&str> = invoices
        .rows
        .iter()
        .filter(|r| r["kind"] == "early_termination")
        .map(|r| r["shop"].as_str())
        .collect();
    assert!(paid.is_subset(&terminated), "{paid:?} vs {terminated:?}");
    assert_eq!(
        terminated.difference(&paid).count(),
        2,
        "{paid:?} vs {terminated:?}"
    );

    // The summary counts the same contracts, and shops.csv gives each one's dates.
    let c = &summary["contracts"];
    assert_eq!(c["on_plan"], 40);
    assert_eq!(c["terminated_early"], terminated.len() as u64);
    assert_eq!(
        c["ended_at_term"],
        40 - terminated.len() as u64,
        "12-month terms end within 15 months"
    );
    let fees: i64 = invoices
        .rows
        .iter()
        .filter(|r| r["kind"] == "early_termination")
        .map(|r| r["amount_cents"].parse::<i64>().unwrap())
        .sum();
    assert_eq!(c["termination_fees_cents"], fees);
    let dates = |shop: &str| {
        let r = shops_csv.rows.iter().find(|r| r["shop"] == shop).unwrap();
        (
            r["start"].clone(),
            r["last_day"].clone(),
            r["terminated_on"].clone(),
        )
    };
    let own = |a: &str, b: &str, t: &str| (a.to_string(), b.to_string(), t.to_string());
    assert_eq!(dates("S000000"), own("2024-01-15", "2025-01-31", ""));
    assert_eq!(
        dates("S000001"),
        own("2024-02-10", "2024-09-20", "2024-09-20")
    );
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        html.contains(&format!("{} terminated early", terminated.len())),
        "index.html"
    );
}

#[test]
fn contract_dates_are_the_same_whatever_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    assert_exit(
        &run_quiet(TERMS, &one, &["--threads", "1"]),
        0,
        "one thread",
    );
    assert_exit(
        &run_quiet(TERMS, &two, &["--threads", "2"]),
        0,
        "two threads",
    );
    for file in ["invoices.csv", "shops.csv", "invoice_notes.csv"] {
        assert!(
            std::fs::read(one.join(file)).unwrap() == std::fs::read(two.join(file)).unwrap(),
            "{file} depends on --threads"
        );
    }
}

/// The same scenario against `fleetsim serve` (`run --target`): the catalogue, plan contracts
/// with their dates, the incidents and the removal reads all go through the engine's public
/// interface over HTTP, and the invoices come out byte for byte as with the embedded engine.
#[test]
fn a_served_engine_bills_the_contract_dates_exactly_like_the_embedded_one() {
    // plans_small brings the incidents file.
    for (name, scenario) in [("terms", TERMS), ("small", "tests/data/plans_small.toml")] {
        let tmp = tempfile::tempdir().unwrap();
        let (local, remote) = (tmp.path().join("local"), tmp.path().join("remote"));
        assert_exit(&run_quiet(scenario, &local, &[]), 0, "embedded");
        let token = "terms-admin-token";
        let server = server::Server::start(&tmp.path().join("m.sqlite"), token, &[]);
        let out = fleetsim()
            .args(["run", "--quiet", "--target", &server.url, "--out"])
            .arg(&remote)
            .arg(scenario)
            .env("FLEETSIM_ADMIN_TOKEN", token)
            .output()
            .unwrap();
        assert_exit(&out, 0, &format!("{name}: run --target"));
        for file in ["invoices.csv", "invoice_notes.csv", "shops.csv"] {
            assert!(
                std::fs::read(local.join(file)).unwrap()
                    == std::fs::read(remote.join(file)).unwrap(),
                "{name}: {file} differs between the embedded and the served engine"
            );
        }
    }
}
