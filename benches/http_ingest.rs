//! HTTP ingestion: what one CloudEvents batch costs to build and to parse (criterion), and the
//! ceilings over loopback measured with fleetsim's own load generator (`fleetsim::load`):
//! a parse-and-discard axum handler (the HTTP + JSON ceiling, no store) and the real
//! `fleetsim serve` (HTTP + JSON + SQLite group commit), each in a closed loop at 4, 16,
//! 64 and 128 connections (more connections, bigger group commits: each commit has a fixed
//! cost), then the real server at a constant 80% of its best ceiling, with 8, 32 and 128
//! connections.
//!
//! Run: `cargo bench --bench http_ingest` (all), `-- batch` (criterion only), `-- ceiling`
//! (ceilings only). `HTTP_INGEST_SECONDS` sets each ceiling run's length (default 5).
//! Sender and server share the machine's cores, as they would in CI.

use axum::body::Bytes;
use axum::routing::{get, post};
use axum::Router;
use clap::Parser;
use criterion::{criterion_group, Criterion, Throughput};
use fleetsim::calendar::Period;
use fleetsim::cli::load::exit_code;
use fleetsim::event::wire::{from_cloudevent, CloudEvent};
use fleetsim::http::access::AccessStore;
use fleetsim::http::server::decode_fast;
use fleetsim::load::events::EventPlan;
use fleetsim::load::{run_load, LoadArgs, LoadPlan, LoadReport};
use std::hint::black_box;

const TOKEN: &str = "bench-admin-token";
const CONNECTIONS: [usize; 4] = [4, 16, 64, 128];
const RATE_CONNECTIONS: [usize; 3] = [8, 32, 128];
const BATCH: u64 = 100;

fn plan() -> EventPlan {
    let march = Period {
        year: 2024,
        month: 3,
    };
    EventPlan::new(1000, 1, BATCH, march).expect("a valid plan")
}

/// The client's cost per batch: render 100 events as a CloudEvents batch (`event::wire`).
fn batch_build(c: &mut Criterion) {
    let plan = plan();
    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements(BATCH));
    let mut next = 0u64;
    group.bench_function("build_100_events", |b| {
        b.iter(|| {
            next += 1;
            black_box(plan.body(next))
        })
    });
    let body = plan.body(7);
    group.bench_function("parse_100_events", |b| b.iter(|| black_box(parse(&body))));
    // The reference decoding (the server's error path, its only path before the typed one).
    group.bench_function("parse_reference_100_events", |b| {
        b.iter(|| black_box(parse_reference(&body)))
    });
    // The JSON step of the reference alone, to split its cost between serde_json and
    // `event::wire`.
    group.bench_function("parse_reference_json_only_100_events", |b| {
        b.iter(|| black_box(serde_json::from_slice::<Vec<CloudEvent>>(&body).map(|v| v.len())))
    });
    group.finish();
}

/// What `fleetsim serve` does to a valid body before the store: JSON → typed events, on its
/// fast path (the reference decoding only if that declines).
fn parse(body: &[u8]) -> usize {
    match decode_fast(body) {
        Some(events) => events.len(),
        None => parse_reference(body),
    }
}

/// The reference decoding: JSON → `CloudEvent`s (data as `serde_json::Value`) → typed events.
fn parse_reference(body: &[u8]) -> usize {
    let Ok(batch) = serde_json::from_slice::<Vec<CloudEvent>>(body) else {
        return 0;
    };
    batch.iter().filter(|c| from_cloudevent(c).is_ok()).count()
}

/// What admitting a tenant's request costs before its events are decoded: the key's SHA-256
/// and lookup, then the tenant check of each of its 100 machines (under the view's read lock,
/// as a request takes it).
fn authorization(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = AccessStore::open(&dir.path().join("a.sqlite")).expect("access store");
    let (_, _, key) = store.mint_key("T1").expect("key");
    let machines: Vec<_> = plan().bindings().collect();
    store
        .bind(&vec![("T1".to_string(), machines)])
        .expect("bind");
    let events = plan().batch(7);
    let mut group = c.benchmark_group("auth");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("key_and_100_machines", |b| {
        b.iter(|| {
            let access = store.read();
            let caller = access.authenticate(black_box(&key));
            black_box(events.iter().all(|e| access.tenant_of(e.machine) == caller))
        })
    });
    group.finish();
}

criterion_group!(micro, batch_build, authorization);

fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    micro();
    Criterion::default().configure_from_args().final_summary();
    if "ceiling".contains(filter.as_str()) || filter.contains("ceiling") {
        ceilings();
    }
}

fn seconds() -> String {
    std::env::var("HTTP_INGEST_SECONDS").unwrap_or_else(|_| "5".into())
}

fn ceilings() {
    println!("\n== parse-and-discard handler (HTTP + JSON, no store; in this process, so the");
    println!("   sender CPU line counts the handler too) ==");
    let discard = DiscardServer::start();
    for c in CONNECTIONS {
        max_run(&discard.url, c, false);
    }
    println!("\n== fleetsim serve (HTTP + JSON + SQLite group commit) ==");
    let (mut best, mut best_connections) = (0.0f64, CONNECTIONS[0]);
    for c in CONNECTIONS {
        let server = Server::start();
        let rate = max_run(&server.inner.url, c, true).rate.events_per_second;
        if rate > best {
            (best, best_connections) = (rate, c);
        }
    }
    let rate = ((best * 0.8) as u64 / BATCH * BATCH).max(BATCH);
    // Latency at a constant rate depends on how many requests share a group commit: fewer
    // connections, smaller groups and shorter waits, as long as they keep up with the rate.
    for connections in RATE_CONNECTIONS {
        println!(
            "\n== fleetsim serve at 80% of its best ceiling ({best_connections} connections): {rate} events/s, {connections} connections =="
        );
        let server = Server::start();
        let (rate, duration) = (rate.to_string(), seconds());
        let connections = connections.to_string();
        let report = load(&[
            "--target",
            &server.inner.url,
            "--rate",
            &rate,
            "--connections",
            &connections,
            "--duration",
            &duration,
            // Every body built before the run, so that the sender's own cost stays off the clock.
            "--bodies",
            "prebuilt",
            "--prebuild-mb",
            "2048",
            "--admin-token",
            TOKEN,
        ]);
        print!("{}", report.human());
    }
}

/// A closed-loop run; `fleetsim` targets are provisioned and verified, the discard handler
/// (which stores nothing) is not.
fn max_run(url: &str, connections: usize, fleetsim: bool) -> LoadReport {
    let connections = connections.to_string();
    let duration = seconds();
    let mut argv = vec![
        "--target",
        url,
        "--max",
        "--connections",
        &connections,
        "--duration",
        &duration,
        // Enough prebuilt bodies for the fastest closed loop here (~3.6k requests/s × 5 s).
        "--prebuild-mb",
        "1024",
    ];
    if fleetsim {
        argv.extend(["--admin-token", TOKEN]);
    } else {
        argv.push("--no-verify");
    }
    let report = load(&argv);
    print!("{}", report.human());
    report
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    load: LoadArgs,
}

fn load(flags: &[&str]) -> LoadReport {
    println!("$ fleetsim load {}", flags.join(" "));
    let args = Cli::try_parse_from([&["load"], flags].concat())
        .unwrap_or_else(|e| panic!("{e}"))
        .load;
    let plan = LoadPlan::from_args(&args).unwrap_or_else(|e| panic!("{e}"));
    let report = run_load(&plan).unwrap_or_else(|e| panic!("{e}"));
    if exit_code(&report) != 0 {
        eprintln!("(exit code {})", exit_code(&report));
    }
    report
}

#[path = "../tests/common/server.rs"]
mod server;

/// A real `fleetsim serve` on a store in its own temporary folder.
struct Server {
    inner: server::Server,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        Server {
            inner: server::Server::start(&dir.path().join("m.sqlite"), TOKEN, &[]),
            _dir: dir,
        }
    }
}

/// An axum server in this process whose `POST /v1/events` decodes the batch as
/// `fleetsim serve` does (`parse`) and discards it, answering a receipt so the generator counts it.
struct DiscardServer {
    url: String,
    _runtime: tokio::runtime::Runtime,
}

impl DiscardServer {
    fn start() -> DiscardServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let app = Router::new()
            .route("/v1/events", post(discard))
            .route("/healthz", get(|| async { "ok\n" }));
        runtime.spawn(async move { axum::serve(listener, app).await });
        DiscardServer {
            url,
            _runtime: runtime,
        }
    }
}

async fn discard(body: Bytes) -> String {
    let parsed = parse(&body);
    format!(
        "{{\"accepted\":{parsed},\"duplicates\":0,\"rejected\":{{\"unknown_machine\":0,\"wrong_shop\":0}}}}"
    )
}
