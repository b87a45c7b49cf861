//! The event-loop sender (`sim/load/driver.rs`): connections spread over several sender
//! threads, a server that closes every connection after its answer, and `--sender-threads`
//! refused as bad input. Counts and verdicts only, never timings.

use clap::Parser;
use fleetsim::load::{run_load, LoadArgs, LoadPlan, LoadReport};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

const TOKEN: &str = "load-sender-admin-token";

#[path = "common/server.rs"]
mod server;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    load: LoadArgs,
}

fn plan(url: &str, extra: &[&str]) -> Result<LoadPlan, String> {
    let mut argv = vec!["load", "--target", url, "--quiet"];
    argv.extend(extra);
    let args = Cli::try_parse_from(argv).map_err(|e| e.to_string())?.load;
    LoadPlan::from_args(&args).map_err(|e| e.to_string())
}

fn run(url: &str, extra: &[&str]) -> LoadReport {
    let plan = plan(url, extra).unwrap_or_else(|e| panic!("{e}"));
    run_load(&plan).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn connections_spread_over_three_sender_threads_send_every_slot_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = server::Server::start(&dir.path().join("m.sqlite"), TOKEN, &[]);
    // 7 connections on 3 threads: 3, 2 and 2.
    let report = run(
        &server.url,
        &[
            "--request-rate",
            "400",
            "--duration",
            "1s",
            "--connections",
            "7",
            "--sender-threads",
            "3",
            "--machines",
            "100",
            "--duplicate-share",
            "0.2",
            "--admin-token",
            TOKEN,
        ],
    );
    assert_eq!(report.requests.scheduled, 400);
    assert_eq!(report.requests.dropped, 0);
    assert_eq!(report.requests.sent, 400);
    assert_eq!(report.requests.failed, 0, "{:?}", report.first_error);
    assert_eq!(report.latency_us.count, 400);
    assert_eq!(report.requests.resent, 80);
    assert_eq!(report.server_receipts.duplicates, report.events.resent);
    assert_eq!(
        report.verification.status, "ok",
        "{}",
        report.verification.detail
    );
}

/// A server that answers each request with a fixed receipt and `Connection: close`, then
/// closes: the sender must open a new connection for every request, without a failure.
fn closing_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                line.clear();
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let receipt =
                r#"{"accepted":7,"duplicates":0,"rejected":{"unknown_machine":0,"wrong_shop":0}}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\
                 Content-Length: {}\r\n\r\n{receipt}",
                receipt.len()
            );
            let _ = reader.get_mut().write_all(answer.as_bytes());
        }
    });
    url
}

#[test]
fn a_server_closing_every_connection_after_its_answer_costs_no_request() {
    let url = closing_server();
    let report = run(
        &url,
        &[
            "--max",
            "--duration",
            "5s",
            "--connections",
            "2",
            "--max-requests",
            "200",
            "--batch-size",
            "7",
            "--no-verify",
        ],
    );
    assert_eq!(report.requests.sent, 200);
    assert!(
        report.transport_errors.is_empty(),
        "{:?}: {:?}",
        report.transport_errors,
        report.first_error
    );
    assert_eq!(report.requests.acknowledged, 200);
    assert_eq!(report.server_receipts.accepted, 200 * 7);
}

#[test]
fn sender_threads_outside_one_to_the_connections_are_refused() {
    let url = "http://127.0.0.1:9";
    for threads in ["0", "5"] {
        let err = plan(
            url,
            &["--max", "--connections", "4", "--sender-threads", threads],
        )
        .unwrap_err();
        assert_eq!(
            err,
            format!("--sender-threads {threads}: must be from 1 to --connections (4)")
        );
    }
    assert!(plan(
        url,
        &["--max", "--connections", "4", "--sender-threads", "4"]
    )
    .is_ok());
}
