//! The http app against real clients: curl, h2load, wrk and h11, and the
//! config check.

use super::*;

pub(super) fn curl(args: &[&str]) -> (String, Vec<u8>) {
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
pub(super) fn h2load_ok(out: &str, n: u64) {
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
