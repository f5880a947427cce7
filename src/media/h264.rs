//! H.264 with openh264: the encoder the device publishes with, and a decoder for tests and
//! `record` checks. Synchronous: the `VideoEncoder` actor owns one encoder and calls it.
//!
//! What browsers and SFUs expect from a WebRTC H.264 stream, and how we get it:
//! - Constrained Baseline (profile-level-id 42e01f): openh264's baseline profile writes
//!   profile_idc 66 with constraint_set0 and constraint_set1, i.e. `42c0xx`, which every
//!   receiver treats as Constrained Baseline; level 3.1 unless the size needs more.
//! - Annex-B access units, SPS and PPS in front of every IDR, one slice per picture.
//! - `RateControlMode::Bitrate` with frame skipping, so a burst of motion costs a dropped
//!   frame rather than a burst of packets; one thread, so encoding never competes with capture.

use std::time::{Duration, Instant};

use bytes::Bytes;
use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Level, Profile,
    RateControlMode, UsageType,
};
use openh264::formats::YUVSource;
use openh264::{OpenH264API, Timestamp};

pub use super::codec_error::CodecError;
use super::frame::{I420Image, VideoFrame};

/// Smallest bitrate openh264 is asked for; below this a VGA picture is mush anyway.
pub const MIN_BITRATE_BPS: u32 = 30_000;
/// Largest bitrate accepted in the config (level 3.1's limit is 14 Mbit/s).
pub const MAX_BITRATE_BPS: u32 = 14_000_000;
/// Largest side openh264 encodes.
const MAX_SIDE: u32 = 3840;

/// Settings of an [`H264Encoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H264EncoderConfig {
    /// Picture width; frames of another size are refused.
    pub width: u32,
    /// Picture height; frames of another size are refused.
    pub height: u32,
    /// Nominal frames per second (rate control budgets bits per frame from it).
    pub fps: u32,
    /// Target bitrate at start.
    pub bitrate_bps: u32,
    /// [`H264Encoder::set_bitrate`] never goes below this.
    pub min_bitrate_bps: u32,
    /// [`H264Encoder::set_bitrate`] never goes above this.
    pub max_bitrate_bps: u32,
    /// Frames between periodic keyframes; 0 = keyframes only on request.
    pub gop_frames: u32,
    /// Forced keyframes are honoured at most once per this interval.
    pub min_keyframe_interval: Duration,
}

impl Default for H264EncoderConfig {
    fn default() -> Self {
        Self {
            width: 640,
            height: 480,
            fps: 30,
            bitrate_bps: 1_000_000,
            min_bitrate_bps: 150_000,
            max_bitrate_bps: 2_500_000,
            gop_frames: 0,
            min_keyframe_interval: Duration::from_millis(100),
        }
    }
}

impl H264EncoderConfig {
    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<(), CodecError> {
        let bad = |key: &'static str, value: u32, accepted: String| {
            Err(CodecError::BadConfig {
                key,
                value: value.to_string(),
                accepted,
            })
        };
        for (key, value) in [("width", self.width), ("height", self.height)] {
            if !(16..=MAX_SIDE).contains(&value) || value % 2 != 0 {
                return bad(key, value, format!("an even number from 16 to {MAX_SIDE}"));
            }
        }
        if self.fps == 0 || self.fps > 120 {
            return bad("fps", self.fps, "1 to 120".into());
        }
        let range = format!("{MIN_BITRATE_BPS} to {MAX_BITRATE_BPS} bit/s");
        if !(MIN_BITRATE_BPS..=MAX_BITRATE_BPS).contains(&self.min_bitrate_bps) {
            return bad("min_bitrate_bps", self.min_bitrate_bps, range);
        }
        if !(self.min_bitrate_bps..=MAX_BITRATE_BPS).contains(&self.max_bitrate_bps) {
            return bad(
                "max_bitrate_bps",
                self.max_bitrate_bps,
                format!(
                    "min_bitrate_bps ({}) to {MAX_BITRATE_BPS}",
                    self.min_bitrate_bps
                ),
            );
        }
        if !(self.min_bitrate_bps..=self.max_bitrate_bps).contains(&self.bitrate_bps) {
            return bad(
                "bitrate_bps",
                self.bitrate_bps,
                format!(
                    "between min_bitrate_bps ({}) and max_bitrate_bps ({})",
                    self.min_bitrate_bps, self.max_bitrate_bps
                ),
            );
        }
        Ok(())
    }
}

