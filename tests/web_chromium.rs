//! The web client (`web/`: the TRTC v4 browser SDK and the answer page) end to end in Debian's
//! Chromium, driven by the playwright-core scripts in `tests/web/` against a real room server:
//! the TRTC quick-start flow, H.264 + Opus both ways between Chromium and the Rust client, the
//! API's validation and events, and the answer page with a Rust doorbell.
//!
//! Each test starts a room server serving `web/`, runs `node tests/web/<script>.mjs` with its
//! configuration in `ROOMBELL_WEB_TEST` (JSON), and reads the script's `RESULT {json}` line.
//! Chromium, node and `tests/web/node_modules` come from `scripts/setup.sh`; a missing one fails
//! the test. The tests take turns: two Chromiums and an H.264 encoder at once are too much for
//! a two-core machine.

mod common;

use bytes::Bytes;
use common::*;
use roombell::client::depacketize::H264Assembler;
use roombell::client::media::MediaKind;
use roombell::client::{Client, ClientEvent, Publisher, Subscriber};
use roombell::config::RoomConfig;
use roombell::protocol::{extra, Role, RoomId};
use roombell::room::RoomServerThread;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// The Rust side's bound on one script; each script also has its own, shorter deadline.
const SCRIPT_LIMIT: Duration = Duration::from_secs(90);

/// Chromium tests run one at a time (see the module doc).
static ONE_BROWSER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chromium_path() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Fails (not skips) when the browser tooling is missing, saying how to get it.
fn require_browser_tooling() {
    let chromium = chromium_path();
    assert!(
        chromium.exists(),
        "{} is missing: run scripts/setup.sh (it installs Debian's chromium)",
        chromium.display()
    );
    let playwright = repo().join("tests/web/node_modules/playwright-core/package.json");
    assert!(
        playwright.exists(),
        "{} is missing: run scripts/setup.sh (it runs `npm ci --prefix tests/web`)",
        playwright.display()
    );
    let node = std::process::Command::new(node_binary())
        .arg("--version")
        .output();
    assert!(
        matches!(&node, Ok(out) if out.status.success()),
        "node is not runnable ({node:?}): install Node.js 18 or newer, then run scripts/setup.sh"
    );
}

fn node_binary() -> String {
    std::env::var("NODE").unwrap_or_else(|_| "node".into())
}

/// A room server that also serves the repository's `web/`.
fn start_web_room() -> RoomServerThread {
    RoomServerThread::spawn(RoomConfig {
        web_root: Some(repo().join("web")),
        ..room_config()
    })
    .expect("room server starts")
}

fn base_url(server: &RoomServerThread) -> String {
    format!("http://{}/", server.addr)
}

fn user(user_id: &str) -> Value {
    json!({
        "userId": user_id,
        "userSig": roombell::usersig::gen_user_sig(SDK_APP_ID, SECRET_KEY, user_id, 3600, unix_now()),
    })
}

/// Where screenshots are kept for a person to look at.
fn artifact_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-artifacts");
    std::fs::create_dir_all(&dir).expect("artifact directory");
    dir
}

/// A 16-bit mono 48 kHz WAV of a sine: Chromium's fake microphone plays it in a loop.
fn write_tone_wav(path: &Path, hz: u32, seconds: u32) {
    let rate = 48_000u32;
    let samples = rate * seconds;
    let mut data = Vec::with_capacity(44 + samples as usize * 2);
    data.extend_from_slice(b"RIFF");
    data.extend_from_slice(&(36 + samples * 2).to_le_bytes());
    data.extend_from_slice(b"WAVEfmt ");
    data.extend_from_slice(&16u32.to_le_bytes());
    data.extend_from_slice(&1u16.to_le_bytes()); // PCM
    data.extend_from_slice(&1u16.to_le_bytes()); // mono
    data.extend_from_slice(&rate.to_le_bytes());
    data.extend_from_slice(&(rate * 2).to_le_bytes());
    data.extend_from_slice(&2u16.to_le_bytes());
    data.extend_from_slice(&16u16.to_le_bytes());
    data.extend_from_slice(b"data");
    data.extend_from_slice(&(samples * 2).to_le_bytes());
    for n in 0..samples {
        let phase = 2.0 * std::f64::consts::PI * f64::from(hz) * f64::from(n) / f64::from(rate);
        data.extend_from_slice(&((phase.sin() * 16_000.0) as i16).to_le_bytes());
    }
    std::fs::write(path, data).expect("write the WAV");
}

