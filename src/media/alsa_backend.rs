//! The `alsa` audio source and sink: 48 kHz mono S16_LE in 20 ms periods, with a buffer of four
//! periods (80 ms) so the speaker is never far behind the conversation.
//!
//! Overruns and underruns are recovered with `snd_pcm_recover`, counted, and logged with the
//! running count. ALSA plugins without a clock (`null`, or `file` on `null`, which the tests
//! use in place of a sound card) return at once; [`ClockFallback`] notices and paces them.
//!
//! The device part needs the `alsa-backend` cargo feature; [`list_pcms`] says so without it.

use std::fmt;

use super::source::SourceError;

/// One PCM from ALSA's name hints, for `roombell check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcmInfo {
    /// The name to put in config, e.g. `plughw:CARD=Device,DEV=0`.
    pub name: String,
    /// ALSA's description, first line.
    pub description: String,
    /// Usable for the microphone.
    pub capture: bool,
    /// Usable for the speaker.
    pub playback: bool,
}

impl fmt::Display for PcmInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let directions = match (self.capture, self.playback) {
            (true, true) => "capture+playback",
            (true, false) => "capture",
            (false, true) => "playback",
            (false, false) => "-",
        };
        write!(
            f,
            "{:<40} {:<16} {}",
            self.name, directions, self.description
        )
    }
}

/// PCMs ALSA knows (cards and configured plugins).
#[cfg(feature = "alsa-backend")]
pub fn list_pcms() -> Result<Vec<PcmInfo>, SourceError> {
    device::list()
}

/// PCMs ALSA knows: this build has no ALSA support.
#[cfg(not(feature = "alsa-backend"))]
pub fn list_pcms() -> Result<Vec<PcmInfo>, SourceError> {
    Err(SourceError::UnknownBackend {
        kind: "audio source",
        name: "alsa".into(),
        known: super::source::AUDIO_SOURCES
            .iter()
            .map(|(name, _)| *name)
            .collect(),
    })
}

#[cfg(feature = "alsa-backend")]
pub use device::{open_sink, open_source, AlsaSink, AlsaSource};

#[cfg(feature = "alsa-backend")]
mod device {
    use std::ffi::CString;
    use std::time::{Duration, Instant};

    use alsa::pcm::{Access, Format, HwParams, State, PCM};
    use alsa::{Direction, ValueOr};

    use super::PcmInfo;
    use crate::media::frame::{AudioFrame, FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE};
    use crate::media::pacing::ClockFallback;
    use crate::media::source::{
        AudioSink, AudioSinkConfig, AudioSource, AudioSourceConfig, SourceError,
    };

    /// Periods in the device buffer: 80 ms of latency, enough to ride out a late wake-up.
    const PERIODS: usize = 4;
    const PERIOD: Duration = Duration::from_millis(FRAME_MS);
    /// Scheduling noise a real device may show before we decide it does not keep time.
    const CLOCK_MARGIN: Duration = Duration::from_millis(40);

    const EPIPE: i32 = 32;
    const ESTRPIPE: i32 = 86;
    const EINTR: i32 = 4;
    const EAGAIN: i32 = 11;
    const ENOENT: i32 = 2;
    const ENODEV: i32 = 19;
    const EBUSY: i32 = 16;
    const EACCES: i32 = 13;
    const EPERM: i32 = 1;
    const EIO: i32 = 5;

    fn device_error(device: &str, what: &str, error: alsa::Error) -> SourceError {
        SourceError::Device {
            device: format!("ALSA PCM \"{device}\""),
            message: format!("{what}: {error}"),
        }
    }

    fn pcm_names() -> String {
        let names: Vec<String> = list()
            .unwrap_or_default()
            .into_iter()
            .map(|pcm| pcm.name)
            .collect();
        if names.is_empty() {
            "ALSA lists no PCMs: is a sound card present (`aplay -l`)?".into()
        } else {
            format!("PCMs ALSA knows: {}", names.join(", "))
        }
    }

