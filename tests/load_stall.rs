//! Issue 13's "done means" 2: a server that stalls (answers nothing for 600 ms every 1.5 s,
//! holding the requests, then answering them) shows the stalls in `fleetsim load`'s p99 and
//! max measured from the schedule, while the service time stays small; the report lists the
//! stalls at about the right instants and the summary says so. The same run (through the
//! binary, once for the file) feeds the per-second series, its CSV, the errors by class and
//! the HTML page, read in headless Chromium. Windows are asserted with a wide tolerance; the
//! run's own speed is never asserted.

#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "common/page.rs"]
mod page;
#[path = "common/pixels.rs"]
mod pixels;
#[path = "common/stall_server.rs"]
mod stall_server;

use common::*;
use serde_json::Value;
use stall_server::{Behaviour, StallServer};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

const STALL: Duration = Duration::from_millis(600);
const RATE: u64 = 1000;
const DURATION: Duration = Duration::from_secs(4);
/// How far a stall found may be from the server's window, at either end.
const TOLERANCE: f64 = 0.15;

const BEHAVIOUR: Behaviour = Behaviour {
    first_stall: Duration::from_millis(800),
    period: Duration::from_millis(1500),
    stall: STALL,
    every_503: 97,
    every_422: 89,
    every_rejecting: 83,
};

struct Run {
    dir: PathBuf,
    stdout: String,
    report: Value,
    answered: BTreeMap<&'static str, u64>,
}

/// `fleetsim load --request-rate 1000 --duration 4s --connections 4` against the stalling
/// server, once for this file; its outputs stay in the test's target folder.
fn stalled_run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("load_stall");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let server = StallServer::start(BEHAVIOUR);
        let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
        let out = fleetsim()
            .args(["load", "--target", &server.url])
            .args(["--request-rate", &RATE.to_string(), "--duration", "4s"])
            .args([
                "--connections",
                "4",
                "--batch-size",
                "5",
                "--machines",
                "50",
            ])
            .args([
                "--no-verify",
                "--threshold",
                "p99<10s",
                "--threshold",
                "errors==0",
            ])
            .args(["--out", &path("load.json"), "--series", &path("series.csv")])
            .args(["--html", &path("load.html")])
            .output()
            .expect("the fleetsim binary starts");
        // errors==0 fails: the server answers some requests with errors on purpose.
        assert_exit(&out, fleetsim::exit::THRESHOLD_FAILED, "fleetsim load");
        Run {
            report: read_json(&dir.join("load.json")),
            stdout: text(&out.stdout),
            answered: server.answered(),
            dir,
        }
    })
}

fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{v} is not an unsigned integer"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

#[test]
fn a_stalling_server_shows_in_the_latency_from_the_schedule_and_as_stalls() {
    let run = stalled_run();
    let r = &run.report;
    let stall_us = STALL.as_micros() as u64;
    // About 40 % of the requests come due while the server holds them: the corrected p99
    // and max see the stall; the service time of most requests (sent after it) does not.
    let floor = stall_us * 8 / 10;
    assert!(u(&r["latency_us"]["p99"]) >= floor, "{}", r["latency_us"]);
    assert!(u(&r["latency_us"]["max"]) >= floor, "{}", r["latency_us"]);
    assert!(
        u(&r["service_time_us"]["p50"]) < stall_us / 3,
        "{}",
        r["service_time_us"]
    );
    assert_eq!(
        u(&r["stall_threshold_us"]),
        100_000,
        "20 service times are < 100 ms here"
    );

    let stalls = r["stalls"].as_array().expect("/stalls");
    let windows = BEHAVIOUR.windows(DURATION);
    assert_eq!(windows.len(), 3);
    for (from, to) in &windows {
        let (from, to) = (from.as_secs_f64(), to.as_secs_f64());
        let found = stalls.iter().find(|s| {
            (f(&s["start_s"]) - from).abs() < TOLERANCE && (f(&s["end_s"]) - to).abs() < TOLERANCE
        });
        let s = found.unwrap_or_else(|| panic!("no stall near {from}–{to} s: {stalls:?}"));
        // The requests due in the window (until the schedule ends at 4 s) waited.
        let due = (to.min(DURATION.as_secs_f64()) - from) * RATE as f64;
        let waiting = u(&s["requests_waiting"]) as f64;
        assert!((due * 0.7..=due * 1.3).contains(&waiting), "{due} due: {s}");
        assert!(u(&s["latency_max_us"]) >= floor, "{s}");
        assert!((f(&s["seconds"]) - (f(&s["end_s"]) - f(&s["start_s"]))).abs() < 1e-6);
    }
    // Any other gap the machine made is short: only the windows last half a stall or more.
    let long = stalls.iter().filter(|s| f(&s["seconds"]) > 0.3).count();
    assert_eq!(long, windows.len(), "{stalls:?}");

    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("stall: "))
        .collect();
    assert_eq!(lines.len(), stalls.len(), "{}", run.stdout);
    assert!(
        lines
            .iter()
            .all(|l| l.contains("requests waited; p99 from the schedule")),
        "{lines:?}"
    );
}

