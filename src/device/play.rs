//! `roombell play`: the microphone (or a tone, or a WAV) on the speaker, through the same Opus
//! encoder, jitter buffer, decoder, mixer and speaker loop a call uses, to check a speaker (and,
//! with the ALSA microphone, the whole intercom path) without a room. The counterpart of
//! `roombell record`, which checks the camera and the microphone.

use super::playback::{lock, play_mixer, playout_stats, SpeakerHealth};
use super::playout::{PlayoutMixer, PlayoutStats};
use crate::media::codec_error::CodecError;
use crate::media::frame::FRAME_SAMPLES;
use crate::media::opus_codec::OpusEncoder;
use crate::media::source::{
    open_audio_sink, open_audio_source, AudioSinkConfig, AudioSourceConfig, SourceError,
};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest `roombell play` run: an installer's check, not a radio.
pub const MAX_SECONDS: f64 = 3600.0;

/// The talker name the played audio gets in the mixer.
const LOCAL_TALKER: &str = "roombell-play";

/// Time for the jitter buffer to play out its last packets before the speaker stops.
const DRAIN: Duration = Duration::from_millis(300);

/// Why `roombell play` stopped early.
#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    #[error("--seconds {0} is not valid: give a duration above 0 and at most {MAX_SECONDS}")]
    BadSeconds(f64),
    #[error("audio source: {0}")]
    Source(SourceError),
    #[error("speaker: {0}")]
    Speaker(SourceError),
    #[error("Opus encoder: {0}")]
    Encoder(CodecError),
    #[error("cannot start the speaker thread: {0}")]
    Thread(std::io::Error),
    #[error("the speaker thread panicked")]
    SpeakerPanicked,
}

/// What was played and how the speaker coped.
#[derive(Debug, Clone)]
pub struct PlayReport {
    pub source: String,
    pub speaker: String,
    pub seconds: f64,
    pub wall_seconds: f64,
    /// 20 ms frames read from the source (each one Opus packet).
    pub packets_sent: u64,
    pub playout: PlayoutStats,
    /// 20 ms frames written to the speaker (silence included).
    pub frames_written: u64,
    /// Underruns the sink recovered from (ALSA's xruns).
    pub xruns: u64,
    /// Speaker writes that blocked over 100 ms.
    pub stalls: u64,
}

impl fmt::Display for PlayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "played {:.1} s in {:.2} s: {} -> {}",
            self.seconds, self.wall_seconds, self.source, self.speaker
        )?;
        writeln!(
            f,
            "  {} Opus packets sent, {} decoded, {} recovered by FEC, {} concealed, {} decode errors",
            self.packets_sent,
            self.playout.packets_decoded,
            self.playout.recovered_by_fec,
            self.playout.concealed,
            self.playout.decode_errors
        )?;
        write!(
            f,
            "  speaker: {} frames written, {} xruns recovered, {} stalls over 100 ms",
            self.frames_written, self.xruns, self.stalls
        )
    }
}

