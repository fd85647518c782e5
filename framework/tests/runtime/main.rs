//! The thread-per-core runtime over real loopback sockets: distribution,
//! pinning, cross-shard calls, the connection cap, graceful shutdown.

mod udp;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use shardloop::{Distribution, Protocol, Runtime, RuntimeConfig, Transport};

const DEADLINE: Duration = Duration::from_secs(20);

/// Echo that records which shard thread served each connection.
struct Echo {
    shards: Arc<Mutex<Vec<String>>>,
    received: Arc<AtomicUsize>,
}

impl Protocol for Echo {
    fn connection_made(&mut self, _t: &mut Transport) {
        let name = std::thread::current().name().unwrap_or("?").to_string();
        self.shards.lock().unwrap().push(name);
    }
    fn data_received(&mut self, t: &mut Transport, data: &[u8]) {
        self.received.fetch_add(data.len(), Ordering::SeqCst);
        let _ = t.write(data);
    }
}

struct Fixture {
    rt: Runtime,
    addr: SocketAddr,
    shards: Arc<Mutex<Vec<String>>>,
    received: Arc<AtomicUsize>,
}

fn start(n: usize, pin: bool, dist: Distribution, max_connections: usize) -> Fixture {
    let mut config = RuntimeConfig::default();
    config.shards = n;
    config.pin_cores = pin;
    config.max_connections = max_connections;
    let mut rt = Runtime::start(config).unwrap();
    let shards = Arc::new(Mutex::new(Vec::new()));
    let received = Arc::new(AtomicUsize::new(0));
    let (s, r) = (shards.clone(), received.clone());
    let addr = rt
        .listen("127.0.0.1:0".parse().unwrap(), dist, 1024, move || Echo {
            shards: s.clone(),
            received: r.clone(),
        })
        .unwrap();
    Fixture {
        rt,
        addr,
        shards,
        received,
    }
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s
}

fn echo(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).unwrap();
    let mut buf = vec![0; msg.len()];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(buf, msg);
}

fn per_shard(names: &[String], n: usize) -> Vec<usize> {
    (0..n)
        .map(|k| names.iter().filter(|s| **s == format!("shard-{k}")).count())
        .collect()
}

