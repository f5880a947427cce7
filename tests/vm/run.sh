#!/usr/bin/env bash
# Runs roombell against real kernel drivers -- vivid (a virtual V4L2 camera) and snd-aloop (a
# loopback sound card) -- in Debian's own kernel under qemu-system. See tests/vm/README.md.
#
#   tests/vm/run.sh x86_64|aarch64 [all|SCENARIO[,SCENARIO...]]     (default: all)
#
# Scenarios are tests/vm/scenarios/NAME.sh: guest() runs inside the VM (busybox sh) and leaves
# files in $OUT; host() runs here afterwards on those files (ffprobe, ffmpeg, python3).
# Exit status: 0 all passed, 1 a scenario failed, 2 setup error, 3 host prerequisites missing
# (run scripts/setup.sh), 4 aarch64 blocked (no cross build).
#
# Environment:
#   ROOMBELL_VM_BIN      the roombell binary to boot (default: target/debug/roombell for x86_64,
#                        the cross build target/aarch64-unknown-linux-gnu/release/roombell for aarch64)
#   ROOMBELL_VM_TIMEOUT  seconds before qemu is killed (default 600 under TCG, 1200 for aarch64)
#   ROOMBELL_VM_ACCEL    tcg (default) or kvm
#   ROOMBELL_VM_KEEP     leave the work directory (printed) in place
#   ROOMBELL_VM_RESULTS  directory to leave the results in (default: inside the work directory)
#   ROOMBELL_VM_FPS      frame rate of the record scenarios (default 5)
# Cache (kernel .deb and extracted modules, arm64 busybox/alsa-utils .debs): target/vm-cache/.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
arch="${1:-}"
scenario="${2:-all}"

die() { echo "vm: $*" >&2; exit 2; }
log() { echo "vm: $*" >&2; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }

case "$arch" in
  x86_64|amd64) arch=x86_64 debarch=amd64 triple=x86_64-linux-gnu qemu=qemu-system-x86_64 console=ttyS0 ;;
  aarch64|arm64) arch=aarch64 debarch=arm64 triple=aarch64-linux-gnu qemu=qemu-system-aarch64 console=ttyAMA0 ;;
  *) sed -n '5,21p' "$0" >&2; exit 64 ;;
esac

all_scenarios=(check record-nv12 record-yuyv busy audio-playback unplug xrun-storm)
if [ "$scenario" = all ]; then
  scenarios=("${all_scenarios[@]}")
else
  IFS=, read -r -a scenarios <<<"$scenario"
fi
for s in "${scenarios[@]}"; do
  [ -f "$here/scenarios/$s.sh" ] || die "no scenario '$s' (have: ${all_scenarios[*]})"
done

# ---- host prerequisites (scripts/setup.sh installs them) ---------------------------------------
missing=()
for tool in "$qemu" cpio ffprobe ffmpeg depmod modprobe readelf apt-get dpkg-deb python3 objcopy; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ "$arch" = x86_64 ] && { [ -x /bin/busybox ] || missing+=(busybox-static); }
[ "$arch" = x86_64 ] && { command -v aplay >/dev/null 2>&1 || missing+=(aplay); }
[ -d /usr/share/alsa ] || missing+=(/usr/share/alsa)
if [ ${#missing[@]} -gt 0 ]; then
  echo "vm: MISSING PREREQUISITES: ${missing[*]} -- run scripts/setup.sh (as root) first" >&2
  exit 3
fi

cache="${CARGO_TARGET_DIR:-$root/target}/vm-cache/$debarch"
mkdir -p "$cache"

# ---- the binary ----------------------------------------------------------------------------------
bin="${ROOMBELL_VM_BIN:-}"
if [ -z "$bin" ]; then
  tdir="${CARGO_TARGET_DIR:-$root/target}"
  if [ "$arch" = x86_64 ]; then
    bin="$tdir/debug/roombell"
  else
    for c in "$tdir/$arch-unknown-linux-gnu/release/roombell.stripped" \
             "$tdir/$arch-unknown-linux-gnu/release/roombell" \
             "$tdir/$arch-unknown-linux-gnu/debug/roombell"; do
      [ -x "$c" ] && { bin="$c"; break; }
    done
    [ -n "$bin" ] || { echo "vm: BLOCKED: no aarch64 roombell build; run cross/build.sh aarch64 (or set ROOMBELL_VM_BIN)" >&2; exit 4; }
  fi
fi
[ -x "$bin" ] || die "$bin is not an executable (build it: cargo build)"
machine="$(readelf -h "$bin" | sed -n 's/^ *Machine: *//p')"
case "$arch:$machine" in
  x86_64:*X86-64*|aarch64:*AArch64*) ;;
  *) die "$bin is built for '$machine', not $arch" ;;
