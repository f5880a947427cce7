//! The Debian package from scripts/package-deb.sh, inspected and never installed: built once per
//! run from the test binary (no release build here) into target/tmp, then read with dpkg-deb,
//! its maintainer scripts parsed and run against stub commands, its units verified where the
//! package puts them, and lintian run over it when lintian is installed.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const UNITS: [&str; 2] = ["roombell.service", "roombell-room.service"];
const CONFIGS: [&str; 2] = ["roombell.toml", "room.toml"];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a tool the package build needs; fails with the way out when it is not installed.
fn run<I, S>(program: &str, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    match Command::new(program).args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            panic!("{program} is not installed: run scripts/setup.sh")
        }
        Err(e) => panic!("cannot run {program}: {e}"),
    }
}

/// Runs a tool and returns its stdout, failing the test on a non-zero exit.
fn run_ok<I, S>(program: &str, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} failed ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The package built once for all tests in this file, and its unpacked files and control area.
struct Package {
    deb: PathBuf,
    /// `dpkg-deb -x`: the files as they would land on the board.
    files: PathBuf,
    /// `dpkg-deb -e`: control, conffiles, md5sums and the maintainer scripts.
    control: PathBuf,
    /// Scratch space for tests, removed with the next run's stale-directory sweep.
    scratch: PathBuf,
}

/// Directories of earlier runs whose process is gone: `package_deb-<pid>` in target/tmp.
fn remove_stale_build_dirs(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("package_deb-") {
            if !Path::new("/proc").join(pid).exists() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

fn build_package() -> Result<Package, String> {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    remove_stale_build_dirs(tmp);
    let dir = tmp.join(format!("package_deb-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let out_dir = dir.join("out");
    fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    let out = Command::new("bash")
        .arg(Path::new(MANIFEST_DIR).join("scripts/package-deb.sh"))
        .arg("--binary")
        .arg(env!("CARGO_BIN_EXE_roombell"))
        .arg("--out")
        .arg(&out_dir)
        .output()
        .map_err(|e| format!("cannot run scripts/package-deb.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "scripts/package-deb.sh failed ({}):\n{}{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        ));
    }
    let stdout = text(&out.stdout);
    let deb = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    if !deb.is_file() {
        return Err(format!("the script's last line is not the .deb: {stdout}"));
    }
    let (files, control, scratch) = (dir.join("files"), dir.join("control"), dir.join("scratch"));
    fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    run_ok(
        "dpkg-deb",
        [OsStr::new("-x"), deb.as_os_str(), files.as_os_str()],
    );
    run_ok(
        "dpkg-deb",
        [OsStr::new("-e"), deb.as_os_str(), control.as_os_str()],
    );
    Ok(Package {
        deb,
        files,
        control,
        scratch,
    })
}

fn package() -> &'static Package {
    static PACKAGE: OnceLock<Result<Package, String>> = OnceLock::new();
    match PACKAGE.get_or_init(build_package) {
        Ok(package) => package,
        Err(message) => panic!("{message}"),
    }
}

/// A fresh directory under the package's scratch space.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = package().scratch.join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// `dpkg-deb --contents`: path (without the leading "./") -> (mode string, owner/group).
fn contents(deb: &Path) -> BTreeMap<String, (String, String)> {
    run_ok("dpkg-deb", [OsStr::new("--contents"), deb.as_os_str()])
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert!(fields.len() >= 6, "unexpected dpkg-deb line {line:?}");
            let path = fields[5].trim_start_matches("./").trim_end_matches('/');
            (
                path.to_owned(),
                (fields[0].to_owned(), fields[1].to_owned()),
            )
        })
        .collect()
}

/// Every file and symlink under `dir`, relative to it, with the mode dpkg-deb shows for it.
fn files_under(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let kind = entry.file_type().unwrap();
        let name = PathBuf::from(entry.file_name());
        if kind.is_dir() {
            let inside = files_under(&entry.path());
            found.extend(inside.into_iter().map(|(p, m)| (name.join(p), m)));
        } else if kind.is_symlink() {
            found.push((name, "lrwxrwxrwx"));
        } else {
            found.push((name, "-rw-r--r--"));
        }
    }
    found
}

