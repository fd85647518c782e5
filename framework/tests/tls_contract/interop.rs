//! TLS against other implementations (Python's ssl module, both ways), hostile
//! and silent clients, the runtime's TLS listeners.

use super::*;

#[test]
fn silent_and_half_hello_clients_are_closed_at_the_handshake_timeout_without_delaying_others() {
    let pki = Pki::new();
    // Loop time on a manual clock: the timeout fires when the test moves
    // the clock (no real wait), and a slow machine cannot fire it before
    // the real client below is served.
    let (mut lp, clock) = util::manual_loop(|_| {});
    let tls = server_config(&pki).with_handshake_timeout(Duration::from_secs(3));
    let (slog, addr) = tls_serve(&mut lp, tls, |l| {
        Probe::new(l).data(|t, d, _| t.write(d).unwrap())
    });
    let silent = util::connect(addr);
    let mut half = util::connect(addr);
    // A TLS record header announcing 512 bytes of ClientHello, then 40.
    let mut partial = vec![
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    partial.extend([7u8; 29]);
    half.write_all(&partial).unwrap();
    // Meanwhile a real client completes its handshake and is served.
    let clog = new_log();
    let h = lp
        .create_tls_connection(
            || Probe::new(&clog),
            addr,
            &client_config(&pki),
            "localhost",
        )
        .unwrap();
    lp.with_transport(h, |t| t.write(b"served").unwrap());
    run_until_log(&mut lp, &clog, |e| received(e) == b"served");
    assert_eq!(
        lp.stats().tls_handshake_failures + lp.stats().tls_silent_closes,
        0,
        "served before any timeout"
    );
    // Just short of the timeout in loop time, nobody is dropped.
    clock.advance(Duration::from_millis(2_900));
    util::turn(&mut lp);
    assert_eq!(
        lp.stats().tls_handshake_failures + lp.stats().tls_silent_closes,
        0,
        "dropped before the timeout"
    );
    assert_eq!(lp.open_connections(), 4);
    clock.advance(Duration::from_millis(100));
    // Both stalled clients are dropped at the timeout: they read the end
    // once their sockets are closed, on the iteration after (as asyncio's
    // abort); the served pair stays. The half hello is a failed handshake;
    // the client that sent nothing is counted apart, as a silent close.
    run_until(&mut lp, |lp| {
        lp.stats().tls_handshake_failures == 1
            && lp.stats().tls_silent_closes == 1
            && lp.open_connections() == 2
    });
    for mut s in [silent, half] {
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!("unexpected {n} bytes"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
        }
    }
    assert_eq!(count(&slog.borrow(), |e| *e == Ev::Made), 1);
}

#[test]
fn a_server_config_names_the_file_that_is_wrong() {
    let pki = Pki::new();
    let missing = pki.path("missing.pem");
    let e = TlsServerConfig::builder()
        .cert(&missing, &pki.server_key)
        .build()
        .unwrap_err();
    assert!(
        matches!(e, TlsConfigError::Read { ref path, .. } if *path == missing),
        "{e}"
    );
    assert!(e.to_string().contains("missing.pem"));
    let e = TlsServerConfig::builder()
        .cert(&pki.server_cert, &pki.client_key)
        .build()
        .unwrap_err();
    assert!(matches!(e, TlsConfigError::KeyMismatch { .. }), "{e}");
    assert!(e.to_string().contains("client.key"), "{e}");
    let empty = pki.write("empty.pem", "");
    let e = TlsServerConfig::builder()
        .cert(&empty, &pki.server_key)
        .build()
        .unwrap_err();
    assert!(matches!(e, TlsConfigError::NoCertificate { .. }), "{e}");
    assert!(e.to_string().contains("empty.pem"), "{e}");
    let e = TlsServerConfig::builder()
        .cert(&pki.server_cert, &pki.server_cert)
        .build()
        .unwrap_err();
    assert!(matches!(e, TlsConfigError::BadKey { .. }), "{e}");
    assert!(matches!(
        TlsClientConfig::builder().build(),
        Err(TlsConfigError::NoRoots)
    ));
}

/// Python's `ssl` module (OpenSSL) as the client: a TLS stack that is not
/// rustls. It sends, reads the echo, then `unwrap()`s: close_notify both
/// ways.
pub(super) const PY_CLIENT: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20) as raw:
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    s.sendall(b"hello from openssl")
    data = b""
    while len(data) < 18:
        chunk = s.recv(100)
        if not chunk:
            break
        data += chunk
    print(s.version(), s.cipher()[0], s.cipher()[2], data.decode(), flush=True)
    s.unwrap()
    print("clean shutdown", flush=True)
