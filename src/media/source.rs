//! Capture sources and audio sinks behind small traits, chosen by name from config.
//!
//! Like librespot's audio backends: each backend lives in its own file, hardware ones behind a
//! cargo feature, and a name table per kind lists what this build contains. `open_*` looks the
//! configured name up and says what would be accepted when it is not there.
//!
//! | kind          | backends                                   | file               |
//! |---------------|--------------------------------------------|--------------------|
//! | video source  | `test`, `y4m`, `v4l2` (feature `v4l2`)     | synthetic, file_io, v4l2 |
//! | audio source  | `tone`, `wav`, `alsa` (feature `alsa-backend`) | synthetic, file_io, alsa_backend |
//! | audio sink    | `null`, `wav`, `alsa` (feature `alsa-backend`) | synthetic, file_io, alsa_backend |
//!
//! Every call blocks the way a device would: sources until the next frame is due, sinks until
//! the frame has been taken. Backends without a clock of their own keep real time with a
//! [`DeadlineClock`](super::pacing::DeadlineClock) unless opened with
//! [`Pacing::AsFastAsPossible`] through the `*_with` functions.

use std::path::PathBuf;

use serde::Deserialize;

use super::convert::ConvertError;
use super::file_io;
use super::frame::{AudioFrame, VideoFrame, MAX_DIMENSION};
use super::pacing::Pacing;
use super::synthetic;

/// Highest frame rate a video source may be asked for.
pub const MAX_FPS: u32 = 120;

/// The `[video]` section: which camera (or stand-in) to capture from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VideoSourceConfig {
    /// Backend name: `test`, `y4m` or `v4l2`.
    pub backend: String,
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// `v4l2`: a device path such as `/dev/video0`, or the camera's card name.
    pub device: String,
    /// `y4m`: the file to loop.
    pub file: Option<PathBuf>,
}

impl Default for VideoSourceConfig {
    fn default() -> Self {
        Self {
            backend: "test".into(),
            width: 640,
            height: 480,
            fps: 30,
            device: "/dev/video0".into(),
            file: None,
        }
    }
}

impl VideoSourceConfig {
    /// Checks the values every backend relies on (size and frame rate), naming the bad key.
    pub fn validate(&self) -> Result<(), SourceError> {
        for (key, value) in [("video.width", self.width), ("video.height", self.height)] {
            if !(2..=MAX_DIMENSION).contains(&value) || value % 2 != 0 {
                return Err(SourceError::BadConfig {
                    key,
                    value: value.to_string(),
                    accepted: format!("an even number of pixels from 2 to {MAX_DIMENSION}"),
                });
            }
        }
        if self.fps == 0 || self.fps > MAX_FPS {
            return Err(SourceError::BadConfig {
                key: "video.fps",
                value: self.fps.to_string(),
                accepted: format!("1 to {MAX_FPS} frames per second"),
            });
        }
        Ok(())
    }
}

/// The `[audio]` section: the microphone (or stand-in).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AudioSourceConfig {
    /// Backend name: `tone`, `wav` or `alsa`.
    pub backend: String,
    /// `tone`: frequency of the sine in Hz.
    pub tone_hz: f32,
    /// `alsa`: PCM name such as `default`, `plughw:1,0` or `dsnoop`.
    pub device: String,
    /// `wav`: a 48 kHz mono 16-bit WAV file to loop.
    pub file: Option<PathBuf>,
}

impl Default for AudioSourceConfig {
    fn default() -> Self {
        Self {
            backend: "tone".into(),
            tone_hz: 440.0,
            device: "default".into(),
            file: None,
        }
    }
}

/// The `[speaker]` section: where the visitor hears the answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AudioSinkConfig {
    /// Backend name: `null`, `wav` or `alsa`.
    pub backend: String,
    /// `alsa`: PCM name such as `default`, `plughw:1,0` or `dmix`.
    pub device: String,
    /// `wav`: the file to write (replaced if it exists).
    pub file: Option<PathBuf>,
}

impl Default for AudioSinkConfig {
    fn default() -> Self {
        Self {
            backend: "null".into(),
            device: "default".into(),
            file: None,
        }
    }
}

