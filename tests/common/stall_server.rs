//! An ingestion endpoint that stalls, for `fleetsim load`'s tests: it answers each
//! `POST /v1/events` with a fixed fleetsim receipt (`http::server::ReceiptBody`'s shape), but
//! periodically answers nothing for a while (holding the requests that arrive, then answering
//! them), and answers some requests with errors, each class counted. `GET /healthz` is 200.
//!
//! The stalls are timed from the first events request (the load's start, give or take a
//! millisecond): windows `[first + k × period, first + k × period + stall)`. std threads on
//! 127.0.0.1, bounded: it stops accepting when dropped or after `LIFETIME`, and a connection
//! idle for `IDLE` is closed. Include with `#[path = "common/stall_server.rs"] mod stall_server;`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const LIFETIME: Duration = Duration::from_secs(120);
const IDLE: Duration = Duration::from_secs(30);

/// When it stalls and which requests it fails (every n-th events request; 0: never).
#[derive(Clone, Copy, Debug)]
pub struct Behaviour {
    pub first_stall: Duration,
    pub period: Duration,
    pub stall: Duration,
    pub every_503: u64,
    pub every_422: u64,
    /// A 200 whose receipt rejects one event (unknown machine).
    pub every_rejecting: u64,
}

impl Behaviour {
    /// The stall windows starting before `until`, from the first events request.
    pub fn windows(&self, until: Duration) -> Vec<(Duration, Duration)> {
        (0u32..)
            .map(|k| self.first_stall + self.period * k)
            .take_while(|start| *start < until)
            .map(|start| (start, start + self.stall))
            .collect()
    }

    /// When a request arriving `since_first` after the first may be answered.
    fn answer_at(&self, since_first: Duration) -> Duration {
        let Some(into) = since_first.checked_sub(self.first_stall) else {
            return since_first;
        };
        let period = self.period.as_nanos().max(1);
        let phase = Duration::from_nanos((into.as_nanos() % period) as u64);
        if phase < self.stall {
            since_first + (self.stall - phase)
        } else {
            since_first
        }
    }
}

struct State {
    behaviour: Behaviour,
    first: OnceLock<Instant>,
    requests: AtomicU64,
    /// What it answered, by the class `fleetsim load` should count it in.
    answered: Mutex<BTreeMap<&'static str, u64>>,
    stop: AtomicBool,
}

pub struct StallServer {
    pub url: String,
    state: Arc<State>,
}

impl StallServer {
    pub fn start(behaviour: Behaviour) -> StallServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            behaviour,
            first: OnceLock::new(),
            requests: AtomicU64::new(0),
            answered: Mutex::new(BTreeMap::new()),
            stop: AtomicBool::new(false),
        });
        let accepting = Arc::clone(&state);
        std::thread::spawn(move || accept(listener, accepting));
        StallServer { url, state }
    }

    /// Events requests answered, by class: `ok`, `http_503`, `validation` (422s and
    /// receipts rejecting an event).
    pub fn answered(&self) -> BTreeMap<&'static str, u64> {
        self.state.answered.lock().unwrap().clone()
    }
}

impl Drop for StallServer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Relaxed);
    }
}

fn accept(listener: TcpListener, state: Arc<State>) {
    listener.set_nonblocking(true).unwrap();
    let started = Instant::now();
    while !state.stop.load(Ordering::Relaxed) && started.elapsed() < LIFETIME {
        match listener.accept() {
            Ok((stream, _)) => {
                let state = Arc::clone(&state);
                std::thread::spawn(move || serve(stream, &state));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// One keep-alive connection, a request at a time, until the client closes it or idles.
fn serve(stream: TcpStream, state: &State) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(IDLE));
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream);
    while let Some(request_line) = read_request(&mut reader) {
        let (status, body) = if request_line.starts_with("POST /v1/events") {
            events(state)
        } else if request_line.starts_with("GET /healthz") {
            (200, "ok".to_string())
        } else {
            (404, "not found".to_string())
        };
        let answer = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if reader.get_mut().write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// The request line, after reading its headers and body; `None` at the end of the stream.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).ok()? == 0 {
        return None;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some(request_line)
}

/// Waits out a stall if one is on, then answers the n-th events request.
fn events(state: &State) -> (u16, String) {
    let first = *state.first.get_or_init(Instant::now);
    let answer_at = state.behaviour.answer_at(first.elapsed());
    if let Some(wait) = answer_at.checked_sub(first.elapsed()) {
        std::thread::sleep(wait);
    }
    let n = state.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let b = &state.behaviour;
    let every = |k: u64| k > 0 && n % k == 0;
    let (class, status, rejected) = if every(b.every_503) {
        ("http_503", 503, 0)
    } else if every(b.every_422) {
        ("validation", 422, 0)
    } else if every(b.every_rejecting) {
        ("validation", 200, 1)
    } else {
        ("ok", 200, 0)
    };
    *state.answered.lock().unwrap().entry(class).or_default() += 1;
    let body = if status == 200 {
        format!(
            r#"{{"accepted":0,"duplicates":0,"rejected":{{"unknown_machine":{rejected},"wrong_shop":0}}}}"#
        )
    } else {
        format!(r#"{{"error":"answered {status} on purpose"}}"#)
    };
    (status, body)
}
