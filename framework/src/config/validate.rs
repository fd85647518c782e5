//! The validator: reads the file with serde (unknown keys rejected, every
//! value with its position), checks each section and listener, and turns
//! every error into one that names the file, the key path, the line and the
//! column; and the helpers that find those positions.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::keys::IntOrText;
use super::raw::RawConfig;
use super::{
    AppCatalog, Config, ConfigError, LimitsSection, LogSection, MetricsSection, RuntimeSection,
    MAX_DURATION,
};

pub(crate) struct Validator<'a> {
    pub(super) text: &'a str,
    pub(super) origin: &'a str,
    /// The configuration file's folder: relative paths start there.
    pub(super) base: Option<&'a Path>,
}

impl Validator<'_> {
    pub(super) fn parse(&self, apps: &(impl AppCatalog + ?Sized)) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(self.text).map_err(|e| self.toml_error(&e))?;
        self.config(raw, apps)
    }

    /// A file path of the configuration, absolute: relative paths start
    /// at the configuration file's folder (or the current directory).
    pub(super) fn resolve(&self, path: &Path) -> PathBuf {
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
                    l.name.as_ref().map_or(0..0, toml::Spanned::span),
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

pub(crate) fn span_in_item(item: &toml_edit::Item, path: &[&str]) -> Option<Range<usize>> {
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
pub(crate) fn inet_overlap(a: SocketAddr, b: SocketAddr) -> bool {
    if a.port() == 0 || a.port() != b.port() {
        return false;
    }
    let covers =
        |w: SocketAddr, o: SocketAddr| w.ip().is_unspecified() && (w.is_ipv6() || o.is_ipv4());
    a.ip() == b.ip() || covers(a, b) || covers(b, a)
}

/// `path` made absolute against the current directory (not resolving
/// symbolic links: the file need not exist yet).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A size as the configuration writes it: exact, in the largest binary unit
/// that divides it (`65536` → `"64KiB"`), or plain bytes (`1537`).
pub(crate) fn show_size(n: usize) -> String {
    const UNITS: [(usize, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    UNITS
        .iter()
        .find(|(u, _)| n != 0 && n % u == 0)
        .map_or_else(|| n.to_string(), |(u, name)| format!("{}{name}", n / u))
}

/// 1-based line and column of byte `offset`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
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
