//! `shardloop`: runs the services a TOML configuration names, on the
//! thread-per-core runtime — the registry of the bundled apps handed to the
//! framework's server program ([`shardloop::app::main`]), as a user's own
//! server does with its apps.

fn main() -> std::process::ExitCode {
    shardloop::app::main(shardloop_apps::apps())
}
