#!/usr/bin/env bash
# Soak: a room server, a doorbell (`roombell run` on the test pattern and a tone, speaker
# discarded) and an answerer (examples/load_clients.rs with a partner: subscribes to the
# doorbell and talks back) on 127.0.0.1 for MINUTES. Once a minute it samples each process's
# resident memory and CPU time. Afterwards it fits a line through the samples after the first
# 5 minutes: "no growth trend" means the fitted growth over that span is under 5 % of the mean
# (and under 8 MiB), for memory in both processes. Writes target/faults/soak.json and
# soak-samples.csv; exits 1 on a trend or a process that died.
#
#   scripts/soak.sh [MINUTES=30]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-30}"
out=target/faults
mkdir -p "$out"
profile="${SOAK_PROFILE:-release}"
target_dir="${CARGO_TARGET_DIR:-target}"
cargo build --profile "$( [ "$profile" = debug ] && echo dev || echo release )" --quiet --bin roombell --example load_clients
bin="$target_dir/$profile/roombell"
answerer="$target_dir/$profile/examples/load_clients"

work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

key=soak-test-secret-key-0123456789abcdef
app=1400000002
room=4242
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat > "$work/room.toml" <<EOF
[room]
listen = "127.0.0.1:$port"
sdk_app_id = $app
secret_key = "$key"
media_ip = "127.0.0.1"
EOF
cat > "$work/device.toml" <<EOF
[device]
server = "ws://127.0.0.1:$port/ws"
sdk_app_id = $app
secret_key = "$key"
user_id = "doorbell-soak"
room_id = $room
media_ip = "127.0.0.1"
state_dir = "$work/state"

[video]
backend = "test"
width = 640
height = 480
fps = 30

[audio]
backend = "tone"
tone_hz = 440.0

[speaker]
backend = "null"
EOF
RUST_LOG=warn "$bin" room --config "$work/room.toml" 2> "$work/room.log" &
room_pid=$!; pids+=("$room_pid")
for _ in $(seq 1 100); do curl -fsS --max-time 2 "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
RUST_LOG=warn "$bin" run --config "$work/device.toml" 2> "$work/device.log" &
device_pid=$!; pids+=("$device_pid")
sleep 3
"$answerer" "ws://127.0.0.1:$port/ws" "$app" "$key" 1 $((minutes * 60 + 30)) "$room" doorbell-soak \
    > "$work/answerer.json" 2> "$work/answerer.log" &
answerer_pid=$!; pids+=("$answerer_pid")

tick="$(getconf CLK_TCK)"
sample() { # pid -> "rss_kib cpu_ticks"
    local rss ticks
    rss="$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null)" || return 1
    ticks="$(awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null)" || return 1
    echo "$rss $ticks"
}
echo "minute,room_rss_kib,room_cpu_ticks,device_rss_kib,device_cpu_ticks,forwarded_packets" > "$out/soak-samples.csv"
echo "soak: $minutes minutes; room server pid $room_pid, device pid $device_pid, answerer pid $answerer_pid"
for minute in $(seq 0 "$minutes"); do
    [ "$minute" -eq 0 ] || sleep 60
    r="$(sample "$room_pid")" || { echo "soak: the room server died"; tail -20 "$work/room.log"; exit 1; }
    d="$(sample "$device_pid")" || { echo "soak: the device died"; tail -20 "$work/device.log"; exit 1; }
    fwd="$(curl -fsS --max-time 5 "http://127.0.0.1:$port/debug/metrics" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hub"]["packets_forwarded"])' || echo -1)"
    echo "$minute,${r% *},${r#* },${d% *},${d#* },$fwd" | tee -a "$out/soak-samples.csv"
done
kill "$answerer_pid" 2>/dev/null || true

python3 - "$out/soak-samples.csv" "$out/soak.json" "$tick" <<'EOF'
import csv, json, sys
rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(open(sys.argv[1]))]
tick = float(sys.argv[3])
def fit(xs, ys):
    n = len(xs); mx = sum(xs) / n; my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs) or 1.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx, my
steady = [r for r in rows if r["minute"] >= 5] or rows
span = steady[-1]["minute"] - steady[0]["minute"]
report, ok = {"minutes": rows[-1]["minute"], "processes": {}}, True
for name in ("room", "device"):
    slope, mean = fit([r["minute"] for r in steady], [r[f"{name}_rss_kib"] for r in steady])
    growth = slope * span
    cpu = [(b[f"{name}_cpu_ticks"] - a[f"{name}_cpu_ticks"]) / tick / 60 * 100
           for a, b in zip(rows, rows[1:])]
    trend = growth > 0.05 * mean or growth > 8 * 1024
    ok &= not trend
    report["processes"][name] = {
        "rss_mib_by_minute": [round(r[f"{name}_rss_kib"] / 1024, 1) for r in rows],
        "cpu_percent_by_minute": [round(c, 1) for c in cpu],
        "rss_slope_kib_per_minute_after_5": round(slope, 1),
        "rss_growth_mib_over_steady_span": round(growth / 1024, 2),
        "rss_mean_mib": round(mean / 1024, 1),
        "growth_trend": trend,
    }
    print(f"{name}: RSS MiB by minute {report['processes'][name]['rss_mib_by_minute']}")
    print(f"{name}: CPU % by minute {report['processes'][name]['cpu_percent_by_minute']}")
    print(f"{name}: fitted RSS growth after minute 5: {slope:.1f} KiB/min = {growth/1024:.2f} MiB over {span:.0f} min "
          f"(mean {mean/1024:.1f} MiB) -> {'TREND' if trend else 'no trend'}")
fwd = [r["forwarded_packets"] for r in rows]
report["forwarded_packets_by_minute"] = fwd
report["media_kept_flowing"] = all(b > a for a, b in zip(fwd[1:], fwd[2:]))
ok &= report["media_kept_flowing"]
print("media kept flowing every minute:", report["media_kept_flowing"])
json.dump(report, open(sys.argv[2], "w"), indent=1)
sys.exit(0 if ok else 1)
EOF
