//! SIGHUP: the configuration read again and applied to the running
//! server where it can be — listeners added, removed or changed, write
//! buffer marks, the log level — and the settings that need a restart named.

use super::source::{load, Source};
use super::Apps;
use crate::config::Config;
use crate::Runtime;

/// SIGHUP: reads the configuration again and, if it is valid, applies it:
/// listeners added, removed or changed (by name), write-buffer marks and the
/// log level for what comes next; connections already open finish under the
/// settings they started with. An invalid configuration changes nothing.
/// Settings that need a restart are named. Counts the reload in the
/// metrics (before logging its outcome). Returns whether it applied.
pub(super) fn reload(apps: &Apps, source: &Source, running: &mut Config, rt: &mut Runtime) -> bool {
    let new = match load(apps, source.path.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            // Counted before it is said: a scrape after the log line sees it.
            rt.count_reload(false);
            tracing::error!("reload refused, the running configuration stays: {e}");
            return false;
        }
    };
    let restart = [
        (
            "runtime.shards",
            running.runtime.shards != new.runtime.shards,
        ),
        (
            "runtime.pin_cores",
            running.runtime.pin_cores != new.runtime.pin_cores,
        ),
        (
            "runtime.udp_batch",
            running.runtime.udp_batch != new.runtime.udp_batch,
        ),
        (
            "limits.max_connections",
            running.limits.max_connections != new.limits.max_connections,
        ),
        (
            "limits.idle_timeout",
            running.limits.idle_timeout != new.limits.idle_timeout,
        ),
        ("metrics.address", running.metrics != new.metrics),
        ("log.format", running.log.format != new.log.format),
    ];
    for (key, changed) in restart {
        if changed {
            tracing::warn!(
                key,
                "changed in the configuration; takes effect at the next restart"
            );
        }
    }
    let mut ok = true;
    if (new.limits.write_buffer_high, new.limits.write_buffer_low)
        != (
            running.limits.write_buffer_high,
            running.limits.write_buffer_low,
        )
    {
        if let Err(e) =
            rt.set_write_buffer_limits(new.limits.write_buffer_high, new.limits.write_buffer_low)
        {
            tracing::error!(error = %e, "reload: write-buffer marks not applied");
            ok = false;
        }
    }
    if new.log.level != running.log.level {
        match &source.log_level {
            Some(handle) => match tracing_subscriber::EnvFilter::try_new(new.log.level.as_str())
                .map_err(|e| e.to_string())
                .and_then(|f| handle.reload(f).map_err(|e| e.to_string()))
            {
                Ok(()) => tracing::info!(level = %new.log.level, "log level changed"),
                Err(e) => {
                    tracing::error!(error = %e, "reload: log level not applied");
                    ok = false;
                }
            },
            None => tracing::warn!("log.level changed, but --log-level or RUST_LOG sets the level"),
        }
    }
    // Listeners, by name: the ones gone or changed close, the new or
    // changed ones open (UDP endpoints cannot be closed yet: restart).
    let ids = rt.listeners();
    for old in &running.listeners {
        let kept = new.listeners.iter().any(|l| l == old);
        if kept {
            continue;
        }
        if old.protocol == crate::config::ListenProtocol::Udp {
            tracing::warn!(listener = %old.name, "a UDP listener changed or went away; takes effect at the next restart");
            continue;
        }
        if let Some((id, _)) = ids.iter().find(|(_, n)| *n == old.name) {
            match rt.close_listener(*id) {
                Ok(()) => {
                    tracing::info!(listener = %old.name, address = %old.address, "listener closed")
                }
                Err(e) => {
                    tracing::error!(listener = %old.name, error = %e, "reload: listener not closed");
                    ok = false;
                }
            }
        }
    }
    for l in &new.listeners {
        if running.listeners.iter().any(|old| old == l) {
            continue;
        }
        let udp_kept = l.protocol == crate::config::ListenProtocol::Udp
            && running.listeners.iter().any(|old| old.name == l.name);
        if udp_kept {
            continue;
        }
        rt.name_next_listener(&l.name);
        match apps.listen(rt, l) {
            Ok(bound) => {
                tracing::info!(listener = %l.name, address = %bound, app = %l.app, "listening")
            }
            Err(e) => {
                tracing::error!(listener = %l.name, error = %e, "reload: listener not opened");
                ok = false;
            }
        }
    }
    rt.count_reload(ok);
    tracing::info!(applied = ok, "configuration reloaded");
    *running = new;
    ok
}
