//! The sender's HTTP/1.1 exchange: one keep-alive `tokio::net::TcpStream` per connection,
//! strictly one request at a time, on the task that measures it (no connection task to hand
//! requests to, as hyper's client has). A request is its prebuilt head (request line, Host,
//! Content-Type, the run's headers; only Content-Length is written per request) and its body,
//! sent with vectored writes, the body a shared `Bytes` (never copied into a buffer); the
//! answer is read into the connection's reused buffer and parsed by `answer`.
//!
//! Why not hyper's client: what it does for a request (a dispatch between the request's task
//! and the connection's, header maps, a request and a response object, allocations) cost ≈ 8×
//! wrk's user-space instructions per request (README, "The sender against wrk"); a sender only
//! ever needs one request shape and the status and body of the answer.
//!
//! Failures, as `Answer::Transport` kinds (`series::classify` maps them to classes):
//! `host_not_found` and `connection_failed` (connecting), `timeout` (connecting, or no whole
//! answer within the timeout), `io` (the connection broke or closed mid-exchange), `protocol`
//! (the answer is not well-formed HTTP/1.x, or breaks a bound of `answer`). After any failure
//! the connection is dropped and the next request opens a new one; so after an answer that
//! ends the connection (`Connection: close`, HTTP/1.0, bytes past the answer) or when the
//! server closed it while it was idle.

use super::answer::{AnswerBuffer, ProtocolError};
use super::LoadError;
use crate::http::CLOUDEVENTS_BATCH_JSON;
use axum::http::{HeaderName, HeaderValue, Uri};
use bytes::Bytes;
use std::future::poll_fn;
use std::io::IoSlice;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// What a request got back.
pub(super) enum Answer<'a> {
    /// The body is lent by the connection's read buffer until its next exchange.
    Response {
        status: u16,
        body: &'a [u8],
    },
    Transport {
        kind: &'static str,
        detail: String,
    },
}

/// Where the requests go, parsed once: the connections' addresses and the requests' heads.
pub(super) struct Endpoint {
    /// The target's addresses, resolved once for the run (empty: the name did not resolve).
    addrs: Vec<SocketAddr>,
    authority: String,
    /// An ingestion request's head up to its Content-Length.
    events_head: Vec<u8>,
    /// The same without the run's Authorization headers, for requests with their own key.
    events_head_anonymous: Vec<u8>,
    /// The whole head of the health request (no body).
    health_head: Vec<u8>,
}

/// One request: which head, and the body (shared, not copied).
pub(super) struct Request<'a> {
    head: Head<'a>,
    body: Bytes,
}

enum Head<'a> {
    Events,
    /// An ingestion request with its own Authorization value.
    EventsAs(&'a HeaderValue),
    Health,
}

impl Endpoint {
    /// `headers`: every header of an ingestion request but Content-Type and Host.
    pub(super) fn new(
        events_url: &str,
        health_url: &str,
        headers: &[(String, String)],
    ) -> Result<Endpoint, LoadError> {
        let events: Uri = parse_url(events_url)?;
        let health: Uri = parse_url(health_url)?;
        let authority = events
            .authority()
            .map(|a| a.as_str().to_string())
            .ok_or_else(|| bad_url(events_url, "no host"))?;
        let port = events.port_u16().unwrap_or(80);
        let host = events.host().unwrap_or_default().trim_matches(['[', ']']);
        // Resolved once (not per connection or request): the target does not move mid-run.
        let addrs = (host, port)
            .to_socket_addrs()
            .map(|a| a.collect())
            .unwrap_or_default();
        header_value("Host", &authority)?;
        let mut fields = Vec::new();
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                LoadError::BadInput(format!("--header {name:?}: not a valid header name"))
            })?;
            fields.push((name, header_value("--header", value)?));
        }
        let events_start = request_line("POST", &events, &authority);
        let content_type = field("content-type", CLOUDEVENTS_BATCH_JSON.as_bytes());
        let head_with = |keep: &dyn Fn(&HeaderName) -> bool| {
            let mut head = [events_start.clone(), content_type.clone()].concat();
            for (name, value) in fields.iter().filter(|(n, _)| keep(n)) {
                head.extend(field(name.as_str(), value.as_bytes()));
            }
            head
        };
        let is_auth = |n: &HeaderName| n == axum::http::header::AUTHORIZATION;
        let mut health_head = request_line("GET", &health, &authority);
        health_head.extend_from_slice(b"\r\n");
        Ok(Endpoint {
            addrs,
            authority,
            events_head: head_with(&|_| true),
            events_head_anonymous: head_with(&|n| !is_auth(n)),
            health_head,
        })
    }

    /// An ingestion request; the body is shared, not copied.
    pub(super) fn events(&self, body: Bytes) -> Request<'static> {
        Request {
            head: Head::Events,
            body,
        }
    }

    /// An ingestion request with its own credentials (a shop's key), replacing any static
    /// Authorization header.
    pub(super) fn events_as<'a>(&self, body: Bytes, auth: &'a HeaderValue) -> Request<'a> {
        Request {
            head: Head::EventsAs(auth),
            body,
        }
    }

    fn health(&self) -> Request<'static> {
        Request {
            head: Head::Health,
            body: Bytes::new(),
        }
    }

    /// `request`'s head, into `out` (cleared first).
    fn write_head(&self, out: &mut Vec<u8>, request: &Request) {
        out.clear();
        match request.head {
            Head::Health => return out.extend_from_slice(&self.health_head),
            Head::Events => out.extend_from_slice(&self.events_head),
            Head::EventsAs(auth) => {
                out.extend_from_slice(&self.events_head_anonymous);
                out.extend(field("authorization", auth.as_bytes()));
            }
        }
        out.extend_from_slice(b"content-length: ");
        push_decimal(out, request.body.len());
        out.extend_from_slice(b"\r\n\r\n");
    }
}

