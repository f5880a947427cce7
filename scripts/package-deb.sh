#!/usr/bin/env bash
# Builds the Debian package with dpkg-deb: roombell_<version>_<arch>.deb holding the binary
# (stripped), both systemd units, /etc/roombell/*.toml as conffiles, the web client, and the
# maintainer scripts from packaging/. Prints the .deb's path last.
#
#   scripts/package-deb.sh                      # cargo build --release, package for this machine
#   scripts/package-deb.sh aarch64-unknown-linux-gnu
#                                               # package target/aarch64-unknown-linux-gnu/release/roombell
#   scripts/package-deb.sh --arch armhf --binary PATH [--out DIR]
#                                               # package a binary built elsewhere (cross/build.sh)
#
# Options (ROOMBELL_BINARY, DEB_ARCH, DEB_OUT_DIR in the environment do the same):
#   TARGET          a Rust target triple: picks the default binary, arch and output directory
#   --binary PATH   the roombell binary to package (it is copied, then stripped)
#   --arch ARCH     Debian architecture: amd64, arm64, armhf (default: from TARGET, else this machine)
#   --out DIR       where the .deb goes (default: target/debian or target/TARGET/debian)
# DEBFULLNAME and DEBEMAIL name the maintainer, as for other Debian tools.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"

die() {
    echo "package-deb: $*" >&2
    exit 1
}

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

target=""
binary="${ROOMBELL_BINARY:-}"
arch="${DEB_ARCH:-}"
out_dir="${DEB_OUT_DIR:-}"
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) [ $# -ge 2 ] || die "--binary needs a path"; binary="$2"; shift 2 ;;
        --binary=*) binary="${1#*=}"; shift ;;
        --arch) [ $# -ge 2 ] || die "--arch needs amd64, arm64 or armhf"; arch="$2"; shift 2 ;;
        --arch=*) arch="${1#*=}"; shift ;;
        --out) [ $# -ge 2 ] || die "--out needs a directory"; out_dir="$2"; shift 2 ;;
        --out=*) out_dir="${1#*=}"; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *)
            [ -z "$target" ] || die "only one TARGET, got $target and $1"
            target="$1"; shift ;;
    esac
done

for tool in dpkg-deb dpkg-shlibdeps readelf gzip md5sum; do
    command -v "$tool" >/dev/null || die "$tool not found: run scripts/setup.sh (it installs dpkg-dev and binutils)"
done

# --- what to package --------------------------------------------------------------------------

# The tree first: the files that go into the package.
need() {
    [ -f "$root/$1" ] || die "$root/$1 is missing; it is packaged as $2"
}
need config/roombell.toml "the conffile /etc/roombell/roombell.toml"
need config/room.toml "the conffile /etc/roombell/room.toml"
need systemd/roombell.service /lib/systemd/system/roombell.service
need systemd/roombell-room.service /lib/systemd/system/roombell-room.service
for file in control.in copyright postinst prerm postrm roombell.1 lintian-overrides; do
    need "packaging/$file" "package metadata"
done

if [ -z "$arch" ]; then
    case "$target" in
        "") arch="$(dpkg --print-architecture)" ;;
        x86_64-*) arch=amd64 ;;
        aarch64-*) arch=arm64 ;;
        armv7-*gnueabihf|arm-*gnueabihf) arch=armhf ;;
        *) die "no Debian architecture known for target $target: pass --arch" ;;
    esac
fi
# What readelf says of a binary for each architecture, and its strip.
case "$arch" in
    amd64) machine="Advanced Micro Devices X86-64"; triplet=x86_64-linux-gnu ;;
    arm64) machine="AArch64"; triplet=aarch64-linux-gnu ;;
    armhf) machine="ARM"; triplet=arm-linux-gnueabihf ;;
    *) die "architecture $arch is not one this script knows: amd64, arm64 or armhf" ;;
esac

if [ -z "$binary" ]; then
    if [ -n "$target" ]; then
        binary="$root/target/$target/release/roombell"
        [ -x "$binary" ] || die "no $binary: build it first (cross/build.sh $target), or pass --binary PATH"
    else
        echo "package-deb: cargo build --release" >&2
        (cd "$root" && cargo build --release)
        binary="$root/target/release/roombell"
    fi
fi
[ -f "$binary" ] && [ -x "$binary" ] || die "the binary $binary does not exist or is not executable"
found_machine="$(LC_ALL=C readelf -h "$binary" 2>/dev/null | sed -n 's/^ *Machine: *//p')" \
    || die "$binary is not an ELF binary"
[ "$found_machine" = "$machine" ] \
    || die "$binary is built for '$found_machine', not $arch ('$machine'): pass the right --binary or --arch"

if [ "$arch" = "$(dpkg --print-architecture)" ]; then
    strip="${STRIP:-strip}"
else
    strip="${STRIP:-$triplet-strip}"
fi
command -v "$strip" >/dev/null || die "$strip not found: install binutils-$triplet (cross/setup.sh does), or set STRIP"

