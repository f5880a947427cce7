//! The `roombell` command line: UserSig tools, `roombell play` and the room server's refusals to
//! start.

mod common;

use common::{SDK_APP_ID, SECRET_KEY};
use std::process::{Command, Output};

fn roombell(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_roombell"))
        .args(args)
        .env_remove("ROOMBELL__ROOM__SECRET_KEY")
        .output()
        .expect("roombell runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn usersig_gen_then_verify_round_trips() {
    let app = SDK_APP_ID.to_string();
    let out = roombell(&[
        "usersig",
        "gen",
        "--sdk-app-id",
        &app,
        "--key",
        SECRET_KEY,
        "--user-id",
        "doorbell-01",
        "--expire",
        "600",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let sig = text(&out.stdout).trim().to_owned();
    let out = roombell(&[
        "usersig",
        "verify",
        "--sdk-app-id",
        &app,
        "--key",
        SECRET_KEY,
        "--user-id",
        "doorbell-01",
        &sig,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let document: serde_json::Value = serde_json::from_slice(&out.stdout).expect("prints JSON");
    assert_eq!(document["identifier"], "doorbell-01");
    assert_eq!(document["expire"], 600);

    let out = roombell(&[
        "usersig",
        "verify",
        "--sdk-app-id",
        &app,
        "--key",
        "wrong",
        "--user-id",
        "doorbell-01",
        &sig,
    ]);
    assert!(!out.status.success(), "a wrong key must fail");
    assert!(
        text(&out.stderr).contains("refused"),
        "{}",
        text(&out.stderr)
    );

    let out = roombell(&[
        "usersig",
        "verify",
        "--sdk-app-id",
        &app,
        "--key",
        SECRET_KEY,
        "--user-id",
        "doorbell-01",
        "--now",
        "9999999999",
        &sig,
    ]);
    assert!(!out.status.success(), "an expired sig must fail");
    assert!(
        text(&out.stderr).to_lowercase().contains("expired"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn usersig_gen_makes_private_map_keys() {
    let app = SDK_APP_ID.to_string();
    let out = roombell(&[
        "usersig",
        "gen",
        "--sdk-app-id",
        &app,
        "--key",
        SECRET_KEY,
        "--user-id",
        "phone",
        "--room-id",
        "1234",
        "--privileges",
        "42",
        "--now",
        "1700000000",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pmk = text(&out.stdout).trim().to_owned();
    let map = roombell::usersig::verify_private_map_key(
        &pmk,
        SDK_APP_ID as u32,
        SECRET_KEY,
        "phone",
        1_700_000_001,
    )
    .expect("the printed key verifies");
    assert_eq!(map.privileges, 42);
    assert_eq!(map.room, roombell::usersig::PrivateMapRoom::Number(1234));

    let out = roombell(&[
        "usersig",
        "gen",
        "--sdk-app-id",
        &app,
        "--key",
        SECRET_KEY,
        "--user-id",
        "phone",
        "--room-id",
        "1234",
    ]);
    assert!(
        !out.status.success(),
        "a room without privileges is refused"
    );
}

#[test]
fn room_refuses_to_start_without_a_key_or_on_a_taken_port() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("room.toml");
    std::fs::write(&config, "[room]\nsdk_app_id = 1400000000\n").expect("write config");
    let out = roombell(&["room", "--config", config.to_str().expect("utf-8 path")]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("room.secret_key"), "{stderr}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    std::fs::write(
        &config,
        format!(
            "[room]\nsdk_app_id = 1400000000\nsecret_key = \"k\"\nlisten = \"127.0.0.1:{port}\"\n"
        ),
    )
    .expect("write config");
    let out = roombell(&["room", "--config", config.to_str().expect("utf-8 path")]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cannot listen"), "{stderr}");
    assert!(stderr.contains(&port.to_string()), "{stderr}");
}

#[test]
fn room_with_a_missing_tls_certificate_names_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("room.toml");
    let cert = dir.path().join("no-such-cert.pem");
    std::fs::write(
        &config,
        format!(
            "[room]\nsdk_app_id = 1400000000\nsecret_key = \"k\"\nlisten = \"127.0.0.1:0\"\n\
             tls_cert = \"{}\"\ntls_key = \"{}\"\n",
            cert.display(),
            dir.path().join("key.pem").display()
        ),
    )
    .expect("write config");
    let out = roombell(&["room", "--config", config.to_str().expect("utf-8 path")]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("room.tls_cert"), "{stderr}");
    assert!(stderr.contains("no-such-cert.pem"), "{stderr}");

    // Only one of the two is a config error, named as such.
    std::fs::write(
        &config,
        "[room]\nsdk_app_id = 1400000000\nsecret_key = \"k\"\ntls_cert = \"/c.pem\"\n",
    )
    .expect("write config");
    let out = roombell(&["room", "--config", config.to_str().expect("utf-8 path")]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("room.tls_key"), "{stderr}");
}

/// `roombell play` through the real ALSA code into ALSA's `file` plugin (no sound card needed):
/// the tone comes out at the right pitch and the report counts what happened.
#[test]
#[cfg(feature = "alsa-backend")]
fn play_sends_a_tone_through_the_playout_path_to_an_alsa_speaker() {
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = dir.path().join("speaker.raw");
    std::fs::create_dir_all(dir.path().join("alsa")).expect("alsa dir");
    std::fs::write(
        dir.path().join("alsa/asoundrc"),
        format!(
            "pcm.rbspeaker {{ type file; slave.pcm \"null\"; file \"{}\"; format \"raw\" }}\n",
            raw.display()
        ),
    )
    .expect("asoundrc");
    let play = |speaker_device: &str| {
        Command::new(env!("CARGO_BIN_EXE_roombell"))
            .args(["play", "--seconds", "1", "--tone-hz", "880"])
            .args(["--speaker", "alsa", "--speaker-device", speaker_device])
            .env("XDG_CONFIG_HOME", dir.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("roombell runs")
    };
    let out = play("rbspeaker");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("50 Opus packets sent"), "{stdout}");
    assert!(stdout.contains("alsa playback \"rbspeaker\""), "{stdout}");
    assert!(stdout.contains("0 xruns recovered"), "{stdout}");
    let samples: Vec<i16> = std::fs::read(&raw)
        .expect("the speaker's raw file")
        .chunks_exact(2)
        .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    // The jitter buffer's start-up silence first; the second half is the tone.
    let hz = roombell::media::tone::dominant_frequency(&samples[samples.len() / 2..], 48_000);
    assert!((hz - 880.0).abs() < 20.0, "the speaker played {hz} Hz");

    // An unknown PCM: a typed error naming the setting, nothing played.
    let out = play("nosuchspeaker");
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("speaker"), "{stderr}");
    assert!(stderr.contains("nosuchspeaker"), "{stderr}");
}
