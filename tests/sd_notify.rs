//! `roombell run` under a fake systemd: READY, STATUS, WATCHDOG while media flows, none once
//! the encoder hangs, and STOPPING on SIGTERM — read from a real NOTIFY_SOCKET datagram socket.

mod common;

use common::*;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn start_device(dir: &Path, url: &str, socket: &Path, hang_after: Option<u32>) -> Child {
    let config = dir.join("roombell.toml");
    std::fs::write(
        &config,
        format!(
            "[device]\nserver = \"{url}\"\nsdk_app_id = {SDK_APP_ID}\nsecret_key = \"{SECRET_KEY}\"\n\
             user_id = \"doorbell-01\"\nroom_id = 4321\nmedia_ip = \"127.0.0.1\"\nstate_dir = \"{}\"\n\
             [video]\nbackend = \"test\"\n[audio]\nbackend = \"tone\"\n[speaker]\nbackend = \"null\"\n",
            dir.join("state").display()
        ),
    )
    .expect("config");
    let mut command = Command::new(env!("CARGO_BIN_EXE_roombell"));
    command
        .args(["run", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", socket)
        .env("WATCHDOG_USEC", "1000000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(frames) = hang_after {
        command.env("ROOMBELL_FAULT_HANG_ENCODER_AFTER", frames.to_string());
    }
    command.spawn().expect("roombell run starts")
}

/// Datagrams received within `window`, each with its arrival time.
fn collect(socket: &UnixDatagram, window: Duration) -> Vec<(Instant, String)> {
    let deadline = Instant::now() + window;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        socket
            .set_read_timeout(Some(
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1)),
            ))
            .expect("timeout");
        if let Ok(n) = socket.recv(&mut buf) {
            got.push((
                Instant::now(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            ));
        }
    }
    got
}

fn count(messages: &[(Instant, String)], what: &str) -> usize {
    messages
        .iter()
        .filter(|(_, m)| m.lines().any(|l| l == what))
        .count()
}

#[test]
fn ready_status_watchdog_and_stopping_follow_the_pipeline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_room();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind notify socket");
    let mut device = start_device(dir.path(), &server.ws_url(), &path, None);

    let messages = collect(&socket, Duration::from_secs(4));
    assert_eq!(count(&messages, "READY=1"), 1, "{messages:?}");
    assert!(count(&messages, "WATCHDOG=1") >= 4, "{messages:?}");
    let in_room = messages
        .iter()
        .any(|(_, m)| m.starts_with("STATUS=in room 4321 as doorbell-01, publishing 640x480@30"));
    assert!(in_room, "{messages:?}");

    let status = Command::new("kill")
        .args(["-TERM", &device.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let messages = collect(&socket, Duration::from_millis(1500));
    assert_eq!(count(&messages, "STOPPING=1"), 1, "{messages:?}");
    let exit = device.wait().expect("wait");
    assert!(exit.success(), "{exit}");
    server.stop();
}

#[test]
fn a_hung_encoder_stops_the_watchdog_pings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_room();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind notify socket");
    // 30 frames in, the video encoder wedges; audio keeps flowing.
    let mut device = start_device(dir.path(), &server.ws_url(), &path, Some(30));
    let messages = collect(&socket, Duration::from_secs(5));
    let _ = device.kill();
    let _ = device.wait();
    server.stop();
    let pings: Vec<Instant> = messages
        .iter()
        .filter(|(_, m)| m.lines().any(|l| l == "WATCHDOG=1"))
        .map(|(at, _)| *at)
        .collect();
    assert!(
        !pings.is_empty(),
        "pinged while the encoder worked: {messages:?}"
    );
    let last = *pings.last().expect("one ping");
    let end = messages.last().map(|(at, _)| *at).unwrap_or(last);
    // systemd (WatchdogSec=1 here) would restart a process silent this long.
    assert!(
        Instant::now().duration_since(last) > Duration::from_secs(2),
        "still pinging after the hang: {} pings, the last {} ms before the end",
        pings.len(),
        end.duration_since(last).as_millis()
    );
}