#[test]
fn package_has_every_file_in_place_with_its_mode() {
    let listing = contents(&package().deb);
    let mut expected: Vec<(String, &str)> = vec![
        ("usr/bin/roombell".into(), "-rwxr-xr-x"),
        ("usr/share/doc/roombell/copyright".into(), "-rw-r--r--"),
        ("usr/share/doc/roombell/changelog.gz".into(), "-rw-r--r--"),
        ("usr/share/man/man1/roombell.1.gz".into(), "-rw-r--r--"),
        ("usr/share/lintian/overrides/roombell".into(), "-rw-r--r--"),
    ];
    for unit in UNITS {
        expected.push((format!("lib/systemd/system/{unit}"), "-rw-r--r--"));
    }
    // The configs hold the room secret: never world-readable.
    for config in CONFIGS {
        expected.push((format!("etc/roombell/{config}"), "-rw-r-----"));
    }
    let web = Path::new(MANIFEST_DIR).join("web");
    if web.is_dir() {
        // Symlinks stay symlinks (relative ones, inside web/).
        for (file, mode) in files_under(&web) {
            let path = format!("usr/share/roombell/web/{}", file.display());
            expected.push((path, mode));
        }
    }
    for (path, mode) in &expected {
        let Some((found_mode, owner)) = listing.get(path) else {
            panic!("{path} is not in the package; it has:\n{listing:#?}");
        };
        assert_eq!(found_mode, mode, "mode of {path}");
        assert_eq!(owner, "root/root", "owner of {path}");
    }
    // Nothing else but the directories holding these.
    let allowed_dirs = [
        "",
        "etc",
        "etc/roombell",
        "lib",
        "lib/systemd",
        "lib/systemd/system",
        "usr",
        "usr/bin",
        "usr/share",
        "usr/share/doc",
        "usr/share/doc/roombell",
        "usr/share/man",
        "usr/share/man/man1",
        "usr/share/lintian",
        "usr/share/lintian/overrides",
        "usr/share/roombell",
    ];
    for (path, (mode, _)) in &listing {
        let expected_file = expected.iter().any(|(p, _)| p == path);
        let known_dir = mode.starts_with('d')
            && (allowed_dirs.contains(&path.as_str())
                || path.starts_with("usr/share/roombell/web"));
        assert!(
            expected_file || known_dir,
            "{path} ({mode}) is in the package but not expected"
        );
    }
}

/// `man roombell` lists every command `roombell --help` does.
#[test]
fn man_page_documents_every_command() {
    let help = run_ok(env!("CARGO_BIN_EXE_roombell"), ["--help"]);
    let man = fs::read_to_string(Path::new(MANIFEST_DIR).join("packaging/roombell.1")).unwrap();
    let commands = help
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|command| *command != "help");
    for command in commands {
        assert!(
            man.contains(&format!(".TP\n.B {command}\n")),
            "packaging/roombell.1 does not document `roombell {command}`"
        );
    }
}

