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
//! **Units.** A size is a whole number of bytes or a number with a unit:
//! the binary units `KiB`, `MiB`, `GiB` are powers of 1024 (`"64KiB"` =
//! 65,536 bytes), the decimal units `KB`, `MB`, `GB` powers of 1000
//! (`"64KB"` = 64,000 bytes), as `bytesize` reads them; `check` prints the
//! exact byte count it read. A duration is a number with a unit: `ms`,
//! `s`, `m`, `h` (and combinations such as `"1m30s"`), as `humantime`
//! reads them; `"0s"` where a key allows turning its timer off.
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
mod listener;
mod listener_keys;
mod print;
mod raw;
mod sections;
mod tls;
mod validate;

pub(crate) use validate::{absolute, inet_overlap, line_col, show_size, span_in_item, Validator};

pub use listener_keys::ListenerConfig;
pub use sections::{LimitsSection, LogLevel, LogSection, MetricsSection, RuntimeSection};
pub use tls::TlsListenerConfig;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// Serde for an app option that is a duration: `#[serde(with =
/// "shardloop::config::duration")]` takes text with units (`"30s"`,
/// `"1m 30s"`, `"500ms"`; humantime's syntax, as the rest of the
/// configuration) and writes it back the same way.
pub mod duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Reads a duration with units.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "\"{text}\" is not a duration ({e}): e.g. \"30s\", \"500ms\", \"1m\""
            ))
        })
    }

    /// Writes the duration with units.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
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
    /// absent) and returns the effective options, every default filled in
    /// and every file path made absolute with `resolve` (relative paths
    /// start at the configuration file's folder), as `check` prints them
    /// (`None`: the app takes no options).
    fn app_options(
        &self,
        app: &str,
        given: Option<&toml::Table>,
        resolve: &dyn Fn(&std::path::Path) -> std::path::PathBuf,
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
        _resolve: &dyn Fn(&std::path::Path) -> std::path::PathBuf,
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
#[non_exhaustive]
pub enum ListenProtocol {
    /// TCP (or a Unix stream socket).
    #[default]
    Tcp,
    /// UDP: every shard binds its own `SO_REUSEPORT` socket.
    Udp,
    /// TLS over TCP, settings in `[listener.tls]`.
    Tls,
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
