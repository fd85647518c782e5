//! `http`: an HTTP/1.1 server app — TechEmpower's plaintext and JSON
//! tests, and static files from a directory with `sendfile`.
//!
//! * `GET`/`HEAD /plaintext` → `Hello, World!` (`text/plain`);
//!   `GET`/`HEAD /json` → `{"message":"Hello, World!"}`, serialized per
//!   request (`application/json`); each with `Server`, `Date`,
//!   `Content-Type` and `Content-Length`.
//! * `/static/<path>` → the file at `<path>` under `root` (when set):
//!   `Content-Type` by extension, `Last-Modified`, `If-Modified-Since` →
//!   304, one `Range` → 206 (416 when unsatisfiable), 404 for anything
//!   missing or not a regular file (no listings). Nothing outside `root` is
//!   ever served: the path is percent-decoded once, must not hold NUL, `..`
//!   or `.` segments, and is opened with [`shardloop::fs::Root`], which the
//!   kernel keeps inside the directory (symlinks included).
//!
//! Framing follows RFC 9112 through [`shardloop::http`]: keep-alive by
//! version, `Connection: close`, pipelining answered in order with one
//! write per batch, bodies consumed even though no route reads them,
//! `Expect: 100-continue`, and a 4xx/5xx plus close for anything that
//! cannot be framed safely.
//!
//! Options (`[listener.http]`): `root` (absent: no static files),
//! `max_head`, `max_uri`, `max_headers`, `max_body`, `header_timeout`,
//! `body_timeout`.

mod conn;
mod files;
mod response;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use shardloop::app::AppOptions;

pub use conn::HttpConn;

/// `[listener.http]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpOptions {
    /// The directory served under `/static/`, relative to the
    /// configuration file's folder; absent: no static files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<PathBuf>,
    /// Largest request head, bytes (431 above). Default 8 KiB.
    #[serde(with = "shardloop::config::size")]
    pub max_head: usize,
    /// Longest request target, bytes (414 above). Default 4 KiB.
    #[serde(with = "shardloop::config::size")]
    pub max_uri: usize,
    /// Most header fields in a request (431 above). Default 64.
    pub max_headers: usize,
    /// Largest request body, bytes (413 above). Default 1 MiB.
    #[serde(with = "shardloop::config::size")]
    pub max_body: usize,
    /// How long a request head may take to arrive once it has begun
    /// (nginx's `client_header_timeout`): a client that trickles a head
    /// byte by byte gets 408 and a close, which the idle timeout (reset by
    /// every byte) would never do. Default 30 s.
    #[serde(with = "shardloop::config::duration")]
    pub header_timeout: std::time::Duration,
    /// How long a request body may take to arrive once its head is in: a
    /// client that trickles a body gets 408 and a close, so it holds its
    /// connection no longer than this (the idle timeout, reset by every
    /// byte, would not cut it). Default 60 s.
    #[serde(with = "shardloop::config::duration")]
    pub body_timeout: std::time::Duration,
    /// The opened root, once per listener.
    #[serde(skip)]
    prepared: OnceLock<Arc<Prepared>>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        let l = shardloop::http::Limits::default();
        Self {
            root: None,
            max_head: l.max_head,
            max_uri: l.max_uri,
            max_headers: l.max_headers,
            max_body: l.max_body as usize,
            header_timeout: std::time::Duration::from_secs(30),
            body_timeout: std::time::Duration::from_secs(60),
            prepared: OnceLock::new(),
        }
    }
}

impl AppOptions for HttpOptions {
    fn paths_mut(&mut self) -> Vec<&mut PathBuf> {
        self.root.iter_mut().collect()
    }

    fn validate(&self) -> Result<(), (String, String)> {
        if !(1024..=1 << 20).contains(&self.max_head) {
            return Err((
                "max_head".into(),
                format!("{} is not allowed: 1 KiB to 1 MiB", self.max_head),
            ));
        }
        if !(64..=self.max_head).contains(&self.max_uri) {
            return Err((
                "max_uri".into(),
                format!("{} is not allowed: 64 bytes to max_head", self.max_uri),
            ));
        }
        if !(1..=shardloop::http::MAX_HEADERS).contains(&self.max_headers) {
            return Err((
                "max_headers".into(),
                format!(
                    "{} is not allowed: 1 to {}",
                    self.max_headers,
                    shardloop::http::MAX_HEADERS
                ),
            ));
        }
        for (key, value) in [
            ("header_timeout", self.header_timeout),
            ("body_timeout", self.body_timeout),
        ] {
            if !(std::time::Duration::from_millis(100)..=std::time::Duration::from_secs(3600))
                .contains(&value)
            {
                return Err((
                    key.into(),
                    format!(
                        "{} is not allowed: 100ms to 1h",
                        humantime::format_duration(value)
                    ),
                ));
            }
        }
        if self.max_body > 1 << 30 {
            return Err((
                "max_body".into(),
                format!("{} is not allowed: at most 1 GiB", self.max_body),
            ));
        }
        if let Some(root) = &self.root {
            if let Err(e) = shardloop::fs::Root::new(root) {
                return Err((
                    "root".into(),
                    format!("cannot serve {}: {e}", root.display()),
                ));
            }
        }
        Ok(())
    }
}

/// What every connection of a listener shares.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) root: Option<shardloop::fs::Root>,
    pub(crate) limits: shardloop::http::Limits,
    pub(crate) header_timeout: std::time::Duration,
    pub(crate) body_timeout: std::time::Duration,
}

impl HttpOptions {
    /// The listener's shared state, made on first use (the root opened
    /// once, not per connection).
    pub(crate) fn prepared(&self) -> Arc<Prepared> {
        Arc::clone(self.prepared.get_or_init(|| {
            let root = self.root.as_ref().and_then(|r| match shardloop::fs::Root::new(r) {
                Ok(root) => Some(root),
                Err(e) => {
                    tracing::error!(root = %r.display(), error = %e, "cannot open the static root; no static files");
                    None
                }
            });
            Arc::new(Prepared {
                root,
                limits: {
                    let mut l = shardloop::http::Limits::default();
                    l.max_head = self.max_head;
                    l.max_uri = self.max_uri;
                    l.max_headers = self.max_headers;
                    l.max_body = self.max_body as u64;
                    l
                },
                header_timeout: self.header_timeout,
                body_timeout: self.body_timeout,
            })
        }))
    }
}

/// A new connection's protocol.
pub fn protocol(options: &HttpOptions) -> HttpConn {
    HttpConn::new(options.prepared())
}
