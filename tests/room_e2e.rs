//! Issue 2's end-to-end check: two in-process clients in one room through a real room server,
//! real DTLS-SRTP, real H.264 and Opus; a forger refused while the others keep flowing.

mod common;

use common::*;
use roombell::client::depacketize::H264Assembler;
use roombell::client::media::MediaKind;
use roombell::client::{ClientError, ClientEvent};
use roombell::protocol::{code, extra, LeaveReason, Role, RoomId};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const ROOM: u64 = 1234;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_exchange_h264_and_opus_and_a_forger_is_refused() {
    let server = start_room();
    let (a, mut a_events) = connect(&server, "door").await;
    let (b, mut b_events) = connect(&server, "phone").await;
    a.join(RoomId::Number(ROOM), Role::Anchor, None)
        .await
        .expect("A joins");
    b.join(RoomId::Number(ROOM), Role::Anchor, None)
        .await
        .expect("B joins");
    assert!(
        wait_event(&mut a_events, Duration::from_secs(5), |e| {
            matches!(e, ClientEvent::PeerJoin { user_id } if user_id == "phone").then_some(())
        })
        .await
        .is_some(),
        "A sees B join"
    );

    // A publishes real H.264 and Opus, paced like a camera and a microphone.
    let frames = tokio::task::spawn_blocking(|| encode_frames(240))
        .await
        .expect("encoding thread");
    let audio = opus_sine(440.0, 400);
    let mut publisher = a.publish(true, true).await.expect("A publishes");
    assert!(
        publisher.wait_connected(Duration::from_secs(10)).await,
        "publisher connects"
    );
    let keyframe_requests = Arc::new(AtomicUsize::new(0));
    let stop_sending = Arc::new(AtomicBool::new(false));
    let sender = {
        let keyframe_requests = keyframe_requests.clone();
        let stop = stop_sending.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(20));
            for tick in 0..1000usize {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                ticker.tick().await;
                let _ = publisher
                    .write_audio(audio[tick % audio.len()].clone(), Duration::from_millis(20))
                    .await;
                // 20 ms ticks, video every 33 ms on average: frames at 30 fps.
                if tick * 20 / 33 != (tick + 1) * 20 / 33 || tick == 0 {
                    let frame = &frames[(tick * 20 / 33) % frames.len()];
                    let _ = publisher
                        .write_video(frame.clone(), Duration::from_millis(33))
                        .await;
                }
                while publisher.try_keyframe_request() {
                    keyframe_requests.fetch_add(1, Ordering::Relaxed);
                }
            }
            publisher
        })
    };

    // B sees the stream, subscribes, and decodes what arrives.
    let stream = wait_event(&mut b_events, Duration::from_secs(5), |e| match e {
        ClientEvent::StreamAdded(s) if s.user_id == "door" => Some(s.clone()),
        _ => None,
    })
    .await
    .expect("B gets stream-added");
    assert!(stream.audio && stream.video);
    let mut subscriber = b.subscribe("door", true, true).await.expect("B subscribes");

    let mut assembler = H264Assembler::default();
    let mut decoder = openh264::decoder::Decoder::new().expect("decoder");
    let mut opus_decoder = opus::Decoder::new(48_000, opus::Channels::Mono).expect("opus decoder");
    let mut decoded_frames = 0usize;
    let mut pcm: Vec<i16> = Vec::new();
    let mut forger_checked = false;
    let mut frames_at_forgery = 0usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while decoded_frames < 80 || pcm.len() < 48_000 {
        let Ok(Some(media)) = tokio::time::timeout_at(deadline, subscriber.next_media()).await
        else {
            break;
        };
        match media.kind {
            MediaKind::Video => {
                for frame in assembler.push(media.packet) {
                    if let Ok(Some(picture)) = decoder.decode(&frame) {
                        use openh264::formats::YUVSource;
                        assert_eq!(picture.dimensions(), (640, 480));
                        decoded_frames += 1;
                    }
                }
            }
            MediaKind::Audio => {
                let mut out = vec![0i16; 960 * 6];
                if let Ok(n) = opus_decoder.decode(&media.packet.payload, &mut out, false) {
                    pcm.extend_from_slice(&out[..n]);
                }
            }
        }
        if decoded_frames >= 20 && !forger_checked {
            forger_checked = true;
            frames_at_forgery = decoded_frames;
            // A third client with a forged UserSig is refused with the reason...
            let mut forged = client_config(&server, "mallory");
            forged.user_sig = roombell::usersig::gen_user_sig(
                SDK_APP_ID,
                "guessed-key",
                "mallory",
                3600,
                unix_now(),
            );
            let (c, _c_events) = roombell::client::Client::connect(forged)
                .await
                .expect("C connects");
            let err = c
                .join(RoomId::Number(ROOM), Role::Anchor, None)
                .await
                .expect_err("forged UserSig must be refused");
            let ClientError::Rtc(err) = err else {
                panic!("expected a TRTC error, got {err}")
            };
            assert_eq!(err.code, code::JOIN_ROOM_FAILED);
            assert_eq!(err.extra_code, extra::BAD_USER_SIG);
            assert!(err.message.contains("userSig"), "{}", err.message);
            c.close().await;
        }
    }
    assert!(
        decoded_frames >= 50,
        "B decoded only {decoded_frames} frames"
    );
    assert!(
        decoded_frames > frames_at_forgery,
        "media kept flowing after the forged join ({frames_at_forgery} → {decoded_frames})"
    );
    // Skip the decoder's start-up, then measure the tone.
    assert!(pcm.len() > 24_000, "only {} audio samples", pcm.len());
    let hz = zero_crossing_frequency(&pcm[4_800..]);
    assert!((hz - 440.0).abs() < 440.0 * 0.02, "tone decoded at {hz} Hz");

    // A PLI from B reaches A's publishing side.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before = keyframe_requests.load(Ordering::Relaxed);
    subscriber.request_keyframe().await.expect("B sends PLI");
    let mut reached = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if keyframe_requests.load(Ordering::Relaxed) > before {
            reached = true;
            break;
        }
    }
    assert!(reached, "B's PLI never reached A");

    // A unpublishes: B gets stream-removed. A leaves: B gets peer-leave.
    stop_sending.store(true, Ordering::Relaxed);
    let _publisher = sender.await.expect("sender task");
    a.unpublish().await.expect("A unpublishes");
    assert!(
        wait_event(&mut b_events, Duration::from_secs(5), |e| {
            matches!(e, ClientEvent::StreamRemoved(s) if s.user_id == "door").then_some(())
        })
        .await
        .is_some(),
        "B gets stream-removed"
    );
    a.leave().await.expect("A leaves");
    let reason = wait_event(&mut b_events, Duration::from_secs(5), |e| match e {
        ClientEvent::PeerLeave { user_id, reason } if user_id == "door" => Some(*reason),
        _ => None,
    })
    .await;
    assert_eq!(reason, Some(LeaveReason::Normal), "B gets peer-leave");
    b.leave().await.expect("B leaves");
    a.close().await;
    b.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audio_only_subscription_gets_only_audio() {
    let server = start_room();
    let (a, _a_events) = connect(&server, "door").await;
    let (b, mut b_events) = connect(&server, "phone").await;
    a.join(RoomId::Number(ROOM), Role::Anchor, None)
        .await
        .expect("A joins");
    b.join(RoomId::Number(ROOM), Role::Anchor, None)
        .await
        .expect("B joins");
    let frames = tokio::task::spawn_blocking(|| encode_frames(30))
        .await
        .expect("encoding thread");
    let audio = opus_sine(440.0, 50);
    // B subscribes the moment it sees stream-added, while A's publication is still being set
    // up on the server: the SFU must hold the subscription until the publisher is ready.
    let publishing = tokio::spawn(async move {
        let publisher = a.publish(true, true).await;
        (a, publisher)
    });
    wait_event(&mut b_events, Duration::from_secs(5), |e| {
        matches!(e, ClientEvent::StreamAdded(_)).then_some(())
    })
    .await
    .expect("stream-added");
    let mut subscriber = b
        .subscribe("door", true, false)
        .await
        .expect("B subscribes to audio");
    let (a, publisher) = publishing.await.expect("publish task");
    let mut publisher = publisher.expect("A publishes");
    assert!(publisher.wait_connected(Duration::from_secs(10)).await);
    let sender = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        for tick in 0..150usize {
            ticker.tick().await;
            let _ = publisher
                .write_audio(audio[tick % audio.len()].clone(), Duration::from_millis(20))
                .await;
            if tick % 2 == 0 {
                let _ = publisher
                    .write_video(
                        frames[(tick / 2) % frames.len()].clone(),
                        Duration::from_millis(40),
                    )
                    .await;
            }
        }
    });
    let (mut audio_packets, mut video_packets) = (0, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Some(media)) = tokio::time::timeout_at(deadline, subscriber.next_media()).await {
        match media.kind {
            MediaKind::Audio => audio_packets += 1,
            MediaKind::Video => video_packets += 1,
        }
    }
    sender.abort();
    assert!(audio_packets > 50, "only {audio_packets} audio packets");
    assert_eq!(video_packets, 0, "an audio-only subscriber received video");
    a.close().await;
    b.close().await;
    server.stop();
}