    /// Opens the PCM in blocking mode and sets 48 kHz mono S16, 20 ms periods, 4 periods.
    fn open_pcm(device: &str, direction: Direction) -> Result<PCM, SourceError> {
        let name = CString::new(device).map_err(|_| SourceError::BadConfig {
            key: match direction {
                Direction::Capture => "audio.device",
                Direction::Playback => "speaker.device",
            },
            value: device.escape_debug().to_string(),
            accepted: "an ALSA PCM name without NUL bytes, e.g. default or plughw:1,0".into(),
        })?;
        let pcm = PCM::open(&name, direction, false).map_err(|e| match e.errno() {
            ENOENT | ENODEV => SourceError::NoSuchDevice {
                device: format!("ALSA PCM \"{device}\""),
                hint: pcm_names(),
            },
            EBUSY => SourceError::Busy {
                device: format!("ALSA PCM \"{device}\""),
            },
            EACCES | EPERM => SourceError::PermissionDenied {
                device: format!("ALSA PCM \"{device}\""),
                group: "audio",
            },
            _ => device_error(device, "cannot open", e),
        })?;
        let unsupported = |what: &str, e: alsa::Error| SourceError::UnsupportedFormat {
            device: format!("ALSA PCM \"{device}\""),
            wanted: "48000 Hz, mono, S16_LE, interleaved (a plug: PCM such as plughw:1,0 converts)",
            offered: vec![format!("{what} refused: {e}")],
        };
        {
            let hw = HwParams::any(&pcm).map_err(|e| device_error(device, "hw params", e))?;
            hw.set_access(Access::RWInterleaved)
                .map_err(|e| unsupported("interleaved access", e))?;
            hw.set_format(Format::s16())
                .map_err(|e| unsupported("S16 samples", e))?;
            hw.set_channels(1).map_err(|e| unsupported("mono", e))?;
            hw.set_rate(SAMPLE_RATE, ValueOr::Nearest)
                .map_err(|e| unsupported("48000 Hz", e))?;
            let period = hw
                .set_period_size_near(FRAME_SAMPLES as alsa::pcm::Frames, ValueOr::Nearest)
                .map_err(|e| device_error(device, "period size", e))?;
            hw.set_buffer_size_near(period * PERIODS as alsa::pcm::Frames)
                .map_err(|e| device_error(device, "buffer size", e))?;
            pcm.hw_params(&hw)
                .map_err(|e| device_error(device, "applying hw params", e))?;
        }
        Ok(pcm)
    }

    /// The buffer the device ended up with, as audio time.
    fn buffer_time(pcm: &PCM) -> Duration {
        pcm.hw_params_current()
            .and_then(|hw| hw.get_buffer_size())
            .map(|frames| Duration::from_micros(frames as u64 * 1_000_000 / u64::from(SAMPLE_RATE)))
            .unwrap_or(PERIOD * PERIODS as u32)
    }

    /// Whether `error` is an xrun (or a suspend) that `snd_pcm_recover` can fix.
    fn is_xrun(error: &alsa::Error) -> bool {
        matches!(error.errno(), EPIPE | ESTRPIPE | EINTR)
    }

    /// A microphone through ALSA.
    pub struct AlsaSource {
        pcm: PCM,
        device: String,
        xruns: u64,
        clock: ClockFallback,
    }

    /// Opens the `alsa` audio source.
    pub fn open_source(config: &AudioSourceConfig) -> Result<Box<dyn AudioSource>, SourceError> {
        Ok(Box::new(AlsaSource::open(&config.device)?))
    }

    impl AlsaSource {
        /// Opens the capture PCM `device` (e.g. `default`, `plughw:1,0`).
        pub fn open(device: &str) -> Result<Self, SourceError> {
            let pcm = open_pcm(device, Direction::Capture)?;
            Ok(Self {
                pcm,
                device: device.to_owned(),
                xruns: 0,
                // Capture cannot run ahead of real time at all.
                clock: ClockFallback::new(Duration::ZERO, CLOCK_MARGIN),
            })
        }

        fn recover(&mut self, error: alsa::Error) -> Result<(), SourceError> {
            self.xruns += 1;
            tracing::warn!(device = %self.device, xruns = self.xruns, error = %error, "ALSA capture overrun; recovering");
            self.pcm
                .try_recover(error, true)
                .map_err(|e| device_error(&self.device, "recovering from an overrun", e))
        }

        /// Restarts a capture stream the kernel timed out (EIO), which snd_pcm_recover does
        /// not handle; the next read starts it again.
        fn restart(&mut self, error: alsa::Error) -> Result<(), SourceError> {
            self.xruns += 1;
            tracing::warn!(device = %self.device, xruns = self.xruns, error = %error, "ALSA capture timed out; restarting the stream");
            let _ = self.pcm.drop();
            self.pcm
                .prepare()
                .map_err(|e| device_error(&self.device, "restarting after a capture timeout", e))
        }
    }

    impl AudioSource for AlsaSource {
        fn read_frame(&mut self) -> Result<AudioFrame, SourceError> {
            let mut samples = [0i16; FRAME_SAMPLES];
            let mut filled = 0;
            let mut restarted = false;
            while filled < FRAME_SAMPLES {
                let result = {
                    let io = self
                        .pcm
                        .io_i16()
                        .map_err(|e| device_error(&self.device, "sample format", e))?;
                    io.readi(&mut samples[filled..])
                };
                match result {
                    Ok(frames) => filled += frames,
                    Err(e) if e.errno() == EAGAIN => continue,
                    Err(e) if is_xrun(&e) => self.recover(e)?,
                    // The kernel's capture read timeout (no period for max(1.1 × buffer,
                    // 100 ms), e.g. after the board stalled, often right after an overrun):
                    // restart once per frame; a second one in the same frame is a real failure.
                    Err(e) if e.errno() == EIO && !restarted => {
                        restarted = true;
                        self.restart(e)?;
                    }
                    Err(e) => return Err(device_error(&self.device, "reading", e)),
                }
            }
            let wait = self.clock.after_transfer(PERIOD, Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            Ok(AudioFrame::from_array(samples))
        }

        fn xruns(&self) -> u64 {
            self.xruns
        }

        fn describe(&self) -> String {
            let paced = if self.clock.engaged() {
                ", no device clock: paced by timer"
            } else {
                ""
            };
            format!("alsa capture \"{}\" 48000 Hz mono{paced}", self.device)
        }
    }

