//! Per-connection idle timeout: a silent peer is closed with a `TimedOut`
//! error in `connection_lost`; traffic keeps a connection alive.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use shardloop::{EventLoop, LoopConfig};
use util::*;

fn idle_loop(timeout: Duration) -> EventLoop {
    let mut config = LoopConfig::default();
    config.idle_timeout = Some(timeout);
    EventLoop::with_config(config).unwrap()
}

#[test]
fn a_silent_connection_is_closed_with_a_timeout_error() {
    let mut lp = idle_loop(Duration::from_millis(200));
    let (log, server) = serve(&mut lp, Probe::new);
    let addr = inet(&server);
    let client = std::thread::spawn(move || read_to_end(&mut connect(addr)));
    let got = run_until_joined(&mut lp, client);
    assert!(got.map(|v| v.is_empty()).unwrap_or(true));
    run_until_log(&mut lp, &log, has_lost);
    assert_eq!(
        *log.borrow(),
        vec![Ev::Made, Ev::Lost(Some(ErrorKind::TimedOut))]
    );
}

#[test]
fn traffic_keeps_a_connection_alive_past_the_timeout() {
    let mut lp = idle_loop(Duration::from_secs(1));
    let (log, server) = serve(&mut lp, |l| {
        Probe::new(l).data(|t, d, _| t.write(d).unwrap())
    });
    let addr = inet(&server);
    let client = std::thread::spawn(move || {
        let mut s = connect(addr);
        let start = Instant::now();
        let mut b = [0; 1];
        // Twice the timeout, one byte each way every 20 ms.
        while start.elapsed() < Duration::from_secs(2) {
            s.write_all(b"k").unwrap();
            s.read_exact(&mut b).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    run_until_joined(&mut lp, client);
    run_until_log(&mut lp, &log, has_lost);
    assert_eq!(
        log.borrow().last(),
        Some(&Ev::Lost(None)),
        "closed by the peer, not timed out"
    );
}

/// Records when each connection was made and when it was lost.
struct Clocked {
    made: Option<Instant>,
    lives: std::rc::Rc<std::cell::RefCell<Vec<Duration>>>,
}

impl shardloop::Protocol for Clocked {
    fn connection_made(&mut self, _: &mut shardloop::Transport) {
        self.made = Some(Instant::now());
    }
    fn connection_lost(&mut self, _: &mut shardloop::Transport, e: Option<std::io::Error>) {
        assert_eq!(e.map(|e| e.kind()), Some(ErrorKind::TimedOut));
        self.lives
            .borrow_mut()
            .push(self.made.expect("made before lost").elapsed());
    }
}

#[test]
fn a_connection_silent_from_its_accept_is_never_closed_before_the_idle_timeout() {
    let timeout = Duration::from_millis(400);
    let mut lp = idle_loop(timeout);
    let lives = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let l = lives.clone();
    let server = lp
        .create_server(
            move || Clocked {
                made: None,
                lives: l.clone(),
            },
            "127.0.0.1:0",
        )
        .unwrap();
    let addr = inet(&server);
    // Connections accepted at different phases of the sweep.
    const N: usize = 6;
    let client = std::thread::spawn(move || {
        (0..N)
            .map(|_| {
                std::thread::sleep(Duration::from_millis(17));
                connect(addr)
            })
            .collect::<Vec<_>>()
    });
    let clients = run_until_joined(&mut lp, client);
    run_until(&mut lp, |_| lives.borrow().len() == N);
    for life in lives.borrow().iter() {
        assert!(
            *life >= timeout,
            "closed after {life:?}, before {timeout:?}"
        );
    }
    drop(clients);
}
