//! `Transport::sendfile` (asyncio's `loop.sendfile`, beyond the seed):
//! file bytes in their place in the write order, flow control over them,
//! a slow reader, a file shorter than asked, and the TLS fallback — over
//! real sockets.

mod util;

use std::io::{Read, Write};
use std::path::PathBuf;

use shardloop::{EventLoop, TlsClientConfig, TlsServerConfig, Transport};
use util::*;

/// A file of `n` pattern bytes in the test's own directory.
fn pattern_file(tag: &str, n: usize) -> (PathBuf, Vec<u8>) {
    let dir = util::scratch_dir("sendfile");
    let path = dir.join(tag);
    let data: Vec<u8> = (0..n).map(|i| (i * 13 % 253) as u8).collect();
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&data)
        .unwrap();
    (path, data)
}

fn open(path: &PathBuf) -> std::fs::File {
    std::fs::File::open(path).unwrap()
}

#[test]
fn t16_sendfile_bytes_leave_after_what_was_written_before_and_before_what_is_written_after() {
    let (path, file_data) = pattern_file("order", 3 << 20);
    let mut lp = EventLoop::new().unwrap();
    let p = path.clone();
    let (log, server) = serve(&mut lp, move |log| {
        let p = p.clone();
        Probe::new(log).made(move |t: &mut Transport, _| {
            // Enough before it that the file range has to wait in the
            // queue behind bytes, and bytes behind the range.
            t.write(&vec![b'A'; 2 << 20]).unwrap();
            assert_eq!(
                t.sendfile(open(&p), 1000, Some((2 << 20) + 7)).unwrap(),
                (2 << 20) + 7
            );
            t.write(&vec![b'B'; 1 << 20]).unwrap();
            assert_eq!(t.sendfile(open(&p), 0, None).unwrap(), 3 << 20);
            t.write(b"end").unwrap();
            t.close();
        })
    });
    let addr = inet(&server);
    let peer = std::thread::spawn(move || {
        let mut s = connect_small(addr);
        // Let the server's queue build up before reading anything.
        std::thread::sleep(std::time::Duration::from_millis(100));
        read_slowly(&mut s, 1 << 20)
    });
    let got = run_until_joined(&mut lp, peer).unwrap();
    run_until_log(&mut lp, &log, has_lost);
    let mut want = vec![b'A'; 2 << 20];
    want.extend_from_slice(&file_data[1000..1000 + (2 << 20) + 7]);
    want.extend_from_slice(&vec![b'B'; 1 << 20]);
    want.extend_from_slice(&file_data);
    want.extend_from_slice(b"end");
    assert_eq!(got.len(), want.len());
    assert!(got == want, "bytes out of order");
    assert_eq!(log.borrow().last(), Some(&Ev::Lost(None)));
    let _ = std::fs::remove_file(path);
}

