//! The answerer of the fault tests (`scripts/faults.sh netns`, `tests/faults.rs`): joins the
//! room with the Rust client, subscribes to the doorbell and plays it the way a receiver
//! would, measuring what a person would notice.
//!
//! ```text
//! fault_probe watch  --url WS --sdk-app-id N --key K --room R --publisher USER --bind IP --seconds S [--talk-hz F]
//! fault_probe rejoin --url WS --sdk-app-id N --key K --room R --publisher USER --bind IP --seconds S
//! ```
//!
//! `watch` receives for S seconds and prints one JSON object: video frames rendered and the
//! freezes between them (WebRTC's definition, `tests/faults/freeze.rs`), audio as a 20 ms
//! playout clock saw it (played, rebuilt from FEC, concealed, silent) and the tone it heard.
//! Video is handled as libwebrtc does for H.264: a missing packet is waited for (NACK brings
//! it again) up to `--video-wait-ms`; a frame still incomplete then is dropped and nothing is
//! shown until the next keyframe, which the probe asks for with PLI (every 500 ms while
//! broken). Frames are shown on their RTP clock plus an adaptive playout delay
//! (`PlayoutClock`), so a repaired frame is not counted as a stall. The
//! subscription follows the doorbell: when it leaves and comes back, the probe subscribes again.
//! `--talk-hz` also publishes a sine of that frequency for the doorbell's speaker.
//!
//! `rejoin` waits (up to S seconds) for the room server to accept TCP, then measures how long
//! until the doorbell is back in the room (its stream is announced) and until its first frame
//! is decoded, and prints them as one JSON object.

#[path = "../tests/faults/freeze.rs"]
mod freeze;

use clap::{Parser, ValueEnum};
use freeze::{FreezeMeter, PlayoutClock};
use roombell::client::media::MediaKind;
use roombell::client::{Client, ClientConfig, ClientEvent, Subscriber};
use roombell::media::frame::AudioFrame;
use roombell::media::jitter::{JitterBuffer, JitterConfig, Playout};
use roombell::media::opus_codec::{OpusDecoder, OpusEncoder};
use roombell::media::tone::{dominant_frequency, ToneGenerator};
use roombell::protocol::{Mode, Role, RoomId};
use roombell::rtc_peer::PeerOptions;
use roombell::usersig;
use rtc::media::io::sample_builder::SampleBuilder;
use rtc::rtp::codec::h264::H264Packet;
use serde_json::json;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc::UnboundedReceiver;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProbeMode {
    Watch,
    Rejoin,
}

#[derive(Debug, Parser)]
struct Args {
    mode: ProbeMode,
    #[arg(long)]
    url: String,
    #[arg(long)]
    sdk_app_id: u64,
    #[arg(long)]
    key: String,
    #[arg(long)]
    room: u64,
    #[arg(long)]
    publisher: String,
    #[arg(long)]
    bind: IpAddr,
    #[arg(long)]
    seconds: u64,
    #[arg(long)]
    talk_hz: Option<f32>,
    /// How long reassembly waits for a missing packet (a NACK retransmission) before giving
    /// up on the frame. 400 ms stands for a browser, whose jitter buffer waits for
    /// retransmissions; 100 ms is what the project's own `H264Assembler` waits.
    #[arg(long, default_value_t = 400)]
    video_wait_ms: u64,
}

