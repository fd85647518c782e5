//! Build your own server: register [`Protocol`]s as named apps and get the
//! whole `shardloop` binary for them — `serve`/`check`, the TOML
//! configuration, metrics, signals and the graceful drain.
//!
//! An [`App`] is a name, its options (the `[listener.<app>]` table, a serde
//! type with defaults and bounds) and the protocols it serves: a stream
//! protocol for TCP, TLS and Unix listeners, a datagram protocol for UDP
//! ones, each built per connection (per shard for UDP) from the options.
//! [`Apps`] is the registry both `check` and `serve` read, so they cannot
//! disagree; [`main`] is the program.
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use shardloop::app::{App, AppOptions, Apps};
//! use shardloop::{Protocol, Transport};
//!
//! /// `[listener.greet]` — every field has a default.
//! #[derive(Debug, Clone, Default, Deserialize, Serialize)]
//! #[serde(deny_unknown_fields, default)]
//! struct GreetOptions {
//!     greeting: String,
//! }
//!
//! impl AppOptions for GreetOptions {}
//!
//! struct Greet(String);
//!
//! impl Protocol for Greet {
//!     fn connection_made(&mut self, t: &mut Transport) {
//!         let _ = t.write(self.0.as_bytes());
//!         t.close();
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     let apps = Apps::new().with(
//!         App::new::<GreetOptions>("greet").stream(|o| Greet(o.greeting.clone())),
//!     );
//!     shardloop::app::main(apps)
//! }
//! ```

mod cli;
mod reload;
mod source;

pub use cli::{main, main_with_args};

use std::any::Any;
use std::io;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::{AppCatalog, ListenAddress, ListenProtocol, ListenerConfig, OptionError};
use crate::{DatagramOptions, DatagramProtocol, Protocol, Runtime};

/// The options of an app: its `[listener.<app>]` table. Deserialised with
/// serde (write `#[serde(deny_unknown_fields, default)]` so unknown keys are
/// errors and absent ones take their defaults), checked by
/// [`validate`](Self::validate), and serialised back for `check`'s
/// effective configuration.
pub trait AppOptions: DeserializeOwned + Serialize + Default + Send + Sync + 'static {
    /// Checks values against their bounds; `Err((key, message))` names the
    /// key at fault and what is allowed.
    fn validate(&self) -> Result<(), (String, String)> {
        Ok(())
    }

    /// The options that are file paths: a relative one is made absolute
    /// from the configuration file's folder before [`validate`](Self::validate),
    /// as `[listener.tls]`'s are, so `check` prints and errors name the
    /// path that is used.
    fn paths_mut(&mut self) -> Vec<&mut std::path::PathBuf> {
        Vec::new()
    }
}

/// The options of an app that takes none: `[listener.<app>]` must be
/// absent.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct NoOptions {}

impl AppOptions for NoOptions {}

/// Parsed options, type-erased for the registry.
type Parsed = Arc<dyn Any + Send + Sync>;

type ParseFn = dyn Fn(
        Option<&toml::Table>,
        &dyn Fn(&std::path::Path) -> std::path::PathBuf,
    ) -> Result<(Parsed, Option<toml::Table>), OptionError>
    + Send
    + Sync;
type ServeFn = dyn Fn(&mut Runtime, &ListenerConfig, Parsed, Vec<std::os::fd::OwnedFd>) -> io::Result<String>
    + Send
    + Sync;
type OnServeFn = dyn Fn(&Runtime, Parsed) -> io::Result<()> + Send + Sync;

/// One application: a name, its options and its protocols.
pub struct App {
    name: String,
    takes_options: bool,
    parse: Box<ParseFn>,
    stream: Option<Box<ServeFn>>,
    datagram: Option<Box<ServeFn>>,
    on_serve: Option<Box<OnServeFn>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("name", &self.name)
            .field("stream", &self.stream.is_some())
            .field("datagram", &self.datagram.is_some())
            .finish()
    }
}

/// An [`App`] being defined: its options type `O` is fixed, so the
/// protocol builders get `&O`. Registered with [`Apps::with`].
pub struct AppSpec<O> {
    app: App,
    options: std::marker::PhantomData<fn() -> O>,
}

impl<O> From<AppSpec<O>> for App {
    fn from(spec: AppSpec<O>) -> App {
        spec.app
    }
}

