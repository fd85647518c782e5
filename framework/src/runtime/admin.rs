//! The admin endpoint's server: `/metrics`, `/ready` and `/live` served by
//! a shardloop [`EventLoop`] on a thread of its own — the framework serving
//! itself, non-blocking, with the [`http`](crate::http) codec.
//!
//! What it holds against (each tried by `apps/tests/admin.rs`):
//! * **Slow and idle clients.** Each connection has one deadline for the
//!   whole request ([`REQUEST_DEADLINE`]: head received, answer written),
//!   not a timeout per read, so a client dribbling a byte a second is cut
//!   at the deadline; until then it costs one slab entry and at most
//!   [`MAX_REQUEST`] bytes, and nothing else waits for it: thousands of
//!   them leave `/live` answering at once.
//! * **Floods.** At most [`MAX_CONNECTIONS`] connections are served; one
//!   more is answered `503` at once and closed, without touching the
//!   connections already being served.
//! * **A stuck shard.** `/metrics` and `/live` ask every shard for a
//!   snapshot through its mailbox without blocking (`try_submit`); the
//!   snapshots come back through the admin loop's own mailbox. A shard
//!   that does not answer within [`GATHER_TIMEOUT`] makes those requests
//!   answer `503`, while `/ready` and every other connection go on.
//!   Concurrent scrapes share one gather, so a scrape storm costs each
//!   shard one snapshot per round, not one per request.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::metrics::{render, snapshot, Snapshot, Source};
use crate::http::{self, Method, Parsed};
use crate::shard::{ConnectionHandle, EventLoop, Handle, LoopConfig, ShardHandle};
use crate::{Protocol, Transport};

/// Longest request head accepted (request line and headers).
pub(crate) const MAX_REQUEST: usize = 8 * 1024;
/// The whole of a request, from accept to the last byte of the answer
/// handed to the kernel.
pub(crate) const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// How long `/metrics` and `/live` wait for the shards' snapshots.
pub(crate) const GATHER_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections served at once; one more is answered 503 and closed.
pub(crate) const MAX_CONNECTIONS: usize = 4096;

/// The running endpoint: its loop's handle and its thread.
pub(crate) struct AdminServer {
    handle: ShardHandle,
    thread: Option<JoinHandle<()>>,
    /// A copy of the listening socket, for a takeover to hand over.
    socket: std::os::fd::OwnedFd,
}

/// What a takeover needs of the endpoint: its socket to hand over, and a
/// way to stop this process's loop accepting on it once the new process
/// serves it.
pub(crate) struct AdminHandover {
    pub(crate) socket: std::os::fd::OwnedFd,
    handle: ShardHandle,
}