"#;

#[test]
fn interop_python_ssl_client_against_a_shardloop_tls_server() {
    let pki = Pki::new();
    let mut lp = EventLoop::new().unwrap();
    let log = new_log();
    let l = log.clone();
    let server = lp
        .create_tls_server(
            move || {
                Probe::new(&l)
                    .made(|t, l| {
                        // What the server negotiated, to compare with what
                        // OpenSSL reports on its side.
                        let Some(ExtraInfo::Cipher(c)) = t.get_extra_info("cipher", None) else {
                            panic!("cipher")
                        };
                        let seen = format!("{} {} {}", c.protocol, c.name, c.secret_bits);
                        l.borrow_mut().push(Ev::Data(seen.into_bytes()));
                    })
                    .data(|t, d, _| t.write(d).unwrap())
            },
            "127.0.0.1:0",
            server_config(&pki),
        )
        .unwrap();
    let port = util::inet(&server).port().to_string();
    let child = tool("python3")
        .args(["-c", PY_CLIENT, &port])
        .arg(&pki.ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let peer = std::thread::spawn(move || child.wait_with_output().unwrap());
    let out = util::run_until_joined(&mut lp, peer);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cipher = String::from_utf8(log.borrow()[1].clone().data()).unwrap();
    assert!(
        cipher.starts_with("TLSv1.3 TLS_"),
        "IANA suite name: {cipher}"
    );
    assert_eq!(
        stdout,
        format!("{cipher} hello from openssl\nclean shutdown\n"),
        "both stacks agree on version, suite and key size"
    );
    let l = log.borrow();
    assert_eq!(l[0], Ev::Made);
    assert_eq!(l.last(), Some(&Ev::Lost(None)), "close_notify both ways");
}

/// Python's `ssl` module as the server: echoes upper-cased, then unwraps.
pub(super) const PY_SERVER: &str = r#"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
srv.settimeout(20)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
conn.settimeout(20)
s = ctx.wrap_socket(conn, server_side=True)
data = s.recv(100)
s.sendall(data.upper())
version = s.version()
s.unwrap()
print("served", version, flush=True)
"#;

#[test]
fn interop_shardloop_tls_client_against_a_python_ssl_server() {
    let pki = Pki::new();
    let mut lp = EventLoop::new().unwrap();
    let mut child = tool("python3")
        .args(["-c", PY_SERVER])
        .arg(&pki.server_cert)
        .arg(&pki.server_key)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut port = String::new();
    stdout.read_line(&mut port).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", port.trim()).parse().unwrap();
    let clog = new_log();
    let h = lp
        .create_tls_connection(
            || Probe::new(&clog),
            addr,
            &client_config(&pki),
            "localhost",
        )
        .unwrap();
    lp.with_transport(h, |t| t.write(b"hello openssl").unwrap());
    run_until_log(&mut lp, &clog, has_lost);
    assert_eq!(received(&clog.borrow()), b"HELLO OPENSSL");
    // The server's close_notify is a clean EOF (P3): no error.
    assert_eq!(clog.borrow().last(), Some(&Ev::Lost(None)));
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(rest, "served TLSv1.3\n");
}

#[test]
fn a_plaintext_client_on_the_tls_port_loses_only_its_own_connection() {
    let pki = Pki::new();
    let mut lp = EventLoop::new().unwrap();
    let (slog, addr) = tls_serve(&mut lp, server_config(&pki), |l| {
        Probe::new(l).data(|t, d, _| t.write(d).unwrap())
    });
    let mut plain = util::connect(addr);
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    run_until(&mut lp, |lp| lp.stats().tls_handshake_failures == 1);
    // It gets an alert (or nothing) and then the end — never an answer.
    let got = util::read_to_end(&mut plain).unwrap_or_default();
    assert!(
        got.is_empty() || got[0] == 0x15,
        "a TLS alert record at most: {got:?}"
    );
    // The server serves on.
    let clog = new_log();
    let h = lp
        .create_tls_connection(
            || Probe::new(&clog),
            addr,
            &client_config(&pki),
            "localhost",
        )
        .unwrap();
    lp.with_transport(h, |t| t.write(b"still here").unwrap());
    run_until_log(&mut lp, &clog, |e| received(e) == b"still here");
    assert_eq!(count(&slog.borrow(), |e| *e == Ev::Made), 1);
}

/// Records the thread its connection_made ran on, then echoes.
pub(super) struct ShardEcho(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Protocol for ShardEcho {
    fn connection_made(&mut self, t: &mut shardloop::Transport) {
        assert!(
            matches!(t.get_extra_info("cipher", None), Some(ExtraInfo::Cipher(_))),
            "made after the handshake"
        );
        let name = std::thread::current().name().unwrap_or("?").to_string();
        self.0.lock().unwrap().push(name);
    }
    fn data_received(&mut self, t: &mut shardloop::Transport, data: &[u8]) {
        t.write(data).unwrap();
    }
}

#[test]
fn runtime_tls_listener_handshakes_on_the_shards_the_acceptor_hands_to() {
    let pki = Pki::new();
    let mut config = shardloop::RuntimeConfig::default();
    config.shards = 2;
    config.pin_cores = false;
    let mut rt = shardloop::Runtime::start(config).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let addr = rt
        .listen_tls(
            "127.0.0.1:0".parse().unwrap(),
            shardloop::Distribution::RoundRobin,
            128,
            server_config(&pki),
            move || ShardEcho(s.clone()),
        )
        .unwrap();
    let mut lp = EventLoop::new().unwrap();
    let tls = client_config(&pki);
    let logs: Vec<Log> = (0..4).map(|_| new_log()).collect();
    for log in &logs {
        let h = lp
            .create_tls_connection(|| Probe::new(log), addr, &tls, "localhost")
            .unwrap();
        lp.with_transport(h, |t| t.write(b"sharded").unwrap());
    }
    for log in &logs {
        run_until_log(&mut lp, log, |e| received(e) == b"sharded");
    }
    let mut names = seen.lock().unwrap().clone();
    names.sort();
    assert_eq!(
        names,
        vec!["shard-0", "shard-0", "shard-1", "shard-1"],
        "round-robin, each handshake on its shard (never on the acceptor)"
    );
    rt.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_panic_in_a_tls_callback_aborts_only_that_connection() {
    let pki = Pki::new();
    let mut lp = EventLoop::new().unwrap();
    let (slog, addr) = tls_serve(&mut lp, server_config(&pki), |l| {
        Probe::new(l).data(|t, d, _| {
            assert!(d != b"boom", "protocol bug");
            t.write(d).unwrap();
        })
    });
    let (bad, good) = (new_log(), new_log());
    let tls = client_config(&pki);
    let hb = lp
        .create_tls_connection(|| Probe::new(&bad), addr, &tls, "localhost")
        .unwrap();
    let hg = lp
        .create_tls_connection(|| Probe::new(&good), addr, &tls, "localhost")
        .unwrap();
    lp.with_transport(hb, |t| t.write(b"boom").unwrap());
    run_until_log(&mut lp, &bad, has_lost);
    lp.with_transport(hg, |t| t.write(b"fine").unwrap());
    run_until_log(&mut lp, &good, |e| received(e) == b"fine");
    let s = slog.borrow();
    assert_eq!(count(&s, |e| matches!(e, Ev::Lost(Some(_)))), 1, "{s:?}");
}

#[test]
fn a_client_handshake_with_a_silent_server_times_out_and_one_with_a_plain_server_fails() {
    let pki = Pki::new();
    let mut lp = EventLoop::new().unwrap();
    // A server that accepts (the kernel does) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tls = client_config(&pki).with_handshake_timeout(Duration::from_millis(200));
    let log = new_log();
    let err = lp
        .create_tls_connection(
            || Probe::new(&log),
            silent.local_addr().unwrap(),
            &tls,
            "localhost",
        )
        .expect_err("no ServerHello ever comes");
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    // A plain echo server answers the ClientHello with itself.
    let (_, plain) = {
        let log = new_log();
        let l = log.clone();
        let server = lp
            .create_server(
                move || Probe::new(&l).data(|t, d, _| t.write(d).unwrap()),
                "127.0.0.1:0",
            )
            .unwrap();
        (log, util::inet(&server))
    };
    let err = lp
        .create_tls_connection(|| Probe::new(&log), plain, &tls, "localhost")
        .expect_err("an echoed ClientHello is no ServerHello");
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(
        log.borrow().is_empty(),
        "the protocol never heard of either"
    );
    assert_eq!(lp.stats().tls_handshake_failures, 2);
}

#[test]
fn a_loop_stopped_during_a_tls_handshake_reports_stopped_not_interrupted() {
    let pki = Pki::new();
    let mut lp = EventLoop::new().unwrap();
    // A server that accepts and never answers: the handshake cannot finish.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    // Stops the loop while the client waits for the handshake (or, on a
    // very slow machine, for the connect: Stopped either way).
    lp.call_later(Duration::from_millis(50), |lp| lp.stop());
    let e = lp
        .create_tls_connection(
            || Probe::new(&new_log()),
            addr,
            &client_config(&pki),
            "localhost",
        )
        .unwrap_err();
    assert_ne!(e.kind(), ErrorKind::Interrupted, "{e}");
    assert!(
        matches!(
            shardloop::LoopError::of(&e),
            Some(shardloop::LoopError::Stopped(_))
        ),
        "{e}"
    );
    drop(silent);
}

#[test]
fn a_plain_tcp_health_check_on_a_tls_port_is_a_silent_close_not_a_failed_handshake() {
    // HAProxy's `tcp-check` and most load balancers' TCP probes connect and
    // close (or reset) without a byte: counted apart, logged at debug.
    let pki = Pki::new();
    let mut lp = EventLoop::new().unwrap();
    let (slog, addr) = tls_serve(&mut lp, server_config(&pki), Probe::new);
    let probes = std::thread::spawn(move || {
        drop(util::connect(addr));
        let reset = socket2::Socket::from(util::connect(addr));
        reset.set_linger(Some(Duration::ZERO)).unwrap();
        drop(reset);
    });
    util::run_until_joined(&mut lp, probes);
    run_until(&mut lp, |lp| lp.stats().tls_silent_closes == 2);
    assert_eq!(lp.stats().tls_handshake_failures, 0);
    // A client that does send something that is not TLS still fails.
    let garbage = std::thread::spawn(move || {
        let mut s = util::connect(addr);
        let _ = s.write_all(b"GET / HTTP/1.1\r\n\r\n");
        let _ = util::read_to_end(&mut s);
    });
    util::run_until_joined(&mut lp, garbage);
    run_until(&mut lp, |lp| lp.stats().tls_handshake_failures == 1);
    assert_eq!(lp.stats().tls_silent_closes, 2);
    assert!(slog.borrow().is_empty(), "no protocol heard of them");
}
