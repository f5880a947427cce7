//! The frames that flow between media stages: I420 video and 20 ms mono audio.
//!
//! Both are cheap to clone (a reference count), so a frame travels from capture to packetizer
//! without its pixels or samples being copied.

use std::sync::Arc;

use bytes::Bytes;

/// Audio sample rate used everywhere inside the device (Opus' native rate).
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one audio frame: 20 ms at [`SAMPLE_RATE`], the Opus packet duration we use.
pub const FRAME_SAMPLES: usize = 960;
/// Duration of one audio frame in milliseconds.
pub const FRAME_MS: u64 = 20;
/// Largest width or height we accept, so that size arithmetic can never overflow and a corrupt
/// header cannot make us allocate gigabytes.
pub const MAX_DIMENSION: u32 = 8192;

/// Why a frame could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Width or height is zero or larger than [`MAX_DIMENSION`].
    #[error("frame size {width}x{height} is not allowed: each side must be 1..={MAX_DIMENSION}")]
    BadSize {
        /// Requested width in pixels.
        width: u32,
        /// Requested height in pixels.
        height: u32,
    },
    /// The pixel buffer does not hold exactly one I420 picture of the stated size.
    #[error("an I420 {width}x{height} picture takes {expected} bytes, got {actual}")]
    WrongBufferLength {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Bytes an I420 picture of that size takes.
        expected: usize,
        /// Bytes supplied.
        actual: usize,
    },
    /// An audio frame must hold exactly [`FRAME_SAMPLES`] samples.
    #[error("an audio frame holds {FRAME_SAMPLES} samples (20 ms at 48 kHz), got {actual}")]
    WrongSampleCount {
        /// Samples supplied.
        actual: usize,
    },
}

/// Plane sizes of a tightly packed I420 picture (Y, then U, then V; strides equal plane widths).
///
/// Chroma planes are half size rounded up, so odd widths and heights keep their last column/row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct I420Layout {
    width: u32,
    height: u32,
}

impl I420Layout {
    /// Checks the size against [`MAX_DIMENSION`] and zero.
    pub fn new(width: u32, height: u32) -> Result<Self, FrameError> {
        if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
            return Err(FrameError::BadSize { width, height });
        }
        Ok(Self { width, height })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Width of the U and V planes: half the width, rounded up.
    pub fn chroma_width(&self) -> usize {
        (self.width as usize).div_ceil(2)
    }

    /// Height of the U and V planes: half the height, rounded up.
    pub fn chroma_height(&self) -> usize {
        (self.height as usize).div_ceil(2)
    }

    /// Bytes in the Y plane.
    pub fn luma_len(&self) -> usize {
        self.width as usize * self.height as usize
    }

    /// Bytes in one chroma plane.
    pub fn chroma_len(&self) -> usize {
        self.chroma_width() * self.chroma_height()
    }

    /// Bytes in the whole picture.
    pub fn total_len(&self) -> usize {
        self.luma_len() + 2 * self.chroma_len()
    }
}

/// An I420 picture being built or painted; turn it into a shareable [`VideoFrame`] when done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I420Image {
    layout: I420Layout,
    data: Vec<u8>,
}

impl I420Image {
    /// A black picture (video-range Y = 16, neutral chroma).
    pub fn black(width: u32, height: u32) -> Result<Self, FrameError> {
        let layout = I420Layout::new(width, height)?;
        let mut data = vec![128u8; layout.total_len()];
        data[..layout.luma_len()].fill(16);
        Ok(Self { layout, data })
    }

    /// Wraps tightly packed I420 bytes, checking the length.
    pub fn from_vec(width: u32, height: u32, data: Vec<u8>) -> Result<Self, FrameError> {
        let layout = I420Layout::new(width, height)?;
        check_length(layout, data.len())?;
        Ok(Self { layout, data })
    }

    /// Plane sizes of this picture.
    pub fn layout(&self) -> I420Layout {
        self.layout
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.layout.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.layout.height
    }

    /// The Y, U and V planes.
    pub fn planes(&self) -> (&[u8], &[u8], &[u8]) {
        split_planes(self.layout, &self.data)
    }

    /// The Y, U and V planes, writable.
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let (y, chroma) = self.data.split_at_mut(self.layout.luma_len());
        let (u, v) = chroma.split_at_mut(self.layout.chroma_len());
        (y, u, v)
    }

    /// All three planes back to back.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// Freezes the picture into a shareable frame; the pixel buffer is moved, not copied.
    pub fn into_frame(self, frame_number: u64, capture_unix_ms: u64) -> VideoFrame {
        VideoFrame {
            layout: self.layout,
            data: Bytes::from(self.data),
            frame_number,
            capture_unix_ms,
        }
    }
}

/// One captured I420 picture with its capture time; clones share the pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFrame {
    layout: I420Layout,
    data: Bytes,
    frame_number: u64,
    capture_unix_ms: u64,
}

