//! The stream transport contract over real loopback TCP (the `contract` module,
//! T1–T13 and the flow-control rules P8/P10). Each test names its rule.

mod util;

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
fn t3_close_flushes_multi_megabyte_queue_to_slow_reader_before_lost() {
    let mut lp = EventLoop::new().unwrap();
    let (log, server) = serve(&mut lp, move |l| {
        Probe::new(l)
            .made(|t, log| {
                t.set_write_buffer_limits(Some(1 << 30), None).unwrap();
                for chunk in pattern(BIG).chunks(100_003) {
                    t.write(chunk).unwrap();
                }
                assert!(t.get_write_buffer_size() > 0);
                t.close();
                assert!(t.is_closing());
                t.close(); // a second close does nothing
                log.borrow_mut().push(Ev::Mark("closed"));
            })
            .lost(|t, log| {
                assert_eq!(t.get_write_buffer_size(), 0, "flushed before lost");
                log.borrow_mut().push(Ev::Mark("lost checked"));
            })
    });
    let addr = inet(&server);
    let client = std::thread::spawn(move || read_slowly(&mut connect(addr), 1 << 20));
    let got = run_until_joined(&mut lp, client).expect("clean EOF, no reset");
    assert!(
        got == pattern(BIG),
        "all {} bytes in order (got {})",
        BIG,
        got.len()
    );
    run_until_log(&mut lp, &log, has_lost);
    let evs = log.borrow().clone();
    assert_eq!(
        evs,
        vec![
            Ev::Made,
            Ev::Mark("closed"),
            Ev::Lost(None),
            Ev::Mark("lost checked")
        ]
    );
}

#[test]
fn t3_close_stops_receiving_at_once() {
    let mut lp = EventLoop::new().unwrap();
    let (log, server) = serve(&mut lp, move |l| {
        Probe::new(l).data(|t, _, _| {
            // Close on the first chunk; whatever follows is never delivered.
            t.close();
            assert!(!t.is_reading());
        })
    });
    let addr = inet(&server);
    let client = std::thread::spawn(move || {
        let mut s = connect(addr);
        s.write_all(b"first").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let _ = s.write_all(b"second");
        read_to_end(&mut s)
    });
    let got = run_until_joined(&mut lp, client).expect("clean EOF");
    assert!(got.is_empty());
    run_until_log(&mut lp, &log, has_lost);
    let evs = log.borrow().clone();
    assert_eq!(count(&evs, |e| matches!(e, Ev::Data(_))), 1);
    assert_eq!(evs.last(), Some(&Ev::Lost(None)));
}

/// The server answers and closes while the client is still sending: with a
/// plain close the kernel would reset the connection over the unread input
/// and the answer could be lost. T3's lingering close delivers it, then FIN.
#[test]
fn t3_lingering_close_delivers_answer_then_fin_while_peer_still_sends() {
    let mut lp = EventLoop::new().unwrap();
    let (log, server) = serve(&mut lp, move |l| {
        Probe::new(l).data(|t, _, log| {
            if !t.is_closing() {
                t.write(b"goodbye").unwrap();
                t.close();
                log.borrow_mut().push(Ev::Mark("closed"));
            }
        })
    });
    let addr = inet(&server);
    let client = std::thread::spawn(move || {
        let s = connect(addr);
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            // Keep sending after the server closed; stop at the first error.
            for _ in 0..64 {
                if w.write_all(&[b'x'; 32 * 1024]).is_err() {
                    break;
                }
            }
            let _ = w.shutdown(Shutdown::Write);
        });
        let mut r = s;
        let got = read_to_end(&mut r);
        writer.join().unwrap();
        got
    });
    let got = run_until_joined(&mut lp, client);
    assert_eq!(got.expect("FIN, not a reset"), b"goodbye");
    run_until_log(&mut lp, &log, has_lost);
    assert_eq!(log.borrow().last(), Some(&Ev::Lost(None)));
}

