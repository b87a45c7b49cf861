use super::*;
use proptest::prelude::*;

/// What an answer came to, whatever the buffer: status, body, close, bytes taken.
#[derive(Debug, PartialEq, Eq)]
struct Read {
    status: u16,
    body: Vec<u8>,
    close: bool,
}

/// Feeds `pieces` to an `AnswerBuffer` as a connection would (a piece a read, then the end
/// of the connection if `eof`), parsing after each.
fn read_pieces(pieces: &[&[u8]], eof: bool) -> Result<Option<Read>, ProtocolError> {
    let mut buffer = AnswerBuffer::default();
    let mut found = None;
    for piece in pieces {
        // A piece larger than the free space arrives in as many reads as it takes.
        let mut rest = *piece;
        while !rest.is_empty() {
            let spare = buffer.spare();
            let n = rest.len().min(spare.len());
            spare[..n].copy_from_slice(&rest[..n]);
            buffer.advance(n);
            rest = &rest[n..];
        }
        found = buffer.parse(false)?;
        if found.is_some() {
            break;
        }
    }
    if found.is_none() && eof {
        found = buffer.parse(true)?;
    }
    let whole = found.map(|(status, close)| Read {
        status,
        body: buffer.body().to_vec(),
        close,
    });
    buffer.clear();
    assert_eq!(buffer.body(), b"", "cleared");
    Ok(whole)
}

fn read_whole(answer: &[u8]) -> Result<Option<Read>, ProtocolError> {
    read_pieces(&[answer], false)
}

fn read(answer: &[u8]) -> Read {
    read_whole(answer)
        .expect("a well-formed answer")
        .expect("a whole answer")
}

fn refused(answer: &[u8]) -> String {
    match read_pieces(&[answer], true) {
        Err(ProtocolError(why)) => why,
        other => panic!("{:?} was read as {other:?}", show(answer)),
    }
}

const RECEIPT: &[u8] = br#"{"accepted":92,"duplicates":0}"#;

