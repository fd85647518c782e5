//! T3–T13 of the stream transport: closing, extra info, pausing reads,
//! abort, write_eof and writes that never block, over real sockets.

use super::*;

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
