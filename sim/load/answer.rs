//! Reading an HTTP/1.1 answer for the sender's lean exchange (`exchange.rs`): the head with
//! `httparse`, then the body as the head frames it (`Content-Length`, `Transfer-Encoding:
//! chunked`, or up to the end of the connection), informational (1xx) answers skipped.
//!
//! `AnswerBuffer` is one connection's read buffer, reused across requests: bytes are read into
//! it, and `parse` reads the whole answer from the start of the buffer each time more bytes
//! came in, but only once enough are there to be worth it (`need`: a Content-Length body is not
//! looked at again until all of it arrived). An answer nearly always arrives in one read, so
//! parsing from the start costs nothing in practice and keeps the parser a pure function of
//! the bytes, which is what the tests check (any split of an answer parses the same). The
//! price: a chunked body is decoded again from its start whenever a read completes a chunk,
//! which is nothing for receipts and error pages but quadratic for a body of megabytes in small
//! chunks (not what an ingestion endpoint answers).
//!
//! Bounded: the heads of an answer (its 1xx ones included) must fit in `MAX_HEAD_BYTES`, a
//! chunk-size line or the trailers likewise; beyond, or for anything that is not HTTP/1.x, the
//! answer is a `ProtocolError` and the connection is not reused.

use std::mem::MaybeUninit;
use std::ops::Range;

/// The most bytes of heads (informational ones included) an answer may have.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The most header fields one head (or the trailers) may have.
const MAX_HEADERS: usize = 64;
/// The read buffer's size when it is created, and the least free space before a read.
const READ_CHUNK: usize = 16 * 1024;

/// An answer that is not well-formed HTTP/1.x, or breaks a bound: the exchange's `protocol`
/// error class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed HTTP answer: {}", self.0)
    }
}

fn protocol<T>(what: impl Into<String>) -> Result<T, ProtocolError> {
    Err(ProtocolError(what.into()))
}

/// A whole final answer, as found in the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub status: u16,
    pub body: Body,
    /// Bytes of the buffer the answer took, its 1xx heads included.
    pub consumed: usize,
    /// The connection must not carry another request (`Connection: close`, HTTP/1.0 without
    /// keep-alive, a body delimited by the end of the connection).
    pub close: bool,
}

/// Where the body is: in the buffer as it came (Content-Length, end of connection), or
/// decoded from chunks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Within(Range<usize>),
    Decoded(Vec<u8>),
}

/// What the bytes so far amount to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    Complete(Parsed),
    /// Not a whole answer yet: nothing to learn before the buffer holds `need` bytes.
    Partial {
        need: usize,
    },
}

/// How the final head frames its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(usize),
    Chunked,
    UntilClose,
}

/// The final head: status, framing, whether the connection closes, and where the body starts.
struct Head {
    status: u16,
    framing: Framing,
    close: bool,
    end: usize,
}

/// Reads the answer at the start of `buf`; `eof`: the peer closed the connection after these
/// bytes (which completes a body delimited by the end of the connection).
pub fn parse(buf: &[u8], eof: bool) -> Result<Progress, ProtocolError> {
    let Some(head) = final_head(buf)? else {
        return Ok(Progress::Partial {
            need: buf.len() + 1,
        });
    };
    let complete = |body, end, close| {
        Ok(Progress::Complete(Parsed {
            status: head.status,
            body,
            consumed: end,
            close: close || head.close,
        }))
    };
    match head.framing {
        Framing::Empty => complete(Body::Within(head.end..head.end), head.end, false),
        Framing::Length(n) => {
            let end = head.end.checked_add(n).ok_or_else(too_long)?;
            if buf.len() < end {
                return Ok(Progress::Partial { need: end });
            }
            complete(Body::Within(head.end..end), end, false)
        }
        Framing::UntilClose if eof => complete(Body::Within(head.end..buf.len()), buf.len(), true),
        Framing::UntilClose => Ok(Progress::Partial {
            need: buf.len() + 1,
        }),
        Framing::Chunked => match chunks(buf, head.end)? {
            Chunks::Done { body, end } => complete(Body::Decoded(body), end, false),
            Chunks::Partial { need } => Ok(Progress::Partial { need }),
        },
    }
}

fn too_long() -> ProtocolError {
    ProtocolError("a body longer than memory".into())
}