#[test]
fn t4_sockname_still_answers_in_connection_lost_after_abort_and_after_a_reset() {
    let mut lp = EventLoop::new().unwrap();
    let names = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let n = names.clone();
    let (log, server) = serve(&mut lp, move |l| {
        let n = n.clone();
        Probe::new(l)
            .data(|t, d, _| {
                if d == b"abort" {
                    t.abort();
                }
            })
            .lost(move |t, _| {
                n.borrow_mut()
                    .push(t.get_extra_info("sockname", Some(ExtraInfo::Socket(-1))))
            })
    });
    let addr = inet(&server);
    // One connection the server aborts, one the client resets.
    let mut a = connect(addr);
    write_all(&mut a, b"abort");
    let b = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    b.connect(&addr.into()).unwrap();
    run_until(&mut lp, |lp| lp.connection_count() >= 1);
    b.set_linger(Some(Duration::ZERO)).unwrap();
    drop(b); // a reset
    run_until_log(&mut lp, &log, |e| {
        count(e, |e| matches!(e, Ev::Lost(_))) == 2
    });
    let names = names.borrow();
    assert_eq!(names.len(), 2);
    for name in names.iter() {
        assert_eq!(
            name,
            &Some(ExtraInfo::Address(shardloop::Address::Inet(addr))),
            "the local address as recorded, not the default"
        );
    }
    drop(a);
}

#[test]
fn t4_get_extra_info_names_and_default() {
    let mut lp = EventLoop::new().unwrap();
    let log = new_log();
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let (l, s2) = (log.clone(), seen.clone());
    let server = lp
        .create_server(
            move || {
                let seen = s2.clone();
                Probe::new(&l).made(move |t, _| {
                    let peer = t.get_extra_info("peername", None);
                    let local = t.get_extra_info("sockname", None);
                    let sock = t.get_extra_info("socket", None);
                    let unknown = t.get_extra_info("no-such-name", Some(ExtraInfo::Socket(-7)));
                    let none = t.get_extra_info("cipher", None);
                    seen.borrow_mut().push((peer, local, sock, unknown, none));
                    t.close();
                })
            },
            "127.0.0.1:0",
        )
        .unwrap();
    let addr = inet(&server);
    let client = std::thread::spawn(move || {
        let mut s = connect(addr);
        let me = s.local_addr().unwrap();
        read_to_end(&mut s).unwrap();
        me
    });
    let client_addr = run_until_joined(&mut lp, client);
    let (peer, local, sock, unknown, none) = seen.borrow()[0].clone();
    assert_eq!(peer, Some(ExtraInfo::Address(Address::Inet(client_addr))));
    assert_eq!(local, Some(ExtraInfo::Address(Address::Inet(addr))));
    assert!(matches!(sock, Some(ExtraInfo::Socket(fd)) if fd >= 0));
    assert_eq!(
        unknown,
        Some(ExtraInfo::Socket(-7)),
        "unknown name gives the default"
    );
    assert_eq!(none, None);
}

#[test]
fn t5_pause_reading_holds_data_and_eof_until_resume_in_order() {
    let mut lp = EventLoop::new().unwrap();
    let log = new_log();
    let l = log.clone();
    let conn = std::rc::Rc::new(std::cell::Cell::new(None));
    let c2 = conn.clone();
    let server = lp
        .create_server(
            move || {
                let c2 = c2.clone();
                Probe::new(&l).made(move |t, _| {
                    t.pause_reading();
                    t.pause_reading(); // idempotent
                    assert!(!t.is_reading());
                    c2.set(Some(t.handle()));
                })
            },
            "127.0.0.1:0",
        )
        .unwrap();
    let addr = inet(&server);
    let data = pattern(300_000);
    let d2 = data.clone();
    let (sent_tx, sent_rx) = mpsc::channel();
    let client = std::thread::spawn(move || {
        let mut s = connect(addr);
        s.write_all(&d2).unwrap();
        s.shutdown(Shutdown::Write).unwrap(); // EOF arrives while paused
        sent_tx.send(()).unwrap();
        read_to_end(&mut s)
    });
    // Let data and EOF reach the paused transport; keep the loop turning.
    run_until(&mut lp, |_| sent_rx.try_recv().is_ok());
    turn_for(&mut lp, Duration::from_millis(100));
    assert_eq!(
        *log.borrow(),
        vec![Ev::Made],
        "nothing delivered while paused"
    );
    let h = conn.get().unwrap();
    lp.with_transport(h, |t| {
        t.resume_reading();
        t.resume_reading(); // idempotent
        assert!(t.is_reading());
    });
    assert_eq!(
        *log.borrow(),
        vec![Ev::Made],
        "delivery is on a later iteration"
    );
    run_until_log(&mut lp, &log, has_lost);
    let evs = log.borrow().clone();
    assert_eq!(received(&evs), data);
    let eof = evs.iter().position(|e| *e == Ev::Eof).unwrap();
    assert!(evs[eof + 1..].iter().all(|e| !matches!(e, Ev::Data(_))));
    assert_eq!(evs.last(), Some(&Ev::Lost(None)));
    run_until_joined(&mut lp, client).unwrap();
}

