//! What a supervisor sees: systemd's notify protocol (READY=1, STOPPING=1)
//! and the readiness and liveness endpoints Kubernetes and HAProxy probe.

mod common;

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};

use common::*;

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn ready_turns_503_as_soon_as_a_drain_starts_while_live_and_metrics_stay_up() {
    let config = SERVE.replace(
        "[[listener]]",
        "[metrics]\naddress = \"127.0.0.1:0\"\n[[listener]]",
    );
    let (mut child, addr, mut log) = serve(&config);
    let maddr = metrics_address(&mut log);
    wait_ready(maddr);
    let ready = get(maddr, "/ready");
    assert!(
        ready.starts_with("HTTP/1.1 200") && ready.ends_with("ready\n"),
        "{ready}"
    );
    assert!(get(maddr, "/live").starts_with("HTTP/1.1 200"));
    // A client that keeps its connection open holds the drain.
    let held = TcpStream::connect(addr).unwrap();
    let mut probe = TcpStream::connect(addr).unwrap();
    probe.write_all(b"x").unwrap();
    let mut b = [0; 1];
    probe.read_exact(&mut b).unwrap();
    sigterm(&child);
    let mut line = String::new();
    while !line.contains("drain started") {
        line.clear();
        assert!(log.read_line(&mut line).unwrap() > 0);
    }
    let during = get(maddr, "/ready");
    assert!(
        during.starts_with("HTTP/1.1 503") && during.ends_with("draining\n"),
        "{during}"
    );
    assert!(
        get(maddr, "/live").starts_with("HTTP/1.1 200"),
        "alive while draining"
    );
    assert!(get(maddr, "/metrics").starts_with("HTTP/1.1 200"));
    drop(held);
    drop(probe);
    assert!(wait_exit(&mut child).success());
}

#[test]
fn systemd_notify_gets_ready_once_serving_and_stopping_when_the_drain_starts() {
    let dir = temp_dir("notify");
    let sock_path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&sock_path);
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(DEADLINE)).unwrap();
    let config = temp_config("notify.toml", SERVE);
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg(&config)
        .env("NOTIFY_SOCKET", &sock_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).unwrap();
    let first = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(first.lines().any(|l| l == "READY=1"), "{first:?}");
    sigterm(&child);
    let n = sock.recv(&mut buf).unwrap();
    let second = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(second.lines().any(|l| l == "STOPPING=1"), "{second:?}");
    assert!(wait_exit(&mut child).success());
}

#[test]
fn systemd_socket_activation_serves_the_passed_socket_instead_of_binding() {
    // The "systemd" side: a socket bound and listening before the server
    // starts, on an address the server could not bind itself.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = temp_config(
        "activated.toml",
        &format!(
            "[runtime]\nshards = 2\npin_cores = false\n[log]\nformat = \"json\"\n\
             [[listener]]\nname = \"activated\"\naddress = \"{addr}\"\napp = \"echo\"\n"
        ),
    );
    // Pass it as descriptor 3 with LISTEN_FDS=1 and LISTEN_PID of the
    // server (the shell execs it, keeping its pid), as systemd does.
    let fd: std::os::fd::OwnedFd = listener.into();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("exec 3<&0 0</dev/null; LISTEN_FDS=1 LISTEN_PID=$$ exec \"$0\" serve \"$1\"")
        .arg(BIN)
        .arg(&config)
        .stdin(Stdio::from(fd))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = std::io::BufReader::new(child.stderr.take().unwrap());
    let line = wait_for_log(&mut log, "\"listening\"");
    assert!(line.contains("(inherited)"), "{line}");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(b"activated").unwrap();
    let mut b = [0; 9];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"activated");
    drop(s);
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
}

