//! `app = "http"` served by the `shardloop` binary, checked over raw TCP
//! for the RFC 9112 framing rules and path safety, and with real clients:
//! curl, h2load, wrk and the strict h11 (Python).

#[path = "../common/mod.rs"]
mod common;

mod tools;

mod hostile;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A served directory next to a secret that must never be served.
struct Site {
    dir: PathBuf,
    root: PathBuf,
}

fn site(tag: &str) -> Site {
    let dir = temp_dir(&format!("http-{tag}"));
    let root = dir.join("www");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(dir.join("secret.txt"), "TOP-SECRET\n").unwrap();
    std::fs::write(root.join("index.html"), "<h1>hi</h1>\n").unwrap();
    std::fs::write(root.join("sub/data.json"), "{\"a\":1}\n").unwrap();
    let big: Vec<u8> = (0..65536u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(root.join("big.bin"), &big).unwrap();
    std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("leak")).unwrap();
    std::os::unix::fs::symlink(&dir, root.join("up")).unwrap();
    // Relative, staying inside: followed. (Absolute symlinks are refused
    // even when they point inside: the kernel's RESOLVE_BENEATH rule.)
    std::os::unix::fs::symlink("index.html", root.join("inside")).unwrap();
    Site { dir, root }
}

fn serve_http(root: Option<&Path>) -> (std::process::Child, SocketAddr) {
    let root = root.map_or(String::new(), |r| {
        format!("[listener.http]\nroot = \"{}\"\n", r.display())
    });
    let (child, addr, log) = serve(&format!(
        "[runtime]\nshards = 2\npin_cores = false\n[log]\nformat = \"json\"\n\
         [[listener]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\napp = \"http\"\n{root}"
    ));
    std::thread::spawn(move || {
        let mut log = log;
        let _ = std::io::copy(&mut log, &mut std::io::sink());
    });
    (child, addr)
}

fn stop(mut child: std::process::Child) {
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
}

fn client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s
}

/// One parsed response.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response from `buf` (refilled from `s`); `head_only` for a
/// response to HEAD.
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>, head_only: bool) -> Response {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(buf[..end].to_vec()).unwrap();
            let mut lines = head.split("\r\n");
            let status_line = lines.next().unwrap();
            assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
            let status: u16 = status_line[9..12].parse().unwrap();
            let headers: Vec<(String, String)> = lines
                .map(|l| {
                    let (n, v) = l.split_once(':').unwrap();
                    (n.to_string(), v.trim().to_string())
                })
                .collect();
            let len: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.parse().unwrap());
            let len = if head_only || status == 304 || status == 204 || status / 100 == 1 {
                0
            } else {
                len
            };
            while buf.len() < end + 4 + len {
                fill(s, buf);
            }
            let body = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            return Response {
                status,
                headers,
                body,
            };
        }
        fill(s, buf);
    }
}

fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) {
    let mut chunk = [0u8; 65536];
    let n = s.read(&mut chunk).unwrap();
    assert!(
        n > 0,
        "EOF before a whole response: {:?}",
        String::from_utf8_lossy(buf)
    );
    buf.extend_from_slice(&chunk[..n]);
}

/// Whether the server closed the connection (EOF, nothing more).
fn closed(s: &mut TcpStream, buf: &[u8]) -> bool {
    let mut rest = Vec::new();
    buf.is_empty() && matches!(s.read_to_end(&mut rest), Ok(0))
}

