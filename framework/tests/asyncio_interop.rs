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
    Command::new("python3")
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
