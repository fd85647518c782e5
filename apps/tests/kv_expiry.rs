//! kv's expiry in virtual time: a loop on a manual clock serves kv, the
//! client moves the clock, and TTLs, lazy expiry, EXPIREAT's wall time and
//! the active sweep follow it to the millisecond — no sleeping, no timing
//! assertion.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use common::{multibulk, DEADLINE};
use shardloop::{Clock, EventLoop, LoopConfig};
use shardloop_apps::kv::{KvConn, KvOptions};

/// Sends one command, returns its whole reply (one read per reply line
/// suffices for these short replies; reads until the reply is complete).
fn call(s: &mut TcpStream, args: &[&str]) -> String {
    s.write_all(&multibulk(args)).unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "kv closed the connection");
        reply.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&reply);
        let complete = match reply.first() {
            Some(b'$') if !text.starts_with("$-1") => text.matches("\r\n").count() >= 2,
            Some(_) => text.ends_with("\r\n"),
            None => false,
        };
        if complete {
            return text.into_owned();
        }
    }
}

#[test]
fn ttls_lazy_expiry_expireat_and_the_sweep_follow_the_loops_clock() {
    let clock = Clock::manual();
    let mut config = LoopConfig::default();
    config.clock = clock.clone();
    let mut lp = EventLoop::with_config(config).unwrap();
    let options = Arc::new(KvOptions::default());
    let server = lp
        .create_server(move || KvConn::new(Arc::clone(&options)), "127.0.0.1:0")
        .unwrap();
    let addr = match server.sockets()[0] {
        shardloop::Address::Inet(a) => a,
        ref other => panic!("{other:?}"),
    };
    let c = clock.clone();
    let client = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        // TTLs count down with the clock, exactly.
        assert_eq!(call(&mut s, &["SET", "k", "v", "PX", "5000"]), "+OK\r\n");
        assert_eq!(call(&mut s, &["PTTL", "k"]), ":5000\r\n");
        c.advance(Duration::from_millis(1500));
        assert_eq!(call(&mut s, &["PTTL", "k"]), ":3500\r\n");
        assert_eq!(call(&mut s, &["TTL", "k"]), ":4\r\n");
        // One millisecond short of the expiry the key is there; at it, gone.
        c.advance(Duration::from_millis(3499));
        assert_eq!(call(&mut s, &["GET", "k"]), "$1\r\nv\r\n");
        c.advance(Duration::from_millis(1));
        assert_eq!(call(&mut s, &["GET", "k"]), "$-1\r\n");
        // EXPIREAT speaks the clock's wall time.
        let at = c.unix_ms() + 10_000;
        assert_eq!(call(&mut s, &["SET", "w", "v"]), "+OK\r\n");
        assert_eq!(call(&mut s, &["PEXPIREAT", "w", &at.to_string()]), ":1\r\n");
        assert_eq!(call(&mut s, &["PTTL", "w"]), ":10000\r\n");
        // Keys nobody reads again are reclaimed by the active sweep (every
        // 100 ms of the loop's clock): DBSIZE counts them until then.
        for i in 0..200 {
            let key = format!("s{i}");
            assert_eq!(call(&mut s, &["SET", &key, "v", "PX", "100"]), "+OK\r\n");
        }
        assert_eq!(call(&mut s, &["DBSIZE"]), ":201\r\n");
        let mut steps = 0;
        while call(&mut s, &["DBSIZE"]) != ":1\r\n" {
            steps += 1;
            assert!(steps < 1000, "the sweep did not reclaim the keys");
            c.advance(Duration::from_millis(100));
        }
        // The key with 10 s left is still there until its time.
        assert_eq!(call(&mut s, &["EXISTS", "w"]), ":1\r\n");
        c.advance(Duration::from_secs(10));
        assert_eq!(call(&mut s, &["EXISTS", "w"]), ":0\r\n");
        steps
    });
    lp.run_until(|_| client.is_finished()).unwrap();
    let steps = client.join().unwrap();
    eprintln!("the sweep reclaimed 200 expired keys in {steps} steps of 100 ms");
}
