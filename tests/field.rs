//! The field (`[service]`): machines that wear, fail and get repaired, run end to end through
//! the binary, checked against what the simulation knows.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;

const PLANS: &str = "tests/data/field_plans.toml";

fn run_to(scenario: &str, dir: &Path, extra: &[&str]) -> serde_json::Value {
    assert_exit(&run_quiet(scenario, dir, extra), 0, scenario);
    read_json(&dir.join("summary.json"))
}

/// Writes `text` as a scenario next to a temporary output folder and runs it.
fn run_text(text: &str, dir: &Path) -> serde_json::Value {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    run_to(path.to_str().unwrap(), &dir.join("out"), &[])
}

#[test]
fn service_lines_from_the_simulated_field_reconcile_to_the_cent() {
    let tmp = tempfile::tempdir().unwrap();
    let s = run_to(PLANS, tmp.path(), &[]);
    assert_eq!(s["reconciliation"]["ok"], true, "{}", s["reconciliation"]);
    let by_kind = s["billed"]["by_kind"].as_object().unwrap();
    // Time and materials bills labour, travel and parts; missed promises credit full service.
    for kind in ["labour", "travel", "parts"] {
        assert!(by_kind[kind].as_i64().unwrap() > 0, "{kind}: {by_kind:?}");
    }
    assert!(by_kind["sla_credit"].as_i64().unwrap() < 0, "{by_kind:?}");
    let service = &s["service"];
    let incidents = service["incidents"].as_u64().unwrap();
    assert!(incidents > 20, "{service}");
    // Each failure the machines reported was repaired once (shops.csv counts the truth's).
    let shops = read_csv(&tmp.path().join("shops.csv"));
    let failures: u64 = shops
        .rows
        .iter()
        .map(|r| r["incidents"].parse::<u64>().unwrap())
        .sum();
    assert_eq!(failures, incidents);
    // Machines offline for weeks delivered late and were billed once (the reconciliation).
    assert!(
        s["faults"]["max_delay_days"].as_u64().unwrap() >= 30,
        "{}",
        s["faults"]
    );
    // The cost to serve is its components' sum, per shop and over the fleet.
    let mut fleet = 0i64;
    for (i, row) in shops.rows.iter().enumerate() {
        let total: i64 = row["cost_to_serve_cents"].parse().unwrap();
        let parts: i64 = [
            "cost_machine_cents",
            "cost_consumables_cents",
            "cost_parts_cents",
            "cost_labour_cents",
            "cost_travel_cents",
            "cost_loaner_cents",
        ]
        .iter()
        .map(|c| row[*c].parse::<i64>().unwrap())
        .sum();
        assert_eq!(total, parts, "row {i}");
        let net: i64 = row["net_cents"].parse().unwrap();
        let margin: i64 = row["margin_cents"].parse().unwrap();
        assert_eq!(margin, net - total, "row {i}");
        fleet += total;
    }
    assert_eq!(fleet, service["cost_cents"].as_i64().unwrap());
}

#[test]
fn the_field_is_deterministic_whatever_the_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let sa = run_to(PLANS, &a, &["--threads", "1"]);
    let sb = run_to(PLANS, &b, &["--threads", "2"]);
    assert_eq!(sa["service"], sb["service"]);
    for file in ["invoices.csv", "shops.csv"] {
        assert!(
            std::fs::read(a.join(file)).unwrap() == std::fs::read(b.join(file)).unwrap(),
            "{file} differs between 1 and 2 threads"
        );
    }
}

/// Regions share nothing: fewer technicians in one region lengthen its repairs, and every
/// other region's figures stay exactly as they were.
#[test]
fn a_technician_shortage_in_one_region_delays_only_that_region() {
    let tmp = tempfile::tempdir().unwrap();
    let base = "[scenario]\nseed = 3\n[calendar]\nmonths = 12\n[fleet]\nshops = 1500\n[output]\nhtml = false\n[service]\nenabled = true\n[service.failures]\nincidents_per_year_at_reference = 6.0\n[service.field.technicians]\n";
    let normal = run_text(
        &format!("{base}\"Île-de-France\" = 3\n"),
        &tmp.path().join("n"),
    );
    let short = run_text(
        &format!("{base}\"Île-de-France\" = 1\n"),
        &tmp.path().join("s"),
    );
    let (n, s) = (
        normal["service"]["by_region"].as_object().unwrap(),
        short["service"]["by_region"].as_object().unwrap(),
    );
    let idf = "Île-de-France";
    let p90 = |r: &serde_json::Value| r["repair_hours"][1].as_f64().unwrap();
    assert!(n[idf]["incidents"].as_u64().unwrap() > 30, "{}", n[idf]);
    assert!(p90(&s[idf]) > p90(&n[idf]), "{} vs {}", s[idf], n[idf]);
    for (name, region) in n {
        if name != idf {
            assert_eq!(region, &s[name], "{name}");
        }
    }
}

