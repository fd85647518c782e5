//! The sections of the file other than `[[listener]]` (see
//! `listener_keys.rs`), every key declared
//! once (see [`keys`](super::keys)): adding a key is one line here, plus
//! the place that uses it.

use std::time::Duration;

use toml::Spanned;

use super::keys::Allowed;
use super::keys::IntOrText;
use super::keys::{section, Bool, Dur, Int, Kind, OptDur, OptPath, Size, SockAddr, Word, Words};
use super::{ConfigError, LogFormat, ShardCount, Validator};
use super::{MAX_BUFFER, MAX_CONNECTIONS, MAX_SHARDS};
use crate::transport::flow::{resolve_limits, DEFAULT_HIGH, DEFAULT_LOW};

section! {
    /// `[runtime]`: the shards and how the process runs.
    pub struct RuntimeSection, raw RawRuntime, table "runtime" {
        /// `shards`: `"auto"` (one per core this process may run on, within
        /// its cgroup's CPU quota) or 1 to [`MAX_SHARDS`].
        shards: ShardCount as Shards = ShardCount::Auto,
        /// `pin_cores`: pin each shard's thread to a core of its own.
        pin_cores: bool as Bool = true,
        /// `udp_batch`: datagrams per `recvmmsg`/`sendmmsg` (1 to 1024; 1
        /// turns batching off).
        udp_batch: usize as Int<1, 1024, UdpBatchAllowed> = crate::LoopConfig::default().udp_batch,
        /// `control_socket`: the Unix socket a new process takes the
        /// listening sockets over from (`shardloop serve --takeover`).
        control_socket: Option<std::path::PathBuf> as OptPath = None,
    }
}

section! {
    /// `[limits]`: flow control, the connection cap and timeouts.
    pub struct LimitsSection, raw RawLimits, table "limits", check limits_check {
        /// `write_buffer_high`: every connection's high-water mark, bytes
        /// (only `write_buffer_low` given: 4 × it).
        write_buffer_high: usize as Size<MAX_BUFFER> = DEFAULT_HIGH,
        /// `write_buffer_low`: the low-water mark, bytes (only
        /// `write_buffer_high` given: a quarter of it).
        write_buffer_low: usize as Size<MAX_BUFFER> = DEFAULT_LOW,
        /// `max_connections`: connections over the whole runtime; 0 for no
        /// limit.
        max_connections: usize as Int<0, { MAX_CONNECTIONS as i64 }, MaxConnectionsAllowed> = 0,
        /// `idle_timeout`: close a connection silent for this long; `None`
        /// (0 or absent) for no timeout.
        idle_timeout: Option<Duration> as OptDur = None,
        /// `drain_timeout`: how long a graceful shutdown waits for
        /// connections before aborting the rest.
        drain_timeout: Duration as Dur = Duration::from_secs(10),
        /// `drain_delay`: on SIGTERM, how long `/ready` says 503 while the
        /// listeners still accept, before the drain closes them (0: none).
        drain_delay: Duration as Dur = Duration::ZERO,
    }
}

section! {
    /// `[log]`: what is logged, and how.
    pub struct LogSection, raw RawLog, table "log" {
        /// `level`: `trace`, `debug`, `info`, `warn`, `error` or `off`.
        level: LogLevel as Word<LogLevel> = LogLevel("info"),
        /// `format`: `text` or `json`.
        format: LogFormat as Word<LogFormat> = LogFormat::Text,
    }
}

section! {
    /// `[metrics]`: the Prometheus endpoint (the table is optional; when
    /// present it needs `address`).
    pub struct MetricsSection, raw RawMetrics, table "metrics", check metrics_check {
        /// `address`: where `GET /metrics`, `/ready` and `/live` are served.
        address: std::net::SocketAddr as SockAddr = std::net::SocketAddr::from(([127, 0, 0, 1], 9100)),
    }
}

/// `runtime.shards`: `"auto"` or a count.
pub(crate) struct Shards;

