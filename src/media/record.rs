//! `roombell record`: capture and encode without a room, to files. The first thing to run on a
//! new board: it shows that the camera and microphone deliver and what encoding costs.
//!
//! Video and audio run in parallel on plain threads: the video source on one thread handing
//! frames through a [`LatestSlot`] to the H.264 encoder on the caller's thread (latest frame
//! wins, as in the daemon), the audio source and Opus encoder on a third. Output is an Annex-B
//! `.h264` file and an Ogg Opus file, both playable by ffmpeg and browsers.
//!
//! Unpaced (`paced = false`) the test, y4m, tone and wav sources run as fast as the encoders
//! take their frames and nothing is dropped: N seconds of media in as little time as the CPU
//! allows, which is what the benchmarks measure. Devices always run in real time.

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rtc::media::io::ogg_writer::OggWriter;
use rtc::media::io::Writer as _;
use rtc::rtp::header::Header;
use rtc::rtp::packet::Packet;

use super::codec_error::CodecError;
use super::frame::{FRAME_SAMPLES, SAMPLE_RATE};
use super::h264::{H264Encoder, H264EncoderConfig};
use super::latest::LatestSlot;
use super::opus_codec::OpusEncoder;
use super::pacing::Pacing;
use super::source::{
    open_audio_source_with, open_video_source_with, AudioSource, AudioSourceConfig, SourceError,
    VideoSource, VideoSourceConfig,
};

/// Longest recording accepted: a day.
pub const MAX_SECONDS: f64 = 86_400.0;
/// RTP payload type written into the packets handed to the Ogg writer (it ignores it).
const OPUS_PAYLOAD_TYPE: u8 = 111;

/// Why a recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The duration is not usable.
    #[error("--seconds {0} is not valid: give a duration above 0 and at most {MAX_SECONDS}")]
    BadSeconds(f64),
    /// Neither a video nor an audio output was given.
    #[error("nothing to record: give a video output (--video out.h264), an audio output (--audio out.ogg), or both")]
    NothingToRecord,
    /// The camera or its stand-in failed.
    #[error("video source: {0}")]
    VideoSource(SourceError),
    /// The microphone or its stand-in failed.
    #[error("audio source: {0}")]
    AudioSource(SourceError),
    /// The H.264 encoder failed.
    #[error("video encoder: {0}")]
    VideoCodec(CodecError),
    /// The Opus encoder failed.
    #[error("audio encoder: {0}")]
    AudioCodec(CodecError),
    /// An output file could not be written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The Ogg writer failed.
    #[error("writing Ogg Opus to {}: {message}", path.display())]
    Ogg {
        /// The file.
        path: PathBuf,
        /// The writer's message.
        message: String,
    },
    /// A recording thread panicked (a bug).
    #[error("the {0} thread panicked")]
    Panicked(&'static str),
}

/// What a recording did, printed by `roombell record`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordReport {
    /// Media duration asked for.
    pub seconds: f64,
    /// Wall-clock time the recording took.
    pub wall_seconds: f64,
    /// The video source's description; `None` when video was not recorded.
    pub video_source: Option<String>,
    /// Frames the video source delivered.
    pub frames_captured: u64,
    /// Frames that came out of the encoder.
    pub frames_encoded: u64,
    /// IDR frames among them.
    pub keyframes: u64,
    /// Frames rate control chose to skip.
    pub frames_skipped: u64,
    /// Frames replaced in the hand-off before the encoder took them (it was busy).
    pub frames_dropped: u64,
    /// Mean time per encoder call, milliseconds.
    pub mean_encode_ms: f64,
    /// Longest encoder call, milliseconds.
    pub max_encode_ms: f64,
    /// Bytes of H.264 written.
    pub video_bytes: u64,
    /// The audio source's description; `None` when audio was not recorded.
    pub audio_source: Option<String>,
    /// 20 ms frames the audio source delivered.
    pub audio_frames_captured: u64,
    /// Opus packets written.
    pub audio_packets: u64,
    /// Bytes of Opus payload written (without Ogg framing).
    pub audio_bytes: u64,
    /// Audio overruns the source recovered from.
    pub audio_xruns: u64,
}

