//! Datagram transports and protocols over real loopback UDP (T3, T4, T6,
//! T14, P2, P7).

mod util;

use std::cell::RefCell;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::rc::Rc;

use shardloop::{
    DatagramOptions, DatagramProtocol, DatagramTransport, EventLoop, ExtraInfo, TransportError,
};
use util::run_until;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Dv {
    Made,
    Got(Vec<u8>, SocketAddr),
    Error(ErrorKind),
    Lost(Option<ErrorKind>),
}

type DLog = Rc<RefCell<Vec<Dv>>>;

/// Records every callback; echoes datagrams back when `echo` is set.
struct Udp {
    log: DLog,
    echo: bool,
}

impl DatagramProtocol for Udp {
    fn connection_made(&mut self, _t: &mut DatagramTransport) {
        self.log.borrow_mut().push(Dv::Made);
    }
    fn datagram_received(&mut self, t: &mut DatagramTransport, data: &[u8], addr: SocketAddr) {
        self.log.borrow_mut().push(Dv::Got(data.to_vec(), addr));
        if self.echo {
            t.sendto(data, Some(addr)).unwrap();
        }
    }
    fn error_received(&mut self, _t: &mut DatagramTransport, error: std::io::Error) {
        self.log.borrow_mut().push(Dv::Error(error.kind()));
    }
    fn connection_lost(&mut self, _t: &mut DatagramTransport, error: Option<std::io::Error>) {
        self.log
            .borrow_mut()
            .push(Dv::Lost(error.map(|e| e.kind())));
    }
}

fn endpoint(
    lp: &mut EventLoop,
    local: Option<&str>,
    remote: Option<SocketAddr>,
    echo: bool,
) -> (shardloop::ConnectionHandle, DLog) {
    let log: DLog = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let h = lp
        .create_datagram_endpoint(
            move || Udp { log: l, echo },
            local.map(|a| a.parse().unwrap()),
            remote,
            DatagramOptions::default(),
        )
        .unwrap();
    (h, log)
}

fn addr_of(lp: &mut EventLoop, h: shardloop::ConnectionHandle) -> SocketAddr {
    lp.with_datagram(h, |_: &mut Udp, t| t.sockname())
        .flatten()
        .unwrap()
}

