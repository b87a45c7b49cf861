//! `fleetsim load SCENARIO --target URL`: the fleet's own traffic, paced, against a real
//! `fleetsim serve` on loopback. The run reconciles what the server metered and billed with
//! the fleet's truth, and bills exactly what the embedded engine bills for the same fleet.

mod common;
#[path = "common/server.rs"]
mod server;

use common::{assert_exit, fleetsim, read_json, text};
use server::Server;
use std::path::Path;

const TOKEN: &str = "load-fleet-token";
const SCENARIO: &str = "tests/data/load_small.toml";

fn load(url: &str, dir: &Path, extra: &[&str]) -> std::process::Output {
    fleetsim()
        .args([
            "load",
            SCENARIO,
            "--target",
            url,
            "--admin-token",
            TOKEN,
            "--quiet",
        ])
        .arg("--report-dir")
        .arg(dir.join("run"))
        .arg("--out")
        .arg(dir.join("load.json"))
        .arg("--junit")
        .arg(dir.join("junit.xml"))
        .args(extra)
        .output()
        .expect("fleetsim starts")
}

#[test]
fn a_paced_fleet_passes_its_thresholds_reconciles_and_bills_what_the_embedded_engine_bills() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("m.sqlite"), TOKEN, &[]);
    let out = load(
        &server.url,
        dir.path(),
        &[
            "--threshold",
            "p99 < 5s",
            "--threshold",
            "sender_lateness_p99 < 5s",
            "--html",
            dir.path().join("load.html").to_str().unwrap(),
        ],
    );
    assert_exit(&out, 0, "a small paced fleet");
    let report = read_json(&dir.path().join("load.json"));
    // Second by second, the series adds up to the run (and the page is written from it).
    let series = report["series"].as_array().unwrap();
    assert!(series.len() >= 6, "{} seconds", series.len());
    let per_second: u64 = series
        .iter()
        .map(|s| s["events_acknowledged"].as_u64().unwrap())
        .sum();
    assert_eq!(Some(per_second), report["events"]["acknowledged"].as_u64());
    let page = std::fs::read_to_string(dir.path().join("load.html")).unwrap();
    assert!(
        page.contains("the fleet's shape, paced"),
        "the page says what the load was"
    );
    assert_eq!(report["mode"], "fleet");
    assert_eq!(
        report["verification"]["status"], "ok",
        "{}",
        report["verification"]
    );
    assert_eq!(report["fleet"]["reconciliation"]["ok"], true);
    let verdicts = report["thresholds"].as_array().unwrap();
    // The scenario's two, then the command line's two.
    assert_eq!(verdicts.len(), 4, "{verdicts:?}");
    assert!(verdicts.iter().all(|v| v["ok"] == true), "{verdicts:?}");

    // Every event the machines delivered (retried duplicates included) was acknowledged once.
    let summary = read_json(&dir.path().join("run/summary.json"));
    let delivered = summary["sent"]["events"].as_u64().unwrap();
    let duplicates = summary["sent"]["duplicates"].as_u64().unwrap();
    assert!(duplicates > 0, "the scenario re-sends some events");
    assert_eq!(report["events"]["acknowledged"].as_u64(), Some(delivered));
    assert_eq!(
        report["server_receipts"]["duplicates"].as_u64(),
        Some(duplicates)
    );
    assert!(summary["faults"]["events_delivered_late"].as_u64().unwrap() > 0);

    // Paced, not pushed: the fleet's last days come 6.25 s into the stages.
    let elapsed = report["elapsed_seconds"].as_f64().unwrap();
    assert!(elapsed >= 5.5, "the fleet's month went out in {elapsed} s");
    let stages = report["fleet"]["stages"].as_array().unwrap();
    let names: Vec<&str> = stages.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "ramp-up",
            "hold",
            "spike",
            "ramp-down",
            "hold after the stages"
        ]
    );
    for s in stages {
        assert!(s["requests"].as_u64().unwrap() > 0, "stage {s}");
    }
    let requests: u64 = stages.iter().map(|s| s["requests"].as_u64().unwrap()).sum();
    assert_eq!(report["requests"]["acknowledged"].as_u64(), Some(requests));
    let endpoints = report["fleet"]["endpoints"].as_array().unwrap();
    let close = endpoints
        .iter()
        .find(|e| e["endpoint"] == "POST /v1/admin/periods/{period}/close")
        .expect("June's close is part of the load");
    assert_eq!(close["calls"], 1);

    // The same fleet on the embedded engine bills the same, to the cent.
    let embedded = dir.path().join("embedded");
    let run = common::run_quiet(SCENARIO, &embedded, &[]);
    assert_exit(&run, 0, "the embedded run");
    let alone = read_json(&embedded.join("summary.json"));
    assert_eq!(summary["billed"], alone["billed"]);
    assert_eq!(summary["truth"], alone["truth"]);

    gate_holds_the_fleet_to_its_own_figures(dir.path(), &report);
}