#[test]
fn packaged_binary_is_the_given_one_stripped() {
    let binary = package().files.join("usr/bin/roombell");
    let out = run_ok("readelf", [OsStr::new("-S"), binary.as_os_str()]);
    assert!(
        !out.contains(".symtab") && !out.contains(".debug_info"),
        "the packaged binary still has symbols or debug info:\n{out}"
    );
    let version = run_ok(binary.to_str().unwrap(), ["--version"]);
    assert_eq!(
        version.trim(),
        format!("roombell {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn control_names_version_architecture_section_and_dependencies() {
    let deb = package().deb.as_os_str();
    let field = |name: &str| {
        run_ok("dpkg-deb", [OsStr::new("--field"), deb, OsStr::new(name)])
            .trim()
            .to_owned()
    };
    assert_eq!(field("Package"), "roombell");
    assert_eq!(
        field("Version"),
        env!("CARGO_PKG_VERSION").replacen('-', "~", 1)
    );
    let host_arch = run_ok("dpkg", ["--print-architecture"]);
    assert_eq!(field("Architecture"), host_arch.trim());
    assert_eq!(field("Section"), "video");
    assert_eq!(field("Priority"), "optional");
    assert!(field("Maintainer").contains('@'), "a maintainer address");
    assert!(!field("Description").is_empty());
    let installed_size: u64 = field("Installed-Size").parse().expect("a number of KiB");
    assert!(installed_size > 0);

    let depends = field("Depends");
    eprintln!("Depends: {depends}");
    // From dpkg-shlibdeps, then what the maintainer scripts call.
    for needed in ["libc6 (>= ", "adduser", "init-system-helpers (>= "] {
        assert!(
            depends.contains(needed),
            "Depends lacks {needed:?}: {depends}"
        );
    }
    // Every shared library the binary links has its package in Depends.
    let binary = package().files.join("usr/bin/roombell");
    let dynamic = run_ok("readelf", [OsStr::new("-d"), binary.as_os_str()]);
    let sonames = dynamic
        .lines()
        .filter(|line| line.contains("(NEEDED)"))
        .filter_map(|line| line.split('[').nth(1)?.split(']').next());
    for soname in sonames {
        let package = match soname {
            s if s.starts_with("libc.so") || s.starts_with("libm.so") => "libc6",
            s if s.starts_with("libstdc++") => "libstdc++6",
            s if s.starts_with("libgcc_s") => "libgcc-s1",
            s if s.starts_with("libasound") => "libasound2",
            s if s.starts_with("libsystemd") => "libsystemd0",
            s if s.starts_with("ld-linux") => continue,
            other => panic!("{other} is linked; add its package to this test"),
        };
        assert!(
            depends.contains(package),
            "{soname} is linked but {package} is not in Depends: {depends}"
        );
    }
}

#[test]
fn configs_are_conffiles_and_the_files_of_config_dir() {
    let listed = run_ok(
        "dpkg-deb",
        [
            OsStr::new("--info"),
            package().deb.as_os_str(),
            OsStr::new("conffiles"),
        ],
    );
    let listed: Vec<&str> = listed.lines().collect();
    assert_eq!(
        listed,
        ["/etc/roombell/roombell.toml", "/etc/roombell/room.toml"]
    );
    for config in CONFIGS {
        let packaged = fs::read(package().files.join("etc/roombell").join(config)).unwrap();
        let source = fs::read(Path::new(MANIFEST_DIR).join("config").join(config)).unwrap();
        assert!(
            packaged == source,
            "etc/roombell/{config} differs from config/{config}"
        );
    }
}

/// The units in the package are systemd/'s byte for byte, so the scores of tests/systemd_units.rs
/// are the scores of what gets installed.
#[test]
fn units_are_the_ones_scored_in_systemd_dir() {
    for unit in UNITS {
        let packaged = fs::read(package().files.join("lib/systemd/system").join(unit)).unwrap();
        let source = fs::read(Path::new(MANIFEST_DIR).join("systemd").join(unit)).unwrap();
        assert!(packaged == source, "{unit} differs from systemd/{unit}");
    }
}

/// Copies a directory tree, keeping symlinks as symlinks.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap().flatten() {
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

/// The package unpacked as a root file system beside this system's own units: ExecStart must
/// find /usr/bin/roombell where the package put it.
#[test]
fn units_pass_verify_where_the_package_installs_them() {
    let root = scratch_dir("verify-root");
    run_ok(
        "dpkg-deb",
        [
            OsStr::new("-x"),
            package().deb.as_os_str(),
            root.as_os_str(),
        ],
    );
    let host_units = ["/usr/lib/systemd/system", "/lib/systemd/system"]
        .into_iter()
        .map(Path::new)
        .find(|dir| dir.join("sysinit.target").exists())
        .expect("systemd's units: run scripts/setup.sh");
    copy_tree(host_units, &root.join("usr/lib/systemd/system"));
    for unit in UNITS {
        let unit_path = format!("/lib/systemd/system/{unit}");
        let out = run(
            "systemd-analyze",
            [
                OsStr::new("verify"),
                OsStr::new("--no-pager"),
                OsStr::new("--root"),
                root.as_os_str(),
                OsStr::new(&unit_path),
            ],
        );
        let messages = text(&out.stderr) + &text(&out.stdout);
        assert!(
            out.status.success() && messages.trim().is_empty(),
            "systemd-analyze verify of the packaged {unit}:\n{messages}"
        );
    }
}

const MAINTAINER_SCRIPTS: [&str; 3] = ["postinst", "prerm", "postrm"];

#[test]
fn maintainer_scripts_are_executable_posix_shell() {
    let info = run_ok(
        "dpkg-deb",
        [OsStr::new("--info"), package().deb.as_os_str()],
    );
    for script in MAINTAINER_SCRIPTS {
        let path = package().control.join(script);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755, "{script} mode {mode:o}");
        // dpkg-deb --info marks executable control members with '*' and shows their first line.
        let listed = info.lines().any(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            words.windows(2).any(|pair| pair == ["*", script])
                && line.trim_end().ends_with("#!/bin/sh")
        });
        assert!(
            listed,
            "dpkg-deb --info does not list {script} as an executable #!/bin/sh script:\n{info}"
        );
        let out = run("sh", [OsStr::new("-n"), path.as_os_str()]);
        assert!(
            out.status.success(),
            "sh -n {script}: {}",
            text(&out.stderr)
        );
    }
}