impl App {
    /// An app named `name` whose options are `O` ([`NoOptions`] for none).
    /// Add what it serves with [`AppSpec::stream`] and
    /// [`AppSpec::datagram`].
    #[allow(clippy::new_ret_no_self)]
    pub fn new<O: AppOptions>(name: impl Into<String>) -> AppSpec<O> {
        let takes_options = std::any::TypeId::of::<O>() != std::any::TypeId::of::<NoOptions>();
        let parse =
            move |given: Option<&toml::Table>,
                  resolve: &dyn Fn(&std::path::Path) -> std::path::PathBuf| {
                let mut options: O = match given {
                    None => O::default(),
                    Some(table) => O::deserialize(toml::Value::Table(table.clone()))
                        .map_err(|e| serde_error(table, &e.to_string()))?,
                };
                for path in options.paths_mut() {
                    *path = resolve(path);
                }
                options.validate().map_err(|(key, message)| OptionError {
                    key: Some(key),
                    message,
                })?;
                let effective = if takes_options {
                    Some(toml::Table::try_from(&options).map_err(|e| OptionError {
                        key: None,
                        message: e.to_string(),
                    })?)
                } else {
                    None
                };
                Ok((Arc::new(options) as Parsed, effective))
            };
        AppSpec {
            app: App {
                name: name.into(),
                takes_options,
                parse: Box::new(parse),
                stream: None,
                datagram: None,
                on_serve: None,
            },
            options: std::marker::PhantomData,
        }
    }

    /// The app's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<O: AppOptions> AppSpec<O> {
    /// Serves stream listeners (TCP, TLS, Unix): `make` builds the protocol
    /// of each connection, on the shard that owns it, from the options.
    pub fn stream<P: Protocol>(mut self, make: impl Fn(&O) -> P + Send + Sync + 'static) -> Self {
        let make = Arc::new(make);
        self.app.stream = Some(Box::new(move |rt, l, parsed, inherited| {
            let options = downcast::<O>(parsed)?;
            let make = Arc::clone(&make);
            listen_stream(rt, l, inherited, move || make(&options))
        }));
        self
    }

    /// Runs `prepare` with a listener's options and the runtime before the
    /// listener is served — when the server starts, and at a reload that
    /// binds one — where an app readies what its shards share (kv loads
    /// its append-only logs here). The shards run, nothing is accepted
    /// yet; an error stops the listener as a bind error does.
    pub fn on_serve(
        mut self,
        prepare: impl Fn(&O, &Runtime) -> io::Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.app.on_serve = Some(Box::new(move |rt, parsed| {
            let options = downcast::<O>(parsed)?;
            prepare(&options, rt)
        }));
        self
    }

    /// Serves UDP listeners: `make` builds one protocol per shard's socket.
    pub fn datagram<P: DatagramProtocol>(
        mut self,
        make: impl Fn(&O) -> P + Send + Sync + 'static,
    ) -> Self {
        let make = Arc::new(make);
        self.app.datagram = Some(Box::new(move |rt, l, parsed, inherited| {
            let options = downcast::<O>(parsed)?;
            let ListenAddress::Inet(addr) = &l.address else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "UDP needs an IP address",
                ));
            };
            let udp = DatagramOptions {
                recv_buffer: Some(l.udp_recv_buffer),
                send_buffer: Some(l.udp_send_buffer),
                ..DatagramOptions::default()
            };
            let make = Arc::clone(&make);
            if !inherited.is_empty() {
                let bound = rt.listen_udp_inherited(inherited, udp, move || make(&options))?;
                return Ok(format!("udp:{bound} (inherited)"));
            }
            let bound = rt.listen_udp_with(*addr, udp, move || make(&options))?;
            Ok(format!("udp:{bound}"))
        }));
        self
    }
}

fn downcast<O: AppOptions>(parsed: Parsed) -> io::Result<Arc<O>> {
    parsed
        .downcast::<O>()
        .map_err(|_| io::Error::other("app options of another type"))
}

/// A serde error on an app's table, with the key it names if it names one.
fn serde_error(table: &toml::Table, message: &str) -> OptionError {
    let key = message
        .split('`')
        .skip(1)
        .step_by(2)
        .find(|k| table.contains_key(*k))
        .map(str::to_string);
    OptionError {
        key,
        message: message.trim().to_string(),
    }
}

