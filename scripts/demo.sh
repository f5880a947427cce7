#!/usr/bin/env bash
# Sets up, builds and runs the demo: a room server and a doorbell on test sources (a moving
# test pattern and a 440 Hz tone) on 127.0.0.1, from config/demo.toml. It prints the answer
# page's URL; open it in a browser to see and talk to the "visitor". Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release
exec target/release/roombell demo --config config/demo.toml "$@"
