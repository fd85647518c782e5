//! The asyncio documentation's "TCP echo server using streams", in
//! shardloop: read what the client sends, echo it, close. Same address and
//! output as `tcp_echo_server` (its protocol twin), so the seed's Python
//! echo client works against either.
//!
//! `cargo run --release -p shardloop --example stream_echo_server [-- ADDR]`
//! (default 127.0.0.1:8888).

use shardloop::streams::{StreamReader, StreamWriter};
use shardloop::{EventLoop, ExtraInfo};

async fn handle_echo(mut reader: StreamReader, mut writer: StreamWriter) {
    match writer.get_extra_info("peername") {
        Some(ExtraInfo::Address(peer)) => println!("Connection from {peer}"),
        _ => println!("Connection from (unknown)"),
    }
    let data = match reader.read(100).await {
        Ok(data) => data,
        Err(e) => {
            println!("Read failed: {e}");
            return;
        }
    };
    let message = String::from_utf8_lossy(&data);
    println!("Data received: {message:?}");

    println!("Send: {message:?}");
    let _ = writer.write(&data);
    let _ = writer.drain().await;

    println!("Close the client socket");
    writer.close();
    writer.wait_closed().await;
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8888".into());
    let mut lp = EventLoop::new()?;
    // Each client connection runs handle_echo as a task of the loop.
    let server = lp.start_server(handle_echo, addr.as_str())?;

    println!("Serving on {}", server.sockets()[0]);
    // Serve until the process is interrupted (Ctrl+C).
    lp.run_forever()?;

    server.close();
    server.wait_closed(&mut lp)
}