/// calibration.md: ≈ 1.5 incidents a year at 3,000 pairs a year (a power law of shape 1.5 in
/// pairs edged), about 30 % fixed remotely, about 10 % with a loaner. The expected count is
/// computed here from each shop's own mountings, independently of the failure process.
#[test]
fn the_default_fleet_fails_and_is_repaired_as_calibrated() {
    let tmp = tempfile::tempdir().unwrap();
    let s = run_text(
        "[scenario]\nseed = 8\n[calendar]\nmonths = 24\n[fleet]\nshops = 2500\nsecond_machine_above = 1000.0\n[output]\nhtml = false\n[service]\nenabled = true\n",
        tmp.path(),
    );
    let shops = read_csv(&tmp.path().join("out/shops.csv"));
    // Λ(c) = (c/η)^1.5 with Λ(4 × 3000) = 4 × 1.5: η = 12000 / 6^(2/3).
    let eta = 12_000.0 / 6f64.powf(2.0 / 3.0);
    let expected: f64 = shops
        .rows
        .iter()
        .map(|r| (r["mountings"].parse::<f64>().unwrap() / eta).powf(1.5))
        .sum();
    let service = &s["service"];
    let incidents = service["incidents"].as_f64().unwrap();
    let sigma = expected.sqrt();
    assert!(expected > 200.0, "too few to judge: {expected}");
    assert!(
        (incidents - expected).abs() < 4.0 * sigma,
        "{incidents} incidents, expected {expected:.0} ± {:.0}",
        4.0 * sigma
    );
    let share = |key: &str| service[key].as_f64().unwrap() / incidents;
    let remote = share("remote_fixes");
    assert!((0.25..0.40).contains(&remote), "remote fixes {remote:.3}");
    let loaners = share("loaners");
    assert!(
        (0.05..0.14).contains(&loaners),
        "loaner episodes {loaners:.3}"
    );
    // Most visits are done within 48 h of the call; a few wait days for parts.
    let p50 = service["repair_hours"][0].as_f64().unwrap();
    let p90 = service["repair_hours"][1].as_f64().unwrap();
    assert!(
        p50 < 48.0 && p90 < 24.0 * 7.0,
        "{}",
        service["repair_hours"]
    );
    let by_cause: BTreeMap<String, f64> = service["by_cause"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_f64().unwrap() / incidents))
        .collect();
    assert!(
        (0.28..0.42).contains(&by_cause["tools_wear"]),
        "{by_cause:?}"
    );
}

/// The span's rounds dispatch in the exact order a day-by-day simulation would: working one
/// day, three days or a week per message gives byte-identical invoices, shops and figures.
/// Failures come every few days here, most fixed remotely within hours, so machines repaired
/// inside a span fail again before their region's other failures are dispatched.
#[test]
fn the_span_length_changes_nothing_with_the_field_on() {
    let tmp = tempfile::tempdir().unwrap();
    let text = "[scenario]\nseed = 4\n[calendar]\nmonths = 2\n[fleet]\nshops = 80\n[output]\nhtml = false\n\
        [service]\nenabled = true\n[service.failures]\nincidents_per_year_at_reference = 300.0\nshape = 1.0\n\
        [service.failures.causes.clamping]\nremote_fixable = 0.9\n[service.failures.causes.tools_wear]\nremote_fixable = 0.9\n\
        [service.field.technicians]\n\"Île-de-France\" = 1\n";
    let mut runs = Vec::new();
    for span in [1, 3, 7] {
        let dir = tmp.path().join(format!("span{span}"));
        let s = run_text(&format!("{text}[engine]\nspan_days = {span}\n"), &dir);
        let out = dir.join("out");
        let files: Vec<Vec<u8>> = ["invoices.csv", "shops.csv"]
            .iter()
            .map(|f| std::fs::read(out.join(f)).unwrap())
            .collect();
        runs.push((span, s["service"].clone(), files));
    }
    assert!(
        runs[0].1["incidents"].as_u64().unwrap() > 300,
        "{}",
        runs[0].1
    );
    for (span, service, files) in &runs[1..] {
        assert_eq!(service, &runs[0].1, "span {span} days");
        assert!(
            files == &runs[0].2,
            "span {span} days: invoices.csv or shops.csv differ"
        );
    }
}

