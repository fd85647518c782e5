//! The asyncio documentation's "UDP echo client protocol": send a message,
//! print the answer, close the socket, stop the loop.
//!
//! `cargo run --release -p shardloop --example udp_echo_client [-- ADDR]`
//! (default 127.0.0.1:9999).

use std::io;
use std::net::SocketAddr;

use shardloop::{DatagramOptions, DatagramProtocol, DatagramTransport, EventLoop};

struct EchoClientProtocol {
    message: String,
}

impl DatagramProtocol for EchoClientProtocol {
    fn connection_made(&mut self, transport: &mut DatagramTransport) {
        println!("Send: {}", self.message);
        let _ = transport.sendto(self.message.as_bytes(), None);
    }

    fn datagram_received(
        &mut self,
        transport: &mut DatagramTransport,
        data: &[u8],
        _addr: SocketAddr,
    ) {
        println!("Received: {}", String::from_utf8_lossy(data));
        println!("Close the socket");
        transport.close();
    }

    fn error_received(&mut self, _transport: &mut DatagramTransport, error: io::Error) {
        println!("Error received: {error}");
    }

    fn connection_lost(&mut self, transport: &mut DatagramTransport, _error: Option<io::Error>) {
        println!("Socket closed, stop the event loop");
        transport.get_loop().stop();
    }
}

fn main() -> io::Result<()> {
    let remote: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9999".into())
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut lp = EventLoop::new()?;
    let message = "Hello World!".to_string();
    lp.create_datagram_endpoint(
        move || EchoClientProtocol { message },
        None,
        Some(remote),
        DatagramOptions::default(),
    )?;
    lp.run_forever()
}
