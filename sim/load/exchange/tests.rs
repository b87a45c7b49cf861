//! The exchange against a scripted server on loopback: what goes on the wire, every answer
//! framing read, and the connection kept, renewed or given up as the answers say.

use super::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream as StdStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// What a scripted connection does after reading a request.
#[derive(Clone)]
enum Step {
    Answer(&'static [u8]),
    /// Answers, then closes the connection (without saying so in the answer).
    AnswerAndClose(&'static [u8]),
    /// Reads the request and never answers.
    Silence,
}

/// A server on loopback: connection `i` follows `scripts[i]` (a step per request), then is
/// closed; the requests it read and the connections it accepted are kept for the test.
struct Scripted {
    url: String,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

fn scripted(scripts: Vec<Vec<Step>>) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (count, seen) = (Arc::clone(&accepted), Arc::clone(&requests));
    std::thread::spawn(move || {
        for (stream, script) in listener.incoming().zip(scripts) {
            count.fetch_add(1, Ordering::SeqCst);
            let seen = Arc::clone(&seen);
            // A thread each: a silent connection must not hold the next one up.
            std::thread::spawn(move || serve(stream.unwrap(), script, &seen));
        }
    });
    Scripted {
        url,
        accepted,
        requests,
    }
}

fn serve(mut stream: StdStream, script: Vec<Step>, seen: &Mutex<Vec<Vec<u8>>>) {
    for step in script {
        let Some(request) = read_request(&mut stream) else {
            return;
        };
        seen.lock().unwrap().push(request);
        match step {
            Step::Answer(bytes) => stream.write_all(bytes).unwrap(),
            Step::AnswerAndClose(bytes) => {
                stream.write_all(bytes).unwrap();
                return;
            }
            Step::Silence => std::thread::sleep(Duration::from_secs(2)),
        }
    }
}

/// One request, head and body (by its Content-Length); `None` at the end of the connection.
fn read_request(stream: &mut StdStream) -> Option<Vec<u8>> {
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        request.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&request).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |n| n.trim().parse::<usize>().unwrap());
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).ok()?;
    request.extend(body);
    Some(request)
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
const CHUNKED: &[u8] =
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3;x=y\r\nchu\r\n4\r\nnked\r\n0\r\nT: 1\r\n\r\n";
const CONTINUE: &[u8] =
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\ncontent-length: 4\r\n\r\nlate";
const CLOSE: &[u8] = b"HTTP/1.1 503 Busy\r\nconnection: close\r\ncontent-length: 4\r\n\r\nbusy";
const GARBAGE: &[u8] = b"SMTP ready\r\n\r\n";

fn endpoint(url: &str, headers: &[(&str, &str)]) -> Arc<Endpoint> {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let events = format!("{url}/v1/events?shop=7");
    Arc::new(Endpoint::new(&events, &format!("{url}/healthz"), &headers).unwrap())
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The status and body, or the failure's kind.
fn outcome(answer: Answer) -> Result<(u16, Vec<u8>), &'static str> {
    match answer {
        Answer::Response { status, body } => Ok((status, body.to_vec())),
        Answer::Transport { kind, .. } => Err(kind),
    }
}

fn ok(status: u16, body: &[u8]) -> Result<(u16, Vec<u8>), &'static str> {
    Ok((status, body.to_vec()))
}

#[test]
fn the_request_on_the_wire_is_the_prebuilt_head_and_the_body() {
    let server = scripted(vec![vec![Step::Answer(OK); 2]]);
    let endpoint = endpoint(
        &server.url,
        &[("Authorization", "Bearer run"), ("X-Run", "7")],
    );
    let body = Bytes::from_static(b"[{\"id\":1}]");
    let shop = HeaderValue::from_static("Bearer shop");
    let got = block_on(async {
        let mut c = Connection::new(Arc::clone(&endpoint), Duration::from_secs(5));
        let first = outcome(c.exchange(endpoint.events(body.clone())).await);
        let second = outcome(c.exchange(endpoint.events_as(body.clone(), &shop)).await);
        (first, second)
    });
    assert_eq!(got, (ok(200, b"ok"), ok(200, b"ok")));
    let authority = server.url.trim_start_matches("http://");
    let common = format!(
        "POST /v1/events?shop=7 HTTP/1.1\r\nhost: {authority}\r\ncontent-type: {CLOUDEVENTS_BATCH_JSON}\r\n"
    );
    let requests = server.requests.lock().unwrap().clone();
    let expected = [
        format!("{common}authorization: Bearer run\r\nx-run: 7\r\ncontent-length: 10\r\n\r\n[{{\"id\":1}}]"),
        format!("{common}x-run: 7\r\nauthorization: Bearer shop\r\ncontent-length: 10\r\n\r\n[{{\"id\":1}}]"),
    ];
    let requests: Vec<String> = requests
        .iter()
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .collect();
    assert_eq!(requests, expected);
    assert_eq!(
        server.accepted.load(Ordering::SeqCst),
        1,
        "one keep-alive connection"
    );
}

