//! A moving test picture that carries its own frame number and capture time as a block code.
//!
//! Benchmarks read the code back from decoded pixels (in Rust with [`read_code`], in a browser
//! from canvas pixels) to measure glass-to-glass latency and count lost frames. The layout is
//! specified in `docs/test-pattern.md`; keep the two in step.

use super::convert::rgb_to_yuv601;
use super::frame::{FrameError, I420Image, VideoFrame};

/// Cells per code row: 2 guard cells, then 22 payload cells.
pub const CODE_COLUMNS: usize = 24;
/// Rows of cells in the code.
pub const CODE_ROWS: usize = 4;
/// Guard cells at the start of every row: white then black.
const GUARD_CELLS: usize = 2;
const PAYLOAD_BITS_PER_ROW: usize = CODE_COLUMNS - GUARD_CELLS;
/// Luma painted for a 1 bit and a 0 bit (video-range white and black).
const WHITE: u8 = 235;
const BLACK: u8 = 16;
/// Cell centre averages at or above this read as 1.
const THRESHOLD: u32 = 128;
/// Mask for the 48 bits of capture time the code carries.
const TIME_MASK: u64 = (1 << 48) - 1;

/// What the block code carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameCode {
    /// Lower 32 bits of the frame counter.
    pub frame_number: u32,
    /// Lower 48 bits of the capture time in milliseconds since the Unix epoch.
    pub capture_unix_ms: u64,
}

impl FrameCode {
    /// Keeps the bits that fit: 32 of the frame number, 48 of the capture time.
    pub fn new(frame_number: u64, capture_unix_ms: u64) -> Self {
        Self {
            frame_number: frame_number as u32,
            capture_unix_ms: capture_unix_ms & TIME_MASK,
        }
    }

    /// The 10 payload bytes: frame number (4, big-endian) then capture time (6, big-endian).
    fn payload(&self) -> [u8; 10] {
        let mut bytes = [0u8; 10];
        bytes[..4].copy_from_slice(&self.frame_number.to_be_bytes());
        bytes[4..].copy_from_slice(&self.capture_unix_ms.to_be_bytes()[2..]);
        bytes
    }

    /// The 88 bits painted after the guards: payload then CRC-8, each byte MSB first.
    fn bits(&self) -> [bool; 88] {
        let payload = self.payload();
        let crc = crc8(&payload);
        let mut bits = [false; 88];
        for (i, byte) in payload.iter().chain(std::iter::once(&crc)).enumerate() {
            for bit in 0..8 {
                bits[i * 8 + bit] = byte & (0x80 >> bit) != 0;
            }
        }
        bits
    }
}

/// Why a pattern could not be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The size is not a valid frame size.
    #[error(transparent)]
    Size(#[from] FrameError),
    /// Cells would be smaller than 2 pixels.
    #[error("a {width}x{height} frame is too small for the frame code: it needs at least 80x60")]
    TooSmall {
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
    },
}

/// Side of one code cell in pixels: `min(width / 40, height / 30)`, or `None` below 2.
pub fn cell_size(width: u32, height: u32) -> Option<usize> {
    let cell = (width / 40).min(height / 30) as usize;
    (cell >= 2).then_some(cell)
}

