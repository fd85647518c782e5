//! HTTP/1.1 request framing (RFC 9112), without IO: the one codec shardloop
//! speaks HTTP with — the `http` app and the metrics endpoint both parse
//! with it.
//!
//! [`parse_request`] takes the bytes received so far and returns a complete
//! request head (borrowing from them) or asks for more; every rule that
//! decides whether a message can be framed safely is applied there, each
//! failure carrying the status to answer with before closing:
//!
//! * the head is parsed by `httparse`; a malformed one is 400, an HTTP
//!   version other than 1.0/1.1 is 505;
//! * a head bigger than [`Limits::max_head`] or with more than
//!   [`Limits::max_headers`] fields is 431, a target longer than
//!   [`Limits::max_uri`] is 414, a body over [`Limits::max_body`] is 413;
//! * an unknown method is 501;
//! * HTTP/1.1 without exactly one `Host` is 400;
//! * `Content-Length` with `Transfer-Encoding`, `Content-Length`s that
//!   disagree or do not parse, a `Transfer-Encoding` whose last coding is
//!   not `chunked`: 400; another coding before `chunked`: 501;
//! * keep-alive is the default in HTTP/1.1 (`Connection: close` ends it),
//!   and in HTTP/1.0 only with `Connection: keep-alive`.
//!
//! A request's body is framed by [`Body`], which consumes (and discards)
//! a `Content-Length` or chunked body — so a handler that ignores the body
//! still leaves the connection at the next request.

mod body;
mod date;

pub use body::Body;
pub use date::{http_date, DATE_LEN};

/// Size limits on a request. The defaults are nginx's orders of magnitude.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest request head (request line and header fields), bytes.
    pub max_head: usize,
    /// Longest request target, bytes.
    pub max_uri: usize,
    /// Most header fields.
    pub max_headers: usize,
    /// Largest request body, bytes (chunked bodies count their data).
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head: 8 * 1024,
            max_uri: 4 * 1024,
            max_headers: 64,
            max_body: 1024 * 1024,
        }
    }
}

/// Most header fields [`parse_request`] can take at all (the size of the
/// array the caller lends it).
pub const MAX_HEADERS: usize = 256;

/// A request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
    /// `TRACE`
    Trace,
    /// `CONNECT`
    Connect,
    /// `PATCH`
    Patch,
}

impl Method {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "TRACE" => Method::Trace,
            "CONNECT" => Method::Connect,
            "PATCH" => Method::Patch,
            _ => return None,
        })
    }
}

/// How a request's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head, borrowing the received bytes.
#[derive(Debug)]
#[non_exhaustive]
pub struct Request<'a> {
    /// The method.
    pub method: Method,
    /// The request target as sent (origin-form `/path?query`, absolute-form
    /// `http://host/path`, or `*`).
    pub target: &'a str,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
    /// How the body that follows the head is framed.
    pub framing: Framing,
    /// `Expect: 100-continue` (HTTP/1.1).
    pub expect_continue: bool,
    /// Every header field, in order.
    pub headers: &'a [httparse::Header<'a>],
}

impl Request<'_> {
    /// The value of the first header field named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// The path of the target: origin-form without its query, or the path
    /// of an absolute-form target (`http://host/p` → `/p`); `None` for
    /// `*` and authority-form.
    pub fn path(&self) -> Option<&str> {
        let t = self.target;
        let t = if t.starts_with('/') {
            t
        } else {
            let rest = t
                .strip_prefix("http://")
                .or_else(|| t.strip_prefix("https://"))?;
            match rest.find('/') {
                Some(i) => &rest[i..],
                None => "/",
            }
        };
        // A byte scan: cheaper than a char-pattern split on the hot path.
        let end = t
            .bytes()
            .position(|b| b == b'?' || b == b'#')
            .unwrap_or(t.len());
        Some(&t[..end])
    }
}

/// What [`parse_request`] found.
#[derive(Debug)]
pub enum Parsed<'a> {
    /// A whole head: the request, and how many bytes it took.
    Complete(Request<'a>, usize),
    /// Not a whole head yet: read more.
    Partial,
}

/// Why a request cannot be served: the status to answer with, after
/// which the connection is closed (its framing can no longer be trusted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{status} {reason}")]
#[non_exhaustive]
pub struct HttpError {
    /// The status code to answer with.
    pub status: u16,
    /// The reason phrase (and a short explanation for the body).
    pub reason: &'static str,
}

impl HttpError {
    const fn new(status: u16, reason: &'static str) -> Self {
        Self { status, reason }
    }
}

