//! Graceful shutdown of the `shardloop` binary under real signals: the drain
//! loses nothing, a second signal cuts it short, SIGHUP is survived.

mod common;

use std::io::{BufRead, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

const CLIENTS: usize = 12;

/// Byte `i` of what client `c` sends: every stream is recognisable.
fn pattern(c: usize, i: usize) -> u8 {
    ((i * 7 + c * 13) % 251) as u8
}

/// What a slow client saw.
struct Outcome {
    received: usize,
    intact: bool,
    clean_eof: bool,
    error: Option<std::io::Error>,
}

/// A client that writes as fast as the server takes it and reads at about
/// 1 MiB/s behind a small receive buffer, until the server's EOF; then
/// closes. Counts what it read in `progress`.
fn slow_client(addr: std::net::SocketAddr, c: usize, progress: Arc<AtomicUsize>) -> Outcome {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(16 * 1024).unwrap();
    sock.connect(&addr.into()).unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let mut w = s.try_clone().unwrap();
    let writer_done = Arc::clone(&done);
    let writer = std::thread::spawn(move || {
        let mut buf = vec![0u8; 8192];
        let mut sent = 0usize;
        let start = Instant::now();
        while !writer_done.load(Ordering::Acquire) && start.elapsed() < DEADLINE {
            for (j, b) in buf.iter_mut().enumerate() {
                *b = pattern(c, sent + j);
            }
            match w.write(&buf) {
                // A partial write: the next chunk starts where it stopped.
                Ok(n) => sent += n,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    });
    let mut buf = [0u8; 16 * 1024];
    let mut received = 0;
    let mut intact = true;
    let mut next = Instant::now();
    let (clean_eof, error) = loop {
        // About 1 MiB/s: 16 KiB every 16 ms.
        next += Duration::from_millis(16);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        match s.read(&mut buf) {
            Ok(0) => break (true, None),
            Ok(n) => {
                intact &= buf[..n]
                    .iter()
                    .enumerate()
                    .all(|(j, b)| *b == pattern(c, received + j));
                received += n;
                progress.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => break (false, Some(e)),
        }
    };
    done.store(true, Ordering::Release);
    let writer = writer.join().unwrap();
    let _ = s.shutdown(Shutdown::Both);
    Outcome {
        received,
        intact,
        clean_eof,
        error: error.or(writer.err()),
    }
}

#[test]
fn sigterm_drain_waits_for_slow_readers_every_accepted_byte_comes_back_then_a_clean_eof() {
    let (mut child, addr, log) = serve(
        "[runtime]\nshards = 2\npin_cores = false\n[limits]\ndrain_timeout = \"60s\"\n\
         [log]\nlevel = \"info\"\nformat = \"json\"\n\
         [[listener]]\nname = \"echo\"\naddress = \"127.0.0.1:0\"\napp = \"echo\"\n",
    );
    let progress = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let progress = Arc::clone(&progress);
            std::thread::spawn(move || slow_client(addr, c, progress))
        })
        .collect();
    // SIGTERM once every client is well into its echo.
    let start = Instant::now();
    while progress.load(Ordering::Relaxed) < CLIENTS * 256 * 1024 {
        assert!(start.elapsed() < DEADLINE, "the echo did not get going");
        std::thread::sleep(Duration::from_millis(10));
    }
    let signalled = Instant::now();
    sigterm(&child);
    let outcomes: Vec<Outcome> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let status = wait_exit(&mut child);
    let exit_after = signalled.elapsed();
    let total: usize = outcomes.iter().map(|o| o.received).sum();
    for (c, o) in outcomes.iter().enumerate() {
        assert!(
            o.intact,
            "client {c}: the echo is an intact prefix of what it sent"
        );
        assert!(
            o.clean_eof && o.error.is_none(),
            "client {c}: a clean EOF, never a reset (got {:?} after {} bytes)",
            o.error,
            o.received
        );
    }
    assert!(status.success(), "exit 0 after a complete drain: {status}");
    let log: Vec<String> = log.lines().map_while(Result::ok).collect();
    let end = log
        .iter()
        .find(|l| l.contains("drain finished"))
        .unwrap_or_else(|| panic!("a drain summary in the log: {log:?}"));
    assert!(end.contains("\"aborted\":0"), "{end}");
    eprintln!("{CLIENTS} slow clients: {total} bytes echoed back, clean EOF each, exit after {exit_after:?}");
}

#[test]
fn a_second_sigterm_during_the_drain_aborts_the_rest_and_exits_non_zero() {
    let (mut child, addr, mut log) = serve(
        "[runtime]\nshards = 1\npin_cores = false\n[limits]\ndrain_timeout = \"1h\"\n\
         [log]\nformat = \"json\"\n\
         [[listener]]\nname = \"echo\"\naddress = \"127.0.0.1:0\"\napp = \"echo\"\n",
    );
    // Two clients that never read: their echo fills the server's queue, so
    // the drain cannot finish on its own within the hour.
    let stuck: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_write_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let chunk = vec![7u8; 64 * 1024];
            let start = Instant::now();
            // Until the kernel stops taking more: both directions are full.
            while s.write(&chunk).is_ok() {
                assert!(start.elapsed() < DEADLINE);
            }
            s
        })
        .collect();
    sigterm(&child);
    let started = wait_for_log(&mut log, "drain started");
    assert!(started.contains("\"connections\":2"), "{started}");
    sigterm(&child);
    let status = wait_exit(&mut child);
    assert!(!status.success(), "a cut drain exits non-zero: {status}");
    let rest: Vec<String> = log.lines().map_while(Result::ok).collect();
    let finished = rest
        .iter()
        .find(|l| l.contains("drain finished"))
        .unwrap_or_else(|| panic!("a drain summary: {rest:?}"));
    assert!(
        finished.contains("\"waited\":2") && finished.contains("\"aborted\":2"),
        "{finished}"
    );
    assert!(
        rest.iter()
            .any(|l| l.contains("cut short") && l.contains("2 of 2 connections aborted")),
        "the exit names how many connections were cut: {rest:?}"
    );
    drop(stuck);
}

