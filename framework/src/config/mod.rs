//! Service configuration in TOML, parsed into validated types (parse, don't
//! validate): unknown keys are rejected, sizes and durations take human
//! units, and every error names the file, the key path and the line and
//! column, and says what is allowed.
//!
//! Every number has a maximum, so a configuration `check` accepts can be
//! served: durations at most 24 hours ([`MAX_DURATION`]), write-buffer marks
//! and UDP socket buffers at most 1 GiB ([`MAX_BUFFER`]), `shards` at most
//! [`MAX_SHARDS`], `max_connections` at most [`MAX_CONNECTIONS`], `backlog`
//! at most 65535, `udp_batch` at most 1024. Two listeners (or a listener and
//! `[metrics]`) on the same address and port — a wildcard address counts as
//! every address of its family — or on the same Unix path are an error, as
//! are two UDP listeners on the same port.
//!
//! ```toml
//! [runtime]
//! shards = "auto"            # or an integer >= 1
//! pin_cores = true
//! udp_batch = 16             # datagrams per recvmmsg/sendmmsg; 1: no batching
//! control_socket = "/run/shardloop/control.sock"  # optional: serve --takeover
//! [limits]
//! write_buffer_high = "64KiB"
//! write_buffer_low = "16KiB"
//! max_connections = 100000   # 0: no limit
//! idle_timeout = "60s"       # 0 or absent: none
//! drain_timeout = "10s"
//! drain_delay = "0s"        # /ready 503 but still accepting, before the drain
//! [log]
//! level = "info"             # trace | debug | info | warn | error | off
//! format = "text"            # text | json
//! [metrics]
//! address = "127.0.0.1:9100" # optional
//! [[listener]]
//! name = "echo"
//! address = "127.0.0.1:8888" # or "unix:/path"
//! app = "echo"
//! distribution = "round-robin"   # | "least-connections" | "reuseport"
//! backlog = 1024
//! protocol = "tcp"           # | "udp" | "tls"
//! udp_recv_buffer = "4MiB"   # protocol = "udp" only: SO_RCVBUF (default 4 MiB)
//! udp_send_buffer = "4MiB"   # protocol = "udp" only: SO_SNDBUF (default 4 MiB)
//! [listener.tls]             # with protocol = "tls"
//! cert = "tls/cert.pem"      # paths relative to this file's folder
//! key = "tls/key.pem"
//! client_ca = "tls/ca.pem"   # optional: mTLS
//! client_auth = "required"   # none | optional | required
//! alpn = ["http/1.1"]
//! handshake_timeout = "10s"
//! ```

pub(crate) mod keys;
mod raw;
mod sections;
mod tls;

pub use sections::{LimitsSection, LogLevel, LogSection, MetricsSection, RuntimeSection};
pub use tls::TlsListenerConfig;

use std::collections::HashSet;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use crate::runtime::Distribution;
use raw::{IntOrText, RawConfig, RawListener};

/// Why a configuration was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A key is missing, unknown or has a value that is not allowed.
    #[error("{origin}:{line}:{column}: {key}: {message}")]
    Invalid {
        /// The file (or other origin) of the text.
        origin: String,
        /// Dotted key path, e.g. `limits.write_buffer_low` or `listener[1].app`.
        key: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong and what is allowed.
        message: String,
    },
}

/// Serde helpers for sizes in app options: `#[serde(with =
/// "shardloop::config::size")]` takes bytes as an integer or text with
/// units (`"64KiB"`, `"1GiB"`), as the rest of the configuration does, and
/// writes them back exactly (`"1GiB"`, or plain bytes).
pub mod size {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Reads an integer or a size with units.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum IntOrText {
            Int(u64),
            Text(String),
        }
        match IntOrText::deserialize(d)? {
            IntOrText::Int(n) => usize::try_from(n).map_err(serde::de::Error::custom),
            IntOrText::Text(t) => t
                .parse::<bytesize::ByteSize>()
                .map(|b| b.as_u64() as usize)
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "\"{t}\" is not a size: bytes, or e.g. \"64KiB\", \"1MiB\""
                    ))
                }),
        }
    }

    /// Writes the size exactly, in the largest unit that divides it.
    pub fn serialize<S: Serializer>(n: &usize, s: S) -> Result<S::Ok, S::Error> {
        let text = super::show_size(*n);
        match text.parse::<u64>() {
            Ok(v) => s.serialize_u64(v),
            Err(_) => s.serialize_str(&text),
        }
    }
}

