//! `app = "echo-async"` served by the `shardloop` binary: the streams echo
//! behaves as the protocol echo — every byte back in order, backpressure
//! on a client that does not read, a clean close on the client's EOF, and
//! a graceful drain.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use common::*;

/// The binary's test configuration (`common::SERVE`), serving echo-async.
fn config() -> String {
    SERVE.replace("app = \"echo\"", "app = \"echo-async\"")
}

#[test]
fn echo_async_echoes_every_byte_in_order_from_many_clients_then_closes_on_eof() {
    let (mut server, addr, _log) = serve(&config());
    let clients: Vec<_> = (0..8)
        .map(|c| {
            std::thread::spawn(move || {
                let s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(DEADLINE)).unwrap();
                let mut w = s.try_clone().unwrap();
                let total = 2 << 20;
                let writer = std::thread::spawn(move || {
                    let data: Vec<u8> = (0..total).map(|i| ((i * 7 + c) % 251) as u8).collect();
                    for piece in data.chunks(1000 + c * 357) {
                        w.write_all(piece).unwrap();
                    }
                    w.shutdown(Shutdown::Write).unwrap();
                });
                let mut r = s;
                let mut back = Vec::new();
                r.read_to_end(&mut back)
                    .expect("a clean EOF after the echo");
                writer.join().unwrap();
                assert_eq!(back.len(), total);
                assert!(back
                    .iter()
                    .enumerate()
                    .all(|(i, b)| *b == ((i * 7 + c) % 251) as u8));
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    sigterm(&server);
    assert!(wait_exit(&mut server).success());
}

#[test]
fn echo_async_stops_reading_from_a_client_that_does_not_read_then_returns_everything() {
    let (mut server, addr, _log) = serve(&config());
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    // Write without reading until the server stops taking data (the
    // task waits in drain, the reader's buffer fills, reading pauses, the
    // kernel buffers fill). Bounded: without backpressure this would run
    // to the cap.
    s.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let chunk = vec![0x5a; 64 * 1024];
    let cap = 512 << 20;
    let written = write_until_pushed_back(&mut s, &chunk, cap);
    assert!(written < cap, "the server never pushed back");
    let rss = rss_kib(server.id());
    // Everything it took comes back once we read.
    s.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    assert_eq!(back.len(), written);
    assert!(back.iter().all(|b| *b == 0x5a));
    // What the server held meanwhile stayed small (kernel buffers aside):
    // the write queue's high-water mark and twice the reader's limit.
    assert!(rss < 64 * 1024, "server RSS {rss} KiB while held");
    sigterm(&server);
    assert!(wait_exit(&mut server).success());
}
