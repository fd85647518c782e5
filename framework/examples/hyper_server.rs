//! hyper on shardloop: a `service_fn` hello world served on every shard
//! through [`Runtime::start_server`], HTTP/1.1 and HTTP/2 with prior
//! knowledge on the same port (hyper-util's version detection). No tokio
//! runtime: each connection is a task of the shard it landed on, hyper's
//! I/O is [`StreamIo`], its executor [`ShardExecutor`] and its timer
//! [`ShardTimer`].
//!
//! `cargo run --release -p shardloop --features hyper --example hyper_server [-- ADDR]`
//! (default 127.0.0.1:3000), then:
//!
//! ```text
//! curl http://127.0.0.1:3000/
//! curl --http2-prior-knowledge http://127.0.0.1:3000/
//! h2load -n 10000 -c 10 http://127.0.0.1:3000/
//! ```

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::server::conn::auto;
use shardloop::rt::{ShardExecutor, ShardTimer};
use shardloop::streams::{StreamIo, StreamReader, StreamWriter};
use shardloop::{Distribution, Runtime, RuntimeConfig};

async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = format!("Hello, World! ({:?} {})\n", req.version(), req.uri().path());
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// One connection, on the shard it landed on: hyper reads the first bytes
/// and serves HTTP/2 if they are its preface, HTTP/1.1 otherwise.
async fn serve(reader: StreamReader, writer: StreamWriter) {
    let Some(exec) = ShardExecutor::current() else {
        return;
    };
    let mut builder = auto::Builder::new(exec);
    builder.http1().timer(ShardTimer);
    builder.http2().timer(ShardTimer);
    if let Err(e) = builder
        .serve_connection(StreamIo::new(reader, writer), service_fn(hello))
        .await
    {
        eprintln!("connection ended with an error: {e}");
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let addr = addr.parse().map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr}: {e}"))
    })?;
    let mut rt = Runtime::start(RuntimeConfig::default())?;
    let bound = rt.start_server(serve, addr, Distribution::RoundRobin)?;
    println!(
        "hyper on {} shards, serving on http://{bound}/",
        rt.shard_count()
    );
    // Serve until the process is interrupted (Ctrl+C).
    loop {
        std::thread::park();
    }
}
