//! H.264 and Opus through the real codecs: what goes in comes back out.

use std::time::{Duration, Instant};

use roombell::media::frame::{AudioFrame, VideoFrame, FRAME_SAMPLES, SAMPLE_RATE};
use roombell::media::h264::{H264Decoder, H264Encoder, H264EncoderConfig};
use roombell::media::opus_codec::{OpusDecoder, OpusEncoder};
use roombell::media::test_pattern::{read_code, TestPattern};
use roombell::media::tone::{dominant_frequency, ToneGenerator};

fn encoder(width: u32, height: u32) -> H264Encoder {
    H264Encoder::new(H264EncoderConfig {
        width,
        height,
        ..Default::default()
    })
    .expect("encoder")
}

#[test]
fn h264_round_trip_keeps_size_and_frame_codes() {
    let pattern = TestPattern::new(640, 480).unwrap();
    let mut encoder = encoder(640, 480);
    let mut decoder = H264Decoder::new().unwrap();
    let mut checked = 0;
    for n in 0..60u64 {
        let Some(encoded) = encoder
            .encode(&pattern.frame(n, 1_700_000_000_000 + n))
            .unwrap()
        else {
            continue;
        };
        assert_eq!((encoded.width, encoded.height), (640, 480));
        let decoded = decoder
            .decode(&encoded.data)
            .unwrap()
            .unwrap_or_else(|| panic!("access unit {n} gave no picture"));
        assert_eq!((decoded.width(), decoded.height()), (640, 480));
        let code = read_code(decoded.y_plane(), 640, 480, 640)
            .unwrap_or_else(|| panic!("frame code of frame {n} unreadable after H.264"));
        assert_eq!(u64::from(code.frame_number), encoded.frame_number);
        assert_eq!(code.capture_unix_ms, 1_700_000_000_000 + n);
        checked += 1;
    }
    assert!(
        checked >= 55,
        "only {checked} of 60 frames came out of the encoder"
    );
}

#[test]
fn forced_keyframes_are_honoured_once_per_interval() {
    let pattern = TestPattern::new(320, 240).unwrap();
    let mut encoder = H264Encoder::new(H264EncoderConfig {
        width: 320,
        height: 240,
        min_keyframe_interval: Duration::from_millis(500),
        ..Default::default()
    })
    .unwrap();
    let t0 = Instant::now();
    // Before the first frame a request is granted: the first picture is an IDR anyway.
    assert!(encoder.request_keyframe(t0));
    let mut number = 0;
    let mut next = |encoder: &mut H264Encoder| {
        number += 1;
        encoder
            .encode(&pattern.frame(number, 0))
            .unwrap()
            .map(|e| e.keyframe)
    };
    assert_eq!(next(&mut encoder), Some(true));
    for _ in 0..5 {
        assert_eq!(next(&mut encoder), Some(false), "no keyframe unless asked");
    }
    // Within the interval of the last granted request: refused, and no keyframe comes.
    assert!(!encoder.request_keyframe(t0 + Duration::from_millis(100)));
    assert_eq!(next(&mut encoder), Some(false));
    // After it: granted, and the very next frame is an IDR.
    assert!(encoder.request_keyframe(t0 + Duration::from_millis(600)));
    assert_eq!(next(&mut encoder), Some(true));
    assert_eq!(next(&mut encoder), Some(false));
    assert!(!encoder.request_keyframe(t0 + Duration::from_millis(900)));
    assert!(encoder.request_keyframe(t0 + Duration::from_millis(1100)));
    assert_eq!(next(&mut encoder), Some(true));
}

#[test]
fn periodic_keyframes_follow_the_gop() {
    let pattern = TestPattern::new(320, 240).unwrap();
    let mut encoder = H264Encoder::new(H264EncoderConfig {
        width: 320,
        height: 240,
        gop_frames: 10,
        ..Default::default()
    })
    .unwrap();
    let keyframes: Vec<u64> = (0..30)
        .filter_map(|n| encoder.encode(&pattern.frame(n, 0)).unwrap())
        .filter(|e| e.keyframe)
        .map(|e| e.frame_number)
        .collect();
    assert_eq!(keyframes, [0, 10, 20]);
}

/// The test pattern with strong per-frame noise, so that rate control, not the content,
/// decides how many bits a frame gets.
fn noisy_frame(pattern: &TestPattern, n: u64, seed: &mut u32) -> VideoFrame {
    let frame = pattern.frame(n, 0);
    let mut data = frame.data().to_vec();
    let luma = (frame.width() * frame.height()) as usize;
    for pixel in &mut data[..luma] {
        *seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let noise = ((*seed >> 16) % 61) as i32 - 30;
        *pixel = (i32::from(*pixel) + noise).clamp(16, 235) as u8;
    }
    VideoFrame::from_bytes(frame.width(), frame.height(), data.into(), n, 0).unwrap()
}