fn with_length(status: &str, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
5;name=value\r\nhello\r\n7 ; quoted=\"a;b\"\r\n, world\r\nA\r\n0123456789\r\n\
0;last=1\r\nX-Checksum: 42\r\nX-More: yes\r\n\r\n";

#[test]
fn a_content_length_answer_is_read_to_its_last_byte_and_no_further() {
    let answer = with_length("200 OK", "", RECEIPT);
    let got = read(&answer);
    assert_eq!((got.status, got.body.as_slice()), (200, RECEIPT));
    assert!(!got.close, "{got:?}");
    // One byte short: not yet an answer.
    let short = read_whole(&answer[..answer.len() - 1]).unwrap();
    assert_eq!(short, None);
    // One byte more: read, but the connection is not reused.
    let mut extra = answer.clone();
    extra.push(b'x');
    assert!(read(&extra).close);
    // Equal values in a list or repeated are one length; an empty body is a body.
    let listed = b"HTTP/1.1 503 Busy\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nno";
    assert_eq!(read(listed).body, b"no");
    assert_eq!(read(&with_length("202 Accepted", "", b"")).body, b"");
}

#[test]
fn a_chunked_body_is_decoded_with_extensions_ignored_and_trailers_read() {
    let got = read(CHUNKED);
    assert_eq!(got.status, 200);
    assert_eq!(got.body, b"hello, world0123456789");
    assert!(!got.close, "{got:?}");
    // The trailers are part of the answer: without their empty line it is not whole.
    assert_eq!(read_whole(&CHUNKED[..CHUNKED.len() - 2]).unwrap(), None);
    let bare = b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(read(bare).body, b"");
}

#[test]
fn informational_answers_are_skipped_for_the_final_one() {
    let mut answer =
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n".to_vec();
    answer.extend(with_length("201 Created", "", b"ok"));
    let got = read(&answer);
    assert_eq!(
        (got.status, got.body.as_slice(), got.close),
        (201, &b"ok"[..], false)
    );
    // An informational answer alone is not an answer yet.
    assert_eq!(read_whole(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap(), None);
    // 101 changes the protocol, which the sender never asks for.
    assert!(refused(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n").contains("101"));
}

#[test]
fn connection_close_and_http_1_0_end_the_connection_after_the_answer() {
    let close = |extra: &str| read(&with_length("200 OK", extra, RECEIPT)).close;
    assert!(close("Connection: close\r\n"));
    assert!(close("connection: Keep-Alive, CLOSE\r\n"));
    assert!(!close("Connection: keep-alive\r\n"));
    assert!(!close(""));
    let old = |extra: &str| {
        let mut answer = with_length("200 OK", extra, RECEIPT);
        answer[7] = b'0';
        read(&answer).close
    };
    assert!(old(""));
    assert!(!old("Connection: keep-alive\r\n"));
    // Both framings: decoded by Transfer-Encoding, and the connection not reused.
    let both = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n\
2\r\nok\r\n0\r\n\r\n";
    let got = read(both);
    assert_eq!((got.body.as_slice(), got.close), (&b"ok"[..], true));
}

#[test]
fn a_body_without_framing_ends_with_the_connection() {
    let answer = b"HTTP/1.1 500 Oops\r\nContent-Type: text/plain\r\n\r\nit broke";
    assert_eq!(read_whole(answer).unwrap(), None);
    let got = read_pieces(&[&answer[..]], true)
        .unwrap()
        .expect("whole at the end");
    assert_eq!((got.status, got.body.as_slice()), (500, &b"it broke"[..]));
    assert!(got.close);
    // A coding other than chunked last: the same.
    let gzip = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nzz";
    assert_eq!(read_pieces(&[gzip], true).unwrap().unwrap().body, b"zz");
    // 204 and 304 have no body whatever the head says.
    let none = read(b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n");
    assert_eq!((none.status, none.body.len(), none.close), (204, 0, false));
}

#[test]
fn a_head_over_the_bound_is_a_protocol_error_whole_or_not() {
    let big = format!("X-Big: {}\r\n", "b".repeat(MAX_HEAD_BYTES));
    let whole = with_length("200 OK", &big, RECEIPT);
    assert!(refused(&whole).contains("head over"));
    // Still coming and already too long: refused without waiting for its end.
    let cut = &whole[..MAX_HEAD_BYTES + 1];
    let why = read_whole(cut).expect_err("a head over the bound");
    assert!(why.0.contains("head over"), "{why}");
    // Informational heads count against the same bound.
    let mut many = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(MAX_HEAD_BYTES / 25 + 1);
    many.extend(with_length("200 OK", "", RECEIPT));
    assert!(refused(&many).contains("head over"));
    // Just under it is fine.
    let pad = MAX_HEAD_BYTES - with_length("200 OK", "X-Pad: \r\n", b"").len();
    let fits = with_length("200 OK", &format!("X-Pad: {}\r\n", "p".repeat(pad)), b"");
    assert_eq!(read(&fits).status, 200);
}

#[test]
fn garbage_is_a_protocol_error_not_an_answer() {
    let cases: &[&[u8]] = &[
        b"garbage\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
        b"HTTP/1.1 099 Low\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhi\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiXX0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
    ];
    for answer in cases {
        let _ = refused(answer);
    }
    assert!(
        refused(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n")
            .contains("disagree")
    );
}

/// Every answer shape the sender can meet, for the split tests.
fn shapes() -> Vec<(Vec<u8>, bool)> {
    let mut informational = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
    informational.extend(with_length("200 OK", "", RECEIPT));
    vec![
        (with_length("200 OK", "", RECEIPT), false),
        (
            with_length("429 Too Many", "Connection: close\r\n", b"slow down"),
            false,
        ),
        (CHUNKED.to_vec(), false),
        (informational, false),
        (b"HTTP/1.0 500 Oops\r\n\r\nno length".to_vec(), true),
    ]
}

#[test]
fn an_answer_split_at_any_byte_reads_as_the_whole_answer() {
    for (answer, eof) in shapes() {
        let whole = read_pieces(&[&answer], eof).unwrap().expect("whole");
        for k in 0..=answer.len() {
            let (a, b) = answer.split_at(k);
            let split = read_pieces(&[a, b], eof).unwrap();
            assert_eq!(
                split.as_ref(),
                Some(&whole),
                "split at {k} of {:?}",
                show(&answer)
            );
        }
        let bytes: Vec<&[u8]> = answer.chunks(1).collect();
        assert_eq!(read_pieces(&bytes, eof).unwrap().as_ref(), Some(&whole));
    }
}

/// A chunked answer of `chunks`, each with an extension or not, and `trailers` fields.
fn chunked(chunks: &[Vec<u8>], extensions: bool, trailers: usize) -> Vec<u8> {
    let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for chunk in chunks.iter().filter(|c| !c.is_empty()) {
        let ext = if extensions { ";ext=1" } else { "" };
        out.extend(format!("{:X}{ext}\r\n", chunk.len()).bytes());
        out.extend(chunk);
        out.extend(b"\r\n");
    }
    out.extend(b"0\r\n");
    for t in 0..trailers {
        out.extend(format!("X-Trailer-{t}: {t}\r\n").bytes());
    }
    out.extend(b"\r\n");
    out
}

proptest! {
    /// Any answer, cut into any pieces, reads as the whole one; chunked bodies decode to the
    /// concatenation of their chunks.
    #[test]
    fn any_split_of_a_valid_answer_parses_the_same(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..6),
        extensions in any::<bool>(),
        trailers in 0usize..3,
        continues in 0usize..3,
        as_length in any::<bool>(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let body: Vec<u8> = chunks.concat();
        let mut answer = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(continues);
        if as_length {
            answer.extend(with_length("200 OK", "", &body));
        } else {
            answer.extend(chunked(&chunks, extensions, trailers));
        }
        let whole = read_pieces(&[&answer], false).unwrap().expect("whole");
        prop_assert_eq!(&whole.body, &body);
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(answer.len() + 1)).collect();
        at.sort_unstable();
        let mut pieces = Vec::new();
        let mut from = 0;
        for cut in at.into_iter().chain([answer.len()]) {
            pieces.push(&answer[from..cut]);
            from = cut;
        }
        prop_assert_eq!(read_pieces(&pieces, false).unwrap(), Some(whole));
    }
}
