//! The loop contract (L1, L2) and generation-checked handles.

mod util;

use std::cell::{Cell, RefCell};
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::{Duration, Instant};

use shardloop::EventLoop;
use util::*;

#[test]
fn l1_call_soon_is_fifo_and_runs_on_a_later_iteration() {
    let mut lp = EventLoop::new().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    for i in 0..5 {
        let o = order.clone();
        lp.call_soon(move |lp| {
            o.borrow_mut().push(i);
            if i == 0 {
                // Scheduled while running: after the ones already queued.
                let o = o.clone();
                lp.call_soon(move |_| o.borrow_mut().push(99));
            }
        });
    }
    assert!(order.borrow().is_empty(), "call_soon never runs inline");
    run_until(&mut lp, |_| order.borrow().len() == 6);
    assert_eq!(*order.borrow(), vec![0, 1, 2, 3, 4, 99]);
}

#[test]
fn l1_call_later_and_call_at_run_by_deadline_and_cancel_prevents() {
    let mut lp = EventLoop::new().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let push = |o: &Rc<RefCell<Vec<&'static str>>>, s| {
        let o = o.clone();
        move |_: &mut EventLoop| o.borrow_mut().push(s)
    };
    let start = Instant::now();
    lp.call_later(Duration::from_millis(60), push(&order, "60ms"));
    lp.call_at(start + Duration::from_millis(20), push(&order, "20ms"));
    let cancelled = lp.call_later(Duration::from_millis(40), push(&order, "cancelled"));
    lp.call_later(Duration::from_millis(40), push(&order, "40ms"));
    assert!(!cancelled.cancelled());
    cancelled.cancel();
    cancelled.cancel(); // idempotent
    assert!(cancelled.cancelled());
    run_until(&mut lp, |_| order.borrow().len() == 3);
    assert!(start.elapsed() >= Duration::from_millis(60), "not early");
    turn_for(&mut lp, Duration::from_millis(60));
    assert_eq!(*order.borrow(), vec!["20ms", "40ms", "60ms"]);
}

#[test]
fn l1_stop_ends_run_forever_and_a_stop_before_running_does_one_iteration() {
    let mut lp = EventLoop::new().unwrap();
    let ran = Rc::new(RefCell::new(0));
    let r = ran.clone();
    lp.call_later(Duration::from_millis(10), move |lp| {
        *r.borrow_mut() += 1;
        lp.stop();
    });
    lp.run_forever().unwrap();
    assert_eq!(*ran.borrow(), 1);

    lp.stop();
    let r = ran.clone();
    lp.call_soon(move |_| *r.borrow_mut() += 1);
    lp.run_forever().unwrap(); // one iteration, then returns
    assert_eq!(*ran.borrow(), 2);
}

#[test]
fn l1_running_the_loop_from_inside_itself_is_an_error() {
    let mut lp = EventLoop::new().unwrap();
    let result = Rc::new(RefCell::new(None));
    let r = result.clone();
    lp.call_soon(move |lp| {
        *r.borrow_mut() = Some(lp.run_forever().map_err(|e| e.to_string()));
        lp.stop();
    });
    lp.run_forever().unwrap();
    let got = result.borrow_mut().take().unwrap();
    assert!(got.unwrap_err().contains("already running"));
}

#[test]
fn l1_a_panicking_callback_is_logged_and_the_loop_goes_on() {
    let mut lp = EventLoop::new().unwrap();
    let after = Rc::new(RefCell::new(false));
    lp.call_soon(|_| panic!("callback bug"));
    let a = after.clone();
    lp.call_soon(move |_| *a.borrow_mut() = true);
    run_until(&mut lp, |_| *after.borrow());
}

