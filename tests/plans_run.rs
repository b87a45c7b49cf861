//! A run billed from the plan catalogue: the simulator's traffic through the engine's plan
//! contracts, reconciled like any run, deterministic, every plan kind on real invoices.

mod common;

use common::*;
use std::collections::BTreeMap;

const SMALL: &str = "tests/data/plans_small.toml";

#[test]
fn a_run_bills_every_plan_kind_from_the_catalogue_and_reconciles() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for dir in [&a, &b] {
        assert_exit(&run_quiet(SMALL, dir, &[]), 0, "run plans_small");
    }
    let summary = read_json(&a.join("summary.json"));
    assert_eq!(summary["reconciliation"]["ok"], true, "{summary}");
    // What the revenue is made of adds up to it, and shows the plans' kinds.
    let by_kind = summary["billed"]["by_kind"].as_object().unwrap();
    let sum: i64 = by_kind.values().map(|v| v.as_i64().unwrap()).sum();
    assert_eq!(sum, summary["billed"]["total_cents"].as_i64().unwrap());
    for kind in [
        "usage",
        "service_instalment",
        "subscription",
        "package",
        "vat",
    ] {
        assert!(by_kind[kind].as_i64().unwrap() > 0, "{kind}: {by_kind:?}");
    }
    for file in ["invoices.csv", "shops.csv"] {
        assert!(
            std::fs::read(a.join(file)).unwrap() == std::fs::read(b.join(file)).unwrap(),
            "{file} differs between two runs"
        );
    }
    let invoices = read_csv(&a.join("invoices.csv"));
    let kinds_of = |shop: &str| -> std::collections::BTreeSet<String> {
        invoices
            .rows
            .iter()
            .filter(|r| r["shop"] == shop)
            .map(|r| r["kind"].clone())
            .collect()
    };
    let has = |shop: &str, kinds: &[&str]| {
        let found = kinds_of(shop);
        for k in kinds {
            assert!(found.contains(*k), "{shop} has no `{k}` line: {found:?}");
        }
    };
    has(
        "S000000",
        &["usage", "service_instalment", "vat", "trace_only"],
    );
    has(
        "S000001",
        &[
            "included",
            "subscription",
            "service_fee",
            "option_fee",
            "vat",
        ],
    );
    has("S000002", &["usage", "service_instalment", "vat"]);
    has("S000003", &["usage", "service_fee", "vat"]);
    has("S000004", &["package", "option_fee", "vat"]);
    // The scenario's incidents (tests/data/plans_small_incidents.csv), billed by service tier.
    let line_of = |shop: &str, period: &str, kind: &str| -> (String, String) {
        let r = invoices
            .rows
            .iter()
            .find(|r| r["shop"] == shop && r["period"] == period && r["kind"] == kind)
            .unwrap_or_else(|| panic!("{shop} {period} has no `{kind}` line"));
        (r["quantity"].clone(), r["amount_cents"].clone())
    };
    let pair = |q: &str, c: &str| (q.to_string(), c.to_string());
    // Time and materials, February: 100 minutes are 7 started quarter hours × 21.25; one
    // visit; parts 200.00 + 25 %; response 80 h > 72 h: a breach, credited 10 % of the
    // month's service charges (148.75 + 95.00) = 24.375 → 24.38.
    assert_eq!(line_of("S000004", "2024-02", "labour"), pair("7", "14875"));
    assert_eq!(line_of("S000004", "2024-02", "travel"), pair("1", "9500"));
    assert_eq!(line_of("S000004", "2024-02", "parts"), pair("1", "25000"));
    assert_eq!(
        line_of("S000004", "2024-02", "sla_credit"),
        pair("-1", "-2438")
    );
    // Full service, March: everything included; 30 h > 24 h: 10 % of the 150.00 instalment.
    assert_eq!(
        line_of("S000000", "2024-03", "sla_credit"),
        pair("-1", "-1500")
    );
    // Maintenance, January: labour included, parts 50.00 + 15 %, within the promise.
    assert_eq!(line_of("S000003", "2024-01", "parts"), pair("1", "5750"));
    assert!(!invoices
        .rows
        .iter()
        .any(|r| r["shop"] == "S000003" && r["kind"] == "sla_credit"));

    // The audited shop's own price overrides the plan's per-mounting price.
    let audited: Vec<_> = invoices
        .rows
        .iter()
        .filter(|r| r["shop"] == "S000005" && r["kind"] == "usage")
        .collect();
    assert!(!audited.is_empty());
    assert!(
        audited.iter().all(|r| r["unit_price"] == "4.25"),
        "{audited:?}"
    );
    // Chains and independents pay the plan's segment prices.
    for row in invoices
        .rows
        .iter()
        .filter(|r| r["kind"] == "usage" && r["shop"].as_str() >= "S000006")
    {
        let expected = if row["segment"] == "chain" {
            "3.40"
        } else {
            "3.85"
        };
        assert_eq!(row["unit_price"], expected, "{row:?}");
    }
    // Each plan invoice says what its contract includes and what it does not.
    let notes = read_csv(&a.join("invoice_notes.csv"));
    for shop in ["S000000", "S000001", "S000004"] {
        for period in ["2024-01", "2024-02", "2024-03"] {
            let mine: Vec<_> = notes
                .rows
                .iter()
                .filter(|r| r["shop"] == shop && r["period"] == period)
                .map(|r| r["note"].as_str())
                .collect();
            assert!(
                mine.iter().any(|n| n.starts_with("included: ")),
                "{shop} {period}: {mine:?}"
            );
            assert!(
                mine.iter().any(|n| n.starts_with("not included: ")),
                "{shop} {period}: {mine:?}"
            );
        }
    }
    revenue_split_adds_up(&summary, &invoices, &read_csv(&a.join("shops.csv")));
    // Every invoice adds up: its lines sum to its total.
    let mut totals: std::collections::BTreeMap<(String, String), (i64, i64)> = Default::default();
    for r in &invoices.rows {
        let e = totals
            .entry((r["shop"].clone(), r["period"].clone()))
            .or_insert((0, r["invoice_total_cents"].parse().unwrap()));
        e.0 += r["amount_cents"].parse::<i64>().unwrap();
    }
    assert_eq!(totals.len(), 30 * 3, "one invoice per shop and month");
    for (key, (lines, total)) in totals {
        assert_eq!(lines, total, "{key:?}");
    }
}

