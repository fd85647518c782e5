//! Streams (S-rules of the contract): `open_connection`, `start_server`,
//! `StreamReader` and `StreamWriter` over real loopback sockets, against
//! plain blocking peers.

mod servers;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shardloop::streams::{
    open_connection, open_tls_connection, open_unix_connection, ReadError, StreamReader,
    StreamReaderProtocol, StreamWriter,
};
use shardloop::{Distribution, EventLoop, LoopHandle, Runtime, RuntimeConfig};

#[path = "../util/mod.rs"]
mod util;

const DEADLINE: Duration = Duration::from_secs(20);

fn peer(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s
}

/// Waits on the loop's timers until `cond` holds (bounded).
async fn until(lp: &LoopHandle, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        lp.sleep(Duration::from_millis(2)).await;
    }
}

/// A listener whose one accepted connection is handed to `serve` on a
/// thread; returns its address.
fn blocking_peer(serve: impl FnOnce(TcpStream) + Send + 'static) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        serve(s)
    });
    addr
}

#[test]
fn s1_reads_come_out_in_order_each_byte_once_across_read_readline_readexactly_readuntil() {
    let addr = blocking_peer(|mut s| {
        // Pieces that split every read's boundary.
        for piece in [
            &b"he"[..],
            b"llo\nwor",
            b"ld\n12345",
            b"6789ab",
            b"c--E",
            b"ND--tail",
        ] {
            s.write_all(piece).unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let mut lp = EventLoop::new().unwrap();
    let out = lp
        .run_until_complete(async move {
            let (mut r, mut w) = open_connection(addr).await.unwrap();
            let a = r.readline().await.unwrap();
            let b = r.readline().await.unwrap();
            let c = r.readexactly(5).await.unwrap();
            let d = r.readuntil(b"--END--").await.unwrap();
            let e = r.read_to_end().await.unwrap();
            assert!(r.at_eof());
            w.close();
            w.wait_closed().await;
            (a, b, c, d, e)
        })
        .unwrap();
    assert_eq!(out.0, b"hello\n");
    assert_eq!(out.1, b"world\n");
    assert_eq!(out.2, b"12345");
    assert_eq!(out.3, b"6789abc--END--");
    assert_eq!(out.4, b"tail");
}

#[test]
fn s2_after_eof_the_buffered_bytes_are_read_then_read_returns_empty_and_at_eof_holds() {
    let addr = blocking_peer(|mut s| {
        s.write_all(b"last words").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"ack");
    });
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle().clone();
    lp.run_until_complete(async move {
        let (mut r, mut w) = open_connection(addr).await.unwrap();
        // Let the EOF arrive behind the data before reading anything.
        h.sleep(Duration::from_millis(50)).await;
        assert!(!r.at_eof(), "data is still buffered");
        assert_eq!(r.read(4).await.unwrap(), b"last");
        assert_eq!(r.read(100).await.unwrap(), b" words");
        assert!(r.at_eof());
        assert_eq!(r.read(100).await.unwrap(), b"");
        assert_eq!(r.read(100).await.unwrap(), b"");
        // Half-closed by the peer: we can still answer.
        w.write(b"ack").unwrap();
        w.drain().await.unwrap();
        w.close();
        w.wait_closed().await;
    })
    .unwrap();
}

#[test]
fn s3_readexactly_at_eof_fails_carrying_the_partial_data_and_readuntil_past_the_limit_overruns() {
    let addr = blocking_peer(|mut s| {
        s.write_all(b"12345").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let _ = s.read_to_end(&mut Vec::new());
    });
    let mut lp = EventLoop::new().unwrap();
    lp.run_until_complete(async move {
        let (mut r, _w) = open_connection(addr).await.unwrap();
        match r.readexactly(8).await {
            Err(ReadError::IncompleteRead { partial, expected }) => {
                assert_eq!(partial, b"12345");
                assert_eq!(expected, Some(8));
            }
            other => panic!("{other:?}"),
        }
        assert!(r.at_eof());
    })
    .unwrap();

    // A line longer than the limit: LimitOverrun, the line dropped, the
    // next one read normally.
    let long = vec![b'x'; 3000];
    let mut msg = long.clone();
    msg.extend_from_slice(b"\nshort\n");
    let addr = blocking_peer(move |mut s| {
        s.write_all(&msg).unwrap();
        let _ = s.read_to_end(&mut Vec::new());
    });
    lp.run_until_complete(async move {
        let (mut r, _w) = shardloop::streams::open_connection_with_limit(addr, 1024)
            .await
            .unwrap();
        match r.readline().await {
            Err(ReadError::LimitOverrun { consumed }) => assert!(consumed > 1024),
            other => panic!("{other:?}"),
        }
        // readuntil on what is left: the rest of the long line is gone.
        let mut next = r.readline().await.unwrap();
        while next != b"short\n" {
            // The overrun may have seen only part of the long line.
            assert!(next.iter().all(|b| *b == b'x' || *b == b'\n'), "{next:?}");
            next = r.readline().await.unwrap();
        }
    })
    .unwrap();
}

#[test]
fn s4_the_reader_pauses_reading_above_twice_its_limit_and_resumes_when_read_down() {
    const LIMIT: usize = 16 * 1024;
    const TOTAL: usize = 64 << 20; // far more than the kernel's buffers hold
    let sent = Arc::new(AtomicUsize::new(0));
    let s2 = Arc::clone(&sent);
    let addr = blocking_peer(move |mut s| {
        let chunk: Vec<u8> = (0..65536).map(|i| (i % 251) as u8).collect();
        let mut n = 0;
        while n < TOTAL {
            s.write_all(&chunk).unwrap();
            n += chunk.len();
            s2.store(n, Ordering::Release);
        }
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let _ = s.read_to_end(&mut Vec::new());
    });
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle().clone();
    let (peak, got) = lp
        .run_until_complete(async move {
            let (mut r, _w) = shardloop::streams::open_connection_with_limit(addr, LIMIT)
                .await
                .unwrap();
            // Not reading: the buffer must stop growing (reading paused)
            // while the peer is still blocked with most of its data unsent.
            let mut last = usize::MAX;
            let mut stable = 0;
            let start = Instant::now();
            while stable < 20 {
                assert!(start.elapsed() < DEADLINE, "the buffer never settled");
                h.sleep(Duration::from_millis(5)).await;
                let now = r.buffered();
                stable = if now == last { stable + 1 } else { 0 };
                last = now;
            }
            let peak = r.buffered();
            assert!(
                sent.load(Ordering::Acquire) < TOTAL,
                "the peer could send everything: nothing was paused"
            );
            // Reading resumes the transport: everything arrives, in order.
            let mut got = 0usize;
            let mut buf = vec![0; 8192];
            loop {
                let n = r.read_into(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                for (i, b) in buf[..n].iter().enumerate() {
                    assert_eq!(*b, ((got + i) % 65536 % 251) as u8, "byte {}", got + i);
                }
                got += n;
            }
            (peak, got)
        })
        .unwrap();
    // Paused once above 2 × limit: at most one read's worth beyond it.
    assert!(peak > 2 * LIMIT, "{peak}");
    assert!(peak <= 2 * LIMIT + 256 * 1024, "{peak}");
    assert_eq!(got, TOTAL);
}

#[test]
fn s5_drain_waits_while_the_peer_does_not_read_and_returns_once_it_reads() {
    const CHUNK: usize = 64 * 1024;
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let addr = blocking_peer(move |mut s| {
        // Read nothing until told, then everything.
        go_rx.recv().unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        assert_eq!(all.len() % CHUNK, 0);
        assert!(all.iter().all(|b| *b == 7));
    });
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle().clone();
    let written = Rc::new(Cell::new(0usize));
    let max_queued = Rc::new(Cell::new(0usize));
    let (w2, m2) = (Rc::clone(&written), Rc::clone(&max_queued));
    let task = lp.spawn_local(async move {
        let (_r, mut w) = open_connection(addr).await.unwrap();
        w.set_write_buffer_limits(Some(256 * 1024), None).unwrap();
        let chunk = vec![7u8; CHUNK];
        for _ in 0..400 {
            w.write(&chunk).unwrap();
            m2.set(m2.get().max(w.get_write_buffer_size()));
            w.drain().await.unwrap();
            w2.set(w2.get() + 1);
        }
        w.close();
        w.wait_closed().await;
    });
    let (w3, h2) = (Rc::clone(&written), h.clone());
    lp.run_until_complete(async move {
        // The writer stalls in drain: the count stops moving.
        let mut last = usize::MAX;
        let mut stable = 0;
        while stable < 20 {
            h2.sleep(Duration::from_millis(5)).await;
            stable = if w3.get() == last { stable + 1 } else { 0 };
            last = w3.get();
        }
        assert!(last < 400, "drain never waited");
        go_tx.send(()).unwrap();
        task.await.unwrap();
    })
    .unwrap();
    assert_eq!(written.get(), 400);
    // Never more queued than the high-water mark plus the chunk that
    // crossed it.
    assert!(
        max_queued.get() <= 256 * 1024 + CHUNK,
        "{}",
        max_queued.get()
    );
}

#[test]
fn s6_drain_fails_once_the_connection_is_lost() {
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let addr = blocking_peer(move |s| {
        go_rx.recv().unwrap();
        // Unread data in our receive queue: closing sends a reset.
        drop(s);
    });
    let mut lp = EventLoop::new().unwrap();
    let result = lp
        .run_until_complete(async move {
            let (_r, mut w) = open_connection(addr).await.unwrap();
            w.set_write_buffer_limits(Some(64 * 1024), None).unwrap();
            let chunk = vec![1u8; 64 * 1024];
            let mut told = false;
            loop {
                // Once the reset is seen the write fails too; drain says why.
                let _ = w.write(&chunk);
                if !told {
                    go_tx.send(()).unwrap();
                    told = true;
                }
                w.drain().await?;
            }
            #[allow(unreachable_code)]
            Ok::<(), std::io::Error>(())
        })
        .unwrap();
    let e = result.unwrap_err();
    assert!(
        matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        ),
        "{e:?}"
    );
}

#[test]
fn s7_cancelling_a_task_blocked_in_read_closes_its_connection() {
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let addr = blocking_peer(move |mut s| {
        let mut got = Vec::new();
        // EOF (not a reset, not a timeout) once the task is cancelled.
        s.read_to_end(&mut got).unwrap();
        tx.send(got).unwrap();
    });
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle().clone();
    let reading = Rc::new(Cell::new(false));
    let r2 = Rc::clone(&reading);
    let task = lp.spawn_local(async move {
        let (mut r, mut w) = open_connection(addr).await.unwrap();
        w.write(b"hi").unwrap();
        r2.set(true);
        let _ = r.read(10).await; // never returns: the peer sends nothing
        unreachable!("the peer sent nothing");
    });
    lp.run_until_complete(async move {
        until(&h, "the task to block in read", || reading.get()).await;
        h.sleep(Duration::from_millis(20)).await;
        task.cancel();
    })
    .unwrap();
    let got = loop {
        lp.run_until_complete(async {}).unwrap();
        if let Ok(got) = rx.recv_timeout(Duration::from_millis(10)) {
            break got;
        }
    };
    assert_eq!(got, b"hi");
}

#[test]
fn s8_a_panicking_stream_task_costs_its_connection_only() {
    let mut lp = EventLoop::new().unwrap();
    let server = lp
        .start_server(
            |mut r: StreamReader, mut w: StreamWriter| async move {
                loop {
                    let line = r.readline().await.unwrap();
                    if line.is_empty() {
                        break;
                    }
                    assert!(line != b"panic\n", "asked to panic");
                    w.write(&line).unwrap();
                    w.drain().await.unwrap();
                }
            },
            "127.0.0.1:0",
        )
        .unwrap();
    let addr = match server.sockets()[0] {
        shardloop::Address::Inet(a) => a,
        ref other => panic!("{other:?}"),
    };
    let client = std::thread::spawn(move || {
        let mut good = peer(addr);
        let mut bad = peer(addr);
        good.write_all(b"one\n").unwrap();
        let mut b = [0; 4];
        good.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"one\n");
        bad.write_all(b"panic\n").unwrap();
        let mut rest = Vec::new();
        let _ = bad.read_to_end(&mut rest); // closed: EOF or reset
        assert!(rest.is_empty());
        good.write_all(b"two\n").unwrap();
        good.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"two\n");
    });
    let h = lp.handle().clone();
    lp.run_until_complete(async move {
        until(&h, "the client", || client.is_finished()).await;
        client.join().unwrap();
    })
    .unwrap();
    server.close();
}
