#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/*.rs) for SECONDS_PER_TARGET seconds (default 60),
# one after the other, with libFuzzer through cargo-fuzz on the stable toolchain, and prints
# per target: runs, execs/s, coverage, seconds. Exits non-zero if any target crashed (or
# failed to build); the crashing input is left in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   FUZZ_UPDATE_CORPUS=1 scripts/fuzz.sh 600   # also merge what was found into fuzz/corpus,
#                                              # minimized (libFuzzer set-cover merge)
#   FUZZ_SKIP_BUILD=1 scripts/fuzz.sh ...      # run the binaries already in fuzz/target
#
# Why `--sanitizer none`: only a stable toolchain is available, and AddressSanitizer needs
# `-Zsanitizer`. Coverage instrumentation (sancov) and libFuzzer itself work on stable; our
# code is safe Rust, so out-of-bounds accesses are panics the fuzzer catches anyway. Overflow
# checks and debug assertions are on (fuzz/Cargo.toml). Docs: docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
SECONDS_PER_TARGET=${1:-60}
shift || true
if ! [[ $SECONDS_PER_TARGET =~ ^[0-9]+$ ]] || [ "$SECONDS_PER_TARGET" -lt 1 ]; then
    echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
fi

if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
    cargo install --locked --version "$CARGO_FUZZ_VERSION" cargo-fuzz
fi

# -O: release mode; debug assertions and overflow checks come from fuzz/Cargo.toml's profile,
# which leaves them off for one dependency (see there).
FUZZ_FLAGS=(--sanitizer none -O --fuzz-dir fuzz)
# Strips the coverage flags from libsystemd-sys's link probe, which cannot link them (see there).
if [[ ${RUSTC:-rustc} != */rustc-wrapper.sh ]]; then
    export ROOMBELL_FUZZ_REAL_RUSTC=${RUSTC:-rustc}
fi
export RUSTC="$PWD/fuzz/rustc-wrapper.sh"
if [ $# -gt 0 ]; then
    TARGETS=("$@")
else
    mapfile -t TARGETS < <(cargo fuzz list --fuzz-dir fuzz)
fi

# Build once, then run the binaries directly (what `cargo fuzz run` does after building), so
# every target fuzzes the same build even if the sources change meanwhile.
if [ "${FUZZ_SKIP_BUILD:-0}" != 1 ]; then
    cargo fuzz build "${FUZZ_FLAGS[@]}"
fi
BIN_DIR=fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release

# New inputs go to a scratch corpus under fuzz/target (ignored); the committed corpus is only
# read, unless FUZZ_UPDATE_CORPUS=1.
WORK=fuzz/target/fuzz-work
LOGS=fuzz/target/fuzz-logs
mkdir -p "$WORK" "$LOGS"
failed=()
printf '%-18s %12s %10s %8s %8s %8s  %s\n' target runs execs/s cov ft seconds result
for target in "${TARGETS[@]}"; do
    mkdir -p "$WORK/$target" "fuzz/corpus/$target" "fuzz/artifacts/$target"
    log="$LOGS/$target.log"
    start=$(date +%s)
    status=ok
    # -timeout: an input taking 10 s is a hang, reported like a crash. -rss_limit_mb: so is an
    # input that makes the process grow past 2 GiB.
    if ! "$BIN_DIR/$target" -artifact_prefix="fuzz/artifacts/$target/" \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "$WORK/$target" "fuzz/corpus/$target" >"$log" 2>&1; then
        status="CRASH (see $log and fuzz/artifacts/$target/)"
        failed+=("$target")
    fi
    seconds=$(($(date +%s) - start))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    # The last status line, e.g. "#123456 DONE cov: 1234 ft: 5678 corp: 90/12Kb ...".
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    printf '%-18s %12s %10s %8s %8s %8s  %s\n' "$target" "${runs:-?}" "${speed:-?}" \
        "${cov:-?}" "${ft:-?}" "$seconds" "$status"
    if [ "${FUZZ_UPDATE_CORPUS:-0}" = 1 ] && [ "$status" = ok ]; then
        merged=$(mktemp -d "$WORK/$target.merged.XXXX")
        # Set cover over edges only (-use_counters=0): the smallest set with the same coverage,
        # which keeps the committed corpus small.
        "$BIN_DIR/$target" -set_cover_merge=1 -use_counters=0 "$merged" \
            "fuzz/corpus/$target" "$WORK/$target" \
            >"$LOGS/$target.merge.log" 2>&1
        rm -rf "fuzz/corpus/$target"
        mv "$merged" "fuzz/corpus/$target"
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashes in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: ${#TARGETS[@]} targets, no crash"
