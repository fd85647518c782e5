//! `[[listener]]`: each listener validated — its address, app and the
//! app's options, protocol, distribution, backlog, UDP buffers and TLS —
//! and the addresses of all of them checked against each other and the
//! metrics endpoint.

use std::net::SocketAddr;
use std::ops::Range;

use toml::Spanned;

use super::listener_keys::RawListener;
use super::raw::RawConfig;
use super::{
    inet_overlap, line_col, span_in_item, AppCatalog, ConfigError, ListenAddress, ListenProtocol,
    ListenerConfig, Validator,
};

use crate::runtime::Distribution;

impl Validator<'_> {
    pub(super) fn listener(
        &self,
        i: usize,
        l: &RawListener,
        apps: &(impl AppCatalog + ?Sized),
    ) -> Result<ListenerConfig, ConfigError> {
        let prefix = format!("listener[{i}]");
        let key = |k: &str| format!("{prefix}.{k}");
        // Each key by its kind (listener_keys.rs), then what involves more
        // than one key, the app catalog or the nested tables.
        let mut c = ListenerConfig::read_at(self, &prefix, l)?;
        let span = |s: &Option<Spanned<String>>| s.as_ref().map_or(0..0, Spanned::span);
        let app = c.app.clone();
        let names = apps.app_names();
        if !names.contains(&app) {
            return Err(self.err(
                &key("app"),
                span(&l.app),
                format!("unknown app \"{app}\": one of {}", names.join(", ")),
            ));
        }
        let mut given = None;
        for (k, v) in &l.rest {
            match v {
                toml::Value::Table(t) if *k == app => given = Some(t),
                _ => {
                    let at = self.span_of(&["listener", &i.to_string(), k]);
                    let hint = if names.contains(k) {
                        format!("[listener.{k}] holds the options of app \"{k}\", but this listener serves \"{app}\"")
                    } else {
                        format!("unknown field `{k}`: a listener takes name, address, app, protocol, distribution, backlog, udp_recv_buffer, udp_send_buffer, tls, and [listener.{app}] for its app's options")
                    };
                    return Err(self.err(&key(k), at.unwrap_or(span(&l.name)), hint));
                }
            }
        }
        c.options = apps
            .app_options(&app, given, &|p| self.resolve(p))
            .map_err(|e| {
                let mut path = vec!["listener".to_string(), i.to_string(), app.clone()];
                path.extend(e.key.clone());
                let refs: Vec<&str> = path.iter().map(String::as_str).collect();
                let at = self
                    .span_of(&refs)
                    .or_else(|| self.span_of(&refs[..3]))
                    .unwrap_or(span(&l.app));
                let what = match &e.key {
                    Some(k) => format!("{app}.{k}"),
                    None => app.clone(),
                };
                self.err(&key(&what), at, e.message)
            })?;
        let unix = matches!(c.address, ListenAddress::Unix(_));
        let protocol_at = span(&l.protocol);
        match c.protocol {
            ListenProtocol::Tls if unix => {
                return Err(self.err(
                    &key("protocol"),
                    protocol_at,
                    "\"tls\" needs an IP address, not a Unix socket",
                ))
            }
            ListenProtocol::Tls if l.tls.is_none() => {
                return Err(self.err(
                    &key("protocol"),
                    protocol_at,
                    "\"tls\" needs a [listener.tls] table with cert and key",
                ))
            }
            ListenProtocol::Udp if unix => {
                return Err(self.err(
                    &key("protocol"),
                    protocol_at,
                    "\"udp\" needs an IP address, not a Unix socket",
                ))
            }
            ListenProtocol::Udp
                if c.distribution != Distribution::ReusePort && l.distribution.is_some() =>
            {
                return Err(self.err(
                    &key("distribution"),
                    span(&l.distribution),
                    "UDP listeners always use \"reuseport\" (every shard binds the address)",
                ))
            }
            _ => {}
        }
        if c.distribution == Distribution::ReusePort && unix {
            return Err(self.err(
                &key("distribution"),
                span(&l.distribution),
                "\"reuseport\" needs a TCP address, not a Unix socket",
            ));
        }
        let udp = c.protocol == ListenProtocol::Udp;
        for (k, given, value) in [
            ("udp_recv_buffer", &l.udp_recv_buffer, c.udp_recv_buffer),
            ("udp_send_buffer", &l.udp_send_buffer, c.udp_send_buffer),
        ] {
            let Some(given) = given else { continue };
            if !udp {
                return Err(self.err(
                    &key(k),
                    given.span(),
                    format!("{k} needs protocol = \"udp\""),
                ));
            }
            if value == 0 {
                return Err(self.err(&key(k), given.span(), "must be more than 0"));
            }
        }
        if !apps.app_serves(&app, udp) {
            let what = if udp {
                "UDP"
            } else {
                "stream (TCP, TLS, Unix)"
            };
            let at = l.protocol.as_ref().map_or(span(&l.app), Spanned::span);
            return Err(self.err(
                &key("protocol"),
                at,
                format!("the app \"{app}\" does not serve {what} listeners"),
            ));
        }
        if udp {
            c.distribution = Distribution::ReusePort;
        }
        c.tls = match (&l.tls, c.protocol) {
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
        Ok(c)
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
    pub(super) fn check_collisions(
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
                    let line = line_col(
                        self.text,
                        raw.listener[j]
                            .address
                            .as_ref()
                            .map_or(0, |a| a.span().start),
                    )
                    .0;
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
                    raw.listener[i].address.as_ref().map_or(0..0, Spanned::span),
                    format!(
                        "{} collides with {other}: each listener needs its own address and port (a wildcard address takes the port on every address)",
                        l.address
                    ),
                ));
            }
        }
        Ok(())
    }
}