#[test]
fn set_bitrate_changes_the_output_rate_live() {
    let pattern = TestPattern::new(320, 240).unwrap();
    let mut encoder = H264Encoder::new(H264EncoderConfig {
        width: 320,
        height: 240,
        bitrate_bps: 1_500_000,
        min_bitrate_bps: 100_000,
        max_bitrate_bps: 2_000_000,
        ..Default::default()
    })
    .unwrap();
    let mut seed = 7;
    let mut number = 0;
    // Bytes produced over the last 60 of 90 frames (two seconds at 30 fps), after the
    // encoder settled at its rate.
    let mut window = |encoder: &mut H264Encoder| -> usize {
        let mut bytes = 0;
        for i in 0..90 {
            let frame = noisy_frame(&pattern, number, &mut seed);
            number += 1;
            if let Some(encoded) = encoder.encode(&frame).unwrap() {
                if i >= 30 {
                    bytes += encoded.data.len();
                }
            }
        }
        bytes
    };
    let high = window(&mut encoder);
    encoder.set_bitrate(200_000);
    assert_eq!(encoder.bitrate(), 200_000);
    let low = window(&mut encoder);
    encoder.set_bitrate(1_500_000);
    let high_again = window(&mut encoder);
    // Two seconds at 200 kbit/s is 50 kB; at 1.5 Mbit/s 375 kB.
    assert!(
        low * 3 < high,
        "lowering did not cut the rate: {high} then {low} bytes"
    );
    assert!(low < 100_000, "{low} bytes in 2 s is far above 200 kbit/s");
    assert!(
        high_again > 3 * low,
        "raising did not restore the rate: {low} then {high_again}"
    );
    // Out-of-range requests are clamped to the configured bounds.
    encoder.set_bitrate(10);
    assert_eq!(encoder.bitrate(), 100_000);
    encoder.set_bitrate(u32::MAX);
    assert_eq!(encoder.bitrate(), 2_000_000);
}

#[test]
fn set_bitrate_before_the_first_frame_is_kept() {
    let mut encoder = encoder(320, 240);
    encoder.set_bitrate(300_000);
    assert_eq!(encoder.bitrate(), 300_000);
    let frame = TestPattern::new(320, 240).unwrap().frame(0, 0);
    assert!(encoder.encode(&frame).unwrap().is_some_and(|e| e.keyframe));
}

fn tone_frames(frequency: f32, count: usize) -> Vec<AudioFrame> {
    let mut tone = ToneGenerator::new(frequency, 10_000).unwrap();
    (0..count).map(|_| tone.next_frame()).collect()
}

#[test]
fn opus_round_trip_keeps_the_tone() {
    let mut encoder = OpusEncoder::new().unwrap();
    let mut decoder = OpusDecoder::new().unwrap();
    let mut out = Vec::new();
    for frame in tone_frames(440.0, 50) {
        let packet = encoder.encode(&frame).unwrap();
        out.extend_from_slice(decoder.decode(&packet).unwrap().samples());
    }
    let hz = dominant_frequency(&out[FRAME_SAMPLES * 5..], SAMPLE_RATE);
    assert!((hz - 440.0).abs() <= 4.4, "440 Hz came back as {hz} Hz");
}

/// A sweep from 300 to 1500 Hz: it changes from frame to frame, as speech does, so
/// concealment cannot simply repeat the last period.
fn sweep_frames(count: usize) -> Vec<AudioFrame> {
    let total = count * FRAME_SAMPLES;
    let mut phase = 0.0f64;
    let samples: Vec<i16> = (0..total)
        .map(|i| {
            let frequency = 300.0 + 1200.0 * i as f64 / total as f64;
            phase += frequency / f64::from(SAMPLE_RATE);
            (10_000.0 * (std::f64::consts::TAU * phase).sin()) as i16
        })
        .collect();
    AudioFrame::split(&samples)
}

fn error_energy(a: &AudioFrame, b: &AudioFrame) -> f64 {
    a.samples()
        .iter()
        .zip(b.samples())
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum()
}

#[test]
fn fec_recovers_a_lost_packet_better_than_concealment() {
    let frames = sweep_frames(60);
    let mut encoder = OpusEncoder::new().unwrap();
    let packets: Vec<_> = frames.iter().map(|f| encoder.encode(f).unwrap()).collect();
    let (mut fec_total, mut plc_total) = (0.0, 0.0);
    for lost in [20usize, 33, 47] {
        let mut reference = OpusDecoder::new().unwrap();
        let mut with_fec = OpusDecoder::new().unwrap();
        let mut with_plc = OpusDecoder::new().unwrap();
        for packet in &packets[..lost] {
            reference.decode(packet).unwrap();
            with_fec.decode(packet).unwrap();
            with_plc.decode(packet).unwrap();
        }
        let truth = reference.decode(&packets[lost]).unwrap();
        let recovered = with_fec.decode_fec(&packets[lost + 1]).unwrap();
        let concealed = with_plc.conceal().unwrap();
        let (fec, plc) = (
            error_energy(&recovered, &truth),
            error_energy(&concealed, &truth),
        );
        assert!(
            fec < plc,
            "packet {lost}: FEC error {fec:.3e} vs concealment {plc:.3e}"
        );
        fec_total += fec;
        plc_total += plc;
        // The stream goes on normally after the gap.
        assert!(with_fec.decode(&packets[lost + 1]).is_ok());
    }
    assert!(
        fec_total * 2.0 < plc_total,
        "FEC should at least halve the error: {fec_total:.3e} vs {plc_total:.3e}"
    );
}
