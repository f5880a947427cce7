//! The systemd units as shipped in `systemd/`: `systemd-analyze security --offline=true` scores
//! both at an exposure of at most 2.0, `systemd-analyze verify` has nothing to say about them,
//! and they keep the contract the daemon and the package rely on.
//!
//! Nothing here needs systemd running: both analyses read unit files. They do need the
//! `systemd-analyze` tool, and fail (not skip) without it, pointing at scripts/setup.sh.

use std::ffi::OsStr;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The most exposure either unit may have, on systemd's scale (0 locked down … 10 unprotected).
const MAX_EXPOSURE: f64 = 2.0;

const DEVICE_UNIT: &str = "roombell.service";
const ROOM_UNIT: &str = "roombell-room.service";

fn unit_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("systemd")
        .join(name)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `systemd-analyze`; fails the test with the way out when the tool is not installed.
fn systemd_analyze<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let result = Command::new("systemd-analyze")
        .args(args)
        .env("SYSTEMD_COLORS", "0")
        .env("SYSTEMD_PAGER", "")
        .output();
    match result {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "systemd-analyze is not installed: run scripts/setup.sh (it installs the systemd \
             package, which has it)"
        ),
        Err(e) => panic!("cannot run systemd-analyze: {e}"),
    }
}

/// The number on the "→ Overall exposure level for X: 1.5 OK" line.
fn overall_exposure(report: &str) -> Option<f64> {
    let line = report
        .lines()
        .find(|line| line.contains("Overall exposure level for"))?;
    let (_, rest) = line.rsplit_once(": ")?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Scores one shipped unit file, prints the score and what still counts against it, and checks
/// it against [`MAX_EXPOSURE`] both ways: systemd's own `--threshold` and the parsed number.
fn assert_exposure_at_most_max(unit: &str) {
    let path = unit_path(unit);
    // The threshold is in tenths: 20 = exposure 2.0.
    let threshold = format!("--threshold={}", (MAX_EXPOSURE * 10.0).round() as u32);
    let out = systemd_analyze([
        OsStr::new("security"),
        OsStr::new("--offline=true"),
        OsStr::new(&threshold),
        OsStr::new("--no-pager"),
        path.as_os_str(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    let score = overall_exposure(&stdout).unwrap_or_else(|| {
        panic!("no \"Overall exposure level\" line for {unit}:\n{stdout}\n{stderr}")
    });
    eprintln!(
        "systemd-analyze security --offline=true {unit}: exposure {score:.1} (at most {MAX_EXPOSURE:.1})"
    );
    for line in stdout.lines().filter(|line| line.starts_with('✗')) {
        eprintln!("  {}", line.trim_end());
    }
    assert!(
        stderr.trim().is_empty(),
        "systemd-analyze security complained about {unit}:\n{stderr}"
    );
    assert!(
        score <= MAX_EXPOSURE,
        "{unit} has exposure {score}, more than {MAX_EXPOSURE}:\n{stdout}"
    );
    assert!(
        out.status.success(),
        "systemd-analyze security {threshold} failed for {unit} ({}):\n{stdout}",
        out.status
    );
}

#[test]
fn device_unit_exposure_is_at_most_2() {
    assert_exposure_at_most_max(DEVICE_UNIT);
}

#[test]
fn room_unit_exposure_is_at_most_2() {
    assert_exposure_at_most_max(ROOM_UNIT);
}

/// Where this system keeps its units (sysinit.target, network-online.target, ...).
fn host_unit_dir() -> &'static Path {
    ["/usr/lib/systemd/system", "/lib/systemd/system"]
        .into_iter()
        .map(Path::new)
        .find(|dir| dir.join("sysinit.target").exists())
        .unwrap_or_else(|| {
            panic!("no systemd units in /usr/lib/systemd/system: run scripts/setup.sh")
        })
}

/// Copies a directory tree, keeping symlinks as symlinks (unit aliases, *.wants/ links).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&source).unwrap(), &target).unwrap();
        } else if kind.is_dir() {
            copy_tree(&source, &target);
        } else {
            fs::copy(&source, &target).unwrap();
        }
    }
}

/// A file system root for `systemd-analyze verify --root`, laid out as the package installs:
/// the host's own units in /usr/lib/systemd/system (the targets ours are ordered against), ours
/// byte for byte in /lib/systemd/system, and the test binary at /usr/bin/roombell, where
/// ExecStart looks for it. `verify` without a root would only report the missing /usr/bin/roombell.
fn verify_root(with_binary: bool) -> tempfile::TempDir {
    let root = tempfile::Builder::new()
        .prefix("units-root")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    copy_tree(host_unit_dir(), &root.path().join("usr/lib/systemd/system"));
    let ours = root.path().join("lib/systemd/system");
    fs::create_dir_all(&ours).unwrap();
    for unit in [DEVICE_UNIT, ROOM_UNIT] {
        fs::copy(unit_path(unit), ours.join(unit)).unwrap();
    }
    if with_binary {
        let bin = root.path().join("usr/bin");
        fs::create_dir_all(&bin).unwrap();
        let built = Path::new(env!("CARGO_BIN_EXE_roombell"));
        // A hard link spares copying a debug binary of a few hundred MB (same file system).
        if fs::hard_link(built, bin.join("roombell")).is_err() {
            fs::copy(built, bin.join("roombell")).unwrap();
        }
    }
    root
}

