//! The load generator against the real `fleetsim serve` on a loopback port. Runs are short
//! (about a second each) and modest (thousands of events/s); nothing here asserts on absolute
//! timings or throughput, only on counts, verdicts and exit codes.

use clap::Parser;
use fleetsim::cli::load::{command as load_command, exit_code};
use fleetsim::exit::THRESHOLD_FAILED;
use fleetsim::load::{run_load, LoadArgs, LoadPlan, LoadReport};
use std::path::Path;

const TOKEN: &str = "load-test-admin-token";

#[path = "common/server.rs"]
mod server;

struct Server;

impl Server {
    fn start(db: &Path) -> server::Server {
        server::Server::start(db, TOKEN, &[])
    }
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    load: LoadArgs,
}

/// `fleetsim load --target URL --quiet ARGS…`, parsed as the command line will be.
fn args(url: &str, extra: &[&str]) -> LoadArgs {
    let mut argv = vec!["load", "--target", url, "--quiet"];
    argv.extend(extra);
    Cli::try_parse_from(argv)
        .unwrap_or_else(|e| panic!("{e}"))
        .load
}

fn run(url: &str, extra: &[&str]) -> LoadReport {
    let plan = LoadPlan::from_args(&args(url, extra)).unwrap_or_else(|e| panic!("{e}"));
    run_load(&plan).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_constant_rate_run_is_stored_exactly_once_with_retries_counted_as_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("m.sqlite"));
    let report = run(
        &server.url,
        &[
            "--rate",
            "20000",
            "--duration",
            "1500ms",
            "--connections",
            "4",
            "--machines",
            "300",
            "--duplicate-share",
            "0.1",
            "--admin-token",
            TOKEN,
        ],
    );
    assert_eq!(report.mode, "constant_rate");
    assert_eq!(report.requests.scheduled, 300);
    assert_eq!(report.requests.sent + report.requests.dropped, 300);
    assert_eq!(report.requests.failed, 0, "{:?}", report.first_error);
    assert_eq!(
        report.verification.status, "ok",
        "{}",
        report.verification.detail
    );
    // Every re-sent batch is counted once, as duplicates (30 of 300 requests re-send).
    assert_eq!(report.requests.resent, 30);
    assert_eq!(report.server_receipts.duplicates, report.events.resent);
    assert_eq!(
        report.server_receipts.accepted,
        report.events.acknowledged - report.events.resent
    );
    let stored = report.verification.stored.expect("usage read back");
    assert_eq!(stored.total(), report.server_receipts.accepted);
    // One latency per answer, and the corrected latency is never below the service time.
    assert_eq!(report.latency_us.count, report.requests.sent);
    assert!(report.latency_us.max >= report.service_time_us.max);
    assert!(report.latency_us.p50 >= 1);
    assert_eq!(report.bodies.mode, "prebuilt");
    assert_eq!(exit_code(&report), 0);
}

#[test]
fn a_closed_loop_run_finds_a_ceiling_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("m.sqlite"));
    let report = run(
        &server.url,
        &[
            "--max",
            "--duration",
            "1s",
            "--connections",
            "4",
            "--max-requests",
            "3000",
            "--admin-token",
            TOKEN,
        ],
    );
    assert_eq!(report.mode, "max");
    assert!(report.requests.acknowledged > 0);
    assert!(report.rate.events_per_second > 0.0);
    assert_eq!(report.requests.dropped, 0);
    assert_eq!(
        report.verification.status, "ok",
        "{}",
        report.verification.detail
    );
}

#[test]
fn a_rerun_on_the_same_store_is_caught_unless_it_moves_its_sequences_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("m.sqlite"));
    let flags = [
        "--request-rate",
        "100",
        "--duration",
        "500ms",
        "--machines",
        "50",
        "--admin-token",
        TOKEN,
    ];
    let first = run(&server.url, &flags);
    assert_eq!(first.verification.status, "ok");
    let again = run(&server.url, &flags);
    assert_eq!(again.verification.status, "failed");
    assert!(
        again.verification.detail.contains("reported as duplicates"),
        "{}",
        again.verification.detail
    );
    assert_eq!(exit_code(&again), fleetsim::exit::RECONCILIATION);
    let next = first.next_first_seq.to_string();
    let moved_on = run(&server.url, &[&flags[..], &["--first-seq", &next]].concat());
    assert_eq!(
        moved_on.verification.status, "ok",
        "{}",
        moved_on.verification.detail
    );
}

#[test]
fn a_tenant_key_minted_for_the_run_sends_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("m.sqlite"));
    let report = run(
        &server.url,
        &[
            "--request-rate",
            "100",
            "--duration",
            "500ms",
            "--machines",
            "20",
            "--tenant",
            "network-1",
            "--mint-key",
            "--admin-token",
            TOKEN,
        ],
    );
    assert_eq!(report.requests.failed, 0, "{:?}", report.first_error);
    assert_eq!(
        report.verification.status, "ok",
        "{}",
        report.verification.detail
    );
}

#[test]
fn an_impossible_threshold_fails_the_run_and_writes_junit_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("m.sqlite"));
    let (junit, json) = (dir.path().join("load.xml"), dir.path().join("load.json"));
    let code = load_command(&args(
        &server.url,
        &[
            "--rate",
            "5000",
            "--duration",
            "500ms",
            "--connections",
            "2",
            "--admin-token",
            TOKEN,
            "--threshold",
            "p99<1us",
            "--threshold",
            "errors==0",
            "--junit",
            junit.to_str().unwrap(),
            "--out",
            json.to_str().unwrap(),
        ],
    ));
    assert_eq!(code, THRESHOLD_FAILED);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"3\" failures=\"1\""), "{xml}");
    assert!(
        xml.contains("name=\"p99&lt;1us\"><failure type=\"threshold\""),
        "{xml}"
    );
    assert!(xml.contains("<testcase classname=\"fleetsim.load\" name=\"errors==0\"/>"));
    assert!(xml.contains("name=\"verification\"/>"), "{xml}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(results["thresholds"][0]["ok"], false);
    assert_eq!(results["thresholds"][1]["ok"], true);
    assert_eq!(results["verification"]["status"], "ok");
    assert!(results["latency_us"]["p99"].as_u64().unwrap() >= 1);
    assert!(results["rate"]["events_per_second"].as_f64().unwrap() > 0.0);
}

#[test]
fn a_bad_threshold_is_refused_as_bad_input_before_any_request() {
    // Nothing listens on port 9 here: the expression is refused before the target is tried.
    let code = load_command(&args(
        "http://127.0.0.1:9",
        &["--rate", "1000", "--threshold", "p99<<10ms"],
    ));
    assert_eq!(code, fleetsim::exit::BAD_INPUT);
    let err = LoadPlan::from_args(&args(
        "http://127.0.0.1:9",
        &["--rate", "1000", "--threshold", "p99<10"],
    ))
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "--threshold \"p99<10\": latency \"10\" needs a unit: ns, us, ms or s (e.g. 10ms); \
         e.g. 'p99<10ms', 'rate>=400000', 'error_rate<1%'"
    );
}

#[test]
fn an_unreachable_target_is_a_runtime_failure() {
    let dir = tempfile::tempdir().unwrap();
    // A port that was just free: bind, note it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let code = load_command(&args(
        &format!("http://127.0.0.1:{port}"),
        &[
            "--rate",
            "1000",
            "--duration",
            "1s",
            "--out",
            dir.path().join("x.json").to_str().unwrap(),
        ],
    ));
    assert_eq!(code, fleetsim::exit::RUNTIME);
    assert!(!dir.path().join("x.json").exists());
}
