//! `fleetsim quote` and `[quote]` runs: the calculator on a CSV history and on a simulated
//! shop, bad histories, an out-of-sample run (keys, determinism, reconciliation), and the
//! price's properties (within bounds; never higher for a busier shop on the same machines).

mod common;

use common::*;
use fleetsim::quote::{quote, Audit, Clamp, CostModel, Terms};
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::path::Path;

const HISTORY: &str = "tests/data/shop_history.csv";
const SMALL: &str = "tests/data/quote_small.toml";

#[test]
fn quotes_a_csv_history_line_by_line() {
    let out = fleetsim()
        .args(["quote", "--history", HISTORY])
        .output()
        .unwrap();
    assert_exit(&out, 0, "quote --history");
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        " 1. audit of tests/data/shop_history.csv: 2024-01-02 to 2024-03-30, 89 days, 64 open"
    );
    for expected in [
        " 2. mountings: 367 (33 remakes); 97 frames traced for remote-edged orders (22.5% of jobs)",
        "13. machines: 1 × budget (the cheapest that absorbs the design load)",
        "14. machine amortisation and financing: 1 × 12500 EUR × 0.02 a month (lease rate, V) × 48 months = 12000.00 EUR",
        "21. cost to serve over the term: 12000.00 + 2849.04 + 1316.71 = 16165.75 EUR",
        "24. rounded to the cent, half away from zero: 2.98 EUR",
        "25. price per mounting: 2.98 EUR (within the bounds 2.00–6.00)",
    ] {
        assert!(lines.contains(&expected), "missing {expected:?} in\n{stdout}");
    }
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));

    // The same quote as JSON, and other terms move the price as they should.
    let out = fleetsim()
        .args(["quote", "--history", HISTORY, "--json", "--margin", "0.30"])
        .output()
        .unwrap();
    assert_exit(&out, 0, "quote --json");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // 2.587 × 1.30 = 3.3631… → 3.36
    assert_eq!(json["price"], "3.36");
    assert_eq!(json["model"], "budget");
    assert_eq!(json["clamped"], "none");
    let keys: Vec<&str> = json["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["key"].as_str().unwrap())
        .collect();
    for key in [
        "audit",
        "seasonal_factor",
        "design_load",
        "amortisation",
        "wheels",
        "service",
        "cost_per_mounting",
        "with_margin",
        "price",
    ] {
        assert!(keys.contains(&key), "{key} in {keys:?}");
    }
    let out = fleetsim()
        .args(["quote", "--history", HISTORY, "--max-price", "2.50"])
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).contains("price per mounting: 2.50 EUR (capped at the maximum 2.50)"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn bad_histories_are_bad_input_with_line_and_column() {
    let header = "date,mountings,trace_only,remakes,full_rim,semi_rimless,rimless,index_150,index_160,index_167,polycarbonate,mineral\n";
    let cases: &[(&str, &str, &str)] = &[
        (
            "2024-01-02,3,1,1,2,1,0,1,1,0,1,-1\n",
            ":2:32: column `mineral`:",
            "a count is a whole number from 0 to 10000",
        ),
        (
            "2024-01-02,3,1,0,3,0,0,3,0,0,0,0\n2024-01-01,1,0,0,1,0,0,1,0,0,0,0\n",
            ":3:1: column `date`:",
            "one row per day, in date order",
        ),
        (
            "2024-01-02,3,1,0,2,0,0,3,0,0,0,0\n",
            ":2:18: column `full_rim`:",
            "each mounting has one frame type",
        ),
        (
            "02/01/2024,3,1,0,3,0,0,3,0,0,0,0\n",
            ":2:1: column `date`:",
            "write YYYY-MM-DD",
        ),
        ("", ":2:1:", "no rows"),
    ];
    let tmp = tempfile::tempdir().unwrap();
    for (i, (body, place, what)) in cases.iter().enumerate() {
        let file = tmp.path().join(format!("bad{i}.csv"));
        std::fs::write(&file, format!("{header}{body}")).unwrap();
        let out = fleetsim()
            .args(["quote", "--history"])
            .arg(&file)
            .output()
            .unwrap();
        assert_exit(&out, 2, &format!("bad history {i}"));
        let stderr = text(&out.stderr);
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        let prefix = format!("error: {}{place}", file.display());
        assert!(stderr.starts_with(&prefix), "{stderr} starts with {prefix}");
        assert!(stderr.contains(what), "{stderr} says {what}");
    }
    // A header with an unknown column, a missing file, bad flags.
    let file = tmp.path().join("header.csv");
    std::fs::write(&file, "date,mountings,colour\n").unwrap();
    let out = fleetsim()
        .args(["quote", "--history"])
        .arg(&file)
        .output()
        .unwrap();
    assert_exit(&out, 2, "unknown column");
    assert!(text(&out.stderr).contains(":1:16: column `colour`: unknown column"));
    for args in [
        vec!["quote", "--history", "tests/data/no-such.csv"],
        vec!["quote", "--history", HISTORY, "--margin", "-0.1"],
        vec![
            "quote",
            "--history",
            HISTORY,
            "--min-price",
            "5",
            "--max-price",
            "4",
        ],
        vec![
            "quote",
            "--history",
            HISTORY,
            "--scenario",
            SMALL,
            "--shop",
            "1",
        ],
        vec!["quote", "--scenario", SMALL],
        vec!["quote", "--scenario", SMALL, "--shop", "40"],
        vec![
            "quote",
            "--scenario",
            SMALL,
            "--shop",
            "1",
            "--audit-months",
            "5",
        ],
        vec!["quote"],
    ] {
        let out = fleetsim().args(&args).output().unwrap();
        assert_exit(&out, 2, &format!("{args:?}"));
        assert!(!text(&out.stderr).contains("panicked"));
    }
}

#[test]
fn a_run_with_quote_prices_out_of_sample_deterministically() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for dir in [&a, &b] {
        let out = run_quiet(SMALL, dir, &[]);
        assert_exit(&out, 0, "run quote_small");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["reconciliation"]["ok"], true);
    let q = &summary["quote"];
    assert_eq!(q["audit_months"], 2);
    assert_eq!(q["billed_months"], 2);
    assert_eq!(q["shops_quoted"], 40);
    for key in [
        "/quote/mean_abs_error",
        "/quote/p50_abs_error",
        "/quote/p90_abs_error",
        "/quote/mean_error",
        "/quote/share_under_priced",
        "/quote/share_over_priced",
        "/quote/clamped_min",
        "/quote/clamped_max",
        "/quote/hindsight/mean_abs_error",
        "/quote/hindsight/p90_abs_error",
        "/quote/models",
    ] {
        assert!(summary.pointer(key).is_some(), "{key}");
    }
    assert!(q["mean_abs_error"]
        .as_str()
        .unwrap()
        .parse::<Decimal>()
        .is_ok());

    // The report shows who is subsidised, with a chart, and links quotes.csv.
    let html = std::fs::read_to_string(a.join("index.html")).unwrap();
    assert!(html.contains("<h2>Quoted prices, out of sample</h2>"));
    assert!(html.contains("Subsidised (quoted below realised cost + margin)"));
    assert!(html.contains("href=\"quotes.csv\""));
    assert_eq!(
        html.matches("<svg").count(),
        4,
        "three run charts and the quote chart"
    );

    // Two runs, same bytes (summary.json minus its wall-clock /run section).
    for file in ["quotes.csv", "invoices.csv", "shops.csv"] {
        let (x, y) = (
            std::fs::read(a.join(file)).unwrap(),
            std::fs::read(b.join(file)).unwrap(),
        );
        assert!(x == y, "{file} differs between two runs");
    }
    let strip = |dir: &Path| {
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        v.as_object_mut().unwrap().remove("run");
        v
    };
    assert_eq!(strip(&a), strip(&b));

    // The audit months are billed at the scenario's prices, the rest at the quoted ones.
    let quotes = read_csv(&a.join("quotes.csv"));
    assert_eq!(quotes.rows.len(), 40);
    let invoices = read_csv(&a.join("invoices.csv"));
    for row in &quotes.rows {
        let shop = &row["shop"];
        let quoted = &row["quoted_price"];
        for line in invoices.rows.iter().filter(|l| &l["shop"] == shop) {
            if !["usage", "counter_usage", "estimate"].contains(&line["kind"].as_str()) {
                continue;
            }
            let audited = line["period"].as_str() <= "2024-02";
            let price: Decimal = line["unit_price"].parse().unwrap();
            if audited {
                let expected = if shop == "S000003" {
                    "4.25"
                } else if line["segment"] == "chain" {
                    "3.20"
                } else {
                    "3.80"
                };
                assert_eq!(
                    price,
                    expected.parse().unwrap(),
                    "{shop} {}",
                    line["period"]
                );
            } else {
                assert_eq!(price, quoted.parse().unwrap(), "{shop} {}", line["period"]);
            }
        }
    }

    // `fleetsim quote --scenario --shop` quotes the same shop the same way.
    let row = quotes.rows.iter().find(|r| r["shop"] == "S000011").unwrap();
    let out = fleetsim()
        .args([
            "quote",
            "--scenario",
            SMALL,
            "--shop",
            "11",
            "--audit-months",
            "2",
            "--margin",
            "0.20",
            "--json",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 0, "quote --scenario");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["price"].as_str().unwrap(), row["quoted_price"]);
    assert_eq!(json["model"].as_str().unwrap(), row["model"]);
    let mountings = json["lines"][1]["value"].as_str().unwrap();
    assert_eq!(mountings, row["audit_mountings"]);
}

