//! The server program: `serve` and `check` over a TOML configuration, for
//! the apps of a registry — what the `shardloop` binary runs, and what a
//! user's own server binary runs for its apps.
//!
//! * `serve [CONFIG]` — the listeners of CONFIG (the registry's embedded
//!   default without it);
//! * `check [CONFIG]` — validate and print the effective configuration,
//!   binding nothing;
//! * `--log-level LEVEL` overrides `RUST_LOG`, which overrides the
//!   configuration's `[log] level`.
//!
//! SIGINT or SIGTERM shuts down gracefully: `/ready` turns 503, the
//! listeners keep accepting for `drain_delay`, then stop; every connection
//! is told (`drain_started`, P11) and ends at a boundary of its own, its
//! queue flushed and its lingering close finished, for up to
//! `drain_timeout`; the rest is aborted; exit 0. A second SIGINT or SIGTERM
//! aborts at once and exits 1. SIGHUP reloads the configuration
//! (listeners, write-buffer marks, log level; an invalid file changes
//! nothing). `serve --takeover` takes the listening sockets of the server
//! on `[runtime] control_socket` over (see [`crate::runtime::take_over`]).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::reload::reload;
use super::source::{load, LogLevel, Source};
use super::Apps;
use crate::config::{Config, LogFormat};
use crate::Runtime;

