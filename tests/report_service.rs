//! The report's service view (`[service]` on): its CSVs agree with sums made independently
//! from summary.json, shops.csv and repairs.csv, and the page has its section only when the
//! field is on.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;

const QUICKSTART: &str = "scenarios/quickstart.toml";
const PLANS: &str = "tests/data/field_plans.toml";

fn run_to(scenario: &str, dir: &Path) -> serde_json::Value {
    assert_exit(&run_quiet(scenario, dir, &[]), 0, scenario);
    read_json(&dir.join("summary.json"))
}

fn sum(csv: &Csv, column: &str) -> i64 {
    csv.rows.iter().map(|r| cell_i64(r, column)).sum()
}

fn count_of(s: &serde_json::Value, pointer: &str) -> i64 {
    s.pointer(pointer)
        .and_then(serde_json::Value::as_i64)
        .unwrap_or_else(|| panic!("{pointer} missing"))
}

/// Per period, per cause: the repairs of repairs.csv counted again.
fn causes_by_period(repairs: &Csv) -> BTreeMap<(String, String), i64> {
    let mut counts = BTreeMap::new();
    for r in &repairs.rows {
        *counts
            .entry((r["period"].clone(), r["cause"].clone()))
            .or_default() += 1;
    }
    counts
}

#[test]
fn the_service_csvs_agree_with_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let s = run_to(QUICKSTART, tmp.path());
    let repairs = read_csv(&tmp.path().join("repairs.csv"));
    let monthly = read_csv(&tmp.path().join("service_monthly.csv"));
    let lost = read_csv(&tmp.path().join("lost_mountings.csv"));
    let shops = read_csv(&tmp.path().join("shops.csv"));

    // One row per repair; the breaches are the repairs outside their promise.
    let incidents = count_of(&s, "/service/incidents");
    assert!(incidents > 20, "{}", s["service"]);
    assert_eq!(repairs.rows.len() as i64, incidents);
    let missed = repairs
        .rows
        .iter()
        .filter(|r| r["within_promise"] == "false")
        .count() as i64;
    assert_eq!(missed, count_of(&s, "/service/sla_breaches"));
    for (cause, n) in s["service"]["by_cause"].as_object().unwrap() {
        let rows = repairs.rows.iter().filter(|r| &r["cause"] == cause).count();
        assert_eq!(rows as u64, n.as_u64().unwrap(), "{cause}");
    }

    // Each month's incidents by cause are repairs.csv's, counted again.
    let counted = causes_by_period(&repairs);
    assert_eq!(monthly.rows.len(), 12);
    for row in &monthly.rows {
        let mut total = 0;
        for cause in s["service"]["by_cause"].as_object().unwrap().keys() {
            let expected = counted
                .get(&(row["period"].clone(), cause.clone()))
                .copied()
                .unwrap_or(0);
            assert_eq!(cell_i64(row, cause), expected, "{} {cause}", row["period"]);
            total += expected;
        }
        assert_eq!(cell_i64(row, "incidents"), total, "{}", row["period"]);
    }

    // Lost and waited mountings: the truth's, by month and by shop and month.
    let lost_total = count_of(&s, "/truth/lost_billable_mountings");
    let waited_total = count_of(&s, "/service/waited_mountings");
    assert!(lost_total > 0);
    assert_eq!(sum(&lost, "lost"), lost_total);
    assert_eq!(sum(&monthly, "lost_mountings"), lost_total);
    assert_eq!(sum(&lost, "waited"), waited_total);
    assert_eq!(sum(&monthly, "waited_mountings"), waited_total);
    let mut lost_by_shop: BTreeMap<&str, i64> = BTreeMap::new();
    for r in &lost.rows {
        *lost_by_shop.entry(r["shop"].as_str()).or_default() += cell_i64(r, "lost");
    }
    for r in &shops.rows {
        let from_csv = lost_by_shop.get(r["shop"].as_str()).copied().unwrap_or(0);
        assert_eq!(from_csv, cell_i64(r, "lost_mountings"), "{}", r["shop"]);
    }

    // The repairs' cost by month adds up to the cost to serve's components (labour is
    // rounded once a month here, once a shop there: at most a cent a month or a shop apart).
    let by_component = &s["service"]["cost_by_component"];
    for c in ["parts_cents", "travel_cents", "loaner_cents"] {
        assert_eq!(sum(&monthly, c), by_component[c].as_i64().unwrap(), "{c}");
    }
    let labour = sum(&monthly, "labour_cents") - by_component["labour_cents"].as_i64().unwrap();
    assert!(labour.abs() <= 500, "labour off by {labour} cents");
    assert_eq!(
        sum(&repairs, "parts_cents"),
        by_component["parts_cents"].as_i64().unwrap()
    );
}

