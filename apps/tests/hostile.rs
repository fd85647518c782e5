//! Every listener against hostile clients, from outside: commands a million
//! arguments long, clients that trickle a command or a request body and
//! never finish it, a client that floods pipelined commands without
//! reading. Each costs what it sends, for as long as the configured
//! timeouts let it, and the server serves everyone else meanwhile.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

fn kv_config(shards: usize, kv: &str) -> String {
    format!(
        "[runtime]\nshards = {shards}\npin_cores = false\n[log]\nformat = \"json\"\n\
         [[listener]]\nname = \"kv\"\naddress = \"127.0.0.1:0\"\napp = \"kv\"\n[listener.kv]\n{kv}"
    )
}

/// One reply line (`+OK`, `:3`, `-ERR …`), the connection's first.
fn reply_line(s: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "closed after {line:?}");
        line.push(b[0]);
    }
    String::from_utf8_lossy(&line[..line.len() - 2]).into_owned()
}

fn ping(addr: SocketAddr) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(b"PING\r\n").unwrap();
    assert_eq!(reply_line(&mut s), "+PONG");
}

#[test]
fn mset_and_del_of_a_million_keys_over_three_shards_finish() {
    let (child, addr, _log) = serve(&kv_config(3, ""));
    let server = Reap(child);
    let keys: Vec<Vec<u8>> = (0..1_000_000)
        .map(|i| format!("key:{i}").into_bytes())
        .collect();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE * 3)).unwrap();
    let mut mset: Vec<&[u8]> = vec![b"MSET"];
    for k in &keys {
        mset.push(k);
        mset.push(b"v");
    }
    s.write_all(&multibulk(&mset)).unwrap();
    assert_eq!(reply_line(&mut s), "+OK");
    s.write_all(b"DBSIZE\r\n").unwrap();
    assert_eq!(reply_line(&mut s), ":1000000");
    // EXISTS on every key, then DEL of all of them: each one command.
    let mut exists: Vec<&[u8]> = vec![b"EXISTS"];
    exists.extend(keys.iter().map(Vec::as_slice));
    s.write_all(&multibulk(&exists)).unwrap();
    assert_eq!(reply_line(&mut s), ":1000000");
    let mut del: Vec<&[u8]> = vec![b"DEL"];
    del.extend(keys.iter().map(Vec::as_slice));
    s.write_all(&multibulk(&del)).unwrap();
    assert_eq!(reply_line(&mut s), ":1000000");
    s.write_all(b"DBSIZE\r\n").unwrap();
    assert_eq!(reply_line(&mut s), ":0");
    // An unknown command of a million arguments: Redis's error, whose
    // argument list stops at 128 bytes.
    let mut unknown: Vec<&[u8]> = vec![b"NOSUCH"];
    unknown.extend(keys.iter().map(Vec::as_slice));
    s.write_all(&multibulk(&unknown)).unwrap();
    let err = reply_line(&mut s);
    assert!(
        err.starts_with("-ERR unknown command 'NOSUCH', with args beginning with: 'key:0' "),
        "{err}"
    );
    assert!(err.len() < 200, "{err}");
    ping(addr);
    sigterm(&server.0);
}

