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
