//! Timeouts on loop time: a loop on a manual `Clock` fires its idle,
//! lingering-close and task timers when the test moves the clock, so each
//! bound is checked exactly and nothing waits for real seconds. (The TLS
//! handshake timeout is tested the same way in `tls_contract.rs`.)

mod util;

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use util::*;

/// Loop time of a connection's `connection_made` and `connection_lost`.
#[derive(Default)]
struct Times {
    made: Cell<Option<Instant>>,
    lost: Cell<Option<Instant>>,
}

#[test]
fn an_idle_connection_is_closed_between_the_timeout_and_an_eighth_more_of_loop_time() {
    let timeout = Duration::from_secs(80);
    let (mut lp, clock) = manual_loop(|c| c.idle_timeout = Some(timeout));
    let times = Rc::new(Times::default());
    let tm = times.clone();
    let (log, server) = serve(&mut lp, move |l| {
        let (a, b) = (tm.clone(), tm.clone());
        Probe::new(l)
            .made(move |t, _| a.made.set(Some(t.get_loop().time())))
            .lost(move |t, _| b.lost.set(Some(t.get_loop().time())))
    });
    let mut client = connect(inet(&server));
    run_until(&mut lp, |_| times.made.get().is_some());
    let made = times.made.get().unwrap();
    // One loop-second at a time, each run to completion.
    let mut steps = 0;
    while times.lost.get().is_none() {
        assert!(steps < 200, "never timed out");
        let idle = lp.handle().time() - made;
        assert!(idle <= timeout + timeout / 8, "still open after {idle:?}");
        clock.advance(Duration::from_secs(1));
        turn(&mut lp);
        steps += 1;
    }
    let life = times.lost.get().unwrap() - made;
    assert!(life >= timeout, "closed after {life:?} of loop time");
    assert!(life <= timeout + timeout / 8, "closed after {life:?}");
    assert_eq!(
        *log.borrow(),
        vec![Ev::Made, Ev::Lost(Some(ErrorKind::TimedOut))]
    );
    // The peer sees the end.
    client.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = [0u8; 8];
    match client.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("unexpected {n} bytes"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
    }
}

#[test]
fn t3_a_lingering_close_fed_without_end_is_held_for_linger_time_of_loop_time_then_dropped() {
    let (linger_timeout, linger_time) = (Duration::from_secs(5), Duration::from_secs(30));
    let (mut lp, clock) = manual_loop(|c| {
        c.linger_timeout = linger_timeout;
        c.linger_time = linger_time;
    });
    let times = Rc::new(Times::default());
    let tm = times.clone();
    let (_log, server) = serve(&mut lp, move |l| {
        let a = tm.clone();
        Probe::new(l)
            .data(|t, _, _| t.close())
            .lost(move |t, _| a.lost.set(Some(t.get_loop().time())))
    });
    let addr = inet(&server);
    // The peer keeps sending until its writes fail (the socket was dropped
    // and answered with a reset); `sent` counts its writes.
    let sent = Arc::new(AtomicU64::new(0));
    let s = sent.clone();
    let client = std::thread::spawn(move || {
        let mut sock = connect(addr);
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            if sock.write_all(b"more").is_err() {
                return true;
            }
            s.fetch_add(1, Ordering::AcqRel);
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    });
    run_until(&mut lp, |_| times.lost.get().is_some());
    let closed = times.lost.get().unwrap();
    // Each loop-second: the peer has sent more before the loop looks, so
    // every check of the lingering close sees input.
    let mut steps = 0;
    while !client.is_finished() {
        assert!(steps < 100, "the lingering close never ended");
        let before = sent.load(Ordering::Acquire);
        let waited = Instant::now();
        while sent.load(Ordering::Acquire) == before && !client.is_finished() {
            assert!(waited.elapsed() < DEADLINE, "the peer stopped sending");
            std::thread::sleep(Duration::from_millis(1));
        }
        clock.advance(Duration::from_secs(1));
        turn(&mut lp);
        steps += 1;
        if lp.handle().time() - closed < linger_time {
            // Still held: nothing dropped before linger_time.
            assert!(!client.is_finished(), "dropped before linger_time");
        }
    }
    assert!(client.join().unwrap(), "the peer's writes never failed");
    let held = lp.handle().time() - closed;
    // Dropped at the first check at or past linger_time, which the peer
    // notices within a few of our loop-seconds.
    assert!(held >= linger_time, "held {held:?}");
    assert!(held <= linger_time + linger_timeout * 2, "held {held:?}");
}