/// The server's own count of what it answered is what the report counts by class, and the
/// series adds up to the totals, second by second and in its CSV.
#[test]
fn errors_are_counted_by_class_and_the_series_adds_up_to_the_totals() {
    let run = stalled_run();
    let r = &run.report;
    let by_class = r["errors_by_class"].as_object().expect("/errors_by_class");
    let expected: BTreeMap<String, u64> = run
        .answered
        .iter()
        .filter(|(class, _)| **class != "ok")
        .map(|(class, n)| (class.to_string(), *n))
        .collect();
    let shown: BTreeMap<String, u64> = by_class.iter().map(|(k, v)| (k.clone(), u(v))).collect();
    assert_eq!(shown, expected);
    assert!(
        expected.len() == 2 && expected.values().all(|n| *n > 10),
        "{expected:?}"
    );

    let series = r["series"].as_array().expect("/series");
    let total = |field: &str| series.iter().map(|s| u(&s[field])).sum::<u64>();
    assert_eq!(total("requests_due"), u(&r["requests"]["scheduled"]));
    assert_eq!(total("requests_completed"), u(&r["requests"]["sent"]));
    assert_eq!(
        total("events_acknowledged"),
        u(&r["events"]["acknowledged"])
    );
    for (class, n) in &shown {
        let per_second: u64 = series
            .iter()
            .map(|s| s["errors"].get(class).map_or(0, u))
            .sum();
        assert_eq!(per_second, *n, "{class}");
    }
    // The seconds where a window ends hold its delayed answers.
    for (_, to) in BEHAVIOUR.windows(DURATION) {
        let second = &series[to.as_secs() as usize];
        assert!(u(&second["latency_max_us"]) >= 400_000, "{second}");
    }

    let csv = read_csv(&run.dir.join("series.csv"));
    assert_eq!(csv.rows.len(), series.len());
    for (row, second) in csv.rows.iter().zip(series) {
        for column in [
            "second",
            "requests_due",
            "events_acknowledged",
            "latency_p99_us",
        ] {
            assert_eq!(cell_i64(row, column) as u64, u(&second[column]), "{column}");
        }
        let errors: u64 = second["errors"].as_object().unwrap().values().map(u).sum();
        assert_eq!(cell_i64(row, "errors") as u64, errors);
        let validation = second["errors"].get("validation").map_or(0, u);
        assert_eq!(cell_i64(row, "errors_validation") as u64, validation);
    }
}

/// Latencies are shown in ms (two decimals) from the JSON's µs; the rest as the run report.
fn reads_load(shown: &str, pointer: &str, value: &Value) -> bool {
    if pointer.ends_with("_us") || pointer.contains("_us/") {
        let (Some(us), Ok(ms)) = (value.as_f64(), shown.parse::<f64>()) else {
            return false;
        };
        return (us / 1e3 - ms).abs() <= 0.005 + 1e-9;
    }
    page::reads_rounded(shown, pointer, value)
}

#[test]
fn the_load_report_page_reads_right_in_a_browser() {
    let run = stalled_run();
    let page_path = run.dir.join("load.html");
    let dom = browser::dump_dom(&page_path);
    let slugs = page::check_charts(&dom);
    assert_eq!(slugs, ["load_latency", "load_throughput", "load_errors"]);
    assert_eq!(
        dom.matches("<svg").count(),
        slugs.len(),
        "every SVG in a wrapper"
    );
    for slug in &slugs {
        let png = run.dir.join("load_charts").join(format!("{slug}.png"));
        let image = pixels::decode(&std::fs::read(&png).unwrap(), slug);
        assert!(image.coloured() > 1_000, "{slug}: its series are drawn");
    }
    let stalls = run.report["stalls"].as_array().unwrap().len();
    assert_eq!(dom.matches("data-summary=\"/stalls/").count(), stalls * 6);
    let cells = page::check_facts(&dom, &run.report, reads_load);
    let cards = page::check_cells(&dom, &run.report, reads_load, "<b data-summary=\"", "</b>");
    // The run's 25 facts (sender CPU on Linux), 2 error classes, 2 thresholds, the
    // verification, and 6 per stall.
    assert_eq!(
        cells,
        25 + 2 + 2 * 2 + 2 + stalls * 6,
        "values checked in the tables"
    );
    assert_eq!(cards, 8, "the cards' values");
    assert!(dom.contains("a threshold was violated"), "the verdict");

    let shot = run.dir.join("page.png");
    browser::screenshot(&page_path, &shot, (1100, 3000));
    let image = pixels::decode(&std::fs::read(&shot).unwrap(), "the screenshot");
    assert_eq!((image.width, image.height), (1100, 3000));
    assert!(
        image.inked() * 20 > image.rgb.len(),
        "the page is not blank"
    );
    assert!(
        image.coloured() > 20_000,
        "{} coloured pixels",
        image.coloured()
    );
}
