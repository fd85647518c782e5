//! hyper 1.x on shardloop (feature `hyper`): hyper's server and client on
//! shards, with [`StreamIo`] as its I/O, [`ShardExecutor`] and
//! [`ShardTimer`] — checked with curl and h2load (HTTP/1.1 and HTTP/2 with
//! prior knowledge on one port), a hyper client on a loop, a body far
//! past the transport's high-water mark, and hyper's header timeout on the
//! loop's timers.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Output;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::server::conn::auto;
use shardloop::rt::{ShardExecutor, ShardTimer};
use shardloop::streams::{open_connection, StreamIo, StreamReader, StreamWriter};
use shardloop::{Distribution, EventLoop, Runtime, RuntimeConfig};

mod util;
use util::tool;

const DEADLINE: Duration = Duration::from_secs(20);

/// The size of `/big`'s body: far past the default high-water mark, so
/// the writes pause and resume under hyper.
const BIG: usize = 8 << 20;

fn big_body() -> Vec<u8> {
    (0..BIG).map(|i| (i % 251) as u8).collect()
}

async fn service(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match req.uri().path() {
        "/big" => Bytes::from(big_body()),
        "/echo" => req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default(),
        path => Bytes::from(format!("hello {:?} {path}", req.version())),
    };
    Ok(Response::new(Full::new(body)))
}

/// A connection served as the example does: HTTP/2 if it opens with the
/// preface, HTTP/1.1 otherwise; a 300 ms header timeout on the loop.
async fn serve(reader: StreamReader, writer: StreamWriter) {
    let exec = ShardExecutor::current().expect("a server callback runs as a task of its shard");
    let mut builder = auto::Builder::new(exec);
    builder
        .http1()
        .timer(ShardTimer)
        .header_read_timeout(Duration::from_millis(300));
    builder.http2().timer(ShardTimer);
    let _ = builder
        .serve_connection(StreamIo::new(reader, writer), service_fn(service))
        .await;
}

fn server(shards: usize) -> (Runtime, SocketAddr) {
    let mut config = RuntimeConfig::default();
    config.shards = shards;
    config.pin_cores = false;
    let mut rt = Runtime::start(config).unwrap();
    let addr = rt
        .start_server(
            serve,
            "127.0.0.1:0".parse().unwrap(),
            Distribution::RoundRobin,
        )
        .unwrap();
    (rt, addr)
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn curl_gets_answers_over_http1_and_http2_prior_knowledge_on_one_port() {
    let (rt, addr) = server(2);
    let url = format!("http://{addr}/path");
    for _ in 0..4 {
        // Round robin over 2 shards: both serve.
        let h1 = ok(tool("curl")
            .args(["-sS", "--max-time", "20", &url])
            .output()
            .unwrap());
        assert_eq!(h1, "hello HTTP/1.1 /path");
        let h2 = ok(tool("curl")
            .args(["-sS", "--max-time", "20", "--http2-prior-knowledge", &url])
            .output()
            .unwrap());
        assert_eq!(h2, "hello HTTP/2.0 /path");
    }
    // A request body, and a response body of 8 MiB: intact both ways.
    let posted = ok(tool("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "--http2-prior-knowledge",
            "--data-binary",
        ])
        .arg("x".repeat(100_000))
        .arg(format!("http://{addr}/echo"))
        .output()
        .unwrap());
    assert_eq!(posted, "x".repeat(100_000));
    for h2 in [false, true] {
        let mut cmd = tool("curl");
        cmd.args(["-sS", "--max-time", "20"]);
        if h2 {
            cmd.arg("--http2-prior-knowledge");
        }
        let out = cmd.arg(format!("http://{addr}/big")).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout == big_body(),
            "/big over h2={h2}: {} bytes",
            out.stdout.len()
        );
    }
    rt.shutdown(Duration::from_secs(5)).unwrap();
}

/// h2load's summary line `requests: N total, N started, N done, N
/// succeeded, …`: how many succeeded.
fn succeeded(summary: &str) -> usize {
    let line = summary
        .lines()
        .find(|l| l.starts_with("requests:"))
        .unwrap_or_else(|| panic!("no summary in h2load's output:\n{summary}"));
    line.split(',')
        .find_map(|part| part.trim().strip_suffix(" succeeded"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read {line}"))
}

#[test]
fn h2load_in_h1_and_h2_modes_gets_every_answer_from_two_shards() {
    let (rt, addr) = server(2);
    let url = format!("http://{addr}/");
    // HTTP/2: 10 connections, 10 streams each in flight.
    let h2 = ok(tool("h2load")
        .args(["-n", "5000", "-c", "10", "-m", "10", &url])
        .output()
        .unwrap());
    assert_eq!(succeeded(&h2), 5000, "{h2}");
    // HTTP/1.1, pipelined 10 deep.
    let h1 = ok(tool("h2load")
        .args(["--h1", "-n", "5000", "-c", "10", "-m", "10", &url])
        .output()
        .unwrap());
    assert_eq!(succeeded(&h1), 5000, "{h1}");
    let live: usize = rt.live_connections().iter().sum();
    assert!(live <= 20, "{live} connections still open");
    rt.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn hyper_timer_closes_a_connection_whose_headers_never_finish() {
    let (rt, addr) = server(1);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    // A request line and one header, never the blank line.
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    // hyper's header_read_timeout (300 ms on ShardTimer) ends it: a 408
    // or a bare close, then EOF. (A read timeout here would mean the
    // timer never rang.)
    let n = s.read_to_end(&mut got);
    assert!(n.is_ok(), "the connection was never closed: {n:?}");
    assert!(start.elapsed() < DEADLINE);
    let text = String::from_utf8_lossy(&got);
    assert!(got.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    drop(s);
    // The server lives on.
    let out = ok(tool("curl")
        .args(["-sS", "--max-time", "20", &format!("http://{addr}/after")])
        .output()
        .unwrap());
    assert_eq!(out, "hello HTTP/1.1 /after");
    rt.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_hyper_client_on_a_loop_talks_http2_to_the_hyper_server() {
    let (rt, addr) = server(2);
    let mut lp = EventLoop::new().unwrap();
    let handle = lp.handle().clone();
    let answers = lp
        .run_until_complete(async move {
            let (reader, writer) = open_connection(addr).await?;
            let (mut sender, conn) =
                hyper::client::conn::http2::Builder::new(ShardExecutor::new(handle.clone()))
                    .timer(ShardTimer)
                    .handshake::<_, Full<Bytes>>(StreamIo::new(reader, writer))
                    .await
                    .map_err(std::io::Error::other)?;
            // The connection's I/O runs as a task beside the requests.
            let _conn = handle.spawn_local(conn);
            let mut answers = Vec::new();
            for i in 0..20 {
                let req = Request::builder()
                    .uri(format!("http://{addr}/n{i}"))
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                let res = sender
                    .send_request(req)
                    .await
                    .map_err(std::io::Error::other)?;
                let body = res
                    .into_body()
                    .collect()
                    .await
                    .map_err(std::io::Error::other)?;
                answers.push(String::from_utf8_lossy(&body.to_bytes()).into_owned());
            }
            Ok::<_, std::io::Error>(answers)
        })
        .unwrap()
        .unwrap();
    let want: Vec<String> = (0..20).map(|i| format!("hello HTTP/2.0 /n{i}")).collect();
    assert_eq!(answers, want);
    rt.shutdown(Duration::from_secs(5)).unwrap();
}
