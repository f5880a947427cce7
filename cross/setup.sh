#!/usr/bin/env bash
# Sets up cross-compiling roombell for Raspberry Pi boards on Debian 12 (bookworm), as root.
# Idempotent. Installs Debian's own Rust 1.96 (rustc-web/cargo-web from bookworm-security) beside
# any rustup toolchain without touching it, std for the ARM targets (libstd-rust-web-dev:ARCH),
# the cross gcc/g++, the targets' -dev libraries through multiarch, and qemu-user-static.
#
#   cross/setup.sh                 both targets: aarch64 first, armhf best effort
#   cross/setup.sh aarch64         only aarch64-unknown-linux-gnu   (Pi 3/4/5, 64-bit OS)
#   cross/setup.sh armv7           only armv7-unknown-linux-gnueabihf (Pi 2/3/Zero 2 W, 32-bit OS)
#   --armhf-std-from-pool          when bookworm-security's armhf index is broken on the mirror:
#                                  see install_std_armhf_from_pool below (opt-in)
#
# Exit status: 0 when every requested target is set up; 1 when aarch64 fails; 2 when aarch64 is
# fine but armhf could not be set up (the message says why, and nothing armhf is left behind
# that would break a later `apt-get update`).
set -euo pipefail

want_arm64=0 want_armhf=0 armhf_std_from_pool="${CROSS_ARMHF_STD_FROM_POOL:-0}"
for a in "$@"; do
  case "$a" in
    --armhf-std-from-pool) armhf_std_from_pool=1 ;;
    aarch64|arm64|aarch64-unknown-linux-gnu) want_arm64=1 ;;
    armv7|armhf|armv7-unknown-linux-gnueabihf) want_armhf=1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "cross/setup.sh: unknown target '$a' (aarch64 or armv7)" >&2; exit 64 ;;
  esac
done
if [ $want_arm64 -eq 0 ] && [ $want_armhf -eq 0 ]; then want_arm64=1 want_armhf=1; fi

if [ "$(id -u)" -ne 0 ]; then
  echo "cross/setup.sh: run as root (apt-get, dpkg --add-architecture)" >&2
  exit 1
fi
if [ "$(dpkg --print-architecture)" != amd64 ]; then
  echo "cross/setup.sh: written for an amd64 Debian 12 host (this is $(dpkg --print-architecture))" >&2
  exit 1
fi
. /etc/os-release
if [ "${VERSION_CODENAME:-}" != bookworm ]; then
  echo "cross/setup.sh: warning: written for Debian 12 bookworm, this is ${PRETTY_NAME:-unknown}" >&2
fi

