//! A TCP echo server on tokio, as a tokio user would write it: one task per
//! connection, read into a buffer, `write_all` it back.
//!
//! `tokio-echo [ADDR] [current|multi]` (default 127.0.0.1:7002, current):
//! `current` is the current-thread runtime (one thread, like one shard);
//! `multi` the multi-thread runtime with a worker per core.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7002".into());
    let flavor = args.next().unwrap_or_else(|| "current".into());
    let rt = match flavor.as_str() {
        "current" => tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?,
        "multi" => tokio::runtime::Builder::new_multi_thread()
            .enable_io()
            .build()?,
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown runtime {other:?}: current or multi"),
            ))
        }
    };
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr).await?;
        println!("tokio-echo ({flavor}) on {}", listener.local_addr()?);
        loop {
            let (mut socket, _) = listener.accept().await?;
            let _ = socket.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if socket.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    })
}