/// Plays `seconds` of `source` on `speaker`, in real time.
pub fn play(
    source: &AudioSourceConfig,
    speaker: &AudioSinkConfig,
    seconds: f64,
) -> Result<PlayReport, PlayError> {
    if !(seconds > 0.0 && seconds <= MAX_SECONDS) {
        return Err(PlayError::BadSeconds(seconds));
    }
    let mut input = open_audio_source(source).map_err(PlayError::Source)?;
    let mut sink = open_audio_sink(speaker).map_err(PlayError::Speaker)?;
    let mut encoder = OpusEncoder::new().map_err(PlayError::Encoder)?;
    let source_name = input.describe();
    let speaker_name = sink.describe();
    tracing::info!(source = %source_name, speaker = %speaker_name, seconds, "playing");

    let mixer = Arc::new(Mutex::new(PlayoutMixer::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let health = Arc::new(SpeakerHealth::default());
    let speaker_thread = {
        let (mixer, stop, health) = (mixer.clone(), stop.clone(), health.clone());
        std::thread::Builder::new()
            .name("roombell-speaker".into())
            .spawn(move || {
                let played = play_mixer(sink.as_mut(), &mixer, &stop, &health);
                let finished = sink.finish();
                played.and(finished)
            })
            .map_err(PlayError::Thread)?
    };

    let started = Instant::now();
    let packets = (seconds * 50.0).ceil() as u64;
    let mut sent = 0u64;
    let fed = (|| {
        while sent < packets {
            let frame = input.read_frame().map_err(PlayError::Source)?;
            let payload = encoder.encode(&frame).map_err(PlayError::Encoder)?;
            // Sequence numbers and timestamps as an RTP sender stamps them.
            lock(&mixer).push(
                LOCAL_TALKER,
                sent as u16,
                (sent as u32).wrapping_mul(FRAME_SAMPLES as u32),
                payload,
                Instant::now(),
            );
            sent += 1;
            if speaker_thread.is_finished() {
                break;
            }
        }
        Ok(())
    })();
    if fed.is_ok() {
        std::thread::sleep(DRAIN);
    }
    stop.store(true, Ordering::Relaxed);
    let speaker_result = speaker_thread.join();
    fed?;
    speaker_result
        .map_err(|_| PlayError::SpeakerPanicked)?
        .map_err(PlayError::Speaker)?;
    let playout = playout_stats(&mixer);
    Ok(PlayReport {
        source: source_name,
        speaker: speaker_name,
        seconds: sent as f64 / 50.0,
        wall_seconds: started.elapsed().as_secs_f64(),
        packets_sent: sent,
        playout,
        frames_written: health.frames_written(),
        xruns: health.xruns(),
        stalls: health.stalls(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tone::dominant_frequency;

    fn wav_speaker(path: &std::path::Path) -> AudioSinkConfig {
        AudioSinkConfig {
            backend: "wav".into(),
            file: Some(path.to_owned()),
            ..AudioSinkConfig::default()
        }
    }

    fn tone(hz: f32) -> AudioSourceConfig {
        AudioSourceConfig {
            backend: "tone".into(),
            tone_hz: hz,
            ..AudioSourceConfig::default()
        }
    }

    #[test]
    fn a_tone_comes_out_of_the_speaker_through_opus_and_the_jitter_buffer() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("speaker.wav");
        let report = play(&tone(1000.0), &wav_speaker(&out), 1.0).expect("play");
        assert_eq!(report.packets_sent, 50);
        assert!(
            report.playout.packets_decoded >= 45,
            "decoded {:?}",
            report.playout
        );
        assert_eq!(report.xruns, 0);
        let file = std::fs::File::open(&out).expect("the speaker's WAV");
        let samples = crate::media::wav::read_wav(file).expect("a WAV").samples;
        // Skip the jitter buffer's start-up silence; the rest is the tone.
        let played = &samples[samples.len() / 2..];
        let hz = dominant_frequency(played, 48_000);
        assert!((hz - 1000.0).abs() < 20.0, "played {hz} Hz");
        let text = report.to_string();
        assert!(text.contains("50 Opus packets sent"), "{text}");
        assert!(text.contains("0 xruns recovered"), "{text}");
    }

    #[test]
    fn a_bad_duration_or_speaker_is_a_typed_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("speaker.wav");
        for seconds in [0.0, -1.0, f64::NAN, MAX_SECONDS + 1.0] {
            assert!(matches!(
                play(&tone(440.0), &wav_speaker(&out), seconds),
                Err(PlayError::BadSeconds(_))
            ));
        }
        let missing = dir.path().join("no/such/dir/speaker.wav");
        let error = play(&tone(440.0), &wav_speaker(&missing), 1.0).expect_err("no directory");
        assert!(matches!(error, PlayError::Speaker(_)), "{error}");
        let unknown = AudioSinkConfig {
            backend: "bluetooth".into(),
            ..AudioSinkConfig::default()
        };
        let error = play(&tone(440.0), &unknown, 1.0).expect_err("unknown backend");
        assert!(error.to_string().contains("bluetooth"), "{error}");
    }
}