    /// A speaker through ALSA.
    pub struct AlsaSink {
        pcm: PCM,
        device: String,
        xruns: u64,
        clock: ClockFallback,
        finished: bool,
    }

    /// Opens the `alsa` audio sink.
    pub fn open_sink(config: &AudioSinkConfig) -> Result<Box<dyn AudioSink>, SourceError> {
        Ok(Box::new(AlsaSink::open(&config.device)?))
    }

    impl AlsaSink {
        /// Opens the playback PCM `device` (e.g. `default`, `plughw:1,0`, `dmix`).
        pub fn open(device: &str) -> Result<Self, SourceError> {
            let pcm = open_pcm(device, Direction::Playback)?;
            {
                // Start playing once two periods are queued: a little cushion, little delay.
                let sw = pcm
                    .sw_params_current()
                    .map_err(|e| device_error(device, "sw params", e))?;
                sw.set_start_threshold(2 * FRAME_SAMPLES as alsa::pcm::Frames)
                    .and_then(|()| sw.set_avail_min(FRAME_SAMPLES as alsa::pcm::Frames))
                    .and_then(|()| pcm.sw_params(&sw))
                    .map_err(|e| device_error(device, "applying sw params", e))?;
            }
            let lead = buffer_time(&pcm);
            Ok(Self {
                pcm,
                device: device.to_owned(),
                xruns: 0,
                // A sound card may hold its whole buffer ahead of what it plays.
                clock: ClockFallback::new(lead, CLOCK_MARGIN),
                finished: false,
            })
        }

        fn recover(&mut self, error: alsa::Error) -> Result<(), SourceError> {
            self.xruns += 1;
            tracing::warn!(device = %self.device, xruns = self.xruns, error = %error, "ALSA playback underrun; recovering");
            self.pcm
                .try_recover(error, true)
                .map_err(|e| device_error(&self.device, "recovering from an underrun", e))
        }
    }

    impl AudioSink for AlsaSink {
        fn write_frame(&mut self, frame: &AudioFrame) -> Result<(), SourceError> {
            let samples = frame.samples();
            let mut written = 0;
            while written < samples.len() {
                let result = {
                    let io = self
                        .pcm
                        .io_i16()
                        .map_err(|e| device_error(&self.device, "sample format", e))?;
                    io.writei(&samples[written..])
                };
                match result {
                    Ok(frames) => written += frames,
                    Err(e) if e.errno() == EAGAIN => continue,
                    Err(e) if is_xrun(&e) => self.recover(e)?,
                    Err(e) => return Err(device_error(&self.device, "writing", e)),
                }
            }
            let wait = self.clock.after_transfer(PERIOD, Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            Ok(())
        }

        fn xruns(&self) -> u64 {
            self.xruns
        }

        fn describe(&self) -> String {
            let paced = if self.clock.engaged() {
                ", no device clock: paced by timer"
            } else {
                ""
            };
            format!("alsa playback \"{}\" 48000 Hz mono{paced}", self.device)
        }

        fn finish(&mut self) -> Result<(), SourceError> {
            if std::mem::replace(&mut self.finished, true) {
                return Ok(());
            }
            // A stream shorter than the start threshold never started: start it so that
            // draining plays it instead of returning at once.
            if self.pcm.state() == State::Prepared {
                let _ = self.pcm.start();
            }
            self.pcm
                .drain()
                .map_err(|e| device_error(&self.device, "draining", e))
        }
    }

    impl Drop for AlsaSink {
        fn drop(&mut self) {
            if !self.finished {
                // Dropped on an error path: stop at once rather than play out stale audio.
                let _ = self.pcm.drop();
            }
        }
    }

    /// ALSA's PCM name hints.
    pub(super) fn list() -> Result<Vec<PcmInfo>, SourceError> {
        let hints =
            alsa::device_name::HintIter::new(None, c"pcm").map_err(|e| SourceError::Device {
                device: "ALSA".into(),
                message: format!("cannot list PCMs: {e}"),
            })?;
        Ok(hints
            .filter_map(|hint| {
                let name = hint.name?;
                let (capture, playback) = match hint.direction {
                    Some(Direction::Capture) => (true, false),
                    Some(Direction::Playback) => (false, true),
                    None => (true, true),
                };
                Some(PcmInfo {
                    name,
                    description: hint
                        .desc
                        .unwrap_or_default()
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                    capture,
                    playback,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm_info_prints_one_aligned_line() {
        let info = PcmInfo {
            name: "plughw:CARD=Device,DEV=0".into(),
            description: "USB Audio Device".into(),
            capture: true,
            playback: true,
        };
        let line = info.to_string();
        assert!(line.starts_with("plughw:CARD=Device,DEV=0"), "{line}");
        assert!(line.contains("capture+playback"), "{line}");
        assert!(line.ends_with("USB Audio Device"), "{line}");
    }
}