#[test]
fn plaintext_and_json_answer_with_techempower_headers() {
    let (server, addr) = serve_http(None);
    let mut s = client(addr);
    s.write_all(
        b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\nGET /json HTTP/1.1\r\nHost: t\r\n\r\nHEAD /plaintext HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .unwrap();
    let mut buf = Vec::new();
    let p = read_response(&mut s, &mut buf, false);
    assert_eq!(p.status, 200);
    assert_eq!(p.body, b"Hello, World!");
    assert_eq!(p.header("content-type"), Some("text/plain"));
    assert_eq!(p.header("content-length"), Some("13"));
    assert_eq!(p.header("server"), Some("shardloop"));
    let date = p.header("date").unwrap();
    assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
    let j = read_response(&mut s, &mut buf, false);
    assert_eq!(j.status, 200);
    assert_eq!(j.header("content-type"), Some("application/json"));
    assert_eq!(j.body, br#"{"message":"Hello, World!"}"#);
    let h = read_response(&mut s, &mut buf, true);
    assert_eq!((h.status, h.header("content-length")), (200, Some("13")));
    // HEAD has no body: the next thing on the wire is a new response.
    s.write_all(b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s, &mut buf, false).status, 404);
    drop(s);
    stop(server);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let site = site("pipeline");
    let (server, addr) = serve_http(Some(&site.root));
    let mut s = client(addr);
    let paths = [
        "/plaintext",
        "/json",
        "/static/index.html",
        "/missing",
        "/static/big.bin",
    ];
    let mut batch = Vec::new();
    for i in 0..40 {
        let p = paths[i % paths.len()];
        batch.extend_from_slice(
            format!("GET {p} HTTP/1.1\r\nHost: t\r\nX-N: {i}\r\n\r\n").as_bytes(),
        );
    }
    s.write_all(&batch).unwrap();
    let mut buf = Vec::new();
    for i in 0..40 {
        let r = read_response(&mut s, &mut buf, false);
        match paths[i % paths.len()] {
            "/plaintext" => assert_eq!(r.body, b"Hello, World!"),
            "/json" => assert_eq!(r.body, br#"{"message":"Hello, World!"}"#),
            "/static/index.html" => {
                assert_eq!(r.body, b"<h1>hi</h1>\n");
                assert_eq!(r.header("content-type"), Some("text/html"));
            }
            "/missing" => assert_eq!(r.status, 404),
            _ => assert_eq!(r.body.len(), 65536),
        }
    }
    drop(s);
    stop(server);
}

#[test]
fn keep_alive_follows_the_version_and_connection_close_is_honoured() {
    let (server, addr) = serve_http(None);
    // HTTP/1.0 without keep-alive: answered, then closed.
    let mut s = client(addr);
    s.write_all(b"GET /plaintext HTTP/1.0\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let r = read_response(&mut s, &mut buf, false);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(closed(&mut s, &buf));
    // HTTP/1.0 with keep-alive: stays open and says so.
    drop(s);
    let mut s = client(addr);
    s.write_all(b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s, &mut buf, false);
    assert_eq!(r.header("connection"), Some("keep-alive"));
    s.write_all(b"GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s, &mut buf, false).status, 200);
    // HTTP/1.1 with close: the last response says close; what was
    // pipelined after it is not answered.
    drop(s);
    let mut s = client(addr);
    s.write_all(
        b"GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET /json HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .unwrap();
    let r = read_response(&mut s, &mut buf, false);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(closed(&mut s, &buf));
    drop(s);
    stop(server);
}

#[test]
fn requests_that_cannot_be_framed_get_their_status_then_a_close() {
    let (server, addr) = serve_http(None);
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(5000));
    let big_head = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX: {}\r\n\r\n",
        "b".repeat(9000)
    );
    let many: String = (0..80).map(|i| format!("X-{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n");
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "content-length and transfer-encoding",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            400,
        ),
        (
            "conflicting content-lengths",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".to_vec(),
            400,
        ),
        ("missing host", b"GET /plaintext HTTP/1.1\r\n\r\n".to_vec(), 400),
        ("two hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(), 400),
        ("garbage", b"\x16\x03\x01 hello\r\n\r\n".to_vec(), 400),
        ("uri too long", long_uri.into_bytes(), 414),
        ("head too large", big_head.into_bytes(), 431),
        ("too many headers", many.into_bytes(), 431),
        ("unknown method", b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 501),
        (
            "body too large",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n".to_vec(),
            413,
        ),
        (
            "chunked body too large",
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFF\r\n".to_vec(),
            413,
        ),
        ("bad chunk", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n".to_vec(), 400),
        ("version", b"GET / HTTP/2.0\r\nHost: t\r\n\r\n".to_vec(), 505),
    ];
    for (what, raw, status) in cases {
        let mut s = client(addr);
        s.write_all(&raw).unwrap();
        let mut buf = Vec::new();
        let r = read_response(&mut s, &mut buf, false);
        assert_eq!(r.status, status, "{what}");
        assert_eq!(r.header("connection"), Some("close"), "{what}");
        assert!(closed(&mut s, &buf), "{what}: not closed");
    }
    stop(server);
}

#[test]
fn request_bodies_are_consumed_though_no_route_reads_them_and_expect_gets_100() {
    let (server, addr) = serve_http(None);
    let mut s = client(addr);
    let mut buf = Vec::new();
    // A length body and a chunked body, each followed by a request that
    // must be parsed as a request, not as body.
    s.write_all(
        b"POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 27\r\n\r\nGET /json HTTP/1.1\r\nX: y\r\n\r\n\
          GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n\
          PUT /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nGET \r\n3;ext\r\n/ H\r\n0\r\nT: x\r\n\r\n\
          GET /json HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .unwrap();
    let r = read_response(&mut s, &mut buf, false);
    assert_eq!(r.status, 405);
    assert!(r.header("allow").is_some_and(|a| a.contains("GET")));
    assert_eq!(
        read_response(&mut s, &mut buf, false).body,
        b"Hello, World!"
    );
    assert_eq!(read_response(&mut s, &mut buf, false).status, 405);
    assert_eq!(
        read_response(&mut s, &mut buf, false).body,
        br#"{"message":"Hello, World!"}"#
    );
    // Expect: 100-continue: the interim response first, then (the body
    // sent) the final one.
    s.write_all(
        b"POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_response(&mut s, &mut buf, false).status, 100);
    s.write_all(b"hello").unwrap();
    assert_eq!(read_response(&mut s, &mut buf, false).status, 405);
    // OPTIONS *: 204 and no body.
    s.write_all(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s, &mut buf, false);
    assert_eq!(r.status, 204);
    assert_eq!(read_response(&mut s, &mut buf, false).status, 200);
    drop(s);
    stop(server);
}

#[test]
fn nothing_outside_root_is_ever_served() {
    let site = site("traversal");
    let (server, addr) = serve_http(Some(&site.root));
    let attempts = [
        "/static/../secret.txt",
        "/static/sub/../../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E/secret.txt",
        "/static/.%2e/secret.txt",
        "/static/%2e%2e%2fsecret.txt",
        "/static/sub%2f..%2f..%2fsecret.txt",
        "/static/%252e%252e/secret.txt",
        "/static/index.html%00.txt",
        "/static/%00",
        "/static/leak",
        "/static/up/secret.txt",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "http://t/static/../secret.txt",
        "http://t/static/%2e%2e/secret.txt",
        "/static/",
        "/static/sub",
        "/static/sub/",
        "/static/./index.html",
    ];
    for target in attempts {
        let mut s = client(addr);
        s.write_all(format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        let mut buf = Vec::new();
        let r = read_response(&mut s, &mut buf, false);
        assert!(
            r.status == 404 || r.status == 400,
            "{target}: {} {:?}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        assert!(
            !String::from_utf8_lossy(&r.body).contains("TOP-SECRET"),
            "{target} leaked"
        );
    }
    // A symlink that stays inside is fine, as are normal files.
    let mut s = client(addr);
    s.write_all(b"GET /static/inside HTTP/1.1\r\nHost: t\r\n\r\nGET /static/sub/data.json HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    assert_eq!(
        read_response(&mut s, &mut buf, false).body,
        b"<h1>hi</h1>\n"
    );
    let r = read_response(&mut s, &mut buf, false);
    assert_eq!(r.body, b"{\"a\":1}\n");
    assert_eq!(r.header("content-type"), Some("application/json"));
    drop(s);
    stop(server);
    let _ = std::fs::remove_dir_all(&site.dir);
}