/// The group of each line kind as the README states it (`billing::groups` is the code's).
fn group_of(kind: &str) -> &'static str {
    match kind {
        "usage"
        | "late_usage"
        | "counter_usage"
        | "estimate"
        | "true_up"
        | "included"
        | "overage"
        | "estimate_correction"
        | "trace_only" => "usage",
        "minimum_true_up" => "minimum",
        "subscription" | "package" | "tier_fee" => "subscription",
        "service_fee" | "service_instalment" | "labour" | "travel" | "parts" => "service",
        "option_fee" => "options",
        "sla_credit" => "credits",
        "early_termination" => "termination",
        "vat" => "vat",
        other => panic!("line kind {other} has no group in this test"),
    }
}

/// shops.csv's split adds up shop by shop, equals invoices.csv's lines summed by shop and group,
/// and summary.json's `/billed/by_group` is the fleet's sum of it.
fn revenue_split_adds_up(summary: &serde_json::Value, invoices: &Csv, shops: &Csv) {
    assert_split_adds_up(shops);
    let mut from_lines: BTreeMap<(String, String), i64> = BTreeMap::new();
    for r in &invoices.rows {
        let column = format!("{}_cents", group_of(&r["kind"]));
        *from_lines.entry((r["shop"].clone(), column)).or_default() += cell_i64(r, "amount_cents");
    }
    let mut fleet: BTreeMap<String, i64> = BTreeMap::new();
    for row in &shops.rows {
        for column in SPLIT_GROUPS.iter().chain(&["vat_cents"]) {
            let key = (row["shop"].clone(), column.to_string());
            let expected = from_lines.get(&key).copied().unwrap_or(0);
            assert_eq!(cell_i64(row, column), expected, "{key:?}");
            *fleet
                .entry(column.trim_end_matches("_cents").into())
                .or_default() += expected;
        }
    }
    let by_group: BTreeMap<String, i64> =
        serde_json::from_value(summary["billed"]["by_group"].clone()).unwrap();
    assert_eq!(by_group, fleet, "/billed/by_group vs shops.csv");
    let total: i64 = by_group.values().sum();
    assert_eq!(total, summary["billed"]["total_cents"].as_i64().unwrap());
    // The plans of plans_small bill usage, plan fees, service and VAT; nothing is left over.
    for group in [
        "usage",
        "minimum",
        "subscription",
        "service",
        "options",
        "vat",
    ] {
        assert!(by_group[group] > 0, "{group}: {by_group:?}");
    }
    assert_eq!(by_group["other"], 0);
}

#[test]
fn quote_and_plans_do_not_mix() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("both.toml");
    let scenario = std::fs::read_to_string(root().join(SMALL))
        .unwrap()
        .replace(
            "../../scenarios",
            &root().join("scenarios").display().to_string(),
        )
        .replace(
            "\"plans_small_incidents.csv\"",
            &format!("{:?}", root().join("tests/data/plans_small_incidents.csv")),
        )
        + "\n[quote]\naudit_months = 1\n";
    std::fs::write(&path, scenario).unwrap();
    let out = fleetsim()
        .args(["check", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_exit(&out, 2, "check");
    let err = text(&out.stderr);
    assert!(
        err.contains("field `quote`") && err.contains("cannot be combined"),
        "{err}"
    );
}

#[test]
fn a_bad_incidents_file_is_refused_at_its_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_quiet(
        "tests/data/incidents/bad_row.toml",
        &tmp.path().join("x"),
        &[],
    );
    assert_exit(&out, 2, "a bad incidents row");
    assert_eq!(
        text(&out.stderr),
        "error: tests/data/incidents/bad_row.csv:3:1: field `repair_hours`: `two days` is not allowed: a decimal from 0 to 8760, e.g. 2.5\n"
    );
    assert!(!tmp.path().join("x").exists(), "nothing is written");
}