#[test]
fn every_framing_is_read_and_connection_close_opens_a_new_connection() {
    let server = scripted(vec![
        vec![
            Step::Answer(OK),
            Step::Answer(CHUNKED),
            Step::Answer(CONTINUE),
            Step::Answer(CLOSE),
        ],
        vec![Step::Answer(OK)],
    ]);
    let endpoint = endpoint(&server.url, &[]);
    let got = block_on(async {
        let mut c = Connection::new(Arc::clone(&endpoint), Duration::from_secs(5));
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(outcome(
                c.exchange(endpoint.events(Bytes::from_static(b"{}"))).await,
            ));
        }
        got
    });
    let expected = [
        ok(200, b"ok"),
        ok(200, b"chunked"),
        ok(202, b"late"),
        ok(503, b"busy"),
        ok(200, b"ok"),
    ];
    assert_eq!(got, expected);
    assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
}

#[test]
fn a_connection_the_server_closed_while_idle_is_replaced_without_a_failure() {
    let server = scripted(vec![vec![Step::AnswerAndClose(OK)], vec![Step::Answer(OK)]]);
    let endpoint = endpoint(&server.url, &[]);
    let got = block_on(async {
        let mut c = Connection::new(Arc::clone(&endpoint), Duration::from_secs(5));
        let first = outcome(c.exchange(endpoint.events(Bytes::new())).await);
        // Idle long enough for the close to reach the event loop.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = outcome(c.exchange(endpoint.events(Bytes::new())).await);
        (first, second)
    });
    assert_eq!(got, (ok(200, b"ok"), ok(200, b"ok")));
    assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
}

#[test]
fn garbage_is_a_protocol_failure_and_silence_a_timeout_each_dropping_the_connection() {
    let server = scripted(vec![
        vec![Step::Answer(GARBAGE)],
        vec![Step::Silence],
        vec![Step::AnswerAndClose(&OK[..OK.len() - 1])],
        vec![Step::Answer(OK)],
    ]);
    let endpoint = endpoint(&server.url, &[]);
    let got = block_on(async {
        let mut c = Connection::new(Arc::clone(&endpoint), Duration::from_millis(300));
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(outcome(c.exchange(endpoint.events(Bytes::new())).await));
        }
        got
    });
    assert_eq!(
        got,
        [Err("protocol"), Err("timeout"), Err("io"), ok(200, b"ok")]
    );
    assert_eq!(server.accepted.load(Ordering::SeqCst), 4);
}

#[test]
fn no_listener_is_a_connect_failure() {
    // A port just freed: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let closed = endpoint(&format!("http://127.0.0.1:{port}"), &[]);
    let got = block_on(async {
        let mut c = Connection::new(Arc::clone(&closed), Duration::from_secs(5));
        outcome(c.exchange(closed.events(Bytes::new())).await)
    });
    assert_eq!(got, Err("connection_failed"));
}

#[test]
fn bad_urls_and_headers_are_bad_input() {
    let refused = |events: &str, headers: &[(String, String)]| match Endpoint::new(
        events,
        "http://h/healthz",
        headers,
    ) {
        Err(LoadError::BadInput(why)) => why,
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("{events} {headers:?} accepted"),
    };
    assert!(refused("https://h/v1/events", &[]).contains("only http://"));
    assert!(refused("not a url", &[]).contains("not a URL"));
    let bad_name = [("Bad Name".to_string(), "v".to_string())];
    assert!(refused("http://h/v1/events", &bad_name).contains("header name"));
    let injected = [("X-A".to_string(), "v\r\nX-B: w".to_string())];
    assert!(refused("http://h/v1/events", &injected).contains("header value"));
}

#[test]
fn decimal_lengths_are_written_as_digits() {
    for n in [0, 7, 10, 25_338, usize::MAX] {
        let mut out = Vec::new();
        push_decimal(&mut out, n);
        assert_eq!(out, n.to_string().into_bytes());
    }
}
