//! `scripts/load.sh` helper: CLIENTS Rust clients, in pairs sharing a room, each in a loop
//! until SECONDS have passed: connect, join, publish H.264 + Opus, subscribe to the partner
//! when it shows up, hold the call 2-5 s, leave, close. Rooms are made and disposed all the
//! time, so a room, task or socket the server forgets to free piles up where
//! `/debug/metrics` can see it.
//!
//! ```text
//! cargo run --release --example load_clients -- WS_URL SDK_APP_ID SECRET_KEY CLIENTS SECONDS [ROOM_BASE [PARTNER]]
//! ```
//!
//! With PARTNER (`scripts/soak.sh`), every client joins room ROOM_BASE, subscribes to PARTNER
//! (the doorbell) and stays in one long call until SECONDS are up, rejoining if it drops.
//!
//! Media is encoded once up front (openh264 320x240 and Opus) and replayed, so the load is on
//! the room server, not on this process's encoders. Prints one JSON line of totals at the end.

use bytes::Bytes;
use rand::Rng;
use roombell::client::{Client, ClientConfig, ClientEvent};
use roombell::media::h264::{H264Encoder, H264EncoderConfig};
use roombell::media::opus_codec::OpusEncoder;
use roombell::media::test_pattern::TestPattern;
use roombell::media::tone::ToneGenerator;
use roombell::protocol::{Mode, Role, RoomId};
use roombell::rtc_peer::PeerOptions;
use roombell::usersig;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{timeout, Instant};

const FPS: u64 = 15;
const STEP: Duration = Duration::from_secs(10);

struct Args {
    url: String,
    sdk_app_id: u64,
    key: String,
    clients: usize,
    seconds: u64,
    room_base: u64,
    partner: Option<String>,
}

fn args() -> Result<Args, String> {
    let v: Vec<String> = std::env::args().skip(1).collect();
    if !(5..=7).contains(&v.len()) {
        return Err(
            "usage: load_clients WS_URL SDK_APP_ID SECRET_KEY CLIENTS SECONDS [ROOM_BASE [PARTNER]]"
                .into(),
        );
    }
    let num = |i: usize| v[i].parse::<u64>().map_err(|e| format!("{}: {e}", v[i]));
    Ok(Args {
        url: v[0].clone(),
        sdk_app_id: num(1)?,
        key: v[2].clone(),
        clients: num(3)? as usize,
        seconds: num(4)?,
        room_base: if v.len() >= 6 { num(5)? } else { 7000 },
        partner: v.get(6).cloned(),
    })
}

/// What every publisher sends: one second of video starting with an IDR, and audio.
struct Media {
    video: Vec<Bytes>,
    audio: Vec<Bytes>,
}

fn encode_media() -> Result<Media, String> {
    let mut encoder = H264Encoder::new(H264EncoderConfig {
        width: 320,
        height: 240,
        fps: FPS as u32,
        bitrate_bps: 300_000,
        min_bitrate_bps: 100_000,
        max_bitrate_bps: 300_000,
        gop_frames: 0,
        min_keyframe_interval: Duration::from_millis(100),
    })
    .map_err(|e| e.to_string())?;
    let pattern = TestPattern::new(320, 240).map_err(|e| e.to_string())?;
    let mut video = Vec::new();
    for n in 0..FPS {
        if let Some(encoded) = encoder
            .encode(&pattern.frame(n, 0))
            .map_err(|e| e.to_string())?
        {
            video.push(encoded.data);
        }
    }
    let mut opus = OpusEncoder::new().map_err(|e| e.to_string())?;
    let mut tone = ToneGenerator::new(440.0, 8000).map_err(|e| e.to_string())?;
    let mut audio = Vec::new();
    for _ in 0..50 {
        audio.push(opus.encode(&tone.next_frame()).map_err(|e| e.to_string())?);
    }
    if video.is_empty() {
        return Err("the encoder produced no frames".into());
    }
    Ok(Media { video, audio })
}

#[derive(Default)]
struct Totals {
    calls: AtomicU64,
    joins: AtomicU64,
    publishes: AtomicU64,
    subscribes: AtomicU64,
    subscribes_refused: AtomicU64,
    packets_received: AtomicU64,
    errors: AtomicU64,
}

impl Totals {
    fn error(&self, client: usize, what: &str, error: impl std::fmt::Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        eprintln!("client {client}: {what}: {error}");
    }
}

