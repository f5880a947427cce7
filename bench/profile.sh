#!/usr/bin/env bash
# Where the device's CPU goes: callgrind (instruction counts, deterministic) on
#   1. `roombell record` (test source 640x480@30 → openh264 → Opus, no network), and
#   2. `roombell run` publishing to a `roombell room` with one Rust subscriber,
# on the release build. Writes bench/out/callgrind.*.out and prints the top functions
# (exclusive and inclusive). perf is not used: it is unavailable in these VMs.
#
#   bench/profile.sh [SECONDS]     (default 6 s of media each; callgrind runs ~50x slower)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_OF_MEDIA="${1:-6}"
TARGET="${CARGO_TARGET_DIR:-target}"
BIN="$TARGET/release/roombell"
SUBS="$TARGET/release/examples/bench_subscribers"
OUT=bench/out
mkdir -p "$OUT"
command -v valgrind >/dev/null || { echo "valgrind is missing (apt-get install valgrind)" >&2; exit 1; }
[ -x "$BIN" ] && [ -x "$SUBS" ] || cargo build --release --bin roombell --example bench_subscribers >&2
TMP=$(mktemp -d)
trap 'kill $ROOM_PID $DEV_PID 2>/dev/null || true; rm -rf "$TMP"' EXIT
ROOM_PID=""; DEV_PID=""
KEY=5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e

cat > "$TMP/device.toml" <<TOML
[device]
server = "ws://127.0.0.1:1/ws"
sdk_app_id = 1400000000
secret_key = "$KEY"
user_id = "doorbell-01"
room_id = 4242
media_ip = "127.0.0.1"
state_dir = "$TMP/state"
[video]
backend = "test"
width = 640
height = 480
fps = 30
[audio]
backend = "tone"
[speaker]
backend = "null"
TOML

echo "== callgrind: roombell record, ${SECONDS_OF_MEDIA} s" >&2
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.record.out" \
  "$BIN" record --config "$TMP/device.toml" --seconds "$SECONDS_OF_MEDIA" --video /dev/null --audio /dev/null \
  > "$OUT/callgrind.record.txt" 2>&1
grep -E "frames:|encode:" "$OUT/callgrind.record.txt" >&2 || true

echo "== callgrind: roombell run → room → 1 subscriber, $((SECONDS_OF_MEDIA * 3)) s wall" >&2
printf '[room]\nlisten = "127.0.0.1:0"\nsdk_app_id = 1400000000\nsecret_key = "%s"\nmedia_ip = "127.0.0.1"\n' "$KEY" > "$TMP/room.toml"
"$BIN" room --config "$TMP/room.toml" > "$TMP/room.out" 2>/dev/null &
ROOM_PID=$!
for _ in $(seq 50); do grep -q listening "$TMP/room.out" && break; sleep 0.1; done
ADDR=$(sed -n 's|.*http://\([^/]*\)/.*|\1|p' "$TMP/room.out")
sed -i "s|ws://127.0.0.1:1/ws|ws://$ADDR/ws|" "$TMP/device.toml"
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.run.out" \
  "$BIN" run --config "$TMP/device.toml" > /dev/null 2> "$OUT/callgrind.run.txt" &
DEV_PID=$!
"$SUBS" "ws://$ADDR/ws" 1400000000 "$KEY" 4242 doorbell-01 1 "$((SECONDS_OF_MEDIA * 3))" >&2 || true
kill -TERM "$DEV_PID"; wait "$DEV_PID" || true
kill -TERM "$ROOM_PID"; wait "$ROOM_PID" || true
DEV_PID=""; ROOM_PID=""

set +o pipefail # head closes the pipes early
for f in record run; do
  echo "== $f: top exclusive" >&2
  callgrind_annotate "$OUT/callgrind.$f.out" 2>/dev/null | sed -n '1,40p' | grep -E "^\s*[0-9,]+ \(" | head -25
  echo "== $f: top inclusive" >&2
  callgrind_annotate --inclusive=yes "$OUT/callgrind.$f.out" 2>/dev/null | grep -E "^\s*[0-9,]+ \(" | head -40
done
