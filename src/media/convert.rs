//! Camera pixel formats to I420: NV12, YUYV (YUY2) and MJPEG.
//!
//! Rules shared by every conversion:
//! - Width and height must be 1..=[`MAX_DIMENSION`](super::frame::MAX_DIMENSION); odd sizes
//!   are fine, chroma rounds up (the last chroma sample of an odd row or column covers one
//!   pixel instead of two).
//! - Each source plane has an explicit stride (V4L2 `bytesperline`), which may include padding.
//!   A plane must be at least `stride * (rows - 1) + row_bytes` long: the last row need not carry
//!   its padding. Anything shorter is a [`ConvertError`], never a panic.
//! - Output is BT.601 video range (Y 16..235, chroma 16..240), what H.264 decoders assume when
//!   the stream does not say otherwise.

use super::frame::{FrameError, I420Image, I420Layout};

mod mjpeg;

pub use mjpeg::mjpeg_to_i420;

/// One source plane: its bytes and the distance in bytes from one row to the next.
#[derive(Debug, Clone, Copy)]
pub struct PlaneRef<'a> {
    /// The plane's bytes, starting at its first row.
    pub data: &'a [u8],
    /// Bytes from the start of one row to the start of the next (`bytesperline`).
    pub stride: usize,
}

/// Why a camera buffer could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// The stated picture size is not allowed.
    #[error(transparent)]
    Size(#[from] FrameError),
    /// The stride is smaller than one row of pixels.
    #[error("{plane} plane stride {stride} is smaller than one row of {row_bytes} bytes")]
    StrideTooSmall {
        /// Which plane ("Y", "UV", "YUYV").
        plane: &'static str,
        /// Stride given.
        stride: usize,
        /// Bytes one row of pixels takes.
        row_bytes: usize,
    },
    /// The buffer ends before the last row does.
    #[error("{plane} plane holds {actual} bytes but {rows} rows at stride {stride} need {needed}")]
    BufferTooShort {
        /// Which plane ("Y", "UV", "YUYV").
        plane: &'static str,
        /// Rows the picture size implies.
        rows: usize,
        /// Stride given.
        stride: usize,
        /// Bytes needed.
        needed: usize,
        /// Bytes supplied.
        actual: usize,
    },
    /// The JPEG decoder refused the data.
    #[error("bad JPEG: {0}")]
    Jpeg(String),
    /// The JPEG decoded fine but is not the size the camera said it would be.
    #[error("JPEG is {actual_width}x{actual_height}, expected {width}x{height}")]
    JpegSizeMismatch {
        /// Size the caller expected.
        width: u32,
        /// Size the caller expected.
        height: u32,
        /// Size found in the JPEG.
        actual_width: usize,
        /// Size found in the JPEG.
        actual_height: usize,
    },
}

/// NV12 (Y plane, then one plane of interleaved U,V pairs at half resolution) to I420.
pub fn nv12_to_i420(
    width: u32,
    height: u32,
    y: PlaneRef<'_>,
    uv: PlaneRef<'_>,
) -> Result<I420Image, ConvertError> {
    let layout = I420Layout::new(width, height)?;
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (layout.chroma_width(), layout.chroma_height());
    check_plane("Y", y, w, h)?;
    check_plane("UV", uv, 2 * cw, ch)?;

    let mut image = I420Image::black(width, height)?;
    let (out_y, out_u, out_v) = image.planes_mut();
    copy_rows(y, w, out_y);
    for (row, (u_row, v_row)) in out_u
        .chunks_exact_mut(cw)
        .zip(out_v.chunks_exact_mut(cw))
        .enumerate()
    {
        let src = &uv.data[row * uv.stride..][..2 * cw];
        for ((pair, u), v) in src
            .chunks_exact(2)
            .zip(u_row.iter_mut())
            .zip(v_row.iter_mut())
        {
            *u = pair[0];
            *v = pair[1];
        }
    }
    Ok(image)
}

