#!/usr/bin/env bash
# The whole test suite, as CI runs it: set up, check formatting and lints, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets
# The device and the room server in network namespaces through loss, jitter, outages, server
# kills and device faults (about 6 minutes; needs root, as CI runs).
scripts/faults.sh netns
