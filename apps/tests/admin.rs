//! The admin endpoint (`/metrics`, `/ready`, `/live`) against hostile
//! clients, from outside: a thousand connections dribbling a request a
//! byte a second, idle connections up to the cap, and one more.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

/// What the endpoint answers to `GET path`: the status line and the body.
fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: probe\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// The request the dribblers send, far longer than the deadline lets
/// them finish at a byte a second.
const SLOW_REQUEST: &[u8] =
    b"GET /metrics HTTP/1.1\r\nHost: dribbler.example\r\nUser-Agent: one-byte-a-second\r\n\r\n";

#[test]
fn probes_answer_while_a_thousand_clients_dribble_and_the_deadline_cuts_each_dribbler() {
    raise_fd_limit();
    let (mut child, _addr, mut log) = serve(
        "[runtime]\nshards = 2\npin_cores = false\n[log]\nformat = \"json\"\n[metrics]\naddress = \"127.0.0.1:0\"\n\
         [[listener]]\nname = \"echo\"\naddress = \"127.0.0.1:0\"\napp = \"echo\"\n",
    );
    let maddr = metrics_address(&mut log);
    wait_ready(maddr);

    let mut dribblers: Vec<TcpStream> = (0..1000)
        .map(|_| {
            let s = TcpStream::connect(maddr).unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let mut answers: Vec<Vec<u8>> = vec![Vec::new(); dribblers.len()];
    let mut closed = vec![false; dribblers.len()];
    let mut probes = 0;
    let mut sent = 0;
    let start = Instant::now();
    // One byte a second from each, until every dribbler was cut; each
    // second, the three probes.
    while closed.iter().any(|c| !c) {
        assert!(start.elapsed() < DEADLINE * 2, "dribblers still open");
        assert!(sent < SLOW_REQUEST.len(), "a dribbler finished its request");
        for (i, s) in dribblers.iter_mut().enumerate() {
            if !closed[i] {
                // A write after the server closed may fail: that is the cut.
                let _ = s.write(&SLOW_REQUEST[sent..sent + 1]);
            }
        }
        sent += 1;
        for path in ["/live", "/ready", "/metrics"] {
            let (status, body) = get(maddr, path);
            assert_eq!(status, "HTTP/1.1 200 OK", "{path} with dribblers: {body}");
            if path == "/metrics" {
                assert!(body.contains("shardloop_build_info"), "{body}");
            }
            probes += 1;
        }
        let second = Instant::now() + Duration::from_secs(1);
        while Instant::now() < second {
            for (i, s) in dribblers.iter_mut().enumerate() {
                let mut buf = [0u8; 512];
                while !closed[i] {
                    match s.read(&mut buf) {
                        Ok(0) => closed[i] = true,
                        Ok(n) => answers[i].extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => closed[i] = true,
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert!(probes >= 9, "{probes} probes");
    for a in &answers {
        let text = String::from_utf8_lossy(a);
        assert!(
            text.starts_with("HTTP/1.1 408 Request Timeout"),
            "a dribbler's answer: {text:?}"
        );
    }
    // Nothing of them is left: the endpoint still answers.
    assert_eq!(get(maddr, "/live").0, "HTTP/1.1 200 OK");
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
}

#[test]
fn one_connection_over_the_cap_gets_503_at_once_and_those_served_keep_their_request() {
    // 4,097 connections here and as many in the server.
    let limit = raise_fd_limit();
    assert!(
        limit >= 8_400,
        "the descriptor limit ({limit}) is too low for 4,097 connections each side"
    );
    let (mut child, _addr, mut log) = serve(
        "[runtime]\nshards = 1\npin_cores = false\n[log]\nformat = \"json\"\n[metrics]\naddress = \"127.0.0.1:0\"\n\
         [[listener]]\nname = \"echo\"\naddress = \"127.0.0.1:0\"\napp = \"echo\"\n",
    );
    let maddr = metrics_address(&mut log);
    wait_ready(maddr);
    // The cap (4,096) of silent connections, each accepted and counted.
    let mut held: Vec<TcpStream> = Vec::new();
    let mut extra = None;
    let start = Instant::now();
    while extra.is_none() {
        assert!(
            start.elapsed() < DEADLINE,
            "no 503 after {} connections",
            held.len()
        );
        let mut s = TcpStream::connect(maddr).unwrap();
        if held.len() >= 4096 {
            // Past the cap: answered at once.
            s.set_read_timeout(Some(DEADLINE)).unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            extra = Some(out);
        } else {
            s.set_nonblocking(true).unwrap();
            held.push(s);
        }
    }
    let extra = extra.unwrap();
    assert!(
        extra.starts_with("HTTP/1.1 503 Service Unavailable"),
        "{extra:?}"
    );
    // A connection already served is untouched: it finishes its request
    // and gets its answer.
    let mut first = held.remove(0);
    first.set_nonblocking(false).unwrap();
    first.set_read_timeout(Some(DEADLINE)).unwrap();
    first
        .write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    first.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out:?}");
    drop(held);
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
}