/// One call: join, publish, maybe subscribe, hold, leave. Every step is bounded.
async fn one_call(args: &Args, media: &Media, totals: &Totals, index: usize, deadline: Instant) {
    let user_id = format!("load-{index}");
    let (partner, room) = match &args.partner {
        Some(partner) => (partner.clone(), args.room_base),
        None => (
            format!("load-{}", index ^ 1),
            args.room_base + (index / 2) as u64,
        ),
    };
    let config = ClientConfig {
        url: args.url.clone(),
        sdk_app_id: args.sdk_app_id,
        user_sig: usersig::gen_user_sig(
            args.sdk_app_id,
            &args.key,
            &user_id,
            3600,
            usersig::unix_now(),
        ),
        user_id,
        mode: Mode::Rtc,
        peer: PeerOptions::default(),
    };
    let (client, mut events) = match timeout(STEP, Client::connect(config)).await {
        Ok(Ok(connected)) => connected,
        Ok(Err(e)) => return totals.error(index, "connect", e),
        Err(_) => return totals.error(index, "connect", "timed out"),
    };
    match timeout(STEP, client.join(RoomId::Number(room), Role::Anchor, None)).await {
        Ok(Ok(_)) => {
            totals.joins.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Err(e)) => {
            totals.error(index, "join", e);
            return client.close().await;
        }
        Err(_) => {
            totals.error(index, "join", "timed out");
            return client.close().await;
        }
    }
    let until = match args.partner {
        Some(_) => deadline,
        None => Instant::now() + Duration::from_millis(rand::thread_rng().gen_range(2000..5000)),
    };
    let publisher = match timeout(STEP, client.publish(true, true)).await {
        Ok(Ok(publisher)) => {
            totals.publishes.fetch_add(1, Ordering::Relaxed);
            Some(publisher)
        }
        Ok(Err(e)) => {
            totals.error(index, "publish", e);
            None
        }
        Err(_) => {
            totals.error(index, "publish", "timed out");
            None
        }
    };
    let sending = publisher.map(|mut publisher| {
        let video = media.video.clone();
        let audio = media.audio.clone();
        tokio::spawn(async move {
            if !publisher.wait_connected(STEP).await {
                return;
            }
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let frame_every = 50 / FPS;
            for n in 0u64.. {
                tick.tick().await;
                if Instant::now() >= until {
                    break;
                }
                let packet = audio[(n as usize) % audio.len()].clone();
                if publisher
                    .write_audio(packet, Duration::from_millis(20))
                    .await
                    .is_err()
                {
                    break;
                }
                if n % frame_every == 0 {
                    let frame = video[((n / frame_every) as usize) % video.len()].clone();
                    let _ = publisher
                        .write_video(frame, Duration::from_millis(20 * frame_every))
                        .await;
                }
            }
        })
    });
    let mut subscriber = None;
    while subscriber.is_none() {
        match tokio::time::timeout_at(until, events.recv()).await {
            Ok(Some(ClientEvent::StreamAdded(stream))) if stream.user_id == partner => {
                match timeout(STEP, client.subscribe(&partner, true, true)).await {
                    Ok(Ok(sub)) => {
                        totals.subscribes.fetch_add(1, Ordering::Relaxed);
                        subscriber = Some(sub);
                    }
                    // The partner may leave between stream-added and subscribe: expected,
                    // counted apart from errors.
                    Ok(Err(_)) => {
                        totals.subscribes_refused.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Err(_) => {
                        totals.error(index, "subscribe", "timed out");
                        break;
                    }
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    if let Some(mut sub) = subscriber {
        while let Ok(Some(_)) = tokio::time::timeout_at(until, sub.next_media()).await {
            totals.packets_received.fetch_add(1, Ordering::Relaxed);
        }
    }
    tokio::time::sleep_until(until).await;
    if let Some(sending) = sending {
        let _ = timeout(STEP, sending).await;
    }
    if let Ok(Err(e)) = timeout(STEP, client.leave()).await {
        totals.error(index, "leave", e);
    }
    client.close().await;
    totals.calls.fetch_add(1, Ordering::Relaxed);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let args = Arc::new(args()?);
    let media = Arc::new(encode_media()?);
    let totals = Arc::new(Totals::default());
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut workers = Vec::new();
    for index in 0..args.clients {
        let (args, media, totals) = (args.clone(), media.clone(), totals.clone());
        workers.push(tokio::spawn(async move {
            // Spread the first joins over a second, as real clients would arrive.
            tokio::time::sleep(Duration::from_millis((index as u64 * 1000) / 50)).await;
            while Instant::now() < deadline {
                one_call(&args, &media, &totals, index, deadline).await;
            }
        }));
    }
    for worker in workers {
        // A call is bounded by its steps; this bounds the whole run should one still hang.
        let _ = timeout(Duration::from_secs(args.seconds + 120), worker).await;
    }
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    println!(
        "{}",
        serde_json::json!({
            "clients": args.clients,
            "seconds": args.seconds,
            "calls": load(&totals.calls),
            "joins": load(&totals.joins),
            "publishes": load(&totals.publishes),
            "subscribes": load(&totals.subscribes),
            "subscribes_refused": load(&totals.subscribes_refused),
            "packets_received": load(&totals.packets_received),
            "errors": load(&totals.errors),
        })
    );
    Ok(())
}