/// Every repair waits for parts and every shop is promised a loaner: shops' machines go to the
/// workshop in mid-month again and again while loaners stand in. No transport or counter
/// faults, so each month's counters are exact.
fn loaner_scenario(pricing: &str) -> String {
    let mut causes = String::new();
    for cause in [
        "tools_wear",
        "clamping",
        "tracer_blocker",
        "software_comms",
        "water_pump",
        "spindle_motor",
    ] {
        causes.push_str(&format!(
            "[service.failures.causes.{cause}]\nremote_fixable = 0.0\nparts_order = 1.0\n\n"
        ));
    }
    format!(
        r#"[scenario]
name = "loaner_swaps"
seed = 11

[calendar]
start = "2024-01-01"
months = 4

[fleet]
shops = 80

[pricing]
{pricing}

[faults]
lost_read_share = 0.0
outages_per_machine_year = 0.0
board_swaps_per_machine_year = 0.0

[service]
enabled = true

[service.failures]
incidents_per_year_at_reference = 20.0
board_swap_share = 0.0

[service.field]
loaners_per_1000_machines = 100.0
default_loaner = true

{causes}"#
    )
}

#[test]
fn a_loaner_swap_mid_month_bills_the_shop_exactly_its_mountings() {
    for basis in ["counters", "events"] {
        let tmp = tempfile::tempdir().unwrap();
        let s = run_text(&loaner_scenario(&format!("basis = {basis:?}")), tmp.path());
        let out = tmp.path().join("out");
        assert_eq!(s["reconciliation"]["ok"], true, "{}", s["reconciliation"]);
        let shops = read_csv(&out.join("shops.csv"));
        let loaned: Vec<_> = shops
            .rows
            .iter()
            .filter(|r| r["loaner_mountings"].parse::<u64>().unwrap() > 0)
            .collect();
        assert!(
            loaned.len() >= 5,
            "{basis}: {} shops had a loaner",
            loaned.len()
        );
        // Billing follows the shop: what its invoices charged for usage is what it edged, on
        // its own machine and on the loaner, each mounting once.
        let invoices = read_csv(&out.join("invoices.csv"));
        let mut billed: BTreeMap<&str, u64> = BTreeMap::new();
        for line in &invoices.rows {
            if [
                "usage",
                "counter_usage",
                "late_usage",
                "estimate",
                "true_up",
            ]
            .contains(&line["kind"].as_str())
            {
                *billed.entry(line["shop"].as_str()).or_default() +=
                    line["quantity"].parse::<u64>().unwrap();
            }
        }
        for shop in &loaned {
            let done: u64 = shop["mountings"].parse().unwrap();
            assert_eq!(billed[shop["shop"].as_str()], done, "{basis}: {shop:?}");
        }
        // The loaners' own counters, as the engine validated them: what they edged, and each
        // left its shops with a removal read.
        let machines = s["machines"].as_u64().unwrap() as u32;
        let mut engine =
            fleetsim::metering::sqlite::SqliteEngine::open(&out.join("metering.sqlite")).unwrap();
        let (mut counted, mut removals) = (0u64, 0);
        for id in machines..machines + 100 {
            use fleetsim::metering::MeteringEngine;
            let Some(x) = engine
                .explain_machine(fleetsim::event::MachineId(id))
                .unwrap()
            else {
                continue;
            };
            counted += x.readings.iter().map(|r| r.units().mountings).sum::<u64>();
            removals += x.readings.iter().filter(|r| r.raw.removal).count();
        }
        let on_loaners: u64 = loaned
            .iter()
            .map(|r| r["loaner_mountings"].parse::<u64>().unwrap())
            .sum();
        assert_eq!(counted, on_loaners, "{basis}");
        assert!(removals >= 5, "{basis}: {removals} removal reads");
    }
}

#[test]
fn a_loaner_leaves_with_the_shops_machines_when_its_contract_ends() {
    // Half the shops terminate early, some while a loaner stands in: the loaner is read out
    // and removed with the shop's machines, so nothing is estimated after the contract.
    let tmp = tempfile::tempdir().unwrap();
    let s = run_to(&data("loaner_swaps.toml"), tmp.path(), &[]);
    assert_eq!(s["reconciliation"]["ok"], true, "{}", s["reconciliation"]);
    let shops = read_csv(&tmp.path().join("shops.csv"));
    let ended_with_loaners = shops
        .rows
        .iter()
        .filter(|r| !r["terminated_on"].is_empty() && r["loaner_mountings"] != "0")
        .count();
    assert!(ended_with_loaners >= 5, "{ended_with_loaners} shops");
}