#[test]
fn a_trickled_command_is_cut_at_command_timeout_while_others_are_served() {
    let (child, addr, _log) = serve(&kv_config(2, "command_timeout = \"1s\"\n"));
    let server = Reap(child);
    // A bulk string of 100 MB announced, then a byte now and then; and a
    // command begun and never finished.
    let mut trickler = TcpStream::connect(addr).unwrap();
    trickler
        .write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000000\r\nxyz")
        .unwrap();
    let mut stalled = TcpStream::connect(addr).unwrap();
    stalled
        .write_all(b"SET k v\r\n*2\r\n$3\r\nGET\r\n")
        .unwrap();
    stalled.set_read_timeout(Some(DEADLINE)).unwrap();
    assert_eq!(reply_line(&mut stalled), "+OK");
    trickler.set_nonblocking(true).unwrap();
    let start = Instant::now();
    let mut sent = 0;
    let cut = loop {
        assert!(
            start.elapsed() < DEADLINE,
            "still open after {sent} trickled bytes"
        );
        ping(addr);
        let mut b = [0u8; 64];
        match trickler.read(&mut b) {
            Ok(0) => break true,
            Ok(_) => panic!("a reply to half a command"),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => break true,
        }
        if trickler.write_all(b"x").is_err() {
            break true;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(cut);
    // The stalled one is gone too: EOF after its one reply.
    let mut rest = Vec::new();
    stalled.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    ping(addr);
    sigterm(&server.0);
}

#[test]
fn a_client_that_floods_without_reading_costs_what_is_in_flight_not_what_it_sent() {
    let (child, addr, _log) = serve(&kv_config(2, ""));
    let server = Reap(child);
    let pid = server.0.id();
    ping(addr);
    let before = rss_kib(pid);
    // 64 MiB of pipelined SETs over keys of both shards, written from a
    // thread while this one reads nothing; then every reply is read.
    let mut one = Vec::new();
    let mut count = 0u64;
    while one.len() < 1 << 20 {
        let k = format!("flood:{}", count % 1000);
        one.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n$16\r\nvvvvvvvvvvvvvvvv\r\n",
                k.len()
            )
            .as_bytes(),
        );
        count += 1;
    }
    let mut s = TcpStream::connect(addr).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        for _ in 0..64 {
            w.write_all(&one).unwrap();
        }
    });
    // Others are served while it floods.
    for _ in 0..20 {
        ping(addr);
        std::thread::sleep(Duration::from_millis(25));
    }
    let peak = rss_kib(pid);
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let want = count * 64 * 5; // "+OK\r\n" each
    let mut got = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    while got < want {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {got} of {want} reply bytes");
        assert!(
            buf[..n].iter().all(|b| b"+OK\r\n".contains(b)),
            "not all OK"
        );
        got += n as u64;
    }
    writer.join().unwrap();
    let growth = peak
        .saturating_sub(before)
        .max(rss_kib(pid).saturating_sub(before));
    // What is in flight is bounded (1,024 commands a connection, the
    // transport's write buffer); the keys themselves are a few hundred KiB.
    assert!(
        growth < 32 * 1024,
        "RSS grew {growth} KiB for a 64 MiB flood"
    );
    ping(addr);
    sigterm(&server.0);
}

#[test]
fn an_http_body_trickled_byte_by_byte_gets_408_at_body_timeout() {
    let (child, addr, _log) = serve(
        "[runtime]\nshards = 1\npin_cores = false\n[log]\nformat = \"json\"\n\
         [[listener]]\nname = \"http\"\naddress = \"127.0.0.1:0\"\napp = \"http\"\n\
         [listener.http]\nbody_timeout = \"1s\"\n",
    );
    let server = Reap(child);
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"POST /plaintext HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nab")
        .unwrap();
    s.set_nonblocking(true).unwrap();
    let start = Instant::now();
    let mut answer = Vec::new();
    loop {
        assert!(start.elapsed() < DEADLINE, "still open: {answer:?}");
        let mut b = [0u8; 512];
        match s.read(&mut b) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&b[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
        let _ = s.write(b"c");
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    sigterm(&server.0);
}

#[test]
fn an_http_client_pipelining_without_reading_is_paused_not_buffered() {
    let (child, addr, _log) = serve(
        "[runtime]\nshards = 1\npin_cores = false\n[log]\nformat = \"json\"\n\
         [[listener]]\nname = \"http\"\naddress = \"127.0.0.1:0\"\napp = \"http\"\n",
    );
    let server = Reap(child);
    let pid = server.0.id();
    let before = rss_kib(pid);
    let one: Vec<u8> = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1 << 14);
    let count = 64 * (1 << 20) / one.len() + 1;
    let mut s = TcpStream::connect(addr).unwrap();
    let mut w = s.try_clone().unwrap();
    // The writer stops where the server stops reading (flow control):
    // it is not expected to finish before this side reads.
    let writer = std::thread::spawn(move || {
        let mut sent = 0;
        for _ in 0..count {
            if w.write_all(&one).is_err() {
                break;
            }
            sent += 1;
        }
        sent
    });
    std::thread::sleep(Duration::from_millis(500));
    let peak = rss_kib(pid);
    // Read every response of what was sent, until the writer is done.
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut responses = 0u64;
    let mut tail = Vec::new();
    let want = (count * (1 << 14)) as u64;
    while responses < want {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {responses} responses");
        tail.extend_from_slice(&buf[..n]);
        responses += tail.windows(13).filter(|w| w == b"Hello, World!").count() as u64;
        let keep = tail.len().min(12);
        tail.drain(..tail.len() - keep);
    }
    assert_eq!(writer.join().unwrap(), count);
    let growth = peak.saturating_sub(before);
    assert!(
        growth < 32 * 1024,
        "RSS grew {growth} KiB under a 64 MiB pipelined flood"
    );
    sigterm(&server.0);
}

