//! Helpers shared by the integration tests: a room server on a free port, clients with valid
//! UserSigs, and real media (openh264 H.264, libopus) to push through it.
#![allow(dead_code)]

use bytes::Bytes;
use openh264::encoder::{BitRate, Encoder, EncoderConfig, FrameRate, RateControlMode};
use openh264::formats::YUVBuffer;
use openh264::OpenH264API;
use roombell::client::{Client, ClientConfig, ClientEvent};
use roombell::config::RoomConfig;
use roombell::protocol::Mode;
use roombell::room::RoomServerThread;
use roombell::rtc_peer::PeerOptions;
use roombell::usersig;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

pub const SDK_APP_ID: u64 = 1_400_000_000;
pub const SECRET_KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn room_config() -> RoomConfig {
    RoomConfig {
        listen: "127.0.0.1:0".into(),
        sdk_app_id: SDK_APP_ID,
        secret_key: SECRET_KEY.into(),
        ..RoomConfig::default()
    }
}

pub fn start_room() -> RoomServerThread {
    RoomServerThread::spawn(room_config()).expect("room server starts")
}

pub fn client_config(server: &RoomServerThread, user_id: &str) -> ClientConfig {
    ClientConfig {
        url: server.ws_url(),
        sdk_app_id: SDK_APP_ID,
        user_id: user_id.into(),
        user_sig: usersig::gen_user_sig(SDK_APP_ID, SECRET_KEY, user_id, 3600, unix_now()),
        mode: Mode::Rtc,
        peer: PeerOptions::default(),
    }
}

pub async fn connect(
    server: &RoomServerThread,
    user_id: &str,
) -> (Client, mpsc::UnboundedReceiver<ClientEvent>) {
    Client::connect(client_config(server, user_id))
        .await
        .expect("client connects")
}

/// Waits (bounded) for the first event that `pick` accepts.
pub async fn wait_event<T>(
    events: &mut mpsc::UnboundedReceiver<ClientEvent>,
    timeout: Duration,
    mut pick: impl FnMut(&ClientEvent) -> Option<T>,
) -> Option<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .ok()??;
        if let Some(found) = pick(&event) {
            return Some(found);
        }
    }
}

/// A synthetic 640x480 picture that changes every frame, so the encoder has real work.
pub fn synthetic_frame(width: usize, height: usize, n: usize) -> YUVBuffer {
    let mut yuv = vec![0u8; width * height * 3 / 2];
    let (luma, chroma) = yuv.split_at_mut(width * height);
    for y in 0..height {
        for x in 0..width {
            luma[y * width + x] = ((x + y + n * 4) % 256) as u8;
        }
    }
    let box_x = (n * 8) % (width - 64);
    for y in 100..164 {
        for x in box_x..box_x + 64 {
            luma[y * width + x] = 235;
        }
    }
    for (i, c) in chroma.iter_mut().enumerate() {
        *c = (128 + ((i / 7 + n) % 64) as i32 - 32) as u8;
    }
    YUVBuffer::from_vec(yuv, width, height)
}

pub fn h264_encoder(bitrate_bps: u32) -> Encoder {
    let config = EncoderConfig::new()
        .bitrate(BitRate::from_bps(bitrate_bps))
        .max_frame_rate(FrameRate::from_hz(30.0))
        .rate_control_mode(RateControlMode::Bitrate)
        .skip_frames(false);
    Encoder::with_api_config(OpenH264API::from_source(), config).expect("openh264 encoder")
}

/// Encodes `count` synthetic frames at 640x480; the first is an IDR.
pub fn encode_frames(count: usize) -> Vec<Bytes> {
    let mut encoder = h264_encoder(1_000_000);
    (0..count)
        .map(|n| {
            let frame = synthetic_frame(640, 480, n);
            let bitstream = encoder.encode(&frame).expect("encode");
            Bytes::from(bitstream.to_vec())
        })
        .collect()
}

/// Opus packets (20 ms, 48 kHz mono) of a sine at `hz`.
pub fn opus_sine(hz: f32, packets: usize) -> Vec<Bytes> {
    let mut encoder = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip)
        .expect("opus encoder");
    let mut phase = 0.0f32;
    let step = 2.0 * std::f32::consts::PI * hz / 48_000.0;
    (0..packets)
        .map(|_| {
            let pcm: Vec<i16> = (0..960)
                .map(|_| {
                    let s = (phase.sin() * 12_000.0) as i16;
                    phase = (phase + step) % (2.0 * std::f32::consts::PI);
                    s
                })
                .collect();
            let mut out = vec![0u8; 1500];
            let len = encoder.encode(&pcm, &mut out).expect("opus encode");
            out.truncate(len);
            Bytes::from(out)
        })
        .collect()
}

/// Frequency of the strongest sine in `samples` (48 kHz), by zero crossings with interpolation.
pub fn zero_crossing_frequency(samples: &[i16]) -> f32 {
    let mut crossings = Vec::new();
    for i in 1..samples.len() {
        let (a, b) = (samples[i - 1] as f32, samples[i] as f32);
        if a < 0.0 && b >= 0.0 {
            crossings.push((i - 1) as f32 + (-a / (b - a)));
        }
    }
    if crossings.len() < 2 {
        return 0.0;
    }
    let periods = (crossings.len() - 1) as f32;
    let span = crossings[crossings.len() - 1] - crossings[0];
    48_000.0 * periods / span
}

/// Decodes the doorbell's media until `frames` 640x480 pictures and `audio_ms` of audio.
pub async fn receive(
    subscriber: &mut roombell::client::Subscriber,
    frames: usize,
    audio_ms: usize,
) -> (usize, Vec<i16>) {
    let mut assembler = roombell::client::depacketize::H264Assembler::default();
    let mut decoder = openh264::decoder::Decoder::new().expect("decoder");
    let mut opus_decoder = opus::Decoder::new(48_000, opus::Channels::Mono).expect("opus");
    let (mut decoded, mut pcm) = (0usize, Vec::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while decoded < frames || pcm.len() < audio_ms * 48 {
        let Ok(Some(media)) = tokio::time::timeout_at(deadline, subscriber.next_media()).await
        else {
            break;
        };
        match media.kind {
            roombell::client::media::MediaKind::Video => {
                for frame in assembler.push(media.packet) {
                    if let Ok(Some(picture)) = decoder.decode(&frame) {
                        use openh264::formats::YUVSource;
                        if picture.dimensions() == (640, 480) {
                            decoded += 1;
                        }
                    }
                }
            }
            roombell::client::media::MediaKind::Audio => {
                let mut out = vec![0i16; 5760];
                if let Ok(n) = opus_decoder.decode(&media.packet.payload, &mut out, false) {
                    pcm.extend_from_slice(&out[..n]);
                }
            }
        }
    }
    (decoded, pcm)
}

/// The samples of a WAV file written by a running process (its header may lag behind).
pub fn wav_samples(path: &std::path::Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let Some(data) = bytes.windows(4).position(|w| w == b"data") else {
        return Vec::new();
    };
    bytes
        .get(data + 8..)
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}