/// `fleetsim gate` on a real fleet report: against itself every figure holds, the fleet's
/// rows among them; another seed's report is a changed exact figure (exit 99).
fn gate_holds_the_fleet_to_its_own_figures(dir: &Path, report: &serde_json::Value) {
    let base = dir.join("load.json");
    let gate = |current: &Path| {
        fleetsim()
            .args(["gate", "--tolerance", "0", "--baseline"])
            .arg(&base)
            .arg("--current")
            .arg(current)
            .output()
            .expect("fleetsim starts")
    };
    let same = gate(&base);
    assert_exit(&same, 0, "a fleet report against itself");
    for row in ["fleet_uploads", "reconciliation_ok", "sender_lateness_p99"] {
        assert!(
            text(&same.stdout).contains(row),
            "{row}: {}",
            text(&same.stdout)
        );
    }
    let mut other = report.clone();
    other["fleet"]["seed"] = serde_json::json!(report["fleet"]["seed"].as_u64().unwrap() + 1);
    let other_path = dir.join("other_seed.json");
    std::fs::write(&other_path, other.to_string()).unwrap();
    let changed = gate(&other_path);
    assert_exit(&changed, 99, "another seed's fleet");
    assert!(
        text(&changed.stdout).contains("fleet_seed"),
        "{}",
        text(&changed.stdout)
    );
}

#[test]
fn an_impossible_threshold_exits_99_and_the_junit_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("m.sqlite"), TOKEN, &[]);
    let out = load(
        &server.url,
        dir.path(),
        &["--speed", "4000000x", "--threshold", "p99 < 1us"],
    );
    assert_exit(&out, 99, "p99 under a microsecond");
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    let failing: Vec<&str> = junit
        .split("<testcase ")
        .skip(1)
        .filter(|case| case.contains("<failure"))
        .collect();
    assert_eq!(failing.len(), 1, "{junit}");
    assert!(failing[0].contains("p99 &lt; 1us"), "{junit}");
    let report = read_json(&dir.path().join("load.json"));
    assert_eq!(report["verification"]["status"], "ok");
}

#[test]
fn abort_on_fail_stops_the_run_at_the_first_threshold_that_fails_live() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("m.sqlite"), TOKEN, &[]);
    let out = load(
        &server.url,
        dir.path(),
        &["--abort-on-fail", "--threshold", "p99 < 1us"],
    );
    assert_exit(&out, 99, "aborted on p99 under a microsecond");
    let report = read_json(&dir.path().join("load.json"));
    let why = report["fleet"]["aborted"]
        .as_str()
        .expect("the report says why");
    assert!(why.contains("p99 < 1us"), "{why}");
    // Stopped early: not the whole fleet, so nothing to reconcile.
    assert_eq!(report["verification"]["status"], "skipped");
    let reconciliation = report["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["expression"] == "reconciliation == ok")
        .unwrap();
    assert_eq!(reconciliation["ok"], false);
}

#[test]
fn a_scenario_load_refuses_synthetic_pacing_and_bad_speeds() {
    for (extra, says) in [
        (&["--max"][..], "cannot be used with"),
        (&["--request-rate", "10"][..], "cannot be used with"),
        (&["--speed", "0x"][..], "above zero"),
        (&["--speed", "fast"][..], "--speed"),
        (
            &["--speed", "3600x", "--rate", "100"][..],
            "cannot be used with",
        ),
        (&["--machines", "10"][..], "cannot be used with"),
    ] {
        let out = fleetsim()
            .args(["load", SCENARIO, "--target", "http://127.0.0.1:9"])
            .args(extra)
            .output()
            .unwrap();
        assert_exit(&out, 2, &format!("{extra:?}"));
        assert!(
            text(&out.stderr).contains(says),
            "{extra:?}: {}",
            text(&out.stderr)
        );
    }
}

/// The shipped load scenario, as a CI job runs it (about 25 s of wall time):
/// `cargo test --release --test load_fleet -- --ignored`.
#[test]
#[ignore]
fn the_shipped_load_scenario_passes_its_own_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("m.sqlite"), TOKEN, &[]);
    let out = fleetsim()
        .args(["load", "scenarios/load_fleet.toml", "--target", &server.url])
        .args(["--admin-token", TOKEN, "--quiet", "--report-dir"])
        .arg(dir.path().join("run"))
        .arg("--out")
        .arg(dir.path().join("load.json"))
        .output()
        .unwrap();
    assert_exit(&out, 0, "scenarios/load_fleet.toml");
    let report = read_json(&dir.path().join("load.json"));
    assert_eq!(report["verification"]["status"], "ok");
}
