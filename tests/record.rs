//! `record` writes files Debian's ffmpeg decodes: the acceptance check.

use std::path::Path;
use std::process::Command;

use roombell::media::frame::SAMPLE_RATE;
use roombell::media::h264::H264EncoderConfig;
use roombell::media::record::record;
use roombell::media::source::{AudioSourceConfig, VideoSourceConfig};
use roombell::media::tone::dominant_frequency;

/// Runs a Debian tool, failing with the fix when it is not installed.
fn run(tool: &str, args: &[&str]) -> Vec<u8> {
    let output = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {tool} ({e}): install it with scripts/setup.sh (Debian package ffmpeg)")
    });
    assert!(
        output.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn ffprobe_video(path: &Path) -> serde_json::Value {
    let out = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames,width,height",
            "-of",
            "json",
            &path.display().to_string(),
        ],
    );
    let json: serde_json::Value = serde_json::from_slice(&out).expect("ffprobe JSON");
    json["streams"][0].clone()
}

fn ffmpeg_pcm(path: &Path) -> Vec<i16> {
    let out = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            &path.display().to_string(),
            "-f",
            "s16le",
            "-ac",
            "1",
            "-ar",
            "48000",
            "-",
        ],
    );
    out.chunks_exact(2)
        .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
        .collect()
}

#[test]
fn three_seconds_of_test_and_tone_decode_with_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let (video_path, audio_path) = (dir.path().join("out.h264"), dir.path().join("out.ogg"));
    let video = VideoSourceConfig::default();
    assert_eq!(
        (video.backend.as_str(), video.width, video.height, video.fps),
        ("test", 640, 480, 30)
    );
    let audio = AudioSourceConfig::default();
    assert_eq!((audio.backend.as_str(), audio.tone_hz), ("tone", 440.0));
    let report = record(
        &video,
        &audio,
        &H264EncoderConfig::default(),
        3.0,
        Some(&video_path),
        Some(&audio_path),
        true,
    )
    .expect("record");
    println!("{report}");
    assert_eq!(report.frames_captured, 90);
    assert!(report.wall_seconds >= 2.9, "paced: {report:?}");

    let stream = ffprobe_video(&video_path);
    let frames: u64 = stream["nb_read_frames"]
        .as_str()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no frame count in {stream}"));
    assert!(frames >= 85, "ffprobe read {frames} frames: {report}");
    assert_eq!(frames, report.frames_encoded);
    assert_eq!(
        (stream["width"].as_u64(), stream["height"].as_u64()),
        (Some(640), Some(480))
    );

    let pcm = ffmpeg_pcm(&audio_path);
    assert!(
        pcm.len() as u32 >= 2 * SAMPLE_RATE,
        "only {} samples decoded",
        pcm.len()
    );
    let hz = dominant_frequency(&pcm, SAMPLE_RATE);
    assert!(
        (hz - 440.0).abs() <= 8.8,
        "the Ogg Opus file decodes to {hz} Hz"
    );
}

#[test]
fn unpaced_recording_is_faster_than_real_time_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let video_path = dir.path().join("fast.h264");
    let video = VideoSourceConfig {
        width: 320,
        height: 240,
        ..Default::default()
    };
    let report = record(
        &video,
        &AudioSourceConfig::default(),
        &H264EncoderConfig::default(),
        2.0,
        Some(&video_path),
        None,
        false,
    )
    .expect("record");
    assert_eq!((report.frames_captured, report.frames_dropped), (60, 0));
    assert!(report.wall_seconds < 2.0, "{report}");
    assert_eq!(report.audio_source, None);
    let stream = ffprobe_video(&video_path);
    assert_eq!(
        stream["nb_read_frames"].as_str(),
        Some(report.frames_encoded.to_string().as_str())
    );
}