#[test]
fn t16_a_queued_file_counts_for_flow_control_and_a_slow_reader_gets_it_all() {
    let (path, file_data) = pattern_file("slow", 8 << 20);
    let mut lp = EventLoop::new().unwrap();
    let p = path.clone();
    let (log, server) = serve(&mut lp, move |log| {
        let p = p.clone();
        Probe::new(log)
            .made(move |t: &mut Transport, _| {
                t.set_write_buffer_limits(Some(256 * 1024), None).unwrap();
                t.sendfile(open(&p), 0, None).unwrap();
            })
            .resume(|t, _| t.close())
    });
    let addr = inet(&server);
    let peer = std::thread::spawn(move || {
        let mut s = connect_small(addr);
        read_slowly(&mut s, 256 * 1024)
    });
    let got = run_until_joined(&mut lp, peer).unwrap();
    run_until_log(&mut lp, &log, has_lost);
    assert!(
        got == file_data,
        "{} of {} bytes",
        got.len(),
        file_data.len()
    );
    let evs = log.borrow();
    let pause = evs.iter().position(|e| matches!(e, Ev::Pause(_)));
    let resume = evs.iter().position(|e| matches!(e, Ev::Resume(_)));
    assert!(
        matches!((pause, resume), (Some(p), Some(r)) if p < r),
        "pause_writing then resume_writing: {:?}",
        evs.iter()
            .filter(|e| !matches!(e, Ev::Data(_)))
            .collect::<Vec<_>>()
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn t16_a_file_shorter_than_the_count_fails_the_connection_with_unexpected_eof() {
    let (path, file_data) = pattern_file("short", 100_000);
    let mut lp = EventLoop::new().unwrap();
    let p = path.clone();
    let (log, server) = serve(&mut lp, move |log| {
        let p = p.clone();
        Probe::new(log).made(move |t: &mut Transport, _| {
            t.sendfile(open(&p), 0, Some(150_000)).unwrap();
        })
    });
    let addr = inet(&server);
    let peer = std::thread::spawn(move || {
        let mut s = connect(addr);
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got); // EOF or reset: the connection ends
        got
    });
    let got = run_until_joined(&mut lp, peer);
    run_until_log(&mut lp, &log, has_lost);
    assert!(got.len() <= file_data.len());
    assert!(file_data.starts_with(&got));
    assert_eq!(
        log.borrow().last(),
        Some(&Ev::Lost(Some(std::io::ErrorKind::UnexpectedEof)))
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn t16_over_tls_sendfile_reads_and_writes_the_range_encrypted() {
    let (path, file_data) = pattern_file("tls", 1 << 20);
    let pki = util::pki::Pki::new();
    let server_tls = TlsServerConfig::builder()
        .cert(&pki.server_cert, &pki.server_key)
        .build()
        .unwrap();
    let client_tls = TlsClientConfig::builder().ca_file(&pki.ca).build().unwrap();
    let mut lp = EventLoop::new().unwrap();
    let p = path.clone();
    let server = lp
        .create_tls_server(
            move || {
                let p = p.clone();
                Probe::new(&new_log()).made(move |t: &mut Transport, _| {
                    t.write(b"head:").unwrap();
                    t.sendfile(open(&p), 10, Some(500_000)).unwrap();
                    t.write(b":tail").unwrap();
                    t.close();
                })
            },
            "127.0.0.1:0",
            server_tls,
        )
        .unwrap();
    let addr = inet(&server);
    let log = new_log();
    let l = log.clone();
    lp.create_tls_connection(move || Probe::new(&l), addr, &client_tls, "localhost")
        .unwrap();
    run_until_log(&mut lp, &log, has_lost);
    let got = received(&log.borrow());
    let mut want = b"head:".to_vec();
    want.extend_from_slice(&file_data[10..500_010]);
    want.extend_from_slice(b":tail");
    assert!(got == want, "{} bytes, {} wanted", got.len(), want.len());
    let _ = std::fs::remove_file(path);
}

#[test]
fn t16_write_then_sendfile_keeps_the_head_before_the_file_queued_or_not() {
    let (path, file_data) = pattern_file("head", 200_000);
    let mut lp = EventLoop::new().unwrap();
    let p = path.clone();
    let (log, server) = serve(&mut lp, move |log| {
        let p = p.clone();
        Probe::new(log).made(move |t: &mut Transport, _| {
            // Nothing queued: the head goes with MSG_MORE.
            t.write_then_sendfile(b"HEAD1", open(&p), 0, Some(100_000))
                .unwrap();
            // Now the queue is likely non-empty: the head waits in order.
            t.write_then_sendfile(b"HEAD2", open(&p), 100_000, None)
                .unwrap();
            t.close();
        })
    });
    let addr = inet(&server);
    let peer = std::thread::spawn(move || read_to_end(&mut connect(addr)).unwrap());
    let got = run_until_joined(&mut lp, peer);
    run_until_log(&mut lp, &log, has_lost);
    let mut want = b"HEAD1".to_vec();
    want.extend_from_slice(&file_data[..100_000]);
    want.extend_from_slice(b"HEAD2");
    want.extend_from_slice(&file_data[100_000..]);
    assert!(got == want, "{} bytes, {} wanted", got.len(), want.len());
    let _ = std::fs::remove_file(path);
}