#[test]
fn quoting_a_simulated_shop_explains_itself() {
    let out = fleetsim()
        .args([
            "quote",
            "--scenario",
            SMALL,
            "--shop",
            "2",
            "--audit-months",
            "3",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 0, "quote --scenario");
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(
            " 1. audit of quote_small shop S000002, months 2024-01..2024-03: 2024-01-01 to 2024-03-31, 91 days"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("busy days: p95 day "), "{stdout}");
    assert!(stdout
        .lines()
        .last()
        .unwrap()
        .contains("price per mounting: "));
}

/// A shop audited over January–March 2024: `level` mountings a day on average with a weekly
/// pattern, a fixed mix, and a share of remote-edged traces.
fn synthetic(level: u32, trace_percent: u32, mix: [u64; 5], frames: [u64; 3]) -> Audit {
    let first = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let last = chrono::NaiveDate::from_ymd_opt(2024, 3, 31).unwrap();
    let mut a = Audit::empty("synthetic".into(), first, last);
    let pattern = [6, 10, 10, 9, 10, 13, 0, 8, 12, 11, 7, 10, 16, 0];
    for day in 0..91 {
        let m = level * pattern[day % 14] / 10;
        let t = m * trace_percent / 100;
        if m + t > 0 {
            a.daily.push([m, t]);
            a.open_days += 1;
        }
        a.mountings += u64::from(m);
        a.trace_only += u64::from(t);
    }
    // The mix as whole counts summing to the mountings (the rest on the first kind).
    let spread = |weights: &[u64], total: u64| -> Vec<u64> {
        let sum: u64 = weights.iter().sum::<u64>().max(1);
        let mut v: Vec<u64> = weights.iter().map(|w| total * w / sum).collect();
        v[0] += total - v.iter().sum::<u64>();
        v
    };
    a.materials.copy_from_slice(&spread(&mix, a.mountings));
    a.frames.copy_from_slice(&spread(&frames, a.mountings));
    a
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The price is always within the bounds, whatever the shop and the terms.
    #[test]
    fn the_price_is_within_bounds(
        level in 0u32..120,
        trace in 0u32..80,
        mix in prop::array::uniform5(0u64..100),
        frames in prop::array::uniform3(0u64..100),
        margin in 0i64..100,
        low in 0i64..500,
        width in 0i64..800,
    ) {
        let terms = Terms {
            margin: Decimal::new(margin, 2),
            min_price: Decimal::new(low, 2),
            max_price: Decimal::new(low + width, 2),
            ..Terms::default()
        };
        let q = quote(&synthetic(level, trace, mix, frames), &terms, &CostModel::default());
        prop_assert!(q.price >= terms.min_price && q.price <= terms.max_price);
        prop_assert_eq!(q.price.scale() <= 2, true);
        if q.clamp == Clamp::None {
            prop_assert_eq!(Some(q.price), q.rounded);
        }
    }

    /// A busier shop with the same mix never pays more per mounting on the same machines.
    /// (When the busier shop needs other machines, the price may jump: not compared.)
    /// Within the calculator's capacity limits the amortisation spread over more mountings
    /// outweighs the failure power law (see README "Pricing a shop").
    #[test]
    fn a_busier_shop_never_pays_more_on_the_same_machines(
        level in 1u32..30,
        factor in 2u32..4,
        trace in 0u32..50,
        mix in prop::array::uniform5(1u64..100),
        frames in prop::array::uniform3(1u64..100),
    ) {
        let model = CostModel::default();
        let terms = Terms::default();
        let small = synthetic(level, trace, mix, frames);
        let big = small.scaled(factor);
        let (a, b) = (quote(&small, &terms, &model), quote(&big, &terms, &model));
        if a.costing.config == b.costing.config {
            prop_assert!(
                b.price <= a.price,
                "{} mountings: {}; {} mountings: {}",
                small.mountings, a.price, big.mountings, b.price
            );
            prop_assert!(b.costing.cost_per_mounting <= a.costing.cost_per_mounting);
        }
    }
}
