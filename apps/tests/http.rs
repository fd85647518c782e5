//! `app = "http"` served by the `shardloop` binary, checked over raw TCP
//! for the RFC 9112 framing rules and path safety, and with real clients:
//! curl, h2load, wrk and the strict h11 (Python).

mod common;

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

fn curl(args: &[&str]) -> (String, Vec<u8>) {
    let dump: &[&str] = if args.contains(&"-I") {
        &[]
    } else {
        &["-D", "-"]
    };
    let out = tool("curl")
        .args(["-sS", "--max-time", "20"])
        .args(dump)
        .args(args)
        .output()
        .expect("curl (.ci/run installs it)");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout[..split]).to_string(),
        out.stdout[split + 4..].to_vec(),
    )
}

#[test]
fn curl_gets_static_files_ranges_and_conditional_answers() {
    let site = site("curl");
    let (server, addr) = serve_http(Some(&site.root));
    let url = |p: &str| format!("http://{addr}/static/{p}");
    let big = std::fs::read(site.root.join("big.bin")).unwrap();
    let (head, body) = curl(&[&url("big.bin")]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body == big);
    assert!(
        head.contains("Content-Type: application/octet-stream"),
        "{head}"
    );
    let last_modified = head
        .lines()
        .find_map(|l| l.strip_prefix("Last-Modified: "))
        .unwrap()
        .to_string();
    // A range.
    let (head, body) = curl(&["-r", "1000-1999", &url("big.bin")]);
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert!(
        head.contains("Content-Range: bytes 1000-1999/65536"),
        "{head}"
    );
    assert_eq!(body, &big[1000..2000]);
    let (head, body) = curl(&["-r", "-100", &url("big.bin")]);
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert_eq!(body, &big[65436..]);
    let (head, _) = curl(&["-r", "70000-", &url("big.bin")]);
    assert!(head.starts_with("HTTP/1.1 416"), "{head}");
    assert!(head.contains("Content-Range: bytes */65536"), "{head}");
    // Conditional: not modified since its own Last-Modified.
    let (head, body) = curl(&[
        "-H",
        &format!("If-Modified-Since: {last_modified}"),
        &url("big.bin"),
    ]);
    assert!(head.starts_with("HTTP/1.1 304"), "{head}");
    assert!(body.is_empty());
    let (head, _) = curl(&[
        "-H",
        "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT",
        &url("big.bin"),
    ]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // HEAD: the headers, no body.
    let (head, body) = curl(&["-I", &url("index.html")]);
    assert!(head.contains("Content-Length: 12"), "{head}");
    assert!(body.is_empty());
    let (head, _) = curl(&[&url("nope.txt")]);
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    stop(server);
    let _ = std::fs::remove_dir_all(&site.dir);
}

/// h2load's "requests: N total, N started, N done, N succeeded, 0 failed,
/// 0 errored" line.
fn h2load_ok(out: &str, n: u64) {
    let line = out
        .lines()
        .find(|l| l.starts_with("requests:"))
        .unwrap_or_else(|| panic!("no summary: {out}"));
    assert!(
        line.contains(&format!("{n} succeeded, 0 failed, 0 errored")),
        "{line}"
    );
    let status = out
        .lines()
        .find(|l| l.starts_with("status codes:"))
        .unwrap();
    assert!(status.contains(&format!("{n} 2xx")), "{status}");
}

#[test]
fn h2load_h1_pipelined_and_not_has_no_failed_request() {
    let site = site("h2load");
    let (server, addr) = serve_http(Some(&site.root));
    for (path, m) in [
        ("/plaintext", "16"),
        ("/plaintext", "1"),
        ("/json", "16"),
        ("/static/big.bin", "4"),
    ] {
        let n = if path.contains("big") { 2000 } else { 20000 };
        let out = tool("h2load")
            .args(["--h1", "-n", &n.to_string(), "-c", "10", "-m", m])
            .arg(format!("http://{addr}{path}"))
            .output()
            .expect("h2load (.ci/run installs nghttp2-client)");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{text}");
        h2load_ok(&text, n);
    }
    stop(server);
    let _ = std::fs::remove_dir_all(&site.dir);
}

#[test]
fn wrk_with_pipelining_has_no_socket_error_or_non_2xx() {
    let (server, addr) = serve_http(None);
    let dir = temp_dir("wrk");
    let script = dir.join("pipeline.lua");
    std::fs::write(
        &script,
        r#"
init = function(args)
  local r = {}
  for i = 1, 16 do
    r[i] = wrk.format(nil, "/plaintext")
  end
  req = table.concat(r)
end
request = function()
  return req
end
"#,
    )
    .unwrap();
    let out = tool("wrk")
        .args(["-t", "1", "-c", "32", "-d", "2s", "-s"])
        .arg(&script)
        .arg(format!("http://{addr}/plaintext"))
        .output()
        .expect("wrk (.ci/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("requests in"), "{text}");
    assert!(!text.contains("Socket errors"), "{text}");
    assert!(!text.contains("Non-2xx"), "{text}");
    stop(server);
}

#[test]
fn the_strict_h11_client_accepts_every_response() {
    python_module("h11", "h11");
    let site = site("h11");
    let (server, addr) = serve_http(Some(&site.root));
    let script = r#"
import socket, sys, h11
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=20)
c = h11.Connection(h11.CLIENT)
def send(*events):
    for e in events:
        data = c.send(e)
        if data:
            s.sendall(data)
def response():
    got, body = None, b""
    while True:
        e = c.next_event()
        if e is h11.NEED_DATA:
            c.receive_data(s.recv(65536))
            continue
        if isinstance(e, h11.InformationalResponse):
            continue
        if isinstance(e, h11.Response):
            got = e
        elif isinstance(e, h11.Data):
            body += e.data
        elif isinstance(e, h11.EndOfMessage):
            return got, body
def cycle():
    c.start_next_cycle()
checks = []
for method, target, body, chunked in [
    ("GET", "/plaintext", None, False),
    ("HEAD", "/plaintext", None, False),
    ("GET", "/json", None, False),
    ("POST", "/json", b"x" * 1000, False),
    ("PUT", "/plaintext", b"y" * 3000, True),
    ("GET", "/static/big.bin", None, False),
    ("GET", "/static/missing", None, False),
]:
    headers = [("Host", "t")]
    if body is not None and not chunked:
        headers.append(("Content-Length", str(len(body))))
    if chunked:
        headers.append(("Transfer-Encoding", "chunked"))
    send(h11.Request(method=method, target=target, headers=headers))
    if body is not None:
        send(h11.Data(data=body[:1000]), h11.Data(data=body[1000:]) if len(body) > 1000 else h11.Data(data=b""))
    send(h11.EndOfMessage())
    r, b = response()
    checks.append((method, target, r.status_code, len(b)))
    cycle()
for x in checks:
    print(*x)
"#;
    let out = tool("python3")
        .arg("-c")
        .arg(script)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        vec![
            "GET /plaintext 200 13",
            "HEAD /plaintext 200 0",
            "GET /json 200 27",
            "POST /json 405 37",
            "PUT /plaintext 405 37",
            "GET /static/big.bin 200 65536",
            "GET /static/missing 404 23",
        ]
    );
    stop(server);
    let _ = std::fs::remove_dir_all(&site.dir);
}

