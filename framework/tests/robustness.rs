//! Bad input: a misbehaving peer or a buggy protocol loses its own
//! connection only; the loop keeps serving the rest.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use shardloop::{EventLoop, Protocol, Transport};
use util::*;

struct EchoOrPanic;
impl Protocol for EchoOrPanic {
    fn data_received(&mut self, t: &mut Transport, data: &[u8]) {
        if data.starts_with(b"panic") {
            panic!("protocol bug triggered by the peer");
        }
        t.write(data).unwrap();
    }
}

fn echo_once(s: &mut std::net::TcpStream, msg: &[u8]) -> Vec<u8> {
    s.write_all(msg).unwrap();
    let mut buf = vec![0; msg.len()];
    s.read_exact(&mut buf).unwrap();
    buf
}

#[test]
fn a_panic_in_a_callback_aborts_only_its_connection() {
    let mut lp = EventLoop::new().unwrap();
    let (log, server) = serve(&mut lp, move |l| {
        Probe::new(l).data(|t, d, _| {
            if d.starts_with(b"panic") {
                panic!("protocol bug triggered by the peer");
            }
            t.write(d).unwrap();
        })
    });
    let addr = inet(&server);
    let peers = std::thread::spawn(move || {
        let mut good = connect(addr);
        assert_eq!(echo_once(&mut good, b"before"), b"before");
        let mut bad = connect(addr);
        bad.write_all(b"panic now").unwrap();
        let bad_end = read_to_end(&mut bad); // closed by the server
        assert_eq!(echo_once(&mut good, b"after"), b"after");
        // `good` goes back to the test, open, so its connection is still
        // alive when counted below.
        (bad_end.map(|v| v.len()), good)
    });
    let (bad_end, _good) = run_until_joined(&mut lp, peers);
    assert!(matches!(bad_end, Ok(0)) || bad_end.is_err());
    run_until_log(&mut lp, &log, has_lost);
    let evs = log.borrow().clone();
    assert!(evs.contains(&Ev::Lost(Some(ErrorKind::Other))), "{evs:?}");
    assert_eq!(lp.connection_count(), 1, "the good connection lives on");
}

#[test]
fn a_panic_in_the_trait_impl_is_contained_too() {
    let mut lp = EventLoop::new().unwrap();
    let server = lp.create_server(|| EchoOrPanic, "127.0.0.1:0").unwrap();
    let addr = inet(&server);
    let peers = std::thread::spawn(move || {
        let mut bad = connect(addr);
        bad.write_all(b"panic").unwrap();
        let _ = read_to_end(&mut bad);
        let mut good = connect(addr);
        echo_once(&mut good, b"still serving")
    });
    assert_eq!(run_until_joined(&mut lp, peers), b"still serving");
}

#[test]
fn resetting_half_closing_and_silent_peers_affect_only_themselves() {
    let mut lp = EventLoop::new().unwrap();
    let server = lp
        .create_server(
            || Probe::new(&new_log()).data(|t, d, _| t.write(d).unwrap()),
            "127.0.0.1:0",
        )
        .unwrap();
    let addr = inet(&server);
    let peers = std::thread::spawn(move || {
        let _silent = connect(addr); // connects and never sends
        let mut half = connect(addr);
        half.write_all(b"half").unwrap();
        half.shutdown(std::net::Shutdown::Write).unwrap();
        let half_got = read_to_end(&mut half).unwrap();
        for _ in 0..20 {
            let mut r = connect(addr);
            r.write_all(&[0; 1000]).unwrap();
            socket2::SockRef::from(&r)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(r); // reset with data in flight
        }
        let mut good = connect(addr);
        (half_got, echo_once(&mut good, b"unaffected"))
    });
    let (half_got, good) = run_until_joined(&mut lp, peers);
    assert_eq!(half_got, b"half");
    assert_eq!(good, b"unaffected");
}

#[test]
fn a_panicking_factory_drops_only_that_connection() {
    let mut lp = EventLoop::new().unwrap();
    let mut n = 0;
    let server = lp
        .create_server(
            move || {
                n += 1;
                if n == 1 {
                    panic!("factory bug");
                }
                EchoOrPanic
            },
            "127.0.0.1:0",
        )
        .unwrap();
    let addr = inet(&server);
    let peers = std::thread::spawn(move || {
        let mut first = connect(addr);
        let first_end = read_to_end(&mut first).map(|v| v.len());
        let mut second = connect(addr);
        (first_end, echo_once(&mut second, b"second"))
    });
    let (first_end, second) = run_until_joined(&mut lp, peers);
    assert!(matches!(first_end, Ok(0)) || first_end.is_err());
    assert_eq!(second, b"second");
}

/// Echoes; panics when dropped after the peer sent "boom" — a panic outside
/// every protocol callback, in the loop's own path.
struct PanicOnDrop {
    armed: bool,
}
impl Protocol for PanicOnDrop {
    fn data_received(&mut self, t: &mut Transport, data: &[u8]) {
        self.armed |= data == b"boom";
        t.write(data).unwrap();
    }
}
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if self.armed && !std::thread::panicking() {
            panic!("protocol dropped in a bad state");
        }
    }
}