/// A running `node tests/web/<script>`: its stdout lines, its stdin, its log.
struct NodeScript {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    log: Arc<Mutex<Vec<String>>>,
    result: Option<Value>,
    started: Instant,
    /// The script's TMPDIR (Chromium's profile lives there): removed even if the script is killed.
    _scratch: tempfile::TempDir,
}

/// How a script ended.
struct ScriptOutcome {
    name: String,
    exited_ok: bool,
    result: Option<Value>,
    log: String,
}

impl ScriptOutcome {
    /// The result, or a panic that shows the script's log and what it reported.
    fn expect_ok(self) -> Value {
        eprintln!("── {} log ──\n{}", self.name, self.log);
        match self.result {
            Some(result) if self.exited_ok && result["ok"] == json!(true) => result,
            result => panic!(
                "{} failed (exit ok: {}); result: {}\n{}",
                self.name,
                self.exited_ok,
                result
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "none".into()),
                self.log
            ),
        }
    }
}

impl NodeScript {
    fn spawn(script: &str, config: &Value) -> NodeScript {
        let dir = repo().join("tests/web");
        let scratch = tempfile::tempdir().expect("scratch directory");
        let mut child = Command::new(node_binary())
            .arg(dir.join(script))
            .current_dir(&dir)
            .env("ROOMBELL_WEB_TEST", config.to_string())
            .env("TMPDIR", scratch.path())
            .env("CHROMIUM", chromium_path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node {script}: {e}"));
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("stdout piped");
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let _ = tx.send(line);
            }
        });
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr piped");
        let sink = log.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        NodeScript {
            name: script.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
            log,
            result: None,
            started: Instant::now(),
            _scratch: scratch,
        }
    }

    fn take_line(&mut self, line: String) -> Option<String> {
        if let Some(json) = line.strip_prefix("RESULT ") {
            self.result = serde_json::from_str(json).ok();
            return None;
        }
        Some(line)
    }

    /// Waits for a stdout line starting with `marker` (the script's READY-style signals).
    async fn wait_for(&mut self, marker: &str, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    if let Some(line) = self.take_line(line) {
                        if line.starts_with(marker) {
                            return true;
                        }
                    }
                }
                _ => return false,
            }
        }
    }

    /// Writes one line to the script's stdin.
    async fn tell(&mut self, word: &str) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(format!("{word}\n").as_bytes()).await;
            let _ = stdin.flush().await;
        }
    }

    /// Waits (bounded) for the script to exit and collects its result and log.
    async fn finish(mut self) -> ScriptOutcome {
        let limit = SCRIPT_LIMIT.saturating_sub(self.started.elapsed());
        let exited_ok = match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(Ok(status)) => status.success(),
            _ => {
                let _ = self.child.start_kill();
                let _ = self.child.wait().await;
                self.log
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!("killed after {} s", SCRIPT_LIMIT.as_secs()));
                false
            }
        };
        drop(self.stdin.take());
        while let Ok(Some(line)) =
            tokio::time::timeout(Duration::from_secs(2), self.lines.recv()).await
        {
            self.take_line(line);
        }
        // Let the stderr reader drain.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let log = self
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n");
        ScriptOutcome {
            name: self.name,
            exited_ok,
            result: self.result,
            log,
        }
    }
}

