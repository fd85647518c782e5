//! `[[listener]]`: each listener validated — its address, app and the
//! app's options, protocol, distribution, backlog, UDP buffers and TLS —
//! and the addresses of all of them checked against each other and the
//! metrics endpoint.

use std::net::{SocketAddr, ToSocketAddrs};
use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::keys::IntOrText;
use super::raw::{RawConfig, RawListener};
use super::{
    absolute, inet_overlap, line_col, span_in_item, AppCatalog, ConfigError, ListenAddress,
    ListenProtocol, ListenerConfig, Validator, DEFAULT_UDP_BUFFER, MAX_BUFFER,
};

use crate::runtime::Distribution;

impl Validator<'_> {
    pub(super) fn listener(
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
}
