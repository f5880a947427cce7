//! `roombell check` says exactly what is wrong, and exits 0 only when nothing is.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

fn check(config: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_roombell"))
        .args(["check", "--config"])
        .arg(config)
        .output()
        .expect("roombell check runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn write_config(dir: &Path, url: &str, key: &str, video: &str) -> std::path::PathBuf {
    let path = dir.join("roombell.toml");
    std::fs::write(
        &path,
        format!(
            "[device]\nserver = \"{url}\"\nsdk_app_id = {SDK_APP_ID}\nsecret_key = \"{key}\"\n\
             user_id = \"doorbell-01\"\nroom_id = 1234\nstate_dir = \"{}\"\n\
             [video]\n{video}\n[audio]\nbackend = \"tone\"\n[speaker]\nbackend = \"null\"\n",
            dir.join("state").display()
        ),
    )
    .expect("write config");
    path
}

#[test]
fn a_good_setup_passes_and_each_problem_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_room();
    let url = server.ws_url();

    let good = write_config(dir.path(), &url, SECRET_KEY, "backend = \"test\"");
    let (ok, out) = check(&good);
    assert!(ok, "{out}");
    assert!(out.contains("[ok  ] room server"), "{out}");
    assert!(out.contains("[ok  ] join"), "{out}");
    assert!(out.contains("[ok  ] video source: test pattern"), "{out}");

    let wrong_key = write_config(dir.path(), &url, "not-the-key", "backend = \"test\"");
    let (ok, out) = check(&wrong_key);
    assert!(!ok);
    assert!(out.contains("[FAIL] join"), "{out}");
    assert!(out.contains("userSig"), "{out}");

    let no_camera = write_config(
        dir.path(),
        &url,
        SECRET_KEY,
        "backend = \"v4l2\"\ndevice = \"/dev/video-none\"",
    );
    let (ok, out) = check(&no_camera);
    assert!(!ok);
    assert!(
        out.contains("[FAIL] video source: /dev/video-none"),
        "{out}"
    );

    server.stop();
    let (ok, out) = check(&good);
    assert!(!ok);
    assert!(out.contains("[FAIL] room server"), "{out}");

    std::fs::write(&good, "[device]\nsdk_app_id = 1\n").expect("write");
    let (ok, out) = check(&good);
    assert!(!ok);
    assert!(
        out.contains("[FAIL] config") && out.contains("device.user_id"),
        "{out}"
    );
}