#[test]
fn takeover_hands_the_listening_sockets_and_the_metrics_endpoint_to_a_new_process_and_refuses_nothing(
) {
    let dir = temp_dir("takeover");
    let control = dir.join("control.sock");
    // The new process runs 3 shards where the old one ran 2: it serves the
    // old shards' 2 `reuseport` sockets and binds a third alongside.
    let config_of = |shards: usize| {
        temp_config(
            &format!("takeover-{shards}.toml"),
            &format!(
                "[runtime]\nshards = {shards}\npin_cores = false\ncontrol_socket = \"{}\"\n\
                 [log]\nformat = \"json\"\n[metrics]\naddress = \"127.0.0.1:0\"\n\
                 [[listener]]\nname = \"echo\"\naddress = \"127.0.0.1:0\"\napp = \"echo\"\n\
                 [[listener]]\nname = \"echo-rp\"\naddress = \"127.0.0.1:0\"\napp = \"echo\"\n\
                 distribution = \"reuseport\"\n",
                control.display()
            ),
        )
    };
    let config = config_of(2);
    let (mut old, addr, mut old_log) = serve_file(&config);
    let rp_addr = logged_address(&wait_for_log(&mut old_log, "\"listening\""));
    let maddr = metrics_address(&mut old_log);
    std::thread::spawn(move || for _ in old_log.lines() {});
    wait_ready(maddr);
    let start = std::time::Instant::now();
    while !control.exists() {
        assert!(start.elapsed() < DEADLINE, "no control socket");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Clients connect afresh for every request, throughout, to the
    // acceptor's listener and to the `reuseport` one.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let stop = std::sync::Arc::clone(&stop);
            let addr = if c % 2 == 0 { addr } else { rp_addr };
            std::thread::spawn(move || {
                let (mut ok, mut errors) = (0u64, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Acquire) {
                    let msg = format!("client {c} request {ok}");
                    let r = (|| -> std::io::Result<Vec<u8>> {
                        let mut s = TcpStream::connect(addr)?;
                        s.set_read_timeout(Some(DEADLINE))?;
                        s.write_all(msg.as_bytes())?;
                        s.shutdown(std::net::Shutdown::Write)?;
                        let mut back = Vec::new();
                        s.read_to_end(&mut back)?;
                        Ok(back)
                    })();
                    match r {
                        Ok(back) if back == msg.as_bytes() => ok += 1,
                        other => errors.push(format!("{other:?}")),
                    }
                }
                (ok, errors)
            })
        })
        .collect();
    // A probe of /ready and /live, throughout: always 200.
    let prober = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let (mut ok, mut errors) = (0u64, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                for path in ["/ready", "/live"] {
                    let answer = get(maddr, path);
                    if answer.starts_with("HTTP/1.1 200") {
                        ok += 1;
                    } else {
                        errors.push(format!("{path}: {answer}"));
                    }
                }
            }
            (ok, errors)
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    // Two takeovers: 2 shards to 3 (a socket bound alongside), then 3 to 1
    // (one shard serves all three old sockets).
    for shards in [3, 1] {
        let mut new = Command::new(BIN)
            .args(["serve", "--takeover"])
            .arg(config_of(shards))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut log = std::io::BufReader::new(new.stderr.take().unwrap());
        let line = wait_for_log(&mut log, "\"listening\"");
        assert!(line.contains(&format!("{addr} (inherited)")), "{line}");
        let line = wait_for_log(&mut log, "\"listening\"");
        assert!(line.contains(&format!("{rp_addr} (inherited)")), "{line}");
        let line = wait_for_log(&mut log, "metrics on");
        assert!(
            line.contains(&maddr.to_string()),
            "the same metrics address: {line}"
        );
        wait_for_log(&mut log, "lets go");
        std::thread::spawn(move || for _ in log.lines() {});
        assert!(
            wait_exit(&mut old).success(),
            "the old server drained and exited 0"
        );
        old = new;
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let mut new = old;
    std::thread::sleep(std::time::Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Release);
    let (mut total, mut errors) = (0, Vec::new());
    for c in clients {
        let (ok, e) = c.join().unwrap();
        total += ok;
        errors.extend(e);
    }
    eprintln!("takeover: {total} requests, {} failed", errors.len());
    assert!(errors.is_empty(), "{errors:?}");
    assert!(total > 0);
    let (probes, failed) = prober.join().unwrap();
    eprintln!(
        "takeover: {probes} probes answered 200, {} did not",
        failed.len()
    );
    assert!(failed.is_empty(), "{failed:?}");
    assert!(probes > 0);
    // The new server serves the metrics now.
    assert!(get(maddr, "/metrics").starts_with("HTTP/1.1 200"));
    // The new server answers on the control socket for the next restart.
    assert!(control.exists());
    sigterm(&new);
    assert!(wait_exit(&mut new).success());
}
