//! Issue 4: `roombell run` as a child process in a room, with the Rust client answering.
//! It publishes the test pattern and a tone, plays what the answerer says into a WAV file,
//! comes back by itself after room-server restarts, and leaves cleanly on SIGTERM.

mod common;

use common::*;
use roombell::client::{Client, ClientEvent, Subscriber};
use roombell::protocol::{Role, RoomId};
use roombell::room::RoomServerThread;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROOM: u64 = 4321;
const DEVICE: &str = "doorbell-01";

struct DeviceProcess {
    child: Child,
    log: PathBuf,
}

impl DeviceProcess {
    fn start(dir: &Path, server: &RoomServerThread) -> DeviceProcess {
        let config = dir.join("roombell.toml");
        let speaker = dir.join("speaker.wav");
        std::fs::write(
            &config,
            format!(
                r#"
[device]
server = "{url}"
sdk_app_id = {SDK_APP_ID}
secret_key = "{SECRET_KEY}"
user_id = "{DEVICE}"
room_id = {ROOM}
media_ip = "127.0.0.1"
state_dir = "{state}"
max_retry_ms = 1000

[video]
backend = "test"
width = 640
height = 480
fps = 30

[audio]
backend = "tone"
tone_hz = 440.0

[speaker]
backend = "wav"
file = "{speaker}"
"#,
                url = server.ws_url(),
                state = dir.join("state").display(),
                speaker = speaker.display(),
            ),
        )
        .expect("write config");
        let log = dir.join("device.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_roombell"))
            .args(["run", "--config"])
            .arg(&config)
            .env(
                "RUST_LOG",
                "info,roombell=debug,webrtc=warn,rtc=warn,rtc_ice=error,rtc_dtls=error",
            )
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("roombell run starts");
        DeviceProcess { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for DeviceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Joins as the answerer and subscribes to the doorbell once it publishes.
async fn answer(
    server: &RoomServerThread,
) -> (
    Client,
    tokio::sync::mpsc::UnboundedReceiver<ClientEvent>,
    Subscriber,
) {
    let (client, mut events) = connect(server, "phone").await;
    client
        .join(RoomId::Number(ROOM), Role::Anchor, None)
        .await
        .expect("the answerer joins");
    wait_event(&mut events, Duration::from_secs(20), |e| {
        matches!(e, ClientEvent::StreamAdded(s) if s.user_id == DEVICE).then_some(())
    })
    .await
    .expect("the doorbell publishes");
    let subscriber = client
        .subscribe(DEVICE, true, true)
        .await
        .expect("the answerer subscribes");
    (client, events, subscriber)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doorbell_joins_talks_recovers_and_leaves() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = start_room();
    let port = server.addr.port();
    let device = DeviceProcess::start(dir.path(), &server);

    // The answerer sees and hears the doorbell.
    let (client, events, mut subscriber) = answer(&server).await;
    let (frames, pcm) = receive(&mut subscriber, 60, 1000).await;
    assert!(frames >= 60, "decoded {frames} frames\n{}", device.log());
    let hz = zero_crossing_frequency(&pcm[pcm.len().saturating_sub(24_000)..]);
    assert!(
        (hz - 440.0).abs() < 440.0 * 0.02,
        "doorbell tone at {hz} Hz"
    );

    // The doorbell hears the answerer: a 1 kHz sine ends up in its speaker file within 2 s.
    let mut publisher = client
        .publish(true, false)
        .await
        .expect("the answerer publishes");
    assert!(publisher.wait_connected(Duration::from_secs(10)).await);
    let tone = opus_sine(1000.0, 400);
    let talking = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        for packet in tone {
            ticker.tick().await;
            let _ = publisher
                .write_audio(packet, Duration::from_millis(20))
                .await;
        }
        publisher
    });
    let speaker = dir.path().join("speaker.wav");
    let started = Instant::now();
    let mut heard = None;
    while started.elapsed() < Duration::from_secs(6) && heard.is_none() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let samples = wav_samples(&speaker);
        if samples.len() > 9_600 {
            let hz = zero_crossing_frequency(&samples[samples.len() - 9_600..]);
            if (hz - 1000.0).abs() < 20.0 {
                heard = Some(started.elapsed());
            }
        }
    }
    let heard =
        heard.unwrap_or_else(|| panic!("the doorbell never played 1 kHz\n{}", device.log()));
    eprintln!(
        "answerer's 1 kHz in the doorbell's speaker after {} ms",
        heard.as_millis()
    );
    assert!(
        heard <= Duration::from_secs(2),
        "took {} ms",
        heard.as_millis()
    );
    let _ = talking.await;
    client.close().await;
    drop(events);

    // The room server dies and comes back on the same port, 5 times: the doorbell rejoins by
    // itself each time, and a rejoined answerer receives its frames again.
    for cycle in 1..=5 {
        server.stop();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut config = room_config();
        config.listen = format!("127.0.0.1:{port}");
        server = RoomServerThread::spawn(config).expect("the room server restarts");
        let back = Instant::now();
        let (client, _events, mut subscriber) = answer(&server).await;
        let (frames, _) = receive(&mut subscriber, 10, 0).await;
        assert!(
            frames >= 10,
            "cycle {cycle}: {frames} frames\n{}",
            device.log()
        );
        eprintln!(
            "cycle {cycle}: frames again {} ms after the server came back",
            back.elapsed().as_millis()
        );
        client.close().await;
    }

    // Bitrate adaptation reads the receivers' loss reports (RTCP RR via the SFU).
    assert!(
        device.log().contains("receiver report"),
        "the device never read a receiver report\n{}",
        device.log()
    );

    // SIGTERM: the answerer sees the doorbell leave, and the process exits 0 within 2 s.
    let (client, mut events, _subscriber) = answer(&server).await;
    let pid = device.child.id();
    let signalled = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let left = wait_event(&mut events, Duration::from_secs(3), |e| {
        matches!(e, ClientEvent::PeerLeave { user_id, .. } if user_id == DEVICE).then_some(())
    })
    .await;
    assert!(left.is_some(), "no peer-leave\n{}", device.log());
    let mut device = device;
    let exit = loop {
        if let Some(exit) = device.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(2),
            "still running 2 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "exit status {exit}\n{}", device.log());
    client.close().await;
    server.stop();
}
