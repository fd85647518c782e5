//! The stream contract over TLS (rustls), with certificates generated at
//! test time: shardloop client ↔ server, verification failures, mTLS, ALPN,
//! SNI, the TLS exceptions to the contract (T7, T13, P5), close_notify and
//! truncation, flow control counting plaintext, and handshake timeouts.

#[path = "../util/mod.rs"]
mod util;

mod interop;

use std::io::{BufRead, BufReader};
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use shardloop::tls::TlsConfigError;
use shardloop::{
    ClientAuth, EventLoop, ExtraInfo, Protocol, TlsClientConfig, TlsServerConfig, TransportError,
};
use util::pki::Pki;
use util::{count, has_lost, new_log, received, run_until, run_until_log, tool, Ev, Log, Probe};

fn server_config(pki: &Pki) -> TlsServerConfig {
    TlsServerConfig::builder()
        .cert(&pki.server_cert, &pki.server_key)
        .build()
        .unwrap()
}

fn client_config(pki: &Pki) -> TlsClientConfig {
    TlsClientConfig::builder().ca_file(&pki.ca).build().unwrap()
}

/// A TLS server on a free loopback port whose protocols log into the
/// returned log.
fn tls_serve<P: Protocol>(
    lp: &mut EventLoop,
    tls: TlsServerConfig,
    mut make: impl FnMut(&Log) -> P + 'static,
) -> (Log, SocketAddr) {
    let log = new_log();
    let l = log.clone();
    let server = lp
        .create_tls_server(move || make(&l), "127.0.0.1:0", tls)
        .unwrap();
    (log, util::inet(&server))
}

#[test]
fn t1_t4_t7_t13_echo_between_shardloop_client_and_server_with_extra_info() {
    let pki = Pki::new();
    let mut lp = EventLoop::new().unwrap();
    let (slog, addr) = tls_serve(&mut lp, server_config(&pki), |l| {
        Probe::new(l)
            .made(|t, l| {
                // Only after the handshake: the cipher is known.
                let Some(ExtraInfo::Cipher(c)) = t.get_extra_info("cipher", None) else {
                    panic!("no cipher in connection_made")
                };
                assert_eq!(c.protocol, "TLSv1.3");
                assert!(c.secret_bits >= 128);
                assert_eq!(
                    t.get_extra_info("server_hostname", None),
                    Some(ExtraInfo::ServerHostname("localhost".into()))
                );
                assert_eq!(t.get_extra_info("peercert", None), None, "no client cert");
                l.borrow_mut().push(Ev::Mark("handshake done"));
            })
            .data(|t, d, _| t.write(d).unwrap())
    });
    let clog = new_log();
    let client_tls = client_config(&pki);
    let h = lp
        .create_tls_connection(|| Probe::new(&clog), addr, &client_tls, "localhost")
        .unwrap();
    assert_eq!(
        clog.borrow()[0],
        Ev::Made,
        "connection_made before the call returns"
    );
    lp.with_transport(h, |t| {
        assert!(!t.can_write_eof(), "T7");
        assert_eq!(
            t.write_eof(),
            Err(TransportError::Unsupported("write_eof() over TLS")),
            "T13"
        );
        assert_eq!(
            t.get_extra_info("compression", None),
            Some(ExtraInfo::Compression(None))
        );
        assert!(matches!(
            t.get_extra_info("sslcontext", None),
            Some(ExtraInfo::SslContext(shardloop::TlsContext::Client(_)))
        ));
        let Some(ExtraInfo::PeerCert(der)) = t.get_extra_info("peercert", None) else {
            panic!("the server's certificate")
        };
        assert!(der.len() > 100);
        assert!(matches!(
            t.get_extra_info("socket", None),
            Some(ExtraInfo::Socket(_))
        ));
        assert_eq!(t.get_extra_info("alpn_protocol", None), None);
        t.write(b"hello over tls").unwrap();
    });
    run_until_log(&mut lp, &clog, |e| received(e) == b"hello over tls");
    lp.with_transport(h, |t| t.close());
    run_until_log(&mut lp, &slog, has_lost);
    run_until_log(&mut lp, &clog, has_lost);
    let s = slog.borrow();
    assert_eq!(s[0], Ev::Made);
    assert_eq!(s[1], Ev::Mark("handshake done"));
    // The client's close_notify is a clean EOF on the server (P3, P5).
    assert!(s.contains(&Ev::Eof));
    assert_eq!(s.last(), Some(&Ev::Lost(None)));
    assert_eq!(clog.borrow().last(), Some(&Ev::Lost(None)));
}

