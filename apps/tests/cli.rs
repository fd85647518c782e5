//! The `shardloop` binary end to end: `check`, `serve` from a file, the
//! echo app over real sockets, and graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

#[test]
fn check_accepts_the_shipped_configs_and_prints_the_effective_one() {
    for file in [
        "config/default.toml",
        "config/echo-and-discard.toml",
        "benches/configs/echo-1-shard.toml",
        "benches/configs/echo-2-shard.toml",
    ] {
        let out = Command::new(BIN)
            .args(["check"])
            .arg(repo_file(file))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("[[listener]]") && text.contains("write_buffer_high"),
            "{text}"
        );
    }
}

#[test]
fn check_rejects_a_bad_config_naming_file_key_and_line_and_binds_nothing() {
    let path = temp_config(
        "bad.toml",
        "[limits]\nwrite_buffer_high = \"64KiB\"\nwrite_buffer_low = \"128KiB\"\n[[listener]]\nname='e'\naddress='127.0.0.1:0'\napp='echo'\n",
    );
    for cmd in ["check", "serve"] {
        let out = Command::new(BIN).arg(cmd).arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.contains(&format!(
                "{}:3:20: limits.write_buffer_low: limits.write_buffer_low (128KiB) must not exceed limits.write_buffer_high (64KiB)",
                path.display()
            )),
            "{cmd}: {err}"
        );
    }
}

#[test]
fn an_address_in_use_names_the_listener_and_exits_non_zero() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap();
    let path = temp_config(
        "inuse.toml",
        &format!("[runtime]\nshards=1\npin_cores=false\n[[listener]]\nname='busy'\naddress='{addr}'\napp='echo'\n"),
    );
    let out = Command::new(BIN).arg("serve").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("listener \"busy\"") && err.contains("in use"),
        "{err}"
    );
}

#[test]
fn serve_echoes_and_sigterm_during_a_multi_megabyte_echo_loses_no_accepted_byte() {
    let (mut child, addr, _log) = serve(SERVE);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(b"ping").unwrap();
    let mut b = [0; 4];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"ping");

    // 16 MiB in flight both ways, then SIGTERM in the middle.
    let total = 16 << 20;
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
        let mut sent = 0;
        while sent < total && w.write_all(&chunk).is_ok() {
            sent += chunk.len();
        }
        let _ = w.shutdown(std::net::Shutdown::Write);
        sent
    });
    let mut got = Vec::new();
    let mut buf = vec![0; 1 << 16];
    let mut signalled = false;
    let end = loop {
        match s.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break Err(e),
        }
        if !signalled && got.len() > 2 << 20 {
            sigterm(&child);
            signalled = true;
        }
    };
    let sent = writer.join().unwrap();
    end.expect("a clean FIN, never a reset");
    assert!(signalled);
    assert!(got.len() <= sent);
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, b)| *b == (i % 65536 % 251) as u8),
        "the echo is an intact prefix of what was sent"
    );
    assert!(wait_exit(&mut child).success(), "exit 0 after SIGTERM");
}

#[test]
fn echo_stops_reading_from_a_client_that_never_reads_so_memory_stays_bounded() {
    let (mut child, addr, _log) = serve(SERVE);
    let before = rss_kib(child.id());
    let s = TcpStream::connect(addr).unwrap();
    s.set_nonblocking(true).unwrap();
    let mut w = &s;
    // Push until the server stops taking data (its reading is paused, the
    // kernel buffers are full): ~WouldBlock for a while, never reading.
    let chunk = vec![7u8; 1 << 16];
    let mut sent = 0usize;
    let mut stalls = 0;
    let start = Instant::now();
    while stalls < 50 && start.elapsed() < DEADLINE && sent < 512 << 20 {
        match w.write(&chunk) {
            Ok(n) => {
                sent += n;
                stalls = 0;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                stalls += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(stalls >= 50, "the server kept accepting data: {sent} bytes");
    let grown = rss_kib(child.id()).saturating_sub(before);
    // The server queues at most about the high-water mark (64 KiB) plus one
    // read buffer before it pauses reading; allow generous slack.
    assert!(
        grown < 8 * 1024,
        "server RSS grew by {grown} KiB after {sent} bytes"
    );
    // Unread data makes this close a reset: the server drops the connection
    // at once and shutdown has nothing to wait for.
    drop(s);
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
}

#[test]
fn the_server_survives_emfile_and_serves_again_when_descriptors_free_up() {
    let path = temp_config("emfile.toml", SERVE);
    // Few descriptors: the shards' pollers, wakers and listener take some;
    // about a dozen are left for connections.
    let mut child = tool("prlimit")
        .args(["--nofile=24:24", BIN, "serve"])
        .arg(&path)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("prlimit (util-linux) is needed");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr: SocketAddr = loop {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "server exited early");
        if line.contains("\"listening\"") {
            let start = line.find("\"address\":\"").unwrap() + 11;
            let end = start + line[start..].find('"').unwrap();
            break line[start..end].parse().unwrap();
        }
    };
    // 40 connections at once (the backlog holds the ones not accepted), then
    // in order: echo, close — freeing descriptors for the waiting ones.
    let mut conns: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for c in &mut conns {
        c.set_read_timeout(Some(DEADLINE)).unwrap();
        c.write_all(b"hi").unwrap();
    }
    for c in conns.drain(..) {
        let mut c = c;
        let mut b = [0; 2];
        c.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"hi");
    }
    let mut logs = String::new();
    sigterm(&child);
    err.read_to_string(&mut logs).unwrap();
    assert!(wait_exit(&mut child).success());
    assert!(
        logs.contains("backing off"),
        "EMFILE was hit and backed off"
    );
}

#[test]
fn serve_runs_a_udp_echo_listener() {
    let config = r#"
[runtime]
shards = 2
pin_cores = false
[log]
format = "json"
[[listener]]
name = "udp-echo"
address = "127.0.0.1:0"
app = "echo"
protocol = "udp"
"#;
    let (mut child, addr, _log) = serve(config);
    for i in 0..20u8 {
        let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(DEADLINE)).unwrap();
        c.send_to(&[i; 100], addr).unwrap();
        let mut buf = [0; 200];
        let (n, from) = c.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&[i; 100][..], addr));
    }
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
}