esac

# ---- kernel and modules (cached) -----------------------------------------------------------------
apt_download() { # package[:arch] -> prints the .deb path in $cache; downloads once
  local pkg="$1" name="${1%%:*}"
  local deb
  deb="$(ls "$cache/${name}"_*.deb 2>/dev/null | head -n1 || true)"
  if [ -z "$deb" ]; then
    log "apt-get download $pkg"
    (cd "$cache" && apt-get download -q "$pkg" >&2 2>/dev/null) \
      || (cd "$cache" && apt-get update -q >&2 && apt-get download -q "$pkg" >&2) \
      || die "cannot apt-get download $pkg"
    deb="$(ls "$cache/${name}"_*.deb | head -n1)"
  fi
  echo "$deb"
}

kver_file="$cache/kernel-version"
if [ ! -s "$kver_file" ]; then
  meta="linux-image-$debarch"; [ "$arch" = aarch64 ] && meta="linux-image-arm64:arm64"
  kpkg="$(apt-cache depends "$meta" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ :]*\).*/\1/p' | head -n1)"
  [ -n "$kpkg" ] || die "cannot resolve $meta to a kernel package (apt-get update? for arm64: dpkg --add-architecture arm64)"
  echo "${kpkg#linux-image-}" > "$kver_file"
fi
kver="$(cat "$kver_file")"
kdir="$cache/kernel-$kver"
if [ ! -f "$kdir/.done" ]; then
  kpkg="linux-image-$kver"; [ "$arch" = aarch64 ] && kpkg="$kpkg:arm64"
  kdeb="$(apt_download "$kpkg")" || exit 2
  rm -rf "$kdir"; mkdir -p "$kdir"
  log "extracting $(basename "$kdeb")"
  dpkg-deb -x "$kdeb" "$kdir"
  depmod -b "$kdir" "$kver"
  touch "$kdir/.done"
fi
vmlinuz="$kdir/boot/vmlinuz-$kver"

# busybox and aplay for the guest: the host's on x86_64, Debian's arm64 packages otherwise.
if [ "$arch" = x86_64 ]; then
  busybox=/bin/busybox
  aplay="$(command -v aplay)"
  libdirs=(/lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu)
else
  for p in busybox-static alsa-utils; do
    if [ ! -f "$cache/$p/.done" ]; then
      deb="$(apt_download "$p:arm64")" || exit 2; rm -rf "$cache/$p"; dpkg-deb -x "$deb" "$cache/$p"; touch "$cache/$p/.done"
    fi
  done
  busybox="$cache/busybox-static/bin/busybox"
  aplay="$cache/alsa-utils/usr/bin/aplay"
  libdirs=(/lib/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu)
  [ -e /usr/lib/aarch64-linux-gnu/libasound.so.2 ] || die "libasound2:arm64 is missing: dpkg --add-architecture arm64 && apt-get install libasound2:arm64 (cross/setup.sh does)"
fi

# ---- the initramfs -------------------------------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/roombell-vm.XXXXXX")"
cleanup() { [ -n "${ROOMBELL_VM_KEEP:-}" ] && log "work directory kept: $work" || rm -rf "$work"; }
trap cleanup EXIT
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{bin,sbin,proc,sys,dev,tmp,out,etc,lib/modules,scenarios,usr/share}

t0=$(date +%s%N)
# Modules in load order (modprobe resolves modules.dep against the extracted tree).
: > "$rootfs/modules.list"
want_modules=(virtio_pci virtio_blk vivid snd-aloop dummy)
for m in "${want_modules[@]}"; do
  modprobe -d "$kdir" -S "$kver" --show-depends "$m" | while read -r kind path _; do
    [ "$kind" = insmod ] || continue
    base="$(basename "$path")"
    case "$base" in
      *.xz) xz -dc "$path" > "$rootfs/lib/modules/${base%.xz}"; base="${base%.xz}" ;;
      *.zst) zstd -qdc "$path" > "$rootfs/lib/modules/${base%.zst}"; base="${base%.zst}" ;;
      *) cp "$path" "$rootfs/lib/modules/$base" ;;
    esac
    grep -qx "$base" "$rootfs/modules.list" || echo "$base" >> "$rootfs/modules.list"
  done
