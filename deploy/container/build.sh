#!/bin/sh
# The release build of the shardloop binary: what the container's build
# stage runs, and what CI runs outside a container, so the Dockerfile's
# build is exercised on every change. Prints the binary's path.
set -eu
cd "$(dirname "$0")/../.."
cargo build --release --locked -p shardloop-apps --bin shardloop >&2
echo target/release/shardloop