/// One encoded picture: an Annex-B access unit with what the packetizer and stats need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedVideo {
    /// NAL units with start codes; an IDR carries SPS and PPS in front.
    pub data: Bytes,
    /// Whether this is an IDR picture (a receiver can start decoding here).
    pub keyframe: bool,
    /// The source frame's number.
    pub frame_number: u64,
    /// The source frame's capture time, Unix milliseconds.
    pub capture_unix_ms: u64,
    /// Picture width.
    pub width: u32,
    /// Picture height.
    pub height: u32,
}

/// Lends a frame's planes to openh264 without copying them.
struct FramePlanes<'a>(&'a VideoFrame);

impl YUVSource for FramePlanes<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.0.width() as usize, self.0.height() as usize)
    }

    fn strides(&self) -> (usize, usize, usize) {
        let chroma = self.0.layout().chroma_width();
        (self.0.width() as usize, chroma, chroma)
    }

    fn y(&self) -> &[u8] {
        self.0.y_plane()
    }

    fn u(&self) -> &[u8] {
        self.0.u_plane()
    }

    fn v(&self) -> &[u8] {
        self.0.v_plane()
    }
}

fn h264_error(operation: &'static str) -> impl Fn(openh264::Error) -> CodecError {
    move |e| CodecError::H264 {
        operation,
        message: e.to_string(),
    }
}

/// The lowest level whose limits hold this picture size and rate, but never below 3.1 so that
/// the usual sizes match the `42e01f` receivers negotiate.
fn level_for(width: u32, height: u32, fps: u32) -> Level {
    let macroblocks = u64::from(width.div_ceil(16)) * u64::from(height.div_ceil(16));
    let per_second = macroblocks * u64::from(fps);
    // (max macroblocks per frame, max macroblocks per second) from H.264 table A-1.
    let levels = [
        (3_600, 108_000, Level::Level_3_1),
        (5_120, 216_000, Level::Level_3_2),
        (8_192, 245_760, Level::Level_4_0),
        (8_704, 522_240, Level::Level_4_2),
        (22_080, 589_824, Level::Level_5_0),
        (36_864, 983_040, Level::Level_5_1),
    ];
    levels
        .iter()
        .find(|(frame, rate, _)| macroblocks <= *frame && per_second <= *rate)
        .map(|(_, _, level)| *level)
        .unwrap_or(Level::Level_5_2)
}

/// openh264 encoder for WebRTC (see the module documentation).
pub struct H264Encoder {
    inner: Encoder,
    config: H264EncoderConfig,
    bitrate_bps: u32,
    /// Whether openh264 has initialised itself (it does so on the first frame); until then
    /// options cannot be set live.
    started: bool,
    force_keyframe: bool,
    last_forced: Option<Instant>,
}

impl H264Encoder {
    /// Checks the config and creates the encoder.
    pub fn new(config: H264EncoderConfig) -> Result<Self, CodecError> {
        config.validate()?;
        let inner = Self::create(&config, config.bitrate_bps)?;
        Ok(Self {
            inner,
            bitrate_bps: config.bitrate_bps,
            config,
            started: false,
            force_keyframe: false,
            last_forced: None,
        })
    }