impl VideoFrame {
    /// Wraps tightly packed I420 bytes already in a shared buffer, checking the length.
    pub fn from_bytes(
        width: u32,
        height: u32,
        data: Bytes,
        frame_number: u64,
        capture_unix_ms: u64,
    ) -> Result<Self, FrameError> {
        let layout = I420Layout::new(width, height)?;
        check_length(layout, data.len())?;
        Ok(Self {
            layout,
            data,
            frame_number,
            capture_unix_ms,
        })
    }

    /// Plane sizes of this picture.
    pub fn layout(&self) -> I420Layout {
        self.layout
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.layout.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.layout.height
    }

    /// Counter assigned by the capture source, starting at 0.
    pub fn frame_number(&self) -> u64 {
        self.frame_number
    }

    /// Wall-clock capture time in milliseconds since the Unix epoch.
    pub fn capture_unix_ms(&self) -> u64 {
        self.capture_unix_ms
    }

    /// The shared buffer holding Y, U and V back to back.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// The Y plane (stride = width).
    pub fn y_plane(&self) -> &[u8] {
        split_planes(self.layout, &self.data).0
    }

    /// The U (Cb) plane (stride = chroma width).
    pub fn u_plane(&self) -> &[u8] {
        split_planes(self.layout, &self.data).1
    }

    /// The V (Cr) plane (stride = chroma width).
    pub fn v_plane(&self) -> &[u8] {
        split_planes(self.layout, &self.data).2
    }
}

/// 20 ms of 48 kHz mono signed 16-bit audio; clones share the samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFrame {
    samples: Arc<[i16]>,
}

impl AudioFrame {
    /// Wraps exactly [`FRAME_SAMPLES`] samples.
    pub fn new(samples: impl Into<Arc<[i16]>>) -> Result<Self, FrameError> {
        let samples = samples.into();
        if samples.len() != FRAME_SAMPLES {
            return Err(FrameError::WrongSampleCount {
                actual: samples.len(),
            });
        }
        Ok(Self { samples })
    }

    /// Wraps one frame's worth of samples; the array type guarantees the length.
    pub fn from_array(samples: [i16; FRAME_SAMPLES]) -> Self {
        Self {
            samples: Arc::from(samples),
        }
    }

    /// 20 ms of silence.
    pub fn silence() -> Self {
        Self::from_array([0; FRAME_SAMPLES])
    }

    /// The [`FRAME_SAMPLES`] samples.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// Cuts a sample stream into frames, padding the last one with silence.
    pub fn split(samples: &[i16]) -> Vec<AudioFrame> {
        samples
            .chunks(FRAME_SAMPLES)
            .map(|chunk| {
                let mut padded = [0i16; FRAME_SAMPLES];
                padded[..chunk.len()].copy_from_slice(chunk);
                Self::from_array(padded)
            })
            .collect()
    }
}

fn check_length(layout: I420Layout, actual: usize) -> Result<(), FrameError> {
    if actual != layout.total_len() {
        return Err(FrameError::WrongBufferLength {
            width: layout.width,
            height: layout.height,
            expected: layout.total_len(),
            actual,
        });
    }
    Ok(())
}

/// Callers have checked `data.len() == layout.total_len()` at construction.
fn split_planes(layout: I420Layout, data: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let (y, chroma) = data.split_at(layout.luma_len());
    let (u, v) = chroma.split_at(layout.chroma_len());
    (y, u, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_sizes_round_chroma_up() {
        let layout = I420Layout::new(5, 3).unwrap();
        assert_eq!((layout.chroma_width(), layout.chroma_height()), (3, 2));
        assert_eq!(layout.total_len(), 15 + 2 * 6);
    }

    #[test]
    fn zero_and_huge_sizes_are_refused() {
        assert!(I420Layout::new(0, 10).is_err());
        assert!(I420Layout::new(10, MAX_DIMENSION + 1).is_err());
    }

    #[test]
    fn frame_shares_its_buffer() {
        let image = I420Image::black(4, 2).unwrap();
        let frame = image.into_frame(7, 1234);
        let clone = frame.clone();
        assert_eq!(frame.data().as_ptr(), clone.data().as_ptr());
        assert_eq!(frame.y_plane(), &[16; 8]);
        assert_eq!(frame.u_plane(), &[128; 2]);
        assert_eq!((clone.frame_number(), clone.capture_unix_ms()), (7, 1234));
    }

    #[test]
    fn wrong_lengths_are_typed_errors() {
        assert!(matches!(
            VideoFrame::from_bytes(4, 4, Bytes::from_static(&[0; 10]), 0, 0),
            Err(FrameError::WrongBufferLength { expected: 24, .. })
        ));
        assert!(matches!(
            AudioFrame::new(vec![0i16; 10]),
            Err(FrameError::WrongSampleCount { actual: 10 })
        ));
    }

    #[test]
    fn split_pads_the_tail_with_silence() {
        let samples: Vec<i16> = (0..1000).map(|i| i as i16 + 1).collect();
        let frames = AudioFrame::split(&samples);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].samples()[39], 1000);
        assert_eq!(frames[1].samples()[40], 0);
    }
}