done

cp "$busybox" "$rootfs/bin/busybox"
# roombell without its debug info (a debug build is ~280 MB with it).
objcopy=objcopy; [ "$arch" = aarch64 ] && objcopy=aarch64-linux-gnu-objcopy
if command -v "$objcopy" >/dev/null 2>&1; then
  "$objcopy" --strip-debug "$bin" "$rootfs/bin/roombell"
else
  cp "$bin" "$rootfs/bin/roombell"
fi
cp "$aplay" "$rootfs/bin/aplay"
# The format-hiding shim (hide_fourcc.c) for record-yuyv.
cc=gcc; [ "$arch" = aarch64 ] && cc=aarch64-linux-gnu-gcc
if command -v "$cc" >/dev/null 2>&1; then
  "$cc" -shared -fPIC -O2 -Wall -o "$rootfs/lib/hide_fourcc.so" "$here/hide_fourcc.c" -ldl || log "WARNING: cannot build hide_fourcc.so: record-yuyv will fail"
else
  log "WARNING: no $cc: record-yuyv will fail (no hide_fourcc.so)"
fi
ln -s aplay "$rootfs/bin/arecord"

# Shared libraries: the ELF interpreter and NEEDED entries, recursively, from the arch's libdirs.
copy_lib() { # name
  local name="$1" d
  [ -e "$rootfs/lib/$name" ] && return 0
  for d in "${libdirs[@]}"; do
    if [ -e "$d/$name" ]; then
      cp -L "$d/$name" "$rootfs/lib/$name"
      needed "$d/$name"
      return 0
    fi
  done
  die "shared library $name not found in ${libdirs[*]} (install it for $debarch)"
}
needed() { # elf
  local lib
  for lib in $(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do copy_lib "$lib"; done
}
for elf in "$rootfs/bin/roombell" "$rootfs/bin/aplay"; do
  interp="$(readelf -l "$elf" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')"
  [ -n "$interp" ] && [ ! -e "$rootfs$interp" ] || continue
  mkdir -p "$rootfs$(dirname "$interp")"
  cp -L "${libdirs[0]}/$(basename "$interp")" "$rootfs$interp" 2>/dev/null || cp -L "$interp" "$rootfs$interp"
done
needed "$rootfs/bin/roombell"
needed "$rootfs/bin/aplay"
mkdir -p "$rootfs/lib/$triple" "$rootfs/usr/lib"
# glibc looks in /lib/<triple>; point it at /lib.
for l in "$rootfs"/lib/*.so*; do ln -sf "../$(basename "$l")" "$rootfs/lib/$triple/$(basename "$l")"; done
cp -r /usr/share/alsa "$rootfs/usr/share/alsa"

# Inputs: a 1 kHz tone (48 kHz mono S16, as roombell opens hw: PCMs), the config, the scenarios.
ffmpeg -loglevel error -f lavfi -i "sine=frequency=1000:sample_rate=48000:duration=20" \
  -ac 1 -c:a pcm_s16le "$rootfs/tone1k.wav"
cp "$here"/scenarios/*.sh "$rootfs/scenarios/"
cp "$here/lib.sh" "$rootfs/vmlib.sh"
cp "$here/roombell-vm.toml" "$rootfs/etc/roombell.toml"
cp "$here/init.sh" "$rootfs/init"
chmod +x "$rootfs/init"
printf '%s\n' "${scenarios[@]}" > "$rootfs/scenarios.list"
echo "export ROOMBELL_VM_FPS=${ROOMBELL_VM_FPS:-5}" > "$rootfs/etc/vm-env"
(cd "$rootfs" && find . | cpio -o -H newc --quiet) > "$work/initramfs.cpio"
t1=$(date +%s%N)
log "initramfs $(du -h --apparent-size "$work/initramfs.cpio" | cut -f1) built in $(secs "$t0" "$t1") s (kernel $kver, binary $bin)"

# ---- boot ----------------------------------------------------------------------------------------
# Results come back on a raw second disk: the guest writes a tar of /out onto /dev/vda.
truncate -s 256M "$work/out.img"
# TCG by default: KVM is opt-in (ROOMBELL_VM_ACCEL=kvm). On these machines /dev/kvm exists but is
# nested and unusable (-cpu host aborts on MSR 0x10a; without arch-capabilities the guest hangs
# right after decompression).
accel="${ROOMBELL_VM_ACCEL:-tcg}"
timeout_s="${ROOMBELL_VM_TIMEOUT:-}"
[ -n "$timeout_s" ] || { [ "$accel" = kvm ] && timeout_s=240 || { [ "$arch" = aarch64 ] && timeout_s=1200 || timeout_s=600; }; }
qargs=(-m 1024 -smp 2 -nographic -no-reboot -monitor none -serial stdio
  -kernel "$vmlinuz" -initrd "$work/initramfs.cpio"
  -append "console=$console quiet loglevel=4 panic=-1 roombell.scenarios=${scenario}"
  -drive "file=$work/out.img,format=raw,if=none,id=out" -device virtio-blk-pci,drive=out
  -nic none)
if [ "$arch" = x86_64 ]; then
  if [ "$accel" = kvm ]; then qargs+=(-accel kvm -cpu host); else qargs+=(-accel tcg -cpu max); fi
else
  qargs+=(-M virt -cpu cortex-a57 -accel "$accel")
fi
log "booting: $qemu -accel $accel (timeout ${timeout_s}s)"
t2=$(date +%s%N)
set +e
timeout --kill-after=10 "$timeout_s" "$qemu" "${qargs[@]}" </dev/null 2>&1 | tee "$work/console.log" | sed -u 's/^/  | /' >&2
qrc=${PIPESTATUS[0]}
set -e
t3=$(date +%s%N)
vm_secs="$(secs "$t2" "$t3")"
[ "$qrc" = 124 ] && { echo "vm: FAIL: qemu killed after ${timeout_s}s (timeout)" >&2; }

# ---- results -------------------------------------------------------------------------------------
results="${ROOMBELL_VM_RESULTS:-$work/results}"
mkdir -p "$results"
if ! tar -xf "$work/out.img" -C "$results" 2>/dev/null || [ ! -f "$results/boot-secs" ]; then
  echo "vm: FAIL: the guest wrote no results (qemu exit $qrc); console above" >&2
  exit 1
fi
cp "$work/console.log" "$results/console.log"
fails=0
summary=()
for s in "${scenarios[@]}"; do
  out="$results/$s"
  guest_rc="$(sed -n 's/.*@@SCENARIO-RC '"$s"' \([0-9]*\).*/\1/p' "$work/console.log" | tr -d '\r' | tail -n1)"
  [ -f "$out/rc" ] && guest_rc="$(cat "$out/rc")"
  if [ "${guest_rc:-x}" != 0 ]; then
    summary+=("FAIL $s (in the VM: rc=${guest_rc:-none}; see $out/log)")
    [ -f "$out/log" ] && sed 's/^/    /' "$out/log" >&2
    fails=$((fails + 1)); continue
  fi
  set +e
  (
    OUT="$out"; ARCH="$arch"
    . "$here/lib.sh"
    . "$here/scenarios/$s.sh"
    host
  ) > "$out/host.log" 2>&1
  hrc=$?
  set -e
  sed "s/^/  [$s] /" "$out/host.log" >&2
  warn=""; grep -q '^WARNING' "$out/host.log" && warn=", with a WARNING: see above"
  if [ $hrc = 0 ]; then summary+=("PASS $s (guest $(cat "$out/secs" 2>/dev/null || echo ?) s$warn)")
  else summary+=("FAIL $s (host check: see above)"); fails=$((fails + 1)); fi
done
echo "vm: $arch accel=$accel kernel=$kver: VM ran ${vm_secs} s (boot + scenarios), boot to init $(cat "$results/boot-secs" 2>/dev/null || echo ?) s" >&2
for line in "${summary[@]}"; do echo "vm: $line" >&2; done
if [ $fails -gt 0 ]; then echo "vm: $fails scenario(s) FAILED" >&2; exit 1; fi
echo "vm: all ${#scenarios[@]} scenario(s) passed" >&2