/// NV12 from a single V4L2 buffer: the UV plane follows the Y plane at `stride * height`
/// and shares its stride (the V4L2 single-planar NV12 layout).
pub fn nv12_contiguous_to_i420(
    width: u32,
    height: u32,
    buffer: &[u8],
    stride: usize,
) -> Result<I420Image, ConvertError> {
    let uv_offset = stride.saturating_mul(height as usize);
    // An offset past the end leaves an empty UV plane, which check_plane reports as too short.
    let uv_data = buffer.get(uv_offset..).unwrap_or(&[]);
    let y_data = buffer.get(..uv_offset).unwrap_or(buffer);
    nv12_to_i420(
        width,
        height,
        PlaneRef {
            data: y_data,
            stride,
        },
        PlaneRef {
            data: uv_data,
            stride,
        },
    )
}

/// YUYV / YUY2 (packed `Y0 U Y1 V` per two pixels, 4:2:2) to I420.
///
/// Vertical chroma halving averages each pair of rows (rounding half up). An odd width still
/// needs a whole final `Y0 U Y1 V` group; its `Y1` is ignored.
pub fn yuyv_to_i420(width: u32, height: u32, src: PlaneRef<'_>) -> Result<I420Image, ConvertError> {
    let layout = I420Layout::new(width, height)?;
    let (w, h) = (width as usize, height as usize);
    let cw = layout.chroma_width();
    let row_bytes = 4 * cw;
    check_plane("YUYV", src, row_bytes, h)?;

    let mut image = I420Image::black(width, height)?;
    let (out_y, out_u, out_v) = image.planes_mut();
    for (row, y_row) in out_y.chunks_exact_mut(w).enumerate() {
        let packed = &src.data[row * src.stride..][..row_bytes];
        for (y, pixel) in y_row.iter_mut().zip(packed.chunks_exact(2)) {
            *y = pixel[0];
        }
    }
    for (crow, (u_row, v_row)) in out_u
        .chunks_exact_mut(cw)
        .zip(out_v.chunks_exact_mut(cw))
        .enumerate()
    {
        let top = &src.data[2 * crow * src.stride..][..row_bytes];
        // The last chroma row of an odd height covers one source row only.
        let bottom_row = (2 * crow + 1).min(h - 1);
        let bottom = &src.data[bottom_row * src.stride..][..row_bytes];
        for (i, (u, v)) in u_row.iter_mut().zip(v_row.iter_mut()).enumerate() {
            *u = average2(top[4 * i + 1], bottom[4 * i + 1]);
            *v = average2(top[4 * i + 3], bottom[4 * i + 3]);
        }
    }
    Ok(image)
}

/// BT.601 video-range Y, Cb, Cr of an sRGB colour (each 0..=255).
pub fn rgb_to_yuv601(r: u8, g: u8, b: u8) -> (u8, u8, u8) {
    let (r, g, b) = (f32::from(r), f32::from(g), f32::from(b));
    let y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
    let u = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0;
    let v = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0;
    // The `as` casts saturate, and the coefficients keep results inside 16..=240 anyway.
    (y.round() as u8, u.round() as u8, v.round() as u8)
}

fn average2(a: u8, b: u8) -> u8 {
    (u16::from(a) + u16::from(b)).div_ceil(2) as u8
}

/// Checks that `rows` rows of `row_bytes` fit in the plane at its stride.
fn check_plane(
    plane: &'static str,
    src: PlaneRef<'_>,
    row_bytes: usize,
    rows: usize,
) -> Result<(), ConvertError> {
    if src.stride < row_bytes {
        return Err(ConvertError::StrideTooSmall {
            plane,
            stride: src.stride,
            row_bytes,
        });
    }
    let needed = src
        .stride
        .checked_mul(rows.saturating_sub(1))
        .and_then(|n| n.checked_add(row_bytes))
        .unwrap_or(usize::MAX);
    if src.data.len() < needed {
        return Err(ConvertError::BufferTooShort {
            plane,
            rows,
            stride: src.stride,
            needed,
            actual: src.data.len(),
        });
    }
    Ok(())
}

/// Copies `row_bytes` from each source row into the tightly packed `out`; the source was checked.
fn copy_rows(src: PlaneRef<'_>, row_bytes: usize, out: &mut [u8]) {
    for (row, dst) in out.chunks_exact_mut(row_bytes).enumerate() {
        dst.copy_from_slice(&src.data[row * src.stride..][..row_bytes]);
    }
}

#[cfg(test)]
mod tests;
