//! One HTTP/1.1 connection: parse every complete request a read brings,
//! answer each in order into one buffer, write the batch once.

use std::sync::Arc;

use shardloop::http::{header_slots, parse_request, Body, Framing, Method, Parsed, Request};
use shardloop::{Protocol, Transport};

use super::files;
use super::response::{self, Persist};
use super::Prepared;

/// The methods every route takes.
const ALLOW: &[u8] = b"Allow: GET, HEAD, OPTIONS\r\n";

/// Input kept across reads at most, beyond the head limit: a partial
/// request head or a partial chunk-size line.
const MAX_PENDING_SLACK: usize = 8 * 1024;

/// The `http` app's protocol.
pub struct HttpConn {
    shared: Arc<Prepared>,
    /// Unparsed input carried over from earlier reads.
    pending: Vec<u8>,
    /// Responses of the current batch, written once.
    out: Vec<u8>,
    /// Scratch for the JSON body.
    json: Vec<u8>,
    /// The body of the last request, still being consumed.
    body: Option<Body>,
    /// The answer to that request, held until its body is consumed (so a
    /// body that turns out malformed or too large is answered instead).
    held: Option<(Vec<u8>, After)>,
    /// A response said `Connection: close`: the rest of the input is
    /// ignored and the connection closes once the batch is written.
    closing: bool,
    /// Armed while a request head is incomplete: `header_timeout` → 408.
    head_timer: Option<shardloop::Handle>,
    /// Heads completed so far (a new one restarts the head timer).
    heads: u64,
    /// Armed while a request body is being received: `body_timeout` → 408.
    body_timer: Option<shardloop::Handle>,
    /// The server drains (P11): the request being received is answered
    /// with `Connection: close`, then the connection closes.
    draining: bool,
}

impl std::fmt::Debug for HttpConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConn")
            .field("pending", &self.pending.len())
            .field("closing", &self.closing)
            .finish_non_exhaustive()
    }
}

/// What a request's answer needs after the header block.
enum After {
    Nothing,
    File(files::Send),
}

impl HttpConn {
    pub(crate) fn new(shared: Arc<Prepared>) -> Self {
        Self {
            shared,
            pending: Vec::new(),
            out: Vec::new(),
            json: Vec::new(),
            body: None,
            held: None,
            closing: false,
            head_timer: None,
            heads: 0,
            body_timer: None,
            draining: false,
        }
    }

    /// Handles what `input` holds; returns how much it consumed. Answers
    /// go to `self.out`; a file range is sent at once (after flushing
    /// `out`, so the order holds).
    fn process(&mut self, t: &mut Transport, input: &[u8]) -> usize {
        let mut pos = 0;
        loop {
            if let Some(body) = self.body.as_mut() {
                match body.consume(&input[pos..]) {
                    Ok(n) => pos += n,
                    Err(e) => {
                        self.fail(e.status, e.reason);
                        return input.len();
                    }
                }
                if !body.is_done() {
                    return pos;
                }
                self.body = None;
                if let Some((answer, after)) = self.held.take() {
                    self.out.extend_from_slice(&answer);
                    self.send_after(t, after);
                }
            }
            if self.closing || pos == input.len() {
                return pos;
            }
            let mut headers = header_slots();
            let parsed = parse_request(&input[pos..], &mut headers, &self.shared.limits);
            match parsed {
                Ok(Parsed::Partial) => return pos,
                Err(e) => {
                    self.fail(e.status, e.reason);
                    return input.len();
                }
                Ok(Parsed::Complete(req, n)) => {
                    pos += n;
                    self.heads += 1;
                    if req.expect_continue && req.framing != Framing::None {
                        self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                    }
                    if req.framing == Framing::None {
                        let after = self.answer(&req);
                        self.send_after(t, after);
                    } else {
                        // Answer once the body is in: hold the answer.
                        self.body = Some(Body::new(req.framing, self.shared.limits.max_body));
                        let batch = std::mem::take(&mut self.out);
                        let after = self.answer(&req);
                        let answer = std::mem::replace(&mut self.out, batch);
                        self.held = Some((answer, after));
                    }
                }
            }
        }
    }