#[derive(Parser)]
#[command(
    name = "shardloop",
    version,
    about = "Run shardloop services from a TOML configuration"
)]
struct Cli {
    /// Log level, overriding RUST_LOG and the configuration's `[log] level`
    /// (trace, debug, info, warn, error, off, or a tracing filter).
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the listeners a configuration names (the embedded default when
    /// none is given).
    Serve {
        /// The TOML configuration file.
        config: Option<PathBuf>,
        /// Take the listening sockets over from the server running this
        /// configuration (through its `[runtime] control_socket`), which
        /// then drains: a restart that refuses no connection.
        #[arg(long)]
        takeover: bool,
    },
    /// Validate a configuration (the embedded default when none is given)
    /// and print the effective settings as TOML; binds nothing.
    Check {
        /// The TOML configuration file.
        config: Option<PathBuf>,
    },
}

/// The program: `serve` and `check` over the command line's arguments,
/// for the apps of `apps`. Returns the process's exit code: 0 after a
/// complete drain, 1 when serving failed or the drain was cut short, 2 for
/// a bad configuration or command line.
pub fn main(apps: Apps) -> ExitCode {
    main_with_args(apps, std::env::args_os())
}

/// [`main`] with the arguments given (the first is the program name).
pub fn main_with_args(
    apps: Apps,
    args: impl IntoIterator<Item = impl Into<std::ffi::OsString> + Clone>,
) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command.unwrap_or(Command::Serve {
        config: None,
        takeover: false,
    }) {
        Command::Check { config } => match load(&apps, config.as_ref()) {
            Ok(c) => {
                let origin = config.as_ref().map_or_else(
                    || "the embedded default configuration".to_string(),
                    |p| p.display().to_string(),
                );
                // A closed pipe (`| head -1`) ends the output quietly.
                let mut out = std::io::stdout().lock();
                let _ = write!(out, "{c}").and_then(|()| writeln!(out, "# {origin}: valid"));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Serve {
            config: path,
            takeover,
        } => {
            let config = match load(&apps, path.as_ref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let log_level = match init_logging(&config, cli.log_level.as_deref()) {
                Ok(handle) => handle,
                Err(e) => {
                    eprintln!("error: --log-level: {e}");
                    return ExitCode::from(2);
                }
            };
            let source = Source {
                path: path.clone(),
                log_level,
                takeover,
            };
            match serve(&apps, &config, &source) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    // Logging is set up: the error goes out once, there.
                    tracing::error!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Logs to stderr at the level `--log-level` gives, else `RUST_LOG`, else
/// the configuration's.
fn init_logging(config: &Config, flag: Option<&str>) -> Result<Option<LogLevel>, String> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let from_config = flag.is_none() && std::env::var_os("RUST_LOG").is_none();
    let filter = match flag {
        Some(level) => tracing_subscriber::EnvFilter::try_new(level).map_err(|e| e.to_string())?,
        None => tracing_subscriber::EnvFilter::try_from_default_env()
            .or_else(|_| tracing_subscriber::EnvFilter::try_new(config.log.level.as_str()))
            .map_err(|e| e.to_string())?,
    };
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_thread_names(true);
    let registry = tracing_subscriber::registry().with(filter);
    // A second call in one process (tests) keeps the first subscriber.
    let _ = match config.log.format {
        LogFormat::Text => registry.with(fmt).try_init(),
        LogFormat::Json => registry.with(fmt.json()).try_init(),
    };
    // --log-level and RUST_LOG win over the configuration, reloads too.
    Ok(from_config.then_some(handle))
}

fn serve(apps: &Apps, config: &Config, source: &Source) -> Result<(), String> {
    // Before anything binds, so an early signal is a graceful stop too.
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;

    let rc = config.runtime_config();
    let shards = rc.shards;
    let mut rt = Runtime::start(rc).map_err(|e| format!("cannot start the shards: {e}"))?;

    // Bind everything, then serve: a bind error stops the server before it
    // accepted anything.
    rt.hold_serving();
    // systemd socket activation: the sockets it bound, by address.
    let mut inherited =
        crate::runtime::inherited_listeners().map_err(|e| format!("LISTEN_FDS: {e}"))?;
    // --takeover: the running server's sockets, served before it lets go.
    let mut taken = match (&config.runtime.control_socket, source.takeover) {
        (Some(path), true) => {
            let t = crate::runtime::take_over(path)
                .map_err(|e| format!("takeover through {}: {e}", path.display()))?;
            tracing::info!(
                sockets = t.sockets.len() + t.datagram.len(),
                "took the listening sockets over"
            );
            Some(t)
        }
        (None, true) => return Err("--takeover needs [runtime] control_socket".into()),
        (_, false) => None,
    };
    for l in &config.listeners {
        rt.name_next_listener(&l.name);
        // The sockets taken over go to the listener of the same name and
        // kind, if its address is theirs still; one from systemd to the
        // listener of its address.
        let mut fds = match (taken.as_mut(), &l.address) {
            (Some(t), crate::config::ListenAddress::Inet(want))
                if l.protocol == crate::config::ListenProtocol::Udp =>
            {
                t.take_datagram(&l.name, |a| same_inet(a, want))
            }
            (Some(t), _) => t.take_stream(&l.name, |a| same_address(a, &l.address)),
            (None, _) => Vec::new(),
        };
        if fds.is_empty() {
            if let Some(i) = inherited
                .iter()
                .position(|(_, a)| same_address(a, &l.address))
            {
                fds.push(inherited.remove(i).0);
            }
        }
        let bound = apps
            .listen_on(&mut rt, l, fds)
            .map_err(|e| format!("listener \"{}\": {e}", l.name))?;
        tracing::info!(
            listener = %l.name,
            address = %bound,
            app = %l.app,
            shards,
            distribution = %l.distribution,
            "listening"
        );
    }
    for (_, addr) in &inherited {
        tracing::warn!(address = %addr, "systemd passed a socket no listener names; closed");
    }
    if let Some(addr) = config.metrics.as_ref().map(|m| m.address) {
        // The old server's metrics socket, if it is this address (or the
        // config asks for any port on its IP): the endpoint never stops
        // answering. Another address is bound afresh.
        let inherited = taken
            .as_mut()
            .and_then(|t| t.metrics())
            .filter(|(a, _)| same_inet(a, &addr));
        let bound = match inherited {
            Some((_, listener)) => rt.serve_metrics_on(listener),
            None => rt.serve_metrics(addr),
        }
        .map_err(|e| format!("metrics.address ({addr}): {e}"))?;
        tracing::info!(address = %bound, "metrics on http://{bound}/metrics");
    }
    rt.serve_held()
        .map_err(|e| format!("cannot start serving: {e}"))?;
    if let Some(t) = taken {
        t.serving()
            .map_err(|e| format!("takeover: the old server: {e}"))?;
        tracing::info!("the old server lets go and drains");
    }
    // The control socket a later --takeover asks; once it has taken the
    // sockets over, this server drains as on SIGTERM.
    let _control = match &config.runtime.control_socket {
        Some(path) => Some(
            rt.open_control_socket(path, || {
                let _ = signal_hook::low_level::raise(SIGTERM);
            })
            .map_err(|e| format!("runtime.control_socket: {e}"))?,
        ),
        None => None,
    };
    // systemd Type=notify: started (a no-op without NOTIFY_SOCKET).
    notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status("serving"),
    ]);

    let mut running = config.clone();
    let first = loop {
        let signal = wait_for_signal(&mut signals);
        if signal != SIGHUP {
            break signal;
        }
        notify(&[sd_notify::NotifyState::Reloading]);
        reload(apps, source, &mut running, &mut rt);
        notify(&[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status("serving"),
        ]);
    };
    tracing::info!(
        signal = signal_name(first),
        drain_timeout = %humantime::format_duration(running.limits.drain_timeout),
        "shutting down: no new connections, draining the open ones"
    );
    drain(
        rt,
        running.limits.drain_delay,
        running.limits.drain_timeout,
        signals,
    )
}

/// Whether a socket bound to `socket` serves the configured address
/// `want` (port 0: any port of its IP).
fn same_inet(socket: &std::net::SocketAddr, want: &std::net::SocketAddr) -> bool {
    socket == want || (want.port() == 0 && socket.ip() == want.ip())
}

/// Whether an inherited socket's address is a listener's (port 0 in the
/// configuration: any port of its IP).
fn same_address(socket: &crate::Address, listener: &crate::config::ListenAddress) -> bool {
    use crate::config::ListenAddress;
    match (socket, listener) {
        (crate::Address::Inet(a), ListenAddress::Inet(b)) => same_inet(a, b),
        (crate::Address::Unix(Some(a)), ListenAddress::Unix(b)) => a == b,
        _ => false,
    }
}

/// The next signal.
fn wait_for_signal(signals: &mut Signals) -> i32 {
    signals.forever().next().unwrap_or(SIGTERM)
}

/// Drains the runtime on another thread while this one keeps listening: a
/// second SIGINT or SIGTERM cuts the drain short (what is still open is
/// aborted) and the exit is non-zero.
fn drain(
    rt: Runtime,
    delay: std::time::Duration,
    timeout: std::time::Duration,
    mut signals: Signals,
) -> Result<(), String> {
    notify(&[
        sd_notify::NotifyState::Stopping,
        sd_notify::NotifyState::Status("draining"),
    ]);
    let cutter = rt.drain_cutter();
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("drain".into())
        .spawn(move || {
            let _ = done_tx.send(rt.shutdown_after(delay, timeout));
        })
        .map_err(|e| format!("cannot start the drain: {e}"))?;
    let (sig_tx, sig_rx) = crossbeam_channel::unbounded();
    let forwarder = signals.handle();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if sig_tx.send(signal).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| format!("cannot watch signals during the drain: {e}"))?;
    let mut cut_by = None;
    let report = loop {
        crossbeam_channel::select! {
            recv(done_rx) -> r => break r.map_err(|_| "the drain thread died".to_string())?,
            recv(sig_rx) -> s => match s {
                Ok(SIGHUP) => tracing::warn!("SIGHUP received during the drain; carrying on"),
                Ok(signal) if cut_by.is_none() => {
                    tracing::warn!(signal = signal_name(signal), "second stop signal: aborting the connections still open");
                    cut_by = Some(signal);
                    cutter.cut();
                }
                _ => {}
            },
        }
    };
    forwarder.close();
    let report = report.map_err(|e| format!("shutdown: {e}"))?;
    if let Some(signal) = cut_by {
        return Err(format!(
            "the drain was cut short by a second {}: {} of {} connections aborted",
            signal_name(signal),
            report.aborted,
            report.waited
        ));
    }
    tracing::info!("stopped");
    Ok(())
}

/// Tells systemd (`NOTIFY_SOCKET`) the service's state; failures are logged
/// and otherwise ignored: the service runs the same without a supervisor.
fn notify(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, state) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

fn signal_name(signal: i32) -> &'static str {
    signal_hook::low_level::signal_name(signal).unwrap_or("signal")
}