/// Paints the code into the top-left corner: a black quiet zone one cell wide around
/// `CODE_ROWS` x `CODE_COLUMNS` cells, with neutral chroma so the code stays grey.
pub fn paint_code(image: &mut I420Image, code: FrameCode) -> Result<(), PatternError> {
    let (width, height) = (image.width(), image.height());
    let cell = cell_size(width, height).ok_or(PatternError::TooSmall { width, height })?;
    let w = width as usize;
    let cw = image.layout().chroma_width();
    let (y_plane, u_plane, v_plane) = image.planes_mut();

    // Quiet zone and cells together span (columns + 2) x (rows + 2) cells from the corner.
    let (zone_w, zone_h) = ((CODE_COLUMNS + 2) * cell, (CODE_ROWS + 2) * cell);
    fill_rect(y_plane, w, 0, 0, zone_w, zone_h, BLACK);
    fill_rect(
        u_plane,
        cw,
        0,
        0,
        zone_w.div_ceil(2),
        zone_h.div_ceil(2),
        128,
    );
    fill_rect(
        v_plane,
        cw,
        0,
        0,
        zone_w.div_ceil(2),
        zone_h.div_ceil(2),
        128,
    );

    let bits = code.bits();
    for row in 0..CODE_ROWS {
        for column in 0..CODE_COLUMNS {
            if cell_is_white(&bits, row, column) {
                let (x, y) = ((column + 1) * cell, (row + 1) * cell);
                fill_rect(y_plane, w, x, y, cell, cell, WHITE);
            }
        }
    }
    Ok(())
}

/// Reads the code from a luma plane; `None` if the frame is too small, the plane too short,
/// a guard cell is wrong or the CRC does not match.
pub fn read_code(y_plane: &[u8], width: u32, height: u32, stride: usize) -> Option<FrameCode> {
    let cell = cell_size(width, height)?;
    let (w, h) = (width as usize, height as usize);
    let needed = stride.checked_mul(h - 1)?.checked_add(w)?;
    if stride < w || y_plane.len() < needed {
        return None;
    }
    // Averaging only the middle half of each cell ignores ringing at the cell edges.
    let margin = cell / 4;
    let window = cell - 2 * margin;
    let read_cell = |row: usize, column: usize| -> bool {
        let (x0, y0) = ((column + 1) * cell + margin, (row + 1) * cell + margin);
        let mut sum = 0u32;
        for y in y0..y0 + window {
            let line = &y_plane[y * stride + x0..][..window];
            sum += line.iter().map(|&p| u32::from(p)).sum::<u32>();
        }
        sum >= THRESHOLD * (window * window) as u32
    };

    let mut bits = [false; 88];
    for row in 0..CODE_ROWS {
        if !read_cell(row, 0) || read_cell(row, 1) {
            return None;
        }
        for column in GUARD_CELLS..CODE_COLUMNS {
            bits[row * PAYLOAD_BITS_PER_ROW + column - GUARD_CELLS] = read_cell(row, column);
        }
    }
    let mut bytes = [0u8; 11];
    for (i, bit) in bits.iter().enumerate() {
        if *bit {
            bytes[i / 8] |= 0x80 >> (i % 8);
        }
    }
    if crc8(&bytes[..10]) != bytes[10] {
        return None;
    }
    let mut time = [0u8; 8];
    time[2..].copy_from_slice(&bytes[4..10]);
    Some(FrameCode {
        frame_number: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
        capture_unix_ms: u64::from_be_bytes(time),
    })
}

