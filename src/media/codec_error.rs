//! The error both codec wrappers (H.264 and Opus) return.

use super::frame::FrameError;

/// Why encoding or decoding failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// An encoder setting is out of range.
    #[error("encoder setting {key} = {value} is not valid: {accepted}")]
    BadConfig {
        /// The setting, e.g. `bitrate_bps`.
        key: &'static str,
        /// The value given.
        value: String,
        /// What would be accepted.
        accepted: String,
    },
    /// A frame's size differs from the one the encoder was made for.
    #[error("the encoder was made for {expected_width}x{expected_height} but got a {width}x{height} frame; make a new encoder for the new size")]
    FrameSize {
        /// Size the encoder was configured with.
        expected_width: u32,
        /// Size the encoder was configured with.
        expected_height: u32,
        /// Size of the frame given.
        width: u32,
        /// Size of the frame given.
        height: u32,
    },
    /// openh264 reported an error.
    #[error("openh264 {operation} failed: {message}")]
    H264 {
        /// `create encoder`, `encode`, `decode`...
        operation: &'static str,
        /// openh264's message.
        message: String,
    },
    /// libopus reported an error.
    #[error("opus {operation} failed: {message}")]
    Opus {
        /// `create encoder`, `encode`, `decode`...
        operation: &'static str,
        /// libopus' message.
        message: String,
    },
    /// An Opus packet does not hold exactly one 20 ms frame.
    #[error(
        "the Opus packet holds {samples} samples; only 20 ms packets (960 samples) are played"
    )]
    PacketDuration {
        /// Samples per channel the packet decoded to.
        samples: usize,
    },
    /// A decoded picture could not be turned into a frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
}