/// What a Rust doorbell sends: 640x480 H.264 at 30 fps (from the IDR again on every keyframe
/// request) and a 440 Hz Opus tone, until `stop`.
fn publish_test_media(
    publisher: Publisher,
    frames: Vec<Bytes>,
    audio: Vec<Bytes>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Publisher> {
    let mut publisher = publisher;
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        let mut next_frame = 0usize;
        let mut tick = 0usize;
        while !stop.load(Ordering::Relaxed) {
            ticker.tick().await;
            let _ = publisher
                .write_audio(audio[tick % audio.len()].clone(), Duration::from_millis(20))
                .await;
            let mut keyframe_wanted = false;
            while publisher.try_keyframe_request() {
                keyframe_wanted = true;
            }
            if keyframe_wanted {
                next_frame = 0;
            }
            // 20 ms ticks, a frame whenever a 33 ms slot begins: 30 fps.
            if tick == 0 || tick * 20 / 33 != (tick + 1) * 20 / 33 {
                let frame = frames[next_frame % frames.len()].clone();
                let _ = publisher
                    .write_video(frame, Duration::from_millis(33))
                    .await;
                next_frame += 1;
            }
            tick += 1;
        }
        publisher
    })
}

/// A Rust doorbell in `room`, publishing test media; stop it with the returned flag.
async fn rust_doorbell(
    server: &RoomServerThread,
    user_id: &str,
    room: u64,
) -> (
    Client,
    mpsc::UnboundedReceiver<ClientEvent>,
    Arc<AtomicBool>,
    tokio::task::JoinHandle<Publisher>,
) {
    let (client, events) = connect(server, user_id).await;
    client
        .join(RoomId::Number(room), Role::Anchor, None)
        .await
        .expect("the doorbell joins");
    let frames = tokio::task::spawn_blocking(|| encode_frames(90))
        .await
        .expect("encoding thread");
    let audio = opus_sine(440.0, 50);
    let mut publisher = client
        .publish(true, true)
        .await
        .expect("doorbell publishes");
    assert!(
        publisher.wait_connected(Duration::from_secs(10)).await,
        "the doorbell's publication connects"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let sender = publish_test_media(publisher, frames, audio, stop.clone());
    (client, events, stop, sender)
}

/// Subscribes, retrying while the publisher's media is still being set up (MEDIA_SETUP_FAILED).
async fn subscribe_when_ready(client: &Client, user_id: &str, video: bool) -> Subscriber {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match client.subscribe(user_id, true, video).await {
            Ok(subscriber) => return subscriber,
            Err(e) if e.extra_code() == extra::MEDIA_SETUP_FAILED && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("subscribe to {user_id}: {e}"),
        }
    }
}

/// What a subscription delivered, decoded: H.264 frames (with their size) and Opus PCM.
#[derive(Default)]
struct Decoded {
    frames: usize,
    size: Option<(usize, usize)>,
    pcm: Vec<i16>,
    opus_packets: usize,
    opus_errors: usize,
    /// Keyframe requests this receiver had to send before its first picture.
    keyframe_requests: usize,
}