fn got(log: &DLog) -> Vec<Vec<u8>> {
    log.borrow()
        .iter()
        .filter_map(|e| {
            if let Dv::Got(d, _) = e {
                Some(d.clone())
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn t14_sendto_none_goes_to_the_remote_and_other_addresses_are_rejected() {
    let mut lp = EventLoop::new().unwrap();
    let (server, _) = endpoint(&mut lp, Some("127.0.0.1:0"), None, true);
    let saddr = addr_of(&mut lp, server);
    let (client, clog) = endpoint(&mut lp, None, Some(saddr), false);
    let other: SocketAddr = "127.0.0.1:9".parse().unwrap();
    lp.with_datagram(client, |_: &mut Udp, t| {
        assert_eq!(
            t.get_extra_info("peername", None),
            Some(ExtraInfo::Address(saddr.into()))
        );
        t.sendto(b"hello", None).unwrap();
        t.sendto(b"again", Some(saddr)).unwrap(); // the remote itself is fine
        assert_eq!(
            t.sendto(b"x", Some(other)),
            Err(TransportError::WrongAddress {
                given: other,
                remote: saddr
            })
        );
    })
    .unwrap();
    run_until(&mut lp, |_| got(&clog).len() == 2);
    assert_eq!(got(&clog), vec![b"hello".to_vec(), b"again".to_vec()]);
    // Unconnected: an address is required.
    let err = lp
        .with_datagram(server, |_: &mut Udp, t| t.sendto(b"x", None))
        .unwrap();
    assert_eq!(err, Err(TransportError::NoAddress));
    // T4: peername is present on an unconnected endpoint, with no value
    // (asyncio's None), so the caller's default does not come back.
    assert_eq!(
        lp.with_datagram(server, |_: &mut Udp, t| t
            .get_extra_info("peername", Some(shardloop::ExtraInfo::Socket(-1)))),
        Some(Some(shardloop::ExtraInfo::NoPeer))
    );
}

#[test]
fn t4_sockname_still_answers_after_abort() {
    let mut lp = EventLoop::new().unwrap();
    let (server, _) = endpoint(&mut lp, Some("127.0.0.1:0"), None, true);
    let bound = addr_of(&mut lp, server);
    let after = lp
        .with_datagram(server, |_: &mut Udp, t| {
            t.abort();
            t.sockname()
        })
        .unwrap();
    assert_eq!(after, Some(bound));
}

#[test]
fn t14_a_65507_byte_datagram_round_trips_whole() {
    let mut lp = EventLoop::new().unwrap();
    let (server, _) = endpoint(&mut lp, Some("127.0.0.1:0"), None, true);
    let saddr = addr_of(&mut lp, server);
    let (client, clog) = endpoint(&mut lp, None, Some(saddr), false);
    let big = util::pattern(65_507);
    let b2 = big.clone();
    lp.with_datagram(client, move |_: &mut Udp, t| t.sendto(&b2, None).unwrap());
    run_until(&mut lp, |_| !got(&clog).is_empty());
    assert!(got(&clog)[0] == big, "whole, never truncated");
    // Empty datagrams exist in UDP and are delivered too.
    lp.with_datagram(client, |_: &mut Udp, t| t.sendto(b"", None).unwrap());
    run_until(&mut lp, |_| got(&clog).len() == 2);
    assert!(got(&clog)[1].is_empty());
}

#[test]
fn ipv6_endpoints_exchange_datagrams() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; nothing to test");
        return;
    }
    let mut lp = EventLoop::new().unwrap();
    let (server, _) = endpoint(&mut lp, Some("[::1]:0"), None, true);
    let saddr = addr_of(&mut lp, server);
    assert!(saddr.is_ipv6());
    let (client, clog) = endpoint(&mut lp, None, Some(saddr), false);
    lp.with_datagram(client, |_: &mut Udp, t| t.sendto(b"v6", None).unwrap());
    run_until(&mut lp, |_| !got(&clog).is_empty());
    assert_eq!(got(&clog), vec![b"v6".to_vec()]);
}

#[test]
fn p7_error_received_after_sending_to_a_closed_port_and_the_endpoint_stays_usable() {
    let mut lp = EventLoop::new().unwrap();
    // A TCP listener holds the port number; no UDP socket is bound to it,
    // so a datagram there gets ICMP port unreachable.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = holder.local_addr().unwrap();
    let (client, clog) = endpoint(&mut lp, None, Some(closed), false);
    lp.with_datagram(client, |_: &mut Udp, t| t.sendto(b"anyone?", None).unwrap());
    run_until(&mut lp, |_| {
        clog.borrow()
            .contains(&Dv::Error(ErrorKind::ConnectionRefused))
    });
    // Still usable: not closing, and it can send (and be refused) again.
    let closing = lp
        .with_datagram(client, |_: &mut Udp, t| {
            t.sendto(b"still here", None).unwrap();
            t.is_closing()
        })
        .unwrap();
    assert!(!closing);
    run_until(&mut lp, |_| {
        clog.borrow()
            .iter()
            .filter(|e| matches!(e, Dv::Error(_)))
            .count()
            >= 2
    });
    assert!(lp.is_connected(client));
    assert!(!clog.borrow().iter().any(|e| matches!(e, Dv::Lost(_))));
}

#[test]
fn t3_t6_close_and_abort_call_connection_lost_once_on_a_later_iteration() {
    let mut lp = EventLoop::new().unwrap();
    let (a, alog) = endpoint(&mut lp, Some("127.0.0.1:0"), None, false);
    let (b, blog) = endpoint(&mut lp, Some("127.0.0.1:0"), None, false);
    lp.with_datagram(a, |_: &mut Udp, t| {
        t.close();
        t.close();
        assert!(t.is_closing());
        assert_eq!(
            t.sendto(b"x", Some("127.0.0.1:9".parse().unwrap())),
            Err(TransportError::Closed)
        );
    });
    lp.with_datagram(b, |_: &mut Udp, t| {
        t.abort();
        t.abort();
        assert_eq!(
            t.get_extra_info("socket", None),
            None,
            "socket closed at once"
        );
    });
    assert!(
        !alog.borrow().iter().any(|e| matches!(e, Dv::Lost(_))),
        "not inside close()"
    );
    assert!(
        !blog.borrow().iter().any(|e| matches!(e, Dv::Lost(_))),
        "not inside abort()"
    );
    run_until(&mut lp, |lp| !lp.is_connected(a) && !lp.is_connected(b));
    assert_eq!(*alog.borrow(), vec![Dv::Made, Dv::Lost(None)]);
    assert_eq!(*blog.borrow(), vec![Dv::Made, Dv::Lost(None)]);
}

/// A protocol that panics on a datagram loses its own endpoint only.
struct Fragile;
impl DatagramProtocol for Fragile {
    fn datagram_received(&mut self, _t: &mut DatagramTransport, _d: &[u8], _a: SocketAddr) {
        panic!("datagram bug");
    }
}

#[test]
fn a_panic_in_a_datagram_callback_aborts_only_that_endpoint() {
    let mut lp = EventLoop::new().unwrap();
    let fragile = lp
        .create_datagram_endpoint(
            || Fragile,
            Some("127.0.0.1:0".parse().unwrap()),
            None,
            DatagramOptions::default(),
        )
        .unwrap();
    let faddr = lp
        .with_datagram(fragile, |_: &mut Fragile, t| t.sockname())
        .flatten()
        .unwrap();
    let (server, _) = endpoint(&mut lp, Some("127.0.0.1:0"), None, true);
    let saddr = addr_of(&mut lp, server);
    let (client, clog) = endpoint(&mut lp, Some("127.0.0.1:0"), None, false);
    lp.with_datagram(client, |_: &mut Udp, t| {
        t.sendto(b"boom", Some(faddr)).unwrap();
        t.sendto(b"fine", Some(saddr)).unwrap();
    });
    run_until(&mut lp, |lp| {
        !lp.is_connected(fragile) && !got(&clog).is_empty()
    });
    assert_eq!(got(&clog), vec![b"fine".to_vec()]);
    assert!(lp.is_connected(server));
}

#[test]
fn a_burst_is_delivered_whole_and_in_order_with_and_without_batching() {
    for batch in [16, 1] {
        let mut config = shardloop::LoopConfig::default();
        config.udp_batch = batch;
        let mut lp = EventLoop::with_config(config).unwrap();
        let (server, slog) = endpoint(&mut lp, Some("127.0.0.1:0"), None, false);
        let saddr = addr_of(&mut lp, server);
        // 64 datagrams of varied sizes queue up before the loop looks —
        // about 100 KiB with kernel overhead, well under the default
        // receive buffer, so the kernel drops none.
        let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sent: Vec<Vec<u8>> = (0..64u32)
            .map(|i| {
                let mut d = i.to_be_bytes().to_vec();
                d.extend(util::pattern((i as usize * 613) % 1000));
                d
            })
            .collect();
        for d in &sent {
            c.send_to(d, saddr).unwrap();
        }
        run_until(&mut lp, |_| got(&slog).len() == 64);
        assert!(got(&slog) == sent, "batch {batch}: whole and in order");
        let from = c.local_addr().unwrap();
        assert!(slog
            .borrow()
            .iter()
            .all(|e| !matches!(e, Dv::Got(_, a) if *a != from)));
    }
}

/// Sends `n` numbered datagrams of `size` bytes to `to` from a fresh
/// blocking socket, before the loop looks; returns the socket and them.
fn burst(to: SocketAddr, n: u32, size: usize) -> (std::net::UdpSocket, Vec<Vec<u8>>) {
    let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(util::DEADLINE)).unwrap();
    let sent: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let mut d = i.to_be_bytes().to_vec();
            d.extend(util::pattern(size - 4));
            d
        })
        .collect();
    for d in &sent {
        c.send_to(d, to).unwrap();
    }
    (c, sent)
}

