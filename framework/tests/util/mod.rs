//! Shared helpers of the socket tests: a protocol that records every
//! callback, running the loop with a deadline, and blocking peers on
//! threads that never wait without a timeout.
#![allow(dead_code)]

pub mod host;
pub mod pki;

#[allow(unused_imports)]
pub use host::{python_module, scratch_dir, tool};

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use shardloop::{EventLoop, Protocol, Transport};

/// Every wait in the tests is bounded by this.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// One recorded callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Made,
    Data(Vec<u8>),
    Eof,
    Lost(Option<io::ErrorKind>),
    /// `pause_writing`, with the buffer size seen inside it.
    Pause(usize),
    /// `resume_writing`, with the buffer size seen inside it.
    Resume(usize),
    /// A note a test hook left, to check ordering against callbacks.
    Mark(&'static str),
}

impl Ev {
    /// The bytes of a `Data` event (empty for any other).
    pub fn data(self) -> Vec<u8> {
        match self {
            Ev::Data(d) => d,
            _ => Vec::new(),
        }
    }
}

pub type Log = Rc<RefCell<Vec<Ev>>>;

pub fn new_log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

type Hook = Box<dyn FnMut(&mut Transport, &Log)>;
type DataHook = Box<dyn FnMut(&mut Transport, &[u8], &Log)>;

/// A protocol that records every callback into a shared log, with optional
/// hooks that act on the transport.
pub struct Probe {
    pub log: Log,
    on_made: Option<Hook>,
    on_data: Option<DataHook>,
    on_eof: Option<Hook>,
    on_pause: Option<Hook>,
    on_resume: Option<Hook>,
    on_lost: Option<Hook>,
    keep_open: bool,
}

impl Probe {
    pub fn new(log: &Log) -> Self {
        Self {
            log: Rc::clone(log),
            on_made: None,
            on_data: None,
            on_eof: None,
            on_pause: None,
            on_resume: None,
            on_lost: None,
            keep_open: false,
        }
    }
    pub fn made(mut self, f: impl FnMut(&mut Transport, &Log) + 'static) -> Self {
        self.on_made = Some(Box::new(f));
        self
    }
    pub fn data(mut self, f: impl FnMut(&mut Transport, &[u8], &Log) + 'static) -> Self {
        self.on_data = Some(Box::new(f));
        self
    }
    pub fn eof(mut self, f: impl FnMut(&mut Transport, &Log) + 'static) -> Self {
        self.on_eof = Some(Box::new(f));
        self
    }
    pub fn pause(mut self, f: impl FnMut(&mut Transport, &Log) + 'static) -> Self {
        self.on_pause = Some(Box::new(f));
        self
    }
    pub fn resume(mut self, f: impl FnMut(&mut Transport, &Log) + 'static) -> Self {
        self.on_resume = Some(Box::new(f));
        self
    }
    pub fn lost(mut self, f: impl FnMut(&mut Transport, &Log) + 'static) -> Self {
        self.on_lost = Some(Box::new(f));
        self
    }
    /// `eof_received` returns true (half-open).
    pub fn keep_open(mut self) -> Self {
        self.keep_open = true;
        self
    }
}

impl Protocol for Probe {
    fn connection_made(&mut self, t: &mut Transport) {
        self.log.borrow_mut().push(Ev::Made);
        if let Some(f) = &mut self.on_made {
            f(t, &self.log);
        }
    }
    fn data_received(&mut self, t: &mut Transport, data: &[u8]) {
        self.log.borrow_mut().push(Ev::Data(data.to_vec()));
        if let Some(f) = &mut self.on_data {
            f(t, data, &self.log);
        }
    }
    fn eof_received(&mut self, t: &mut Transport) -> bool {
        self.log.borrow_mut().push(Ev::Eof);
        if let Some(f) = &mut self.on_eof {
            f(t, &self.log);
        }
        self.keep_open
    }
    fn connection_lost(&mut self, t: &mut Transport, error: Option<io::Error>) {
        self.log
            .borrow_mut()
            .push(Ev::Lost(error.map(|e| e.kind())));
        if let Some(f) = &mut self.on_lost {
            f(t, &self.log);
        }
    }
    fn pause_writing(&mut self, t: &mut Transport) {
        self.log
            .borrow_mut()
            .push(Ev::Pause(t.get_write_buffer_size()));
        if let Some(f) = &mut self.on_pause {
            f(t, &self.log);
        }
    }
    fn resume_writing(&mut self, t: &mut Transport) {
        self.log
            .borrow_mut()
            .push(Ev::Resume(t.get_write_buffer_size()));
        if let Some(f) = &mut self.on_resume {
            f(t, &self.log);
        }
    }
}

