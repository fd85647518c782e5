//! The stream transport contract over real loopback TCP (the `contract` module,
//! T1–T13 and the flow-control rules P8/P10). Each test names its rule.

#[path = "../util/mod.rs"]
mod util;

mod writes;

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::mpsc;
use std::time::Duration;

use shardloop::{Address, EventLoop, ExtraInfo, Transport, TransportError};
use util::*;

const BIG: usize = 8 << 20;

/// Server side of the flow-control scenarios: on connection it lifts the
/// limits, writes `BIG` bytes to a client that does not read yet, so a large
/// queue builds up whose exact size the test knows; `setup` then sets the
/// marks and writes what the rule needs. The client starts reading when
/// told; the server closes on `resume_writing`. Returns the server log and
/// the byte count the client received.
fn flow_scenario(
    setup: impl Fn(&mut Transport, usize, &Log) + Clone + 'static,
) -> (Vec<Ev>, usize) {
    let mut lp = EventLoop::new().unwrap();
    let log = new_log();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let l = log.clone();
    let server = lp
        .create_server(
            move || {
                let setup = setup.clone();
                let go = go_tx.clone();
                Probe::new(&l)
                    .made(move |t, log| {
                        t.set_write_buffer_limits(Some(1 << 30), None).unwrap();
                        t.write(&pattern(BIG)).unwrap();
                        let queued = t.get_write_buffer_size();
                        assert!(queued > 0, "the kernel took {BIG} bytes at once");
                        setup(t, queued, log);
                        log.borrow_mut().push(Ev::Mark("setup done"));
                        go.send(()).unwrap();
                    })
                    .resume(|t, _| t.close())
            },
            "127.0.0.1:0",
        )
        .unwrap();
    let addr = inet(&server);
    let client = std::thread::spawn(move || {
        let mut s = connect_small(addr);
        go_rx
            .recv_timeout(DEADLINE)
            .expect("server never signalled");
        read_to_end(&mut s).map(|v| v.len())
    });
    let n = run_until_joined(&mut lp, client).unwrap();
    run_until_log(&mut lp, &log, has_lost);
    let evs = log.borrow().clone();
    (evs, n)
}

fn pauses(evs: &[Ev]) -> Vec<usize> {
    evs.iter()
        .filter_map(|e| if let Ev::Pause(n) = e { Some(*n) } else { None })
        .collect()
}