if [ -z "$out_dir" ]; then
    if [ -n "$target" ]; then out_dir="$root/target/$target/debian"; else out_dir="$root/target/debian"; fi
fi

version="$(awk -F'"' '/^\[/ { in_package = ($0 == "[package]") } in_package && /^version *=/ { print $2; exit }' "$root/Cargo.toml")"
[ -n "$version" ] || die "no version in the [package] section of $root/Cargo.toml"
# Cargo's pre-releases (1.2.0-rc.1) sort before the release in Debian only with a tilde.
deb_version="${version/-/\~}"

maintainer="${DEBFULLNAME:-roombell developers} <${DEBEMAIL:-roombell@users.noreply.github.com}>"
# Reproducible: the same commit gives the same timestamps inside the package.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH="$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)"
fi
export SOURCE_DATE_EPOCH

# --- the tree ---------------------------------------------------------------------------------

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
stage="$work/roombell"
umask 022

install -D -m 0755 "$binary" "$stage/usr/bin/roombell"
"$strip" --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/roombell"

install -D -m 0644 "$root/systemd/roombell.service" "$stage/lib/systemd/system/roombell.service"
install -D -m 0644 "$root/systemd/roombell-room.service" "$stage/lib/systemd/system/roombell-room.service"

# 0640 from the first moment: they are where the room secret goes. postinst gives them to the
# roombell group once that exists.
install -D -m 0640 "$root/config/roombell.toml" "$stage/etc/roombell/roombell.toml"
install -D -m 0640 "$root/config/room.toml" "$stage/etc/roombell/room.toml"

if [ -d "$root/web" ]; then
    mkdir -p "$stage/usr/share/roombell"
    cp -R "$root/web" "$stage/usr/share/roombell/web"
    find "$stage/usr/share/roombell/web" -type d -exec chmod 0755 {} +
    find "$stage/usr/share/roombell/web" -type f -exec chmod 0644 {} +
fi

install -d -m 0755 "$stage/usr/share/man/man1"
gzip -9n < "$root/packaging/roombell.1" > "$stage/usr/share/man/man1/roombell.1.gz"
chmod 0644 "$stage/usr/share/man/man1/roombell.1.gz"
install -D -m 0644 "$root/packaging/lintian-overrides" "$stage/usr/share/lintian/overrides/roombell"

doc="$stage/usr/share/doc/roombell"
install -D -m 0644 "$root/packaging/copyright" "$doc/copyright"
{
    echo "roombell ($deb_version) unstable; urgency=medium"
    echo
    echo "  * Built from the roombell repository by scripts/package-deb.sh."
    echo
    echo " -- $maintainer  $(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

# --- control ----------------------------------------------------------------------------------

mkdir -p "$stage/DEBIAN"
install -m 0755 "$root/packaging/postinst" "$root/packaging/prerm" "$root/packaging/postrm" "$stage/DEBIAN/"
printf '%s\n' /etc/roombell/roombell.toml /etc/roombell/room.toml > "$stage/DEBIAN/conffiles"
(cd "$stage" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' \
    | LC_ALL=C sort -z | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"

# dpkg-shlibdeps reads the shared libraries the binary needs (for the target architecture,
# through multiarch) and the minimum versions of the packages holding them. It wants a
# debian/control beside it, so it runs in a scratch source tree.
mkdir -p "$work/src/debian"
printf 'Source: roombell\n\nPackage: roombell\nArchitecture: any\n' > "$work/src/debian/control"
shlibs="$(cd "$work/src" && DEB_HOST_ARCH="$arch" dpkg-shlibdeps -O "$stage/usr/bin/roombell" 2>"$work/shlibdeps.err")" \
    || die "dpkg-shlibdeps failed for $arch (for a cross build, the target's libraries must be installed: cross/setup.sh): $(cat "$work/shlibdeps.err")"
shlib_depends="${shlibs#shlibs:Depends=}"
[ -n "$shlib_depends" ] && [ "$shlib_depends" != "$shlibs" ] || die "dpkg-shlibdeps printed no dependencies: $shlibs"
# postinst uses adduser and deb-systemd-helper.
depends="$shlib_depends, adduser, init-system-helpers (>= 1.54~)"

installed_size="$(du -sk --apparent-size --exclude=DEBIAN "$stage" | cut -f1)"
sed -e "s|@VERSION@|$deb_version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$maintainer|" \
    -e "s|@INSTALLED_SIZE@|$installed_size|" -e "s|@DEPENDS@|$depends|" \
    "$root/packaging/control.in" > "$stage/DEBIAN/control"
if grep -q '@[A-Z_]*@' "$stage/DEBIAN/control"; then
    die "packaging/control.in has a placeholder this script does not fill: $(grep -o '@[A-Z_]*@' "$stage/DEBIAN/control" | head -1)"
fi

mkdir -p "$out_dir"
deb="$out_dir/roombell_${deb_version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >&2
echo "$deb"