/// 400
pub const BAD_REQUEST: HttpError = HttpError::new(400, "Bad Request");
pub(crate) const TOO_LARGE: HttpError = HttpError::new(413, "Content Too Large");
const URI_TOO_LONG: HttpError = HttpError::new(414, "URI Too Long");
const HEADERS_TOO_LARGE: HttpError = HttpError::new(431, "Request Header Fields Too Large");
const NOT_IMPLEMENTED: HttpError = HttpError::new(501, "Not Implemented");
const BAD_VERSION: HttpError = HttpError::new(505, "HTTP Version Not Supported");

/// Field storage for [`parse_request`]: uninitialized, so making one
/// costs nothing per request.
pub type HeaderSlots<'a> = [std::mem::MaybeUninit<httparse::Header<'a>>; MAX_HEADERS];

/// Empty [`HeaderSlots`].
pub fn header_slots<'a>() -> HeaderSlots<'a> {
    [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS]
}

/// Parses the request head at the start of `buf`, with `headers` as the
/// field storage (at most [`Limits::max_headers`] are used). See the
/// module's rules.
pub fn parse_request<'a>(
    buf: &'a [u8],
    headers: &'a mut [std::mem::MaybeUninit<httparse::Header<'a>>],
    limits: &Limits,
) -> Result<Parsed<'a>, HttpError> {
    let n = limits.max_headers.min(headers.len()).min(MAX_HEADERS);
    let mut req = httparse::Request::new(&mut []);
    let status = match req.parse_with_uninit_headers(buf, &mut headers[..n]) {
        Ok(s) => s,
        Err(httparse::Error::TooManyHeaders) => return Err(HEADERS_TOO_LARGE),
        Err(httparse::Error::Version) => return Err(BAD_VERSION),
        Err(_) => return Err(BAD_REQUEST),
    };
    let head_len = match status {
        httparse::Status::Partial => {
            // Still in the request line: its target may be what is long.
            if !buf.contains(&b'\n') && buf.len() > limits.max_uri + 32 {
                return Err(URI_TOO_LONG);
            }
            if buf.len() >= limits.max_head {
                return Err(HEADERS_TOO_LARGE);
            }
            return Ok(Parsed::Partial);
        }
        httparse::Status::Complete(len) => len,
    };
    if head_len > limits.max_head {
        return Err(HEADERS_TOO_LARGE);
    }
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(BAD_REQUEST);
    };
    if target.len() > limits.max_uri {
        return Err(URI_TOO_LONG);
    }
    let method = Method::parse(method).ok_or(NOT_IMPLEMENTED)?;
    let headers: &'a [httparse::Header<'a>] = req.headers;

    let mut hosts = 0;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut close = false;
    let mut keep_alive = false;
    let mut expect_continue = false;
    for h in headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("content-length") {
            for v in h.value.split(|b| *b == b',') {
                let v = trim(v);
                if v.is_empty() || !v.iter().all(u8::is_ascii_digit) || v.len() > 19 {
                    return Err(BAD_REQUEST);
                }
                let n: u64 = std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or(BAD_REQUEST)?;
                if length.is_some_and(|l| l != n) {
                    return Err(BAD_REQUEST);
                }
                length = Some(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
            // Codings in order, across repeated fields; chunked must be
            // the last, and we decode nothing else.
            for coding in h.value.split(|b| *b == b',') {
                let coding = trim(coding);
                if coding.is_empty() {
                    continue;
                }
                if chunked {
                    return Err(BAD_REQUEST); // something after chunked
                }
                if coding.eq_ignore_ascii_case(b"chunked") {
                    chunked = true;
                } else {
                    return Err(NOT_IMPLEMENTED);
                }
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|b| *b == b',') {
                let token = trim(token);
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if trim(h.value).eq_ignore_ascii_case(b"100-continue") {
                expect_continue = true;
            } else {
                return Err(HttpError::new(417, "Expectation Failed"));
            }
        }
    }
    if minor_version == 1 && hosts != 1 {
        return Err(BAD_REQUEST);
    }
    if hosts > 1 {
        return Err(BAD_REQUEST);
    }
    let framing = match (transfer_encoding, length) {
        (true, Some(_)) => return Err(BAD_REQUEST),
        (true, None) if !chunked => return Err(BAD_REQUEST),
        (true, None) if minor_version == 0 => return Err(BAD_REQUEST),
        (true, None) => Framing::Chunked,
        (false, Some(0)) | (false, None) => Framing::None,
        (false, Some(n)) if n > limits.max_body => return Err(TOO_LARGE),
        (false, Some(n)) => Framing::Length(n),
    };
    let keep_alive = if minor_version == 1 {
        !close
    } else {
        keep_alive && !close
    };
    Ok(Parsed::Complete(
        Request {
            method,
            target,
            minor_version,
            keep_alive,
            framing,
            expect_continue: expect_continue && minor_version == 1,
            headers,
        },
        head_len,
    ))
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &v[start..end]
}

/// The reason phrase of a status code this crate answers with.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests;