/// What an application says is wrong with its `[listener.<app>]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    /// The key at fault, inside the app's table (`None`: the table itself).
    pub key: Option<String>,
    /// What is wrong and what is allowed.
    pub message: String,
}

/// The applications a configuration may name, and the check of their
/// options: what `check` and `serve` both consult, so they cannot disagree.
/// [`crate::app::Apps`] is the registry the server uses; a plain list of
/// names (`&["echo", "discard"]`) is a catalog of apps without options.
pub trait AppCatalog {
    /// The app names, for `app = "…"`.
    fn app_names(&self) -> Vec<String>;
    /// Validates the `[listener.<app>]` table of a listener (`None` when
    /// absent) and returns the effective options, every default filled in,
    /// as `check` prints them (`None`: the app takes no options).
    fn app_options(
        &self,
        app: &str,
        given: Option<&toml::Table>,
    ) -> Result<Option<toml::Table>, OptionError>;
    /// Whether `app` serves datagram (UDP, `datagram` true) or stream
    /// listeners.
    fn app_serves(&self, _app: &str, _datagram: bool) -> bool {
        true
    }
}

impl AppCatalog for [&str] {
    fn app_names(&self) -> Vec<String> {
        self.iter().map(|s| s.to_string()).collect()
    }

    fn app_options(
        &self,
        app: &str,
        given: Option<&toml::Table>,
    ) -> Result<Option<toml::Table>, OptionError> {
        match given {
            None => Ok(None),
            Some(_) => Err(OptionError {
                key: None,
                message: format!("the app \"{app}\" takes no options"),
            }),
        }
    }
}

/// How many shards to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardCount {
    /// One per core this process may run on.
    Auto,
    /// Exactly this many (>= 1).
    Count(usize),
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Where a listener listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    /// TCP on an IP address and port.
    Inet(SocketAddr),
    /// A Unix stream socket at a path (`"unix:/path"`).
    Unix(PathBuf),
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddress::Inet(a) => write!(f, "{a}"),
            ListenAddress::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// The transport protocol of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListenProtocol {
    /// TCP (or a Unix stream socket).
    #[default]
    Tcp,
    /// UDP: every shard binds its own `SO_REUSEPORT` socket.
    Udp,
    /// TLS over TCP, settings in `[listener.tls]`.
    Tls,
}

/// One `[[listener]]`: an address served by a named application.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ListenerConfig {
    /// Unique name, used in logs and metrics.
    pub name: String,
    /// Where to listen.
    pub address: ListenAddress,
    /// The application serving it, by name.
    pub app: String,
    /// `protocol`: `"tcp"` (default), `"udp"` or `"tls"`.
    pub protocol: ListenProtocol,
    /// `[listener.tls]`, present exactly when `protocol = "tls"`.
    pub tls: Option<TlsListenerConfig>,
    /// How connections are spread over shards.
    pub distribution: Distribution,
    /// `listen()` backlog.
    pub backlog: u32,
    /// `udp_recv_buffer`: `SO_RCVBUF` of a UDP listener's sockets (bytes).
    pub udp_recv_buffer: usize,
    /// `udp_send_buffer`: `SO_SNDBUF` of a UDP listener's sockets (bytes).
    pub udp_send_buffer: usize,
    /// `[listener.<app>]`: the app's own options, effective (defaults
    /// filled in by the app); `None` for an app without options.
    pub options: Option<toml::Table>,
}

/// A validated configuration, shaped as the file: one field per section.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// `[runtime]`.
    pub runtime: RuntimeSection,
    /// `[limits]`.
    pub limits: LimitsSection,
    /// `[log]`.
    pub log: LogSection,
    /// `[metrics]`, if the file has it.
    pub metrics: Option<MetricsSection>,
    /// `[[listener]]`, in file order.
    pub listeners: Vec<ListenerConfig>,
}