/// A client connection that must fail verification; returns its error.
fn rejected(lp: &mut EventLoop, addr: SocketAddr, tls: &TlsClientConfig, name: &str) -> String {
    let log = new_log();
    let err = lp
        .create_tls_connection(|| Probe::new(&log), addr, tls, name)
        .expect_err("the handshake must fail");
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(log.borrow().is_empty(), "the protocol never hears of it");
    err.to_string()
}

#[test]
fn client_rejects_unknown_ca_wrong_name_and_expired_certificates() {
    let pki = Pki::new();
    let mut lp = EventLoop::new().unwrap();
    let client = client_config(&pki);
    let serve_with = |lp: &mut EventLoop, cert: &std::path::Path, key: &std::path::Path| {
        let tls = TlsServerConfig::builder().cert(cert, key).build().unwrap();
        tls_serve(lp, tls, Probe::new)
    };
    let (log1, untrusted) = serve_with(&mut lp, &pki.untrusted_cert, &pki.untrusted_key);
    let e = rejected(&mut lp, untrusted, &client, "localhost");
    assert!(e.to_lowercase().contains("issuer"), "{e}");
    let (log2, good) = serve_with(&mut lp, &pki.server_cert, &pki.server_key);
    let e = rejected(&mut lp, good, &client, "not-localhost.test");
    assert!(e.contains("not valid for name"), "{e}");
    let (log3, expired) = serve_with(&mut lp, &pki.expired_cert, &pki.expired_key);
    let e = rejected(&mut lp, expired, &client, "localhost");
    assert!(e.to_lowercase().contains("expired"), "{e}");
    // Each failure is counted on both sides (client and servers share this
    // loop): the servers saw the client's alert. None reached a protocol.
    run_until(&mut lp, |lp| lp.stats().tls_handshake_failures == 6);
    for log in [log1, log2, log3] {
        assert!(log.borrow().is_empty());
    }
}

#[test]
fn sni_selects_the_certificate_and_alpn_is_negotiated_and_exposed() {
    let pki = Pki::new();
    let mut lp = EventLoop::new().unwrap();
    let tls = TlsServerConfig::builder()
        .cert(&pki.server_cert, &pki.server_key)
        .sni_cert("other.test", &pki.other_name_cert, &pki.other_name_key)
        .alpn(["h2", "http/1.1"])
        .build()
        .unwrap();
    let (slog, addr) = tls_serve(&mut lp, tls, |l| {
        Probe::new(l).made(|t, l| {
            let alpn = t.get_extra_info("alpn_protocol", None);
            assert_eq!(alpn, Some(ExtraInfo::AlpnProtocol(b"http/1.1".to_vec())));
            let Some(ExtraInfo::ServerHostname(name)) = t.get_extra_info("server_hostname", None)
            else {
                panic!("SNI name")
            };
            l.borrow_mut().push(Ev::Data(name.into_bytes()));
        })
    });
    let client = TlsClientConfig::builder()
        .ca_file(&pki.ca)
        .alpn(["http/1.1"])
        .build()
        .unwrap();
    for name in ["other.test", "localhost"] {
        let log = new_log();
        let h = lp
            .create_tls_connection(|| Probe::new(&log), addr, &client, name)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        lp.with_transport(h, |t| {
            assert_eq!(
                t.get_extra_info("alpn_protocol", None),
                Some(ExtraInfo::AlpnProtocol(b"http/1.1".to_vec()))
            );
            t.close();
        });
    }
    run_until_log(&mut lp, &slog, |e| {
        count(e, |e| matches!(e, Ev::Data(_))) == 2
    });
    assert_eq!(received(&slog.borrow()), b"other.testlocalhost");
}

fn mtls_server(pki: &Pki, mode: ClientAuth) -> TlsServerConfig {
    TlsServerConfig::builder()
        .cert(&pki.server_cert, &pki.server_key)
        .client_auth(&pki.ca, mode)
        .build()
        .unwrap()
}

