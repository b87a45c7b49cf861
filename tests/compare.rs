//! `fleetsim compare RUN_DIR... --out DIR` through the binary, on real runs:
//! - comparison.csv's rows are the runs' own figures, read here from their summary.json;
//! - different fleets are compared but flagged (banner, comparison.json, stdout);
//! - the same inputs give byte-identical outputs;
//! - bad input (missing folder, no or unreadable summary.json, a folder mixing two runs'
//!   files, one run, a run twice, an --out that is a run) exits 2 naming the path;
//! - the page in Chromium: three charts drawn, every data-summary number equal to
//!   comparison.json's.

#[allow(dead_code)]
#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "common/page.rs"]
mod page;
#[allow(dead_code)]
#[path = "common/pixels.rs"]
mod pixels;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

/// Four pricings and a sweep of three on 40 shops with the field on.
const ALTERNATIVES: &str = "tests/data/alternatives_small.toml";
/// The same fleet at dearer segment prices, no alternatives.
const PRICES: &str = "tests/data/compare_prices.toml";
const DIFFERENT_FLEETS: &str = "different fleets: differences are not from pricing alone";

/// The runs every test compares, simulated once per test binary.
struct Runs {
    alternatives: PathBuf,
    prices: PathBuf,
    /// PRICES with another seed: another fleet.
    reseeded: PathBuf,
    scratch: PathBuf,
}

fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("compare");
        let _ = std::fs::remove_dir_all(&base);
        let runs = Runs {
            alternatives: base.join("alternatives"),
            prices: base.join("prices"),
            reseeded: base.join("reseeded"),
            scratch: base.join("scratch"),
        };
        std::fs::create_dir_all(&runs.scratch).unwrap();
        assert_exit(
            &run_quiet(ALTERNATIVES, &runs.alternatives, &[]),
            0,
            ALTERNATIVES,
        );
        assert_exit(&run_quiet(PRICES, &runs.prices, &[]), 0, PRICES);
        let seed = ["--seed", "13"];
        assert_exit(&run_quiet(PRICES, &runs.reseeded, &seed), 0, "reseeded");
        runs
    })
}

