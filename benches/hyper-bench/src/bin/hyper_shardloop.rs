//! hyper on one shardloop loop (one thread, one core): HTTP/1.1
//! (pipelining flush on) and HTTP/2 with prior knowledge on one port.
//!
//! `hyper-shardloop [ADDR]` (default 127.0.0.1:8183).

use hyper::service::service_fn;
use hyper_util::server::conn::auto;
use shardloop::rt::{ShardExecutor, ShardTimer};
use shardloop::streams::{StreamIo, StreamReader, StreamWriter};
use shardloop::EventLoop;
use shardloop_hyper_bench::{addr, handle};

async fn serve(reader: StreamReader, writer: StreamWriter) {
    let Some(exec) = ShardExecutor::current() else {
        return;
    };
    let mut builder = auto::Builder::new(exec);
    builder.http1().pipeline_flush(true).timer(ShardTimer);
    builder.http2().timer(ShardTimer);
    let _ = builder
        .serve_connection(StreamIo::new(reader, writer), service_fn(handle))
        .await;
}

fn main() -> std::io::Result<()> {
    let addr = addr("127.0.0.1:8183");
    let mut lp = EventLoop::new()?;
    let server = lp.start_server(serve, addr.as_str())?;
    println!("hyper-shardloop on {}", server.sockets()[0]);
    lp.run_forever()
}