/// config/tls.toml in a folder of its own, with a fresh self-signed
/// certificate for localhost where it expects one, port 0 for its
/// listeners and JSON logs. Returns the folder and the config's path.
fn shipped_tls_config(tag: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir(&format!("cli-tls-{tag}"));
    std::fs::create_dir_all(dir.join("tls")).unwrap();
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    std::fs::write(dir.join("tls/cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("tls/key.pem"), ck.key_pair.serialize_pem()).unwrap();
    let text = std::fs::read_to_string(repo_file("config/tls.toml"))
        .unwrap()
        .replace("127.0.0.1:8443", "127.0.0.1:0")
        .replace("127.0.0.1:9101", "127.0.0.1:0")
        .replace("shards = \"auto\"", "shards = 2")
        .replace("pin_cores = true", "pin_cores = false")
        .replace("[log]\n", "[log]\nformat = \"json\"\n");
    let path = dir.join("tls.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn the_shipped_tls_config_checks_and_serves_echo_to_openssl_s_client() {
    let (dir, path) = shipped_tls_config("serve");
    let out = Command::new(BIN).arg("check").arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("protocol = \"tls\"") && text.contains("[listener.tls]"),
        "{text}"
    );

    let (mut child, addr, _log) = serve_file(&path);
    // OpenSSL, not rustls, on the other side; it verifies the certificate.
    let mut client = tool("openssl")
        .args(["s_client", "-quiet", "-no_ign_eof", "-verify_return_error"])
        .args(["-servername", "localhost"])
        .args(["-alpn", "echo", "-connect", &addr.to_string(), "-CAfile"])
        .arg(dir.join("tls/cert.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl (Debian package openssl; .ci/run installs it)");
    let mut stdin = client.stdin.take().unwrap();
    stdin.write_all(b"hello from openssl\n").unwrap();
    let mut echoed = String::new();
    BufReader::new(client.stdout.take().unwrap())
        .read_line(&mut echoed)
        .unwrap();
    drop(stdin); // s_client sends close_notify and exits
    let status = wait_exit(&mut client);
    assert_eq!(echoed, "hello from openssl\n");
    assert!(status.success(), "s_client: {status}");
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn check_names_the_tls_file_that_is_missing_or_does_not_match() {
    let (dir, path) = shipped_tls_config("bad");
    let text = std::fs::read_to_string(&path).unwrap();
    let line_of = |needle: &str| text.lines().position(|l| l.starts_with(needle)).unwrap() + 1;
    std::fs::remove_file(dir.join("tls/cert.pem")).unwrap();
    let out = Command::new(BIN).arg("check").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    let want = format!("{}:{}:", path.display(), line_of("cert ="));
    assert!(err.contains(&want), "{err}");
    assert!(
        err.contains("listener[0].tls.cert") && err.contains("tls/cert.pem"),
        "{err}"
    );

    // A certificate whose key is another one's.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let mine = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(dir.join("tls/cert.pem"), mine.cert.pem()).unwrap();
    std::fs::write(dir.join("tls/key.pem"), other.key_pair.serialize_pem()).unwrap();
    let out = Command::new(BIN).arg("check").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("listener[0].tls.key") && err.contains("does not match"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
