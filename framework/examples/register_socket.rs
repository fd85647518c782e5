//! The asyncio documentation's "Register an open socket to wait for data
//! using a protocol": a socketpair, one end handed to `create_connection`,
//! the other written from a loop callback.
//!
//! `cargo run --release -p shardloop --example register_socket`

use std::io::{self, Write};
use std::os::unix::net::UnixStream;

use shardloop::{EventLoop, Protocol, Transport};

struct MyProtocol;

impl Protocol for MyProtocol {
    fn data_received(&mut self, transport: &mut Transport, data: &[u8]) {
        println!("Received: {}", String::from_utf8_lossy(data));
        // We are done: close the transport (it will call connection_lost()).
        transport.close();
    }

    fn connection_lost(&mut self, transport: &mut Transport, _error: Option<io::Error>) {
        // The socket has been closed, stop the event loop.
        transport.get_loop().stop();
    }
}

fn main() -> io::Result<()> {
    // Create a pair of connected sockets.
    let (rsock, mut wsock) = UnixStream::pair()?;
    let mut lp = EventLoop::new()?;

    // Register the socket to wait for data.
    lp.create_connection_with_socket(|| MyProtocol, rsock)?;

    // Simulate the reception of data from the network.
    lp.call_soon(move |_| {
        let _ = wsock.write_all(b"abc");
    });

    // Run the event loop.
    lp.run_forever()
}