/// Longest duration any key takes (`idle_timeout`, `drain_timeout`,
/// `handshake_timeout`): 24 hours.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);
/// Largest write-buffer mark or UDP socket buffer: 1 GiB.
pub const MAX_BUFFER: usize = 1 << 30;
/// Most shards (`[runtime] shards`).
pub const MAX_SHARDS: usize = 1024;
/// Largest `[limits] max_connections`.
pub const MAX_CONNECTIONS: usize = 1 << 24;
/// Default `udp_recv_buffer` and `udp_send_buffer`: 4 MiB, so bursts of
/// large datagrams are not dropped by the kernel's 208 KiB default.
pub const DEFAULT_UDP_BUFFER: usize = 4 << 20;

impl Config {
    /// Reads and validates the file at `path`; `apps` are the application
    /// names a listener may use.
    pub fn from_file(path: &Path, apps: &(impl AppCatalog + ?Sized)) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let v = Validator {
            text: &text,
            origin: &path.display().to_string(),
            base: path.parent(),
        };
        v.parse(apps)
    }

    /// Validates `text`; `origin` names it in errors (a file path).
    /// Relative file paths in it are taken from the current directory.
    pub fn parse(
        text: &str,
        origin: &str,
        apps: &(impl AppCatalog + ?Sized),
    ) -> Result<Self, ConfigError> {
        let v = Validator {
            text,
            origin,
            base: None,
        };
        v.parse(apps)
    }
}

pub(crate) struct Validator<'a> {
    text: &'a str,
    origin: &'a str,
    /// The configuration file's folder: relative paths start there.
    base: Option<&'a Path>,
}