impl Kind for Shards {
    type Raw = IntOrText;
    type Value = ShardCount;
    fn read(
        v: &Validator<'_>,
        key: &str,
        raw: &Spanned<IntOrText>,
    ) -> Result<ShardCount, ConfigError> {
        match raw.get_ref() {
            IntOrText::Text(t) if t == "auto" => Ok(ShardCount::Auto),
            IntOrText::Int(n) if (1..=MAX_SHARDS as i64).contains(n) => {
                Ok(ShardCount::Count(*n as usize))
            }
            other => Err(v.err(
                key,
                raw.span(),
                format!(
                    "{} is not allowed: \"auto\" or an integer from 1 to {MAX_SHARDS}",
                    other.quoted()
                ),
            )),
        }
    }
    fn print(s: &ShardCount) -> Option<toml::Value> {
        Some(match s {
            ShardCount::Auto => toml::Value::String("auto".into()),
            ShardCount::Count(n) => toml::Value::Integer(*n as i64),
        })
    }
}

/// `runtime.udp_batch`'s bounds, as its error states them.
pub(crate) struct UdpBatchAllowed;
impl Allowed for UdpBatchAllowed {
    const TEXT: &'static str = "an integer from 1 (no batching) to 1024";
}

/// `limits.max_connections`'s bounds, as its error states them.
pub(crate) struct MaxConnectionsAllowed;
impl Allowed for MaxConnectionsAllowed {
    const TEXT: &'static str = "an integer from 0 (no limit) to 16777216";
}

/// A `tracing` level name, as `[log] level` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLevel(pub &'static str);

impl LogLevel {
    /// The level's name (`"info"`), as `RUST_LOG` and `EnvFilter` take it.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for LogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl Words for LogLevel {
    const ALL: &'static [(&'static str, Self)] = &[
        ("trace", LogLevel("trace")),
        ("debug", LogLevel("debug")),
        ("info", LogLevel("info")),
        ("warn", LogLevel("warn")),
        ("error", LogLevel("error")),
        ("off", LogLevel("off")),
    ];
    const TEXT: &'static str = "one of trace, debug, info, warn, error, off";
}

impl Words for LogFormat {
    const ALL: &'static [(&'static str, Self)] =
        &[("text", LogFormat::Text), ("json", LogFormat::Json)];
    const TEXT: &'static str = "\"text\" or \"json\"";
}

/// Low above high is an error naming both; one mark given derives the
/// other (T10's rule).
fn limits_check(
    l: &mut LimitsSection,
    raw: &RawLimits,
    v: &Validator<'_>,
    _prefix: &str,
) -> Result<(), ConfigError> {
    let high = raw.write_buffer_high.as_ref().map(|_| l.write_buffer_high);
    let low = raw.write_buffer_low.as_ref().map(|_| l.write_buffer_low);
    let (h, lo) = resolve_limits(high, low).map_err(|_| {
        let span = raw.write_buffer_low.as_ref().map_or(0..0, |s| s.span());
        let show = |s: &Option<Spanned<IntOrText>>, n: Option<usize>| {
            s.as_ref().map_or_else(
                || format!("{}", n.unwrap_or(0)),
                |s| s.get_ref().to_string(),
            )
        };
        v.err(
            "limits.write_buffer_low",
            span,
            format!(
                "limits.write_buffer_low ({}) must not exceed limits.write_buffer_high ({})",
                show(&raw.write_buffer_low, low),
                show(&raw.write_buffer_high, high)
            ),
        )
    })?;
    l.write_buffer_high = h;
    l.write_buffer_low = lo;
    Ok(())
}

/// A `[metrics]` table names its address.
fn metrics_check(
    _: &mut MetricsSection,
    raw: &RawMetrics,
    v: &Validator<'_>,
    _prefix: &str,
) -> Result<(), ConfigError> {
    if raw.address.is_none() {
        let span = v.span_of(&["metrics"]).unwrap_or(0..0);
        return Err(v.err("metrics", span, "missing field `address`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounds_errors_state_are_the_declared_ones() {
        assert!(MaxConnectionsAllowed::TEXT.ends_with(&MAX_CONNECTIONS.to_string()));
    }
}