#[test]
fn round_robin_spreads_connections_exactly_evenly() {
    let f = start(2, false, Distribution::RoundRobin, 0);
    let mut conns: Vec<TcpStream> = (0..10).map(|_| client(f.addr)).collect();
    for c in &mut conns {
        echo(c, b"hi");
    }
    assert_eq!(per_shard(&f.shards.lock().unwrap(), 2), vec![5, 5]);
    assert_eq!(f.rt.live_connections(), vec![5, 5]);
    drop(conns);
    wait_for("connections to close", || {
        f.rt.live_connections() == vec![0, 0]
    });
    f.rt.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn least_connections_sends_short_connections_away_from_a_busy_shard() {
    let f = start(2, false, Distribution::LeastConnections, 0);
    let mut long = client(f.addr);
    echo(&mut long, b"stay");
    let busy = f.shards.lock().unwrap()[0].clone();
    for _ in 0..6 {
        let mut short = client(f.addr);
        echo(&mut short, b"x");
        drop(short);
        wait_for("the short connection to close", || {
            f.rt.live_connections().iter().sum::<usize>() == 1
        });
    }
    let names = f.shards.lock().unwrap().clone();
    assert_eq!(names.len(), 7);
    assert!(
        names[1..].iter().all(|n| *n != busy),
        "short ones went to the idle shard: {names:?}"
    );
    f.rt.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_pinned_shard_thread_runs_on_its_core() {
    let f = start(2, true, Distribution::RoundRobin, 0);
    let cores = f.rt.shard_cores();
    for (k, core) in cores.iter().enumerate() {
        let Some(core) = core else {
            panic!("shard {k} not pinned")
        };
        let (tx, rx) = mpsc::channel();
        f.rt.shard(k)
            .submit(move |_| {
                let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
                let allowed = status
                    .lines()
                    .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                    .unwrap()
                    .trim()
                    .to_string();
                tx.send(allowed).unwrap();
            })
            .unwrap();
        assert_eq!(rx.recv_timeout(DEADLINE).unwrap(), core.to_string());
    }
    f.rt.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn reuseport_serves_on_every_shard() {
    let f = start(2, false, Distribution::ReusePort, 0);
    let mut conns: Vec<TcpStream> = (0..40).map(|_| client(f.addr)).collect();
    for c in &mut conns {
        echo(c, b"rp");
    }
    let counts = per_shard(&f.shards.lock().unwrap(), 2);
    assert_eq!(counts.iter().sum::<usize>(), 40);
    assert!(counts.iter().all(|&c| c > 0), "kernel spread: {counts:?}");
    f.rt.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn cross_shard_calls_run_in_order_and_broadcast_reaches_every_shard() {
    let f = start(2, false, Distribution::RoundRobin, 0);
    let seen = Arc::new(Mutex::new(Vec::new()));
    for i in 0..1000 {
        let seen = seen.clone();
        f.rt.shard(1)
            .submit(move |_| seen.lock().unwrap().push(i))
            .unwrap();
    }
    let threads = Arc::new(Mutex::new(Vec::new()));
    let t2 = threads.clone();
    f.rt.broadcast(move |_| {
        t2.lock()
            .unwrap()
            .push(std::thread::current().name().unwrap().to_string())
    });
    wait_for("calls to run", || {
        seen.lock().unwrap().len() == 1000 && threads.lock().unwrap().len() == 2
    });
    assert_eq!(*seen.lock().unwrap(), (0..1000).collect::<Vec<_>>());
    let mut names = threads.lock().unwrap().clone();
    names.sort();
    assert_eq!(names, vec!["shard-0", "shard-1"]);
    f.rt.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn max_connections_holds_exactly_at_the_cap_and_recovers() {
    let f = start(2, false, Distribution::RoundRobin, 3);
    let mut conns: Vec<TcpStream> = (0..5).map(|_| client(f.addr)).collect();
    for c in conns.iter_mut().take(3) {
        echo(c, b"in");
    }
    // The other two wait in the kernel backlog, unaccepted.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(f.shards.lock().unwrap().len(), 3, "never over the cap");
    assert_eq!(f.rt.live_connections().iter().sum::<usize>(), 3);
    drop(conns.remove(0));
    drop(conns.remove(0));
    for c in &mut conns {
        echo(c, b"now");
    }
    assert_eq!(f.shards.lock().unwrap().len(), 5);
    f.rt.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn shutdown_echoes_every_accepted_byte_then_closes_cleanly() {
    let f = start(2, false, Distribution::RoundRobin, 0);
    let addr = f.addr;
    let total = 8 << 20;
    let peer = std::thread::spawn(move || {
        let s = client(addr);
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            let chunk: Vec<u8> = (0..65536).map(|i| (i % 251) as u8).collect();
            let mut sent = 0;
            while sent < total {
                if w.write_all(&chunk).is_err() {
                    break;
                }
                sent += chunk.len();
            }
        });
        let mut r = s;
        let mut got = Vec::new();
        let end = r.read_to_end(&mut got);
        writer.join().unwrap();
        (end.map(|_| ()), got)
    });
    wait_for("some traffic", || {
        f.received.load(Ordering::SeqCst) > 1 << 20
    });
    let received = f.received.clone();
    f.rt.shutdown(Duration::from_secs(10)).unwrap();
    let (end, got) = peer.join().unwrap();
    end.expect("clean EOF, not a reset");
    assert_eq!(
        got.len(),
        received.load(Ordering::SeqCst),
        "every accepted byte echoed"
    );
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, b)| *b == (i % 65536 % 251) as u8));
}

#[test]
fn a_request_racing_the_drain_is_served_and_a_silent_connection_closed_after_its_grace() {
    let f = start(2, false, Distribution::RoundRobin, 0);
    let addr = f.addr;
    // Connected before the drain; their requests leave after it started.
    let mut racing: Vec<TcpStream> = (0..4).map(|_| client(addr)).collect();
    let mut silent = client(addr);
    wait_for("five connections made", || {
        f.shards.lock().unwrap().len() == 5
    });
    let rt = f.rt;
    let shutdown = std::thread::spawn(move || rt.shutdown(Duration::from_secs(30)).unwrap());
    // The listener is closed once the drain has begun.
    wait_for("the listener closed", || TcpStream::connect(addr).is_err());
    std::thread::sleep(Duration::from_millis(50));
    for (i, s) in racing.iter_mut().enumerate() {
        let msg = format!("request {i} sent during the drain");
        echo(s, msg.as_bytes());
        let mut rest = Vec::new();
        s.read_to_end(&mut rest)
            .expect("a clean EOF after the answer");
        assert!(rest.is_empty());
    }
    // The silent one is closed after its grace, not at the drain deadline.
    let mut rest = Vec::new();
    silent.read_to_end(&mut rest).expect("a clean EOF");
    assert!(rest.is_empty());
    // Our FINs end the servers' lingering closes.
    drop((racing, silent));
    let report = shutdown.join().unwrap();
    assert_eq!(report.aborted, 0, "{report:?}");
    assert!(!report.cut);
}

/// `series value` lines of a Prometheus text exposition, by series.
fn parse_metrics(body: &str) -> std::collections::HashMap<String, f64> {
    let mut values = std::collections::HashMap::new();
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        values.insert(series.to_string(), value);
    }
    values
}

fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = client(addr);
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn metrics_endpoint_serves_per_shard_counters_in_prometheus_text() {
    let mut f = start(2, false, Distribution::RoundRobin, 0);
    let maddr = f.rt.serve_metrics("127.0.0.1:0".parse().unwrap()).unwrap();
    let mut conns: Vec<TcpStream> = (0..10).map(|_| client(f.addr)).collect();
    for c in &mut conns {
        echo(c, b"12345");
    }
    let resp = http_get(maddr, "/metrics");
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains(&format!("Content-Length: {}", body.len())));
    let values = parse_metrics(body);
    let listener = format!("listener=\"{}\"", f.addr);
    let sum = |name: &str| -> u64 {
        (0..2)
            .map(|k| values[&format!("{name}{{{listener},shard=\"{k}\"}}")] as u64)
            .sum()
    };
    // Ten echo connections; the scrape itself is not the listener's traffic.
    assert_eq!(sum("shardloop_connections_accepted_total"), 10);
    assert_eq!(sum("shardloop_connections_active"), 10);
    assert!(sum("shardloop_received_bytes_total") >= 50);
    assert!(sum("shardloop_sent_bytes_total") >= 50);
    assert!(values.contains_key("shardloop_accept_backoffs_total{shard=\"acceptor\"}"));
    assert!(values.contains_key("shardloop_pause_writing_total{shard=\"1\"}"));
    assert_eq!(
        values[&format!(
            "shardloop_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )],
        1.0
    );
    for name in [
        "process_start_time_seconds",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
    ] {
        assert!(values[name] > 0.0, "{name}");
    }
    assert!(values["process_cpu_seconds_total"] >= 0.0);
    assert!(http_get(maddr, "/nope").starts_with("HTTP/1.1 404"));
    drop(conns);
    f.rt.shutdown(Duration::from_secs(5)).unwrap();
}

/// UDP echo recording which shard answered.
struct UdpEcho {
    shards: Arc<Mutex<Vec<String>>>,
}

impl shardloop::DatagramProtocol for UdpEcho {
    fn datagram_received(
        &mut self,
        t: &mut shardloop::DatagramTransport,
        data: &[u8],
        addr: SocketAddr,
    ) {
        let name = std::thread::current().name().unwrap_or("?").to_string();
        self.shards.lock().unwrap().push(name);
        t.sendto(data, Some(addr)).unwrap();
    }
}
