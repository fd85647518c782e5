//! hyper on tokio's current-thread runtime (one thread, one core), as a
//! hyper user writes it: HTTP/1.1 (pipelining flush on) and HTTP/2 with
//! prior knowledge on one port, the same service as `hyper-shardloop`.
//!
//! `hyper-tokio [ADDR]` (default 127.0.0.1:8184).

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use shardloop_hyper_bench::{addr, handle};
use tokio::net::TcpListener;

fn main() -> std::io::Result<()> {
    let addr = addr("127.0.0.1:8184");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = TcpListener::bind(&addr).await?;
        println!("hyper-tokio on {}", listener.local_addr()?);
        loop {
            let (socket, _) = listener.accept().await?;
            let _ = socket.set_nodelay(true);
            tokio::task::spawn_local(async move {
                let mut builder = auto::Builder::new(TokioExecutor::new());
                builder
                    .http1()
                    .pipeline_flush(true)
                    .timer(TokioTimer::new());
                builder.http2().timer(TokioTimer::new());
                let _ = builder
                    .serve_connection(TokioIo::new(socket), service_fn(handle))
                    .await;
            });
        }
    })
}
