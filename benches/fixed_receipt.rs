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
use fleetsim::http::server::{ReceiptBody, RejectedBody};
use fleetsim::http::CLOUDEVENTS_BATCH_JSON;
use fleetsim::load::events::EventPlan;
use fleetsim::load::{run_load, LoadArgs, LoadPlan};
use fleetsim::metering::Period;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// The one answer to every batch: what a server that accepted a 100-event batch returns.
fn receipt() -> String {
    serde_json::to_string(&ReceiptBody {
        accepted: 100,
        duplicates: 0,
        rejected: RejectedBody {
            unknown_machine: 0,
            wrong_shop: 0,
        },
    })
    .expect("a receipt serializes")
}

/// A whole HTTP/1.1 response with `body` as JSON.
fn response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves on `addr` for `seconds` on the calling thread (a current-thread runtime).
///
/// Raw HTTP/1.1 over tokio, not axum: the endpoint must cost less per request than the
/// clients it measures, or both measure the endpoint. It reads each request in full (head and
/// `content-length` bytes of body), one at a time per connection, and answers every POST with
/// the fixed receipt and anything else with `{}` (the health check).
fn serve(addr: &str, seconds: u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (post, other) = (Arc::new(response(&receipt())), Arc::new(response("{}")));
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let accept = async {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let (post, other) = (Arc::clone(&post), Arc::clone(&other));
                tokio::spawn(async move { answer_all(stream, &post, &other).await });
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(seconds), accept).await;
    });
}

/// Answers the requests of one connection until the client closes it (or sends garbage).
async fn answer_all(stream: TcpStream, post: &[u8], other: &[u8]) -> std::io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut have = 0;
    loop {
        let head = loop {
            if let Some(i) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if have == buf.len() {
                return Ok(());
            }
            match read(&stream, &mut buf[have..]).await? {
                0 => return Ok(()),
                n => have += n,
            }
        };
        let length = content_length(&buf[..head]);
        let answer = if buf.starts_with(b"POST") {
            post
        } else {
            other
        };
        // The body: what is already in the buffer, then reads until all of it has come.
        let buffered = have - head;
        if buffered >= length {
            buf.copy_within(head + length..have, 0);
            have = buffered - length;
        } else {
            let mut missing = length - buffered;
            while missing > 0 {
                let want = missing.min(buf.len());
                match read(&stream, &mut buf[..want]).await? {
                    0 => return Ok(()),
                    n => missing -= n,
                }
            }
            have = 0;
        }
        write_all(&stream, answer).await?;
    }
}

// Readiness and `try_*` rather than tokio's `io-util` traits, a feature the crate does not
// otherwise need.
async fn read(stream: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            done => return done,
        }
    }
}

async fn write_all(stream: &TcpStream, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        stream.writable().await?;
        match stream.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The `content-length` of a request head (0 without one).
fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0)
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
    drop(listener);
    let server_addr = addr.clone();
    std::thread::spawn(move || serve(&server_addr, 30));
    std::thread::sleep(Duration::from_millis(300));
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
