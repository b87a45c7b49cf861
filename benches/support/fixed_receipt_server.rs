//! A raw-HTTP endpoint that reads each batch in full and answers a fixed receipt (no decoding,
//! no store), so that what limits a run against it is the client. Shared by
//! `benches/fixed_receipt.rs` (wrk comparisons) and `benches/hot_paths.rs` (the sender group).

use fleetsim::http::server::{ReceiptBody, RejectedBody};
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

/// Serves on a bound `listener` for `seconds` on the calling thread (a current-thread runtime).
///
/// Raw HTTP/1.1 over tokio, not axum: the endpoint must cost less per request than the
/// clients it measures, or both measure the endpoint. It reads each request in full (head and
/// `content-length` bytes of body), one at a time per connection, and answers every POST with
/// the fixed receipt and anything else with `{}` (the health check).
pub fn serve_on(listener: std::net::TcpListener, seconds: u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (post, other) = (Arc::new(response(&receipt())), Arc::new(response("{}")));
    runtime.block_on(async {
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
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
