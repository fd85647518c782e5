//! Restarts that lose nothing (P11): clients send every request in several
//! writes a millisecond apart — as requests arrive through a network or a
//! proxy — to echo (through the acceptor and on `reuseport` sockets), http
//! and kv, across 5 takeovers and 5 SIGTERM drains; during the takeovers a
//! UDP client too, whose every datagram must come back (the old and the
//! new process read the same sockets: none closes under a datagram).
//! Every request is answered whole: echo returns every byte, http answers
//! (with `Connection: close` once draining) and kv replies to every
//! command, or, for a command the server never read, closes before it; the
//! client then sends it again on a new connection. A request counts as
//! lost when the server read part of it and did not answer it whole.
//!
//! kv persists (`appendonly`, `appendfsync = "always"`): every key a kv
//! client had acknowledged is there, with its value, after each takeover
//! and after each restart.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

/// Writes `msg` in 4 pieces, 1 ms apart.
fn write_in_pieces(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    let q = msg.len().div_ceil(4).max(1);
    for piece in msg.chunks(q) {
        s.write_all(piece)?;
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Tallies of one client.
#[derive(Default, Debug)]
struct Tally {
    answered: u64,
    /// Requests the server closed before reading (sent again).
    resent: u64,
    failures: Vec<String>,
}

/// Echo: one request per connection, 20 KB in pieces, then a half-close;
/// the whole echo must come back.
fn echo_client(addr: SocketAddr, c: usize, stop: Arc<AtomicBool>) -> Tally {
    let mut t = Tally::default();
    let mut n = 0u64;
    while !stop.load(Ordering::Acquire) {
        let msg: Vec<u8> = (0..20_000)
            .map(|i| (i as u64 * 7 + n + c as u64) as u8)
            .collect();
        // What came back, and the error that ended it early, if any.
        let mut back = Vec::new();
        let r = (|| -> std::io::Result<()> {
            let mut s = TcpStream::connect(addr)?;
            s.set_read_timeout(Some(DEADLINE))?;
            write_in_pieces(&mut s, &msg)?;
            s.shutdown(Shutdown::Write)?;
            let mut buf = [0u8; 8192];
            loop {
                match s.read(&mut buf)? {
                    0 => return Ok(()),
                    k => back.extend_from_slice(&buf[..k]),
                }
            }
        })();
        match r {
            Ok(()) if back == msg => t.answered += 1,
            // Reset with nothing back: a connection the server never
            // accepted (it was in the backlog when a drain closed the
            // listener, which the kernel resets) — nothing of it was read.
            Err(e) if back.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => {
                t.resent += 1
            }
            Ok(()) => t
                .failures
                .push(format!("echo {n}: {} of {} bytes", back.len(), msg.len())),
            Err(e) => t.failures.push(format!(
                "echo {n}: {e} after {} of {} bytes",
                back.len(),
                msg.len()
            )),
        }
        n += 1;
    }
    t
}

/// http: keep-alive GETs, each head in pieces; a response must be whole;
/// `Connection: close` means a new connection for the next.
fn http_client(addr: SocketAddr, stop: Arc<AtomicBool>) -> Tally {
    let mut t = Tally::default();
    let mut conn: Option<BufReader<TcpStream>> = None;
    let mut n = 0u64;
    while !stop.load(Ordering::Acquire) {
        let r = (|| -> std::io::Result<(String, bool)> {
            if conn.is_none() {
                let s = TcpStream::connect(addr)?;
                s.set_read_timeout(Some(DEADLINE))?;
                conn = Some(BufReader::new(s));
            }
            let c = conn.as_mut().expect("connected");
            write_in_pieces(
                c.get_mut(),
                format!("GET /plaintext?n={n} HTTP/1.1\r\nHost: restart.test\r\nUser-Agent: pieces\r\n\r\n").as_bytes(),
            )?;
            let mut status = String::new();
            if c.read_line(&mut status)? == 0 {
                return Ok((String::new(), true));
            }
            let (mut length, mut close) = (0usize, false);
            loop {
                let mut line = String::new();
                c.read_line(&mut line)?;
                let l = line.to_ascii_lowercase();
                if let Some(v) = l.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if l.starts_with("connection:") && l.contains("close") {
                    close = true;
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let mut body = vec![0u8; length];
            c.read_exact(&mut body)?;
            Ok((
                format!("{}{}", status.trim_end(), String::from_utf8_lossy(&body)),
                close,
            ))
        })();
        match r {
            Ok((answer, _)) if answer.is_empty() => {
                // Closed before our request was read: send it again.
                t.resent += 1;
                conn = None;
                continue;
            }
            Ok((answer, close)) => {
                if answer == "HTTP/1.1 200 OKHello, World!" {
                    t.answered += 1;
                } else {
                    t.failures.push(format!("http {n}: {answer}"));
                }
                if close {
                    conn = None;
                }
            }
            Err(e) => {
                t.failures.push(format!("http {n}: {e}"));
                conn = None;
            }
        }
        n += 1;
    }
    t
}

/// kv: `SET c:n n`, each command in pieces, then its reply; a command
/// closed on without a reply is sent again on a new connection.
fn kv_client(addr: SocketAddr, prefix: String, stop: Arc<AtomicBool>) -> (Tally, u64) {
    let mut t = Tally::default();
    let mut conn: Option<BufReader<TcpStream>> = None;
    let mut n = 0u64;
    while !stop.load(Ordering::Acquire) {
        let key = format!("{prefix}:{n}");
        let val = n.to_string();
        let cmd = format!(
            "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{val}\r\n",
            key.len(),
            val.len()
        );
        let r = (|| -> std::io::Result<String> {
            if conn.is_none() {
                let s = TcpStream::connect(addr)?;
                s.set_read_timeout(Some(DEADLINE))?;
                conn = Some(BufReader::new(s));
            }
            let c = conn.as_mut().expect("connected");
            write_in_pieces(c.get_mut(), cmd.as_bytes())?;
            let mut line = String::new();
            c.read_line(&mut line)?;
            Ok(line)
        })();
        match r {
            Ok(line) if line == "+OK\r\n" => {
                t.answered += 1;
                n += 1;
            }
            Ok(line) if line.is_empty() => {
                t.resent += 1;
                conn = None;
            }
            Ok(line) => {
                t.failures.push(format!("kv {key}: {line:?}"));
                n += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                t.resent += 1;
                conn = None;
            }
            Err(e) => {
                t.failures.push(format!("kv {key}: {e}"));
                conn = None;
            }
        }
    }
    (t, n)
}

/// UDP echo: one datagram at a time, each of its own content; every one
/// must come back within the deadline.
fn udp_client(addr: SocketAddr, c: usize, stop: Arc<AtomicBool>) -> Tally {
    let mut t = Tally::default();
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = [0u8; 2048];
    let mut n = 0u64;
    while !stop.load(Ordering::Acquire) {
        let msg = format!("udp client {c} datagram {n}");
        n += 1;
        let r = s.send(msg.as_bytes()).and_then(|_| s.recv(&mut buf));
        match r {
            Ok(k) if &buf[..k] == msg.as_bytes() => t.answered += 1,
            Ok(k) => t.failures.push(format!(
                "udp: {:?} for {msg:?}",
                String::from_utf8_lossy(&buf[..k])
            )),
            Err(e) => t.failures.push(format!("udp: {msg:?}: {e}")),
        }
    }
    t
}

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    temp_config(
        "restarts.toml",
        &format!(
            "[runtime]\nshards = 2\npin_cores = false\ncontrol_socket = \"{}\"\n\
             [limits]\ndrain_timeout = \"20s\"\n[log]\nformat = \"json\"\n\
             [metrics]\naddress = \"127.0.0.1:0\"\n\
             [[listener]]\nname = \"echo\"\naddress = \"127.0.0.1:0\"\napp = \"echo\"\n\
             [[listener]]\nname = \"http\"\naddress = \"127.0.0.1:0\"\napp = \"http\"\n\
             [[listener]]\nname = \"kv\"\naddress = \"127.0.0.1:0\"\napp = \"kv\"\n\
             [listener.kv]\nappendonly = true\nappendfsync = \"always\"\ndir = \"{}\"\n\
             [[listener]]\nname = \"echo-rp\"\naddress = \"127.0.0.1:0\"\napp = \"echo\"\n\
             distribution = \"reuseport\"\n\
             [[listener]]\nname = \"udp\"\naddress = \"127.0.0.1:0\"\napp = \"echo\"\n\
             protocol = \"udp\"\n",
            dir.join("control.sock").display(),
            dir.display()
        ),
    )
}

/// The addresses of the five listeners, in the order of the config (the
/// log says `udp:IP:PORT` for the UDP one, and `(inherited)` after a
/// takeover).
fn addresses(log: &mut impl BufRead) -> Vec<SocketAddr> {
    (0..5)
        .map(|_| {
            let line = wait_for_log(log, "\"listening\"");
            let start = line.find("\"address\":\"").unwrap() + 11;
            let a = &line[start..];
            let a = a.strip_prefix("udp:").unwrap_or(a);
            a[..a.find(['"', ' ']).unwrap()].parse().unwrap()
        })
        .collect()
}

/// Every kv key `PREFIX:i` (i below n) written and acknowledged, by prefix.
type Written = Vec<(String, u64)>;

/// Runs the kinds of clients against `addrs` while `restart` runs (UDP
/// with `udp`); returns every tally, and what the kv clients wrote (their
/// keys start with `tag`).
fn under_load(
    addrs: &[SocketAddr],
    udp: bool,
    tag: &str,
    restart: impl FnOnce(),
) -> (Vec<Tally>, Written) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut echo = Vec::new();
    let mut http = Vec::new();
    let mut kv = Vec::new();
    for c in 0..2 {
        let (a, s) = (addrs[0], Arc::clone(&stop));
        echo.push(std::thread::spawn(move || echo_client(a, c, s)));
        let (a, s) = (addrs[3], Arc::clone(&stop));
        echo.push(std::thread::spawn(move || echo_client(a, c + 2, s)));
        if udp {
            let (a, s) = (addrs[4], Arc::clone(&stop));
            echo.push(std::thread::spawn(move || udp_client(a, c, s)));
        }
        let (a, s) = (addrs[1], Arc::clone(&stop));
        http.push(std::thread::spawn(move || http_client(a, s)));
        let (a, s, prefix) = (addrs[2], Arc::clone(&stop), format!("{tag}c{c}"));
        kv.push((
            prefix.clone(),
            std::thread::spawn(move || kv_client(a, prefix, s)),
        ));
    }
    restart();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Release);
    let mut tallies: Vec<Tally> = echo
        .into_iter()
        .chain(http)
        .map(|h| h.join().unwrap())
        .collect();
    let mut written = Vec::new();
    for (prefix, h) in kv {
        let (t, n) = h.join().unwrap();
        tallies.push(t);
        written.push((prefix, n));
    }
    (tallies, written)
}

/// Checks that kv at `addr` holds every key in `written` with its value
/// (`PREFIX:i` = i); returns how many it checked.
fn check_kept(addr: SocketAddr, written: &[(String, u64)]) -> u64 {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut c = BufReader::new(s);
    let mut checked = 0;
    for (prefix, n) in written {
        for chunk in (0..*n).collect::<Vec<_>>().chunks(500) {
            let mut args = vec!["MGET".to_string()];
            args.extend(chunk.iter().map(|i| format!("{prefix}:{i}")));
            c.get_mut().write_all(&multibulk(&args)).unwrap();
            let mut line = String::new();
            c.read_line(&mut line).unwrap();
            assert_eq!(line, format!("*{}\r\n", chunk.len()));
            for i in chunk {
                let (mut len, mut val) = (String::new(), String::new());
                c.read_line(&mut len).unwrap();
                assert!(
                    len.starts_with('$') && !len.starts_with("$-1"),
                    "{prefix}:{i} lost"
                );
                c.read_line(&mut val).unwrap();
                assert_eq!(val.trim_end(), i.to_string(), "{prefix}:{i}");
                checked += 1;
            }
        }
    }
    checked
}

fn spawn_serve(
    args: &[&str],
    config: &std::path::Path,
) -> (Child, BufReader<std::process::ChildStderr>) {
    let mut child = Command::new(BIN)
        .args(args)
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = BufReader::new(child.stderr.take().unwrap());
    (child, log)
}

#[test]
fn five_takeovers_with_requests_in_pieces_answer_every_request_whole() {
    let dir = temp_dir("restarts-takeover");
    let config = config(&dir);
    let (mut old, mut log) = spawn_serve(&["serve"], &config);
    let addrs = addresses(&mut log);
    let maddr = metrics_address(&mut log);
    wait_ready(maddr);
    std::thread::spawn(move || for _ in log.lines() {});
    let mut all = Vec::new();
    let mut written = Written::new();
    for round in 0..5 {
        let mut next = None;
        let (tallies, w) = under_load(&addrs, true, &format!("t{round}"), || {
            std::thread::sleep(Duration::from_millis(200));
            let (new, mut new_log) = spawn_serve(&["serve", "--takeover"], &config);
            // The same sockets, so the same addresses (port 0 in the
            // config: binding afresh would get other ports).
            assert_eq!(addresses(&mut new_log), addrs, "round {round}");
            wait_for_log(&mut new_log, "lets go");
            std::thread::spawn(move || for _ in new_log.lines() {});
            assert!(
                wait_exit(&mut old).success(),
                "round {round}: the old server drained"
            );
            next = Some(new);
        });
        old = next.expect("a new server");
        all.extend(tallies);
        written.extend(w);
        // Every key written before (and during) the takeovers is there.
        let checked = check_kept(addrs[2], &written);
        eprintln!("takeover {round}: the {checked} kv keys acknowledged so far are all there");
    }
    report("takeovers", &all);
    sigterm(&old);
    assert!(wait_exit(&mut old).success());
}

#[test]
fn five_sigterm_drains_with_requests_in_pieces_answer_every_request_whole() {
    let dir = temp_dir("restarts-sigterm");
    let config = config(&dir);
    let mut all = Vec::new();
    let mut written = Written::new();
    for round in 0..5 {
        let (mut child, mut log) = spawn_serve(&["serve"], &config);
        let addrs = addresses(&mut log);
        std::thread::spawn(move || for _ in log.lines() {});
        // What the servers before this one acknowledged, loaded.
        let checked = check_kept(addrs[2], &written);
        eprintln!("restart {round}: the {checked} kv keys acknowledged before are all there");
        let (tallies, w) = under_load(&addrs, false, &format!("s{round}"), || {
            std::thread::sleep(Duration::from_millis(300));
            sigterm(&child);
            assert!(wait_exit(&mut child).success());
        });
        written.extend(w);
        // After the drain nothing listens: a client's last attempt is
        // refused, which is not a request lost.
        all.extend(tallies.into_iter().map(|mut t| {
            t.failures.retain(|f| !f.contains("Connection refused"));
            t
        }));
    }
    report("SIGTERM drains", &all);
}

fn report(what: &str, tallies: &[Tally]) {
    let answered: u64 = tallies.iter().map(|t| t.answered).sum();
    let resent: u64 = tallies.iter().map(|t| t.resent).sum();
    let failures: Vec<&String> = tallies.iter().flat_map(|t| &t.failures).collect();
    eprintln!(
        "{what}: {answered} requests answered whole, {resent} sent again after a close before they were read, {} failed",
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:?}");
    assert!(tallies.iter().all(|t| t.answered > 0), "{tallies:?}");
}