fn resumes(evs: &[Ev]) -> Vec<usize> {
    evs.iter()
        .filter_map(|e| {
            if let Ev::Resume(n) = e {
                Some(*n)
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn p8_queue_exactly_at_high_does_not_pause() {
    let (evs, n) = flow_scenario(|t, q, _| {
        t.set_write_buffer_limits(Some(q + 100), Some(1000))
            .unwrap();
        t.write(&[1; 100]).unwrap();
        assert_eq!(t.get_write_buffer_size(), q + 100);
        t.close(); // never paused, so no resume would close it
    });
    assert_eq!(n, BIG + 100);
    assert!(pauses(&evs).is_empty(), "{:?}", pauses(&evs));
    assert!(resumes(&evs).is_empty());
}

#[test]
fn p8_one_byte_over_high_pauses_once_and_drain_to_low_resumes_once() {
    let (evs, n) = flow_scenario(|t, q, _| {
        t.set_write_buffer_limits(Some(q + 100), Some(1000))
            .unwrap();
        t.write(&[1; 100]).unwrap();
        t.write(&[2]).unwrap(); // strictly over: pause
        t.write(&[3; 5000]).unwrap(); // grows further: no second pause
    });
    assert_eq!(n, BIG + 5101, "every byte delivered");
    let p = pauses(&evs);
    assert_eq!(p.len(), 1, "{p:?}");
    let r = resumes(&evs);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0] <= 1000, "resumed at {} > low", r[0]);
    let pi = evs.iter().position(|e| matches!(e, Ev::Pause(_))).unwrap();
    let ri = evs.iter().position(|e| matches!(e, Ev::Resume(_))).unwrap();
    assert!(pi < ri);
    assert_eq!(evs.last(), Some(&Ev::Lost(None)));
}

#[test]
fn p10_pause_is_delivered_when_the_writing_callback_returns_with_size_visible() {
    let (evs, _) = flow_scenario(|t, q, _| {
        t.set_write_buffer_limits(Some(q), Some(0)).unwrap();
        t.write(b"x").unwrap();
    });
    // Inside `made` the write went over high; pause_writing came right after
    // the callback returned (after the mark), seeing the full buffer.
    let mark = evs
        .iter()
        .position(|e| *e == Ev::Mark("setup done"))
        .unwrap();
    match &evs[mark + 1] {
        Ev::Pause(size) => assert!(*size > 0),
        other => panic!("expected pause right after the callback, got {other:?}"),
    }
    assert_eq!(resumes(&evs), vec![0], "low 0 resumes only when empty");
}

#[test]
fn p8_high_zero_pauses_whenever_queue_non_empty_and_resumes_at_empty() {
    let (evs, n) = flow_scenario(|t, _, _| {
        t.set_write_buffer_limits(Some(0), None).unwrap();
        assert_eq!(t.get_write_buffer_limits(), (0, 0));
    });
    assert_eq!(n, BIG);
    assert_eq!(pauses(&evs).len(), 1);
    assert_eq!(resumes(&evs), vec![0]);
}

#[test]
fn t10_high_zero_forces_low_zero() {
    let (evs, _) = flow_scenario(|t, _, _| {
        t.set_write_buffer_limits(Some(0), None).unwrap();
        assert_eq!(t.get_write_buffer_limits(), (0, 0));
    });
    assert_eq!(resumes(&evs), vec![0]);
}

#[test]
fn t10_setting_limits_rechecks_the_buffer_at_once() {
    let (evs, _) = flow_scenario(|t, q, log| {
        // No write: lowering high under the current size pauses by itself.
        t.set_write_buffer_limits(Some(q - 1), None).unwrap();
        log.borrow_mut().push(Ev::Mark("limits set"));
    });
    let mark = evs
        .iter()
        .position(|e| *e == Ev::Mark("limits set"))
        .unwrap();
    assert!(matches!(evs[mark + 2], Ev::Pause(_)), "{:?}", &evs[mark..]);
    assert_eq!(pauses(&evs).len(), 1);
    assert_eq!(resumes(&evs).len(), 1);
}

#[test]
fn p8_writelines_pauses_like_write() {
    let (evs, n) = flow_scenario(|t, q, _| {
        t.set_write_buffer_limits(Some(q + 10), Some(0)).unwrap();
        t.writelines(&[&[1u8; 4][..], &[2; 6]]).unwrap(); // exactly at high
        assert_eq!(t.get_write_buffer_size(), q + 10);
        t.writelines(&[&b""[..], b"z"]).unwrap(); // one over
    });
    assert_eq!(n, BIG + 11);
    assert_eq!(pauses(&evs).len(), 1);
    assert_eq!(resumes(&evs), vec![0]);
}

#[test]
fn t10_limits_defaults_derivations_and_invalid() {
    let mut lp = EventLoop::new().unwrap();
    let (log, server) = serve(&mut lp, move |l| {
        Probe::new(l).made(|t, log| {
            assert_eq!(t.get_write_buffer_limits(), (16384, 65536));
            t.set_write_buffer_limits(None, Some(1000)).unwrap();
            assert_eq!(t.get_write_buffer_limits(), (1000, 4000));
            t.set_write_buffer_limits(Some(1000), None).unwrap();
            assert_eq!(t.get_write_buffer_limits(), (250, 1000));
            let err = t.set_write_buffer_limits(Some(10), Some(20)).unwrap_err();
            assert_eq!(err, TransportError::InvalidLimits { high: 10, low: 20 });
            assert_eq!(t.get_write_buffer_limits(), (250, 1000), "unchanged");
            t.set_write_buffer_limits(None, None).unwrap();
            assert_eq!(t.get_write_buffer_limits(), (16384, 65536));
            log.borrow_mut().push(Ev::Mark("checked"));
            t.close();
        })
    });
    let addr = inet(&server);
    let client = std::thread::spawn(move || read_to_end(&mut connect(addr)));
    run_until_joined(&mut lp, client).unwrap();
    run_until_log(&mut lp, &log, has_lost);
    assert_eq!(log.borrow()[1], Ev::Mark("checked"));
}

#[test]
fn t8_write_buffer_size_counts_only_unsent_bytes() {
    let (evs, n) = flow_scenario(|t, q, _| {
        assert_eq!(t.get_write_buffer_size(), q);
        t.write(&[9; 10]).unwrap();
        assert_eq!(t.get_write_buffer_size(), q + 10, "queued behind the rest");
        t.set_write_buffer_limits(Some(q), Some(0)).unwrap();
    });
    assert_eq!(n, BIG + 10);
    assert_eq!(resumes(&evs), vec![0], "drained to zero");
}

#[test]
fn t1_the_loop_makes_transports_and_calls_connection_made_on_both_sides() {
    let mut lp = EventLoop::new().unwrap();
    let (slog, clog) = (new_log(), new_log());
    let l = slog.clone();
    let server = lp
        .create_server(
            move || {
                Probe::new(&l).data(|t, d, _| {
                    let _ = t.write(d);
                    t.close();
                })
            },
            "127.0.0.1:0",
        )
        .unwrap();
    let c = clog.clone();
    let h = lp
        .create_connection(
            move || Probe::new(&c).made(|t, _| t.write(b"ping").unwrap()),
            inet(&server),
        )
        .unwrap();
    assert_eq!(
        *clog.borrow(),
        vec![Ev::Made],
        "made before create_connection returns"
    );
    assert!(lp.is_connected(h));
    run_until_log(&mut lp, &clog, has_lost);
    run_until_log(&mut lp, &slog, has_lost);
    assert_eq!(received(&clog.borrow()), b"ping");
    assert!(!lp.is_connected(h));
    assert_eq!(slog.borrow()[0], Ev::Made);
}

/// Reads `TCP_NODELAY` of a transport's socket through its raw descriptor.
fn nodelay_of(t: &Transport) -> bool {
    let Some(ExtraInfo::Socket(fd)) = t.get_extra_info("socket", None) else {
        panic!("no socket");
    };
    // SAFETY: the descriptor belongs to the open transport for the whole
    // call; it is only borrowed for one getsockopt.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    socket2::SockRef::from(&fd).nodelay().unwrap()
}

#[test]
fn tcp_nodelay_is_on_by_default_and_configurable() {
    for wanted in [true, false] {
        let mut config = shardloop::LoopConfig::default();
        assert!(config.tcp_nodelay, "default on");
        config.tcp_nodelay = wanted;
        let mut lp = EventLoop::with_config(config).unwrap();
        let server = lp
            .create_server(|| Probe::new(&new_log()), "127.0.0.1:0")
            .unwrap();
        let log = new_log();
        let l = log.clone();
        let h = lp
            .create_connection(move || Probe::new(&l), inet(&server))
            .unwrap();
        assert_eq!(lp.with_transport(h, |t| nodelay_of(t)), Some(wanted));
    }
}

#[test]
fn a_loop_config_with_low_above_high_is_rejected() {
    let mut config = shardloop::LoopConfig::default();
    config.write_buffer_high = 10;
    config.write_buffer_low = 20;
    let err = EventLoop::with_config(config).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("low-water limit (20)"), "{err}");
}

#[test]
fn p3_p8_a_reset_while_paused_reports_the_error_and_never_resumes() {
    let mut lp = EventLoop::new().unwrap();
    let (log, server) = serve(&mut lp, move |l| {
        Probe::new(l).made(|t, _| {
            t.write(&pattern(BIG)).unwrap(); // far over high: paused
        })
    });
    let addr = inet(&server);
    let (paused_tx, paused_rx) = mpsc::channel::<()>();
    let client = std::thread::spawn(move || {
        let s = connect_small(addr);
        paused_rx.recv_timeout(DEADLINE).unwrap();
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s); // unread data + linger 0: reset
    });
    run_until_log(&mut lp, &log, |e| {
        e.iter().any(|e| matches!(e, Ev::Pause(_)))
    });
    paused_tx.send(()).unwrap();
    run_until_joined(&mut lp, client);
    run_until_log(&mut lp, &log, has_lost);
    let evs = log.borrow().clone();
    assert!(resumes(&evs).is_empty(), "{:?}", &evs);
    assert!(
        matches!(evs.last(), Some(Ev::Lost(Some(_)))),
        "{:?}",
        evs.last()
    );
}

#[test]
fn t3_a_peer_that_only_keeps_sending_cannot_hold_a_lingering_close_beyond_linger_time() {
    let mut config = shardloop::LoopConfig::default();
    config.linger_timeout = Duration::from_millis(200);
    config.linger_time = Duration::from_millis(800);
    let mut lp = EventLoop::with_config(config).unwrap();
    let (log, server) = serve(&mut lp, move |l| Probe::new(l).data(|t, _, _| t.close()));
    let addr = inet(&server);
    let client = std::thread::spawn(move || {
        let mut s = connect(addr);
        // Send a little every 20 ms, for ever (bounded by the deadline):
        // the lingering close sees input all the time.
        let start = std::time::Instant::now();
        while start.elapsed() < DEADLINE {
            if s.write_all(b"more").is_err() {
                return true; // dropped: the write hit the reset
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    });
    assert!(
        run_until_joined(&mut lp, client),
        "the lingering close never ended"
    );
    assert!(has_lost(&log.borrow()));
}
