#!/usr/bin/env bash
# Used as RUSTC by scripts/fuzz.sh. cargo-fuzz builds every crate with sanitizer-coverage flags;
# libsystemd-sys's build script links a small probe program with those same flags
# (CARGO_ENCODED_RUSTFLAGS) but without libFuzzer, so the probe fails to link
# (`__sancov_lowest_stack` and friends undefined) and the build stops. For that one probe only,
# drop the coverage flags; every other rustc call is passed through unchanged.
set -euo pipefail
real_rustc=${ROOMBELL_FUZZ_REAL_RUSTC:-rustc}
case " $* " in
*" systemd_capabilities "*)
    args=()
    skip_next=false
    for arg in "$@"; do
        if $skip_next; then
            skip_next=false
            case $arg in
            passes=sancov-module | llvm-args=-sanitizer-coverage*) continue ;;
            *) args+=(-C "$arg"); continue ;;
            esac
        fi
        case $arg in
        -Cpasses=sancov-module | -Cllvm-args=-sanitizer-coverage*) ;;
        -C) skip_next=true ;;
        *) args+=("$arg") ;;
        esac
    done
    exec "$real_rustc" "${args[@]}"
    ;;
esac
exec "$real_rustc" "$@"