/// `METHOD /path HTTP/1.1` and the Host field (the origin form: no scheme or host).
fn request_line(method: &str, uri: &Uri, authority: &str) -> Vec<u8> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut line = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
    line.extend(field("host", authority.as_bytes()));
    line
}

fn field(name: &str, value: &[u8]) -> Vec<u8> {
    [name.as_bytes(), b": ", value, b"\r\n"].concat()
}

/// `n` in decimal (itoa: no formatting machinery, once per request).
fn push_decimal(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn parse_url(url: &str) -> Result<Uri, LoadError> {
    let uri: Uri = url.parse().map_err(|_| bad_url(url, "not a URL"))?;
    match uri.scheme_str() {
        Some("http") => Ok(uri),
        _ => Err(bad_url(url, "only http:// is supported")),
    }
}

fn bad_url(url: &str, what: &str) -> LoadError {
    LoadError::BadInput(format!("--target {url:?}: {what}"))
}

fn header_value(what: &str, value: &str) -> Result<HeaderValue, LoadError> {
    HeaderValue::from_str(value)
        .map_err(|_| LoadError::BadInput(format!("{what} {value:?}: not a valid header value")))
}

/// One keep-alive connection, strictly one request at a time (like a real gateway); it
/// reconnects before the next request after a failure or when the server closed it.
pub(super) struct Connection {
    endpoint: Arc<Endpoint>,
    timeout: Duration,
    stream: Option<TcpStream>,
    /// The request head being sent, rewritten in place for each request.
    head: Vec<u8>,
    answer: AnswerBuffer,
}

/// Why an exchange got no answer.
enum Failure {
    Io(std::io::Error),
    /// The server closed the connection after this many bytes of the answer.
    Closed(usize),
    Protocol(ProtocolError),
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::Io(e)
    }
}

impl From<ProtocolError> for Failure {
    fn from(e: ProtocolError) -> Failure {
        Failure::Protocol(e)
    }
}

impl Connection {
    /// A connection to `endpoint`, opened (a health request) so that its connect is not in
    /// the first latency.
    pub(super) async fn warm(endpoint: Arc<Endpoint>, timeout: Duration) -> Connection {
        let mut connection = Connection::new(endpoint, timeout);
        let health = connection.endpoint.health();
        let _ = connection.exchange(health).await;
        connection
    }

    /// A connection not opened yet (the first request opens it).
    fn new(endpoint: Arc<Endpoint>, timeout: Duration) -> Connection {
        Connection {
            endpoint,
            timeout,
            stream: None,
            head: Vec::new(),
            answer: AnswerBuffer::default(),
        }
    }

