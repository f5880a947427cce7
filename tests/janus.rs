//! Issue 10: `roombell run` with `backend = "janus"` in a real Janus 1.x VideoRoom.
//!
//! Janus cannot do ICE on loopback, so the test makes a network namespace with a veth pair,
//! runs Janus inside it (10.77.N.2) and the device, the Rust answerer and Chromium outside
//! (10.77.N.1). Cases, in one run against one Janus:
//! 1. the device publishes; a Rust subscriber (our Janus client) decodes ≥ 60 frames and
//!    hears the device's 440 Hz tone;
//! 2. Chromium publishes a 1 kHz tone (Janus API spoken from the page); the device plays it
//!    into its WAV speaker;
//! 3. Janus is killed and started again: the device is back in the room by itself (a new
//!    subscriber decodes its frames again).
//!
//! Needs root (for `ip netns`) and `janus` (scripts/setup.sh installs it). Without them the
//! test fails under CI (env CI set) and skips loudly elsewhere.

mod common;

use common::*;
use roombell::client::{ClientEvent, Subscriber};
use roombell::janus::{Auth, JanusConnection, JanusRoom, JanusRoomConfig};
use roombell::rtc_peer::PeerOptions;
use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

type RoomEvents = tokio::sync::mpsc::UnboundedReceiver<ClientEvent>;

const ROOM: u64 = 4321;
const DEVICE: &str = "doorbell-01";
const JANUS_PORT: u16 = 8188;
/// The session timeout this Janus is configured with (short, so a client without keepalives
/// would be dropped during the test if Janus enforced it).
const SESSION_TIMEOUT_SECS: u64 = 4;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Says why the test cannot run: fatal under CI, a loud skip elsewhere.
fn cannot_run(why: &str) {
    let banner = "#".repeat(100);
    // Straight to stderr, past the test harness's capture, so a skip is seen.
    let _ = writeln!(
        std::io::stderr().lock(),
        "{banner}\n# JANUS TEST NOT RUN: {why}\n{banner}"
    );
    if std::env::var_os("CI").is_some() {
        panic!("the Janus test must run in CI: {why}");
    }
}

