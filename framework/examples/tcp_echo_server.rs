//! The asyncio documentation's "TCP echo server protocol", in shardloop:
//! echo what arrives, then close the connection.
//!
//! `cargo run --release -p shardloop --example tcp_echo_server [-- ADDR]`
//! (default 127.0.0.1:8888, so the seed's Python client works unchanged).

use shardloop::{EventLoop, Protocol, Transport};

struct EchoServerClientProtocol;

impl Protocol for EchoServerClientProtocol {
    fn connection_made(&mut self, transport: &mut Transport) {
        let peername = transport.peername();
        match peername {
            Some(peer) => println!("Connection from {peer}"),
            None => println!("Connection from (unknown)"),
        }
    }

    fn data_received(&mut self, transport: &mut Transport, data: &[u8]) {
        let message = String::from_utf8_lossy(data);
        println!("Data received: {message:?}");

        println!("Send: {message:?}");
        let _ = transport.write(data);

        println!("Close the client socket");
        transport.close();
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8888".into());
    let mut lp = EventLoop::new()?;
    // Each client connection gets a new protocol instance.
    let server = lp.create_server(|| EchoServerClientProtocol, addr.as_str())?;

    println!("Serving on {}", server.sockets()[0]);
    // Serve until the process is interrupted (Ctrl+C).
    lp.run_forever()?;

    server.close();
    server.wait_closed(&mut lp)
}
