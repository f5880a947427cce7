//! Backends that need neither a device nor a file: the `test` video source, the `tone` audio
//! source and the `null` audio sink. They are what `roombell demo` and the tests run on.

use std::time::Duration;

use super::frame::{AudioFrame, VideoFrame, FRAME_MS};
use super::pacing::{unix_ms, DeadlineClock, Pacing};
use super::source::{
    AudioSink, AudioSinkConfig, AudioSource, AudioSourceConfig, SourceError, VideoSource,
    VideoSourceConfig,
};
use super::test_pattern::{PatternError, TestPattern};
use super::tone::ToneGenerator;

/// How far an audio consumer may fall behind before the clock stops catching up: a stall
/// shorter than this is made up for (audio keeps its average rate), a longer one is skipped.
const AUDIO_MAX_LAG: Duration = Duration::from_millis(200);
/// Peak of the `tone` source: about -10 dBFS, loud enough to measure, far from clipping.
const TONE_AMPLITUDE: i16 = 10_000;

/// The audio frame interval.
pub(crate) fn audio_clock() -> DeadlineClock {
    DeadlineClock::every(Duration::from_millis(FRAME_MS), AUDIO_MAX_LAG)
}

/// A video clock that, like a camera, never delivers a burst: more than one frame late and it
/// starts over from the present.
pub(crate) fn video_clock(fps: u32) -> DeadlineClock {
    DeadlineClock::per_second(
        fps,
        Duration::from_nanos(1_000_000_000 / u64::from(fps.max(1))),
    )
}

/// The moving test pattern, stamped with each frame's number and capture time.
pub struct TestVideoSource {
    pattern: TestPattern,
    width: u32,
    height: u32,
    fps: u32,
    clock: Option<DeadlineClock>,
    next_number: u64,
}

impl TestVideoSource {
    /// Checks the size and rate and prepares the pattern.
    pub fn new(config: &VideoSourceConfig, pacing: Pacing) -> Result<Self, SourceError> {
        config.validate()?;
        let pattern = TestPattern::new(config.width, config.height).map_err(|e| match e {
            PatternError::TooSmall { width, height } => SourceError::BadConfig {
                key: "video.width",
                value: format!("{width}x{height}"),
                accepted: "at least 80x60 for the test pattern's frame code".into(),
            },
            PatternError::Size(e) => SourceError::BadConfig {
                key: "video.width",
                value: format!("{}x{}", config.width, config.height),
                accepted: e.to_string(),
            },
        })?;
        Ok(Self {
            pattern,
            width: config.width,
            height: config.height,
            fps: config.fps,
            clock: (pacing == Pacing::RealTime).then(|| video_clock(config.fps)),
            next_number: 0,
        })
    }
}

impl VideoSource for TestVideoSource {
    fn next_frame(&mut self) -> Result<VideoFrame, SourceError> {
        if let Some(clock) = self.clock.as_mut() {
            clock.wait();
        }
        let frame = self.pattern.frame(self.next_number, unix_ms());
        self.next_number += 1;
        Ok(frame)
    }

    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn fps(&self) -> u32 {
        self.fps
    }

    fn describe(&self) -> String {
        let pacing = if self.clock.is_some() {
            ""
        } else {
            ", unpaced"
        };
        format!(
            "test pattern {}x{}@{}{pacing}",
            self.width, self.height, self.fps
        )
    }
}

/// Opens the `test` video source.
pub fn open_test_video(
    config: &VideoSourceConfig,
    pacing: Pacing,
) -> Result<Box<dyn VideoSource>, SourceError> {
    Ok(Box::new(TestVideoSource::new(config, pacing)?))
}

/// A sine at the configured frequency.
pub struct ToneSource {
    generator: ToneGenerator,
    frequency: f32,
    clock: Option<DeadlineClock>,
}

impl ToneSource {
    /// Checks the frequency (above 0, below 24 kHz).
    pub fn new(config: &AudioSourceConfig, pacing: Pacing) -> Result<Self, SourceError> {
        let generator = ToneGenerator::new(config.tone_hz, TONE_AMPLITUDE).map_err(|_| {
            SourceError::BadConfig {
                key: "audio.tone_hz",
                value: config.tone_hz.to_string(),
                accepted: "a frequency above 0 and below 24000 Hz".into(),
            }
        })?;
        Ok(Self {
            generator,
            frequency: config.tone_hz,
            clock: (pacing == Pacing::RealTime).then(audio_clock),
        })
    }
}