impl fmt::Display for RecordReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "recorded {:.1} s of media in {:.2} s",
            self.seconds, self.wall_seconds
        )?;
        if let Some(source) = &self.video_source {
            writeln!(f, "video: {source}")?;
            writeln!(
                f,
                "  frames: {} captured, {} encoded ({} keyframe{}), {} skipped by rate control, {} dropped while the encoder was busy",
                self.frames_captured,
                self.frames_encoded,
                self.keyframes,
                if self.keyframes == 1 { "" } else { "s" },
                self.frames_skipped,
                self.frames_dropped
            )?;
            writeln!(
                f,
                "  encode: mean {:.2} ms/frame, max {:.2} ms; {:.1} kB ({:.0} kbit/s)",
                self.mean_encode_ms,
                self.max_encode_ms,
                self.video_bytes as f64 / 1000.0,
                rate_kbps(self.video_bytes, self.seconds)
            )?;
        }
        if let Some(source) = &self.audio_source {
            writeln!(f, "audio: {source}")?;
            writeln!(
                f,
                "  {} frames captured ({} overruns), {} Opus packets, {:.1} kB ({:.0} kbit/s)",
                self.audio_frames_captured,
                self.audio_xruns,
                self.audio_packets,
                self.audio_bytes as f64 / 1000.0,
                rate_kbps(self.audio_bytes, self.seconds)
            )?;
        }
        Ok(())
    }
}

fn rate_kbps(bytes: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        bytes as f64 * 8.0 / seconds / 1000.0
    } else {
        0.0
    }
}

fn create(path: &Path) -> Result<BufWriter<File>, RecordError> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(|source| RecordError::Io {
            what: "cannot create",
            path: path.to_owned(),
            source,
        })
}

/// Everything the video half needs, opened before any thread starts.
struct VideoJob {
    source: Box<dyn VideoSource>,
    encoder: H264Encoder,
    out: BufWriter<File>,
    path: PathBuf,
    frames: u64,
}

/// Everything the audio half needs, opened before any thread starts.
struct AudioJob {
    source: Box<dyn AudioSource>,
    encoder: OpusEncoder,
    out: OggWriter<BufWriter<File>>,
    path: PathBuf,
    frames: u64,
}