/// A fresh folder under the runs' scratch space.
fn scratch(name: &str) -> PathBuf {
    let dir = runs().scratch.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn compare(runs: &[&Path], out: &Path) -> Output {
    let mut cmd = fleetsim();
    cmd.arg("compare").args(runs).arg("--out").arg(out);
    cmd.output().expect("the fleetsim binary starts")
}

/// `summary.json`'s value at `pointer`, as the CSV writes it (null: empty).
fn csv_text(summary: &Value, pointer: &str) -> String {
    match summary.pointer(pointer) {
        None | Some(Value::Null) => String::new(),
        Some(Value::Number(n)) if n.is_f64() => format!("{:.4}", n.as_f64().unwrap()),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// The columns of a run with alternatives, and where its summary.json has each.
const FROM_ALTERNATIVES: [(&str, &str); 17] = [
    ("pricing", "id"),
    ("reconciled", "reconciled"),
    ("invoices", "invoices"),
    ("revenue_cents", "revenue_cents"),
    ("cost_cents", "costs/cost_cents"),
    ("margin_cents", "costs/margin_cents"),
    ("shops_at_loss", "costs/shops_at_loss"),
    ("at_loss_mountings_share", "costs/at_loss_mountings_share"),
    ("mountings", "mountings"),
    ("price_per_mounting_cents", "price_per_mounting_cents"),
    ("gini", "gini"),
    ("p10_cents", "p10_cents"),
    ("p50_cents", "p50_cents"),
    ("p90_cents", "p90_cents"),
    ("regret_cents", "regret_cents"),
    (
        "shops_failing_stand_alone",
        "costs/shops_failing_stand_alone",
    ),
    (
        "shops_failing_incremental",
        "costs/shops_failing_incremental",
    ),
];

fn assert_alternative_rows(rows: &[BTreeMap<String, String>], summary: &Value) {
    let alternatives = summary["alternatives"].as_array().expect("/alternatives");
    assert_eq!(rows.len(), alternatives.len(), "one row per pricing");
    for (i, row) in rows.iter().enumerate() {
        for (column, at) in FROM_ALTERNATIVES {
            let expected = csv_text(summary, &format!("/alternatives/{i}/{at}"));
            assert_eq!(row[column], expected, "row {i}, {column}: {row:?}");
        }
        let id = &alternatives[i]["id"];
        assert_eq!(
            row["label"],
            format!("alternatives_small/{}", id.as_str().unwrap())
        );
        let margin = cell_i64(row, "revenue_cents") - cell_i64(row, "cost_cents");
        assert_eq!(
            cell_i64(row, "margin_cents"),
            margin,
            "margin = revenue − cost"
        );
    }
}

/// A run without alternatives: its billed total less VAT, its field's cost, nothing per shop.
fn assert_pricing_row(row: &BTreeMap<String, String>, summary: &Value) {
    let int = |p: &str| summary.pointer(p).and_then(Value::as_i64).unwrap();
    let revenue = int("/billed/total_cents") - int("/billed/by_group/vat");
    let cost = int("/service/cost_cents");
    assert_eq!(row["label"], "compare_prices/base");
    assert_eq!(cell_i64(row, "revenue_cents"), revenue);
    assert_eq!(cell_i64(row, "cost_cents"), cost);
    assert_eq!(cell_i64(row, "margin_cents"), revenue - cost);
    assert_eq!(cell_i64(row, "invoices"), int("/billed/invoices"));
    assert_eq!(row["reconciled"], csv_text(summary, "/reconciliation/ok"));
    let mountings = int("/truth/billable_mountings");
    assert_eq!(cell_i64(row, "mountings"), mountings);
    let price = format!("{:.4}", revenue as f64 / mountings as f64);
    assert_eq!(row["price_per_mounting_cents"], price);
    for column in ["gini", "p50_cents", "regret_cents", "shops_at_loss"] {
        assert_eq!(
            row[column], "",
            "{column}: not computed by a run without alternatives"
        );
    }
}

#[test]
fn every_row_is_the_runs_own_figure() {
    let r = runs();
    let out = scratch("rows");
    let done = compare(&[&r.alternatives, &r.prices], &out);
    assert_exit(&done, 0, "compare");
    let csv = read_csv(&out.join("comparison.csv"));
    let alternatives = read_json(&r.alternatives.join("summary.json"));
    let prices = read_json(&r.prices.join("summary.json"));
    let n = alternatives["alternatives"].as_array().unwrap().len();
    assert!(n >= 5, "the base, the alternatives and a sweep: {n}");
    assert_eq!(
        csv.rows.len(),
        n + 1,
        "every pricing of the first run, then the second's"
    );
    assert_alternative_rows(&csv.rows[..n], &alternatives);
    assert_pricing_row(&csv.rows[n], &prices);
    // The prices differ, so does the revenue: a comparison that read one run twice fails.
    assert_ne!(csv.rows[0]["revenue_cents"], csv.rows[n]["revenue_cents"]);

    let json = read_json(&out.join("comparison.json"));
    assert_eq!(json["same_fleet"], true, "one fleet, two pricings");
    assert_eq!(json["warnings"], serde_json::json!([]));
    assert!(csv.rows.iter().all(|row| row["same_fleet"] == "true"));
    let rows = json["rows"].as_array().unwrap();
    for (row, from_json) in csv.rows.iter().zip(rows) {
        assert_eq!(row["revenue_cents"], from_json["revenue_cents"].to_string());
        assert_eq!(row["label"], from_json["label"].as_str().unwrap());
    }
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        !html.contains("Different fleets"),
        "no banner for one fleet"
    );
    assert!(
        text(&done.stdout).contains("report: "),
        "{}",
        text(&done.stdout)
    );
}

#[test]
fn different_fleets_are_compared_and_flagged() {
    let r = runs();
    let out = scratch("fleets");
    let done = compare(&[&r.prices, &r.reseeded, &r.alternatives], &out);
    assert_exit(&done, 0, "compare");
    let json = read_json(&out.join("comparison.json"));
    assert_eq!(json["same_fleet"], false);
    assert_eq!(json["warnings"][0], DIFFERENT_FLEETS);
    let seed = json["warnings"][1].as_str().unwrap();
    assert!(seed.starts_with("seed: ") && seed.contains(" 13"), "{seed}");
    // Two runs of one scenario: told apart by their folders.
    let labels: Vec<&str> = json["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "compare_prices (prices)",
            "compare_prices (reseeded)",
            "alternatives_small"
        ]
    );
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        html.contains("Different fleets: differences are not from pricing alone"),
        "the banner"
    );
    assert!(text(&done.stdout).contains(&format!("warning: {DIFFERENT_FLEETS}")));
    let csv = read_csv(&out.join("comparison.csv"));
    assert!(csv.rows.iter().all(|row| row["same_fleet"] == "false"));
}

/// Every file under `dir`, by path relative to it, with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                found.insert(path.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    found
}