/// Why a source or sink could not be opened or stopped delivering.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The configured device does not exist.
    #[error("{device} does not exist; {hint}")]
    NoSuchDevice {
        /// The device as configured.
        device: String,
        /// What exists instead, or how to find out.
        hint: String,
    },
    /// Another program holds the device.
    #[error("{device} is busy: another program is using it (find it with `{}` or stop the other roombell)", busy_hint(.device))]
    Busy {
        /// The device as configured.
        device: String,
    },
    /// The user we run as may not open the device.
    #[error("no permission to open {device}: add the service user to the `{group}` group")]
    PermissionDenied {
        /// The device as configured.
        device: String,
        /// The Unix group that usually grants access (`video` or `audio`).
        group: &'static str,
    },
    /// The camera cannot deliver the configured size in any format we convert.
    #[error("the camera does not offer {requested} in NV12, YUYV or MJPEG; it offers: {}", list_or_none(.offered))]
    UnsupportedSize {
        /// The size asked for, e.g. `640x480`.
        requested: String,
        /// What the camera offers, one entry per format and size.
        offered: Vec<String>,
    },
    /// The device offers no pixel or sample format we can use.
    #[error("{device} offers no format roombell can use ({wanted}); it offers: {}", list_or_none(.offered))]
    UnsupportedFormat {
        /// The device as configured.
        device: String,
        /// What we need.
        wanted: &'static str,
        /// What the device offers.
        offered: Vec<String>,
    },
    /// The configured backend name is not in this build's table.
    #[error("{}", unknown_backend_message(kind, name, known))]
    UnknownBackend {
        /// `video source`, `audio source` or `audio sink`.
        kind: &'static str,
        /// The name as configured.
        name: String,
        /// The names this build knows for that kind.
        known: Vec<&'static str>,
    },
    /// A configuration value the backend cannot use.
    #[error("{key} = {value:?} is not valid: {accepted}")]
    BadConfig {
        /// Config key, e.g. `video.fps`.
        key: &'static str,
        /// The value as configured.
        value: String,
        /// What would be accepted.
        accepted: String,
    },
    /// The source has nothing more to give (a device that went away mid-stream).
    #[error("end of stream")]
    EndOfStream,
    /// Reading or writing a file or device failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file's content is not what the backend reads (bad Y4M or WAV).
    #[error("{0}")]
    Format(String),
    /// A camera buffer could not be converted to I420.
    #[error("cannot convert the camera's frame: {0}")]
    Convert(#[from] ConvertError),
    /// The device driver or sound library reported an error.
    #[error("{device}: {message}")]
    Device {
        /// The device as configured.
        device: String,
        /// What failed, in the driver's words.
        message: String,
    },
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "nothing".into()
    } else {
        items.join(", ")
    }
}

/// Backends that exist in roombell but only when their cargo feature is on.
const FEATURE_BACKENDS: &[(&str, &str)] = &[("v4l2", "v4l2"), ("alsa", "alsa-backend")];

fn unknown_backend_message(kind: &str, name: &str, known: &[&str]) -> String {
    let known = known.join(", ");
    match FEATURE_BACKENDS.iter().find(|(backend, _)| *backend == name) {
        Some((_, feature)) => format!(
            "{kind} \"{name}\" is not compiled into this build (rebuild with cargo feature \"{feature}\"); this build has: {known}"
        ),
        None => format!("unknown {kind} \"{name}\"; this build has: {known}"),
    }
}

/// How to find who holds a busy device: a path for cameras, the sound devices for a PCM name.
fn busy_hint(device: &str) -> String {
    if device.starts_with('/') {
        format!("fuser -v {device}")
    } else {
        "fuser -v /dev/snd/*".to_owned()
    }
}

/// A camera or camera stand-in producing I420 frames.
pub trait VideoSource: Send {
    /// Blocks until the next frame is due (or the camera delivers it) and returns it.
    fn next_frame(&mut self) -> Result<VideoFrame, SourceError>;
    /// Width and height of the frames.
    fn size(&self) -> (u32, u32);
    /// Nominal frames per second.
    fn fps(&self) -> u32;
    /// One line for logs and `roombell check`, e.g. `test pattern 640x480@30`.
    fn describe(&self) -> String;
}

/// A microphone or stand-in producing 20 ms frames of 48 kHz mono.
pub trait AudioSource: Send {
    /// Blocks about 20 ms, until the next frame has been captured (or is due), and returns it.
    fn read_frame(&mut self) -> Result<AudioFrame, SourceError>;
    /// Capture overruns recovered so far.
    fn xruns(&self) -> u64 {
        0
    }
    /// One line for logs and `roombell check`.
    fn describe(&self) -> String;
}

