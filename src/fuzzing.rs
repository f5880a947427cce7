//! The fuzz targets' bodies: each function takes the fuzzer's bytes, feeds them to a decoder
//! that reads bytes from outside, and panics when an invariant breaks. `fuzz/fuzz_targets/*.rs`
//! hand them to libFuzzer (docs/fuzzing.md); the unit test below replays every committed corpus
//! input through them in the ordinary `cargo test`, so a regression of a fixed crash fails CI
//! without an instrumented build. Compiled for tests and with the `fuzzing` feature only.

use crate::client::depacketize::H264Assembler;
use crate::client::state::{ClientState, RequestKind};
use crate::device::bitrate::BitrateController;
use crate::media::convert::mjpeg_to_i420;
use crate::media::jitter::{JitterBuffer, JitterConfig, Playout};
use crate::media::wav::read_wav;
use crate::media::y4m::Y4mReader;
use crate::protocol::{parse_client_message, request_id_hint, ClientMessage};
use crate::protocol::{RoomId, ServerMessage};
use crate::rtc_peer::is_keyframe_request;
use crate::usersig::{
    build_userbuf, decode, encode, parse_userbuf, verify, verify_private_map_key, UserSigError,
};
use bytes::Bytes;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::shared::marshal::Unmarshal;
use std::collections::HashSet;
use std::io::Cursor;
use std::time::{Duration, Instant};

/// A fuzz target's body: panics when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target by name (the file name under `fuzz/fuzz_targets/` and `fuzz/corpus/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("config", config),
    ("jitter", jitter),
    ("mjpeg", mjpeg),
    ("rtcp_keyframe", rtcp_keyframe),
    ("rtp_h264", rtp_h264),
    ("signaling_client", signaling_client),
    ("signaling_server", signaling_server),
    ("usersig", usersig),
    ("wav", wav),
    ("y4m", y4m),
];

/// The two TOML configuration files: the room server's `[room]` and the device daemon's whole
/// file, parsed and validated exactly as from disk (without the environment layer). The first
/// byte picks which; the rest is the file's text.
pub fn config(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    // Files are read as UTF-8 text; anything else is refused before parsing.
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if which % 2 == 0 {
        let _ = crate::config::parse_room_config(text);
    } else {
        let _ = crate::device::config::parse_daemon_config(text);
    }
}

/// The audio jitter buffer, driven by what the network decides: sequence numbers, RTP
/// timestamps, payloads and arrival times all come from the input, interleaved with the 20 ms
/// playout ticks. Invariants: every played packet was pushed, nothing is played twice, and the
/// counters add up.
///
/// Input: 4-byte records `[op, seq_delta (i8), ts_jitter (i8), advance_ms]`. `op` bit 0: push
/// (1) or pop (0); bits 1..: payload length for a push.
pub fn jitter(data: &[u8]) {
    let mut buffer = JitterBuffer::new(JitterConfig::default());
    let mut now = Instant::now();
    let mut seq: u16 = 0;
    let mut timestamp: u32 = 0;
    let mut pushes: u64 = 0;
    let mut pops: u64 = 0;
    let mut played = HashSet::new();
    for (index, record) in data.chunks_exact(4).enumerate() {
        let [op, seq_delta, ts_jitter, advance_ms] = [record[0], record[1], record[2], record[3]];
        now += Duration::from_millis(u64::from(advance_ms));
        if op & 1 == 1 {
            let delta = i16::from(seq_delta as i8);
            seq = seq.wrapping_add_signed(delta);
            // 960 samples per 20 ms at 48 kHz, give or take what the sender's clock did.
            timestamp = timestamp
                .wrapping_add_signed(i32::from(delta) * 960)
                .wrapping_add_signed(i32::from(ts_jitter as i8));
            // A unique payload per push, so a packet played twice is visible.
            let mut payload = u32::try_from(index)
                .unwrap_or(u32::MAX)
                .to_be_bytes()
                .to_vec();
            payload.resize(4 + usize::from(op >> 1), 0xAB);
            buffer.push(seq, timestamp, Bytes::from(payload), now);
            pushes += 1;
        } else {
            pops += 1;
            if let Playout::Packet(payload) = buffer.pop(now) {
                assert!(played.insert(payload.clone()), "a packet was played twice");
            }
        }
        let _ = buffer.target_delay();
        let _ = buffer.jitter();
    }
    let counters = buffer.counters();
    assert_eq!(counters.received, pushes);
    assert_eq!(counters.played, played.len() as u64);
    assert!(counters.played + counters.lost + counters.stalls_to_grow <= pops);
    assert!(counters.played <= pushes);
    assert!(buffer.buffered_packets() as u64 <= pushes);
}