/// The final head, after skipping informational ones; `None` while incomplete.
fn final_head(buf: &[u8]) -> Result<Option<Head>, ProtocolError> {
    let mut at = 0;
    loop {
        // Left uninitialised: filling 64 empty fields per answer costs more than parsing it.
        let mut fields = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut []);
        let status = httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut response, &buf[at..], &mut fields)
            .or_else(|e| protocol(e.to_string()))?;
        let httparse::Status::Complete(len) = status else {
            if buf.len() > MAX_HEAD_BYTES {
                return protocol(format!("a head over {MAX_HEAD_BYTES} bytes"));
            }
            return Ok(None);
        };
        if at + len > MAX_HEAD_BYTES {
            return protocol(format!("a head over {MAX_HEAD_BYTES} bytes"));
        }
        let code = response.code.unwrap_or(0);
        match code {
            0..=99 => return protocol(format!("status {code}")),
            101 => return protocol("101 Switching Protocols, which was not asked for"),
            100..=199 => at += len,
            _ => return head_of(&response, at + len).map(Some),
        }
    }
}

fn head_of(response: &httparse::Response, end: usize) -> Result<Head, ProtocolError> {
    let status = response.code.unwrap_or(0);
    let mut length: Option<usize> = None;
    let mut coding: Option<&[u8]> = None;
    let (mut close, mut keep_alive) = (false, false);
    for field in response.headers.iter() {
        let name = field.name;
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(content_length(field.value, length)?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // The last coding applied is the one that frames the body.
            coding = tokens(field.value).last().or(coding);
        } else if name.eq_ignore_ascii_case("connection") {
            for token in tokens(field.value) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    // HTTP/1.0 closes after each answer unless it says otherwise.
    close |= response.version == Some(0) && !keep_alive;
    let framing = match (status, coding, length) {
        (204 | 304, _, _) => Framing::Empty,
        (_, Some(c), _) if c.eq_ignore_ascii_case(b"chunked") => Framing::Chunked,
        (_, Some(_), _) => Framing::UntilClose,
        (_, None, Some(n)) => Framing::Length(n),
        (_, None, None) => Framing::UntilClose,
    };
    // Both framings at once is how requests get smuggled: read it, but do not reuse.
    close |= coding.is_some() && length.is_some();
    close |= framing == Framing::UntilClose;
    Ok(Head {
        status,
        framing,
        close,
        end,
    })
}

/// A Content-Length value (a list of equal values is one), consistent with any earlier one.
fn content_length(value: &[u8], earlier: Option<usize>) -> Result<usize, ProtocolError> {
    let mut found = earlier;
    for token in value.split(|b| *b == b',').map(trim) {
        match (decimal(token), found) {
            (None, _) => return protocol(format!("Content-Length {:?}", show(value))),
            (Some(n), Some(f)) if n != f => {
                return protocol(format!("Content-Lengths {f} and {n} disagree"))
            }
            (Some(n), _) => found = Some(n),
        }
    }
    found.map_or_else(|| protocol("an empty Content-Length"), Ok)
}

/// Digits only (no sign, no space), within `usize`.
fn decimal(token: &[u8]) -> Option<usize> {
    if token.is_empty() {
        return None;
    }
    token.iter().try_fold(0usize, |n, b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(usize::from(digit))
    })
}

/// The comma-separated tokens of a field value, trimmed, empty ones left out.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|b| *b == b',')
        .map(trim)
        .filter(|t| !t.is_empty())
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace());
    match (start, end) {
        (Some(s), Some(e)) => &bytes[s..=e],
        _ => &[],
    }
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

enum Chunks {
    Done { body: Vec<u8>, end: usize },
    Partial { need: usize },
}

/// A chunked body from `at`: chunks (extensions ignored), the last chunk, then trailers.
fn chunks(buf: &[u8], mut at: usize) -> Result<Chunks, ProtocolError> {
    let mut body = Vec::new();
    loop {
        let line = match httparse::parse_chunk_size(&buf[at..]) {
            Ok(httparse::Status::Complete(line)) => line,
            Ok(httparse::Status::Partial) if buf.len() - at > MAX_HEAD_BYTES => {
                return protocol(format!("a chunk-size line over {MAX_HEAD_BYTES} bytes"));
            }
            Ok(httparse::Status::Partial) => return Ok(partial(buf)),
            Err(_) => return protocol(format!("a chunk size {:?}", show(line_at(buf, at)))),
        };
        at += line.0;
        if line.1 == 0 {
            return trailers(buf, at, body);
        }
        let size = usize::try_from(line.1).map_err(|_| too_long())?;
        let end = at.checked_add(size).and_then(|e| e.checked_add(2));
        let end = end.ok_or_else(too_long)?;
        if buf.len() < end {
            return Ok(Chunks::Partial { need: end });
        }
        if &buf[end - 2..end] != b"\r\n" {
            return protocol("a chunk not followed by CRLF");
        }
        body.extend_from_slice(&buf[at..end - 2]);
        at = end;
    }
}