#[test]
fn the_same_runs_give_byte_identical_outputs() {
    let r = runs();
    let (one, two) = (scratch("same_1"), scratch("same_2"));
    assert_exit(&compare(&[&r.alternatives, &r.prices], &one), 0, "first");
    assert_exit(&compare(&[&r.alternatives, &r.prices], &two), 0, "second");
    let (a, b) = (files(&one), files(&two));
    let names: Vec<String> = a.keys().map(|p| p.display().to_string()).collect();
    assert_eq!(
        names,
        [
            "charts/compare_gini.png",
            "charts/compare_margin.png",
            "charts/compare_margin_vs_gini.png",
            "comparison.csv",
            "comparison.json",
            "index.html",
        ]
    );
    for (name, bytes) in &a {
        assert!(
            &b[name] == bytes,
            "{} differs between two comparisons",
            name.display()
        );
    }
    let png = pixels::decode(&a[Path::new("charts/compare_margin.png")], "margin chart");
    assert_eq!(png.width, 1800, "twice the page's width");
    assert!(
        png.coloured() > 1000,
        "bars drawn: {} coloured pixels",
        png.coloured()
    );
}

/// Exit 2, no panic, and stderr names `path` and says `what`.
fn assert_refused(done: &Output, path: &str, what: &str) {
    assert_exit(done, 2, what);
    let err = text(&done.stderr);
    assert!(err.contains(path), "names {path}: {err}");
    assert!(err.contains(what), "says {what:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_input_exits_2_naming_the_path() {
    let r = runs();
    let out = scratch("bad_out");
    let missing = r.scratch.join("no_such_run");
    let done = compare(&[&r.prices, &missing], &out);
    assert_refused(&done, &missing.display().to_string(), "no such folder");

    let empty = scratch("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let done = compare(&[&r.prices, &empty], &out);
    assert_refused(&done, &empty.display().to_string(), "has no summary.json");

    let garbled = scratch("garbled");
    std::fs::create_dir_all(&garbled).unwrap();
    std::fs::write(garbled.join("summary.json"), "{\"scenario\": 3,").unwrap();
    let done = compare(&[&garbled, &r.prices], &out);
    let path = garbled.join("summary.json").display().to_string();
    assert_refused(&done, &path, "at line 1 column");

    // summary.json of one run, alternatives.csv of another.
    let mixed = scratch("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    std::fs::copy(
        r.alternatives.join("summary.json"),
        mixed.join("summary.json"),
    )
    .unwrap();
    let csv = std::fs::read_to_string(r.alternatives.join("alternatives.csv")).unwrap();
    let renamed = csv.replace("\ndear,", "\ndearer,");
    assert_ne!(renamed, csv, "alternatives.csv has the `dear` row");
    std::fs::write(mixed.join("alternatives.csv"), renamed).unwrap();
    let done = compare(&[&r.prices, &mixed], &out);
    let path = mixed.join("alternatives.csv").display().to_string();
    assert_refused(&done, &path, "different runs");

    let done = compare(&[&r.prices], &out);
    assert_refused(&done, "compare", "at least 2 run folders, got 1");

    let done = compare(&[&r.prices, &r.prices.join("../prices")], &out);
    assert_refused(
        &done,
        &r.prices.display().to_string(),
        "the same run folder",
    );

    let before = files(&r.prices);
    let done = compare(&[&r.alternatives, &r.prices], &r.prices);
    assert_refused(&done, &r.prices.display().to_string(), "--out");
    assert!(files(&r.prices) == before, "the run's folder is untouched");
    assert!(!out.exists(), "nothing written for bad input");
}

#[test]
fn the_page_reads_right_in_a_browser() {
    let r = runs();
    let out = scratch("browser");
    assert_exit(
        &compare(&[&r.alternatives, &r.reseeded], &out),
        0,
        "compare",
    );
    let json = read_json(&out.join("comparison.json"));
    let dom = browser::dump_dom(&out.join("index.html"));
    let slugs = page::check_charts(&dom);
    assert_eq!(
        slugs,
        ["compare_margin", "compare_gini", "compare_margin_vs_gini"]
    );
    assert_eq!(dom.matches("<svg").count(), 3, "every SVG is a chart");
    assert!(dom.contains("id=\"different-fleets\""), "the banner");
    let checked = page::check_facts(&dom, &json, page::reads_two_decimals);
    let rows = json["rows"].as_array().unwrap().len();
    // Per run 7 values (folder, seed, start, months, shops, machines, billable mountings); per
    // row with alternatives 15 (revenue, cost, margin, 2 for the losses, invoices, mountings,
    // price, Gini, 3 quantiles, regret, 2 subsidy tests); the run without alternatives 6 (no
    // losses, Gini, quantiles, regret nor tests).
    assert_eq!(checked, 2 * 7 + (rows - 1) * 15 + 6, "values checked");
}