/// A speaker or stand-in taking 20 ms frames of 48 kHz mono.
pub trait AudioSink: Send {
    /// Blocks like a sound card: until the frame fits in the device's buffer (or is due).
    fn write_frame(&mut self, frame: &AudioFrame) -> Result<(), SourceError>;
    /// Playback underruns recovered so far.
    fn xruns(&self) -> u64 {
        0
    }
    /// One line for logs and `roombell check`.
    fn describe(&self) -> String;
    /// Plays out what is buffered and closes files; call once at the end.
    fn finish(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
}

/// Opens a video backend from its config.
pub type OpenVideoSource = fn(&VideoSourceConfig) -> Result<Box<dyn VideoSource>, SourceError>;
/// Opens an audio source backend from its config.
pub type OpenAudioSource = fn(&AudioSourceConfig) -> Result<Box<dyn AudioSource>, SourceError>;
/// Opens an audio sink backend from its config.
pub type OpenAudioSink = fn(&AudioSinkConfig) -> Result<Box<dyn AudioSink>, SourceError>;

/// Video sources compiled into this build, by config name (real-time pacing).
pub const VIDEO_SOURCES: &[(&str, OpenVideoSource)] = &[
    ("test", |config| {
        synthetic::open_test_video(config, Pacing::RealTime)
    }),
    ("y4m", |config| file_io::open_y4m(config, Pacing::RealTime)),
    #[cfg(feature = "v4l2")]
    ("v4l2", super::v4l2::open),
];

/// Audio sources compiled into this build, by config name (real-time pacing).
pub const AUDIO_SOURCES: &[(&str, OpenAudioSource)] = &[
    ("tone", |config| {
        synthetic::open_tone(config, Pacing::RealTime)
    }),
    ("wav", |config| {
        file_io::open_wav_source(config, Pacing::RealTime)
    }),
    #[cfg(feature = "alsa-backend")]
    ("alsa", super::alsa_backend::open_source),
];

/// Audio sinks compiled into this build, by config name (real-time pacing).
pub const AUDIO_SINKS: &[(&str, OpenAudioSink)] = &[
    ("null", |config| {
        synthetic::open_null_sink(config, Pacing::RealTime)
    }),
    ("wav", |config| {
        file_io::open_wav_sink(config, Pacing::RealTime)
    }),
    #[cfg(feature = "alsa-backend")]
    ("alsa", super::alsa_backend::open_sink),
];

fn lookup<T: Copy>(
    kind: &'static str,
    table: &[(&'static str, T)],
    name: &str,
) -> Result<T, SourceError> {
    table
        .iter()
        .find(|(backend, _)| *backend == name)
        .map(|(_, open)| *open)
        .ok_or_else(|| SourceError::UnknownBackend {
            kind,
            name: name.to_owned(),
            known: table.iter().map(|(backend, _)| *backend).collect(),
        })
}

/// Opens the configured video source, paced in real time.
pub fn open_video_source(config: &VideoSourceConfig) -> Result<Box<dyn VideoSource>, SourceError> {
    open_video_source_with(config, Pacing::RealTime)
}

/// Opens the configured video source; `pacing` applies to `test` and `y4m` (a camera keeps
/// its own time).
pub fn open_video_source_with(
    config: &VideoSourceConfig,
    pacing: Pacing,
) -> Result<Box<dyn VideoSource>, SourceError> {
    let open = lookup("video source", VIDEO_SOURCES, &config.backend)?;
    match (pacing, config.backend.as_str()) {
        (Pacing::AsFastAsPossible, "test") => synthetic::open_test_video(config, pacing),
        (Pacing::AsFastAsPossible, "y4m") => file_io::open_y4m(config, pacing),
        _ => open(config),
    }
}

/// Opens the configured audio source, paced in real time.
pub fn open_audio_source(config: &AudioSourceConfig) -> Result<Box<dyn AudioSource>, SourceError> {
    open_audio_source_with(config, Pacing::RealTime)
}

/// Opens the configured audio source; `pacing` applies to `tone` and `wav` (a sound card keeps
/// its own time).
pub fn open_audio_source_with(
    config: &AudioSourceConfig,
    pacing: Pacing,
) -> Result<Box<dyn AudioSource>, SourceError> {
    let open = lookup("audio source", AUDIO_SOURCES, &config.backend)?;
    match (pacing, config.backend.as_str()) {
        (Pacing::AsFastAsPossible, "tone") => synthetic::open_tone(config, pacing),
        (Pacing::AsFastAsPossible, "wav") => file_io::open_wav_source(config, pacing),
        _ => open(config),
    }
}

/// Opens the configured audio sink, paced in real time.
pub fn open_audio_sink(config: &AudioSinkConfig) -> Result<Box<dyn AudioSink>, SourceError> {
    open_audio_sink_with(config, Pacing::RealTime)
}

/// Opens the configured audio sink; `pacing` applies to `null` and `wav` (a sound card keeps
/// its own time).
pub fn open_audio_sink_with(
    config: &AudioSinkConfig,
    pacing: Pacing,
) -> Result<Box<dyn AudioSink>, SourceError> {
    let open = lookup("audio sink", AUDIO_SINKS, &config.backend)?;
    match (pacing, config.backend.as_str()) {
        (Pacing::AsFastAsPossible, "null") => synthetic::open_null_sink(config, pacing),
        (Pacing::AsFastAsPossible, "wav") => file_io::open_wav_sink(config, pacing),
        _ => open(config),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<T>(table: &[(&'static str, T)]) -> Vec<&'static str> {
        table.iter().map(|(name, _)| *name).collect()
    }

    #[test]
    fn tables_list_what_was_compiled_in() {
        let video = names(VIDEO_SOURCES);
        assert_eq!(&video[..2], ["test", "y4m"]);
        assert_eq!(video.contains(&"v4l2"), cfg!(feature = "v4l2"));
        let audio = names(AUDIO_SOURCES);
        assert_eq!(&audio[..2], ["tone", "wav"]);
        assert_eq!(audio.contains(&"alsa"), cfg!(feature = "alsa-backend"));
        let sinks = names(AUDIO_SINKS);
        assert_eq!(&sinks[..2], ["null", "wav"]);
        assert_eq!(sinks.contains(&"alsa"), cfg!(feature = "alsa-backend"));
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let config = VideoSourceConfig {
            backend: "webcam".into(),
            ..Default::default()
        };
        let error = open_video_source(&config).err().map(|e| e.to_string());
        let error = error.unwrap_or_default();
        assert!(error.contains("unknown video source \"webcam\""), "{error}");
        assert!(error.contains("test, y4m"), "{error}");
        let error = unknown_backend_message("audio sink", "alsa", &["null", "wav"]);
        assert!(
            error.contains("not compiled into this build")
                && error.contains("alsa-backend")
                && error.contains("null, wav"),
            "{error}"
        );
    }

    #[test]
    fn config_defaults_and_unknown_keys() {
        let video: VideoSourceConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(video, VideoSourceConfig::default());
        assert_eq!(
            (video.backend.as_str(), video.width, video.height, video.fps),
            ("test", 640, 480, 30)
        );
        let audio: AudioSourceConfig = serde_json::from_str(r#"{"tone_hz": 1000}"#).unwrap();
        assert_eq!((audio.backend.as_str(), audio.tone_hz), ("tone", 1000.0));
        let sink: AudioSinkConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(sink.backend, "null");
        assert!(serde_json::from_str::<VideoSourceConfig>(r#"{"widht": 1}"#).is_err());
    }

    #[test]
    fn bad_sizes_and_rates_name_the_key() {
        let check = |config: VideoSourceConfig| config.validate().err().map(|e| e.to_string());
        let odd = check(VideoSourceConfig {
            width: 641,
            ..Default::default()
        });
        assert!(odd.is_some_and(|e| e.contains("video.width = \"641\"")));
        let fast = check(VideoSourceConfig {
            fps: 500,
            ..Default::default()
        });
        assert!(fast.is_some_and(|e| e.contains("video.fps") && e.contains("1 to 120")));
        assert!(VideoSourceConfig::default().validate().is_ok());
    }

    #[test]
    fn unpaced_test_source_does_not_wait() {
        let mut source = open_video_source_with(
            &VideoSourceConfig {
                width: 160,
                height: 120,
                fps: 1,
                ..Default::default()
            },
            Pacing::AsFastAsPossible,
        )
        .unwrap();
        let start = std::time::Instant::now();
        for n in 0..5 {
            assert_eq!(source.next_frame().unwrap().frame_number(), n);
        }
        // Five frames at 1 fps would take four seconds in real time.
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }
}
