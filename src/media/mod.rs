//! Pure, synchronous media building blocks: frames, pixel-format conversion, the test
//! pattern, Y4M and WAV files, tones, the jitter buffer and the mixer.
//!
//! Nothing here owns a thread, a timer or a device: the capture, encode and playback actors
//! (and their V4L2/ALSA backends) call into these modules, and tests call them directly.

pub mod convert;
pub mod frame;
pub mod jitter;
pub mod mixer;
pub mod test_pattern;
pub mod tone;
pub mod wav;
pub mod y4m;