/// The postinst function that decides whether the doorbell starts, run on its own.
fn device_has_credentials(config_text: &str) -> bool {
    let postinst = fs::read_to_string(package().control.join("postinst")).unwrap();
    let start = postinst
        .find("device_has_credentials() {")
        .expect("postinst defines device_has_credentials");
    let end = start
        + postinst[start..]
            .find("\n}\n")
            .expect("end of the function")
        + 3;
    static CASE: AtomicUsize = AtomicUsize::new(0);
    let dir = scratch_dir(&format!(
        "credentials-{}",
        CASE.fetch_add(1, Ordering::Relaxed)
    ));
    let config = dir.join("roombell.toml");
    fs::write(&config, config_text).unwrap();
    let program = format!(
        "{}\nDEVICE_UNIT=roombell-test-no-such-unit.service\nDEVICE_CONFIG=\"$1\"\ndevice_has_credentials",
        &postinst[start..end]
    );
    let out = run(
        "sh",
        [
            OsStr::new("-c"),
            OsStr::new(&program),
            OsStr::new("sh"),
            config.as_os_str(),
        ],
    );
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    out.status.success()
}

#[test]
fn postinst_starts_the_doorbell_only_with_credentials_in_device() {
    let shipped = fs::read_to_string(Path::new(MANIFEST_DIR).join("config/roombell.toml")).unwrap();
    assert!(
        !device_has_credentials(&shipped),
        "the shipped config/roombell.toml has credentials: the package would start a doorbell \
         with example secrets"
    );
    assert!(device_has_credentials("[device]\nsecret_key = \"k\"\n"));
    assert!(device_has_credentials("[device]\n  user_sig = 'eJyr'\n"));
    assert!(device_has_credentials("[ device ]\nuser_sig=\"eJyr\"\n"));
    assert!(!device_has_credentials("[device]\nsecret_key = \"\"\n"));
    assert!(!device_has_credentials(
        "[device]\n# secret_key = \"set me\"\n"
    ));
    assert!(!device_has_credentials(
        "[room]\nsecret_key = \"k\"\n[device]\nuser_id = \"d\"\n"
    ));
}