impl AdminHandover {
    /// Stops accepting on the endpoint's socket (the new process has it)
    /// and waits, up to a second, until the requests this process had
    /// accepted are answered: a probe never meets the drain that follows.
    pub(crate) fn let_go(&self) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let closed = self.handle.submit(move |lp| {
            lp.close_all_listeners();
            let _ = tx.send(());
        });
        if closed.is_err() || rx.recv_timeout(Duration::from_secs(1)).is_err() {
            return;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while std::time::Instant::now() < deadline {
            let (tx, rx) = crossbeam_channel::bounded(1);
            let asked = self.handle.submit(move |_| {
                let open = ADMIN.with(|a| a.borrow().as_ref().map_or(0, |a| a.open.get()));
                let _ = tx.send(open);
            });
            match (asked, rx.recv_timeout(Duration::from_secs(1))) {
                (Ok(()), Ok(0)) | (Err(_), _) | (_, Err(_)) => return,
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
}

impl AdminServer {
    /// Serves `listener` (already bound) from a new thread.
    pub(crate) fn start(listener: std::net::TcpListener, source: Arc<Source>) -> io::Result<Self> {
        let socket = std::os::fd::OwnedFd::from(listener.try_clone()?);
        let (tx, rx) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                let started = (|| {
                    let mut lp = EventLoop::with_config(LoopConfig {
                        // The request deadline bounds every connection.
                        idle_timeout: None,
                        read_buffer_size: 16 * 1024,
                        // A client that keeps sending after its answer
                        // holds its slot no longer than this.
                        linger_time: Duration::from_secs(2),
                        ..LoopConfig::default()
                    })?;
                    let handle = lp.shard_handle()?;
                    let admin = Rc::new(Admin {
                        source,
                        back: handle.clone(),
                        open: Cell::new(0),
                        gather: RefCell::new(None),
                        generation: Cell::new(0),
                    });
                    ADMIN.with(|a| *a.borrow_mut() = Some(Rc::clone(&admin)));
                    lp.serve_bound(listener, move || AdminConn::new(Rc::clone(&admin)))?;
                    Ok::<_, io::Error>((lp, handle))
                })();
                match started {
                    Ok((mut lp, handle)) => {
                        let _ = tx.send(Ok(handle));
                        if let Err(e) = lp.run_forever() {
                            tracing::error!(error = %e, "metrics endpoint stopped");
                        }
                        ADMIN.with(|a| a.borrow_mut().take());
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            })?;
        let handle = rx
            .recv()
            .map_err(|_| io::Error::other("the metrics thread did not start"))??;
        Ok(Self {
            handle,
            thread: Some(thread),
            socket,
        })
    }

    /// The socket and the loop, for a takeover.
    pub(crate) fn handover(&self) -> io::Result<AdminHandover> {
        Ok(AdminHandover {
            socket: self.socket.try_clone()?,
            handle: self.handle.clone(),
        })
    }

    /// Stops the loop (its listener and connections close with it) and
    /// joins the thread.
    pub(crate) fn stop(mut self) {
        let _ = self.handle.submit(|lp| lp.stop());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

thread_local! {
    /// The admin loop's state, for the snapshots arriving through its
    /// mailbox (closures that cross threads cannot carry an `Rc`).
    static ADMIN: RefCell<Option<Rc<Admin>>> = const { RefCell::new(None) };
}

/// What a request waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Metrics,
    Live,
}

/// A gather in flight: every shard asked for its snapshot.
struct Gather {
    generation: u64,
    parts: Vec<Option<Snapshot>>,
    missing: usize,
    waiters: Vec<(ConnectionHandle, Want)>,
    timer: Handle,
}

/// The admin loop's shared state.
struct Admin {
    source: Arc<Source>,
    /// The admin loop's own mailbox, where shards send their snapshots.
    back: ShardHandle,
    /// Connections being served (over the cap ones are not counted).
    open: Cell<usize>,
    gather: RefCell<Option<Gather>>,
    generation: Cell<u64>,
}

impl Admin {
    /// Adds `conn` to the gather in flight, or starts one.
    fn join(self: &Rc<Self>, lp: &crate::LoopHandle, conn: ConnectionHandle, want: Want) {
        if let Some(g) = self.gather.borrow_mut().as_mut() {
            g.waiters.push((conn, want));
            return;
        }
        let generation = self.generation.get() + 1;
        self.generation.set(generation);
        let shards = self.source.shards.len();
        let timer = lp.call_later(GATHER_TIMEOUT, move |lp| finish(lp, generation, false));
        *self.gather.borrow_mut() = Some(Gather {
            generation,
            parts: (0..shards).map(|_| None).collect(),
            missing: shards,
            waiters: vec![(conn, want)],
            timer,
        });
        let mut failed = false;
        for (k, shard) in self.source.shards.iter().enumerate() {
            let back = self.back.clone();
            let asked = shard.try_submit(Box::new(move |slp: &mut EventLoop| {
                let snap = snapshot(slp);
                // A full admin mailbox drops it; the gather times out.
                let _ = back.try_submit(Box::new(move |alp: &mut EventLoop| {
                    arrived(alp, generation, k, snap)
                }));
            }));
            failed |= asked.is_err();
        }
        if failed || shards == 0 {
            lp.call_soon(move |lp| finish(lp, generation, !failed));
        }
    }
}

/// One shard's snapshot, on the admin loop.
fn arrived(lp: &mut EventLoop, generation: u64, k: usize, snap: Snapshot) {
    let Some(admin) = ADMIN.with(|a| a.borrow().clone()) else {
        return;
    };
    let complete = {
        let mut g = admin.gather.borrow_mut();
        let Some(g) = g.as_mut().filter(|g| g.generation == generation) else {
            return;
        };
        if g.parts[k].is_none() {
            g.parts[k] = Some(snap);
            g.missing -= 1;
        }
        g.missing == 0
    };
    if complete {
        finish(lp, generation, true);
    }
}

/// Ends gather `generation`: answers everyone who waited on it.
fn finish(lp: &mut EventLoop, generation: u64, ok: bool) {
    let Some(admin) = ADMIN.with(|a| a.borrow().clone()) else {
        return;
    };
    let g = {
        let mut slot = admin.gather.borrow_mut();
        if slot.as_ref().map(|g| g.generation) != Some(generation) {
            return;
        }
        slot.take().expect("checked")
    };
    g.timer.cancel();
    let snapshots: Option<Vec<Snapshot>> = if ok {
        g.parts.into_iter().collect()
    } else {
        None
    };
    let metrics = match &snapshots {
        Some(s) if g.waiters.iter().any(|(_, w)| *w == Want::Metrics) => {
            Some(render(s, &admin.source))
        }
        _ => None,
    };
    for (conn, want) in g.waiters {
        lp.with_connection(conn, |p: &mut AdminConn, t| match (want, &snapshots) {
            (_, None) => p.answer(t, 503, "a shard did not answer in time\n"),
            (Want::Live, Some(_)) => p.answer(t, 200, "live\n"),
            (Want::Metrics, Some(_)) => p.answer(t, 200, metrics.as_deref().unwrap_or("")),
        });
    }
}

/// One admin connection: one request, one answer, then close.
struct AdminConn {
    admin: Rc<Admin>,
    request: Vec<u8>,
    deadline: Option<Handle>,
    /// Counted in `open` (not an over-the-cap connection).
    counted: bool,
    /// The request is complete: nothing more is read.
    done: bool,
}

impl AdminConn {
    fn new(admin: Rc<Admin>) -> Self {
        Self {
            admin,
            request: Vec::new(),
            deadline: None,
            counted: false,
            done: false,
        }
    }

    /// Writes the answer and closes (T3: the client gets it all, then FIN).
    fn answer(&mut self, t: &mut Transport, status: u16, body: &str) {
        self.done = true;
        let head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            http::reason(status),
            body.len()
        );
        let _ = t.writelines(&[head.as_bytes(), body.as_bytes()]);
        t.close();
    }

    /// The deadline passed: a request still incomplete gets 408; an
    /// answer the client does not read is dropped.
    fn expired(&mut self, t: &mut Transport) {
        self.deadline = None;
        if self.done {
            t.abort();
        } else {
            self.answer(t, 408, "request not received in time\n");
        }
    }

    fn route(&mut self, t: &mut Transport, method: Method, path: &str) {
        let source = &self.admin.source;
        match (method == Method::Get, path) {
            (true, "/metrics") => {
                self.done = true;
                let admin = Rc::clone(&self.admin);
                admin.join(t.get_loop(), t.handle(), Want::Metrics);
            }
            (true, "/live") => {
                self.done = true;
                let admin = Rc::clone(&self.admin);
                admin.join(t.get_loop(), t.handle(), Want::Live);
            }
            // Readiness: serving and not draining (a load balancer or
            // Kubernetes stops sending new connections as soon as a drain
            // starts, before the listeners close).
            (true, "/ready") => {
                if source.draining.load(Ordering::Acquire) {
                    self.answer(t, 503, "draining\n")
                } else if source.serving.load(Ordering::Acquire) {
                    self.answer(t, 200, "ready\n")
                } else {
                    self.answer(t, 503, "starting\n")
                }
            }
            (true, _) => self.answer(t, 404, "try /metrics, /ready or /live\n"),
            _ => self.answer(t, 405, "GET /metrics, /ready or /live only\n"),
        }
    }
}

impl Protocol for AdminConn {
    fn connection_made(&mut self, t: &mut Transport) {
        if self.admin.open.get() >= MAX_CONNECTIONS {
            self.answer(t, 503, "too many connections\n");
            return;
        }
        self.admin.open.set(self.admin.open.get() + 1);
        self.counted = true;
        let conn = t.handle();
        self.deadline = Some(t.get_loop().call_later(REQUEST_DEADLINE, move |lp| {
            lp.with_connection(conn, |p: &mut AdminConn, t| p.expired(t));
        }));
    }

    fn data_received(&mut self, t: &mut Transport, data: &[u8]) {
        if self.done {
            return;
        }
        // Never more than one byte past the limit: the codec then answers
        // 431, whatever the client sends.
        let room = (MAX_REQUEST + 1).saturating_sub(self.request.len());
        self.request
            .extend_from_slice(&data[..data.len().min(room)]);
        let limits = http::Limits {
            max_head: MAX_REQUEST,
            ..Default::default()
        };
        let mut headers = http::header_slots();
        let route = match http::parse_request(&self.request, &mut headers, &limits) {
            Ok(Parsed::Complete(req, _)) => Ok((req.method, req.path().unwrap_or("").to_string())),
            Ok(Parsed::Partial) => return,
            Err(e) => Err(e),
        };
        match route {
            Ok((method, path)) => self.route(t, method, &path),
            Err(e) => self.answer(t, e.status, "bad request\n"),
        }
    }

    fn eof_received(&mut self, _t: &mut Transport) -> bool {
        // A client that half-closes after its request still gets the
        // answer; one that half-closes before is closed.
        self.done
    }

    fn connection_lost(&mut self, _t: &mut Transport, _error: Option<io::Error>) {
        if let Some(d) = self.deadline.take() {
            d.cancel();
        }
        if self.counted {
            self.admin.open.set(self.admin.open.get() - 1);
        }
    }
}

impl super::Runtime {
    /// Serves `GET /metrics` (Prometheus text format) on `addr` from an
    /// event loop on a thread of its own: reachable at `max_connections`
    /// and during accept back-off, each request bounded by one deadline
    /// for the whole request (5 s), at most 4,096 connections at once (one
    /// more is answered 503), its traffic not counted as any listener's. Also `GET /ready` (200 once serving, 503 from the
    /// moment a drain starts) and `GET /live` (200 while every shard
    /// answers). Returns the bound address; the endpoint closes once the
    /// runtime has shut down.
    pub fn serve_metrics(
        &mut self,
        addr: std::net::SocketAddr,
    ) -> io::Result<std::net::SocketAddr> {
        let listener = std::net::TcpListener::bind(addr).map_err(|source| {
            io::Error::from(crate::LoopError::Bind {
                address: addr.to_string(),
                source,
            })
        })?;
        self.serve_metrics_on(listener)
    }

    /// As [`serve_metrics`](Self::serve_metrics), on a listening socket
    /// already bound: the one a takeover handed over (see
    /// [`TakenOver::metrics`](super::TakenOver::metrics)), so the endpoint
    /// never stops answering across a restart.
    pub fn serve_metrics_on(
        &mut self,
        listener: std::net::TcpListener,
    ) -> io::Result<std::net::SocketAddr> {
        let bound = listener.local_addr()?;
        let source = Arc::new(Source {
            shards: self.shards.iter().map(|s| s.handle.clone()).collect(),
            gauges: Arc::clone(&self.gauges),
            names: self.listener_names.clone(),
            draining: Arc::clone(&self.draining),
            serving: Arc::clone(&self.serving),
        });
        self.serve_or_hold_in_turn(true, move |rt| {
            rt.metrics = Some(AdminServer::start(listener, source)?);
            Ok(())
        })?;
        Ok(bound)
    }
}
