//! Interop with real Python asyncio peers running the seed's own example
//! programs (ports changed to 0 / passed in). `.ci/run` installs python3.

mod util;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use shardloop::EventLoop;
use util::*;

/// The seed's TCP echo client protocol, port from argv.
const SEED_CLIENT: &str = r#"
import asyncio, sys

class EchoClientProtocol(asyncio.Protocol):
    def __init__(self, message, loop):
        self.message = message
        self.loop = loop

    def connection_made(self, transport):
        transport.write(self.message.encode())
        print('Data sent: {!r}'.format(self.message))

    def data_received(self, data):
        print('Data received: {!r}'.format(data.decode()))

    def connection_lost(self, exc):
        print('The server closed the connection')
        print('Stop the event lop')
        self.loop.stop()

loop = asyncio.new_event_loop()
message = 'Hello World!'
coro = loop.create_connection(lambda: EchoClientProtocol(message, loop),
                              '127.0.0.1', int(sys.argv[1]))
loop.run_until_complete(coro)
loop.call_later(5, loop.stop)  # the seed's race, bounded as for UDP below
loop.run_forever()
loop.close()
"#;

/// The seed's TCP echo server protocol on port 0, printing its port.
const SEED_SERVER: &str = r#"
import asyncio, sys

class EchoServerClientProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)
        self.transport.close()

loop = asyncio.new_event_loop()
coro = loop.create_server(EchoServerClientProtocol, '127.0.0.1', 0)
server = loop.run_until_complete(coro)
print('PORT', server.sockets[0].getsockname()[1], flush=True)
loop.call_later(20, loop.stop)  # bounded: the test kills it sooner
loop.run_forever()
"#;

fn python(script: &str, args: &[&str]) -> Child {
    tool("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 is needed for the asyncio interop tests (.ci/run installs it)")
}

/// Runs the loop until the child exits; kills it at the deadline.
fn run_until_exit(lp: &mut EventLoop, child: &mut Child) -> std::process::ExitStatus {
    let start = Instant::now();
    let mut status = None;
    run_until(lp, |_| {
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
        }
        status = child.try_wait().unwrap();
        status.is_some()
    });
    status.unwrap()
}

#[test]
fn seed_python_client_against_shardloop_echo_server() {
    let mut lp = EventLoop::new().unwrap();
    let server = lp
        .create_server(
            || {
                Probe::new(&new_log()).data(|t, d, _| {
                    t.write(d).unwrap();
                    t.close();
                })
            },
            "127.0.0.1:0",
        )
        .unwrap();
    let port = inet(&server).port().to_string();
    let mut child = python(SEED_CLIENT, &[&port]);
    let status = run_until_exit(&mut lp, &mut child);
    let out = std::io::read_to_string(child.stdout.take().unwrap()).unwrap();
    assert!(status.success(), "{out}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec![
            "Data sent: 'Hello World!'",
            "Data received: 'Hello World!'",
            "The server closed the connection",
            "Stop the event lop",
        ]
    );
}

#[test]
fn shardloop_client_against_seed_python_echo_server() {
    let mut child = python(SEED_SERVER, &[]);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let port: u16 = line
        .strip_prefix("PORT ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("python server said {line:?}"));
    let mut lp = EventLoop::new().unwrap();
    let log = new_log();
    let l = log.clone();
    lp.create_connection(
        move || Probe::new(&l).made(|t, _| t.write(b"Hello World!").unwrap()),
        ("127.0.0.1", port),
    )
    .unwrap();
    run_until_log(&mut lp, &log, has_lost);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(received(&log.borrow()), b"Hello World!");
    assert_eq!(log.borrow().last(), Some(&Ev::Lost(None)));
}

/// The seed's UDP echo client protocol, port from argv.
const SEED_UDP_CLIENT: &str = r#"
import asyncio, sys

class EchoClientProtocol:
    def __init__(self, message, loop):
        self.message = message
        self.loop = loop
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        print('Send:', self.message)
        self.transport.sendto(self.message.encode())

    def datagram_received(self, data, addr):
        print("Received:", data.decode())
        print("Close the socket")
        self.transport.close()

    def error_received(self, exc):
        print('Error received:', exc)

    def connection_lost(self, exc):
        print("Socket closed, stop the event loop")
        self.loop.stop()

loop = asyncio.new_event_loop()
message = "Hello World!"
connect = loop.create_datagram_endpoint(
    lambda: EchoClientProtocol(message, loop),
    remote_addr=('127.0.0.1', int(sys.argv[1])))
transport, protocol = loop.run_until_complete(connect)
# Bounded well inside the test's deadline. The seed program races: when the
# echo arrives before run_until_complete returns, its loop.stop() is spent
# on that run and run_forever waits for this bound (the output is the same).
loop.call_later(5, loop.stop)
loop.run_forever()
transport.close()
loop.close()
"#;

struct UdpEcho;
impl shardloop::DatagramProtocol for UdpEcho {
    fn datagram_received(
        &mut self,
        t: &mut shardloop::DatagramTransport,
        data: &[u8],
        addr: std::net::SocketAddr,
    ) {
        t.sendto(data, Some(addr)).unwrap();
    }
}

#[test]
fn seed_python_udp_client_against_shardloop_udp_echo() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp
        .create_datagram_endpoint(
            || UdpEcho,
            Some("127.0.0.1:0".parse().unwrap()),
            None,
            shardloop::DatagramOptions::default(),
        )
        .unwrap();
    let port = lp
        .with_datagram(h, |_: &mut UdpEcho, t| t.sockname())
        .flatten()
        .unwrap()
        .port()
        .to_string();
    let mut child = python(SEED_UDP_CLIENT, &[&port]);
    let status = run_until_exit(&mut lp, &mut child);
    let out = std::io::read_to_string(child.stdout.take().unwrap()).unwrap();
    assert!(status.success(), "{out}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec![
            "Send: Hello World!",
            "Received: Hello World!",
            "Close the socket",
            "Socket closed, stop the event loop",
        ]
    );
}

