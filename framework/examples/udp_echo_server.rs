//! The asyncio documentation's "UDP echo server protocol": send every
//! datagram back to where it came from.
//!
//! `cargo run --release -p shardloop --example udp_echo_server [-- ADDR]`
//! (default 127.0.0.1:9999, so the seed's Python client works unchanged).

use std::net::SocketAddr;

use shardloop::{DatagramOptions, DatagramProtocol, DatagramTransport, EventLoop};

struct EchoServerProtocol;

impl DatagramProtocol for EchoServerProtocol {
    fn datagram_received(
        &mut self,
        transport: &mut DatagramTransport,
        data: &[u8],
        addr: SocketAddr,
    ) {
        let message = String::from_utf8_lossy(data);
        println!("Received {message:?} from {addr}");
        println!("Send {message:?} to {addr}");
        let _ = transport.sendto(data, Some(addr));
    }
}

fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9999".into())
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut lp = EventLoop::new()?;
    println!("Starting UDP server");
    // One protocol instance serves all clients.
    lp.create_datagram_endpoint(
        || EchoServerProtocol,
        Some(addr),
        None,
        DatagramOptions::default(),
    )?;
    lp.run_forever()
}
