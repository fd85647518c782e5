//! The seed's TCP echo server over TLS: the same protocol, unchanged —
//! only the server is created with a TLS configuration. Echoes what
//! arrives, then closes (close_notify, then FIN).
//!
//! `cargo run --release -p shardloop --example tls_echo_server [-- ADDR [CERT KEY]]`
//! (default 127.0.0.1:8443 with config/tls/cert.pem and config/tls/key.pem;
//! README.md shows how to make them). Try it with
//! `openssl s_client -connect 127.0.0.1:8443 -CAfile config/tls/cert.pem`
//! or the `tls_echo_client` example.

use shardloop::{EventLoop, ExtraInfo, Protocol, TlsServerConfig, Transport};

struct EchoServerClientProtocol;

impl Protocol for EchoServerClientProtocol {
    fn connection_made(&mut self, transport: &mut Transport) {
        // Called once the handshake has completed.
        let peer = transport.peername().map(|p| p.to_string());
        println!("Connection from {}", peer.as_deref().unwrap_or("(unknown)"));
        if let Some(ExtraInfo::Cipher(c)) = transport.get_extra_info("cipher", None) {
            println!("Cipher: {} {} ({} bits)", c.protocol, c.name, c.secret_bits);
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
    let cert = args.next().unwrap_or_else(|| "config/tls/cert.pem".into());
    let key = args.next().unwrap_or_else(|| "config/tls/key.pem".into());
    // Missing files, an empty chain or a key that does not match the
    // certificate are reported here, naming the file.
    let tls = TlsServerConfig::builder().cert(cert, key).build()?;

    let mut lp = EventLoop::new()?;
    let server = lp.create_tls_server(|| EchoServerClientProtocol, addr.as_str(), tls)?;

    println!("Serving on {}", server.sockets()[0]);
    lp.run_forever()?;

    server.close();
    server.wait_closed(&mut lp)?;
    Ok(())
}