export DEBIAN_FRONTEND=noninteractive
log() { echo "cross/setup: $*"; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
apt_install() { # installs only what is missing
  local missing=() p
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  if [ ${#missing[@]} -eq 0 ]; then return 0; fi
  log "installing ${missing[*]}"
  # --no-remove: multiarch must never make apt remove host packages to satisfy a target's ones
  apt-get install -y -q --no-install-recommends --no-remove "${missing[@]}"
}
apt_update() { # $1: log file; returns apt-get's status
  apt-get update -q 2>&1 | tee "$1"
  return "${PIPESTATUS[0]}"
}

# 1. bookworm-security carries rustc-web, cargo-web and libstd-rust-web-dev (Rust 1.96).
if ! grep -rqsE '^[^#]*bookworm-security' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  log "adding bookworm-security to /etc/apt/sources.list.d/roombell-bookworm-security.sources"
  cat > /etc/apt/sources.list.d/roombell-bookworm-security.sources <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
fi

updated=0
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT

# 2. Host tools and aarch64 (arm64). A package missing from the index means apt-get update is due.
HOST_PACKAGES=(
  rustc-web cargo-web          # /usr/bin/rustc, rustdoc, cargo 1.96 (sysroot /usr)
  cmake nasm                   # bundled libopus; openh264's x86 asm for native builds
  libclang1-14 libclang-common-14-dev  # bindgen (v4l2-sys-mit) on the host, with clang's own headers
  qemu-user-static             # runs the ARM test binaries (cargo runner)
  pkgconf file xz-utils
)
ARM64_PACKAGES=(
  gcc-aarch64-linux-gnu g++-aarch64-linux-gnu
  libstd-rust-web-dev:arm64    # std for aarch64-unknown-linux-gnu in /usr/lib/rustlib
  libc6-dev:arm64 linux-libc-dev:arm64
  libasound2-dev:arm64 libsystemd-dev:arm64
  pkgconf:arm64                # /usr/bin/aarch64-linux-gnu-pkg-config
)
ARMHF_PACKAGES=(
  gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf   # bring glibc and kernel headers for armhf
  libstd-rust-web-dev:armhf    # std for armv7-unknown-linux-gnueabihf
  libasound2-dev:armhf libsystemd-dev:armhf
  pkgconf:armhf                # /usr/bin/arm-linux-gnueabihf-pkg-config
)

status=0
if [ $want_arm64 -eq 1 ]; then
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    log "dpkg --add-architecture arm64"
    dpkg --add-architecture arm64
    updated=0
  fi
  need_update=0
  for p in "${HOST_PACKAGES[@]}" "${ARM64_PACKAGES[@]}"; do
    installed "$p" || need_update=1
  done
  if [ $need_update -eq 1 ] && [ $updated -eq 0 ]; then
    if ! apt_update "$tmp/update.log"; then
      # A broken armhf index (seen once here for bookworm-security) must not stop aarch64.
      if grep -qi armhf "$tmp/update.log" && dpkg --print-foreign-architectures | grep -qx armhf; then
        log "apt-get update failed on an armhf index; retrying without armhf for aarch64"
        apt-get update -q -o APT::Architectures::=amd64 -o APT::Architectures::=arm64 || true
      else
        log "apt-get update reported errors (see above); trying to go on with the lists we have"
      fi
    fi
    updated=1
  fi
  if apt_install "${HOST_PACKAGES[@]}" && apt_install "${ARM64_PACKAGES[@]}" \
    && { rust_ver="$(dpkg-query -W -f='${Version}' rustc-web)"   # std must be the compiler's version
         [ "$(dpkg-query -W -f='${Version}' libstd-rust-web-dev:arm64)" = "$rust_ver" ] \
           || apt_install "libstd-rust-web-dev:arm64=$rust_ver"; }; then
    log "aarch64-unknown-linux-gnu: ready"
  else
    log "aarch64-unknown-linux-gnu: FAILED to install its packages (see apt's messages above)"
    exit 1
  fi
fi

# armhf's std and its libllvm are only in bookworm-security. When that suite's armhf index is
# broken on a mirror (a stale Packages.xz: "File has unexpected size ... Mirror sync in progress?",
# seen here), --armhf-std-from-pool restricts the bookworm-security stanza to amd64 arm64 (so
# `apt-get update` works again; bookworm's own armhf index still serves the -dev libraries) and
# fetches just those packages from the security pool with apt-helper, each checked against the
# SHA256 in the armhf Packages.xz the mirror serves. That index is not covered by InRelease's
# signature (that is the breakage): the fallback is opt-in for that reason.
sec_uri="${CROSS_SECURITY_URI:-http://deb.debian.org/debian-security}"

restrict_security_stanza() { # deb822 stanzas and one-line sources naming bookworm-security
  local f changed=0
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    grep -qE '^Suites:.*bookworm-security' "$f" || continue
    if awk -v RS= '/(^|\n)Suites:[^\n]*bookworm-security/ && !/(^|\n)Architectures:/ {found=1} END {exit !found}' "$f"; then
      cp -n "$f" "$f.roombell-bak"
      awk -v RS= -v ORS='\n\n' '/(^|\n)Suites:[^\n]*bookworm-security/ && !/(^|\n)Architectures:/ {$0 = $0 "\nArchitectures: amd64 arm64"} {print}' \
        "$f.roombell-bak" > "$f"
      log "restricted bookworm-security to amd64 arm64 in $f (was: $f.roombell-bak)"
      changed=1
    fi
  done
  if [ -f /etc/apt/sources.list ] && grep -qE '^deb +[^[].*bookworm-security' /etc/apt/sources.list; then
    cp -n /etc/apt/sources.list /etc/apt/sources.list.roombell-bak
    sed -i -E 's/^deb +([^[].*bookworm-security)/deb [arch=amd64,arm64] \1/' /etc/apt/sources.list
    log "restricted bookworm-security to amd64 arm64 in /etc/apt/sources.list"
    changed=1
  fi
  return 0
}

pool_fetch() { # pool_fetch PACKAGE [VERSION]: downloads PACKAGE's armhf .deb, prints its path
  local para file sha
  para="$(awk -v RS= -v p="$1" -v v="${2:-}" 'index($0, "Package: " p "\n") == 1 && (v == "" || index($0, "\nVersion: " v "\n")) {print; exit}' "$pool_index")"
  [ -n "$para" ] || { log "$1 ${2:-} is not in bookworm-security's armhf index" >&2; return 1; }
  file="$(sed -n 's/^Filename: //p' <<<"$para")"
  sha="$(sed -n 's/^SHA256: //p' <<<"$para")"
  /usr/lib/apt/apt-helper download-file "$sec_uri/$file" "$pool_dir/${file##*/}" "SHA256:$sha" >/dev/null
  echo "$pool_dir/${file##*/}"
}

install_armhf_with_pool() { # $1: rustc-web's version; $2...: the other armhf packages
  local ver="$1" debs=() round dep amd64_ver out
  shift
  pool_dir="$tmp/pool" pool_index="$tmp/pool/security-armhf-Packages"
  mkdir -p "$pool_dir" && chmod 755 "$tmp" && { chown _apt "$pool_dir" 2>/dev/null || true; }  # apt's sandbox user
  log "fetching the armhf std $ver from the bookworm-security pool"
  /usr/lib/apt/apt-helper download-file "$sec_uri/dists/bookworm-security/main/binary-armhf/Packages.xz" "$pool_index.xz" >/dev/null
  xz -dc "$pool_index.xz" > "$pool_index"
  debs+=("$(pool_fetch libstd-rust-web-dev "$ver")") && debs+=("$(pool_fetch libstd-rust-web-1.96 "$ver")") || return 1
  # Whatever bookworm's armhf index cannot satisfy (libllvm22, which only bookworm-security has;
  # Multi-Arch: same libraries whose amd64 copy is at a security version, such as liblzma5) comes
  # from the pool too, at the amd64 copy's version: let apt say what is missing, a few rounds.
  for round in 1 2 3 4 5 6 7 8; do
    local missing=() line name inst_ver
    if out="$(apt-get install -s -q --no-install-recommends "${debs[@]}" "$@" 2>&1)"; then
      # Multi-Arch: same packages must match the amd64 copy's version; bookworm's armhf copy may
      # be older than a security update installed for amd64 (apt would then remove the amd64 one).
      while read -r line; do
        name="${line%%:armhf*}"; inst_ver="$(sed -E 's/^[^(]*\(([^ ]+).*/\1/' <<<"$line")"
        amd64_ver="$(dpkg-query -W -f='${Version}' "$name:amd64" 2>/dev/null || true)"
        if [ -n "$amd64_ver" ] && [ "$amd64_ver" != "$inst_ver" ]; then missing+=("$name"); fi
      done < <(sed -n 's/^Inst \([^ ]*:armhf\) .*(\(.*\)$/\1 (\2/p' <<<"$out")
      if [ ${#missing[@]} -eq 0 ]; then
        if grep -q '^Remv ' <<<"$out"; then
          log "installing the armhf packages would remove others; not doing it:" >&2
          grep '^Remv ' <<<"$out" >&2
          return 1
        fi
        apt-get install -y -q --no-install-recommends --no-remove "${debs[@]}" "$@"
        return
      fi
    else
      for dep in $(grep -oE '(Pre)?Depends: [a-z0-9.+-]+(:armhf)?' <<<"$out" | awk '{print $2}' | sed 's/:armhf$//' | sort -u); do
        case " ${debs[*]##*/} " in *" ${dep}_"*) continue ;; esac
        missing+=("$dep")
      done
      [ ${#missing[@]} -gt 0 ] || { echo "$out" >&2; return 1; }
    fi
    for dep in "${missing[@]}"; do
      amd64_ver="$(dpkg-query -W -f='${Version}' "$dep:amd64" 2>/dev/null || true)"
      debs+=("$(pool_fetch "$dep" "$amd64_ver")") || { echo "$out" >&2; return 1; }
      log "  + $dep ${amd64_ver:-(newest)} from the pool"
    done
  done
  echo "$out" >&2
  return 1
}

if [ $want_armhf -eq 1 ]; then
  added_armhf=0
  if ! dpkg --print-foreign-architectures | grep -qx armhf; then
    log "dpkg --add-architecture armhf"
    dpkg --add-architecture armhf
    added_armhf=1 updated=0
  fi
  need_update=0
  for p in "${HOST_PACKAGES[@]}" "${ARMHF_PACKAGES[@]}"; do
    installed "$p" || need_update=1
  done
  armhf_ok=1 index_ok=1
  if [ $need_update -eq 1 ] && [ $updated -eq 0 ]; then
    if ! apt_update "$tmp/update-armhf.log"; then
      index_ok=0
      if [ $armhf_std_from_pool -eq 1 ]; then
        restrict_security_stanza
        apt_update "$tmp/update-armhf-2.log" && index_ok=1
      fi
    fi
    updated=1
  fi
  [ $index_ok -eq 1 ] || armhf_ok=0
  if [ $armhf_ok -eq 1 ]; then
    apt_install "${HOST_PACKAGES[@]}" || armhf_ok=0
  fi
  if [ $armhf_ok -eq 1 ]; then
    rust_ver="$(dpkg-query -W -f='${Version}' rustc-web)"
    std_ver="$(dpkg-query -W -f='${Version}' libstd-rust-web-dev:armhf 2>/dev/null || true)"
    if [ "$std_ver" != "$rust_ver" ]; then
      # std must be the compiler's exact version (bookworm itself has an older one).
      if apt-cache show "libstd-rust-web-dev:armhf=$rust_ver" 2>/dev/null | grep -c "^Package:" >/dev/null; then
        apt_install "libstd-rust-web-dev:armhf=$rust_ver" || armhf_ok=0
      elif [ $armhf_std_from_pool -eq 1 ]; then
        others=()
        for p in "${ARMHF_PACKAGES[@]}"; do [ "$p" = libstd-rust-web-dev:armhf ] || others+=("$p"); done
        install_armhf_with_pool "$rust_ver" "${others[@]}" || armhf_ok=0
      else
        log "libstd-rust-web-dev:armhf $rust_ver is not in apt's lists (bookworm-security's armhf index)"
        armhf_ok=0
      fi
    fi
  fi
  if [ $armhf_ok -eq 1 ]; then
    others=()
    for p in "${ARMHF_PACKAGES[@]}"; do [ "$p" = libstd-rust-web-dev:armhf ] || others+=("$p"); done
    apt_install "${others[@]}" || armhf_ok=0
  fi
  if [ $armhf_ok -eq 1 ]; then
    log "armv7-unknown-linux-gnueabihf: ready"
  else
    status=2
    echo >&2
    echo "cross/setup: armv7-unknown-linux-gnueabihf could NOT be set up (aarch64 is unaffected)." >&2
    if [ $index_ok -eq 0 ]; then
      echo "  apt-get update failed after adding armhf; most likely an armhf index of one suite is" >&2
      echo "  broken or stale on this mirror (here: bookworm-security's, 'File has unexpected size')." >&2
    fi
    # Leave no half-added armhf behind: it would make every later `apt-get update` fail.
    if [ $added_armhf -eq 1 ] && [ -z "$(dpkg-query -W -f='${Package}:${Architecture}\n' 2>/dev/null | grep ':armhf$' || true)" ]; then
      dpkg --remove-architecture armhf && echo "  armhf was removed from dpkg's architectures again." >&2
      apt-get update -q >/dev/null 2>&1 || true
    fi
    echo "  Try again later (a mirror's index is usually fixed within hours), or run" >&2
    echo "  'cross/setup.sh armv7 --armhf-std-from-pool': it restricts bookworm-security to" >&2
    echo "  'Architectures: amd64 arm64' (a backup of the sources file is kept) and fetches only the" >&2
    echo "  armhf std (and libllvm22) from the security pool, checked against the SHA256 of the armhf" >&2
    echo "  index the mirror serves. Or build armv7 with cross-rs and Docker (cross/README.md)." >&2
  fi
fi

# 3. Sanity checks: Debian's rustc sees the targets' std.
for t in aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; do
  case $t in aarch64*) [ $want_arm64 -eq 1 ] || continue ;; *) [ $want_armhf -eq 1 ] || continue ;; esac
  if ls /usr/lib/rustlib/$t/lib/libstd-*.rlib >/dev/null 2>&1; then
    log "$(/usr/bin/rustc -V) has std for $t"
  elif [ $status -eq 0 ] || [ $t = aarch64-unknown-linux-gnu ]; then
    log "no std for $t in /usr/lib/rustlib (libstd-rust-web-dev not installed?)" >&2
    status=1
  fi
done

# 4. binfmt_misc lets the kernel run ARM binaries through qemu (the integration tests spawn the
# ARM roombell binary as a child). Register when the kernel allows; cross/test.sh copes without.
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
fi
if [ -e /proc/sys/fs/binfmt_misc/register ]; then
  # qemu-user-static ships systemd-binfmt files; register ours directly (no systemd needed).
  for h in qemu-aarch64 qemu-arm; do
    case $h in qemu-aarch64) [ $want_arm64 -eq 1 ] || continue ;; qemu-arm) [ $want_armhf -eq 1 ] || continue ;; esac
    if [ ! -e /proc/sys/fs/binfmt_misc/$h ] && [ -f /usr/lib/binfmt.d/$h.conf ]; then
      grep -v '^#' /usr/lib/binfmt.d/$h.conf > /proc/sys/fs/binfmt_misc/register 2>/dev/null \
        || log "binfmt: could not register $h"
    fi
    if [ -e /proc/sys/fs/binfmt_misc/$h ]; then log "binfmt: $h $(head -1 /proc/sys/fs/binfmt_misc/$h)"; fi
  done
else
  log "binfmt_misc is not available here: cross/test.sh will run test binaries through the runner only"
fi

log "done (status $status)"
exit $status
