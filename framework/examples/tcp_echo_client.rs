//! The asyncio documentation's "TCP echo client protocol": send a message,
//! print what comes back, stop when the server closes the connection.
//!
//! `cargo run --release -p shardloop --example tcp_echo_client [-- ADDR]`
//! (default 127.0.0.1:8888).

use std::io;

use shardloop::{EventLoop, Protocol, Transport};

struct EchoClientProtocol {
    message: String,
}

impl Protocol for EchoClientProtocol {
    fn connection_made(&mut self, transport: &mut Transport) {
        let _ = transport.write(self.message.as_bytes());
        println!("Data sent: {:?}", self.message);
    }

    fn data_received(&mut self, _transport: &mut Transport, data: &[u8]) {
        println!("Data received: {:?}", String::from_utf8_lossy(data));
    }

    fn connection_lost(&mut self, transport: &mut Transport, _error: Option<io::Error>) {
        println!("The server closed the connection");
        println!("Stop the event loop");
        transport.get_loop().stop();
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8888".into());
    let mut lp = EventLoop::new()?;
    let message = "Hello World!".to_string();
    // A refused connection is returned here, as run_until_complete raises.
    lp.create_connection(move || EchoClientProtocol { message }, addr.as_str())?;
    lp.run_forever()
}