#[test]
fn t6_abort_discards_queue_and_lost_follows_later() {
    let mut lp = EventLoop::new().unwrap();
    let written = std::rc::Rc::new(std::cell::Cell::new(0));
    let w = written.clone();
    let (log, server) = serve(&mut lp, move |l| {
        let w = w.clone();
        Probe::new(l).made(move |t, log| {
            t.set_write_buffer_limits(Some(1 << 30), None).unwrap();
            // Loopback sometimes takes a whole 8 MiB at once: write until
            // something is queued (at most 64 MiB).
            for _ in 0..8 {
                t.write(&pattern(BIG)).unwrap();
                w.set(w.get() + BIG);
                if t.get_write_buffer_size() > 0 {
                    break;
                }
            }
            assert!(t.get_write_buffer_size() > 0);
            t.abort();
            assert!(t.is_closing());
            assert_eq!(t.get_write_buffer_size(), 0, "queue dropped");
            assert!(!has_lost(&log.borrow()), "not inside abort()");
            t.abort(); // again: nothing
            t.close(); // after abort: nothing
            assert_eq!(t.write(b"x"), Err(TransportError::Closed));
            log.borrow_mut().push(Ev::Mark("aborted"));
        })
    });
    let addr = inet(&server);
    let client = std::thread::spawn(move || {
        let mut s = connect_small(addr);
        std::thread::sleep(Duration::from_millis(20));
        let mut n = 0;
        let mut buf = vec![0; 1 << 16];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return n,
                Ok(k) => n += k,
            }
        }
    });
    let n = run_until_joined(&mut lp, client);
    assert!(
        n < written.get(),
        "the queue was discarded ({n} of {} bytes arrived)",
        written.get()
    );
    run_until_log(&mut lp, &log, has_lost);
    assert_eq!(
        *log.borrow(),
        vec![Ev::Made, Ev::Mark("aborted"), Ev::Lost(None)]
    );
}

#[test]
fn t7_can_write_eof_for_tcp() {
    let mut lp = EventLoop::new().unwrap();
    let (log, server) = serve(&mut lp, move |l| {
        Probe::new(l).made(|t, log| {
            if t.can_write_eof() {
                log.borrow_mut().push(Ev::Mark("can"));
            }
            t.close();
        })
    });
    let addr = inet(&server);
    let client = std::thread::spawn(move || read_to_end(&mut connect(addr)));
    run_until_joined(&mut lp, client).unwrap();
    assert_eq!(log.borrow()[1], Ev::Mark("can"));
}