#[test]
fn subscribing_to_many_channels_and_many_subscribers_cost_linear_time() {
    // Both sides of a subscription are sets: a SUBSCRIBE of 200,000
    // channels and its UNSUBSCRIBE, and 1,000 subscribers of one channel
    // leaving, each take time linear in their size (lists made them
    // quadratic: minutes for these).
    let (child, addr, _log) = serve(&kv_config(2, ""));
    let _server = Reap(child);
    const N: usize = 200_000;
    let channels: Vec<Vec<u8>> = (0..N).map(|i| format!("ch:{i}").into_bytes()).collect();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut sub: Vec<&[u8]> = vec![b"SUBSCRIBE"];
    sub.extend(channels.iter().map(Vec::as_slice));
    s.write_all(&multibulk(&sub)).unwrap();
    let mut r = std::io::BufReader::new(s.try_clone().unwrap());
    // Each reply: *3, $9, subscribe, $n, name, :count — the count last.
    let mut last = String::new();
    for _ in 0..N {
        for _ in 0..6 {
            last.clear();
            std::io::BufRead::read_line(&mut r, &mut last).unwrap();
        }
    }
    assert_eq!(last.trim_end(), format!(":{N}"));
    s.write_all(b"UNSUBSCRIBE\r\n").unwrap();
    for _ in 0..N {
        for _ in 0..6 {
            last.clear();
            std::io::BufRead::read_line(&mut r, &mut last).unwrap();
        }
    }
    assert_eq!(last.trim_end(), ":0", "every channel left");
    // 1,000 subscribers of one channel, then all gone: PUBLISH reaches 0.
    let subscribers: Vec<TcpStream> = (0..1000)
        .map(|_| {
            let mut c = TcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(DEADLINE)).unwrap();
            c.write_all(b"SUBSCRIBE news\r\n").unwrap();
            let mut b = [0u8; 64];
            let mut got = 0;
            while got < b":1\r\n".len() || !b[..got].ends_with(b":1\r\n") {
                got += c.read(&mut b[got..]).unwrap();
            }
            c
        })
        .collect();
    s.write_all(b"PUBLISH news hello\r\n").unwrap();
    last.clear();
    std::io::BufRead::read_line(&mut r, &mut last).unwrap();
    assert_eq!(last.trim_end(), ":1000");
    drop(subscribers);
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        s.write_all(b"PUBLISH news hello\r\n").unwrap();
        last.clear();
        std::io::BufRead::read_line(&mut r, &mut last).unwrap();
        if last.trim_end() == ":0" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "subscribers stayed: {last}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// INFO's `field` (a number), read with a fresh request on `s`.
fn info_number(s: &mut TcpStream, field: &str) -> u64 {
    s.write_all(b"INFO clients\r\n").unwrap();
    let head = reply_line(s);
    let len: usize = head[1..].parse().unwrap();
    let mut body = vec![0u8; len + 2];
    s.read_exact(&mut body).unwrap();
    let body = String::from_utf8(body).unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {body}"))
        .parse()
        .unwrap()
}