/// An example program built next to this test (`cargo test` and
/// `cargo nextest run` build the examples).
fn example(name: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is not built: run the tests with `cargo nextest run --workspace` or `cargo test`",
        path.display()
    );
    let mut c = Command::new(path);
    c.stdout(Stdio::piped()).stderr(Stdio::inherit());
    c
}

/// Starts an example server and reads its first line (`<what> on ADDR`).
fn example_server(
    name: &str,
    args: &[&str],
) -> (Child, String, BufReader<std::process::ChildStdout>) {
    let mut child = example(name).args(args).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_else(|| panic!("{name} said {line:?}"))
        .to_string();
    (child, addr, out)
}

/// Kills a child still running at the deadline; its exit status.
fn wait_bounded(child: &mut Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn seed_python_client_against_the_stream_echo_server_example() {
    let (mut server, addr, mut out) = example_server("stream_echo_server", &["127.0.0.1:0"]);
    let port = addr.rsplit(':').next().unwrap().to_string();
    let mut client = python(SEED_CLIENT, &[&port]);
    let status = wait_bounded(&mut client);
    let said = std::io::read_to_string(client.stdout.take().unwrap()).unwrap();
    assert!(status.success(), "{said}");
    assert_eq!(
        said.lines().collect::<Vec<_>>(),
        vec![
            "Data sent: 'Hello World!'",
            "Data received: 'Hello World!'",
            "The server closed the connection",
            "Stop the event lop",
        ]
    );
    // The server's own output, as tcp_echo_server prints it.
    let mut lines = Vec::new();
    for _ in 0..4 {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        lines.push(l.trim_end().to_string());
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        lines[0].starts_with("Connection from 127.0.0.1:"),
        "{lines:?}"
    );
    assert_eq!(
        lines[1..],
        [
            "Data received: \"Hello World!\"",
            "Send: \"Hello World!\"",
            "Close the client socket"
        ]
    );
}

#[test]
fn the_stream_echo_client_example_against_the_seed_python_server_prints_as_tcp_echo_client() {
    let mut outputs = Vec::new();
    for name in ["stream_echo_client", "tcp_echo_client"] {
        let mut server = python(SEED_SERVER, &[]);
        let mut stdout = BufReader::new(server.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let port = line.strip_prefix("PORT ").unwrap().trim().to_string();
        let mut client = example(name)
            .arg(format!("127.0.0.1:{port}"))
            .spawn()
            .unwrap();
        let status = wait_bounded(&mut client);
        let said = std::io::read_to_string(client.stdout.take().unwrap()).unwrap();
        let _ = server.kill();
        let _ = server.wait();
        assert!(status.success(), "{name}: {said}");
        outputs.push(said);
    }
    assert_eq!(
        outputs[0].lines().collect::<Vec<_>>(),
        vec![
            "Data sent: \"Hello World!\"",
            "Data received: \"Hello World!\"",
            "The server closed the connection",
            "Stop the event loop",
        ]
    );
    assert_eq!(outputs[0], outputs[1]);
}

#[test]
fn the_stream_proxy_example_carries_megabytes_both_ways_and_passes_the_half_close_on() {
    // Upstream: echo every byte, then answer EOF with EOF.
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up_addr = upstream.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in upstream.incoming().take(2) {
            let mut s = s.unwrap();
            std::thread::spawn(move || {
                let mut r = s.try_clone().unwrap();
                std::io::copy(&mut r, &mut s).unwrap();
                s.shutdown(std::net::Shutdown::Write).unwrap();
            });
        }
    });
    let (mut proxy, addr, _out) =
        example_server("stream_proxy", &["127.0.0.1:0", &up_addr.to_string()]);
    let clients: Vec<_> = (0..2)
        .map(|c| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let s = std::net::TcpStream::connect(addr.as_str()).unwrap();
                s.set_read_timeout(Some(DEADLINE)).unwrap();
                let mut w = s.try_clone().unwrap();
                let total = 8 << 20;
                let writer = std::thread::spawn(move || {
                    let chunk: Vec<u8> = (0..65536).map(|i| ((i + c) % 253) as u8).collect();
                    for _ in 0..total / chunk.len() {
                        w.write_all(&chunk).unwrap();
                    }
                    w.shutdown(std::net::Shutdown::Write).unwrap();
                });
                let mut r = s;
                let mut back = Vec::new();
                r.read_to_end(&mut back)
                    .expect("a clean EOF through the proxy");
                writer.join().unwrap();
                assert_eq!(back.len(), total);
                assert!(back
                    .iter()
                    .enumerate()
                    .all(|(i, b)| *b == ((i % 65536 + c) % 253) as u8));
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let _ = proxy.kill();
    let _ = proxy.wait();
}
