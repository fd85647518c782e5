//! The stream protocol contract (P1–P6) over real loopback TCP.

mod util;

use std::io::{ErrorKind, Write};
use std::net::Shutdown;

use shardloop::{EventLoop, Protocol};
use util::*;

/// A protocol that implements nothing: every callback has a default (P1).
struct Nothing;
impl Protocol for Nothing {}

#[test]
fn p1_a_protocol_with_no_callbacks_serves_and_closes_on_eof() {
    let mut lp = EventLoop::new().unwrap();
    let server = lp.create_server(|| Nothing, "127.0.0.1:0").unwrap();
    let addr = inet(&server);
    let client = std::thread::spawn(move || {
        let mut s = connect(addr);
        s.write_all(b"ignored").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        read_to_end(&mut s) // default eof_received closes: we see EOF
    });
    assert!(run_until_joined(&mut lp, client).unwrap().is_empty());
    server.close();
    server.wait_closed(&mut lp).unwrap();
}

/// Checks a log against the state machine made → data* → eof? → lost.
fn assert_state_machine(evs: &[Ev]) {
    assert_eq!(evs.first(), Some(&Ev::Made), "{evs:?}");
    assert_eq!(count(evs, |e| *e == Ev::Made), 1);
    assert_eq!(count(evs, |e| matches!(e, Ev::Lost(_))), 1);
    assert!(matches!(evs.last(), Some(Ev::Lost(_))));
    assert!(count(evs, |e| *e == Ev::Eof) <= 1);
    if let Some(eof) = evs.iter().position(|e| *e == Ev::Eof) {
        assert!(!evs[eof..].iter().any(|e| matches!(e, Ev::Data(_))));
    }
}

#[test]
fn p6_state_machine_and_p4_data_in_order_never_empty() {
    let mut lp = EventLoop::with_config({
        let mut c = shardloop::LoopConfig::default();
        c.read_buffer_size = 4096; // many chunks
        c
    })
    .unwrap();
    let (log, server) = serve(&mut lp, Probe::new);
    let addr = inet(&server);
    let data = pattern(1 << 20);
    let d2 = data.clone();
    let client = std::thread::spawn(move || {
        let mut s = connect(addr);
        let mut rest = &d2[..];
        let mut n = 1;
        while !rest.is_empty() {
            let k = n.min(rest.len());
            s.write_all(&rest[..k]).unwrap();
            rest = &rest[k..];
            n = n * 5 % 9973 + 1;
        }
        s.shutdown(Shutdown::Write).unwrap();
        read_to_end(&mut s)
    });
    run_until_joined(&mut lp, client).unwrap();
    run_until_log(&mut lp, &log, has_lost);
    let evs = log.borrow().clone();
    assert_state_machine(&evs);
    assert!(evs
        .iter()
        .all(|e| !matches!(e, Ev::Data(d) if d.is_empty())));
    assert!(evs
        .iter()
        .all(|e| !matches!(e, Ev::Data(d) if d.len() > 4096)));
    assert!(received(&evs) == data);
    assert!(evs.contains(&Ev::Eof));
    assert_eq!(evs.last(), Some(&Ev::Lost(None)), "P3: regular EOF is None");
}

#[test]
fn p5_eof_received_true_keeps_half_open_and_we_can_still_write() {
    let mut lp = EventLoop::new().unwrap();
    let (log, server) = serve(&mut lp, move |l| {
        Probe::new(l).keep_open().eof(|t, log| {
            // The peer is done sending; answer afterwards, then close.
            let got = received(&log.borrow());
            t.write(b"you said: ").unwrap();
            t.write(&got).unwrap();
            assert!(!t.is_closing());
            t.close();
        })
    });
    let addr = inet(&server);
    let client = std::thread::spawn(move || {
        let mut s = connect(addr);
        s.write_all(b"hello").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        read_to_end(&mut s)
    });
    assert_eq!(
        run_until_joined(&mut lp, client).unwrap(),
        b"you said: hello"
    );
    run_until_log(&mut lp, &log, has_lost);
    assert_state_machine(&log.borrow());
}

#[test]
fn p5_eof_received_false_closes_the_transport() {
    let mut lp = EventLoop::new().unwrap();
    let (log, server) = serve(&mut lp, Probe::new);
    let addr = inet(&server);
    let client = std::thread::spawn(move || {
        let mut s = connect(addr);
        s.shutdown(Shutdown::Write).unwrap();
        read_to_end(&mut s)
    });
    assert!(run_until_joined(&mut lp, client).unwrap().is_empty());
    run_until_log(&mut lp, &log, has_lost);
    assert_eq!(*log.borrow(), vec![Ev::Made, Ev::Eof, Ev::Lost(None)]);
}

#[test]
fn p3_connection_lost_reports_a_reset() {
    let mut lp = EventLoop::new().unwrap();
    let (log, server) = serve(&mut lp, Probe::new);
    let addr = inet(&server);
    let client = std::thread::spawn(move || {
        let s = connect(addr);
        // SO_LINGER 0: close sends RST instead of FIN.
        socket2::SockRef::from(&s)
            .set_linger(Some(std::time::Duration::ZERO))
            .unwrap();
        drop(s);
    });
    run_until_joined(&mut lp, client);
    run_until_log(&mut lp, &log, has_lost);
    let evs = log.borrow().clone();
    assert_state_machine(&evs);
    assert_eq!(
        evs.last(),
        Some(&Ev::Lost(Some(ErrorKind::ConnectionReset)))
    );
}

#[test]
fn p2_connection_made_and_lost_exactly_once_when_closed_from_both_sides_at_once() {
    let mut lp = EventLoop::new().unwrap();
    let (log, server) = serve(&mut lp, move |l| {
        Probe::new(l).data(|t, d, _| {
            let _ = t.write(d);
            t.close();
            t.abort(); // abort while closing: still one lost
            t.close();
        })
    });
    let addr = inet(&server);
    let client = std::thread::spawn(move || {
        let mut s = connect(addr);
        s.write_all(b"bye").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let _ = read_to_end(&mut s);
    });
    run_until_joined(&mut lp, client);
    run_until_log(&mut lp, &log, has_lost);
    turn_for(&mut lp, std::time::Duration::from_millis(50));
    assert_state_machine(&log.borrow());
}
