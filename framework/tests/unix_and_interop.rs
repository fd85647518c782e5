//! Unix-socket transports, adopted sockets (the seed's socketpair example),
//! and interop with peers that do not use shardloop.

mod util;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::os::unix::net::UnixStream;

use shardloop::{Address, EventLoop, ExtraInfo};
use util::*;

fn temp_socket_path(name: &str) -> std::path::PathBuf {
    let dir = util::scratch_dir("unix");
    dir.join(name)
}

#[test]
fn l2_unix_server_and_connection_echo_with_t4_t7_t13() {
    let mut lp = EventLoop::new().unwrap();
    let path = temp_socket_path("echo.sock");
    let slog = new_log();
    let l = slog.clone();
    let server = lp
        .create_unix_server(
            move || {
                Probe::new(&l)
                    .keep_open()
                    .made(|t, log| {
                        assert!(t.can_write_eof(), "T7: Unix sockets half-close");
                        if let Some(ExtraInfo::Address(Address::Unix(Some(_)))) =
                            t.get_extra_info("sockname", None)
                        {
                            log.borrow_mut().push(Ev::Mark("sockname is the path"));
                        }
                    })
                    .data(|t, d, _| t.write(d).unwrap())
                    .eof(|t, _| {
                        t.write_eof().unwrap(); // answer the half-close with ours
                        t.close(); // half-open: closing is up to us (P5)
                    })
            },
            &path,
        )
        .unwrap();
    assert_eq!(server.sockets(), &[Address::Unix(Some(path.clone()))]);
    let clog = new_log();
    let c = clog.clone();
    let h = lp
        .create_unix_connection(
            move || {
                Probe::new(&c).made(|t, _| {
                    t.write(b"over unix").unwrap();
                    t.write_eof().unwrap();
                })
            },
            &path,
        )
        .unwrap();
    run_until_log(&mut lp, &clog, has_lost);
    assert_eq!(received(&clog.borrow()), b"over unix");
    assert!(clog.borrow().contains(&Ev::Eof));
    assert!(!lp.is_connected(h));
    run_until_log(&mut lp, &slog, has_lost);
    assert!(slog.borrow().contains(&Ev::Mark("sockname is the path")));
    server.close();
    server.wait_closed(&mut lp).unwrap();
    assert!(!path.exists(), "socket file removed on close");
}

#[test]
fn l2_unix_server_replaces_a_stale_socket_file() {
    let mut lp = EventLoop::new().unwrap();
    let path = temp_socket_path("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap()); // leaves the file
    assert!(path.exists());
    let server = lp
        .create_unix_server(|| Probe::new(&new_log()), &path)
        .unwrap();
    let client = std::thread::spawn({
        let path = path.clone();
        move || UnixStream::connect(path).map(|_| ())
    });
    run_until_joined(&mut lp, client).unwrap();
    server.close();
    server.wait_closed(&mut lp).unwrap();
}

/// The seed's "register an open socket" example: a socketpair, one end
/// handed to `create_connection`, the other written from a callback.
#[test]
fn l2_create_connection_from_a_connected_socketpair() {
    let mut lp = EventLoop::new().unwrap();
    let (rsock, mut wsock) = UnixStream::pair().unwrap();
    let log = new_log();
    let l = log.clone();
    let h = lp
        .create_connection_with_socket(
            move || {
                Probe::new(&l)
                    .data(|t, _, _| t.close())
                    .lost(|t, _| t.get_loop().stop())
            },
            rsock,
        )
        .unwrap();
    assert!(lp.is_connected(h));
    lp.call_soon(move |_| wsock.write_all(b"abc").unwrap());
    lp.run_forever().unwrap();
    assert_eq!(
        *log.borrow(),
        vec![Ev::Made, Ev::Data(b"abc".to_vec()), Ev::Lost(None)]
    );
}

#[test]
fn l2_create_connection_from_a_connected_tcp_socket() {
    let mut lp = EventLoop::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let sock = std::net::TcpStream::connect(addr).unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    let log = new_log();
    let l = log.clone();
    let h = lp
        .create_connection_with_socket(move || Probe::new(&l), sock)
        .unwrap();
    let peername = lp.with_transport(h, |t| t.peername()).unwrap();
    assert_eq!(peername, Some(Address::Inet(addr)));
    peer.write_all(b"from a plain socket").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    run_until_log(&mut lp, &log, has_lost);
    assert_eq!(received(&log.borrow()), b"from a plain socket");
}

/// shardloop client against a blocking `std::net` echo server on a thread.
#[test]
fn interop_client_against_a_std_net_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut buf = vec![0; 1 << 16];
        let mut total = 0;
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n;
            s.write_all(&buf[..n]).unwrap();
        }
        s.shutdown(Shutdown::Write).unwrap();
        total
    });
    let mut lp = EventLoop::new().unwrap();
    let data = pattern(3 << 20);
    let d2 = data.clone();
    let log = new_log();
    let l = log.clone();
    lp.create_connection(
        move || {
            Probe::new(&l).made(move |t, _| {
                t.set_write_buffer_limits(Some(1 << 30), None).unwrap();
                t.write(&d2).unwrap();
                t.write_eof().unwrap();
            })
        },
        addr,
    )
    .unwrap();
    run_until_log(&mut lp, &log, has_lost);
    assert!(received(&log.borrow()) == data);
    assert_eq!(log.borrow().last(), Some(&Ev::Lost(None)));
    assert_eq!(server.join().unwrap(), data.len());
}

/// The IPv6 loopback path, when the machine has it.
#[test]
fn interop_ipv6_loopback_echo() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; nothing to test");
        return;
    }
    let mut lp = EventLoop::new().unwrap();
    let server = lp
        .create_server(
            || Probe::new(&new_log()).data(|t, d, _| t.write(d).unwrap()),
            "[::1]:0",
        )
        .unwrap();
    let addr = inet(&server);
    assert!(addr.is_ipv6());
    let client = std::thread::spawn(move || {
        let mut s = connect(addr);
        s.write_all(b"v6").unwrap();
        let mut b = [0; 2];
        s.read_exact(&mut b).unwrap();
        b
    });
    assert_eq!(&run_until_joined(&mut lp, client), b"v6");
}
