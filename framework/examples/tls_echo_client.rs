//! The seed's TCP echo client over TLS: the same protocol, unchanged — only
//! the connection is created with a TLS configuration and a server name to
//! verify. Sends a message, prints what comes back, stops when the server
//! closes the connection.
//!
//! `cargo run --release -p shardloop --example tls_echo_client [-- ADDR [CA [NAME]]]`
//! (default 127.0.0.1:8443, trusting config/tls/cert.pem, verifying the
//! name `localhost`).

use std::io;

use shardloop::{EventLoop, Protocol, TlsClientConfig, Transport};

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

    fn connection_lost(&mut self, transport: &mut Transport, error: Option<io::Error>) {
        match error {
            None => println!("The server closed the connection"),
            Some(e) => println!("The connection was lost: {e}"),
        }
        println!("Stop the event loop");
        transport.get_loop().stop();
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8443".into());
    let ca = args.next().unwrap_or_else(|| "config/tls/cert.pem".into());
    let name = args.next().unwrap_or_else(|| "localhost".into());
    let tls = TlsClientConfig::builder().ca_file(ca).build()?;

    let mut lp = EventLoop::new()?;
    let message = "Hello World!".to_string();
    // A refused connection or a failed verification is returned here.
    lp.create_tls_connection(
        move || EchoClientProtocol { message },
        addr.as_str(),
        &tls,
        &name,
    )?;
    lp.run_forever()?;
    Ok(())
}