#[test]
fn sighup_reloads_and_the_server_carries_on_serving() {
    let (mut child, addr, mut log) = serve(SERVE);
    signal(&child, libc::SIGHUP);
    wait_for_log(&mut log, "configuration reloaded");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(b"still here").unwrap();
    let mut b = [0; 10];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"still here");
    drop(s);
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
}

/// The address a "listening" log line of `name` reports.
fn listening_address(log: &mut impl BufRead, name: &str) -> std::net::SocketAddr {
    loop {
        let line = wait_for_log(log, "\"listening\"");
        if line.contains(&format!("\"listener\":\"{name}\"")) {
            let start = line.find("\"address\":\"").unwrap() + 11;
            let end = start + line[start..].find('"').unwrap();
            return line[start..end].parse().unwrap();
        }
    }
}

fn echo(s: &mut TcpStream, msg: &[u8]) {
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(msg).unwrap();
    let mut back = vec![0; msg.len()];
    s.read_exact(&mut back).unwrap();
    assert_eq!(back, msg);
}

#[test]
fn sighup_reloads_listeners_keeps_open_connections_and_refuses_an_invalid_config() {
    let head = "[runtime]\nshards = 2\npin_cores = false\n[log]\nformat = \"json\"\n\
                [metrics]\naddress = \"127.0.0.1:0\"\n";
    let first =
        format!("{head}[[listener]]\nname = \"a\"\naddress = \"127.0.0.1:0\"\napp = \"echo\"\n");
    let path = temp_config("reload.toml", &first);
    let (mut child, a, mut log) = serve_file(&path);
    let maddr = {
        let line = wait_for_log(&mut log, "metrics on");
        let start = line.find("\"address\":\"").unwrap() + 11;
        let end = start + line[start..].find('"').unwrap();
        line[start..end].parse::<std::net::SocketAddr>().unwrap()
    };
    let mut held = TcpStream::connect(a).unwrap();
    echo(&mut held, b"before");
    // Listener a goes, b comes, the marks change.
    std::fs::write(
        &path,
        format!(
            "{head}[limits]\nwrite_buffer_high = \"128KiB\"\n\
             [[listener]]\nname = \"b\"\naddress = \"127.0.0.1:0\"\napp = \"echo\"\n"
        ),
    )
    .unwrap();
    signal(&child, libc::SIGHUP);
    let b = listening_address(&mut log, "b");
    let done = wait_for_log(&mut log, "configuration reloaded");
    assert!(done.contains("\"applied\":true"), "{done}");
    let mut nb = TcpStream::connect(b).unwrap();
    echo(&mut nb, b"new listener");
    assert_eq!(
        TcpStream::connect(a).unwrap_err().kind(),
        std::io::ErrorKind::ConnectionRefused,
        "the removed listener refuses"
    );
    echo(
        &mut held,
        b"an open connection finishes under the old config",
    );
    // An invalid configuration changes nothing.
    std::fs::write(
        &path,
        format!("{head}[limits]\nwrite_buffer_low = \"1GiB\"\n"),
    )
    .unwrap();
    signal(&child, libc::SIGHUP);
    let refused = wait_for_log(&mut log, "reload refused");
    assert!(refused.contains("reload.toml"), "names the file: {refused}");
    echo(&mut nb, b"still serving");
    let mut m = TcpStream::connect(maddr).unwrap();
    m.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    m.read_to_string(&mut body).unwrap();
    assert!(
        body.contains("shardloop_config_reloads_total{result=\"applied\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("shardloop_config_reloads_total{result=\"failed\"} 1"),
        "{body}"
    );
    drop((held, nb));
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
}
