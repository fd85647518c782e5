//! The metrics endpoint of the binary, scraped for real: reachable when the
//! server is full, valid for `promtool`, labelled per listener.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

fn scrape(addr: SocketAddr) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

fn echo_once(s: &mut TcpStream) {
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(b"x").unwrap();
    let mut b = [0; 1];
    s.read_exact(&mut b).unwrap();
}

#[test]
fn metrics_stay_reachable_at_max_connections_labelled_per_listener_and_pass_promtool() {
    let (mut child, addr, mut log) = serve(
        "[runtime]\nshards = 2\npin_cores = false\n[limits]\nmax_connections = 4\n\
         [log]\nformat = \"json\"\n[metrics]\naddress = \"127.0.0.1:0\"\n\
         [[listener]]\nname = \"echo \\\"main\\\"\"\naddress = \"127.0.0.1:0\"\napp = \"echo\"\n",
    );
    let maddr = metrics_address(&mut log);
    let mut full: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for s in &mut full {
        echo_once(s);
    }
    // At the cap: a fifth connection waits in the backlog, unserved.
    let mut waiting = TcpStream::connect(addr).unwrap();
    waiting
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    waiting.write_all(b"y").unwrap();
    let mut b = [0; 1];
    assert!(waiting.read(&mut b).is_err(), "not served while at the cap");
    // A silent scraper does not hold the endpoint.
    let _silent = TcpStream::connect(maddr).unwrap();
    let (head, body) = scrape(maddr);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    let active: u64 = body
        .lines()
        .filter(|l| l.starts_with("shardloop_connections_active{listener=\"echo \\\"main\\\"\""))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    assert_eq!(active, 4, "{body}");
    assert!(body.contains("shardloop_build_info{version="), "{body}");
    assert!(body.contains("\nprocess_open_fds "), "{body}");

    assert_promtool_clean(&body);

    // A freed slot lets the waiting connection in.
    drop(full.pop());
    let start = Instant::now();
    waiting.set_read_timeout(Some(DEADLINE)).unwrap();
    waiting.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"y");
    assert!(start.elapsed() < DEADLINE);
    drop(full);
    drop(waiting);
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
}