async fn decode_subscription(
    subscriber: &mut Subscriber,
    want_frames: usize,
    want_samples: usize,
    timeout: Duration,
) -> Decoded {
    use openh264::formats::YUVSource;
    let mut assembler = H264Assembler::default();
    let mut decoder = openh264::decoder::Decoder::new().expect("openh264 decoder");
    let mut opus = opus::Decoder::new(48_000, opus::Channels::Mono).expect("opus decoder");
    let mut out = Decoded::default();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut first_video: Option<Instant> = None;
    let mut last_request: Option<Instant> = None;
    while out.frames < want_frames || out.pcm.len() < want_samples {
        let Ok(Some(media)) = tokio::time::timeout_at(deadline, subscriber.next_media()).await
        else {
            break;
        };
        match media.kind {
            MediaKind::Video => {
                // The SFU asks the publisher for a keyframe when the subscription is answered,
                // before this connection is up, so that IDR can be lost: without a picture
                // after 300 ms, ask again (as a browser's decoder does), every 500 ms.
                let since_first = first_video.get_or_insert_with(Instant::now).elapsed();
                let quiet = last_request.is_none_or(|at| at.elapsed() > Duration::from_millis(500));
                if out.frames == 0 && since_first > Duration::from_millis(300) && quiet {
                    last_request = Some(Instant::now());
                    if subscriber.request_keyframe().await.is_ok() {
                        out.keyframe_requests += 1;
                    }
                }
                for frame in assembler.push(media.packet) {
                    if let Ok(Some(picture)) = decoder.decode(&frame) {
                        out.size = Some(picture.dimensions());
                        out.frames += 1;
                    }
                }
            }
            MediaKind::Audio => {
                let mut pcm = vec![0i16; 960 * 6];
                match opus.decode(&media.packet.payload, &mut pcm, false) {
                    Ok(n) => {
                        out.opus_packets += 1;
                        out.pcm.extend_from_slice(&pcm[..n]);
                    }
                    Err(_) => out.opus_errors += 1,
                }
            }
        }
    }
    out
}

