//! The asyncio documentation's "TCP echo client using streams", in
//! shardloop: send a message, print what comes back until the server
//! closes. Same address and output as `tcp_echo_client` (its protocol
//! twin), so it works against the seed's Python echo server.
//!
//! `cargo run --release -p shardloop --example stream_echo_client [-- ADDR]`
//! (default 127.0.0.1:8888).

use shardloop::streams::open_connection;
use shardloop::EventLoop;

async fn tcp_echo_client(message: String, addr: String) -> std::io::Result<()> {
    // A refused connection is returned here, as asyncio raises it.
    let (mut reader, mut writer) = open_connection(addr.as_str()).await?;

    writer
        .write(message.as_bytes())
        .map_err(std::io::Error::other)?;
    writer.drain().await?;
    println!("Data sent: {message:?}");

    let mut buf = vec![0; 4096];
    loop {
        let n = reader.read_into(&mut buf).await?;
        if n == 0 {
            break;
        }
        println!("Data received: {:?}", String::from_utf8_lossy(&buf[..n]));
    }
    println!("The server closed the connection");
    writer.close();
    writer.wait_closed().await;
    println!("Stop the event loop");
    Ok(())
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8888".into());
    let mut lp = EventLoop::new()?;
    lp.run_until_complete(tcp_echo_client("Hello World!".to_string(), addr))
        .map_err(std::io::Error::other)?
}