/// The trailer fields after the last chunk, up to the empty line (read, not kept).
fn trailers(buf: &[u8], at: usize, body: Vec<u8>) -> Result<Chunks, ProtocolError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match httparse::parse_headers(&buf[at..], &mut fields) {
        Ok(httparse::Status::Complete((len, _))) => Ok(Chunks::Done {
            body,
            end: at + len,
        }),
        Ok(httparse::Status::Partial) if buf.len() - at > MAX_HEAD_BYTES => {
            protocol(format!("trailers over {MAX_HEAD_BYTES} bytes"))
        }
        Ok(httparse::Status::Partial) => Ok(partial(buf)),
        Err(e) => protocol(format!("trailers: {e}")),
    }
}

fn partial(buf: &[u8]) -> Chunks {
    Chunks::Partial {
        need: buf.len() + 1,
    }
}

/// The line starting at `at`, at most 40 bytes of it (for an error message).
fn line_at(buf: &[u8], at: usize) -> &[u8] {
    let rest = &buf[at..];
    let end = rest
        .iter()
        .position(|b| *b == b'\r' || *b == b'\n')
        .unwrap_or(rest.len());
    &rest[..end.min(40)]
}

/// One connection's read buffer, reused from answer to answer.
pub struct AnswerBuffer {
    buf: Vec<u8>,
    filled: usize,
    need: usize,
    /// The last whole answer, whose body `body` lends until the next `clear`.
    last: Option<Parsed>,
}

impl Default for AnswerBuffer {
    fn default() -> AnswerBuffer {
        AnswerBuffer {
            buf: vec![0; READ_CHUNK],
            filled: 0,
            need: 1,
            last: None,
        }
    }
}

impl AnswerBuffer {
    /// Free space to read into (at least `READ_CHUNK`/2 bytes; the buffer doubles when full).
    pub fn spare(&mut self) -> &mut [u8] {
        if self.buf.len() - self.filled < READ_CHUNK / 2 {
            let doubled = self.buf.len() * 2;
            self.buf.resize(doubled, 0);
        }
        &mut self.buf[self.filled..]
    }

    /// `n` more bytes were read into `spare()`.
    pub fn advance(&mut self, n: usize) {
        self.filled += n;
    }

    /// Bytes of the current answer received so far.
    pub fn received(&self) -> usize {
        self.filled
    }

    /// The whole answer's status and whether the connection must close after it, once it is
    /// there (its body is then `body()`); `eof`: nothing more will come.
    pub fn parse(&mut self, eof: bool) -> Result<Option<(u16, bool)>, ProtocolError> {
        if self.filled < self.need && !eof {
            return Ok(None);
        }
        match parse(&self.buf[..self.filled], eof)? {
            Progress::Complete(parsed) => {
                // Bytes past the answer: the server answered what was not asked.
                let close = parsed.close || parsed.consumed != self.filled;
                let status = parsed.status;
                self.last = Some(parsed);
                Ok(Some((status, close)))
            }
            Progress::Partial { need } => {
                self.need = need;
                Ok(None)
            }
        }
    }

    /// The body of the answer `parse` last found whole (empty before any).
    pub fn body(&self) -> &[u8] {
        match self.last.as_ref().map(|p| &p.body) {
            Some(Body::Within(range)) => &self.buf[range.clone()],
            Some(Body::Decoded(bytes)) => bytes,
            None => &[],
        }
    }

    /// Forgets the last answer and whatever was read, for the next answer (or a new
    /// connection).
    pub fn clear(&mut self) {
        self.filled = 0;
        self.need = 1;
        self.last = None;
        // A large body grew the buffer: give the memory back rather than keep it per connection.
        if self.buf.len() > 4 * READ_CHUNK {
            self.buf = vec![0; READ_CHUNK];
        }
    }
}

#[cfg(test)]
mod tests;