/// The peak absolute sample, a cheap "is there sound" measure.
fn peak(samples: &[i16]) -> i32 {
    samples
        .iter()
        .map(|s| i32::from(*s).abs())
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_start_flow_between_two_browser_clients() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    require_browser_tooling();
    let server = start_web_room();
    let config = json!({
        "baseUrl": base_url(&server),
        "sdkAppId": SDK_APP_ID,
        "roomId": 5001,
        "users": {"door": user("door"), "phone": user("phone")},
    });
    let result = NodeScript::spawn("quickstart.mjs", &config)
        .finish()
        .await
        .expect_ok();
    let frames = result["video"]["framesDecoded"].as_u64().unwrap_or(0);
    assert!(frames > 30, "remote video decoded {frames} frames");
    let level = result["audio"]["maxLevel"].as_f64().unwrap_or(0.0);
    assert!(level > 0.0, "remote audio level {level}");
    let events: Vec<String> = result["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e[0].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    for wanted in [
        "stream-added",
        "stream-subscribed",
        "play",
        "peer-leave:door",
    ] {
        assert!(
            events.iter().any(|e| e == wanted),
            "no {wanted} in {events:?}"
        );
    }
    println!(
        "quick start: {frames} frames decoded ({}x{}), audio level {level:.2}, events {}, {} ms in all",
        result["video"]["frameWidth"],
        result["video"]["frameHeight"],
        result["events"],
        result["elapsedMs"]
    );
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_decodes_the_rust_clients_h264_and_hears_its_opus_tone() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    require_browser_tooling();
    let server = start_web_room();
    let room = 5002;
    let (door, _door_events, stop, sender) = rust_doorbell(&server, "door", room).await;
    let config = json!({
        "baseUrl": base_url(&server),
        "sdkAppId": SDK_APP_ID,
        "roomId": room,
        "users": {"viewer": user("viewer")},
        "publisher": "door",
        "minFrames": 60,
        "width": 640,
        "height": 480,
        "toneHz": 440,
    });
    let outcome = NodeScript::spawn("subscribe.mjs", &config).finish().await;
    stop.store(true, Ordering::Relaxed);
    let _ = sender.await;
    let result = outcome.expect_ok();
    let frames = result["video"]["framesDecoded"].as_u64().unwrap_or(0);
    assert!(frames >= 60, "Chromium decoded {frames} frames");
    assert_eq!(result["video"]["frameWidth"], 640);
    assert_eq!(result["video"]["frameHeight"], 480);
    let hz = result["tone"]["hz"].as_f64().unwrap_or(0.0);
    assert!((hz - 440.0).abs() <= 440.0 * 0.03, "Chromium heard {hz} Hz");
    println!(
        "Rust → Chromium: {frames} frames 640x480 decoded, first frame {} ms after the page started, tone {hz:.0} Hz ({:.1} dB), {} ms in all",
        result["firstFrameMs"], result["tone"]["peakDb"].as_f64().unwrap_or(0.0), result["elapsedMs"]
    );
    door.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_decodes_chromiums_camera_and_1khz_microphone() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    require_browser_tooling();
    let server = start_web_room();
    let room = 5003;
    let dir = tempfile::tempdir().expect("temp dir");
    let wav = dir.path().join("tone-1khz.wav");
    write_tone_wav(&wav, 1000, 1);
    let (listener, _events) = connect(&server, "door").await;
    listener
        .join(RoomId::Number(room), Role::Anchor, None)
        .await
        .expect("the Rust client joins");
    let config = json!({
        "baseUrl": base_url(&server),
        "sdkAppId": SDK_APP_ID,
        "roomId": room,
        "users": {"browser": user("browser")},
        "fakeAudioFile": wav,
        "rawAudio": true,
    });
    let mut script = NodeScript::spawn("publish.mjs", &config);
    let published = script.wait_for("PUBLISHED", Duration::from_secs(40)).await;
    let decoded = if published {
        let started = Instant::now();
        let mut subscriber = subscribe_when_ready(&listener, "browser", true).await;
        let decoded =
            decode_subscription(&mut subscriber, 30, 48_000, Duration::from_secs(15)).await;
        println!(
            "Chromium → Rust: {} H.264 frames {:?} and {} Opus packets in {} ms ({} keyframe requests)",
            decoded.frames,
            decoded.size,
            decoded.opus_packets,
            started.elapsed().as_millis(),
            decoded.keyframe_requests
        );
        Some(decoded)
    } else {
        None
    };
    script.tell("done").await;
    let result = script.finish().await.expect_ok();
    let decoded = decoded.expect("the page never published");
    assert!(
        decoded.frames >= 30,
        "decoded only {} frames",
        decoded.frames
    );
    // 640x480 from the camera; Chromium's encoder may scale it down (by 3/4 steps) when the
    // CPU is busy, as it is on two cores with a test and a browser running.
    let (width, height) = decoded.size.unwrap_or((0, 0));
    assert!(
        (160..=640).contains(&width) && width * 3 == height * 4,
        "frame size {width}x{height}"
    );
    assert_eq!(decoded.opus_errors, 0, "Opus packets that did not decode");
    assert!(
        decoded.pcm.len() >= 48_000,
        "only {} samples",
        decoded.pcm.len()
    );
    // Skip the start (the encoder ramps up), then measure the tone.
    let hz = zero_crossing_frequency(&decoded.pcm[9_600..]);
    assert!(
        (hz - 1000.0).abs() <= 30.0,
        "the browser's 1 kHz tone arrived at {hz} Hz (peak {})",
        peak(&decoded.pcm)
    );
    println!(
        "Chromium → Rust: tone {hz:.1} Hz, peak {}; the page sent {}",
        peak(&decoded.pcm),
        result["video"]
    );
    listener.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trtc_api_validates_reports_errors_and_events_like_trtc() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    require_browser_tooling();
    let server = start_web_room();
    let forged =
        roombell::usersig::gen_user_sig(SDK_APP_ID, "guessed-key", "mallory", 3600, unix_now());
    let config = json!({
        "baseUrl": base_url(&server),
        "sdkAppId": SDK_APP_ID,
        "roomId": 5004,
        "forgedExtraCode": extra::BAD_USER_SIG,
        "users": {
            "a": user("alice"),
            "b": user("bob"),
            "c": user("carol"),
            "forged": {"userId": "mallory", "userSig": forged},
        },
    });
    let outcome = NodeScript::spawn("api.mjs", &config).finish().await;
    let checks = outcome
        .result
        .as_ref()
        .and_then(|r| r["checks"].as_array().cloned())
        .unwrap_or_default();
    let names: Vec<&str> = checks.iter().filter_map(|c| c["name"].as_str()).collect();
    for wanted in [
        "trtc-object-shape",
        "check-system-requirements",
        "create-client-validation",
        "create-stream-validation",
        "join-room-id-validation",
        "forged-usersig-join-room-failed",
        "concurrency-guard-join",
        "concurrency-guard-publish",
        "stream-added-then-subscribe-options",
        "mute-events",
        "initialize-device-not-found",
        "switch-device-while-published",
        "network-quality",
        "reconnect-after-socket-drop",
        "subscribe-to-a-gone-stream",
        "leave-peer-leave",
        "client-banned-on-kick",
    ] {
        assert!(
            names.contains(&wanted),
            "check {wanted} did not run; ran {names:?}"
        );
    }
    let result = outcome.expect_ok();
    for check in result["checks"].as_array().into_iter().flatten() {
        println!("api: {} ({} ms)", check["name"], check["ms"]);
    }
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_page_shows_the_doorbell_and_talks_back() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    require_browser_tooling();
    let server = start_web_room();
    let room = 5005;
    let dir = tempfile::tempdir().expect("temp dir");
    let wav = dir.path().join("voice-1khz.wav");
    write_tone_wav(&wav, 1000, 1);
    let (door, mut door_events, stop, sender) = rust_doorbell(&server, "doorbell", room).await;
    let screenshot = artifact_dir().join("answer-page.png");
    let config = json!({
        "baseUrl": base_url(&server),
        "sdkAppId": SDK_APP_ID,
        "roomId": room,
        "users": {"resident": user("resident")},
        "minFrames": 60,
        "width": 640,
        "height": 480,
        "screenshot": screenshot,
        "fakeAudioFile": wav,
    });
    let mut script = NodeScript::spawn("answer.mjs", &config);
    let answered = script.wait_for("ANSWERED", Duration::from_secs(50)).await;
    let heard = if answered {
        let added = wait_event(&mut door_events, Duration::from_secs(5), |e| {
            matches!(e, ClientEvent::StreamAdded(s) if s.user_id == "resident").then_some(())
        })
        .await;
        assert!(
            added.is_some(),
            "the doorbell got no stream-added for the page"
        );
        let mut subscriber = subscribe_when_ready(&door, "resident", false).await;
        Some(decode_subscription(&mut subscriber, 0, 48_000, Duration::from_secs(10)).await)
    } else {
        None
    };
    script.tell("done").await;
    let outcome = script.finish().await;
    stop.store(true, Ordering::Relaxed);
    let _ = sender.await;
    let result = outcome.expect_ok();
    let heard = heard.expect("the page never answered");
    assert!(
        heard.opus_packets >= 50 && heard.opus_errors == 0,
        "the doorbell decoded {} Opus packets ({} errors) from the page",
        heard.opus_packets,
        heard.opus_errors
    );
    assert!(peak(&heard.pcm) > 1_000, "the page's microphone is silent");
    let hz = zero_crossing_frequency(&heard.pcm[heard.pcm.len() / 2..]);
    let left = wait_event(&mut door_events, Duration::from_secs(5), |e| {
        matches!(e, ClientEvent::PeerLeave { user_id, .. } if user_id == "resident").then_some(())
    })
    .await;
    assert!(
        left.is_some(),
        "hang up did not reach the doorbell as peer-leave"
    );
    println!(
        "answer page: visitor seen after {} ms ({} frames {}), doorbell heard {} Opus packets, tone {hz:.0} Hz, peak {}; screenshot {}",
        result["seenMs"],
        result["frames"],
        result["frameSize"],
        heard.opus_packets,
        peak(&heard.pcm),
        screenshot.display()
    );
    door.close().await;
    server.stop();
}