#[test]
fn k2_sleep_and_timeout_complete_when_the_loop_clock_reaches_them() {
    let (mut lp, clock) = manual_loop(|_| {});
    let h = lp.handle().clone();
    let woke = Rc::new(Cell::new(false));
    let w = woke.clone();
    let sleeper = lp.spawn_local(async move {
        h.sleep(Duration::from_secs(3600)).await;
        w.set(true);
    });
    let h = lp.handle().clone();
    let limited = lp.spawn_local(async move {
        h.timeout(Duration::from_secs(10), std::future::pending::<()>())
            .await
    });
    turn(&mut lp);
    clock.advance(Duration::from_millis(9_999));
    turn(&mut lp);
    assert!(!limited.is_finished(), "timed out before 10 s of loop time");
    clock.advance(Duration::from_millis(1));
    let out = lp.run_until_complete(limited).unwrap().unwrap();
    assert!(out.is_err(), "Elapsed at 10 s of loop time");
    clock.advance(Duration::from_secs(3589));
    turn(&mut lp);
    assert!(!woke.get() && !sleeper.is_finished(), "woke before an hour");
    clock.advance(Duration::from_secs(1));
    lp.run_until_complete(sleeper).unwrap().unwrap();
    assert!(woke.get());
}

#[test]
fn l1_call_later_runs_in_deadline_order_as_the_clock_passes_each() {
    let (mut lp, clock) = manual_loop(|_| {});
    let ran = Rc::new(std::cell::RefCell::new(Vec::new()));
    for (name, secs) in [("c", 30), ("a", 10), ("b", 20), ("a2", 10)] {
        let r = ran.clone();
        lp.call_later(Duration::from_secs(secs), move |_| {
            r.borrow_mut().push(name)
        });
    }
    turn(&mut lp);
    assert!(ran.borrow().is_empty());
    clock.advance(Duration::from_secs(15));
    turn(&mut lp);
    assert_eq!(*ran.borrow(), ["a", "a2"]);
    clock.advance(Duration::from_secs(15));
    turn(&mut lp);
    assert_eq!(*ran.borrow(), ["a", "a2", "b", "c"]);
}

#[test]
fn t3_a_peer_fin_that_came_before_connection_lost_ends_the_lingering_close_without_a_timer() {
    // Loop time never moves: no linger timer can end a lingering close,
    // only the peer's FIN. The server closes 50 idle connections from a
    // callback (FIN sent, `connection_lost` due on the next iteration) and,
    // before the loop goes on, every client has read that FIN and closed:
    // the clients' FINs all reach the poll that comes before
    // `connection_lost`. That edge is the only one; dropping it left the
    // socket lingering until a timer (the stuck drains of issue 19).
    let (mut lp, _clock) = manual_loop(|_| {});
    let handles = Rc::new(std::cell::RefCell::new(Vec::new()));
    let h = handles.clone();
    let (log, server) = serve(&mut lp, move |l| {
        let h = h.clone();
        Probe::new(l).made(move |t, _| h.borrow_mut().push(t.handle()))
    });
    let addr = inet(&server);
    let closed = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..50)
        .map(|_| {
            let mut c = connect(addr);
            let closed = Arc::clone(&closed);
            std::thread::spawn(move || {
                c.set_read_timeout(Some(DEADLINE)).unwrap();
                let mut rest = Vec::new();
                let got = c.read_to_end(&mut rest).map(|_| rest.len());
                drop(c);
                closed.fetch_add(1, Ordering::AcqRel);
                got
            })
        })
        .collect();
    run_until(&mut lp, |_| handles.borrow().len() == clients.len());
    let all = handles.borrow().clone();
    let n = clients.len() as u64;
    let waiting = Arc::clone(&closed);
    lp.call_soon(move |lp| {
        for h in all {
            lp.with_transport(h, |t| t.close());
        }
        // Hold the loop until every client answered with its FIN.
        let start = Instant::now();
        while waiting.load(Ordering::Acquire) < n && start.elapsed() < DEADLINE {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    run_until(&mut lp, |lp| {
        let lost = log
            .borrow()
            .iter()
            .filter(|e| matches!(e, Ev::Lost(_)))
            .count();
        lost == clients.len() && lp.open_connections() == 0
    });
    for c in clients {
        assert_eq!(c.join().unwrap().unwrap(), 0, "a clean end, no reset");
    }
}