    fn create(config: &H264EncoderConfig, bitrate_bps: u32) -> Result<Encoder, CodecError> {
        let settings = EncoderConfig::new()
            .usage_type(UsageType::CameraVideoRealTime)
            .profile(Profile::Baseline)
            .level(level_for(config.width, config.height, config.fps))
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(bitrate_bps))
            .skip_frames(true)
            .max_frame_rate(FrameRate::from_hz(config.fps as f32))
            .intra_frame_period(IntraFramePeriod::from_num_frames(config.gop_frames))
            .num_threads(1);
        Encoder::with_api_config(OpenH264API::from_source(), settings)
            .map_err(h264_error("create encoder"))
    }

    /// The settings the encoder was made with (the bitrate as configured at start).
    pub fn config(&self) -> &H264EncoderConfig {
        &self.config
    }

    /// The bitrate in force now.
    pub fn bitrate(&self) -> u32 {
        self.bitrate_bps
    }

    /// Encodes one frame; `None` when rate control skipped it to stay within the bitrate.
    pub fn encode(&mut self, frame: &VideoFrame) -> Result<Option<EncodedVideo>, CodecError> {
        let (width, height) = (frame.width(), frame.height());
        if (width, height) != (self.config.width, self.config.height) {
            return Err(CodecError::FrameSize {
                expected_width: self.config.width,
                expected_height: self.config.height,
                width,
                height,
            });
        }
        if std::mem::take(&mut self.force_keyframe) && self.started {
            self.inner.force_intra_frame();
        }
        // Media time from the frame counter, so rate control sees the nominal spacing even
        // when frames come faster (unpaced runs) or some were dropped before us.
        let media_ms = frame.frame_number().saturating_mul(1000) / u64::from(self.config.fps);
        let bitstream = self
            .inner
            .encode_at(&FramePlanes(frame), Timestamp::from_millis(media_ms))
            .map_err(h264_error("encode"))?;
        self.started = true;
        let frame_type = bitstream.frame_type();
        if matches!(frame_type, FrameType::Skip | FrameType::Invalid) {
            return Ok(None);
        }
        let mut data = Vec::new();
        bitstream.write_vec(&mut data);
        if data.is_empty() {
            return Ok(None);
        }
        Ok(Some(EncodedVideo {
            data: Bytes::from(data),
            keyframe: frame_type == FrameType::IDR,
            frame_number: frame.frame_number(),
            capture_unix_ms: frame.capture_unix_ms(),
            width,
            height,
        }))
    }

    /// Asks for an IDR on the next frame; honoured at most once per
    /// `min_keyframe_interval` (a refused request is not queued here; the device's
    /// `VideoEncoder` owes it and asks again on the next frame).
    /// Returns whether the next frame will be a keyframe because of this request.
    pub fn request_keyframe(&mut self, now: Instant) -> bool {
        let allowed = self.last_forced.is_none_or(|last| {
            now.saturating_duration_since(last) >= self.config.min_keyframe_interval
        });
        if allowed {
            self.last_forced = Some(now);
            // Before the first frame nothing needs forcing: the first picture is an IDR.
            self.force_keyframe = self.started;
        }
        allowed
    }

    /// Changes the target bitrate live, clamped to the configured min and max.
    pub fn set_bitrate(&mut self, bps: u32) {
        let bps = bps.clamp(self.config.min_bitrate_bps, self.config.max_bitrate_bps);
        if bps == self.bitrate_bps {
            return;
        }
        if !self.started {
            // openh264 takes options only once initialised: rebuild with the new rate instead.
            match Self::create(&self.config, bps) {
                Ok(inner) => {
                    self.inner = inner;
                    self.bitrate_bps = bps;
                }
                Err(e) => tracing::warn!(error = %e, bps, "cannot change the H.264 bitrate"),
            }
            return;
        }
        // The layer's maximum must stay at or above its target at every step, so raise the
        // maximum first when going up and lower it last when going down.
        let result = if bps > self.bitrate_bps {
            self.set_option(openh264_sys2::ENCODER_OPTION_MAX_BITRATE, bps)
                .and_then(|()| self.set_option(openh264_sys2::ENCODER_OPTION_BITRATE, bps))
        } else {
            self.set_option(openh264_sys2::ENCODER_OPTION_BITRATE, bps)
                .and_then(|()| self.set_option(openh264_sys2::ENCODER_OPTION_MAX_BITRATE, bps))
        };
        match result {
            Ok(()) => self.bitrate_bps = bps,
            Err(code) => tracing::warn!(code, bps, "openh264 refused the new bitrate"),
        }
    }

    /// Sets a per-layer bitrate option; `Err` carries openh264's return code.
    fn set_option(&mut self, option: openh264_sys2::ENCODER_OPTION, bps: u32) -> Result<(), i32> {
        let mut info = openh264_sys2::SBitrateInfo {
            // Layer 0 is the only layer; setting it (not SPATIAL_LAYER_ALL) also moves the
            // layer's own maximum, which openh264 checks the target against.
            iLayer: openh264_sys2::SPATIAL_LAYER_0,
            iBitrate: i32::try_from(bps).unwrap_or(i32::MAX),
        };
        // SAFETY: the encoder is initialised (`started`), the option ids take an SBitrateInfo,
        // and `info` outlives the call, which copies what it needs.
        let code = unsafe {
            self.inner
                .raw_api()
                .set_option(option, std::ptr::addr_of_mut!(info).cast())
        };
        if code == 0 {
            Ok(())
        } else {
            Err(code)
        }
    }
}

/// openh264 decoder turning Annex-B access units back into frames (tests and checks).
pub struct H264Decoder {
    inner: Decoder,
    decoded: u64,
}