fn run(command: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(command)
        .args(args)
        .output()
        .map_err(|e| format!("{command}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A network namespace with a veth pair into it; everything is deleted on drop.
struct Netns {
    name: String,
    host_if: String,
    ns_if: String,
    host_ip: IpAddr,
    ns_ip: IpAddr,
}

impl Netns {
    fn create() -> Result<Netns, String> {
        let pid = std::process::id();
        // Per-process names and subnet, so runs on one machine do not collide.
        let tag = pid % 100_000;
        let subnet = 10 + pid % 200;
        let netns = Netns {
            name: format!("roombell-janus-{tag}"),
            host_if: format!("rbj{tag}h"),
            ns_if: format!("rbj{tag}n"),
            host_ip: IpAddr::from([10, 77, subnet as u8, 1]),
            ns_ip: IpAddr::from([10, 77, subnet as u8, 2]),
        };
        // Constructed first, so a failure half way is still cleaned up by Drop.
        let host_cidr = format!("{}/24", netns.host_ip);
        let ns_cidr = format!("{}/24", netns.ns_ip);
        run("ip", &["netns", "add", &netns.name])?;
        run(
            "ip",
            &[
                "link",
                "add",
                &netns.host_if,
                "type",
                "veth",
                "peer",
                "name",
                &netns.ns_if,
            ],
        )?;
        run("ip", &["link", "set", &netns.ns_if, "netns", &netns.name])?;
        run("ip", &["addr", "add", &host_cidr, "dev", &netns.host_if])?;
        run("ip", &["link", "set", &netns.host_if, "up"])?;
        run(
            "ip",
            &[
                "-n",
                &netns.name,
                "addr",
                "add",
                &ns_cidr,
                "dev",
                &netns.ns_if,
            ],
        )?;
        run(
            "ip",
            &["-n", &netns.name, "link", "set", &netns.ns_if, "up"],
        )?;
        run("ip", &["-n", &netns.name, "link", "set", "lo", "up"])?;
        Ok(netns)
    }

    fn janus_url(&self) -> String {
        format!("ws://{}:{JANUS_PORT}", self.ns_ip)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes its veth end, which deletes the pair.
        let _ = run("ip", &["netns", "del", &self.name]);
        let _ = run("ip", &["link", "del", &self.host_if]);
    }
}

/// Where Debian put Janus's plugins (the path has the multiarch triplet in it).
fn janus_lib_dir() -> Option<PathBuf> {
    let lib = Path::new("/usr/lib");
    let mut dirs = vec![lib.join("janus")];
    if let Ok(entries) = std::fs::read_dir(lib) {
        dirs.extend(entries.flatten().map(|e| e.path().join("janus")));
    }
    dirs.into_iter()
        .find(|d| d.join("plugins/libjanus_videoroom.so").exists())
}

/// Janus's configuration, trimmed to the VideoRoom and WebSocket transport, the room of this
/// door declared in it (so it exists again after a restart).
fn write_janus_config(dir: &Path, lib: &Path, netns: &Netns) {
    let lib = lib.display();
    let disabled_plugins = [
        "audiobridge",
        "duktape",
        "echotest",
        "lua",
        "nosip",
        "recordplay",
        "sip",
        "streaming",
        "textroom",
        "videocall",
        "voicemail",
    ]
    .map(|p| format!("libjanus_{p}.so"))
    .join(",");
    let files = [
        (
            "janus.jcfg",
            format!(
                r#"general: {{
	configs_folder = "{dir}"
	plugins_folder = "{lib}/plugins"
	transports_folder = "{lib}/transports"
	events_folder = "{lib}/events"
	loggers_folder = "{lib}/loggers"
	debug_level = 4
	session_timeout = {SESSION_TIMEOUT_SECS}
}}
media: {{ rtp_port_range = "20000-20999" }}
nat: {{
	ignore_mdns = true
	ice_enforce_list = "{ns_if}"
}}
plugins: {{ disable = "{disabled_plugins}" }}
transports: {{ disable = "libjanus_http.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so" }}
loggers: {{ disable = "libjanus_jsonlog.so" }}
events: {{ }}
"#,
                dir = dir.display(),
                ns_if = netns.ns_if,
            ),
        ),
        (
            "janus.transport.websockets.jcfg",
            format!(
                r#"general: {{ json = "plain" ws = true ws_port = {JANUS_PORT} ws_ip = "{ip}" wss = false }}
admin: {{ admin_ws = false admin_wss = false }}
"#,
                ip = netns.ns_ip
            ),
        ),
        (
            "janus.plugin.videoroom.jcfg",
            format!(
                r#"general: {{ }}
room-{ROOM}: {{
	description = "Front door"
	publishers = 6
	audiocodec = "opus"
	videocodec = "h264"
	h264_profile = "42e01f"
	notify_joining = true
}}
"#
            ),
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write the Janus config");
    }
}

/// Janus running in the namespace; killed on drop.
struct Janus {
    child: Child,
    log: PathBuf,
}

impl Janus {
    fn start(netns: &Netns, config_dir: &Path, run: u32) -> Janus {
        let log = config_dir.join(format!("janus-{run}.log"));
        let log_file = std::fs::File::create(&log).expect("Janus log file");
        let child = Command::new("ip")
            .args(["netns", "exec", &netns.name, "janus", "-C"])
            .arg(config_dir.join("janus.jcfg"))
            .arg("-F")
            .arg(config_dir)
            .arg("-o")
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .spawn()
            .expect("start janus");
        Janus { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Janus {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits (bounded) until Janus answers on its WebSocket.
async fn wait_for_janus(url: &str, janus: &Janus) {
    // Janus is on the test's veth address, not loopback: plain ws:// must be allowed.
    let security = roombell::client::SignalingSecurity {
        allow_insecure_ws: true,
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(connection) = JanusConnection::connect(url, Auth::default(), &security).await {
            connection.close().await;
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Janus did not answer on {url} within 15 s\n{}",
            janus.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct DeviceProcess {
    child: Child,
    log: PathBuf,
}

impl DeviceProcess {
    fn start(dir: &Path, netns: &Netns) -> DeviceProcess {
        let config = dir.join("roombell.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[device]
backend = "janus"
user_id = "{DEVICE}"
media_ip = "{host_ip}"
state_dir = "{state}"
max_retry_ms = 1000
# Janus listens on the test's veth address, not loopback: plain ws:// must be allowed.
allow_insecure_ws = true

[device.janus]
url = "{url}"
room = {ROOM}

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
                host_ip = netns.host_ip,
                url = netns.janus_url(),
                state = dir.join("state").display(),
                speaker = dir.join("speaker.wav").display(),
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

/// Joins the room as "phone" and subscribes to the doorbell once it publishes.
async fn answer(netns: &Netns) -> Result<(JanusRoom, RoomEvents, Subscriber), String> {
    let config = JanusRoomConfig {
        url: netns.janus_url(),
        room: ROOM,
        pin: None,
        auth: Auth::default(),
        user_id: "phone".into(),
        peer: PeerOptions {
            bind_ip: netns.host_ip,
            certificate: None,
        },
        // Janus is on the test's veth address, not loopback.
        security: roombell::client::SignalingSecurity {
            allow_insecure_ws: true,
            ..Default::default()
        },
    };
    let (room, mut events) = JanusRoom::join(config)
        .await
        .map_err(|e| format!("the answerer cannot join: {e}"))?;
    let published = wait_event(&mut events, Duration::from_secs(30), |e| {
        matches!(e, ClientEvent::StreamAdded(s) if s.user_id == DEVICE && s.video).then_some(())
    })
    .await;
    if published.is_none() {
        room.close().await;
        return Err("the doorbell's stream-added never came".into());
    }
    match room.subscribe(DEVICE, true, true).await {
        Ok(subscriber) => Ok((room, events, subscriber)),
        Err(e) => {
            room.close().await;
            Err(format!("the answerer cannot subscribe: {e}"))
        }
    }
}

/// The frequency of the newest 200 ms of the device's speaker, if it holds that much.
fn speaker_tail_hz(speaker: &Path) -> Option<f32> {
    let samples = wav_samples(speaker);
    (samples.len() > 9_600).then(|| zero_crossing_frequency(&samples[samples.len() - 9_600..]))
}

fn write_tone_wav(path: &Path, hz: f32, seconds: u32) {
    let rate = 48_000u32;
    let file = std::fs::File::create(path).expect("create the WAV");
    let mut writer = roombell::media::wav::WavWriter::new(std::io::BufWriter::new(file), rate, 1)
        .expect("WAV writer");
    let samples: Vec<i16> = (0..rate * seconds)
        .map(|n| {
            let phase = 2.0 * std::f64::consts::PI * f64::from(hz) * f64::from(n) / f64::from(rate);
            (phase.sin() * 16_000.0) as i16
        })
        .collect();
    writer.write_samples(&samples).expect("write the WAV");
    writer.finish().expect("finish the WAV");
}

/// `node tests/janus/publish_tone.mjs`: Chromium publishing into the Janus room.
struct ChromiumPublisher {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: std_mpsc::Receiver<String>,
    log: PathBuf,
}

impl ChromiumPublisher {
    fn start(dir: &Path, netns: &Netns, tone: &Path) -> Result<ChromiumPublisher, String> {
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        if !Path::new(&chromium).exists() {
            return Err(format!("{chromium} is missing: run scripts/setup.sh"));
        }
        if !repo()
            .join("tests/web/node_modules/playwright-core/package.json")
            .exists()
        {
            return Err("tests/web/node_modules is missing: run scripts/setup.sh".into());
        }
        let config = serde_json::json!({
            "janusUrl": netns.janus_url(),
            "room": ROOM,
            "userId": "visitor",
            "fakeAudioFile": tone,
            "timeoutMs": 90_000,
        });
        let log = dir.join("chromium.log");
        let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let mut child = Command::new(std::env::var("NODE").unwrap_or_else(|_| "node".into()))
            .arg(repo().join("tests/janus/publish_tone.mjs"))
            .env("ROOMBELL_WEB_TEST", config.to_string())
            .env("CHROMIUM", chromium)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start node: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = std_mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(ChromiumPublisher {
            stdin: child.stdin.take(),
            child,
            lines,
            log,
        })
    }

    /// Waits (bounded) for a stdout line starting with `word`.
    fn wait_for(&self, word: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(word) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Tells the script to stop and returns its RESULT line.
    fn finish(mut self) -> Option<String> {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "done");
        }
        self.wait_for("RESULT", Duration::from_secs(15))
    }
}

impl Drop for ChromiumPublisher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doorbell_lives_in_a_janus_videoroom() {
    let Some(lib) = janus_lib_dir() else {
        return cannot_run(
            "Janus is not installed (scripts/setup.sh installs the `janus` package)",
        );
    };
    let netns = match Netns::create() {
        Ok(netns) => netns,
        Err(e) => {
            return cannot_run(&format!(
                "cannot make the network namespace Janus needs (run as root): {e}"
            ))
        }
    };
    let dir = tempfile::tempdir().expect("temp dir");
    write_janus_config(dir.path(), &lib, &netns);
    let mut janus = Janus::start(&netns, dir.path(), 1);
    wait_for_janus(&netns.janus_url(), &janus).await;
    let device = DeviceProcess::start(dir.path(), &netns);

    // 1. The answerer sees and hears the doorbell through Janus.
    let device_started = Instant::now();
    let (room, _events, mut subscriber) = answer(&netns)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", device.log(), janus.log()));
    let (frames, pcm) = receive(&mut subscriber, 60, 1000).await;
    assert!(
        frames >= 60,
        "decoded {frames} frames\n{}\n{}",
        device.log(),
        janus.log()
    );
    let hz = zero_crossing_frequency(&pcm[pcm.len().saturating_sub(24_000)..]);
    assert!(
        (hz - 440.0).abs() < 440.0 * 0.02,
        "doorbell tone at {hz} Hz ({} samples)",
        pcm.len()
    );
    eprintln!("janus: the answerer decoded {frames} frames and heard {hz:.1} Hz from the doorbell");
    room.close().await;

    // 2. Chromium publishes a 1 kHz tone into the room; the doorbell plays it.
    let speaker = dir.path().join("speaker.wav");
    let before = speaker_tail_hz(&speaker);
    assert!(
        before.is_none_or(|hz| (hz - 1000.0).abs() > 20.0),
        "the speaker held 1 kHz before anyone talked"
    );
    let tone = dir.path().join("tone-1khz.wav");
    write_tone_wav(&tone, 1000.0, 2);
    let chromium = ChromiumPublisher::start(dir.path(), &netns, &tone)
        .unwrap_or_else(|e| panic!("Chromium cannot run: {e}"));
    let published = chromium.wait_for("PUBLISHED", Duration::from_secs(60));
    assert!(
        published.is_some(),
        "Chromium never published into Janus\n{}\n{}",
        chromium.log(),
        janus.log()
    );
    let started = Instant::now();
    let mut heard = None;
    let mut last = None;
    while started.elapsed() < Duration::from_secs(10) && heard.is_none() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        last = speaker_tail_hz(&speaker);
        if last.is_some_and(|hz| (hz - 1000.0).abs() < 20.0) {
            heard = Some(started.elapsed());
        }
    }
    let Some(heard) = heard else {
        panic!(
            "the doorbell never played Chromium's 1 kHz (last 200 ms at {last:?} Hz)\n{}\n{}",
            device.log(),
            chromium.log()
        );
    };
    eprintln!(
        "janus: Chromium's 1 kHz in the doorbell's speaker {} ms after it published",
        heard.as_millis()
    );
    let result = chromium.finish();
    assert!(
        result.as_deref().is_some_and(|r| r.contains("\"ok\":true")),
        "the Chromium script failed: {result:?}"
    );
    let log = device.log();
    assert!(
        log.contains("stream-added") && log.contains("visitor"),
        "the device never logged Chromium's stream-added\n{log}"
    );

    // No spurious reconnects: the device has stayed in its first session all along, longer than
    // two of the short session timeouts this Janus is given. (Janus 1.1.2 was not seen to time
    // out WebSocket sessions here, so the keepalives themselves are checked against a scripted
    // server in `keepalives_follow_the_servers_session_timeout`.)
    let stay = Duration::from_secs(2 * SESSION_TIMEOUT_SECS + 1);
    if let Some(left) = stay.checked_sub(device_started.elapsed()) {
        tokio::time::sleep(left).await;
    }
    let joins_before = device.log().matches("joined the Janus room").count();
    assert_eq!(
        joins_before,
        1,
        "the device joined {joins_before} times in {} s (session timeout {SESSION_TIMEOUT_SECS} s)\n{}",
        device_started.elapsed().as_secs(),
        device.log()
    );

    // 3. Janus dies and comes back: the doorbell rejoins by itself.
    janus.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut janus = Janus::start(&netns, dir.path(), 2);
    wait_for_janus(&netns.janus_url(), &janus).await;
    let back = Instant::now();
    let (room, mut events, mut subscriber) = answer(&netns)
        .await
        .unwrap_or_else(|e| panic!("after the restart: {e}\n{}\n{}", device.log(), janus.log()));
    let (frames, _) = receive(&mut subscriber, 10, 0).await;
    assert!(
        frames >= 10,
        "after the restart: {frames} frames\n{}",
        device.log()
    );
    let joins_after = device.log().matches("joined the Janus room").count();
    assert!(
        joins_after > joins_before,
        "the device did not join again ({joins_before} → {joins_after})"
    );
    eprintln!(
        "janus: after the restart the answerer decoded frames again {} ms after Janus answered",
        back.elapsed().as_millis()
    );

    // SIGTERM: the device leaves (the answerer sees peer-leave at once) and exits 0.
    let mut device = device;
    let signalled = Instant::now();
    let pid = device.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .is_ok_and(|s| s.success()));
    let left = wait_event(&mut events, Duration::from_secs(3), |e| {
        matches!(e, ClientEvent::PeerLeave { user_id, .. } if user_id == DEVICE).then_some(())
    })
    .await;
    assert!(
        left.is_some(),
        "no peer-leave from the doorbell\n{}",
        device.log()
    );
    let exit = loop {
        if let Some(exit) = device.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(3),
            "still running 3 s after SIGTERM\n{}",
            device.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "exit status {exit}\n{}", device.log());
    eprintln!(
        "janus: peer-leave and exit {} ms after SIGTERM",
        signalled.elapsed().as_millis()
    );
    room.close().await;
    janus.kill();
    drop(netns);
}

/// Our keepalives against a scripted Janus on 127.0.0.1 (real Janus 1.1.2 was not seen to
/// enforce its session timeout on WebSocket sessions): they follow the `session-timeout` the
/// server announces, and a keepalive left unanswered closes the connection, which is what
/// makes the device reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalives_follow_the_servers_session_timeout() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    const ANSWERED: usize = 2;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let url = format!("ws://{}", listener.local_addr().expect("address"));
    let (keepalive_tx, mut keepalives) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut socket = tokio_tungstenite::accept_hdr_async(stream, offer_janus_subprotocol)
            .await
            .expect("WebSocket handshake");
        let mut seen = 0usize;
        while let Some(Ok(Message::Text(text))) = socket.next().await {
            let request: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            let transaction = request["transaction"].clone();
            let reply = match request["janus"].as_str() {
                Some("info") => serde_json::json!({"janus": "server_info",
                    "transaction": transaction, "session-timeout": 3}),
                Some("create") => serde_json::json!({"janus": "success",
                    "transaction": transaction, "data": {"id": 77}}),
                Some("keepalive") => {
                    seen += 1;
                    let _ = keepalive_tx.send(Instant::now());
                    if seen > ANSWERED {
                        continue; // a server that forgot us: silence
                    }
                    serde_json::json!({"janus": "ack", "transaction": transaction,
                        "session_id": 77})
                }
                _ => continue,
            };
            if socket.send(Message::Text(reply.to_string())).await.is_err() {
                break;
            }
        }
    });
    let connection = JanusConnection::connect(&url, Auth::default(), &Default::default())
        .await
        .expect("connects to the scripted Janus");
    assert_eq!(connection.session(), 77);
    let mut closed = connection.closed();
    // session-timeout 3 s → a keepalive every second; Janus's default of 60 s would give 20 s.
    let started = Instant::now();
    for n in 1..=ANSWERED + 1 {
        let got = tokio::time::timeout(Duration::from_secs(6), keepalives.recv()).await;
        assert!(
            matches!(got, Ok(Some(_))),
            "keepalive {n} did not come within 6 s"
        );
    }
    let three = started.elapsed();
    assert!(
        three < Duration::from_secs(10),
        "three keepalives took {} ms: they do not follow the 3 s session timeout",
        three.as_millis()
    );
    // The third went unanswered: the connection says it is closed.
    // (The watch's borrow is dropped at once: holding it would block the close below.)
    let gone = tokio::time::timeout(Duration::from_secs(10), closed.wait_for(|c| *c))
        .await
        .map(|seen| seen.is_ok());
    assert!(
        matches!(gone, Ok(true)),
        "an unanswered keepalive did not close the connection"
    );
    connection.close().await;
    server.abort();
}

/// The scripted server's handshake: answers with Janus's subprotocol, as Janus does. (The
/// error type is tungstenite's, large or not.)
#[allow(clippy::result_large_err)]
fn offer_janus_subprotocol(
    _request: &tokio_tungstenite::tungstenite::handshake::server::Request,
    mut response: tokio_tungstenite::tungstenite::handshake::server::Response,
) -> Result<
    tokio_tungstenite::tungstenite::handshake::server::Response,
    tokio_tungstenite::tungstenite::handshake::server::ErrorResponse,
> {
    response.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        roombell::janus::connection::SUBPROTOCOL
            .parse()
            .expect("a header value"),
    );
    Ok(response)
}
