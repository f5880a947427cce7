# Shared by cross/build.sh and cross/test.sh (sourced, not run).

# Debian's cargo with Debian's rustc and rustdoc: rustup's 1.95 stays first on PATH and has no ARM
# std, and /usr/bin/cargo alone would pick it up through PATH. Not `build.rustc` in
# .cargo/config.toml, which would also change native builds.
CROSS_CARGO=(env RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc /usr/bin/cargo)

cross_target() { # normalises a target name or fails
  case "$1" in
    aarch64|arm64|aarch64-unknown-linux-gnu) echo aarch64-unknown-linux-gnu ;;
    armv7|armhf|armv7-unknown-linux-gnueabihf) echo armv7-unknown-linux-gnueabihf ;;
    *) echo "cross: unknown target '$1' (aarch64-unknown-linux-gnu or armv7-unknown-linux-gnueabihf)" >&2
       return 64 ;;
  esac
}

cross_tool() { # cross_tool TARGET TOOL -> aarch64-linux-gnu-TOOL / arm-linux-gnueabihf-TOOL
  case "$1" in
    aarch64-*) echo "aarch64-linux-gnu-$2" ;;
    armv7-*) echo "arm-linux-gnueabihf-$2" ;;
  esac
}

cross_qemu() {
  case "$1" in
    aarch64-*) echo qemu-aarch64-static ;;
    armv7-*) echo qemu-arm-static ;;
  esac
}

cross_check_toolchain() { # fails with the way out when something from cross/setup.sh is missing
  local t="$1" missing=()
  [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] || missing+=("Debian's cargo-web/rustc-web")
  ls /usr/lib/rustlib/"$t"/lib/libstd-*.rlib >/dev/null 2>&1 || missing+=("std for $t (libstd-rust-web-dev)")
  command -v "$(cross_tool "$t" gcc)" >/dev/null || missing+=("$(cross_tool "$t" gcc)")
  command -v "$(cross_tool "$t" pkg-config)" >/dev/null || missing+=("$(cross_tool "$t" pkg-config) (pkgconf for the target)")
  if [ ${#missing[@]} -gt 0 ]; then
    echo "cross: missing ${missing[*]}: run cross/setup.sh as root" >&2
    return 1
  fi
}

cross_target_dir() {
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    case "$CARGO_TARGET_DIR" in /*) echo "$CARGO_TARGET_DIR" ;; *) echo "$root/$CARGO_TARGET_DIR" ;; esac
  else
    echo "$root/target"
  fi
}

cross_glibc_needed() { # highest GLIBC_x.y symbol version the binary asks for
  "$(cross_tool "$target" objdump)" -T "$1" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1 | sed 's/GLIBC_//'
}
