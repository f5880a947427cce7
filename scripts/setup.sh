#!/usr/bin/env bash
# Installs what building and testing roombell needs on Debian 12. Idempotent; run as root
# (or with sudo). Nothing is downloaded outside Debian's archive and crates.io.
set -euo pipefail

PACKAGES=(
  # build: C codecs (openh264 with nasm, or it silently builds ~3x slower; bundled libopus with cmake),
  # ALSA and systemd headers, libclang for the v4l bindings
  build-essential pkg-config cmake nasm libclang1-14 libasound2-dev libsystemd-dev
  # tests: ffprobe/ffmpeg decode what `roombell record` writes; aplay/arecord for ALSA checks
  ffmpeg alsa-utils
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found. Install Rust (https://rustup.rs) or Debian's cargo, then run again." >&2
  exit 1
fi
echo "setup: ok"