#[test]
fn mtls_required_and_satisfied_exposes_the_client_certificate() {
    let pki = Pki::new();
    let mut lp = EventLoop::new().unwrap();
    let (slog, addr) = tls_serve(&mut lp, mtls_server(&pki, ClientAuth::Required), |l| {
        Probe::new(l).made(|t, l| {
            let Some(ExtraInfo::PeerCert(der)) = t.get_extra_info("peercert", None) else {
                panic!("the client's certificate")
            };
            let cn = b"test client";
            assert!(der.windows(cn.len()).any(|w| w == cn));
            l.borrow_mut().push(Ev::Mark("client certificate seen"));
        })
    });
    let client = TlsClientConfig::builder()
        .ca_file(&pki.ca)
        .client_cert(&pki.client_cert, &pki.client_key)
        .build()
        .unwrap();
    let clog = new_log();
    let h = lp
        .create_tls_connection(|| Probe::new(&clog), addr, &client, "localhost")
        .unwrap();
    run_until_log(&mut lp, &slog, |e| {
        e.contains(&Ev::Mark("client certificate seen"))
    });
    lp.with_transport(h, |t| t.close());
    run_until_log(&mut lp, &slog, has_lost);
    assert_eq!(lp.stats().tls_handshake_failures, 0);
}

#[test]
fn mtls_required_and_missing_never_reaches_the_protocol() {
    let pki = Pki::new();
    let mut lp = EventLoop::new().unwrap();
    let (slog, addr) = tls_serve(&mut lp, mtls_server(&pki, ClientAuth::Required), |l| {
        Probe::new(l)
    });
    let clog = new_log();
    // In TLS 1.3 the client finishes its side before the server verifies
    // it: the refusal arrives as an alert, either during the call or as
    // the connection's error.
    match lp.create_tls_connection(
        || Probe::new(&clog),
        addr,
        &client_config(&pki),
        "localhost",
    ) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidData),
        Ok(_) => {
            run_until_log(&mut lp, &clog, has_lost);
            let c = clog.borrow();
            assert!(
                matches!(c.last(), Some(Ev::Lost(Some(_)))),
                "the client learns of the refusal as an error: {c:?}"
            );
        }
    }
    run_until(&mut lp, |lp| lp.stats().tls_handshake_failures == 1);
    assert!(
        slog.borrow().is_empty(),
        "the server's protocol never heard of it"
    );
}

#[test]
fn mtls_optional_accepts_clients_without_a_certificate() {
    let pki = Pki::new();
    let mut lp = EventLoop::new().unwrap();
    let (slog, addr) = tls_serve(&mut lp, mtls_server(&pki, ClientAuth::Optional), |l| {
        Probe::new(l).made(|t, _| assert_eq!(t.get_extra_info("peercert", None), None))
    });
    let clog = new_log();
    lp.create_tls_connection(
        || Probe::new(&clog),
        addr,
        &client_config(&pki),
        "localhost",
    )
    .unwrap();
    run_until_log(&mut lp, &slog, |e| e.contains(&Ev::Made));
}

#[test]
fn a_16_mib_echo_stays_intact_through_pause_and_resume_on_both_sides() {
    let pki = Pki::new();
    let mut lp = EventLoop::new().unwrap();
    let (slog, addr) = tls_serve(&mut lp, server_config(&pki), |l| {
        Probe::new(l)
            .data(|t, d, _| t.write(d).unwrap())
            .pause(|t, _| t.pause_reading())
            .resume(|t, _| t.resume_reading())
    });
    const TOTAL: usize = 16 << 20;
    let data = util::pattern(TOTAL);
    let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::with_capacity(TOTAL)));
    let sink = got.clone();
    let client = Probe::new(&new_log()).data(move |t, d, _| {
        // Pause reading at every MiB boundary for a moment: what is
        // decrypted meanwhile must wait and come back in order.
        let before = sink.borrow().len();
        sink.borrow_mut().extend_from_slice(d);
        if before >> 20 != sink.borrow().len() >> 20 {
            t.pause_reading();
            let h = t.handle();
            t.get_loop()
                .call_later(Duration::from_millis(1), move |lp| {
                    lp.with_transport(h, |t| t.resume_reading());
                });
        }
    });
    let h = lp
        .create_tls_connection(|| client, addr, &client_config(&pki), "localhost")
        .unwrap();
    for chunk in data.chunks(1 << 20) {
        lp.with_transport(h, |t| t.write(chunk).unwrap());
    }
    run_until(&mut lp, |_| got.borrow().len() >= TOTAL);
    assert!(*got.borrow() == data, "16 MiB echoed intact and in order");
    let s = slog.borrow();
    let pauses = count(&s, |e| matches!(e, Ev::Pause(_)));
    assert!(pauses >= 1, "the echo server was paused by its writes");
    let resumes = count(&s, |e| matches!(e, Ev::Resume(_)));
    assert!(resumes == pauses || resumes + 1 == pauses, "paired (P8)");
}