/// Records `seconds` of media: video to `video_out` (Annex-B H.264) and audio to `audio_out`
/// (Ogg Opus, 48 kHz mono). A stream without an output is not captured. The encoder's size and
/// rate are taken from the video source; its bitrate and keyframe settings from `encoder`.
pub fn record(
    video: &VideoSourceConfig,
    audio: &AudioSourceConfig,
    encoder: &H264EncoderConfig,
    seconds: f64,
    video_out: Option<&Path>,
    audio_out: Option<&Path>,
    paced: bool,
) -> Result<RecordReport, RecordError> {
    if !(seconds > 0.0 && seconds <= MAX_SECONDS) {
        return Err(RecordError::BadSeconds(seconds));
    }
    if video_out.is_none() && audio_out.is_none() {
        return Err(RecordError::NothingToRecord);
    }
    let pacing = if paced {
        Pacing::RealTime
    } else {
        Pacing::AsFastAsPossible
    };
    // Open everything first: a missing camera or an unwritable path fails before any thread
    // starts or any file is half written.
    let video_job = video_out
        .map(|path| open_video(video, encoder, pacing, seconds, path))
        .transpose()?;
    let audio_job = audio_out
        .map(|path| open_audio(audio, pacing, seconds, path))
        .transpose()?;

    let mut report = RecordReport {
        seconds,
        ..Default::default()
    };
    let started = Instant::now();
    std::thread::scope(|scope| -> Result<(), RecordError> {
        let audio_thread = audio_job.map(|job| {
            std::thread::Builder::new()
                .name("record-audio".into())
                .spawn_scoped(scope, move || run_audio(job))
        });
        let video_result = video_job.map(|job| run_video(scope, job, pacing, &mut report));
        let audio_result = match audio_thread {
            None => None,
            Some(Err(e)) => Some(Err(RecordError::Io {
                what: "cannot start the audio thread for",
                path: audio_out.map(Path::to_owned).unwrap_or_default(),
                source: e,
            })),
            Some(Ok(handle)) => Some(handle.join().unwrap_or(Err(RecordError::Panicked("audio")))),
        };
        if let Some(result) = video_result {
            result?;
        }
        if let Some(result) = audio_result {
            let stats = result?;
            report.audio_source = Some(stats.source);
            report.audio_frames_captured = stats.captured;
            report.audio_packets = stats.packets;
            report.audio_bytes = stats.bytes;
            report.audio_xruns = stats.xruns;
        }
        Ok(())
    })?;
    report.wall_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn open_video(
    config: &VideoSourceConfig,
    encoder: &H264EncoderConfig,
    pacing: Pacing,
    seconds: f64,
    path: &Path,
) -> Result<VideoJob, RecordError> {
    let source = open_video_source_with(config, pacing).map_err(RecordError::VideoSource)?;
    let (width, height) = source.size();
    let fps = source.fps();
    let encoder = H264Encoder::new(H264EncoderConfig {
        width,
        height,
        fps,
        ..encoder.clone()
    })
    .map_err(RecordError::VideoCodec)?;
    Ok(VideoJob {
        source,
        encoder,
        out: create(path)?,
        path: path.to_owned(),
        frames: (seconds * f64::from(fps)).ceil() as u64,
    })
}

fn open_audio(
    config: &AudioSourceConfig,
    pacing: Pacing,
    seconds: f64,
    path: &Path,
) -> Result<AudioJob, RecordError> {
    let source = open_audio_source_with(config, pacing).map_err(RecordError::AudioSource)?;
    let encoder = OpusEncoder::new().map_err(RecordError::AudioCodec)?;
    let out = OggWriter::new(create(path)?, SAMPLE_RATE, 1).map_err(|e| RecordError::Ogg {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let frame_seconds = FRAME_SAMPLES as f64 / f64::from(SAMPLE_RATE);
    Ok(AudioJob {
        source,
        encoder,
        out,
        path: path.to_owned(),
        frames: (seconds / frame_seconds).ceil() as u64,
    })
}

/// Captures on a scoped thread and encodes on this one; fills the video half of `report`.
fn run_video<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    job: VideoJob,
    pacing: Pacing,
    report: &mut RecordReport,
) -> Result<(), RecordError> {
    let VideoJob {
        mut source,
        mut encoder,
        mut out,
        path,
        frames,
    } = job;
    report.video_source = Some(source.describe());
    let slot = LatestSlot::new();
    let producer = slot.clone();
    let capture = std::thread::Builder::new()
        .name("record-video".into())
        .spawn_scoped(scope, move || {
            let mut captured = 0u64;
            let mut result = Ok(());
            while captured < frames && !producer.is_closed() {
                match source.next_frame() {
                    Ok(frame) => {
                        captured += 1;
                        match pacing {
                            // Real time: the encoder gets the freshest frame, as in the daemon.
                            Pacing::RealTime => {
                                producer.put(frame);
                            }
                            // Offline: wait for the encoder, lose nothing.
                            Pacing::AsFastAsPossible => {
                                producer.put_when_empty(frame);
                            }
                        }
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            producer.close();
            result.map(|()| captured)
        })
        .map_err(|source| RecordError::Io {
            what: "cannot start the capture thread for",
            path: path.clone(),
            source,
        })?;

    let mut encode_total = Duration::ZERO;
    let mut encode_calls = 0u64;
    let mut outcome = Ok(());
    while let Some(frame) = slot.wait_take() {
        let started = Instant::now();
        let encoded = encoder.encode(&frame);
        let took = started.elapsed();
        encode_total += took;
        encode_calls += 1;
        report.max_encode_ms = report.max_encode_ms.max(took.as_secs_f64() * 1000.0);
        match encoded {
            Ok(Some(encoded)) => {
                report.frames_encoded += 1;
                report.keyframes += u64::from(encoded.keyframe);
                report.video_bytes += encoded.data.len() as u64;
                if let Err(source) = out.write_all(&encoded.data) {
                    outcome = Err(RecordError::Io {
                        what: "cannot write",
                        path: path.clone(),
                        source,
                    });
                }
            }
            Ok(None) => report.frames_skipped += 1,
            Err(e) => outcome = Err(RecordError::VideoCodec(e)),
        }
        if outcome.is_err() {
            // Stop the capture thread too.
            slot.close();
            break;
        }
    }
    let captured = match capture.join() {
        Ok(result) => result.map_err(RecordError::VideoSource),
        Err(_) => Err(RecordError::Panicked("video capture")),
    };
    outcome?;
    report.frames_captured = captured?;
    report.frames_dropped = slot.dropped();
    if encode_calls > 0 {
        report.mean_encode_ms = encode_total.as_secs_f64() * 1000.0 / encode_calls as f64;
    }
    out.flush().map_err(|source| RecordError::Io {
        what: "cannot write",
        path,
        source,
    })
}

/// The audio half's counters.
struct AudioStats {
    source: String,
    captured: u64,
    packets: u64,
    bytes: u64,
    xruns: u64,
}

fn run_audio(job: AudioJob) -> Result<AudioStats, RecordError> {
    let AudioJob {
        mut source,
        mut encoder,
        mut out,
        path,
        frames,
    } = job;
    let ogg_error = |e: rtc::shared::error::Error| RecordError::Ogg {
        path: path.clone(),
        message: e.to_string(),
    };
    let mut stats = AudioStats {
        source: source.describe(),
        captured: 0,
        packets: 0,
        bytes: 0,
        xruns: 0,
    };
    for n in 0..frames {
        let frame = source.read_frame().map_err(RecordError::AudioSource)?;
        stats.captured += 1;
        let payload = encoder.encode(&frame).map_err(RecordError::AudioCodec)?;
        stats.bytes += payload.len() as u64;
        // The Ogg writer takes RTP packets and derives granule positions from their timestamps.
        let packet = Packet {
            header: Header {
                version: 2,
                payload_type: OPUS_PAYLOAD_TYPE,
                sequence_number: n as u16,
                timestamp: (n * FRAME_SAMPLES as u64) as u32,
                ..Default::default()
            },
            payload,
        };
        out.write_rtp(&packet).map_err(ogg_error)?;
        stats.packets += 1;
    }
    stats.xruns = source.xruns();
    out.close().map_err(ogg_error)?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_arguments_are_refused_before_anything_opens() {
        let video = VideoSourceConfig::default();
        let audio = AudioSourceConfig::default();
        let encoder = H264EncoderConfig::default();
        let out = Path::new("/nonexistent-dir/out.h264");
        for seconds in [0.0, -1.0, f64::NAN, 1e9] {
            assert!(matches!(
                record(&video, &audio, &encoder, seconds, Some(out), None, false),
                Err(RecordError::BadSeconds(_))
            ));
        }
        assert!(matches!(
            record(&video, &audio, &encoder, 1.0, None, None, false),
            Err(RecordError::NothingToRecord)
        ));
        let error = record(&video, &audio, &encoder, 1.0, Some(out), None, false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains("cannot create /nonexistent-dir/out.h264"),
            "{error}"
        );
    }

    #[test]
    fn unpaced_short_recording_counts_everything() {
        let dir = tempfile::tempdir().unwrap();
        let video_path = dir.path().join("v.h264");
        let audio_path = dir.path().join("a.ogg");
        let video = VideoSourceConfig {
            width: 160,
            height: 120,
            fps: 10,
            ..Default::default()
        };
        let encoder = H264EncoderConfig::default();
        let report = record(
            &video,
            &AudioSourceConfig::default(),
            &encoder,
            1.0,
            Some(&video_path),
            Some(&audio_path),
            false,
        )
        .unwrap();
        assert_eq!(report.frames_captured, 10);
        assert_eq!(report.frames_dropped, 0);
        assert_eq!(report.frames_encoded + report.frames_skipped, 10);
        assert!(report.keyframes >= 1);
        assert_eq!(
            (report.audio_frames_captured, report.audio_packets),
            (50, 50)
        );
        let h264 = std::fs::read(&video_path).unwrap();
        assert_eq!(h264.len() as u64, report.video_bytes);
        assert_eq!(&h264[..4], &[0, 0, 0, 1]);
        let ogg = std::fs::read(&audio_path).unwrap();
        assert_eq!(&ogg[..4], b"OggS");
        let text = report.to_string();
        assert!(text.contains("10 captured"), "{text}");
        assert!(text.contains("50 Opus packets"), "{text}");
    }
}
