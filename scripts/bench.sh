#!/usr/bin/env bash
# Benchmarks: glass-to-glass, mouth-to-ear, CPU, start-up, memory, room server — each next to
# its reference from the same run. Writes docs/benchmarks.md and prints the table and one
# `RESULT <name> <value> <unit>` line per figure.
#
#   scripts/bench.sh [--quick]     (--quick: every figure briefly, under 5 minutes)
#
# Needs what scripts/setup.sh installs (Rust, /usr/bin/chromium, node) and tests/web's
# playwright-core (installed here with `npm ci` if missing). CARGO_TARGET_DIR is honoured.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=""
case "${1:-}" in
  --quick) QUICK="--quick" ;;
  "") ;;
  *) echo "usage: scripts/bench.sh [--quick]" >&2; exit 2 ;;
esac

echo "== building (release)" >&2
cargo build --release --bin roombell --example bench_subscribers >&2
TARGET="${CARGO_TARGET_DIR:-target}"

if [ ! -d tests/web/node_modules/playwright-core ]; then
  echo "== installing playwright-core for tests/web" >&2
  (cd tests/web && npm ci --no-audit --no-fund) >&2
fi

echo "== running ($([ -n "$QUICK" ] && echo quick || echo full))" >&2
ROOMBELL_BIN="$TARGET/release/roombell" \
ROOMBELL_SUBS_BIN="$TARGET/release/examples/bench_subscribers" \
  node bench/run.mjs $QUICK

node bench/report.mjs
echo "== wrote docs/benchmarks.md" >&2