#[derive(Debug, thiserror::Error)]
enum ProbeError {
    #[error("{0}")]
    Client(#[from] roombell::client::ClientError),
    #[error("{0}")]
    Timeout(String),
    #[error("codec: {0}")]
    Codec(String),
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// Milliseconds on the Unix clock, so the harness can line them up with what it did.
struct Clock {
    start: Instant,
    start_unix_ms: f64,
}

impl Clock {
    fn new() -> Self {
        Clock {
            start: Instant::now(),
            start_unix_ms: unix_ms(),
        }
    }
    fn at(&self, t: Instant) -> f64 {
        self.start_unix_ms + t.duration_since(self.start).as_secs_f64() * 1000.0
    }
    fn now(&self) -> f64 {
        self.at(Instant::now())
    }
}

async fn join(args: &Args) -> Result<(Client, UnboundedReceiver<ClientEvent>), ProbeError> {
    let user_id = "fault-probe".to_owned();
    let now = (unix_ms() / 1000.0) as u64;
    let config = ClientConfig {
        url: args.url.clone(),
        sdk_app_id: args.sdk_app_id,
        user_sig: usersig::gen_user_sig(args.sdk_app_id, &args.key, &user_id, 3600, now),
        user_id,
        mode: Mode::Rtc,
        peer: PeerOptions {
            bind_ip: args.bind,
            certificate: None,
        },
    };
    // The fault tests' namespaces are their own network: plain ws:// to the server is fine.
    let security = roombell::client::SignalingSecurity {
        ca_file: None,
        allow_insecure_ws: true,
    };
    let (client, events) = Client::connect_with(config, &security).await?;
    client
        .join(RoomId::Number(args.room), Role::Anchor, None)
        .await?;
    Ok((client, events))
}

/// True when an Annex-B access unit holds an IDR slice (NAL type 5).
fn is_keyframe(access_unit: &[u8]) -> bool {
    let mut i = 0;
    while i + 3 < access_unit.len() {
        if access_unit[i] == 0 && access_unit[i + 1] == 0 && access_unit[i + 2] == 1 {
            if access_unit[i + 3] & 0x1f == 5 {
                return true;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    false
}

/// The video half of a receiver: reassembly, the "broken until keyframe" rule, decoding.
struct VideoReceiver {
    builder: SampleBuilder<H264Packet>,
    decoder: openh264::decoder::Decoder,
    /// A packet was lost since the last keyframe: frames cannot be shown.
    broken: bool,
    last_pli: Option<Instant>,
    keyframes: u64,
    decode_errors: u64,
    skipped_while_broken: u64,
    plis: u64,
}

impl VideoReceiver {
    fn new(wait: Duration) -> Result<Self, ProbeError> {
        Ok(VideoReceiver {
            // 64 packets, as the project's own H264Assembler holds.
            builder: SampleBuilder::new(64, H264Packet::default(), 90_000)
                .with_max_time_delay(wait),
            decoder: openh264::decoder::Decoder::new()
                .map_err(|e| ProbeError::Codec(e.to_string()))?,
            // Nothing can be shown before the first keyframe.
            broken: true,
            last_pli: None,
            keyframes: 0,
            decode_errors: 0,
            skipped_while_broken: 0,
            plis: 0,
        })
    }

    /// Adds one packet; returns the RTP timestamps of the frames it let us decode.
    fn push(&mut self, packet: rtc::rtp::Packet) -> Vec<u32> {
        let now = Instant::now();
        self.builder.push(now, packet);
        let mut rendered = Vec::new();
        while let Some(sample) = self.builder.pop(now) {
            if sample.prev_dropped_packets > 0 {
                self.broken = true;
            }
            if is_keyframe(&sample.data) {
                self.keyframes += 1;
                self.broken = false;
            }
            if self.broken {
                self.skipped_while_broken += 1;
                continue;
            }
            match self.decoder.decode(&sample.data) {
                Ok(Some(_picture)) => rendered.push(sample.packet_timestamp),
                Ok(None) => {}
                Err(_) => {
                    self.decode_errors += 1;
                    self.broken = true;
                }
            }
        }
        rendered
    }

    /// Whether to send a PLI now: while broken, at most every 500 ms.
    fn wants_keyframe(&mut self, now: Instant) -> bool {
        let due = self
            .last_pli
            .is_none_or(|at| now.duration_since(at) >= Duration::from_millis(500));
        if self.broken && due {
            self.last_pli = Some(now);
            self.plis += 1;
            return true;
        }
        false
    }
}

/// The audio half: the project's jitter buffer on a 20 ms clock, Opus with FEC and PLC.
struct AudioReceiver {
    jitter: JitterBuffer,
    decoder: OpusDecoder,
    started: bool,
    played: u64,
    from_fec: u64,
    concealed: u64,
    silent: u64,
    packets: u64,
    last_arrival_ms: Option<f64>,
    /// Arrival gaps over 200 ms, as (start, end) Unix ms.
    gaps: Vec<(f64, f64)>,
    /// The last 2 s of what was played, for the tone check.
    recent: std::collections::VecDeque<i16>,
}

impl AudioReceiver {
    fn new() -> Result<Self, ProbeError> {
        Ok(AudioReceiver {
            jitter: JitterBuffer::new(JitterConfig::default()),
            decoder: OpusDecoder::new().map_err(|e| ProbeError::Codec(e.to_string()))?,
            started: false,
            played: 0,
            from_fec: 0,
            concealed: 0,
            silent: 0,
            packets: 0,
            last_arrival_ms: None,
            gaps: Vec::new(),
            recent: std::collections::VecDeque::new(),
        })
    }

    fn push(&mut self, packet: rtc::rtp::Packet, at_ms: f64) {
        self.packets += 1;
        self.started = true;
        if let Some(last) = self.last_arrival_ms.replace(at_ms) {
            if at_ms - last > 200.0 {
                self.gaps.push((last, at_ms));
            }
        }
        self.jitter.push(
            packet.header.sequence_number,
            packet.header.timestamp,
            packet.payload,
            Instant::now(),
        );
    }

    /// One 20 ms playout tick.
    fn tick(&mut self) {
        if !self.started {
            return;
        }
        let frame = match self.jitter.pop(Instant::now()) {
            Playout::Packet(packet) => {
                self.played += 1;
                self.decoder.decode(&packet)
            }
            Playout::Lost {
                next_has_fec: Some(next),
            } => {
                self.from_fec += 1;
                self.decoder.decode_fec(&next)
            }
            Playout::Lost { next_has_fec: None } => {
                self.concealed += 1;
                self.decoder.conceal()
            }
            Playout::Empty => {
                self.silent += 1;
                return;
            }
        };
        if let Ok(frame) = frame {
            self.remember(&frame);
        }
    }

    fn remember(&mut self, frame: &AudioFrame) {
        self.recent.extend(frame.samples().iter().copied());
        while self.recent.len() > 96_000 {
            self.recent.pop_front();
        }
    }

    fn tone_hz(&self) -> f32 {
        let samples: Vec<i16> = self.recent.iter().copied().collect();
        dominant_frequency(&samples, 48_000)
    }
}

/// Publishes a sine for the doorbell's speaker, one Opus packet per tick.
struct Talker {
    publisher: roombell::client::Publisher,
    tone: ToneGenerator,
    encoder: OpusEncoder,
    sent: u64,
}

impl Talker {
    async fn start(client: &Client, hz: f32) -> Result<Talker, ProbeError> {
        let mut publisher = client.publish(true, false).await?;
        if !publisher.wait_connected(Duration::from_secs(10)).await {
            return Err(ProbeError::Timeout("publishing the talk-back tone".into()));
        }
        Ok(Talker {
            publisher,
            tone: ToneGenerator::new(hz, 12_000).map_err(|e| ProbeError::Codec(e.to_string()))?,
            encoder: OpusEncoder::new().map_err(|e| ProbeError::Codec(e.to_string()))?,
            sent: 0,
        })
    }

    async fn tick(&mut self) {
        let frame = self.tone.next_frame();
        if let Ok(packet) = self.encoder.encode(&frame) {
            if self
                .publisher
                .write_audio(packet, Duration::from_millis(20))
                .await
                .is_ok()
            {
                self.sent += 1;
            }
        }
    }
}

async fn next_media(
    subscriber: &mut Option<Subscriber>,
) -> Option<roombell::client::media::RemoteMedia> {
    match subscriber {
        Some(s) => s.next_media().await,
        None => std::future::pending().await,
    }
}

async fn watch(args: &Args) -> Result<serde_json::Value, ProbeError> {
    let clock = Clock::new();
    let (client, mut events) = join(args).await?;
    let mut talker = match args.talk_hz {
        Some(hz) => Some(Talker::start(&client, hz).await?),
        None => None,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.seconds);
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut subscriber: Option<Subscriber> = None;
    let mut video = VideoReceiver::new(Duration::from_millis(args.video_wait_ms))?;
    let mut audio = AudioReceiver::new()?;
    let mut freezes = FreezeMeter::default();
    let mut playout = PlayoutClock::default();
    let mut playout_delays = Vec::new();
    let mut subscriptions = 0u32;
    let mut dropped = 0u64;
    let mut timeline: Vec<serde_json::Value> = Vec::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            event = events.recv() => match event {
                Some(ClientEvent::StreamAdded(s)) if s.user_id == args.publisher => {
                    timeline.push(json!({"at_ms": clock.now(), "event": "stream-added"}));
                    if let Some(old) = subscriber.take() {
                        dropped += old.dropped();
                    }
                    match client.subscribe(&args.publisher, true, true).await {
                        Ok(s) => {
                            subscriptions += 1;
                            subscriber = Some(s);
                            // A new stream: new sequence numbers, a new keyframe needed.
                            video = VideoReceiver::new(Duration::from_millis(args.video_wait_ms))?;
                            playout = PlayoutClock::default();
                            audio.jitter = JitterBuffer::new(JitterConfig::default());
                        }
                        Err(e) => timeline.push(json!({"at_ms": clock.now(), "event": "subscribe-failed", "error": e.to_string()})),
                    }
                }
                Some(ClientEvent::StreamRemoved(s)) if s.user_id == args.publisher => {
                    timeline.push(json!({"at_ms": clock.now(), "event": "stream-removed"}));
                    if let Some(old) = subscriber.take() {
                        dropped += old.dropped();
                    }
                }
                Some(ClientEvent::PeerLeave { user_id, .. }) if user_id == args.publisher => {
                    timeline.push(json!({"at_ms": clock.now(), "event": "peer-leave"}));
                }
                Some(_) => {}
                None => return Err(ProbeError::Timeout("the probe's own signaling closed".into())),
            },
            media = next_media(&mut subscriber) => match media {
                Some(media) => {
                    let now = clock.now();
                    match media.kind {
                        MediaKind::Video => {
                            for rtp_timestamp in video.push(media.packet) {
                                freezes.frame(playout.frame(rtp_timestamp, now));
                                playout_delays.push(playout.target_delay_ms());
                            }
                        }
                        MediaKind::Audio => audio.push(media.packet, now),
                    }
                }
                None => {
                    timeline.push(json!({"at_ms": clock.now(), "event": "subscription-ended"}));
                    subscriber = None;
                }
            },
            _ = ticker.tick() => {
                audio.tick();
                if let Some(talker) = talker.as_mut() {
                    talker.tick().await;
                }
                if let Some(s) = subscriber.as_ref() {
                    if video.wants_keyframe(Instant::now()) {
                        let _ = s.request_keyframe().await;
                    }
                }
            }
        }
    }
    let end_ms = clock.now();
    let window_ms = end_ms - clock.start_unix_ms;
    if let Some(s) = subscriber.take() {
        dropped += s.dropped();
    }
    client.close().await;
    // The window starts at the first rendered frame: joining and the first keyframe are not
    // what a network fault does to a call in progress.
    let report = freezes.finish(end_ms);
    let first = report.first_frame_ms.unwrap_or(end_ms);
    let measured_ms = end_ms - first;
    let ticks = audio.played + audio.from_fec + audio.concealed + audio.silent;
    Ok(json!({
        "mode": "watch",
        "start_unix_ms": clock.start_unix_ms,
        "end_unix_ms": end_ms,
        "window_ms": window_ms,
        "subscriptions": subscriptions,
        "dropped_by_client": dropped,
        "timeline": timeline,
        "video": {
            "frames_rendered": report.frames,
            "first_frame_unix_ms": report.first_frame_ms,
            "measured_ms": measured_ms,
            "keyframes": video.keyframes,
            "frames_skipped_until_keyframe": video.skipped_while_broken,
            "decode_errors": video.decode_errors,
            "plis_sent": video.plis,
            "playout_delay_ms_mean": playout_delays.iter().sum::<f64>() / playout_delays.len().max(1) as f64,
            "playout_delay_ms_max": playout_delays.iter().copied().fold(0.0, f64::max),
            "freeze_count": report.freezes.len(),
            "freeze_ms": report.total_freeze_ms(),
            "freeze_percent": report.freeze_percent(measured_ms),
            "freezes": report.freezes.iter().map(|f| [f.start_ms, f.end_ms]).collect::<Vec<_>>(),
        },
        "audio": {
            "packets": audio.packets,
            "ticks": ticks,
            "played": audio.played,
            "rebuilt_from_fec": audio.from_fec,
            "concealed": audio.concealed,
            "silent": audio.silent,
            "concealed_percent": if ticks == 0 { 100.0 } else { 100.0 * (audio.from_fec + audio.concealed) as f64 / ticks as f64 },
            "silent_percent": if ticks == 0 { 100.0 } else { 100.0 * audio.silent as f64 / ticks as f64 },
            "tone_hz_last_2s": audio.tone_hz(),
            "arrival_gaps_over_200ms": audio.gaps.iter().map(|g| [g.0, g.1]).collect::<Vec<_>>(),
        },
        "talk": talker.as_ref().map(|t| json!({"hz": args.talk_hz, "packets_sent": t.sent})),
    }))
}

async fn rejoin(args: &Args) -> Result<serde_json::Value, ProbeError> {
    let clock = Clock::new();
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let addr = args
        .url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    // 1. The room server is up: it accepts TCP (polled every 10 ms).
    let server_up = loop {
        let attempt = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr.as_str()),
        )
        .await;
        if let Ok(Ok(_)) = attempt {
            break Instant::now();
        }
        if Instant::now() > deadline {
            return Err(ProbeError::Timeout(format!("{addr} never accepted TCP")));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // 2. The doorbell is back: its stream is announced to us.
    let (client, mut events) = loop {
        match join(args).await {
            Ok(joined) => break joined,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => return Err(e),
        }
    };
    let device_back = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Some(ClientEvent::StreamAdded(s))) if s.user_id == args.publisher => {
                break Instant::now()
            }
            Ok(Some(_)) => continue,
            _ => {
                client.close().await;
                return Err(ProbeError::Timeout(format!(
                    "{} did not publish within {} s",
                    args.publisher, args.seconds
                )));
            }
        }
    };
    // 3. Its media is back: the first frame decodes.
    let mut subscriber = client.subscribe(&args.publisher, true, true).await?;
    let mut video = VideoReceiver::new(Duration::from_millis(args.video_wait_ms))?;
    let mut first_frame = None;
    while first_frame.is_none() && Instant::now() < deadline {
        if video.wants_keyframe(Instant::now()) {
            let _ = subscriber.request_keyframe().await;
        }
        let media = tokio::time::timeout(Duration::from_millis(100), subscriber.next_media()).await;
        let decoded = match media {
            Ok(Some(m)) if m.kind == MediaKind::Video => !video.push(m.packet).is_empty(),
            Ok(None) => break,
            _ => false,
        };
        if decoded {
            first_frame = Some(Instant::now());
        }
    }
    client.close().await;
    let ms = |t: Instant| t.duration_since(server_up).as_secs_f64() * 1000.0;
    Ok(json!({
        "mode": "rejoin",
        "server_up_unix_ms": clock.at(server_up),
        "device_back_ms": ms(device_back),
        "first_frame_ms": first_frame.map(ms),
    }))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let result = match args.mode {
        ProbeMode::Watch => watch(&args).await,
        ProbeMode::Rejoin => rejoin(&args).await,
    };
    match result {
        Ok(report) => println!("{report}"),
        Err(e) => {
            println!("{}", json!({ "error": e.to_string() }));
            std::process::exit(1);
        }
    }
}