impl AudioSource for ToneSource {
    fn read_frame(&mut self) -> Result<AudioFrame, SourceError> {
        if let Some(clock) = self.clock.as_mut() {
            clock.wait();
        }
        Ok(self.generator.next_frame())
    }

    fn describe(&self) -> String {
        format!("tone {} Hz", self.frequency)
    }
}

/// Opens the `tone` audio source.
pub fn open_tone(
    config: &AudioSourceConfig,
    pacing: Pacing,
) -> Result<Box<dyn AudioSource>, SourceError> {
    Ok(Box::new(ToneSource::new(config, pacing)?))
}

/// Discards audio, taking it at the pace a sound card would.
pub struct NullSink {
    clock: Option<DeadlineClock>,
    frames: u64,
}

impl NullSink {
    /// A sink that keeps real time unless `pacing` says otherwise.
    pub fn new(pacing: Pacing) -> Self {
        Self {
            clock: (pacing == Pacing::RealTime).then(audio_clock),
            frames: 0,
        }
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }
}

impl AudioSink for NullSink {
    fn write_frame(&mut self, _frame: &AudioFrame) -> Result<(), SourceError> {
        if let Some(clock) = self.clock.as_mut() {
            clock.wait();
        }
        self.frames += 1;
        Ok(())
    }

    fn describe(&self) -> String {
        "null (audio discarded)".into()
    }
}

/// Opens the `null` audio sink.
pub fn open_null_sink(
    _config: &AudioSinkConfig,
    pacing: Pacing,
) -> Result<Box<dyn AudioSink>, SourceError> {
    Ok(Box::new(NullSink::new(pacing)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::frame::SAMPLE_RATE;
    use crate::media::test_pattern::read_code;
    use crate::media::tone::dominant_frequency;
    use std::time::Instant;

    #[test]
    fn test_frames_carry_their_number_and_time() {
        let config = VideoSourceConfig {
            width: 320,
            height: 240,
            ..Default::default()
        };
        let mut source = TestVideoSource::new(&config, Pacing::AsFastAsPossible).unwrap();
        let before = unix_ms();
        for n in 0..3 {
            let frame = source.next_frame().unwrap();
            let code = read_code(frame.y_plane(), 320, 240, 320).unwrap();
            assert_eq!(u64::from(code.frame_number), n);
            assert_eq!(code.capture_unix_ms, frame.capture_unix_ms());
            assert!(frame.capture_unix_ms() >= before);
        }
        assert_eq!(source.size(), (320, 240));
    }

    #[test]
    fn real_time_sources_keep_the_rate() {
        let config = VideoSourceConfig {
            width: 160,
            height: 120,
            fps: 50,
            ..Default::default()
        };
        let mut video = TestVideoSource::new(&config, Pacing::RealTime).unwrap();
        let mut tone = ToneSource::new(&AudioSourceConfig::default(), Pacing::RealTime).unwrap();
        let start = Instant::now();
        // Frames 0..=5 at 50 fps: the last is due 100 ms after the first.
        for _ in 0..6 {
            video.next_frame().unwrap();
            tone.read_frame().unwrap();
        }
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(100) && elapsed < Duration::from_millis(400),
            "{elapsed:?}"
        );
    }

    #[test]
    fn tone_source_plays_its_frequency_and_refuses_bad_ones() {
        let config = AudioSourceConfig {
            tone_hz: 1000.0,
            ..Default::default()
        };
        let mut tone = ToneSource::new(&config, Pacing::AsFastAsPossible).unwrap();
        let samples: Vec<i16> = (0..10)
            .flat_map(|_| tone.read_frame().unwrap().samples().to_vec())
            .collect();
        let hz = dominant_frequency(&samples, SAMPLE_RATE);
        assert!((hz - 1000.0).abs() < 1.0, "{hz}");
        let bad = AudioSourceConfig {
            tone_hz: 30_000.0,
            ..Default::default()
        };
        let error = ToneSource::new(&bad, Pacing::RealTime).err().unwrap();
        assert!(error.to_string().contains("audio.tone_hz"), "{error}");
    }

    #[test]
    fn too_small_test_pattern_is_a_config_error() {
        let config = VideoSourceConfig {
            width: 64,
            height: 48,
            ..Default::default()
        };
        let error = TestVideoSource::new(&config, Pacing::RealTime)
            .err()
            .unwrap();
        assert!(error.to_string().contains("at least 80x60"), "{error}");
    }
}
