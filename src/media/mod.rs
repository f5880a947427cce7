//! Media for the device: frames, pixel-format conversion, the test pattern, Y4M and WAV files,
//! tones, the jitter buffer and the mixer (pure, synchronous building blocks); the capture
//! sources and audio sinks chosen by name from config; the H.264 and Opus codecs; and
//! `record`, which runs capture and encode without a room.
//!
//! Only sources and sinks block (like the devices they stand for) and only `record` starts
//! threads: the capture, encode and playback actors call into the rest, and tests call
//! everything directly.

pub mod alsa_backend;
pub mod codec_error;
pub mod convert;
pub mod file_io;
pub mod frame;
pub mod h264;
pub mod jitter;
pub mod latest;
pub mod mixer;
pub mod opus_codec;
pub mod pacing;
pub mod record;
pub mod source;
pub mod synthetic;
pub mod test_pattern;
pub mod tone;
pub mod v4l2;
pub mod wav;
pub mod y4m;