/// CRC-8 with polynomial 0x07, initial value 0xFF, MSB first, no final XOR.
///
/// A non-zero start value means an all-black code area does not pass the check.
pub fn crc8(bytes: &[u8]) -> u8 {
    let mut crc = 0xFFu8;
    for byte in bytes {
        crc ^= byte;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Colour bars with a bouncing box below the code, stamped with each frame's code.
#[derive(Debug, Clone)]
pub struct TestPattern {
    background: I420Image,
    /// Top edge of the area the box may use: below the code's quiet zone.
    box_area_top: usize,
    box_side: usize,
}

impl TestPattern {
    /// Prepares the background once; every frame then costs one copy plus the box and code.
    pub fn new(width: u32, height: u32) -> Result<Self, PatternError> {
        let mut background = I420Image::black(width, height)?;
        let cell = cell_size(width, height).ok_or(PatternError::TooSmall { width, height })?;
        paint_bars(&mut background);
        Ok(Self {
            background,
            box_area_top: (CODE_ROWS + 2) * cell,
            box_side: 4 * cell,
        })
    }

    /// Draws frame `frame_number` captured at `capture_unix_ms`.
    pub fn frame(&self, frame_number: u64, capture_unix_ms: u64) -> VideoFrame {
        let mut image = self.background.clone();
        let (w, h) = (image.width() as usize, image.height() as usize);
        let cw = image.layout().chroma_width();
        let side = self.box_side;
        // A frame is at least 80x60 here, so the area below the code always fits the box.
        let x = bounce(frame_number.wrapping_mul(4), w.saturating_sub(side));
        let y = self.box_area_top
            + bounce(
                frame_number.wrapping_mul(3),
                h.saturating_sub(self.box_area_top + side),
            );
        let (y_plane, u_plane, v_plane) = image.planes_mut();
        fill_rect(y_plane, w, x, y, side, side, WHITE);
        // Chroma rectangle covering the box, so its edges stay neutral.
        let (cx, cy) = (x / 2, y / 2);
        let (c_width, c_height) = ((x + side).div_ceil(2) - cx, (y + side).div_ceil(2) - cy);
        fill_rect(u_plane, cw, cx, cy, c_width, c_height, 128);
        fill_rect(v_plane, cw, cx, cy, c_width, c_height, 128);
        // The size was checked in `new`, so painting the code cannot fail.
        let _ = paint_code(&mut image, FrameCode::new(frame_number, capture_unix_ms));
        image.into_frame(frame_number, capture_unix_ms)
    }
}

fn cell_is_white(bits: &[bool; 88], row: usize, column: usize) -> bool {
    match column {
        0 => true,
        1 => false,
        _ => bits[row * PAYLOAD_BITS_PER_ROW + column - GUARD_CELLS],
    }
}

/// Triangle wave: 0, 1, … `range`, … 1, 0, … so the box bounces off the edges.
fn bounce(step: u64, range: usize) -> usize {
    if range == 0 {
        return 0;
    }
    let period = 2 * range as u64;
    let phase = (step % period) as usize;
    if phase <= range {
        phase
    } else {
        2 * range - phase
    }
}

/// Seven 75% bars (white, yellow, cyan, green, magenta, red, blue), left to right.
fn paint_bars(image: &mut I420Image) {
    const BARS: [(u8, u8, u8); 7] = [
        (191, 191, 191),
        (191, 191, 0),
        (0, 191, 191),
        (0, 191, 0),
        (191, 0, 191),
        (191, 0, 0),
        (0, 0, 191),
    ];
    let layout = image.layout();
    let (w, cw) = (layout.width() as usize, layout.chroma_width());
    let colour_at = |x: usize| {
        let (r, g, b) = BARS[(x * BARS.len() / w).min(BARS.len() - 1)];
        rgb_to_yuv601(r, g, b)
    };
    let (y_plane, u_plane, v_plane) = image.planes_mut();
    for row in y_plane.chunks_exact_mut(w) {
        for (x, p) in row.iter_mut().enumerate() {
            *p = colour_at(x).0;
        }
    }
    for (u_row, v_row) in u_plane
        .chunks_exact_mut(cw)
        .zip(v_plane.chunks_exact_mut(cw))
    {
        for (cx, (u, v)) in u_row.iter_mut().zip(v_row.iter_mut()).enumerate() {
            let (_, cb, cr) = colour_at(2 * cx);
            *u = cb;
            *v = cr;
        }
    }
}

/// Fills a rectangle of a tightly packed plane, clipped to the plane.
fn fill_rect(plane: &mut [u8], stride: usize, x: usize, y: usize, w: usize, h: usize, value: u8) {
    for row in plane.chunks_exact_mut(stride).skip(y).take(h) {
        let end = (x + w).min(stride);
        if let Some(span) = row.get_mut(x..end) {
            span.fill(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(width: u32, height: u32) {
        let pattern = TestPattern::new(width, height).unwrap();
        for n in [0u64, 1, 77, u32::MAX as u64 + 5] {
            let frame = pattern.frame(n, 1_700_000_123_456 + n);
            let code = read_code(frame.y_plane(), width, height, width as usize);
            assert_eq!(
                code,
                Some(FrameCode::new(n, 1_700_000_123_456 + n)),
                "{width}x{height} #{n}"
            );
        }
    }

    #[test]
    fn round_trips_at_common_sizes() {
        round_trip(160, 120);
        round_trip(640, 480);
        round_trip(1280, 720);
        round_trip(81, 61);
    }

    #[test]
    fn cell_size_follows_the_documented_formula() {
        assert_eq!(cell_size(640, 480), Some(16));
        assert_eq!(cell_size(1280, 720), Some(24));
        assert_eq!(cell_size(160, 120), Some(4));
        assert_eq!(cell_size(79, 60), None);
        assert!(matches!(
            TestPattern::new(64, 48),
            Err(PatternError::TooSmall { .. })
        ));
    }

    #[test]
    fn crc_matches_the_documented_test_vector() {
        let code = FrameCode::new(1, 1_700_000_000_000);
        assert_eq!(
            code.payload(),
            [0, 0, 0, 1, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00]
        );
        assert_eq!(crc8(&code.payload()), 0xD8);
        assert_eq!(crc8(b"123456789"), 0xFB);
    }

    #[test]
    fn survives_luma_noise() {
        let (width, height) = (160u32, 120u32);
        let frame = TestPattern::new(width, height).unwrap().frame(42, 9_999);
        let mut state = 1u32;
        let noisy: Vec<u8> = frame
            .y_plane()
            .iter()
            .map(|&p| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let offset = (state >> 16) as i32 % 81 - 40;
                (i32::from(p) + offset).clamp(0, 255) as u8
            })
            .collect();
        assert_eq!(
            read_code(&noisy, width, height, width as usize),
            Some(FrameCode::new(42, 9_999))
        );
    }

    #[test]
    fn plain_and_broken_frames_read_as_none() {
        for grey in [0u8, 16, 127, 128, 235, 255] {
            assert_eq!(
                read_code(&[grey; 640 * 480], 640, 480, 640),
                None,
                "grey {grey}"
            );
        }
        let frame = TestPattern::new(640, 480).unwrap().frame(5, 5);
        let mut damaged = frame.y_plane().to_vec();
        // Flip one payload cell (row 0, column 5) to white: the CRC must catch it.
        let cell = 16;
        for y in cell..2 * cell {
            let start = y * 640 + 6 * cell;
            let span = &mut damaged[start..start + cell];
            let flipped = if span[0] > 128 { BLACK } else { WHITE };
            span.fill(flipped);
        }
        assert_eq!(read_code(&damaged, 640, 480, 640), None);
        // A short buffer or a too-small stride is refused rather than read out of bounds.
        assert_eq!(read_code(&frame.y_plane()[..1000], 640, 480, 640), None);
        assert_eq!(read_code(frame.y_plane(), 640, 480, 600), None);
    }

    #[test]
    fn reads_with_a_padded_stride() {
        let frame = TestPattern::new(320, 240).unwrap().frame(3, 4);
        let stride = 352;
        let mut padded = vec![0xAAu8; stride * 240];
        for (dst, src) in padded
            .chunks_exact_mut(stride)
            .zip(frame.y_plane().chunks_exact(320))
        {
            dst[..320].copy_from_slice(src);
        }
        assert_eq!(
            read_code(&padded, 320, 240, stride),
            Some(FrameCode::new(3, 4))
        );
    }

    #[test]
    fn the_box_moves_and_stays_below_the_code() {
        let pattern = TestPattern::new(640, 480).unwrap();
        let a = pattern.frame(0, 0);
        let b = pattern.frame(10, 0);
        let code_area = 6 * 16 * 640;
        assert_ne!(a.y_plane()[code_area..], b.y_plane()[code_area..]);
        for n in 0..400 {
            let frame = pattern.frame(n, 0);
            assert!(
                read_code(frame.y_plane(), 640, 480, 640).is_some(),
                "frame {n}"
            );
        }
    }
}