#[test]
fn answers_to_a_batch_leave_whole_and_in_order_with_and_without_batching() {
    for batch in [16, 1] {
        let mut config = shardloop::LoopConfig::default();
        config.udp_batch = batch;
        let mut lp = EventLoop::with_config(config).unwrap();
        let (server, slog) = endpoint(&mut lp, Some("127.0.0.1:0"), None, true);
        let saddr = addr_of(&mut lp, server);
        let (c, sent) = burst(saddr, 40, 700);
        run_until(&mut lp, |_| got(&slog).len() == 40);
        assert_eq!(
            lp.with_datagram(server, |_: &mut Udp, t| t.get_write_buffer_size()),
            Some(0),
            "batch {batch}: every answer handed to the kernel"
        );
        let mut buf = [0u8; 2048];
        for (i, d) in sent.iter().enumerate() {
            let (n, from) = c.recv_from(&mut buf).unwrap();
            assert_eq!(from, saddr);
            assert!(&buf[..n] == d.as_slice(), "batch {batch}: answer {i}");
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Flow {
    Pause(usize),
    Resume(usize),
}

/// Echoes with a 100-byte high-water mark and records flow control.
struct SmallEcho {
    log: Rc<RefCell<Vec<Flow>>>,
}

impl DatagramProtocol for SmallEcho {
    fn connection_made(&mut self, t: &mut DatagramTransport) {
        t.set_write_buffer_limits(Some(100), None).unwrap();
        assert_eq!(t.get_write_buffer_limits(), (25, 100));
    }
    fn datagram_received(&mut self, t: &mut DatagramTransport, data: &[u8], addr: SocketAddr) {
        t.sendto(data, Some(addr)).unwrap();
    }
    fn pause_writing(&mut self, t: &mut DatagramTransport) {
        let size = t.get_write_buffer_size();
        self.log.borrow_mut().push(Flow::Pause(size));
    }
    fn resume_writing(&mut self, t: &mut DatagramTransport) {
        let size = t.get_write_buffer_size();
        self.log.borrow_mut().push(Flow::Resume(size));
    }
}

#[test]
fn p8_answers_queued_over_high_during_a_batch_pause_once_and_resume_once() {
    let mut lp = EventLoop::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let server = lp
        .create_datagram_endpoint(
            move || SmallEcho { log: l },
            Some("127.0.0.1:0".parse().unwrap()),
            None,
            DatagramOptions::default(),
        )
        .unwrap();
    let saddr = lp
        .with_datagram(server, |_: &mut SmallEcho, t| t.sockname())
        .flatten()
        .unwrap();
    // Eight 64-byte datagrams arrive in one batch: the answers are queued
    // (corked) until the batch is delivered, so the second one takes the
    // queue strictly over 100 bytes.
    let (c, sent) = burst(saddr, 8, 64);
    run_until(&mut lp, |_| log.borrow().len() >= 2);
    let mut buf = [0u8; 128];
    let answers: Vec<Vec<u8>> = (0..sent.len())
        .map(|_| {
            let (n, _) = c.recv_from(&mut buf).unwrap();
            buf[..n].to_vec()
        })
        .collect();
    assert_eq!(answers, sent);
    assert_eq!(
        *log.borrow(),
        vec![Flow::Pause(128), Flow::Resume(0)],
        "pause once strictly over high, with the size visible; resume once drained"
    );
}
