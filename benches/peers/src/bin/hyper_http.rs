//! The http app's comparison peer: TechEmpower plaintext and JSON on hyper
//! (HTTP/1.1, pipelining flush on) over tokio's current-thread runtime —
//! one thread, like one shard — as a hyper user would write it.
//!
//! `hyper-http [ADDR]` (default 127.0.0.1:8082).

use std::convert::Infallible;
use std::io;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, ctype, body) = match req.uri().path() {
        "/plaintext" => (
            StatusCode::OK,
            "text/plain",
            Bytes::from_static(b"Hello, World!"),
        ),
        "/json" => (
            StatusCode::OK,
            "application/json",
            Bytes::from(format!("{{\"message\":\"{}\"}}", "Hello, World!")),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            Bytes::from_static(b"not found"),
        ),
    };
    let len = body.len();
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(SERVER, HeaderValue::from_static("hyper"));
    h.insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    // hyper adds `Date` itself, from a cache refreshed once a second.
    Ok(res)
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8082".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = TcpListener::bind(&addr).await?;
        println!("hyper-http on {}", listener.local_addr()?);
        loop {
            let (socket, _) = listener.accept().await?;
            let _ = socket.set_nodelay(true);
            tokio::task::spawn_local(async move {
                let _ = http1::Builder::new()
                    .pipeline_flush(true)
                    .serve_connection(TokioIo::new(socket), service_fn(handle))
                    .await;
            });
        }
    })
}