    /// Sends one request and reads its whole answer: connecting (if needed) within the
    /// timeout, then the exchange within the timeout. After a failure the connection is
    /// dropped, since its state is unknown.
    pub(super) async fn exchange(&mut self, request: Request<'_>) -> Answer<'_> {
        let timeout = self.timeout;
        let mut stream = match self.stream.take().filter(idle_and_open) {
            Some(stream) => stream,
            None => match connect(&self.endpoint, timeout).await {
                Ok(stream) => stream,
                Err(failure) => return failure,
            },
        };
        self.endpoint.write_head(&mut self.head, &request);
        self.answer.clear();
        let exchange = round_trip(&mut stream, &self.head, &request.body, &mut self.answer);
        let failure = match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok((status, close))) => {
                self.stream = (!close).then_some(stream);
                let body = self.answer.body();
                return Answer::Response { status, body };
            }
            Ok(Err(failure)) => failure,
            Err(_) => {
                return Answer::Transport {
                    kind: "timeout",
                    detail: format!("no complete answer within {timeout:?}"),
                }
            }
        };
        let authority = &self.endpoint.authority;
        let (kind, detail) = match failure {
            Failure::Io(e) => ("io", format!("{authority}: {e}")),
            Failure::Closed(0) => ("io", format!("{authority}: closed before answering")),
            Failure::Closed(n) => (
                "io",
                format!("{authority}: closed after {n} bytes of an answer"),
            ),
            Failure::Protocol(e) => ("protocol", format!("{authority}: {e}")),
        };
        Answer::Transport { kind, detail }
    }
}

/// Whether a kept connection can carry the next request: not closed by the server (a read
/// would see the end) nor holding bytes nobody asked for. Costs no system call while the
/// socket is known not readable, as after the short read that ended the last answer.
fn idle_and_open(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// A new connection within `timeout`.
async fn connect(endpoint: &Endpoint, timeout: Duration) -> Result<TcpStream, Answer<'static>> {
    if endpoint.addrs.is_empty() {
        return Err(Answer::Transport {
            kind: "host_not_found",
            detail: format!("{}: the host name does not resolve", endpoint.authority),
        });
    }
    let failed = |kind, e: &dyn std::fmt::Display| Answer::Transport {
        kind,
        detail: format!("{}: {e}", endpoint.authority),
    };
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(&endpoint.addrs[..])).await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(failed("connection_failed", &e)),
        Err(_) => return Err(failed("timeout", &"connect timed out")),
    };
    // One request at a time per connection: Nagle would only hold the last segment back.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Writes the request, reads the answer into `answer`: its status, and whether the
/// connection must close after it.
async fn round_trip(
    stream: &mut TcpStream,
    head: &[u8],
    body: &[u8],
    answer: &mut AnswerBuffer,
) -> Result<(u16, bool), Failure> {
    write_all(stream, head, body).await?;
    read_answer(stream, answer).await
}

/// Head and body in as few writes as the socket takes (one, unless its buffer is full).
async fn write_all(
    stream: &mut TcpStream,
    mut head: &[u8],
    mut body: &[u8],
) -> std::io::Result<()> {
    while !head.is_empty() || !body.is_empty() {
        let parts = [IoSlice::new(head), IoSlice::new(body)];
        let n = poll_fn(|cx| Pin::new(&mut *stream).poll_write_vectored(cx, &parts)).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let from_head = n.min(head.len());
        head = &head[from_head..];
        body = &body[n - from_head..];
    }
    Ok(())
}

/// Reads until `answer` holds a whole answer (or the server closes the connection).
async fn read_answer(
    stream: &mut TcpStream,
    answer: &mut AnswerBuffer,
) -> Result<(u16, bool), Failure> {
    loop {
        if let Some(found) = answer.parse(false)? {
            return Ok(found);
        }
        let n = read(stream, answer.spare()).await?;
        if n == 0 {
            // Only a body delimited by the end of the connection is whole now.
            return answer
                .parse(true)?
                .ok_or(Failure::Closed(answer.received()));
        }
        answer.advance(n);
    }
}

/// One read into `into`; 0 at the end of the connection. Through `AsyncRead` rather than
/// `try_read`: a short read there marks the socket drained, so that the next request's
/// `idle_and_open` and first read cost no system call.
async fn read(stream: &mut TcpStream, into: &mut [u8]) -> std::io::Result<usize> {
    let mut buf = ReadBuf::new(into);
    poll_fn(|cx| Pin::new(&mut *stream).poll_read(cx, &mut buf)).await?;
    Ok(buf.filled().len())
}

#[cfg(test)]
mod tests;