#[test]
fn p8_pause_and_resume_count_plaintext_to_a_peer_that_does_not_read() {
    let pki = Pki::new();
    let mut lp = EventLoop::new().unwrap();
    const TOTAL: usize = 8 << 20;
    let (slog, addr) = tls_serve(&mut lp, server_config(&pki), |l| {
        Probe::new(l).made(|t, _| {
            t.write(&util::pattern(TOTAL)).unwrap();
            // Plaintext, not ciphertext: never more than was written.
            assert!(t.get_write_buffer_size() <= TOTAL);
            t.close();
        })
    });
    let clog = new_log();
    let h = lp
        .create_tls_connection(
            || Probe::new(&clog).made(|t, _| t.pause_reading()),
            addr,
            &client_config(&pki),
            "localhost",
        )
        .unwrap();
    run_until_log(&mut lp, &slog, |e| {
        e.iter().any(|e| matches!(e, Ev::Pause(_)))
    });
    lp.with_transport(h, |t| t.resume_reading());
    run_until_log(&mut lp, &clog, has_lost);
    assert!(received(&clog.borrow()) == util::pattern(TOTAL));
    let s = slog.borrow();
    let flow: Vec<&Ev> = s
        .iter()
        .filter(|e| matches!(e, Ev::Pause(_) | Ev::Resume(_)))
        .collect();
    assert_eq!(flow.len(), 2, "one pause, one resume: {flow:?}");
    let (Ev::Pause(p), Ev::Resume(r)) = (flow[0], flow[1]) else {
        panic!("pause first: {flow:?}")
    };
    assert!(*p > 64 * 1024 && *p <= TOTAL, "strictly over high: {p}");
    assert!(*r <= 16 * 1024, "at or under low: {r}");
    assert_eq!(
        clog.borrow().last(),
        Some(&Ev::Lost(None)),
        "close_notify, then FIN"
    );
}

#[test]
fn p5_eof_received_true_does_not_keep_a_tls_connection_open() {
    let pki = Pki::new();
    let mut lp = EventLoop::new().unwrap();
    let (slog, addr) = tls_serve(&mut lp, server_config(&pki), |l| Probe::new(l).keep_open());
    let clog = new_log();
    let h = lp
        .create_tls_connection(
            || Probe::new(&clog),
            addr,
            &client_config(&pki),
            "localhost",
        )
        .unwrap();
    lp.with_transport(h, |t| {
        t.write(b"bye").unwrap();
        t.close();
    });
    run_until_log(&mut lp, &slog, has_lost);
    let s = slog.borrow();
    assert_eq!(
        *s,
        vec![Ev::Made, Ev::Data(b"bye".to_vec()), Ev::Eof, Ev::Lost(None)]
    );
}

#[test]
fn p3_a_peer_that_closes_without_close_notify_is_reported_as_truncation() {
    let pki = Pki::new();
    let mut lp = EventLoop::new().unwrap();
    let (slog, addr) = tls_serve(&mut lp, server_config(&pki), |l| {
        Probe::new(l).data(|t, d, _| t.write(d).unwrap())
    });
    let clog = new_log();
    let h = lp
        .create_tls_connection(
            || Probe::new(&clog),
            addr,
            &client_config(&pki),
            "localhost",
        )
        .unwrap();
    lp.with_transport(h, |t| t.write(b"ping").unwrap());
    run_until_log(&mut lp, &clog, |e| received(e) == b"ping");
    // abort: the socket closes with no close_notify.
    lp.with_transport(h, |t| t.abort());
    run_until_log(&mut lp, &slog, has_lost);
    assert!(
        !slog.borrow().contains(&Ev::Eof),
        "a truncation is not an EOF"
    );
    assert_eq!(
        slog.borrow().last(),
        Some(&Ev::Lost(Some(ErrorKind::UnexpectedEof)))
    );
}