/// Binds one stream (TCP, TLS or Unix) listener of a configuration, or
/// serves the sockets systemd or a takeover passed for it.
fn listen_stream<P, F>(
    rt: &mut Runtime,
    l: &ListenerConfig,
    inherited: Vec<std::os::fd::OwnedFd>,
    factory: F,
) -> io::Result<String>
where
    P: Protocol,
    F: Fn() -> P + Send + Sync + 'static,
{
    let tls = || -> io::Result<Option<crate::TlsServerConfig>> {
        l.tls
            .as_ref()
            .filter(|_| l.protocol == ListenProtocol::Tls)
            .map(|t| {
                t.server_config()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
            })
            .transpose()
    };
    if !inherited.is_empty() {
        let bound =
            rt.listen_inherited_with(inherited, l.distribution, l.backlog, tls()?, factory)?;
        return Ok(format!("{bound} (inherited)"));
    }
    Ok(match &l.address {
        ListenAddress::Inet(addr) if l.protocol == ListenProtocol::Tls => {
            let settings = l.tls.as_ref().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "TLS without [listener.tls]")
            })?;
            let tls = settings
                .server_config()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
            let bound = rt.listen_tls(*addr, l.distribution, l.backlog, tls, factory)?;
            format!("tls:{bound}")
        }
        ListenAddress::Inet(addr) => rt
            .listen(*addr, l.distribution, l.backlog, factory)?
            .to_string(),
        ListenAddress::Unix(path) => {
            rt.listen_unix(path, l.distribution, l.backlog, factory)?;
            format!("unix:{}", path.display())
        }
    })
}

/// The registry of apps a server can run, and the configuration it serves
/// when none is given.
#[derive(Debug, Default)]
pub struct Apps {
    apps: Vec<App>,
    default_config: Option<String>,
}

impl Apps {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `app`; a later app of the same name replaces the earlier.
    pub fn with(mut self, app: impl Into<App>) -> Self {
        let app = app.into();
        self.apps.retain(|a| a.name != app.name);
        self.apps.push(app);
        self
    }

    /// The configuration `serve` and `check` use when no file is given
    /// (TOML text, validated like a file).
    pub fn default_config(mut self, text: impl Into<String>) -> Self {
        self.default_config = Some(text.into());
        self
    }

    /// The app named `name`.
    pub fn get(&self, name: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.name == name)
    }

    /// Binds `l` for its app on `rt`; returns the address as bound.
    pub fn listen(&self, rt: &mut Runtime, l: &ListenerConfig) -> io::Result<String> {
        self.listen_on(rt, l, Vec::new())
    }

    /// As [`listen`](Self::listen), serving `inherited` instead of binding
    /// when there are any: the listening socket systemd passed for `l`'s
    /// address, or the sockets a takeover handed over for it (see
    /// [`Runtime::listen_inherited`], [`Runtime::listen_udp_inherited`]).
    pub fn listen_on(
        &self,
        rt: &mut Runtime,
        l: &ListenerConfig,
        inherited: Vec<std::os::fd::OwnedFd>,
    ) -> io::Result<String> {
        let app = self.get(&l.app).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown app \"{}\"", l.app),
            )
        })?;
        // (The paths are absolute already: `check` resolved them.)
        let (parsed, _) = (app.parse)(l.options.as_ref(), &|p| p.to_path_buf())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.message))?;
        let serve = match l.protocol {
            ListenProtocol::Udp => app.datagram.as_ref(),
            _ => app.stream.as_ref(),
        };
        let serve = serve.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the app \"{}\" does not serve this protocol", l.app),
            )
        })?;
        if let Some(prepare) = &app.on_serve {
            prepare(rt, Arc::clone(&parsed))?;
        }
        serve(rt, l, parsed, inherited)
    }
}

impl AppCatalog for Apps {
    fn app_names(&self) -> Vec<String> {
        self.apps.iter().map(|a| a.name.clone()).collect()
    }

    fn app_options(
        &self,
        app: &str,
        given: Option<&toml::Table>,
        resolve: &dyn Fn(&std::path::Path) -> std::path::PathBuf,
    ) -> Result<Option<toml::Table>, OptionError> {
        let Some(a) = self.get(app) else {
            return Err(OptionError {
                key: None,
                message: format!("unknown app \"{app}\""),
            });
        };
        if !a.takes_options && given.is_some() {
            return Err(OptionError {
                key: None,
                message: format!("the app \"{app}\" takes no options"),
            });
        }
        (a.parse)(given, resolve).map(|(_, effective)| effective)
    }

    fn app_serves(&self, app: &str, datagram: bool) -> bool {
        self.get(app).is_some_and(|a| {
            if datagram {
                a.datagram.is_some()
            } else {
                a.stream.is_some()
            }
        })
    }
}