#[test]
fn config_check_names_bad_http_options() {
    let dir = temp_dir("http-check");
    let bad = temp_config(
        "http-bad.toml",
        "[[listener]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\napp = \"http\"\n[listener.http]\nroot = \"/no/such/dir\"\n",
    );
    let out = Command::new(BIN).arg("check").arg(&bad).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("root") && err.contains("/no/such/dir"),
        "{err}"
    );
    let bad = temp_config(
        "http-bad2.toml",
        "[[listener]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\napp = \"http\"\n[listener.http]\nmax_headers = 100000\n",
    );
    let out = Command::new(BIN).arg("check").arg(&bad).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("max_headers"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_client_that_pipelines_without_reading_is_paused_then_gets_every_answer() {
    let (server, addr) = serve_http(None);
    let mut s = client(addr);
    s.set_write_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    let req = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";
    let batch: Vec<u8> = req.iter().copied().cycle().take(req.len() * 1000).collect();
    // Write without reading until the server stops taking requests (its
    // answers fill our receive buffer and its write queue, then it stops
    // reading). Bounded: without flow control this would run to the cap.
    let cap = 256usize << 20;
    let sent = write_until_pushed_back(&mut s, &batch, cap);
    assert!(sent < cap, "the server never pushed back");
    let pid = server.id();
    let rss = rss_kib(pid);
    assert!(rss < 64 * 1024, "server RSS {rss} KiB while held");
    // Finish the last request, then read every answer.
    let whole = sent / req.len();
    let rest = &req[sent % req.len()..];
    if sent % req.len() != 0 {
        s.set_write_timeout(None).unwrap();
        let reader = s.try_clone().unwrap();
        let drain = std::thread::spawn(move || {
            let mut reader = reader;
            let mut buf = Vec::new();
            let mut n = 0;
            while n < whole + 1 {
                read_response(&mut reader, &mut buf, false);
                n += 1;
            }
            n
        });
        s.write_all(rest).unwrap();
        assert_eq!(drain.join().unwrap(), whole + 1);
    } else {
        let mut buf = Vec::new();
        for _ in 0..whole {
            assert_eq!(
                read_response(&mut s, &mut buf, false).body,
                b"Hello, World!"
            );
        }
    }
    drop(s);
    stop(server);
}

#[test]
fn a_request_head_trickled_byte_by_byte_gets_408_after_header_timeout() {
    let (server, addr, log) = serve(
        "[runtime]\nshards = 1\npin_cores = false\n[log]\nformat = \"json\"\n\
         [[listener]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\napp = \"http\"\n\
         [listener.http]\nheader_timeout = \"500ms\"\n",
    );
    std::thread::spawn(move || {
        let mut log = log;
        let _ = std::io::copy(&mut log, &mut std::io::sink());
    });
    let mut s = client(addr);
    // A complete request first: answered, and it does not start the clock.
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    assert_eq!(read_response(&mut s, &mut buf, false).status, 200);
    // Then a head that never ends, one header line every 100 ms: every
    // byte resets an idle timeout, but not this one.
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    let mut reader = s.try_clone().unwrap();
    let stop_trickle = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&stop_trickle);
    let trickle = std::thread::spawn(move || {
        for i in 0..200 {
            if flag.load(std::sync::atomic::Ordering::Acquire)
                || s.write_all(format!("X-{i}: v\r\n").as_bytes()).is_err()
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    });
    let r = read_response(&mut reader, &mut buf, false);
    assert_eq!(r.status, 408);
    assert_eq!(r.header("connection"), Some("close"));
    // Then the server's FIN (its lingering close discards the trickle).
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).expect("a clean close");
    assert!(rest.is_empty() && buf.is_empty());
    stop_trickle.store(true, std::sync::atomic::Ordering::Release);
    trickle.join().unwrap();
    drop(reader);
    stop(server);
}