impl Validator<'_> {
    fn parse(&self, apps: &(impl AppCatalog + ?Sized)) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(self.text).map_err(|e| self.toml_error(&e))?;
        self.config(raw, apps)
    }

    /// A file path of the configuration, absolute: relative paths start
    /// at the configuration file's folder (or the current directory).
    fn resolve(&self, path: &Path) -> PathBuf {
        match self.base {
            Some(base) if path.is_relative() => absolute(&base.join(path)),
            _ => absolute(path),
        }
    }

    pub(crate) fn err(
        &self,
        key: &str,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = line_col(self.text, span.start);
        ConfigError::Invalid {
            origin: self.origin.to_string(),
            key: key.to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    /// A syntax or schema error from the TOML parser, with the key path of
    /// the table it is in.
    fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let span = e.span().unwrap_or(0..0);
        let key = key_path_at(self.text, span.start);
        self.err(&key, span, e.message().trim().to_string())
    }

    fn config(
        &self,
        raw: RawConfig,
        apps: &(impl AppCatalog + ?Sized),
    ) -> Result<Config, ConfigError> {
        let runtime = RuntimeSection::read(self, &raw.runtime)?;
        let limits = LimitsSection::read(self, &raw.limits)?;
        let log = LogSection::read(self, &raw.log)?;
        let metrics = raw
            .metrics
            .as_ref()
            .map(|m| MetricsSection::read(self, m))
            .transpose()?;

        let metrics_line = raw
            .metrics
            .as_ref()
            .and_then(|m| m.address.as_ref())
            .map_or(0, |a| line_col(self.text, a.span().start).0);

        let mut listeners = Vec::with_capacity(raw.listener.len());
        let mut names = HashSet::new();
        for (i, l) in raw.listener.iter().enumerate() {
            let listener = self.listener(i, l, apps)?;
            if !names.insert(listener.name.clone()) {
                return Err(self.err(
                    &format!("listener[{i}].name"),
                    l.name.span(),
                    format!(
                        "{:?} is used by an earlier listener; names must be unique",
                        listener.name
                    ),
                ));
            }
            listeners.push(listener);
        }
        if listeners.is_empty() {
            return Err(self.err("listener", 0..0, "at least one [[listener]] is required"));
        }
        self.check_collisions(
            &raw,
            &listeners,
            metrics.as_ref().map(|m| (m.address, metrics_line)),
        )?;
        Ok(Config {
            runtime,
            limits,
            log,
            metrics,
            listeners,
        })
    }

    fn listener(
        &self,
        i: usize,
        l: &RawListener,
        apps: &(impl AppCatalog + ?Sized),
    ) -> Result<ListenerConfig, ConfigError> {
        let key = |k: &str| format!("listener[{i}].{k}");
        let name = l.name.get_ref().trim().to_string();
        if name.is_empty() {
            return Err(self.err(&key("name"), l.name.span(), "must not be empty"));
        }
        let addr_text = l.address.get_ref();
        let address = if let Some(path) = addr_text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(self.err(
                    &key("address"),
                    l.address.span(),
                    "\"unix:\" needs a path, e.g. \"unix:/run/echo.sock\"",
                ));
            }
            ListenAddress::Unix(absolute(Path::new(path)))
        } else {
            let resolved = addr_text.to_socket_addrs().ok().and_then(|mut a| a.next());
            ListenAddress::Inet(resolved.ok_or_else(|| {
                self.err(
                    &key("address"),
                    l.address.span(),
                    format!("{addr_text:?} is not \"host:port\" or \"unix:/path\""),
                )
            })?)
        };
        let app = l.app.get_ref().clone();
        let names = apps.app_names();
        if !names.contains(&app) {
            return Err(self.err(
                &key("app"),
                l.app.span(),
                format!("unknown app \"{app}\": one of {}", names.join(", ")),
            ));
        }
        let mut given = None;
        for (k, v) in &l.rest {
            match v {
                toml::Value::Table(t) if *k == app => given = Some(t),
                _ => {
                    let span = self.span_of(&["listener", &i.to_string(), k]);
                    let hint = if names.contains(k) {
                        format!("[listener.{k}] holds the options of app \"{k}\", but this listener serves \"{app}\"")
                    } else {
                        format!("unknown field `{k}`: a listener takes name, address, app, protocol, distribution, backlog, udp_recv_buffer, udp_send_buffer, tls, and [listener.{app}] for its app's options")
                    };
                    return Err(self.err(&key(k), span.unwrap_or(l.name.span()), hint));
                }
            }
        }
        let options = apps.app_options(&app, given).map_err(|e| {
            let mut path = vec!["listener".to_string(), i.to_string(), app.clone()];
            path.extend(e.key.clone());
            let refs: Vec<&str> = path.iter().map(String::as_str).collect();
            let span = self
                .span_of(&refs)
                .or_else(|| self.span_of(&refs[..3]))
                .unwrap_or(l.app.span());
            let at = match &e.key {
                Some(k) => format!("{app}.{k}"),
                None => app.clone(),
            };
            self.err(&key(&at), span, e.message)
        })?;
        let protocol = match l
            .protocol
            .as_ref()
            .map(|p| (p.get_ref().as_str(), p.span()))
        {
            None | Some(("tcp", _)) => ListenProtocol::Tcp,
            Some(("tls", span)) => {
                if matches!(address, ListenAddress::Unix(_)) {
                    return Err(self.err(
                        &key("protocol"),
                        span,
                        "\"tls\" needs an IP address, not a Unix socket",
                    ));
                }
                if l.tls.is_none() {
                    return Err(self.err(
                        &key("protocol"),
                        span,
                        "\"tls\" needs a [listener.tls] table with cert and key",
                    ));
                }
                ListenProtocol::Tls
            }
            Some(("udp", span)) => {
                if matches!(address, ListenAddress::Unix(_)) {
                    return Err(self.err(
                        &key("protocol"),
                        span,
                        "\"udp\" needs an IP address, not a Unix socket",
                    ));
                }
                if let Some(d) = l
                    .distribution
                    .as_ref()
                    .filter(|d| d.get_ref() != "reuseport")
                {
                    return Err(self.err(
                        &key("distribution"),
                        d.span(),
                        "UDP listeners always use \"reuseport\" (every shard binds the address)",
                    ));
                }
                ListenProtocol::Udp
            }
            Some((other, span)) => {
                return Err(self.err(
                    &key("protocol"),
                    span,
                    format!("{other:?} is not supported: \"tcp\", \"udp\" or \"tls\""),
                ))
            }
        };
        let distribution = match l.distribution.as_ref().map(|d| (d.get_ref().as_str(), d.span())) {
            None | Some(("round-robin", _)) => Distribution::RoundRobin,
            Some(("least-connections", _)) => Distribution::LeastConnections,
            Some(("reuseport", span)) => {
                if matches!(address, ListenAddress::Unix(_)) {
                    return Err(self.err(&key("distribution"), span, "\"reuseport\" needs a TCP address, not a Unix socket"));
                }
                Distribution::ReusePort
            }
            Some((other, span)) => {
                return Err(self.err(
                    &key("distribution"),
                    span,
                    format!("{other:?} is not allowed: \"round-robin\", \"least-connections\" or \"reuseport\""),
                ))
            }
        };
        let backlog = match &l.backlog {
            None => 1024,
            Some(b) if (1..=65535).contains(b.get_ref()) => *b.get_ref() as u32,
            Some(b) => {
                return Err(self.err(&key("backlog"), b.span(), "must be between 1 and 65535"))
            }
        };
        let udp_buffer = |v: &Option<Spanned<IntOrText>>, k: &str| match v {
            None => Ok(DEFAULT_UDP_BUFFER),
            Some(_) if protocol != ListenProtocol::Udp => Err(self.err(
                &key(k),
                v.as_ref().map_or(0..0, |v| v.span()),
                format!("{k} needs protocol = \"udp\""),
            )),
            Some(v) => match self.size(&key(k), v, MAX_BUFFER)? {
                0 => Err(self.err(&key(k), v.span(), "must be more than 0")),
                n => Ok(n),
            },
        };
        let udp_recv_buffer = udp_buffer(&l.udp_recv_buffer, "udp_recv_buffer")?;
        let udp_send_buffer = udp_buffer(&l.udp_send_buffer, "udp_send_buffer")?;
        if !apps.app_serves(&app, protocol == ListenProtocol::Udp) {
            let what = if protocol == ListenProtocol::Udp {
                "UDP"
            } else {
                "stream (TCP, TLS, Unix)"
            };
            let span = l.protocol.as_ref().map_or(l.app.span(), |p| p.span());
            return Err(self.err(
                &key("protocol"),
                span,
                format!("the app \"{app}\" does not serve {what} listeners"),
            ));
        }
        let distribution = if protocol == ListenProtocol::Udp {
            Distribution::ReusePort
        } else {
            distribution
        };
        let tls = match (&l.tls, protocol) {
            (Some(t), ListenProtocol::Tls) => Some(self.tls(i, t.get_ref())?),
            (Some(t), _) => {
                return Err(self.err(
                    &key("tls"),
                    t.span(),
                    "a [listener.tls] table needs protocol = \"tls\"",
                ))
            }
            (None, _) => None,
        };
        Ok(ListenerConfig {
            name,
            address,
            app,
            protocol,
            tls,
            distribution,
            backlog,
            udp_recv_buffer,
            udp_send_buffer,
            options,
        })
    }

    /// Where a key is in the text: `path` is table keys, with array
    /// indexes as numbers (`["listener", "1", "kv", "databases"]`).
    pub(crate) fn span_of(&self, path: &[&str]) -> Option<Range<usize>> {
        let doc = toml_edit::ImDocument::parse(self.text).ok()?;
        span_in_item(doc.as_item(), path)
    }

    /// Two listeners (or a listener and the metrics endpoint) that would
    /// bind the same thing: `check` says so instead of letting the first
    /// bind win, or `SO_REUSEPORT` silently split traffic between them.
    fn check_collisions(
        &self,
        raw: &RawConfig,
        listeners: &[ListenerConfig],
        metrics: Option<(SocketAddr, usize)>,
    ) -> Result<(), ConfigError> {
        for (i, l) in listeners.iter().enumerate() {
            let clash = |other: &ListenAddress, other_udp: bool| match (&l.address, other) {
                (ListenAddress::Unix(a), ListenAddress::Unix(b)) => a == b,
                (ListenAddress::Inet(a), ListenAddress::Inet(b)) => {
                    (l.protocol == ListenProtocol::Udp) == other_udp && inet_overlap(*a, *b)
                }
                _ => false,
            };
            let earlier = listeners[..i]
                .iter()
                .enumerate()
                .find(|(_, o)| clash(&o.address, o.protocol == ListenProtocol::Udp))
                .map(|(j, o)| {
                    let line = line_col(self.text, raw.listener[j].address.span().start).0;
                    format!(
                        "listener[{j}] (\"{}\", line {line}) at {}",
                        o.name, o.address
                    )
                });
            let with_metrics = metrics
                .filter(|(m, _)| clash(&ListenAddress::Inet(*m), false))
                .map(|(m, line)| format!("[metrics] (line {line}) at {m}"));
            if let Some(other) = earlier.or(with_metrics) {
                return Err(self.err(
                    &format!("listener[{i}].address"),
                    raw.listener[i].address.span(),
                    format!(
                        "{} collides with {other}: each listener needs its own address and port (a wildcard address takes the port on every address)",
                        l.address
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A size in bytes: an integer, or text with units (`"64KiB"`), at
    /// most `max`.
    pub(crate) fn size(
        &self,
        key: &str,
        v: &Spanned<IntOrText>,
        max: usize,
    ) -> Result<usize, ConfigError> {
        let n = match v.get_ref() {
            IntOrText::Int(n) if *n >= 0 => *n as u64,
            IntOrText::Text(t) => t
                .parse::<bytesize::ByteSize>()
                .map(|b| b.as_u64())
                .map_err(|_| {
                    self.err(
                        key,
                        v.span(),
                        format!("\"{t}\" is not a size: bytes, or e.g. \"64KiB\", \"1MiB\""),
                    )
                })?,
            other => {
                return Err(self.err(
                    key,
                    v.span(),
                    format!("{other} is not a size: bytes >= 0, or e.g. \"64KiB\""),
                ))
            }
        };
        if n > max as u64 {
            return Err(self.err(
                key,
                v.span(),
                format!(
                    "{} is too large: at most {}",
                    v.get_ref().quoted(),
                    show_size(max)
                ),
            ));
        }
        Ok(n as usize)
    }

    /// A duration: text with units (`"60s"`) or 0, at most [`MAX_DURATION`].
    pub(crate) fn duration(
        &self,
        key: &str,
        v: &Spanned<IntOrText>,
    ) -> Result<Duration, ConfigError> {
        let d = match v.get_ref() {
            IntOrText::Int(0) => Duration::ZERO,
            IntOrText::Text(t) => humantime::parse_duration(t).map_err(|e| {
                let why = match e {
                    humantime::DurationError::NumberOverflow => {
                        format!("\"{t}\" is too long: at most \"24h\"")
                    }
                    _ => {
                        format!("\"{t}\" is not a duration: e.g. \"60s\", \"500ms\", \"2m\", or 0")
                    }
                };
                self.err(key, v.span(), why)
            })?,
            other => {
                return Err(self.err(
                    key,
                    v.span(),
                    format!("{other} is not a duration: write units, e.g. \"{other}s\""),
                ))
            }
        };
        if d > MAX_DURATION {
            return Err(self.err(
                key,
                v.span(),
                format!("{} is too long: at most \"24h\"", v.get_ref().quoted()),
            ));
        }
        Ok(d)
    }
}

fn span_in_item(item: &toml_edit::Item, path: &[&str]) -> Option<Range<usize>> {
    let Some((first, rest)) = path.split_first() else {
        return item
            .span()
            .or_else(|| item.as_table().and_then(toml_edit::Table::span));
    };
    match (first.parse::<usize>(), item) {
        (Ok(n), toml_edit::Item::ArrayOfTables(a)) => span_in_table(a.get(n)?, rest),
        _ => span_in_item(item.get(first)?, rest),
    }
}

fn span_in_table(table: &toml_edit::Table, path: &[&str]) -> Option<Range<usize>> {
    match path.split_first() {
        None => table.span(),
        Some((first, rest)) => span_in_item(table.get(first)?, rest),
    }
}

/// Whether two socket addresses would take the same port: equal, or one is
/// a wildcard of a family that covers the other (an IPv6 wildcard also
/// covers IPv4, as a dual-stack socket would).
fn inet_overlap(a: SocketAddr, b: SocketAddr) -> bool {
    if a.port() == 0 || a.port() != b.port() {
        return false;
    }
    let covers =
        |w: SocketAddr, o: SocketAddr| w.ip().is_unspecified() && (w.is_ipv6() || o.is_ipv4());
    a.ip() == b.ip() || covers(a, b) || covers(b, a)
}

/// `path` made absolute against the current directory (not resolving
/// symbolic links: the file need not exist yet).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A size as the configuration writes it: exact, in the largest binary unit
/// that divides it (`65536` → `"64KiB"`), or plain bytes (`1537`).
fn show_size(n: usize) -> String {
    const UNITS: [(usize, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    UNITS
        .iter()
        .find(|(u, _)| n != 0 && n % u == 0)
        .map_or_else(|| n.to_string(), |(u, name)| format!("{}{name}", n / u))
}

/// 1-based line and column of byte `offset`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The dotted key at `offset`: the nearest table header above it plus the
/// key that starts the line.
fn key_path_at(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let key = line.split('=').next().unwrap_or("").trim();
    let table = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|h| h.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    match (table, key.starts_with('[') || key.is_empty()) {
        (Some(t), false) => format!("{t}.{key}"),
        (Some(t), true) => t,
        (None, false) => key.to_string(),
        (None, true) => "(top level)".to_string(),
    }
}

impl Config {
    /// The runtime this configuration asks for: shards (`"auto"` resolved
    /// to the cores this process may run on), pinning, the connection cap,
    /// and every shard's loop settings.
    pub fn runtime_config(&self) -> crate::RuntimeConfig {
        crate::RuntimeConfig {
            shards: match self.runtime.shards {
                ShardCount::Auto => crate::runtime::auto_shards(),
                ShardCount::Count(n) => n,
            },
            pin_cores: self.runtime.pin_cores,
            max_connections: self.limits.max_connections,
            loop_config: crate::LoopConfig {
                write_buffer_high: self.limits.write_buffer_high,
                write_buffer_low: self.limits.write_buffer_low,
                idle_timeout: self.limits.idle_timeout,
                udp_batch: self.runtime.udp_batch,
                ..crate::LoopConfig::default()
            },
        }
    }

    /// The effective configuration as a TOML table: every key with the
    /// value that will be used, sizes exact, paths absolute. Serialised,
    /// it parses back to the same [`Config`].
    pub fn to_toml(&self) -> toml::Table {
        use keys::Kind as _;
        use toml::Value;
        let size = |n: usize| keys::Size::<MAX_BUFFER>::print(&n).expect("a size prints");
        let duration = keys::print_duration;
        let mut t = toml::Table::new();
        t.insert("runtime".into(), Value::Table(self.runtime.to_toml()));
        t.insert("limits".into(), Value::Table(self.limits.to_toml()));
        t.insert("log".into(), Value::Table(self.log.to_toml()));
        if let Some(m) = &self.metrics {
            t.insert("metrics".into(), Value::Table(m.to_toml()));
        }
        let listeners = self
            .listeners
            .iter()
            .map(|l| {
                let mut lt = toml::Table::new();
                lt.insert("name".into(), Value::String(l.name.clone()));
                lt.insert("address".into(), Value::String(l.address.to_string()));
                lt.insert("app".into(), Value::String(l.app.clone()));
                let protocol = match l.protocol {
                    ListenProtocol::Tcp => "tcp",
                    ListenProtocol::Udp => "udp",
                    ListenProtocol::Tls => "tls",
                };
                lt.insert("protocol".into(), Value::String(protocol.into()));
                lt.insert(
                    "distribution".into(),
                    Value::String(l.distribution.to_string()),
                );
                lt.insert("backlog".into(), Value::Integer(l.backlog.into()));
                if l.protocol == ListenProtocol::Udp {
                    lt.insert("udp_recv_buffer".into(), size(l.udp_recv_buffer));
                    lt.insert("udp_send_buffer".into(), size(l.udp_send_buffer));
                }
                if let Some(tls) = &l.tls {
                    lt.insert("tls".into(), Value::Table(tls.to_toml(duration)));
                }
                if let Some(options) = &l.options {
                    lt.insert(l.app.clone(), Value::Table(options.clone()));
                }
                Value::Table(lt)
            })
            .collect();
        t.insert("listener".into(), Value::Array(listeners));
        t
    }
}

impl fmt::Display for Config {
    /// The effective configuration ([`Config::to_toml`]) as TOML, which
    /// parses back to the same; `shards = "auto"` carries a comment with
    /// the count it resolves to on this machine.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = toml::to_string(&self.to_toml()).map_err(|_| fmt::Error)?;
        for line in text.lines() {
            if line == "shards = \"auto\"" {
                let n = crate::runtime::auto_shards();
                writeln!(
                    f,
                    "{line} # {n} here: one per core this process may run on, within its cgroup's CPU quota"
                )?;
            } else {
                writeln!(f, "{line}")?;
            }
        }
        Ok(())
    }
}
