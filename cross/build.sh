#!/usr/bin/env bash
# Cross-compiles the roombell binary for a Raspberry Pi board with Debian's Rust 1.96
# (cross/setup.sh installs it), leaving rustup's toolchain alone. Prints the binary's path last.
#
#   cross/build.sh TARGET [--release|--debug] [extra cargo build args...]
#
# TARGET: aarch64-unknown-linux-gnu (Pi 3/4/5, 64-bit Raspberry Pi OS) or
#         armv7-unknown-linux-gnueabihf (Pi 2/3/Zero 2 W, 32-bit; NEON assumed).
#         Short forms: aarch64/arm64, armv7/armhf.
# Release (the default) also writes a stripped copy beside the binary: roombell.stripped.
# Environment: CARGO_TARGET_DIR (default target/ of the checkout; the binary lands in
# $CARGO_TARGET_DIR/TARGET/release/roombell), CARGO_BUILD_JOBS (default 2).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/cross/common.sh"

[ $# -ge 1 ] || { sed -n '2,12p' "$0" >&2; exit 64; }
target="$(cross_target "$1")"; shift
profile=release
extra=()
for a in "$@"; do
  case "$a" in
    --release) profile=release ;;
    --debug) profile=debug ;;
    *) extra+=("$a") ;;
  esac
done
cross_check_toolchain "$target"

args=(build --locked --target "$target" --bin roombell -j "${CARGO_BUILD_JOBS:-2}")
[ "$profile" = release ] && args+=(--release)
cd "$root"
echo "cross/build: ${CROSS_CARGO[*]} ${args[*]} ${extra[*]}" >&2
start=$(date +%s)
"${CROSS_CARGO[@]}" "${args[@]}" "${extra[@]}"
secs=$(( $(date +%s) - start ))

bin="$(cross_target_dir)/$target/$profile/roombell"
[ -x "$bin" ] || { echo "cross/build: $bin was not built" >&2; exit 1; }
{
  echo "cross/build: built in ${secs}s"
  echo "cross/build: $(file -b "$bin" | cut -d, -f1-2)"
  echo "cross/build: needs GLIBC $(cross_glibc_needed "$bin") or newer (Raspberry Pi OS bookworm has 2.36)"
  echo "cross/build: binary $(stat -c %s "$bin") bytes ($(du -h --apparent-size "$bin" | cut -f1))"
  if [ "$profile" = release ]; then
    "$(cross_tool "$target" strip)" -o "$bin.stripped" "$bin"
    echo "cross/build: stripped $(stat -c %s "$bin.stripped") bytes ($(du -h --apparent-size "$bin.stripped" | cut -f1)): $bin.stripped"
  fi
} >&2
echo "$bin"
