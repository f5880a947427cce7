//! roombell's V4L2 and ALSA code against real kernel drivers: Debian's kernel with `vivid` (a
//! virtual camera) and `snd-aloop` (a loopback sound card) booted under qemu-system-x86_64 by
//! `tests/vm/run.sh` (tests/vm/README.md). One VM runs the scenarios `check`, `record-nv12`,
//! `record-yuyv`, `busy`, `unplug`, `xrun-storm` (the speaker through a real underrun storm).
//! `audio-playback` (two doorbells and a room server inside one emulated VM) is left to
//! `tests/vm/run.sh x86_64 all`: under TCG on a loaded 2-core machine it came back silent in 2 of
//! about 8 runs, and a test that fails by chance teaches nothing.
//!
//! Needs qemu-system-x86, busybox-static, cpio, ffmpeg, alsa-utils and kmod (scripts/setup.sh
//! installs them) and, the first time, Debian's archive for the kernel package (cached in
//! target/vm-cache/). Missing prerequisites fail the test: they are not a reason to skip it.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// One run of the CI scenarios: exit code, stderr, seconds.
fn run_scenarios(root: &Path) -> (Option<i32>, String, f64) {
    let script = root.join("tests/vm/run.sh");
    let results = tempfile::tempdir().expect("a temporary directory");
    let started = Instant::now();
    let output = Command::new(&script)
        .args([
            "x86_64",
            "check,record-nv12,record-yuyv,busy,unplug,xrun-storm",
        ])
        // The binary this `cargo test` built, not whatever target/debug holds.
        .env("ROOMBELL_VM_BIN", env!("CARGO_BIN_EXE_roombell"))
        .env("ROOMBELL_VM_RESULTS", results.path())
        .current_dir(root)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): run scripts/setup.sh first",
                script.display()
            )
        });
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        started.elapsed().as_secs_f64(),
    )
}

/// run.sh ends with one line per scenario ("vm: PASS check ...", "vm: FAIL unplug ...").
fn summary(log: &str) -> String {
    log.lines()
        .filter(|line| {
            line.starts_with("vm: PASS")
                || line.starts_with("vm: FAIL")
                || line.starts_with("vm: MISSING")
                || line.contains("accel=")
                || line.contains("FAIL:")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn vivid_and_snd_aloop_under_qemu_x86_64() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // An emulated VM on a shared 2-core machine sometimes stalls long enough to fail a timing
    // check (seen about once in ten runs, each time a different scenario); one rerun tells
    // that apart from a real failure, and the first run's findings are printed, not hidden.
    let mut attempts = Vec::new();
    for attempt in 1..=2 {
        let (code, log, seconds) = run_scenarios(root);
        eprintln!(
            "tests/vm/run.sh x86_64 (CI scenarios), attempt {attempt}: {seconds:.0} s\n{}",
            summary(&log)
        );
        match code {
            Some(0) => return,
            Some(3) => panic!(
                "the VM test's prerequisites are missing: run scripts/setup.sh (as root), then again.\n{log}"
            ),
            _ => attempts.push((code, log, seconds)),
        }
    }
    let (code, log, seconds) = attempts.pop().expect("two failed attempts");
    panic!(
        "tests/vm/run.sh x86_64 (CI scenarios) failed twice (last exit {code:?}, {seconds:.0} s):\n{}\n\nfull log:\n{log}",
        summary(&log)
    )
}