#[test]
fn a_panic_on_a_runtime_shards_own_path_costs_one_connection_never_the_shard() {
    let mut config = shardloop::RuntimeConfig::default();
    config.shards = 1;
    config.pin_cores = false;
    let mut rt = shardloop::Runtime::start(config).unwrap();
    let addr = rt
        .listen(
            "127.0.0.1:0".parse().unwrap(),
            shardloop::Distribution::ReusePort,
            64,
            || PanicOnDrop { armed: false },
        )
        .unwrap();
    for round in 0..3 {
        // The connection whose protocol panics when the loop drops it.
        let mut bad = std::net::TcpStream::connect(addr).unwrap();
        bad.set_read_timeout(Some(DEADLINE)).unwrap();
        assert_eq!(echo_once(&mut bad, b"boom"), b"boom");
        bad.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        bad.read_to_end(&mut rest).unwrap();
        // The shard still serves, round after round.
        let mut good = std::net::TcpStream::connect(addr).unwrap();
        good.set_read_timeout(Some(DEADLINE)).unwrap();
        assert_eq!(echo_once(&mut good, b"fine"), b"fine", "round {round}");
    }
    assert!(rt.shutdown(Duration::from_secs(5)).is_ok(), "no shard died");
}

/// Counts its `connection_lost`; one armed panics when the loop drops it.
struct LostThenDrop {
    lost: std::rc::Rc<std::cell::Cell<u32>>,
    panic_on_drop: bool,
}

impl Protocol for LostThenDrop {
    fn connection_lost(&mut self, _: &mut Transport, _: Option<std::io::Error>) {
        self.lost.set(self.lost.get() + 1);
    }
}

impl Drop for LostThenDrop {
    fn drop(&mut self) {
        if self.panic_on_drop && !std::thread::panicking() {
            panic!("protocol panicked while dropped");
        }
    }
}

#[test]
fn p2_a_panic_in_one_entry_of_a_deferred_batch_does_not_hold_up_the_others_connection_lost() {
    use std::os::unix::net::UnixStream;
    // Two connections aborted in one callback: their connection_lost is
    // deferred to the next iteration, in one batch. Dropping the first
    // entry panics (outside any callback guard); the second must still get
    // its connection_lost (P2: exactly once) without waiting for any
    // further event — none will come, and the loop's clock stands still.
    let (mut lp, _clock) = manual_loop(|_| {});
    let lost = std::rc::Rc::new(std::cell::Cell::new(0));
    let mut peers = Vec::new();
    let mut handles = Vec::new();
    for panic_on_drop in [true, false] {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let l = lost.clone();
        let h = lp
            .create_connection_with_socket(
                move || LostThenDrop {
                    lost: l,
                    panic_on_drop,
                },
                ours,
            )
            .unwrap();
        handles.push(h);
        peers.push(theirs);
    }
    let aborted = handles.clone();
    lp.call_soon(move |lp| {
        for h in aborted {
            lp.with_transport(h, |t| t.abort());
        }
    });
    // Bounded: a watchdog stops the loop if it blocks.
    let shard = lp.shard_handle().unwrap();
    let _watchdog = std::thread::spawn(move || {
        std::thread::sleep(DEADLINE);
        let _ = shard.submit(|lp| lp.stop());
    });
    lp.run_until(|_| lost.get() == 2).unwrap();
    assert_eq!(lost.get(), 2, "both connection_lost delivered");
    assert!(!lp.is_connected(handles[0]) && !lp.is_connected(handles[1]));
    assert_eq!(lp.open_connections(), 0);
}

/// The descriptor of this process's listening socket bound to `addr`.
fn listening_fd(addr: std::net::SocketAddr) -> std::os::fd::RawFd {
    for fd in 3..4096 {
        // SAFETY: only borrowed for the two queries below; an fd that is
        // not open or not a socket makes them fail, nothing more.
        let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        if std::fs::read_link(format!("/proc/self/fd/{fd}")).is_err() {
            continue;
        }
        let s = socket2::SockRef::from(&b);
        if s.is_listener().unwrap_or(false)
            && s.local_addr().ok().and_then(|a| a.as_socket()) == Some(addr)
        {
            return fd;
        }
    }
    panic!("no listening socket on {addr}");
}

#[test]
fn l2_a_listening_socket_that_stops_listening_is_closed_and_the_loop_serves_on() {
    // Another process holding the same socket (a takeover, a debugger) can
    // take it out of LISTEN with shutdown(2): every accept then fails with
    // EINVAL. The loop must close that listener, not retry it for ever.
    let mut lp = EventLoop::new().unwrap();
    let dead = lp.create_server(|| EchoOrPanic, "127.0.0.1:0").unwrap();
    let alive = lp.create_server(|| EchoOrPanic, "127.0.0.1:0").unwrap();
    let fd = listening_fd(inet(&dead));
    // SAFETY: plain shutdown(2) of a socket this process holds open.
    assert_eq!(unsafe { libc::shutdown(fd, libc::SHUT_RDWR) }, 0);
    run_until(&mut lp, |_| !dead.is_serving());
    // The loop is not stuck on the dead one: the other still serves.
    let addr = inet(&alive);
    let peer = std::thread::spawn(move || {
        let mut s = connect(addr);
        echo_once(&mut s, b"still here")
    });
    assert_eq!(run_until_joined(&mut lp, peer), b"still here");
}