/// A directory of stand-ins for every command the maintainer scripts may call that changes the
/// system; each logs its arguments to $STUB_LOG. PATH holds only these and awk/grep, so a
/// command missing here fails the script instead of touching this machine.
fn stub_path(dir: &Path) -> String {
    let stubs = dir.join("stubs");
    fs::create_dir_all(&stubs).unwrap();
    let behaviours = [
        (
            "getent",
            r#"case "$1 $2" in
  "passwd roombell"|"group roombell") [ -n "$STUB_USER_EXISTS" ] && exit 0; exit 2 ;;
  "group video"|"group audio") exit 0 ;;
esac
exit 2"#,
        ),
        (
            "deb-systemd-helper",
            r#"case "$*" in
  "--quiet was-enabled roombell.service") exit 0 ;;
  "--quiet was-enabled roombell-room.service"|"debian-installed roombell-room.service") exit 1 ;;
esac"#,
        ),
        ("systemctl", r#"case "$*" in *is-active*) exit 3 ;; esac"#),
        ("dpkg-statoverride", "exit 1"),
    ];
    for name in [
        "getent",
        "adduser",
        "deluser",
        "delgroup",
        "userdel",
        "groupdel",
        "deb-systemd-helper",
        "deb-systemd-invoke",
        "systemctl",
        "dpkg-statoverride",
        "chown",
        "chmod",
        "rm",
    ] {
        let behaviour = behaviours
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, b)| *b);
        let path = stubs.join(name);
        fs::write(
            &path,
            format!("#!/bin/sh\necho \"{name} $*\" >> \"$STUB_LOG\"\n{behaviour}\nexit 0\n"),
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let tools = dir.join("tools");
    fs::create_dir_all(&tools).unwrap();
    for tool in ["awk", "grep"] {
        let real = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{tool} not found"));
        std::os::unix::fs::symlink(real, tools.join(tool)).unwrap();
    }
    format!("{}:{}", stubs.display(), tools.display())
}

/// Runs one packaged maintainer script with stubbed commands: (success, the calls it made).
fn run_maintainer_script(script: &str, args: &[&str], user_exists: bool) -> (bool, String) {
    let dir = scratch_dir(&format!("{script}-{}-{user_exists}", args.join("-")));
    let log = dir.join("calls.log");
    fs::write(&log, "").unwrap();
    let mut command = Command::new("/bin/sh");
    command
        .arg(package().control.join(script))
        .args(args)
        .env_clear()
        .env("PATH", stub_path(&dir))
        .env("STUB_LOG", &log);
    if user_exists {
        command.env("STUB_USER_EXISTS", "1");
    }
    let out = command.output().unwrap();
    let calls = fs::read_to_string(&log).unwrap();
    eprintln!(
        "{script} {}: {}\n{calls}{}",
        args.join(" "),
        out.status,
        text(&out.stderr)
    );
    (out.status.success(), calls)
}