/// One MJPEG frame from a UVC camera to I420 (`mjpeg_to_i420`): the camera negotiated the size,
/// the JPEG bytes are whatever it (or a broken cable) sent.
///
/// Input: width and height as two little-endian u16 (kept to 1..=1024 each, a size V4L2 could
/// negotiate without making every run a 100 MB allocation), then the JPEG.
pub fn mjpeg(data: &[u8]) {
    if data.len() < 4 {
        return;
    }
    let width = u32::from(u16::from_le_bytes([data[0], data[1]]) % 1024) + 1;
    let height = u32::from(u16::from_le_bytes([data[2], data[3]]) % 1024) + 1;
    if let Ok(image) = mjpeg_to_i420(width, height, &data[4..]) {
        assert_eq!((image.width(), image.height()), (width, height));
    }
}

/// Received RTCP as our interceptor and sender logic see it: a compound packet unmarshalled
/// from the wire bytes (after SRTCP), checked for keyframe requests (PLI/FIR, what
/// `KeyframeRequestMarker` forwards to the encoder), and receiver-report loss fed to the
/// device's `BitrateController`.
pub fn rtcp_keyframe(data: &[u8]) {
    let mut buf = Bytes::copy_from_slice(data);
    let Ok(packets) = rtc::rtcp::packet::unmarshal(&mut buf) else {
        return;
    };
    let mut bitrate = BitrateController::new(800_000, 150_000, 2_000_000);
    let start = Instant::now();
    for (i, packet) in packets.iter().enumerate() {
        let _ = is_keyframe_request(packet.as_ref());
        let any = packet.as_any();
        let reports = if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
            rr.reports.as_slice()
        } else if let Some(sr) = any.downcast_ref::<SenderReport>() {
            sr.reports.as_slice()
        } else {
            continue;
        };
        for report in reports {
            // RFC 3550: fraction lost is a fixed-point number with the binary point at the left.
            let loss = f64::from(report.fraction_lost) / 256.0;
            let now = start + Duration::from_secs(u64::try_from(i).unwrap_or(u64::MAX).min(3600));
            if let Some(bps) = bitrate.on_loss_report(loss, now) {
                assert!(
                    (150_000..=2_000_000).contains(&bps),
                    "bitrate {bps} out of bounds"
                );
            }
        }
    }
}

/// Received video RTP as the Rust client and device reassemble it: each packet unmarshalled
/// from the wire bytes (after SRTP), then pushed through `H264Assembler` (FU-A / STAP-A /
/// single NAL depacketizing and frame reassembly).
///
/// Input: a sequence of packets, each a big-endian u16 length followed by that many bytes.
pub fn rtp_h264(data: &[u8]) {
    let mut assembler = H264Assembler::default();
    let mut rest = data;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let body = &rest[2..];
        let (packet_bytes, tail) = body.split_at(len.min(body.len()));
        rest = tail;
        let mut buf = Bytes::copy_from_slice(packet_bytes);
        let Ok(packet) = rtc::rtp::Packet::unmarshal(&mut buf) else {
            continue;
        };
        for frame in assembler.push(packet) {
            // Access units come out in Annex-B form; each is at most what went in, plus start
            // codes, so a runaway size means the reassembly invented data.
            assert!(
                frame.len() <= data.len() * 2 + 64,
                "frame larger than its input"
            );
        }
    }
}

/// What the room server does with every WebSocket text frame a client sends:
/// `parse_client_message` (plus `request_id_hint` for the error reply). Whatever parses must
/// survive its own encoding unchanged, and every refusal must carry a TRTC code.
pub fn signaling_client(data: &[u8]) {
    // WebSocket text frames are UTF-8 by the time the server sees them.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let hint = request_id_hint(text);
    match parse_client_message(text) {
        Ok(message) => {
            let _ = message.kind();
            if let ClientMessage::Join { room_id, .. } = &message {
                let _ = room_id.validate();
            }
            let json = serde_json::to_string(&message).expect("a parsed message serializes");
            let again = parse_client_message(&json).expect("a parsed message's own JSON parses");
            assert_eq!(again, message, "round trip changed the message");
        }
        Err(error) => {
            assert_ne!(error.code, 0, "a refusal without a TRTC code: {error:?}");
            // The reply the server sends must itself be valid JSON.
            let reply = serde_json::to_string(&error.to_message(hint)).expect("error serializes");
            assert!(serde_json::from_str::<serde_json::Value>(&reply).is_ok());
        }
    }
}

