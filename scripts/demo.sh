#!/usr/bin/env bash
# Sets up, builds and runs the demo: a room server on 127.0.0.1 with the config in config/demo.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release
exec target/release/roombell room --config config/demo.toml "$@"
