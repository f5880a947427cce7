#!/usr/bin/env bash
# Runs roombell's test suite for a Raspberry Pi target under qemu-user, with Debian's Rust 1.96
# (cross/setup.sh). Each test binary runs through the cargo `runner` in .cargo/config.toml
# (qemu-aarch64-static / qemu-arm-static).
#
#   cross/test.sh TARGET [--unit] [--release] [-- ARGS for the test binaries]
#
# TARGET: aarch64-unknown-linux-gnu or armv7-unknown-linux-gnueabihf (or aarch64/arm64, armv7/armhf).
# --unit     only the library's and binary's own tests (#[cfg(test)]): the quick set for CI
# --release  test the release profile instead of the debug one
# --all      also run the single tests listed in TIMING_SKIPS below
#
# What runs: the lib and bin unit tests, every tests/*.rs except those named in NOT_FOR_TARGET
# below, and the doctests. Left out: tests/web_*.rs (they drive Debian's x86 Chromium; the web
# client is not architecture-specific and is tested natively) and tests/vm_*.rs (they boot an
# x86_64 kernel with the binary inside).
# Tests that start the roombell binary as a child (check, cli, device_e2e, sd_notify, package_deb,
# systemd_units) need the kernel's binfmt_misc to hand the ARM child to qemu; cross/setup.sh
# registers it where the kernel allows. Without it they are left out, and the summary says so.
#
# The emulated CPU is the oldest one each target is meant for, so an instruction a real board
# lacks fails here: QEMU_CPU=cortex-a53 (Pi 3, Zero 2 W) for aarch64 and cortex-a7 (Pi 2) for
# armv7. Set QEMU_CPU to override. package_deb builds its .deb for the target (DEB_ARCH).
# Environment: CARGO_TARGET_DIR (default target/cross: a debug build here would otherwise hold
# cargo's lock on target/debug, the native builds' directory, for its whole length),
# CARGO_BUILD_JOBS (default 2).
# Ends with "N passed, N failed, N skipped" (summed over all test binaries; skipped counts the
# ignored and the --skip'ped tests); exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/cross/common.sh"

[ $# -ge 1 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 64; }
target="$(cross_target "$1")"; shift
unit_only=0 run_all=0 profile_args=() test_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --unit) unit_only=1 ;;
    --release) profile_args=(--release) ;;
    --all) run_all=1 ;;
    --) shift; test_args=("$@"); break ;;
    *) echo "cross/test: unknown option $1" >&2; exit 64 ;;
  esac
  shift
done
cross_check_toolchain "$target"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/cross}"
qemu="$(cross_qemu "$target")"
command -v "$qemu" >/dev/null || { echo "cross/test: $qemu missing: run cross/setup.sh" >&2; exit 1; }

case "$target" in
  aarch64-*) binfmt=qemu-aarch64 deb_arch=arm64 cpu=cortex-a53 ;;
  armv7-*) binfmt=qemu-arm deb_arch=armhf cpu=cortex-a7 ;;
esac
export QEMU_CPU="${QEMU_CPU:-$cpu}"
export DEB_ARCH="$deb_arch"

# Test files not run for an ARM target (shell patterns on the file name without .rs).
NOT_FOR_TARGET=('web_*' 'vm_*')
# Single tests left out (cargo test's --skip, a substring of the test's name), unless --all:
# - real-time budgets that a debug build under qemu-user (5-20x slower than the board) cannot
#   meet; their functional parts (bit-exact ALSA capture, decodable output) pass before the
#   timing assertion that fails:
#   media_alsa: the pacing heuristic needs the test loop to run faster than real time;
#   record: the encoder must keep up with 30 fps; device_e2e: 1 kHz heard within 2 s;
#   sd_notify: publishing (and 30 frames) within the first 4-5 s.
# - package_deb tests that expect the .deb's architecture to be the host's (dpkg
#   --print-architecture) rather than the binary's.
TIMING_SKIPS=(
  capture_encode_decode_play_keeps_the_tone two_talkers_mixed_are_both_heard
  three_seconds_of_test_and_tone_decode_with_ffmpeg
  the_doorbell_joins_talks_recovers_and_leaves
  ready_status_watchdog_and_stopping_follow_the_pipeline a_hung_encoder_stops_the_watchdog_pings
  control_names_version_architecture_section_and_dependencies
  script_refuses_a_binary_built_for_another_architecture
)
# Tests that spawn the (ARM) roombell binary need binfmt_misc; without it they are skipped.
SPAWNING_TESTS=(check cli device_e2e sd_notify package_deb systemd_units)
have_binfmt=0
if [ "$(head -1 /proc/sys/fs/binfmt_misc/$binfmt 2>/dev/null)" = enabled ]; then
  have_binfmt=1
fi

cd "$root"
sel=(--lib --bins)
skipped=()
[ $unit_only -eq 1 ] && skipped=("tests/*.rs and doctests (--unit)")
if [ $unit_only -eq 0 ]; then
  for f in tests/*.rs; do
    name="$(basename "$f" .rs)"
    for pat in "${NOT_FOR_TARGET[@]}"; do
      # shellcheck disable=SC2053 # a pattern on purpose
      if [[ $name == $pat ]]; then skipped+=("$name"); continue 2; fi
    done
    if [ $have_binfmt -eq 0 ] && printf '%s\n' "${SPAWNING_TESTS[@]}" | grep -qx "$name"; then
      skipped+=("$name"); continue
    fi
    sel+=(--test "$name")
  done
fi

skip_args=()
if [ $run_all -eq 0 ]; then
  for t in "${TIMING_SKIPS[@]}"; do skip_args+=(--skip "$t"); done
fi
log="$(mktemp)"; trap 'rm -f "$log"' EXIT
args=(test --locked --target "$target" -j "${CARGO_BUILD_JOBS:-2}" --no-fail-fast "${profile_args[@]}")
echo "cross/test: QEMU_CPU=$QEMU_CPU ${CROSS_CARGO[*]} ${args[*]} ${sel[*]}" >&2
[ $have_binfmt -eq 1 ] || echo "cross/test: binfmt_misc has no enabled $binfmt handler: skipping ${SPAWNING_TESTS[*]}" >&2
start=$(date +%s)
status=0
"${CROSS_CARGO[@]}" "${args[@]}" "${sel[@]}" -- "${skip_args[@]}" "${test_args[@]}" 2>&1 | tee -a "$log" || status=1
if [ $unit_only -eq 0 ]; then
  echo "cross/test: doctests" >&2
  "${CROSS_CARGO[@]}" "${args[@]}" --doc -- "${skip_args[@]}" "${test_args[@]}" 2>&1 | tee -a "$log" || status=1
fi
secs=$(( $(date +%s) - start ))

# "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 2 filtered out; ..." per binary.
read -r passed failed ignored < <(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored; [0-9]* measured; \([0-9]*\) filtered out.*/\1 \2 \3 \4/p' "$log" \
  | awk '{p+=$1; f+=$2; i+=$3+$4} END {print p+0, f+0, i+0}')
binaries="$(grep -c '^test result:' "$log" || true)"
echo "cross/test: $target under $qemu (QEMU_CPU=$QEMU_CPU): $binaries test binaries in ${secs}s; not run: ${skipped[*]:-none}"
[ ${#skip_args[@]} -eq 0 ] || echo "cross/test: skipped single tests (TIMING_SKIPS; --all runs them): ${TIMING_SKIPS[*]}"
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "cross/test: cargo failed before or outside the tests (see above)"
  failed=1
fi
echo "${passed} passed, ${failed} failed, ${ignored} skipped"
[ "$status" -eq 0 ]