/// What the Rust client (device daemon, tests) does with text frames from a room server: parse
/// each line as a `ServerMessage` exactly as `Client::on_text` does, and feed it to the pure
/// client state machine, with some requests in flight so replies have someone to match.
pub fn signaling_server(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut state = ClientState::default();
    let _ = state.socket_connecting();
    let _ = state.socket_open();
    // Joined, with requests the fuzzer's responses can answer (ids are handed out from 1 up).
    let _ = state.start_request(RequestKind::Join);
    let pending = state.joining(RoomId::Number(1234));
    state.joined(pending);
    for kind in [
        RequestKind::Publish,
        RequestKind::Heartbeat,
        RequestKind::Mute,
    ] {
        let _ = state.start_request(kind);
    }
    // One message per line, as if each line were its own frame; bounded by the input size.
    for line in text.lines() {
        // The client logs and ignores what it cannot parse.
        let Ok(message) = serde_json::from_str::<ServerMessage>(line) else {
            continue;
        };
        let _ = state.server_message(message);
        // Streams the server announced can be subscribed to, as an app would.
        let users: Vec<String> = state.remote_streams().map(|s| s.user_id.clone()).collect();
        for user in users.into_iter().take(4) {
            let _ = state.start_request(RequestKind::Subscribe(user));
        }
    }
    let _ = state.socket_closed(false);
}

/// UserSig and privateMapKey decoding as the room server does it on every join: base64 in the
/// UserSig alphabet, zlib, the JSON document, then (for a privateMapKey) the binary userbuf.
///
/// A fuzzer cannot forge an HMAC, so a document that decodes is re-signed with a known key to
/// reach everything behind the signature check (identity, expiry, userbuf). The raw input is
/// also parsed as a userbuf directly. Invariants: encode/decode and build/parse are inverses.
pub fn usersig(data: &[u8]) {
    const KEY: &str = "fuzz-secret-key";
    if let Ok(map) = parse_userbuf(data) {
        let rebuilt = build_userbuf(
            &map.account,
            map.sdk_app_id,
            &map.room,
            map.expires_at,
            map.privileges,
        );
        assert_eq!(
            rebuilt, data,
            "parse_userbuf accepted a non-canonical userbuf"
        );
    }

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut doc) = decode(text) else {
        return;
    };
    // Unsigned, the document must still fail closed under our key unless it really was signed
    // with it (which a fuzzer will not find).
    let unsigned = verify(text, doc.sdk_app_id, KEY, &doc.identifier, doc.time);
    if doc.sig != doc.compute_sig(KEY) {
        assert!(matches!(unsigned, Err(UserSigError::BadSignature)));
    }

    doc.sig = doc.compute_sig(KEY);
    let signed = encode(&doc);
    match decode(&signed) {
        Ok(again) => assert_eq!(again, doc, "encode/decode changed the document"),
        // Our zlib may compress worse than whoever made the input.
        Err(UserSigError::TooLarge { .. }) => return,
        Err(e) => panic!("our own encoding of a decoded document fails to decode: {e}"),
    }
    verify(&signed, doc.sdk_app_id, KEY, &doc.identifier, doc.time)
        .expect("a re-signed document verifies at its signing time");
    if let Ok(sdk_app_id) = u32::try_from(doc.sdk_app_id) {
        let _ = verify_private_map_key(&signed, sdk_app_id, KEY, &doc.identifier, doc.time);
    }
}

/// The WAV file source and sink reader (`audio_source = "wav"`): RIFF chunks, `fmt `, `data`,
/// then the cut into 20 ms frames the encoder takes.
pub fn wav(data: &[u8]) {
    let Ok(audio) = read_wav(data) else {
        return;
    };
    assert!(
        audio.samples.len() <= data.len() / 2,
        "more samples than the file holds"
    );
    let _ = audio.into_frames();
}

/// The Y4M file source (`video_source = "y4m"`): header, FRAME lines and frame data, read to
/// the end and looped once, as the capture thread does.
pub fn y4m(data: &[u8]) {
    let Ok(mut reader) = Y4mReader::new(Cursor::new(data)) else {
        return;
    };
    let _ = reader.header().frame_interval();
    // Bounded: each frame consumes at least a FRAME line, so the input length bounds the count.
    for _ in 0..=data.len() {
        match reader.read_image() {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    // Looping past the end: rewinds and reads the first frame again (or fails typed).
    if reader.rewind().is_ok() {
        for i in 0..3 {
            if reader.next_frame_looping(i).is_err() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every committed corpus input, through its target. A panic names the input file.
    #[test]
    fn every_committed_corpus_input_passes_its_target() {
        let corpora = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
        let mut summary = Vec::new();
        for (name, target) in TARGETS {
            let dir = corpora.join(name);
            let mut inputs: Vec<_> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .collect();
            inputs.sort();
            assert!(
                !inputs.is_empty(),
                "no corpus for {name} in {}",
                dir.display()
            );
            for input in &inputs {
                let data = std::fs::read(input).expect("a corpus file");
                let outcome = std::panic::catch_unwind(|| target(&data));
                assert!(outcome.is_ok(), "{name} fails on {}", input.display());
            }
            summary.push(format!("{name} {}", inputs.len()));
        }
        eprintln!("corpus inputs replayed: {}", summary.join(", "));
    }

    #[test]
    fn every_fuzz_target_file_is_in_the_table() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("fuzz/fuzz_targets")
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".rs"))
                    .map(str::to_owned)
            })
            .collect();
        files.sort();
        let names: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
        assert_eq!(files, names);
    }
}