    /// Sends a file range after what `out` holds (flushed first, so the
    /// order holds).
    fn send_after(&mut self, t: &mut Transport, after: After) {
        if let After::File(send) = after {
            // The batch so far (this file's header last) and the file.
            let _ = t.write_then_sendfile(&self.out, send.file, send.offset, Some(send.len));
            self.out.clear();
        }
    }

    /// Answers one request into `self.out`.
    fn answer(&mut self, req: &Request<'_>) -> After {
        let persist = if !req.keep_alive || self.draining {
            self.closing = true;
            Persist::Close
        } else if req.minor_version == 0 {
            Persist::KeepAlive10
        } else {
            Persist::Default
        };
        let out = &mut self.out;
        let head_only = req.method == Method::Head;
        // OPTIONS (`*` or a path): what may be asked.
        if req.method == Method::Options {
            response::head(out, 204, persist, None, None, ALLOW);
            return After::Nothing;
        }
        let Some(path) = req.path() else {
            // `*` or authority-form for another method.
            response::text(out, 400, persist, b"", head_only, "bad request target");
            self.closing = true;
            return After::Nothing;
        };
        if !matches!(req.method, Method::Get | Method::Head) {
            response::text(out, 405, persist, ALLOW, false, "only GET and HEAD");
            return After::Nothing;
        }
        match path {
            "/plaintext" => response::plaintext(out, persist, head_only),
            "/json" => {
                self.json.clear();
                // Serialized per request, as TechEmpower asks.
                let msg = Message {
                    message: "Hello, World!",
                };
                if serde_json::to_writer(&mut self.json, &msg).is_err() {
                    response::text(out, 500, persist, b"", head_only, "serialization failed");
                    return After::Nothing;
                }
                response::head(
                    out,
                    200,
                    persist,
                    Some("application/json"),
                    Some(self.json.len() as u64),
                    b"",
                );
                if !head_only {
                    out.extend_from_slice(&self.json);
                }
            }
            p => match (p.strip_prefix("/static/"), self.shared.root.as_ref()) {
                (Some(rel), Some(root)) => {
                    if let Some(send) = files::serve(out, root, rel, req, persist, head_only) {
                        return After::File(send);
                    }
                }
                _ => response::text(out, 404, persist, b"", head_only, "not found"),
            },
        }
        After::Nothing
    }

    /// Keeps the head timer armed exactly while a request head is
    /// incomplete; a head that completed restarts it for the next one.
    #[inline]
    fn watch_head(&mut self, t: &mut Transport, heads_before: u64) {
        if self.pending.is_empty()
            && self.head_timer.is_none()
            && self.body.is_none()
            && self.body_timer.is_none()
        {
            return; // the common case: whole requests, no timer
        }
        self.watch_head_slow(t, heads_before);
    }

    #[cold]
    #[inline(never)]
    fn watch_head_slow(&mut self, t: &mut Transport, heads_before: u64) {
        let partial = !self.pending.is_empty() && self.body.is_none() && !self.done();
        if self.heads != heads_before || !partial {
            if let Some(h) = self.head_timer.take() {
                h.cancel();
            }
        }
        // The body timer runs from each body's head: a new head (or no
        // body any more) stops the one running.
        if self.heads != heads_before || self.body.is_none() {
            if let Some(h) = self.body_timer.take() {
                h.cancel();
            }
        }
        if self.body.is_some() && self.body_timer.is_none() {
            let conn = t.handle();
            self.body_timer = Some(
                t.get_loop()
                    .call_later(self.shared.body_timeout, move |lp| {
                        lp.with_connection::<HttpConn, _>(conn, |c, t| c.body_timed_out(t));
                    }),
            );
        }
        if partial && self.head_timer.is_none() {
            let conn = t.handle();
            self.head_timer = Some(t.get_loop().call_later(
                self.shared.header_timeout,
                move |lp| {
                    lp.with_connection::<HttpConn, _>(conn, |c, t| c.head_timed_out(t));
                },
            ));
        }
    }