/// 1.5 × (pairs per machine-year / 3,000)^1.5 × machine-years, and 5.84 EUR per 0.01
/// incident: the calculator's defaults, recomputed in floats from shops.csv.
#[test]
fn the_service_vs_quote_csv_is_the_calculator_at_each_shops_volume() {
    let tmp = tempfile::tempdir().unwrap();
    run_to(QUICKSTART, tmp.path());
    let checks = read_csv(&tmp.path().join("service_vs_quote.csv"));
    let shops = read_csv(&tmp.path().join("shops.csv"));
    assert_eq!(checks.rows.len(), shops.rows.len());
    let mut compared = 0;
    for (c, s) in checks.rows.iter().zip(&shops.rows) {
        assert_eq!(c["shop"], s["shop"]);
        // The simulated side is shops.csv's cost to serve, split as the calculator splits it.
        let repairs: i64 = ["parts", "labour", "travel", "loaner"]
            .iter()
            .map(|k| cell_i64(s, &format!("cost_{k}_cents")))
            .sum();
        assert_eq!(cell_i64(c, "simulated_repairs_cents"), repairs);
        assert_eq!(
            cell_i64(c, "simulated_consumables_cents"),
            cell_i64(s, "cost_consumables_cents")
        );
        assert_eq!(cell_i64(c, "simulated_incidents"), cell_i64(s, "incidents"));
        // A whole year installed: machine-years = machines.
        if s["start"] != "2024-01-01" || s["last_day"] != "2024-12-31" {
            continue;
        }
        let machines = cell_i64(s, "machines") as f64;
        let mountings = cell_i64(s, "mountings") as f64;
        let incidents = 1.5 * (mountings / machines / 3000.0).powf(1.5) * machines;
        let expected: f64 = c["expected_incidents"].parse().unwrap();
        assert!(
            (expected - incidents).abs() < 1e-4,
            "{}: {expected} vs {incidents}",
            c["shop"]
        );
        let cents = cell_i64(c, "expected_repairs_cents") as f64;
        assert!((cents - incidents * 58_400.0).abs() <= 1.0, "{}", c["shop"]);
        compared += 1;
    }
    assert!(compared > 400, "{compared} shops compared");
}

fn svgs(html: &str) -> usize {
    html.matches("<svg").count()
}

const SERVICE_TITLES: [&str; 8] = [
    "<h2 id=\"service\">Field service</h2>",
    "Incidents per month, by cause",
    "Response time against the promise",
    "Repair time (to the shop edging again) against the promise",
    "Downtime per month",
    "Mountings lost and waited per month",
    "Cost to serve and net invoiced per shop, by volume",
    "Expected by the quote calculator against simulated",
];

/// Field on: the section with its six charts (one SVG each) and every tier's promise; off:
/// none of it, and none of its files.
#[test]
fn the_page_has_the_service_section_only_with_the_field_on() {
    let tmp = tempfile::tempdir().unwrap();
    let on = tmp.path().join("on");
    run_to(PLANS, &on);
    let page = std::fs::read_to_string(on.join("index.html")).unwrap();
    for title in SERVICE_TITLES {
        assert!(page.contains(title), "{title} missing");
    }
    let (before, section) = page.split_at(page.find("id=\"service\"").unwrap());
    assert_eq!(svgs(section), 7, "one SVG per service chart");
    assert_eq!(svgs(before), 3, "the run's own charts");
    assert!(!page.contains("chart unavailable"));
    for tier in [
        "full_service: 24 h response, 48 h repair, loaner",
        "maintenance: 48 h response, 96 h repair",
        "time_and_materials: 72 h response, 168 h repair",
    ] {
        assert!(section.contains(tier), "{tier} missing");
    }
    for name in [
        "repairs.csv",
        "service_monthly.csv",
        "lost_mountings.csv",
        "service_vs_quote.csv",
    ] {
        assert!(on.join(name).exists(), "{name} not written");
        assert!(
            section.contains(&format!("href=\"{name}\"")),
            "{name} not linked"
        );
    }

    let off = tmp.path().join("off");
    let text = std::fs::read_to_string(root().join(PLANS))
        .unwrap()
        .replace("enabled = true", "enabled = false")
        .replace(
            "../../scenarios/",
            &format!("{}/scenarios/", root().display()),
        );
    std::fs::create_dir_all(&off).unwrap();
    let scenario = off.join("scenario.toml");
    std::fs::write(&scenario, text).unwrap();
    run_to(scenario.to_str().unwrap(), &off.join("out"));
    let page = std::fs::read_to_string(off.join("out/index.html")).unwrap();
    for title in SERVICE_TITLES {
        assert!(!page.contains(title), "{title} with the field off");
    }
    assert_eq!(svgs(&page), 3);
    for name in [
        "repairs.csv",
        "service_monthly.csv",
        "lost_mountings.csv",
        "service_vs_quote.csv",
    ] {
        assert!(
            !off.join("out").join(name).exists(),
            "{name} with the field off"
        );
    }
}

/// The page minus its throughput line (wall-clock).
fn page_without_throughput(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("index.html"))
        .unwrap()
        .split("<tr><th>Throughput</th>")
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part
            } else {
                part.split_once("</tr>").unwrap().1
            }
        })
        .collect()
}

#[test]
fn the_service_view_is_the_same_whatever_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, four) = (tmp.path().join("1"), tmp.path().join("4"));
    assert_exit(&run_quiet(PLANS, &one, &["--threads", "1"]), 0, PLANS);
    assert_exit(&run_quiet(PLANS, &four, &["--threads", "4"]), 0, PLANS);
    for name in [
        "repairs.csv",
        "service_monthly.csv",
        "lost_mountings.csv",
        "service_vs_quote.csv",
    ] {
        let a = std::fs::read(one.join(name)).unwrap();
        assert!(
            a == std::fs::read(four.join(name)).unwrap(),
            "{name} differs"
        );
    }
    assert!(page_without_throughput(&one) == page_without_throughput(&four));
}