#[test]
fn t11_writes_never_block_and_keep_order_through_the_queue() {
    let mut lp = EventLoop::new().unwrap();
    let data = pattern(8 << 20);
    let d2 = data.clone();
    let (_log, server) = serve(&mut lp, move |l| {
        let d2 = d2.clone();
        Probe::new(l).made(move |t, _| {
            t.set_write_buffer_limits(Some(1 << 30), None).unwrap();
            // Uneven sizes, some direct, most queued behind the rest.
            let mut rest = &d2[..];
            let mut size = 1;
            while !rest.is_empty() {
                let n = size.min(rest.len());
                t.write(&rest[..n]).unwrap();
                rest = &rest[n..];
                size = size * 3 % 70_001 + 1;
            }
            t.write(b"").unwrap(); // empty is a no-op
            t.close();
        })
    });
    let addr = inet(&server);
    let client = std::thread::spawn(move || read_slowly(&mut connect(addr), 1 << 20));
    let got = run_until_joined(&mut lp, client).unwrap();
    assert!(
        got == data,
        "order kept ({} of {} bytes)",
        got.len(),
        data.len()
    );
}

#[test]
fn t11_write_after_write_eof_is_an_error_and_after_close_is_dropped() {
    let mut lp = EventLoop::new().unwrap();
    let (log, server) = serve(&mut lp, move |l| {
        Probe::new(l).keep_open().data(|t, _, log| {
            t.write(b"one").unwrap();
            t.write_eof().unwrap();
            t.write_eof().unwrap(); // second: nothing
            assert_eq!(t.write(b"two"), Err(TransportError::EofWritten));
            assert_eq!(t.writelines(&[b"two"]), Err(TransportError::EofWritten));
            t.close();
            assert_eq!(t.write(b"three"), Err(TransportError::Closed));
            assert_eq!(t.write_eof(), Err(TransportError::Closed));
            log.borrow_mut().push(Ev::Mark("checked"));
        })
    });
    let addr = inet(&server);
    let client = std::thread::spawn(move || {
        let mut s = connect(addr);
        s.write_all(b"go").unwrap();
        read_to_end(&mut s)
    });
    assert_eq!(run_until_joined(&mut lp, client).unwrap(), b"one");
    run_until_log(&mut lp, &log, has_lost);
    assert!(log.borrow().contains(&Ev::Mark("checked")));
}

#[test]
fn t12_writelines_equals_the_writes_in_turn() {
    let mut lp = EventLoop::new().unwrap();
    let log = new_log();
    let l = log.clone();
    let parts: Vec<Vec<u8>> = (0..200).map(|i| pattern(i * 37 % 5000)).collect();
    let expected: Vec<u8> = parts.concat();
    let server = lp
        .create_server(
            move || {
                let parts = parts.clone();
                Probe::new(&l).made(move |t, _| {
                    // More parts than one writev takes, and enough bytes to queue.
                    t.writelines(&parts).unwrap();
                    t.writelines(&parts).unwrap();
                    t.writelines::<&[u8]>(&[]).unwrap();
                    t.close();
                })
            },
            "127.0.0.1:0",
        )
        .unwrap();
    let addr = inet(&server);
    let client = std::thread::spawn(move || read_to_end(&mut connect(addr)));
    let got = run_until_joined(&mut lp, client).unwrap();
    assert!(got == [expected.clone(), expected].concat());
}

#[test]
fn t13_write_eof_flushes_then_half_closes_and_data_still_arrives() {
    let mut lp = EventLoop::new().unwrap();
    let (log, server) = serve(&mut lp, move |l| {
        Probe::new(l).made(|t, _| {
            t.set_write_buffer_limits(Some(1 << 30), None).unwrap();
            t.write(&pattern(4 << 20)).unwrap();
            t.write_eof().unwrap(); // queued: shut down after the drain
            assert!(!t.is_closing());
        })
    });
    let addr = inet(&server);
    let client = std::thread::spawn(move || {
        let mut s = connect(addr);
        let got = read_slowly(&mut s, 1 << 20).unwrap(); // ends at the server's FIN
        s.write_all(b"still listening?").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        got
    });
    let got = run_until_joined(&mut lp, client);
    assert!(got == pattern(4 << 20));
    run_until_log(&mut lp, &log, has_lost);
    let evs = log.borrow().clone();
    assert_eq!(received(&evs), b"still listening?");
    assert!(evs.contains(&Ev::Eof));
    assert_eq!(evs.last(), Some(&Ev::Lost(None)));
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
