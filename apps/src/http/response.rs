//! Response bytes: the shard's `Date`, refreshed once a second by a timer,
//! and the header block of every response.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime};

use shardloop::http::{http_date, reason, DATE_LEN};
use shardloop::{EventLoop, LoopHandle};

thread_local! {
    /// This shard's `Date` value.
    static DATE: Cell<[u8; DATE_LEN]> = Cell::new(http_date(SystemTime::now()));
    /// When the refresh timer last ran on this thread.
    static REFRESHED: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Makes sure this shard's `Date` is kept fresh: arms the once-a-second
/// timer on `lp` unless it runs (a new loop on the thread re-arms it).
pub(crate) fn keep_date_fresh(lp: &LoopHandle) {
    let stale = REFRESHED.with(|r| r.get().is_none_or(|t| t.elapsed() > Duration::from_secs(2)));
    if stale {
        refresh();
        lp.call_later(until_next_second(), tick);
    }
}

fn tick(lp: &mut EventLoop) {
    refresh();
    lp.call_later(until_next_second(), tick);
}

fn refresh() {
    DATE.with(|d| d.set(http_date(SystemTime::now())));
    REFRESHED.with(|r| r.set(Some(Instant::now())));
}

fn until_next_second() -> Duration {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_nanos(1_000_000_000 - u64::from(now.subsec_nanos())) + Duration::from_millis(1)
}

/// The current `Date` value.
#[inline]
pub(crate) fn date() -> [u8; DATE_LEN] {
    DATE.with(Cell::get)
}

/// How the response speaks of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Persist {
    /// HTTP/1.1 keep-alive: nothing to say.
    Default,
    /// HTTP/1.0 keep-alive: `Connection: keep-alive`.
    KeepAlive10,
    /// Last response: `Connection: close`.
    Close,
}

impl Persist {
    fn header(self) -> &'static [u8] {
        match self {
            Persist::Default => b"",
            Persist::KeepAlive10 => b"Connection: keep-alive\r\n",
            Persist::Close => b"Connection: close\r\n",
        }
    }
}

/// The plaintext response up to its `Date` value, precomputed.
const PLAIN_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nServer: shardloop\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nDate: ";
/// The plaintext body.
pub(crate) const PLAIN_BODY: &[u8] = b"Hello, World!";

/// `GET /plaintext` (or HEAD without the body): no allocation once `out`
/// has grown.
#[inline]
pub(crate) fn plaintext(out: &mut Vec<u8>, persist: Persist, head_only: bool) {
    out.extend_from_slice(PLAIN_HEAD);
    out.extend_from_slice(&date());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(persist.header());
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(PLAIN_BODY);
    }
}

/// A header block: status line, `Server`, `Date`, the connection header,
/// `extra` (complete lines), then `Content-Type` and `Content-Length` when
/// given, and the empty line.
pub(crate) fn head(
    out: &mut Vec<u8>,
    status: u16,
    persist: Persist,
    content_type: Option<&str>,
    length: Option<u64>,
    extra: &[u8],
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\nServer: shardloop\r\nDate: ");
    out.extend_from_slice(&date());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(persist.header());
    out.extend_from_slice(extra);
    if let Some(ct) = content_type {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(ct.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(n) = length {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// A short text response (errors, 404…): its body is the reason phrase
/// and `detail`.
pub(crate) fn text(
    out: &mut Vec<u8>,
    status: u16,
    persist: Persist,
    extra: &[u8],
    head_only: bool,
    detail: &str,
) {
    let body_len = reason(status).len() + 1 + detail.len() + 1;
    head(
        out,
        status,
        persist,
        Some("text/plain; charset=utf-8"),
        Some(body_len as u64),
        extra,
    );
    if !head_only {
        out.extend_from_slice(reason(status).as_bytes());
        out.push(b' ');
        out.extend_from_slice(detail.as_bytes());
        out.push(b'\n');
    }
}