/// Runs the loop until `done`, failing the test after [`DEADLINE`].
pub fn run_until(lp: &mut EventLoop, mut done: impl FnMut(&mut EventLoop) -> bool) {
    let start = Instant::now();
    // A periodic wake-up so the deadline is checked even when nothing happens.
    fn tick(lp: &mut EventLoop) {
        lp.call_later(Duration::from_millis(20), tick);
    }
    let h = lp.call_later(Duration::from_millis(20), tick);
    lp.run_until(|lp| {
        assert!(start.elapsed() < DEADLINE, "timed out waiting");
        done(lp)
    })
    .expect("loop failed");
    h.cancel();
}

/// Runs what is due now on the loop's clock — callbacks, timers that fell
/// due, ready I/O — and returns: three iterations (the first moves due
/// timers to the ready queue, the second runs them, the third settles what
/// they changed: a connection they failed gets its `connection_lost`).
pub fn turn(lp: &mut EventLoop) {
    for _ in 0..3 {
        lp.call_soon(|lp| lp.stop());
        lp.run_forever().expect("loop failed");
    }
}

/// A loop on a manual clock (loop time moves only by `Clock::advance`).
pub fn manual_loop(edit: impl FnOnce(&mut shardloop::LoopConfig)) -> (EventLoop, shardloop::Clock) {
    let clock = shardloop::Clock::manual();
    let mut config = shardloop::LoopConfig::default();
    config.clock = clock.clone();
    edit(&mut config);
    (EventLoop::with_config(config).expect("loop"), clock)
}

/// Runs the loop until the log satisfies `pred`.
pub fn run_until_log(lp: &mut EventLoop, log: &Log, pred: impl Fn(&[Ev]) -> bool) {
    run_until(lp, |_| pred(&log.borrow()));
}

/// Runs the loop until a blocking peer thread finishes, then returns its
/// result.
pub fn run_until_joined<T>(lp: &mut EventLoop, peer: JoinHandle<T>) -> T {
    run_until(lp, |_| peer.is_finished());
    peer.join().expect("peer thread panicked")
}

pub fn has_lost(evs: &[Ev]) -> bool {
    evs.iter().any(|e| matches!(e, Ev::Lost(_)))
}

pub fn count(evs: &[Ev], pred: impl Fn(&Ev) -> bool) -> usize {
    evs.iter().filter(|e| pred(e)).count()
}

/// All bytes delivered by `data_received`, concatenated.
pub fn received(evs: &[Ev]) -> Vec<u8> {
    evs.iter()
        .filter_map(|e| match e {
            Ev::Data(d) => Some(d.as_slice()),
            _ => None,
        })
        .flatten()
        .copied()
        .collect()
}

/// `n` bytes of a pattern that makes reordering or loss visible.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

/// The server's first TCP address.
pub fn inet(server: &shardloop::Server) -> SocketAddr {
    server.sockets()[0].as_inet().expect("inet address")
}

/// A blocking TCP client with timeouts, so a peer never hangs a test.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.set_write_timeout(Some(DEADLINE)).unwrap();
    s
}

/// A blocking TCP client whose receive buffer is capped (set before
/// connecting, which disables autotuning), so a server writing to it builds
/// a queue quickly and deterministically.
pub fn connect_small(addr: SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )
    .unwrap();
    sock.set_recv_buffer_size(64 * 1024).unwrap();
    sock.connect(&addr.into()).expect("connect");
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.set_write_timeout(Some(DEADLINE)).unwrap();
    s
}

/// Reads until EOF; returns what arrived, or the error that ended it.
pub fn read_to_end(s: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(out)
}

/// Reads until EOF in small slices with pauses, like a slow consumer.
pub fn read_slowly(s: &mut impl Read, pause_every: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0; 16 * 1024];
    let mut since_pause = 0;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
        since_pause += n;
        if since_pause >= pause_every {
            since_pause = 0;
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

pub fn write_all(s: &mut impl Write, data: &[u8]) {
    s.write_all(data).expect("peer write");
}

/// Lets the loop run for `d` (to let kernel events arrive), then returns.
pub fn turn_for(lp: &mut EventLoop, d: Duration) {
    let done = Rc::new(std::cell::Cell::new(false));
    let d2 = done.clone();
    lp.call_later(d, move |_| d2.set(true));
    run_until(lp, |_| done.get());
}

/// A TCP server on a free loopback port whose protocols come from `make`,
/// which receives the log the test reads.
pub fn serve<P: Protocol>(
    lp: &mut EventLoop,
    mut make: impl FnMut(&Log) -> P + 'static,
) -> (Log, shardloop::Server) {
    let log = new_log();
    let l = log.clone();
    let server = lp
        .create_server(move || make(&l), "127.0.0.1:0")
        .expect("bind a loopback port");
    (log, server)
}