/// Polls INFO until `field` is `want`, within the deadline.
fn wait_info(s: &mut TcpStream, field: &str, want: u64) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let got = info_number(s, field);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{field} stayed {got}, want {want}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn clients_that_block_or_watch_on_ever_new_keys_and_leave_leave_nothing_behind() {
    // A client looping "connect, BLPOP a key nobody writes, close" (or
    // "WATCH new keys, then UNWATCH, EXEC or close") must not grow the
    // shards' queues: 10,000 blocks and 20,000 watched keys over two
    // shards, then the queues are empty again.
    let (child, addr, _log) = serve(&kv_config(2, ""));
    let server = Reap(child);
    let mut ctl = TcpStream::connect(addr).unwrap();
    ctl.set_read_timeout(Some(DEADLINE)).unwrap();
    const ROUNDS: usize = 50;
    const PER: usize = 200;
    for round in 0..ROUNDS {
        let mut blocked = Vec::new();
        let mut watching = Vec::new();
        for i in 0..PER {
            let mut b = TcpStream::connect(addr).unwrap();
            b.set_read_timeout(Some(DEADLINE)).unwrap();
            b.write_all(format!("BLPOP q:{round}:{i} 0\r\n").as_bytes())
                .unwrap();
            blocked.push(b);
            let mut w = TcpStream::connect(addr).unwrap();
            w.set_read_timeout(Some(DEADLINE)).unwrap();
            w.write_all(format!("WATCH w:{round}:{i} x:{round}:{i}\r\n").as_bytes())
                .unwrap();
            assert_eq!(reply_line(&mut w), "+OK");
            watching.push(w);
        }
        wait_info(&mut ctl, "total_blocking_keys", PER as u64);
        wait_info(&mut ctl, "blocked_clients", PER as u64);
        assert_eq!(info_number(&mut ctl, "total_watched_keys"), 2 * PER as u64);
        // The watchers let go in each of the four ways.
        for (i, mut w) in watching.into_iter().enumerate() {
            let (ask, answer): (&[u8], &[&str]) = match i % 4 {
                0 => (b"UNWATCH\r\n", &["+OK"]),
                1 => (b"MULTI\r\nEXEC\r\n", &["+OK", "*0"]),
                2 => (b"MULTI\r\nDISCARD\r\n", &["+OK", "+OK"]),
                _ => continue, // closed
            };
            w.write_all(ask).unwrap();
            for a in answer {
                assert_eq!(reply_line(&mut w), *a);
            }
        }
        drop(blocked);
        wait_info(&mut ctl, "total_blocking_keys", 0);
        wait_info(&mut ctl, "total_watched_keys", 0);
        assert_eq!(info_number(&mut ctl, "blocked_clients"), 0);
    }
    ping(addr);
    sigterm(&server.0);
}

/// Commands whose cost a client chooses by its data: LCS of two strings
/// whose table would pass 512 MiB is refused with Redis's error (not
/// computed); a RESTORE payload claiming a huge element count, or an LZF
/// string inflating past 512 MiB, is "Bad data format" without allocating
/// what it claims; the connection and the server go on.
#[test]
fn lcs_past_its_table_cap_and_forged_restore_payloads_are_refused_cheaply() {
    let (child, addr, _log) = serve(&kv_config(2, ""));
    let _child = Reap(child);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let big_a = "a".repeat(12_000);
    let big_b = "b".repeat(12_000);
    for (k, v) in [("{t}a", &big_a), ("{t}b", &big_b)] {
        s.write_all(&multibulk(&["SET", k, v])).unwrap();
        assert_eq!(reply_line(&mut s), "+OK");
    }
    s.write_all(&multibulk(&["LCS", "{t}a", "{t}b"])).unwrap();
    assert_eq!(
        reply_line(&mut s),
        "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
    );
    // Payloads with a right footer (RDB 10, CRC-64) and forged bodies.
    fn payload(body: &[u8]) -> Vec<u8> {
        let mut p = body.to_vec();
        p.extend_from_slice(&10u16.to_le_bytes());
        let crc = shardloop_apps::kv::rdb::crc64(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        p
    }
    let forged: [&[u8]; 3] = [
        // A list of 2^62 elements, of which none follows.
        &[1, 0x81, 0x40, 0, 0, 0, 0, 0, 0, 0],
        // A string of 600 MiB, LZF-compressed into one byte.
        &[0, 0xc3, 0x01, 0x80, 0x25, 0x80, 0x00, 0x00, 0x00],
        // A quicklist of 2^32-1 nodes, of which none follows.
        &[18, 0x80, 0xff, 0xff, 0xff, 0xff],
    ];
    for body in forged {
        let cmd = multibulk(&["RESTORE".as_bytes(), b"{t}x", b"0", &payload(body)]);
        s.write_all(&cmd).unwrap();
        assert_eq!(reply_line(&mut s), "-ERR Bad data format", "{body:?}");
    }
    ping(addr);
}