#[test]
fn maintainer_scripts_create_the_user_enable_the_doorbell_and_purge_cleanly() {
    // First installation: the user, its groups, the doorbell enabled, the room server not.
    let (ok, calls) = run_maintainer_script("postinst", &["configure", ""], false);
    assert!(ok);
    assert!(calls
        .contains("adduser --quiet --system --group --home /var/lib/roombell --no-create-home"));
    assert!(calls.contains("adduser --quiet roombell video"));
    assert!(calls.contains("adduser --quiet roombell audio"));
    assert!(calls.contains("deb-systemd-helper enable roombell.service"));
    assert!(!calls.contains("deb-systemd-helper enable roombell-room.service"));
    assert!(calls.contains("deb-systemd-helper update-state roombell-room.service"));

    // Upgrade: the user exists and is not created again.
    let (ok, calls) = run_maintainer_script("postinst", &["configure", "0.0.1"], true);
    assert!(ok);
    assert!(!calls.contains("adduser --quiet --system"));
    assert!(calls.contains("deb-systemd-helper enable roombell.service"));

    let (ok, _) = run_maintainer_script("postinst", &["no-such-action"], true);
    assert!(!ok, "postinst must refuse an unknown action");

    // Upgrade keeps the services running (postinst restarts them); only removal stops.
    let (ok, calls) = run_maintainer_script("prerm", &["upgrade", "0.0.2"], true);
    assert!(ok);
    assert!(!calls.contains("stop"), "prerm upgrade stopped something");
    let (ok, _) = run_maintainer_script("prerm", &["remove"], true);
    assert!(ok);

    // Remove keeps the user and the state; purge removes both.
    let (ok, calls) = run_maintainer_script("postrm", &["remove"], true);
    assert!(ok);
    assert!(!calls.contains("deluser") && !calls.contains("rm -rf"));
    let (ok, calls) = run_maintainer_script("postrm", &["purge"], true);
    assert!(ok);
    assert!(calls.contains("deb-systemd-helper purge roombell.service roombell-room.service"));
    assert!(calls.contains("rm -rf /var/lib/roombell"));
    assert!(calls.contains("deluser --quiet --system roombell"));
    assert!(calls.contains("delgroup --quiet --system roombell"));
}

#[test]
fn lintian_finds_no_errors_or_warnings_when_installed() {
    let out = match Command::new("lintian")
        .args(["--fail-on", "error,warning", "--pedantic"])
        .arg(&package().deb)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            eprintln!("lintian is not installed; not run (scripts/setup.sh installs it)");
            return;
        }
        Err(e) => panic!("cannot run lintian: {e}"),
    };
    let report = text(&out.stdout);
    eprintln!("lintian: {}\n{report}", out.status);
    assert!(
        out.status.success(),
        "lintian:\n{report}{}",
        text(&out.stderr)
    );
}

/// A copy of what the script reads, in a temporary tree, without config/roombell.toml.
#[test]
fn script_names_a_missing_config_file() {
    let temp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let tree = temp.path();
    let source = Path::new(MANIFEST_DIR);
    for dir in ["scripts", "packaging", "systemd"] {
        copy_tree(&source.join(dir), &tree.join(dir));
    }
    fs::copy(source.join("Cargo.toml"), tree.join("Cargo.toml")).unwrap();
    fs::create_dir_all(tree.join("config")).unwrap();
    fs::copy(
        source.join("config/room.toml"),
        tree.join("config/room.toml"),
    )
    .unwrap();
    let out = run(
        "bash",
        [
            tree.join("scripts/package-deb.sh").as_os_str(),
            OsStr::new("--binary"),
            OsStr::new(env!("CARGO_BIN_EXE_roombell")),
            OsStr::new("--out"),
            tree.join("out").as_os_str(),
        ],
    );
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "built a package without config/roombell.toml"
    );
    assert!(
        stderr.contains("config/roombell.toml is missing")
            && stderr.contains("/etc/roombell/roombell.toml"),
        "the message does not say which file is missing and why: {stderr}"
    );
}

#[test]
fn script_refuses_a_binary_built_for_another_architecture() {
    let host = run_ok("dpkg", ["--print-architecture"]);
    let other = if host.trim() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let out = run(
        "bash",
        [
            Path::new(MANIFEST_DIR)
                .join("scripts/package-deb.sh")
                .as_os_str(),
            OsStr::new("--arch"),
            OsStr::new(other),
            OsStr::new("--binary"),
            OsStr::new(env!("CARGO_BIN_EXE_roombell")),
            OsStr::new("--out"),
            tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
                .unwrap()
                .path()
                .as_os_str(),
        ],
    );
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "packaged a binary for the wrong architecture"
    );
    assert!(
        stderr.contains(&format!("not {other}")),
        "the message does not name the mismatch: {stderr}"
    );
}
