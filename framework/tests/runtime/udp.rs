//! The runtime's sharded UDP listeners, and P11's drain.

use super::*;

pub(super) fn udp_runtime() -> (Runtime, SocketAddr, Arc<Mutex<Vec<String>>>) {
    let mut config = RuntimeConfig::default();
    config.shards = 2;
    config.pin_cores = false;
    let mut rt = Runtime::start(config).unwrap();
    let shards = Arc::new(Mutex::new(Vec::new()));
    let s = shards.clone();
    let addr = rt
        .listen_udp("127.0.0.1:0".parse().unwrap(), move || UdpEcho {
            shards: s.clone(),
        })
        .unwrap();
    (rt, addr, shards)
}

pub(super) fn udp_client() -> std::net::UdpSocket {
    let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

#[test]
fn a_sharded_udp_listener_answers_from_every_shard() {
    let (rt, addr, shards) = udp_runtime();
    // Flows from 40 source ports: the kernel hashes them over the shards.
    for i in 0..40u8 {
        let c = udp_client();
        c.send_to(&[i; 8], addr).unwrap();
        let mut buf = [0; 16];
        let (n, from) = c.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&[i; 8][..], addr));
    }
    let counts = per_shard(&shards.lock().unwrap(), 2);
    assert_eq!(counts.iter().sum::<usize>(), 40);
    assert!(
        counts.iter().all(|&c| c > 0),
        "every shard answered: {counts:?}"
    );
    rt.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_hundred_thousand_datagrams_through_the_udp_echo_none_corrupted() {
    let (rt, addr, _) = udp_runtime();
    let c = udp_client();
    c.connect(addr).unwrap();
    const TOTAL: u32 = 100_000;
    const WINDOW: u32 = 16; // in flight at once: no loss on loopback
    let payload = |seq: u32| -> Vec<u8> {
        let mut p = seq.to_be_bytes().to_vec();
        p.extend((0..(seq % 200)).map(|i| (seq.wrapping_mul(31).wrapping_add(i) % 251) as u8));
        p
    };
    let mut sent = 0;
    let mut got = 0;
    let mut buf = vec![0; 2048];
    while sent < WINDOW {
        c.send(&payload(sent)).unwrap();
        sent += 1;
    }
    while got < TOTAL {
        let n = c.recv(&mut buf).expect("a datagram was lost");
        let seq = u32::from_be_bytes(buf[..4].try_into().unwrap());
        assert_eq!(&buf[..n], &payload(seq)[..], "datagram {seq} corrupted");
        got += 1;
        if sent < TOTAL {
            c.send(&payload(sent)).unwrap();
            sent += 1;
        }
    }
    rt.shutdown(Duration::from_secs(5)).unwrap();
}

/// A line protocol that ends at a boundary of its own when told of the
/// drain: it answers the line being received, then says bye and closes.
pub(super) struct Lines {
    partial: Vec<u8>,
    draining: bool,
    told: Arc<AtomicUsize>,
}

impl Lines {
    fn answer_lines(&mut self, t: &mut Transport) {
        while let Some(nl) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=nl).collect();
            let _ = t.write(&line);
        }
        if self.draining && self.partial.is_empty() {
            let _ = t.write(b"bye\n");
            t.close();
        }
    }
}

impl Protocol for Lines {
    fn data_received(&mut self, t: &mut Transport, data: &[u8]) {
        self.partial.extend_from_slice(data);
        self.answer_lines(t);
    }
    fn drain_started(&mut self, t: &mut Transport) {
        self.told.fetch_add(1, Ordering::SeqCst);
        self.draining = true;
        self.answer_lines(t);
    }
}

#[test]
fn p11_drain_started_is_told_once_and_a_protocol_ends_its_request_before_closing() {
    let mut config = RuntimeConfig::default();
    config.shards = 2;
    config.pin_cores = false;
    let mut rt = Runtime::start(config).unwrap();
    let told = Arc::new(AtomicUsize::new(0));
    let t2 = told.clone();
    let addr = rt
        .listen(
            "127.0.0.1:0".parse().unwrap(),
            Distribution::RoundRobin,
            1024,
            move || Lines {
                partial: Vec::new(),
                draining: false,
                told: t2.clone(),
            },
        )
        .unwrap();
    // Each client has half a line out when the drain starts.
    let mut clients: Vec<TcpStream> = (0..6).map(|_| client(addr)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(format!("done {i}\nhalf of line {i}").as_bytes())
            .unwrap();
        let mut first = vec![0u8; format!("done {i}\n").len()];
        c.read_exact(&mut first).unwrap();
    }
    let shutdown = std::thread::spawn(move || rt.shutdown(Duration::from_secs(30)).unwrap());
    wait_for("every connection told", || told.load(Ordering::SeqCst) == 6);
    // The rest of each line, in pieces, after the drain began: answered
    // whole, then the protocol's own goodbye, then a clean end.
    for (i, c) in clients.iter_mut().enumerate() {
        for piece in [" and".as_bytes(), b" the rest", b"\n"] {
            c.write_all(piece).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut rest = String::new();
        c.read_to_string(&mut rest).expect("a clean EOF");
        assert_eq!(rest, format!("half of line {i} and the rest\nbye\n"));
    }
    drop(clients);
    let report = shutdown.join().unwrap();
    assert_eq!(report.aborted, 0, "{report:?}");
    assert_eq!(told.load(Ordering::SeqCst), 6, "told once each");
}
