#!/usr/bin/env bash
# Installs what building and testing roombell needs on Debian 12. Idempotent; run as root
# (or with sudo). Nothing is downloaded outside Debian's archive, crates.io and (for the browser
# tests' playwright-core, pinned by tests/web/package-lock.json) the npm registry.
set -euo pipefail

PACKAGES=(
  # build: C codecs (openh264 with nasm, or it silently builds ~3x slower; bundled libopus with cmake),
  # ALSA and systemd headers, libclang for the v4l bindings
  build-essential pkg-config cmake nasm libclang1-14 libasound2-dev libsystemd-dev
  # tests: ffprobe/ffmpeg decode what `roombell record` writes; aplay/arecord for ALSA checks
  ffmpeg alsa-utils
  # tests: the web client end to end in Debian's Chromium (tests/web_chromium.rs); never a
  # browser downloaded by playwright
  chromium fonts-liberation
  # tests and scripts/package-deb.sh: systemd-analyze (security, verify) and systemd's own units;
  # dpkg-deb, dpkg-shlibdeps and strip; lintian over the .deb (tests/package_deb.rs runs it when present)
  systemd dpkg-dev binutils lintian
  # tests/vm (tests/vm_drivers.rs): Debian's kernel with vivid and snd-aloop under qemu-system;
  # busybox and cpio build the initramfs, kmod's depmod/modprobe order the modules, python3
  # analyses tones (the kernel .deb itself is fetched and cached by tests/vm/run.sh)
  qemu-system-x86 qemu-system-arm busybox-static cpio kmod python3
  # scripts/faults.sh: loss in the fault tests' router namespace (the kernel has no netem); iproute2 for ip netns
  nftables iproute2
  janus  # tests/janus.rs: the device in a real Janus VideoRoom (run in a network namespace)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js (18 or newer) runs the browser tests' playwright-core scripts; keep one already there.
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
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
# playwright-core for tests/web, exactly as package-lock.json pins it; only when node_modules is
# missing or the lock file changed since the last install.
web_tests="$(cd "$(dirname "$0")/.." && pwd)/tests/web"
lock_stamp="$web_tests/node_modules/.roombell-package-lock.sha256"
lock_sum="$(sha256sum "$web_tests/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$web_tests/node_modules/playwright-core/package.json" ] || [ "$(cat "$lock_stamp" 2>/dev/null)" != "$lock_sum" ]; then
  echo "setup: npm ci --prefix $web_tests"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$web_tests" --no-audit --no-fund
  echo "$lock_sum" > "$lock_stamp"
fi

echo "setup: ok"
