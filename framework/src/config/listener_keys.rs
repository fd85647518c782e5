//! The keys of a `[[listener]]`, declared once like the other sections
//! (see [`keys`](super::keys)): one line per key. What depends on more
//! than one key — or on the app catalog, or on the `[listener.tls]` and
//! `[listener.<app>]` tables — is checked after, in `listener.rs`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;

use toml::Spanned;

use super::keys::{section, Kind, Size, Word, Words};
use super::tls::RawTls;
use super::{
    absolute, ConfigError, ListenAddress, ListenProtocol, TlsListenerConfig, Validator,
    DEFAULT_UDP_BUFFER, MAX_BUFFER,
};
use crate::runtime::Distribution;

section! {
    /// One `[[listener]]`: an address served by a named application.
    pub struct ListenerConfig, raw RawListener, table "listener", check required {
        /// `name`: unique, used in logs and metrics (required).
        name: String as Name = String::new(),
        /// `address`: where to listen, `"host:port"` or `"unix:/path"`
        /// (required).
        address: ListenAddress as Address = ListenAddress::Inet(SocketAddr::from(([127, 0, 0, 1], 0))),
        /// `app`: the application serving it, by name (required).
        app: String as Text = String::new(),
        /// `protocol`: `"tcp"` (default), `"udp"` or `"tls"`.
        protocol: ListenProtocol as Word<ListenProtocol> = ListenProtocol::Tcp,
        /// `distribution`: how connections are spread over shards
        /// (`"round-robin"`, `"least-connections"`, `"reuseport"`; UDP
        /// listeners always use `"reuseport"`).
        distribution: Distribution as Word<Distribution> = Distribution::RoundRobin,
        /// `backlog`: the `listen()` backlog, 1 to 65535.
        backlog: u32 as Backlog = 1024,
        /// `udp_recv_buffer`: `SO_RCVBUF` of a UDP listener's sockets
        /// (bytes; `protocol = "udp"` only).
        udp_recv_buffer: usize as Size<MAX_BUFFER> = DEFAULT_UDP_BUFFER,
        /// `udp_send_buffer`: `SO_SNDBUF` of a UDP listener's sockets
        /// (bytes; `protocol = "udp"` only).
        udp_send_buffer: usize as Size<MAX_BUFFER> = DEFAULT_UDP_BUFFER,
    }
    extra {
        /// `[listener.tls]`, present exactly when `protocol = "tls"`.
        tls: Option<TlsListenerConfig> = None,
        /// `[listener.<app>]`: the app's own options, effective (defaults
        /// filled in by the app); `None` for an app without options.
        options: Option<toml::Table> = None,
    }
    raw {
        /// `[listener.tls]` as written.
        tls: Option<Spanned<RawTls>>,
    }
    open rest;
}

/// `name`, `address` and `app` must be given.
fn required(
    _: &mut ListenerConfig,
    raw: &RawListener,
    v: &Validator<'_>,
    prefix: &str,
) -> Result<(), ConfigError> {
    let missing = [
        ("name", raw.name.is_none()),
        ("address", raw.address.is_none()),
        ("app", raw.app.is_none()),
    ];
    if let Some((key, _)) = missing.iter().find(|(_, absent)| *absent) {
        // Point at the listener: any key it has.
        let at = [
            raw.name.as_ref().map(Spanned::span),
            raw.address.as_ref().map(Spanned::span),
            raw.app.as_ref().map(Spanned::span),
            raw.protocol.as_ref().map(Spanned::span),
        ]
        .into_iter()
        .flatten()
        .next()
        .unwrap_or(0..0);
        return Err(v.err(
            &format!("{prefix}.{key}"),
            at,
            format!("missing field `{key}`: a listener needs name, address and app"),
        ));
    }
    Ok(())
}

/// A listener's name: not empty, surrounding blanks dropped.
pub(crate) struct Name;

impl Kind for Name {
    type Raw = String;
    type Value = String;
    fn read(v: &Validator<'_>, key: &str, raw: &Spanned<String>) -> Result<String, ConfigError> {
        let name = raw.get_ref().trim();
        if name.is_empty() {
            return Err(v.err(key, raw.span(), "must not be empty"));
        }
        Ok(name.to_string())
    }
    fn print(name: &String) -> Option<toml::Value> {
        Some(toml::Value::String(name.clone()))
    }
}

/// Text taken as written (the app's name, checked against the catalog
/// later).
pub(crate) struct Text;

impl Kind for Text {
    type Raw = String;
    type Value = String;
    fn read(_: &Validator<'_>, _: &str, raw: &Spanned<String>) -> Result<String, ConfigError> {
        Ok(raw.get_ref().clone())
    }
    fn print(text: &String) -> Option<toml::Value> {
        Some(toml::Value::String(text.clone()))
    }
}

/// `"host:port"` (resolved now) or `"unix:/path"` (made absolute).
pub(crate) struct Address;

impl Kind for Address {
    type Raw = String;
    type Value = ListenAddress;
    fn read(
        v: &Validator<'_>,
        key: &str,
        raw: &Spanned<String>,
    ) -> Result<ListenAddress, ConfigError> {
        let text = raw.get_ref();
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(v.err(
                    key,
                    raw.span(),
                    "\"unix:\" needs a path, e.g. \"unix:/run/echo.sock\"",
                ));
            }
            return Ok(ListenAddress::Unix(absolute(Path::new(path))));
        }
        let resolved = text.to_socket_addrs().ok().and_then(|mut a| a.next());
        resolved.map(ListenAddress::Inet).ok_or_else(|| {
            v.err(
                key,
                raw.span(),
                format!("{text:?} is not \"host:port\" or \"unix:/path\""),
            )
        })
    }
    fn print(address: &ListenAddress) -> Option<toml::Value> {
        Some(toml::Value::String(address.to_string()))
    }
}

/// The `listen()` backlog.
pub(crate) struct Backlog;

impl Kind for Backlog {
    type Raw = i64;
    type Value = u32;
    fn read(v: &Validator<'_>, key: &str, raw: &Spanned<i64>) -> Result<u32, ConfigError> {
        match u32::try_from(*raw.get_ref()) {
            Ok(n) if (1..=65535).contains(&n) => Ok(n),
            _ => Err(v.err(key, raw.span(), "must be between 1 and 65535")),
        }
    }
    fn print(n: &u32) -> Option<toml::Value> {
        Some(toml::Value::Integer((*n).into()))
    }
}

impl Words for ListenProtocol {
    const ALL: &'static [(&'static str, Self)] = &[
        ("tcp", ListenProtocol::Tcp),
        ("udp", ListenProtocol::Udp),
        ("tls", ListenProtocol::Tls),
    ];
    const TEXT: &'static str = "\"tcp\", \"udp\" or \"tls\"";
}

impl Words for Distribution {
    const ALL: &'static [(&'static str, Self)] = &[
        ("round-robin", Distribution::RoundRobin),
        ("least-connections", Distribution::LeastConnections),
        ("reuseport", Distribution::ReusePort),
    ];
    const TEXT: &'static str = "\"round-robin\", \"least-connections\" or \"reuseport\"";
}
