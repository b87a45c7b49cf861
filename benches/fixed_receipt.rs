//! The sender's own ceiling: an endpoint that reads each batch and answers a fixed receipt
//! (no decoding, no store), so that what limits a run is the client, and `fleetsim load` can be
//! compared with wrk on the same endpoint (README, Performance: "The sender against wrk").
//!
//! - `cargo bench --bench fixed_receipt` (no arguments): a 2 s `fleetsim load --max` against it
//!   on loopback, printing requests/s (a smoke run; both share the machine's cores).
//! - `… -- serve ADDR SECONDS`: serves on ADDR for SECONDS on one thread (pin it with
//!   `taskset`), for wrk and `fleetsim load --no-verify` to aim at.
//! - `… -- wrk-script DIR BATCH_SIZE`: writes one fleetsim batch of BATCH_SIZE events as
//!   `DIR/body.json` and a wrk Lua script `DIR/post.lua` that POSTs it, so that wrk sends the
//!   same bytes with the same headers as `fleetsim load --batch-size BATCH_SIZE`.

use clap::Parser;
use fleetsim::calendar::Period;
use fleetsim::http::CLOUDEVENTS_BATCH_JSON;
use fleetsim::load::events::EventPlan;
use fleetsim::load::{run_load, LoadArgs, LoadPlan};
use std::path::Path;

#[path = "support/fixed_receipt_server.rs"]
mod fixed_receipt_server;
use fixed_receipt_server::serve_on;

/// Serves on `addr` for `seconds` on the calling thread.
fn serve(addr: &str, seconds: u64) {
    let listener = std::net::TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    serve_on(listener, seconds);
}

fn wrk_script(dir: &Path, batch_size: u64) {
    let march = Period {
        year: 2024,
        month: 3,
    };
    let plan = EventPlan::new(1000, 1, batch_size, march).expect("a valid plan");
    let body = dir.join("body.json");
    std::fs::write(&body, plan.body(0)).expect("body.json written");
    let lua = format!(
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"{CLOUDEVENTS_BATCH_JSON}\"\n\
         local f = assert(io.open(\"{}\", \"rb\"))\nwrk.body = f:read(\"*a\")\nf:close()\n",
        body.display()
    );
    std::fs::write(dir.join("post.lua"), lua).expect("post.lua written");
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    load: LoadArgs,
}

/// The smoke run: a server thread, and `fleetsim load --max` against it for 2 s.
fn smoke() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("its address").to_string();
    std::thread::spawn(move || serve_on(listener, 30));
    let url = format!("http://{addr}");
    let argv = [
        "load",
        "--target",
        &url,
        "--max",
        "--duration",
        "2s",
        "--connections",
        "64",
        "--batch-size",
        "100",
        "--no-verify",
        "--quiet",
    ];
    let args = Cli::try_parse_from(argv).expect("valid flags").load;
    let plan = LoadPlan::from_args(&args).expect("a valid plan");
    let report = run_load(&plan).expect("the run");
    assert_eq!(report.requests.failed, 0, "{:?}", report.first_error);
    println!(
        "fixed receipt, 64 connections, {} B bodies: {:.0} requests/s, sender {:.1} µs/request",
        report.bodies.body_bytes,
        report.rate.requests_per_second,
        report.sender_cpu.map_or(f64::NAN, |c| c.us_per_request)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; the subcommands come first when given.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["serve", addr, seconds] => serve(addr, seconds.parse().expect("SECONDS: a number")),
        ["wrk-script", dir, batch] => wrk_script(Path::new(dir), batch.parse().expect("a number")),
        [] => smoke(),
        _ => eprintln!("usage: fixed_receipt [serve ADDR SECONDS | wrk-script DIR BATCH_SIZE]"),
    }
}
