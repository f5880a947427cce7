//! Backends on files: the `y4m` video source and the `wav` audio source (both loop) and the
//! `wav` audio sink.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use super::frame::{AudioFrame, VideoFrame, SAMPLE_RATE};
use super::pacing::{unix_ms, DeadlineClock, Pacing};
use super::source::{
    AudioSink, AudioSinkConfig, AudioSource, AudioSourceConfig, SourceError, VideoSource,
    VideoSourceConfig,
};
use super::synthetic::audio_clock;
use super::wav::{read_wav, WavWriter};
use super::y4m::{Y4mError, Y4mReader};

/// The configured file, or a config error naming `key`.
fn configured_file<'a>(
    file: &'a Option<PathBuf>,
    key: &'static str,
    accepted: &str,
) -> Result<&'a Path, SourceError> {
    file.as_deref().ok_or_else(|| SourceError::BadConfig {
        key,
        value: String::new(),
        accepted: accepted.into(),
    })
}

fn open_file(path: &Path) -> Result<File, SourceError> {
    File::open(path).map_err(|source| SourceError::Io {
        what: format!("cannot open {}", path.display()),
        source,
    })
}

/// Loops a Y4M file at the frame rate its header states.
pub struct Y4mSource {
    reader: Y4mReader<File>,
    path: PathBuf,
    clock: Option<DeadlineClock>,
    fps: u32,
}

impl Y4mSource {
    /// Opens the file and reads its header; the file's size and rate win over the config's.
    pub fn open(config: &VideoSourceConfig, pacing: Pacing) -> Result<Self, SourceError> {
        let path = configured_file(&config.file, "video.file", "the path of a .y4m file")?;
        let reader = Y4mReader::new(open_file(path)?).map_err(|e| y4m_error(path, e))?;
        let header = reader.header().clone();
        let (num, den) = header.frame_rate;
        let fps = ((f64::from(num) / f64::from(den)).round() as u32).max(1);
        let (width, height) = (header.layout.width(), header.layout.height());
        if (width, height, fps) != (config.width, config.height, config.fps) {
            tracing::info!(
                file = %path.display(),
                "the Y4M file is {width}x{height}@{fps}; its size and rate are used instead of the configured {}x{}@{}",
                config.width, config.height, config.fps
            );
        }
        let interval = header.frame_interval();
        Ok(Self {
            reader,
            path: path.to_owned(),
            // One frame late and the clock starts over, as a camera would.
            clock: (pacing == Pacing::RealTime).then(|| DeadlineClock::every(interval, interval)),
            fps,
        })
    }
}

fn y4m_error(path: &Path, error: Y4mError) -> SourceError {
    match error {
        Y4mError::Io(source) => SourceError::Io {
            what: format!("cannot read {}", path.display()),
            source,
        },
        other => SourceError::Format(format!("{}: {other}", path.display())),
    }
}

impl VideoSource for Y4mSource {
    fn next_frame(&mut self) -> Result<VideoFrame, SourceError> {
        if let Some(clock) = self.clock.as_mut() {
            clock.wait();
        }
        self.reader
            .next_frame_looping(unix_ms())
            .map_err(|e| y4m_error(&self.path, e))
    }

    fn size(&self) -> (u32, u32) {
        let layout = self.reader.header().layout;
        (layout.width(), layout.height())
    }

    fn fps(&self) -> u32 {
        self.fps
    }

    fn describe(&self) -> String {
        let (width, height) = self.size();
        format!(
            "y4m {} {width}x{height}@{} (looped)",
            self.path.display(),
            self.fps
        )
    }
}

/// Opens the `y4m` video source.
pub fn open_y4m(
    config: &VideoSourceConfig,
    pacing: Pacing,
) -> Result<Box<dyn VideoSource>, SourceError> {
    Ok(Box::new(Y4mSource::open(config, pacing)?))
}

/// Loops a 48 kHz mono WAV file, 20 ms at a time.
pub struct WavSource {
    frames: Vec<AudioFrame>,
    next: usize,
    path: PathBuf,
    clock: Option<DeadlineClock>,
}

impl WavSource {
    /// Loads the whole file (WAV reading caps it at about 23 minutes).
    pub fn open(config: &AudioSourceConfig, pacing: Pacing) -> Result<Self, SourceError> {
        let path = configured_file(
            &config.file,
            "audio.file",
            "the path of a 48 kHz mono 16-bit WAV file",
        )?;
        let frames = read_wav(BufReader::new(open_file(path)?))
            .and_then(|audio| audio.into_frames())
            .map_err(|e| SourceError::Format(format!("{}: {e}", path.display())))?;
        if frames.is_empty() {
            return Err(SourceError::Format(format!(
                "{}: the WAV file holds no samples",
                path.display()
            )));
        }
        Ok(Self {
            frames,
            next: 0,
            path: path.to_owned(),
            clock: (pacing == Pacing::RealTime).then(audio_clock),
        })
    }
}

impl AudioSource for WavSource {
    fn read_frame(&mut self) -> Result<AudioFrame, SourceError> {
        if let Some(clock) = self.clock.as_mut() {
            clock.wait();
        }
        // Frames share their samples, so looping hands out the same buffers again.
        let frame = self.frames[self.next % self.frames.len()].clone();
        self.next = (self.next + 1) % self.frames.len();
        Ok(frame)
    }

    fn describe(&self) -> String {
        format!(
            "wav {} ({:.1} s, looped)",
            self.path.display(),
            self.frames.len() as f64 * 0.02
        )
    }
}