#[test]
fn l2_address_in_use_is_returned_naming_the_address() {
    let mut lp = EventLoop::new().unwrap();
    let first = lp
        .create_server(|| Probe::new(&new_log()), "127.0.0.1:0")
        .unwrap();
    let addr = inet(&first);
    let err = lp
        .create_server(|| Probe::new(&new_log()), addr)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[test]
fn l2_connection_refused_is_returned_from_create_connection() {
    let mut lp = EventLoop::new().unwrap();
    // A bound socket that does not listen: connecting to it is refused, and
    // holding it keeps anyone else from taking the port meanwhile.
    let holder = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    holder
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    let addr = holder.local_addr().unwrap().as_socket().unwrap();
    let log = new_log();
    let l = log.clone();
    let err = lp
        .create_connection(move || Probe::new(&l), addr)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert!(
        log.borrow().is_empty(),
        "no callback for a failed connection"
    );
    assert_eq!(lp.connection_count(), 0);
}

#[test]
fn l2_server_close_stops_accepting_and_wait_closed_waits_for_its_connections() {
    let mut lp = EventLoop::new().unwrap();
    let (log, server) = serve(&mut lp, Probe::new);
    assert!(server.is_serving());
    let addr = inet(&server);
    let c = log.clone();
    let h = lp.create_connection(move || Probe::new(&c), addr).unwrap();
    run_until(&mut lp, |lp| lp.connection_count() == 2);
    server.close();
    server.close(); // idempotent
    assert!(!server.is_serving());
    turn_for(&mut lp, Duration::from_millis(20));
    let refused = std::net::TcpStream::connect(addr).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    // The accepted connection is still alive; close the client end so the
    // server side sees EOF, and wait_closed returns when it is gone.
    lp.with_transport(h, |t| t.close()).unwrap();
    server.wait_closed(&mut lp).unwrap();
    assert_eq!(count(&log.borrow(), |e| *e == Ev::Lost(None)), 2);
}

#[test]
fn l2_server_close_refuses_the_next_connect_at_once_and_empties_sockets() {
    // asyncio's test_server_close: no loop iteration between close() and
    // the connect.
    let mut lp = EventLoop::new().unwrap();
    let (_log, server) = serve(&mut lp, Probe::new);
    let addr = inet(&server);
    assert_eq!(server.sockets().len(), 1);
    server.close();
    assert!(
        server.sockets().is_empty(),
        "sockets() is empty after close"
    );
    let refused = std::net::TcpStream::connect(addr).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    server.wait_closed(&mut lp).unwrap();
    // The same for a Unix server, whose socket file goes too.
    let dir = util::scratch_dir("l2-close");
    let path = dir.join("s.sock");
    let unix = lp
        .create_unix_server(|| Probe::new(&new_log()), &path)
        .unwrap();
    unix.close();
    let refused = std::os::unix::net::UnixStream::connect(&path).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    unix.wait_closed(&mut lp).unwrap();
    assert!(!path.exists());
}

#[test]
fn stale_connection_handles_never_reach_a_newer_connection() {
    let mut lp = EventLoop::new().unwrap();
    let (_log, server) = serve(&mut lp, Probe::new);
    let addr = inet(&server);
    let c = new_log();
    let c2 = c.clone();
    let old = lp.create_connection(move || Probe::new(&c2), addr).unwrap();
    lp.with_transport(old, |t| t.abort()).unwrap();
    run_until_log(&mut lp, &c, has_lost);
    // Many new connections, which reuse the freed slots.
    let mut newer = Vec::new();
    for _ in 0..8 {
        let c = new_log();
        newer.push(lp.create_connection(move || Probe::new(&c), addr).unwrap());
    }
    assert!(!newer.contains(&old));
    assert!(!lp.is_connected(old));
    assert_eq!(lp.with_transport(old, |_| ()), None);
    assert!(newer.iter().all(|h| lp.is_connected(*h)));
}

#[test]
fn with_connection_reaches_the_protocol_by_its_type() {
    let mut lp = EventLoop::new().unwrap();
    let server = lp
        .create_server(|| Probe::new(&new_log()), "127.0.0.1:0")
        .unwrap();
    let log = new_log();
    let l = log.clone();
    let h = lp
        .create_connection(move || Probe::new(&l), inet(&server))
        .unwrap();
    let n = lp.with_connection(h, |p: &mut Probe, t| {
        p.log.borrow_mut().push(Ev::Mark("reached"));
        t.write(b"hi").map(|_| 1)
    });
    assert_eq!(n, Some(Ok(1)));
    struct Other;
    impl shardloop::Protocol for Other {}
    assert_eq!(
        lp.with_connection(h, |_: &mut Other, _| ()),
        None,
        "wrong type"
    );
    assert_eq!(log.borrow()[1], Ev::Mark("reached"));
}

#[test]
fn l3_add_reader_is_level_triggered_until_remove_reader() {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    let mut lp = EventLoop::new().unwrap();
    let (ours, mut peer) = UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    let fd = ours.as_raw_fd();
    let ours = Rc::new(RefCell::new(ours)); // the descriptor stays ours
    let calls = Rc::new(Cell::new(0));
    let got = Rc::new(RefCell::new(Vec::new()));
    let (c, g, o) = (calls.clone(), got.clone(), ours.clone());
    // A callback that reads only on its second call: level-triggered, it is
    // called again although no new data arrived.
    lp.add_reader(fd, move |lp| {
        c.set(c.get() + 1);
        if c.get() >= 2 {
            let mut buf = [0u8; 16];
            let n = o.borrow_mut().read(&mut buf).unwrap();
            g.borrow_mut().extend_from_slice(&buf[..n]);
            assert!(lp.remove_reader(fd), "it was watched");
        }
    })
    .unwrap();
    peer.write_all(b"abc").unwrap();
    util::run_until(&mut lp, |_| !got.borrow().is_empty());
    assert_eq!(*got.borrow(), b"abc");
    assert_eq!(calls.get(), 2);
    // Removed: more data calls nothing.
    peer.write_all(b"more").unwrap();
    util::turn_for(&mut lp, Duration::from_millis(50));
    assert_eq!(calls.get(), 2);
    assert!(!lp.remove_reader(fd), "no longer watched");
}

#[test]
fn l3_add_writer_runs_when_writable_and_a_new_reader_replaces_the_old() {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    let mut lp = EventLoop::new().unwrap();
    let (ours, mut peer) = UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    let fd = ours.as_raw_fd();
    let ours = Rc::new(RefCell::new(ours));
    let o = ours.clone();
    lp.add_writer(fd, move |lp| {
        o.borrow_mut().write_all(b"ready").unwrap();
        assert!(lp.remove_writer(fd));
    })
    .unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    lp.add_reader(fd, move |_| s.borrow_mut().push("old"))
        .unwrap();
    let (s, o) = (seen.clone(), ours.clone());
    lp.add_reader(fd, move |lp| {
        let mut buf = [0u8; 8];
        let n = o.borrow_mut().read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"pong");
        s.borrow_mut().push("new");
        lp.remove_reader(fd);
    })
    .unwrap();
    let mut buf = [0u8; 5];
    peer.set_read_timeout(Some(util::DEADLINE)).unwrap();
    util::run_until(&mut lp, |_| true);
    util::turn_for(&mut lp, Duration::from_millis(20));
    peer.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ready");
    peer.write_all(b"pong").unwrap();
    util::run_until(&mut lp, |_| !seen.borrow().is_empty());
    assert_eq!(
        *seen.borrow(),
        vec!["new"],
        "the second add_reader replaced the first"
    );
}

#[test]
fn loop_errors_are_typed_bind_failed_with_its_address_and_already_running() {
    use shardloop::LoopError;
    let mut lp = EventLoop::new().unwrap();
    // Bind failed, with the address.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let e = lp
        .create_server(|| Probe::new(&new_log()), addr)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
    match LoopError::of(&e) {
        Some(LoopError::Bind { address, .. }) => assert_eq!(address, &addr.to_string()),
        other => panic!("{other:?}"),
    }
    // Already running.
    let inner = std::rc::Rc::new(std::cell::RefCell::new(None));
    let i = inner.clone();
    lp.call_soon(move |lp| {
        *i.borrow_mut() = Some(lp.run_forever().unwrap_err());
        lp.stop();
    });
    lp.run_forever().unwrap();
    let e = inner.borrow_mut().take().unwrap();
    assert!(
        matches!(LoopError::of(&e), Some(LoopError::AlreadyRunning)),
        "{e}"
    );
}