impl H264Decoder {
    /// A decoder that outputs each picture as soon as its access unit is complete.
    pub fn new() -> Result<Self, CodecError> {
        let inner = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())
            .map_err(h264_error("create decoder"))?;
        Ok(Self { inner, decoded: 0 })
    }

    /// Decodes NAL units (one access unit, or any run of whole NAL units); returns the picture
    /// they completed, if any. Frames are numbered in decoding order from 0; capture time is 0.
    pub fn decode(&mut self, annex_b: &[u8]) -> Result<Option<VideoFrame>, CodecError> {
        let picture = self.inner.decode(annex_b).map_err(h264_error("decode"))?;
        match picture {
            Some(picture) => {
                let image = tight_copy(&picture)?;
                let frame = image.into_frame(self.decoded, 0);
                self.decoded += 1;
                Ok(Some(frame))
            }
            None => Ok(None),
        }
    }

    /// Pictures still held by the decoder at the end of a stream.
    pub fn flush(&mut self) -> Result<Vec<VideoFrame>, CodecError> {
        let pictures = self.inner.flush_remaining().map_err(h264_error("flush"))?;
        let mut frames = Vec::with_capacity(pictures.len());
        for picture in &pictures {
            frames.push(tight_copy(picture)?.into_frame(self.decoded, 0));
            self.decoded += 1;
        }
        Ok(frames)
    }
}

/// Copies a decoded picture (rows padded to openh264's strides) into a packed I420 image.
fn tight_copy(picture: &impl YUVSource) -> Result<I420Image, CodecError> {
    let (width, height) = picture.dimensions();
    let (y_stride, u_stride, v_stride) = picture.strides();
    let mut image = I420Image::black(width as u32, height as u32)?;
    let layout = image.layout();
    let (chroma_width, chroma_height) = (layout.chroma_width(), layout.chroma_height());
    let (y, u, v) = image.planes_mut();
    copy_plane(picture.y(), y_stride, width, height, y)?;
    copy_plane(picture.u(), u_stride, chroma_width, chroma_height, u)?;
    copy_plane(picture.v(), v_stride, chroma_width, chroma_height, v)?;
    Ok(image)
}

fn copy_plane(
    src: &[u8],
    stride: usize,
    width: usize,
    rows: usize,
    dst: &mut [u8],
) -> Result<(), CodecError> {
    for (row, out) in dst.chunks_exact_mut(width).take(rows).enumerate() {
        let line = src
            .get(row * stride..row * stride + width)
            .ok_or_else(|| CodecError::H264 {
                operation: "decode",
                message: format!("decoded plane too short for row {row} at stride {stride}"),
            })?;
        out.copy_from_slice(line);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::test_pattern::TestPattern;

    #[test]
    fn levels_cover_common_sizes() {
        assert!(matches!(level_for(640, 480, 30), Level::Level_3_1));
        assert!(matches!(level_for(1280, 720, 30), Level::Level_3_1));
        assert!(matches!(level_for(1280, 720, 60), Level::Level_3_2));
        assert!(matches!(level_for(1920, 1080, 30), Level::Level_4_0));
    }

    #[test]
    fn bad_configs_name_the_field() {
        let error =
            |config: H264EncoderConfig| H264Encoder::new(config).err().map(|e| e.to_string());
        let odd = error(H264EncoderConfig {
            width: 641,
            ..Default::default()
        });
        assert!(odd.is_some_and(|e| e.contains("width = 641")));
        let outside = error(H264EncoderConfig {
            bitrate_bps: 5_000_000,
            ..Default::default()
        });
        assert!(outside.is_some_and(|e| e.contains("bitrate_bps") && e.contains("2500000")));
    }

    #[test]
    fn first_frame_is_an_idr_with_parameter_sets() {
        let config = H264EncoderConfig {
            width: 160,
            height: 120,
            ..Default::default()
        };
        let mut encoder = H264Encoder::new(config).unwrap();
        let frame = TestPattern::new(160, 120).unwrap().frame(0, 99);
        let encoded = encoder.encode(&frame).unwrap().unwrap();
        assert!(encoded.keyframe);
        assert_eq!((encoded.frame_number, encoded.capture_unix_ms), (0, 99));
        // Start code, then an SPS (NAL type 7) with profile 66, constraint flags set0+set1
        // (constrained baseline) and level 3.1.
        assert_eq!(&encoded.data[..4], &[0, 0, 0, 1]);
        assert_eq!(encoded.data[4] & 0x1f, 7);
        assert_eq!(encoded.data[5], 0x42);
        assert_eq!(
            encoded.data[6] & 0x40,
            0x40,
            "constraint_set1 marks constrained baseline"
        );
        assert_eq!(encoded.data[7], 0x1f);
        let wrong = TestPattern::new(320, 240).unwrap().frame(1, 0);
        assert!(matches!(
            encoder.encode(&wrong),
            Err(CodecError::FrameSize { width: 320, .. })
        ));
    }
}
