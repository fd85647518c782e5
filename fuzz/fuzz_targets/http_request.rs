//! The HTTP request codec: a head and its body (Content-Length or chunked),
//! whole or in pieces, give the same outcome; nothing panics; a body never
//! takes more than it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardloop::http::{header_slots, parse_request, Body, Framing, Limits, Parsed};

#[derive(Debug, PartialEq)]
enum Outcome {
    Incomplete,
    Error(u16),
    Done { head: usize, body: usize },
}

/// The first request of `buf`, its body fed `step` bytes at a time.
fn run(buf: &[u8], step: usize) -> Outcome {
    let limits = Limits::default();
    let mut headers = header_slots();
    let (framing, head) = match parse_request(buf, &mut headers, &limits) {
        Ok(Parsed::Complete(req, n)) => {
            assert!(n <= buf.len());
            (req.framing, n)
        }
        Ok(Parsed::Partial) => return Outcome::Incomplete,
        Err(e) => return Outcome::Error(e.status),
    };
    let mut body = Body::new(framing, limits.max_body);
    let mut at = head;
    while !body.is_done() {
        if at == buf.len() {
            return Outcome::Incomplete;
        }
        let end = at.saturating_add(step).min(buf.len());
        match body.consume(&buf[at..end]) {
            Ok(n) => {
                assert!(n <= end - at);
                if n == 0 && !body.is_done() && end == buf.len() {
                    return Outcome::Incomplete;
                }
                at += n;
                if n == 0 && !body.is_done() {
                    // Needs more than this piece holds at once: retry with
                    // everything left (a connection keeps the piece).
                    match body.consume(&buf[at..]) {
                        Ok(0) => return Outcome::Incomplete,
                        Ok(m) => at += m,
                        Err(e) => return Outcome::Error(e.status),
                    }
                }
            }
            Err(e) => return Outcome::Error(e.status),
        }
    }
    if framing == Framing::None {
        assert_eq!(at, head);
    }
    Outcome::Done {
        head,
        body: at - head,
    }
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let step = 1 + data[0] as usize % 32;
    let buf = &data[1..];
    let whole = run(buf, usize::MAX);
    let pieces = run(buf, step);
    // Pieces may stop a chunk-size line early (Incomplete); otherwise the
    // outcome is the same.
    if pieces != Outcome::Incomplete && whole != Outcome::Incomplete {
        assert_eq!(pieces, whole);
    }
    // The head parser alone: the head is never longer than the input, and
    // growing the input never turns a complete head into an error.
    let mut headers = header_slots();
    if let Ok(Parsed::Complete(_, n)) = parse_request(buf, &mut headers, &Limits::default()) {
        let mut more = buf.to_vec();
        more.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let mut headers = header_slots();
        match parse_request(&more, &mut headers, &Limits::default()) {
            Ok(Parsed::Complete(_, m)) => assert_eq!(n, m),
            other => panic!("{other:?}"),
        }
    }
});
