//! The framing rules on byte slices.

use super::*;

/// Method, target, keep-alive, framing, head length.
type Head = (Method, String, bool, Framing, usize);

fn parse(raw: &[u8]) -> Result<Option<Head>, u16> {
    let mut headers = header_slots();
    match parse_request(raw, &mut headers, &Limits::default()) {
        Ok(Parsed::Complete(r, n)) => Ok(Some((
            r.method,
            r.target.to_string(),
            r.keep_alive,
            r.framing,
            n,
        ))),
        Ok(Parsed::Partial) => Ok(None),
        Err(e) => Err(e.status),
    }
}

#[test]
fn a_simple_get_and_keep_alive_by_version() {
    let raw = b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\nGET /next";
    let (m, t, ka, f, n) = parse(raw).unwrap().unwrap();
    assert_eq!(
        (m, t.as_str(), ka, f),
        (Method::Get, "/plaintext", true, Framing::None)
    );
    assert_eq!(&raw[n..], b"GET /next");
    // 1.1 with close; 1.0 without and with keep-alive.
    assert!(
        !parse(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap()
            .2
    );
    assert!(!parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap().2);
    assert!(
        parse(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .unwrap()
            .2
    );
    assert!(
        !parse(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n")
            .unwrap()
            .unwrap()
            .2
    );
}

#[test]
fn partial_heads_ask_for_more() {
    assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap(), None);
    assert_eq!(parse(b"GE").unwrap(), None);
}

#[test]
fn host_rules() {
    assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n").unwrap_err(), 400);
    assert_eq!(
        parse(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").unwrap_err(),
        400
    );
    assert!(parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().is_some());
}

#[test]
fn body_framing_rules() {
    let f = |raw: &[u8]| parse(raw).map(|r| r.unwrap().3);
    assert_eq!(
        f(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"),
        Ok(Framing::Length(5))
    );
    assert_eq!(
        f(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
        Ok(Framing::Length(5))
    );
    assert_eq!(
        f(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"),
        Ok(Framing::Length(5))
    );
    assert_eq!(
        f(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
        Err(400)
    );
    assert_eq!(
        f(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"),
        Err(400)
    );
    assert_eq!(
        f(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n"),
        Err(400)
    );
    assert_eq!(
        f(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Err(400)
    );
    assert_eq!(
        f(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Ok(Framing::Chunked)
    );
    assert_eq!(
        f(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
        Err(400)
    );
    assert_eq!(
        f(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
        Err(501)
    );
    assert_eq!(
        f(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n"),
        Err(413)
    );
}

#[test]
fn methods_versions_and_limits() {
    assert_eq!(
        parse(b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap_err(),
        501
    );
    assert_eq!(
        parse(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n").unwrap_err(),
        505
    );
    assert_eq!(parse(b"GET\x01 / HTTP/1.1\r\n\r\n").unwrap_err(), 400);
    let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(5000));
    assert_eq!(parse(long.as_bytes()).unwrap_err(), 414);
    let long_partial = format!("GET /{}", "a".repeat(5000));
    assert_eq!(parse(long_partial.as_bytes()).unwrap_err(), 414);
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "b".repeat(9000)
    );
    assert_eq!(parse(big.as_bytes()).unwrap_err(), 431);
    let many: String = (0..70).map(|i| format!("X-{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
    assert_eq!(parse(many.as_bytes()).unwrap_err(), 431);
    assert_eq!(
        parse(b"GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n").unwrap_err(),
        417
    );
}

#[test]
fn path_of_origin_and_absolute_forms() {
    let mut headers = header_slots();
    let raw = b"GET http://example.com/static/a.txt?x=1 HTTP/1.1\r\nHost: a\r\n\r\n";
    let Ok(Parsed::Complete(r, _)) = parse_request(raw, &mut headers, &Limits::default()) else {
        panic!()
    };
    assert_eq!(r.path(), Some("/static/a.txt"));
    let mut headers = header_slots();
    let raw = b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
    let Ok(Parsed::Complete(r, _)) = parse_request(raw, &mut headers, &Limits::default()) else {
        panic!()
    };
    assert_eq!(r.path(), None);
}

#[test]
fn chunked_bodies_are_consumed_across_any_split() {
    let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
    for split in 0..body.len() {
        let mut b = Body::new(Framing::Chunked, 1000);
        let mut pending: Vec<u8> = body[..split].to_vec();
        let n = b.consume(&pending).unwrap();
        pending.drain(..n);
        pending.extend_from_slice(&body[split..]);
        let n = b.consume(&pending).unwrap();
        assert!(b.is_done(), "split at {split}");
        assert_eq!(&pending[n..], b"NEXT", "split at {split}");
    }
}

#[test]
fn chunked_errors_and_limits() {
    assert_eq!(
        Body::new(Framing::Chunked, 1000)
            .consume(b"zz\r\n")
            .unwrap_err()
            .status,
        400
    );
    assert_eq!(
        Body::new(Framing::Chunked, 1000)
            .consume(b"3\r\nabcXY")
            .unwrap_err()
            .status,
        400
    );
    assert_eq!(
        Body::new(Framing::Chunked, 10)
            .consume(b"b\r\n")
            .unwrap_err()
            .status,
        413
    );
    let mut b = Body::new(Framing::Length(4), 10);
    assert_eq!(b.consume(b"ab").unwrap(), 2);
    assert!(!b.is_done());
    assert_eq!(b.consume(b"cdGET").unwrap(), 2);
    assert!(b.is_done());
}

#[test]
fn dates_are_imf_fixdate() {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(784111777);
    assert_eq!(&http_date(t), b"Sun, 06 Nov 1994 08:49:37 GMT");
}
