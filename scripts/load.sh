#!/usr/bin/env bash
# Load: CLIENTS Rust clients (examples/load_clients.rs) join / publish / subscribe / leave in a
# loop for SECONDS against one `roombell room` on 127.0.0.1, then the server must be back where it
# started: no rooms, connections, publications or subscriptions left, media tasks and open
# sockets at their baseline, resident memory within 10 % of it. Samples /debug/metrics every
# 10 s. Writes target/faults/load.json (summary) and load-samples.jsonl; exits 1 on a leak.
#
#   scripts/load.sh [CLIENTS=50] [SECONDS=300]
#
# The baseline is taken after a 30 s warm-up with the same number of clients, then 5 s of calm:
# memory the server keeps for good once it has carried that load (thread pools, allocator
# arenas at their high-water mark) is not a leak; what grows over the next SECONDS is.
set -euo pipefail
cd "$(dirname "$0")/.."
clients="${1:-50}"
seconds="${2:-300}"
out=target/faults
mkdir -p "$out"
# LOAD_PROFILE=debug for a quick try of the script itself; figures come from release builds.
profile="${LOAD_PROFILE:-release}"
target_dir="${CARGO_TARGET_DIR:-target}"
cargo build --profile "$( [ "$profile" = debug ] && echo dev || echo release )" --quiet --bin roombell --example load_clients
bin="$target_dir/$profile/roombell"
load="$target_dir/$profile/examples/load_clients"

work="$(mktemp -d)"
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

key=load-test-secret-key-0123456789abcdef
app=1400000001
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat > "$work/room.toml" <<EOF
[room]
listen = "127.0.0.1:$port"
sdk_app_id = $app
secret_key = "$key"
media_ip = "127.0.0.1"
max_members_per_room = 16
EOF
RUST_LOG=warn "$bin" room --config "$work/room.toml" 2> "$work/room.log" &
server_pid=$!
metrics() { curl -fsS --max-time 5 "http://127.0.0.1:$port/debug/metrics"; }
for _ in $(seq 1 100); do metrics >/dev/null 2>&1 && break; sleep 0.1; done
metrics > "$work/start.json" || { echo "load: the room server did not come up"; cat "$work/room.log"; exit 1; }

"$load" "ws://127.0.0.1:$port/ws" "$app" "$key" "$clients" 30 9000 > "$work/warmup.json"
for _ in $(seq 1 150); do
    metrics | python3 -c 'import json,sys; h=json.load(sys.stdin)["hub"]; sys.exit(h["connections"] + h["rooms"] > 0)' && break
    sleep 0.2
done
sleep 5
metrics > "$work/baseline.json"

: > "$out/load-samples.jsonl"
( for _ in $(seq 1 $((seconds / 10 + 30))); do
      sleep 10
      kill -0 "$server_pid" 2>/dev/null || break
      echo "{\"t\":$(date +%s),\"metrics\":$(metrics || echo null)}" >> "$out/load-samples.jsonl"
  done ) &
sampler=$!
echo "load: $clients clients for $seconds s against 127.0.0.1:$port"
"$load" "ws://127.0.0.1:$port/ws" "$app" "$key" "$clients" "$seconds" > "$work/load.json" || true
kill "$sampler" 2>/dev/null || true

# Everyone has left; give the server its heartbeat timeout to notice anyone who did not say so.
for _ in $(seq 1 150); do
    metrics > "$work/after.json" || break
    python3 - "$work/after.json" <<'EOF' && break
import json, sys
hub = json.load(open(sys.argv[1]))["hub"]
sys.exit(0 if hub["connections"] == 0 and hub["rooms"] == 0 else 1)
EOF
    sleep 0.2
done
sleep 2
metrics > "$work/after.json"
kill -0 "$server_pid" 2>/dev/null || { echo "load: the room server died"; tail -20 "$work/room.log"; exit 1; }

python3 - "$work" "$out/load.json" <<'EOF'
import json, sys
work, out = sys.argv[1], sys.argv[2]
read = lambda name: json.load(open(f"{work}/{name}.json"))
start, base, after, run = read("start"), read("baseline"), read("after"), read("load")
samples = [json.loads(l) for l in open(f"{out[:-len('load.json')]}load-samples.jsonl") if l.strip()]
peak = max((s["metrics"]["process"]["rss_bytes"] for s in samples if s["metrics"]), default=0)
mib = lambda b: round(b / 1048576, 1)
checks = {
    "no rooms left": after["hub"]["rooms"] == 0,
    "no connections left": after["hub"]["connections"] == 0,
    "no publications left": after["hub"]["publications"] == 0,
    "no subscriptions left": after["hub"]["subscriptions"] == 0,
    "media tasks at baseline": after["hub"]["media_tasks"] <= base["hub"]["media_tasks"],
    "sockets at baseline": after["process"]["open_sockets"] <= base["process"]["open_sockets"],
    "RSS within 10 % of baseline": after["process"]["rss_bytes"] <= 1.10 * base["process"]["rss_bytes"],
    "calls were made": run["calls"] > 0 and run["subscribes"] > 0,
}
summary = {
    "run": run,
    "rss_mib": {"start": mib(start["process"]["rss_bytes"]), "baseline": mib(base["process"]["rss_bytes"]),
                "peak": mib(peak), "after": mib(after["process"]["rss_bytes"])},
    "baseline": base, "after": after, "checks": checks,
}
json.dump(summary, open(out, "w"), indent=1)
print(json.dumps(run))
print("RSS MiB: start %(start)s, baseline %(baseline)s, peak %(peak)s, after %(after)s" % summary["rss_mib"])
print("sockets: baseline %d, after %d; media tasks: baseline %d, after %d; threads: baseline %d, after %d" % (
    base["process"]["open_sockets"], after["process"]["open_sockets"], base["hub"]["media_tasks"],
    after["hub"]["media_tasks"], base["process"]["threads"], after["process"]["threads"]))
for name, ok in checks.items():
    print(("ok   " if ok else "FAIL ") + name)
sys.exit(0 if all(checks.values()) else 1)
EOF