/// `systemd-analyze verify --root ROOT /lib/systemd/system/UNIT`: (success, what it printed).
fn verify_in(root: &Path, unit: &str) -> (bool, String) {
    let out = systemd_analyze([
        OsStr::new("verify"),
        OsStr::new("--no-pager"),
        OsStr::new("--root"),
        root.as_os_str(),
        OsStr::new(&format!("/lib/systemd/system/{unit}")),
    ]);
    (out.status.success(), text(&out.stderr) + &text(&out.stdout))
}

fn assert_verify_clean(unit: &str) {
    let root = verify_root(true);
    let (ok, messages) = verify_in(root.path(), unit);
    eprintln!(
        "systemd-analyze verify {unit}: {}",
        if ok && messages.trim().is_empty() {
            "clean"
        } else {
            "NOT clean"
        }
    );
    assert!(
        messages.trim().is_empty(),
        "systemd-analyze verify reported on {unit}:\n{messages}"
    );
    assert!(ok, "systemd-analyze verify failed on {unit}");
}

#[test]
fn device_unit_passes_verify() {
    assert_verify_clean(DEVICE_UNIT);
}

#[test]
fn room_unit_passes_verify() {
    assert_verify_clean(ROOM_UNIT);
}

/// The verify tests prove something only if verify, in this root, does complain: a missing
/// ExecStart binary and an unknown key must both be reported.
#[test]
fn verify_in_the_test_root_reports_a_missing_binary_and_an_unknown_key() {
    let root = verify_root(false);
    let unit = root.path().join("lib/systemd/system").join(DEVICE_UNIT);
    let shipped = fs::read_to_string(&unit).unwrap();
    fs::write(
        &unit,
        shipped.replace("UMask=0077", "UMask=0077\nProtectEverything=yes"),
    )
    .unwrap();
    let (ok, messages) = verify_in(root.path(), DEVICE_UNIT);
    assert!(!ok, "verify accepted a unit whose binary is missing");
    assert!(
        messages.contains("/usr/bin/roombell") && messages.contains("not executable"),
        "verify did not report the missing binary:\n{messages}"
    );
    assert!(
        messages.contains("ProtectEverything"),
        "verify did not report the unknown key:\n{messages}"
    );
}

/// `Key=value` pairs of one section, in order (repeated keys stay repeated).
fn section(unit_text: &str, name: &str) -> Vec<(String, String)> {
    let header = format!("[{name}]");
    let mut inside = false;
    let mut pairs = Vec::new();
    for line in unit_text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == header;
        } else if inside && !line.is_empty() && !line.starts_with('#') && !line.starts_with(';') {
            let (key, value) = line.split_once('=').expect("Key=value");
            pairs.push((key.trim().to_owned(), value.trim().to_owned()));
        }
    }
    pairs
}

fn value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// What the daemon (sd_notify, the state dir) and the package (paths, user) rely on, which the
/// security score does not look at.
#[test]
fn units_keep_the_contract_with_the_daemon_and_the_package() {
    for (unit, exec_start) in [
        (
            DEVICE_UNIT,
            "/usr/bin/roombell run --config /etc/roombell/roombell.toml",
        ),
        (
            ROOM_UNIT,
            "/usr/bin/roombell room --config /etc/roombell/room.toml",
        ),
    ] {
        let unit_text = fs::read_to_string(unit_path(unit)).unwrap();
        // systemd has no end-of-line comments: "RestartSec=5 # why" is a bad value, and
        // "Description=x # why" silently a longer description.
        for line in unit_text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
        {
            assert!(
                !line.contains(" #") && !line.contains("\t#"),
                "{unit}: a comment after a value is part of the value in systemd: {line:?}"
            );
        }
        let service = section(&unit_text, "Service");
        let expect = |key: &str, wanted: &str| {
            assert_eq!(value(&service, key), Some(wanted), "{unit}: {key}");
        };
        expect("Type", "notify");
        expect("NotifyAccess", "main");
        expect("WatchdogSec", "10");
        expect("ExecStart", exec_start);
        expect("Restart", "on-failure");
        expect("User", "roombell");
        expect("Group", "roombell");
        expect("ConfigurationDirectory", "roombell");
        let unit_section = section(&unit_text, "Unit");
        assert!(value(&unit_section, "StartLimitBurst").is_some(), "{unit}");
        assert!(
            value(&unit_section, "StartLimitIntervalSec").is_some(),
            "{unit}"
        );
        assert_eq!(
            value(&section(&unit_text, "Install"), "WantedBy"),
            Some("multi-user.target"),
            "{unit}"
        );
    }

    let device = fs::read_to_string(unit_path(DEVICE_UNIT)).unwrap();
    let device = section(&device, "Service");
    // device.state_dir defaults to /var/lib/roombell: the one writable path the unit gives.
    assert_eq!(value(&device, "StateDirectory"), Some("roombell"));
    assert_eq!(value(&device, "SupplementaryGroups"), Some("video audio"));
    let allowed: Vec<&str> = device
        .iter()
        .filter(|(k, _)| k == "DeviceAllow")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(allowed, ["char-video4linux rw", "char-alsa rw"]);
    assert_eq!(value(&device, "DevicePolicy"), Some("closed"));

    let room = fs::read_to_string(unit_path(ROOM_UNIT)).unwrap();
    let room = section(&room, "Service");
    assert_eq!(value(&room, "PrivateDevices"), Some("yes"));
    assert_eq!(
        value(&room, "StateDirectory"),
        None,
        "the room keeps no state"
    );
}

#[test]
fn overall_exposure_is_read_from_the_report_line() {
    let report = "✓ UMask= Files created by service are accessible only by ...\n\n\
                  → Overall exposure level for roombell.service: 1.5 OK 🙂\n";
    assert_eq!(overall_exposure(report), Some(1.5));
    assert_eq!(overall_exposure("no score here"), None);
}
