//! `shardloop`: runs the services a TOML configuration names, on the
//! thread-per-core runtime — the registry of the bundled apps handed to the
//! framework's server program ([`shardloop::app::main`]), as a user's own
//! server does with its apps.

/// Counts heap bytes for kv's `maxmemory` and INFO's `used_memory`.
#[global_allocator]
static ALLOC: shardloop_apps::memory::Counting = shardloop_apps::memory::Counting;

fn main() -> std::process::ExitCode {
    shardloop::app::main(shardloop_apps::apps())
}