/// Opens the `wav` audio source.
pub fn open_wav_source(
    config: &AudioSourceConfig,
    pacing: Pacing,
) -> Result<Box<dyn AudioSource>, SourceError> {
    Ok(Box::new(WavSource::open(config, pacing)?))
}

/// Writes what the speaker would play to a WAV file, at a sound card's pace.
pub struct WavSink {
    /// `None` once finished.
    writer: Option<WavWriter<BufWriter<File>>>,
    path: PathBuf,
    clock: Option<DeadlineClock>,
}

impl WavSink {
    /// Creates (or replaces) the file.
    pub fn create(path: &Path, pacing: Pacing) -> Result<Self, SourceError> {
        let file = File::create(path).map_err(|source| SourceError::Io {
            what: format!("cannot create {}", path.display()),
            source,
        })?;
        let writer = WavWriter::new(BufWriter::new(file), SAMPLE_RATE, 1)
            .map_err(|e| SourceError::Format(format!("{}: {e}", path.display())))?;
        Ok(Self {
            writer: Some(writer),
            path: path.to_owned(),
            clock: (pacing == Pacing::RealTime).then(audio_clock),
        })
    }

    fn write_error(&self, e: impl std::fmt::Display) -> SourceError {
        SourceError::Format(format!("writing {} failed: {e}", self.path.display()))
    }
}

impl AudioSink for WavSink {
    fn write_frame(&mut self, frame: &AudioFrame) -> Result<(), SourceError> {
        if let Some(clock) = self.clock.as_mut() {
            clock.wait();
        }
        let result = match self.writer.as_mut() {
            Some(writer) => writer.write_frame(frame),
            None => return Err(self.write_error("the sink was already finished")),
        };
        result.map_err(|e| self.write_error(e))
    }

    fn describe(&self) -> String {
        format!("wav {}", self.path.display())
    }

    fn finish(&mut self) -> Result<(), SourceError> {
        if let Some(writer) = self.writer.take() {
            let mut inner = writer.finish().map_err(|e| self.write_error(e))?;
            std::io::Write::flush(&mut inner).map_err(|e| self.write_error(e))?;
        }
        Ok(())
    }
}

/// Opens the `wav` audio sink.
pub fn open_wav_sink(
    config: &AudioSinkConfig,
    pacing: Pacing,
) -> Result<Box<dyn AudioSink>, SourceError> {
    let path = configured_file(
        &config.file,
        "speaker.file",
        "the path of a WAV file to write",
    )?;
    Ok(Box::new(WavSink::create(path, pacing)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::test_pattern::TestPattern;
    use crate::media::tone::ToneGenerator;
    use std::io::Write;

    #[test]
    fn y4m_source_loops_and_keeps_counting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("two.y4m");
        let pattern = TestPattern::new(160, 120).unwrap();
        let mut file = File::create(&path).unwrap();
        writeln!(file, "YUV4MPEG2 W160 H120 F25:1 Ip C420jpeg").unwrap();
        for n in 0..2 {
            file.write_all(b"FRAME\n").unwrap();
            file.write_all(pattern.frame(n, 0).data()).unwrap();
        }
        drop(file);
        let config = VideoSourceConfig {
            backend: "y4m".into(),
            file: Some(path),
            ..Default::default()
        };
        let mut source = Y4mSource::open(&config, Pacing::AsFastAsPossible).unwrap();
        assert_eq!((source.size(), source.fps()), ((160, 120), 25));
        let frames: Vec<_> = (0..3).map(|_| source.next_frame().unwrap()).collect();
        assert_eq!(frames[2].frame_number(), 2);
        assert_eq!(frames[2].y_plane(), frames[0].y_plane());
        assert_ne!(frames[1].y_plane(), frames[0].y_plane());
    }

    #[test]
    fn missing_files_say_which_key() {
        let config = VideoSourceConfig {
            backend: "y4m".into(),
            ..Default::default()
        };
        let error = Y4mSource::open(&config, Pacing::RealTime).err().unwrap();
        assert!(error.to_string().contains("video.file"), "{error}");
        let config = AudioSourceConfig {
            backend: "wav".into(),
            file: Some("/nonexistent/mic.wav".into()),
            ..Default::default()
        };
        let error = WavSource::open(&config, Pacing::RealTime).err().unwrap();
        assert!(
            matches!(error, SourceError::Io { .. })
                && error.to_string().contains("/nonexistent/mic.wav"),
            "{error}"
        );
    }

    #[test]
    fn wav_sink_then_source_round_trip_and_loop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.wav");
        let mut tone = ToneGenerator::new(440.0, 5_000).unwrap();
        let written: Vec<AudioFrame> = (0..3).map(|_| tone.next_frame()).collect();
        let mut sink = WavSink::create(&path, Pacing::AsFastAsPossible).unwrap();
        for frame in &written {
            sink.write_frame(frame).unwrap();
        }
        sink.finish().unwrap();
        let config = AudioSourceConfig {
            backend: "wav".into(),
            file: Some(path),
            ..Default::default()
        };
        let mut source = WavSource::open(&config, Pacing::AsFastAsPossible).unwrap();
        let read: Vec<AudioFrame> = (0..4).map(|_| source.read_frame().unwrap()).collect();
        assert_eq!(&read[..3], &written[..]);
        assert_eq!(read[3], written[0]);
    }
}