    /// The head timer fired: a head still incomplete gets 408 and a close.
    fn head_timed_out(&mut self, t: &mut Transport) {
        self.head_timer = None;
        if self.pending.is_empty() || self.body.is_some() || self.done() {
            return;
        }
        self.fail(408, "the request head took too long");
        self.pending = Vec::new();
        let _ = t.write(&self.out);
        self.out.clear();
        t.close();
    }

    /// The body timer fired: a body still incomplete gets 408 and a close.
    fn body_timed_out(&mut self, t: &mut Transport) {
        self.body_timer = None;
        if self.body.is_none() {
            return;
        }
        self.fail(408, "the request body took too long");
        self.pending = Vec::new();
        let _ = t.write(&self.out);
        self.out.clear();
        t.close();
    }

    /// Draining, with no request under way (nothing of a head or a body
    /// received, no answer held).
    fn idle_while_draining(&self) -> bool {
        self.draining && self.pending.is_empty() && self.body.is_none() && self.held.is_none()
    }

    /// The last answer said close and nothing of its request is left to
    /// consume: the rest of the input is ignored, the connection closes.
    fn done(&self) -> bool {
        self.closing && self.body.is_none()
    }

    /// A request that cannot be framed: answer `status`, then close.
    fn fail(&mut self, status: u16, reason: &str) {
        response::text(&mut self.out, status, Persist::Close, b"", false, reason);
        self.closing = true;
        self.body = None;
        self.held = None;
    }
}

#[derive(serde::Serialize)]
struct Message {
    message: &'static str,
}

impl Protocol for HttpConn {
    fn connection_made(&mut self, transport: &mut Transport) {
        response::keep_date_fresh(transport.get_loop());
    }

    fn data_received(&mut self, transport: &mut Transport, data: &[u8]) {
        if self.closing && self.body.is_none() {
            return; // answered with close: the rest is ignored
        }
        let heads_before = self.heads;
        if self.pending.is_empty() {
            // The common case: parse straight from the read buffer.
            let used = self.process(transport, data);
            if used < data.len() && !self.done() {
                self.pending.extend_from_slice(&data[used..]);
            }
        } else {
            let mut input = std::mem::take(&mut self.pending);
            input.extend_from_slice(data);
            let used = self.process(transport, &input);
            input.drain(..used);
            if !self.done() {
                self.pending = input;
            }
        }
        if self.pending.len() > self.shared.limits.max_head + MAX_PENDING_SLACK {
            // A head or chunk line that never ends.
            self.fail(431, "request too large");
            self.pending = Vec::new();
        }
        self.watch_head(transport, heads_before);
        if !self.out.is_empty() {
            let _ = transport.write(&self.out);
            self.out.clear();
        }
        if self.done() || self.idle_while_draining() {
            self.pending = Vec::new();
            transport.close();
        }
    }

    /// The server drains (P11): an idle keep-alive connection closes at
    /// once; one with a request under way finishes it, answers it with
    /// `Connection: close` and closes.
    fn drain_started(&mut self, transport: &mut Transport) {
        self.draining = true;
        if self.idle_while_draining() {
            transport.close();
        }
    }

    fn connection_lost(&mut self, _transport: &mut Transport, _error: Option<std::io::Error>) {
        if let Some(h) = self.head_timer.take() {
            h.cancel();
        }
        if let Some(h) = self.body_timer.take() {
            h.cancel();
        }
    }

    fn eof_received(&mut self, _transport: &mut Transport) -> bool {
        // The client finished sending; what we queued still goes out.
        false
    }

    fn pause_writing(&mut self, transport: &mut Transport) {
        // A client that pipelines without reading: stop reading too.
        transport.pause_reading();
    }

    fn resume_writing(&mut self, transport: &mut Transport) {
        transport.resume_reading();
    }
}
