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
//! SIGINT or SIGTERM shuts down gracefully: stop accepting, flush and close
//! every connection (lingering closes included), wait up to `drain_timeout`,
//! abort the rest, exit 0. A second SIGINT or SIGTERM aborts at once and
//! exits 1. SIGHUP is logged and survived.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

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
    },
    /// Validate a configuration (the embedded default when none is given)
    /// and print the effective settings as TOML; binds nothing.
    Check {
        /// The TOML configuration file.
        config: Option<PathBuf>,
    },
}

/// The configuration at `path`, or the embedded default.
fn load(apps: &Apps, path: Option<&PathBuf>) -> Result<Config, String> {
    match (path, apps.default_config.as_deref()) {
        (Some(path), _) => Config::from_file(path, apps).map_err(|e| e.to_string()),
        (None, Some(text)) => {
            Config::parse(text, "(embedded default config)", apps).map_err(|e| e.to_string())
        }
        (None, None) => Err("no configuration file given, and no embedded default".into()),
    }
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
    match cli.command.unwrap_or(Command::Serve { config: None }) {
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
        Command::Serve { config } => {
            let config = match load(&apps, config.as_ref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            if let Err(e) = init_logging(&config, cli.log_level.as_deref()) {
                eprintln!("error: --log-level: {e}");
                return ExitCode::from(2);
            }
            match serve(&apps, &config) {
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
fn init_logging(config: &Config, flag: Option<&str>) -> Result<(), String> {
    let filter = match flag {
        Some(level) => tracing_subscriber::EnvFilter::try_new(level).map_err(|e| e.to_string())?,
        None => tracing_subscriber::EnvFilter::try_from_default_env()
            .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log_level))
            .map_err(|e| e.to_string())?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_thread_names(true);
    // A second call in one process (tests) keeps the first subscriber.
    let _ = match config.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    Ok(())
}

fn serve(apps: &Apps, config: &Config) -> Result<(), String> {
    // Before anything binds, so an early signal is a graceful stop too.
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;

    let rc = config.runtime_config();
    let shards = rc.shards;
    let mut rt = Runtime::start(rc).map_err(|e| format!("cannot start the shards: {e}"))?;

    // Bind everything, then serve: a bind error stops the server before it
    // accepted anything.
    rt.hold_serving();
    for l in &config.listeners {
        rt.name_next_listener(&l.name);
        let bound = apps
            .listen(&mut rt, l)
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
    if let Some(addr) = config.metrics {
        let bound = rt
            .serve_metrics(addr)
            .map_err(|e| format!("metrics.address ({addr}): {e}"))?;
        tracing::info!(address = %bound, "metrics on http://{bound}/metrics");
    }
    rt.serve_held()
        .map_err(|e| format!("cannot start serving: {e}"))?;
    // systemd Type=notify: started (a no-op without NOTIFY_SOCKET).
    notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status("serving"),
    ]);

    let first = wait_for_stop(&mut signals);
    tracing::info!(
        signal = signal_name(first),
        drain_timeout = %humantime::format_duration(config.drain_timeout),
        "shutting down: no new connections, draining the open ones"
    );
    drain(rt, config.drain_delay, config.drain_timeout, signals)
}

/// Waits for SIGINT or SIGTERM. SIGHUP (a closed terminal or ssh session
/// sends it) is logged and survived.
fn wait_for_stop(signals: &mut Signals) -> i32 {
    for signal in signals.forever() {
        if signal == SIGHUP {
            tracing::warn!(
                "SIGHUP received: configuration reload is not supported yet; carrying on"
            );
            continue;
        }
        return signal;
    }
    SIGTERM
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
