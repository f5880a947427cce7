//! MJPEG frames to I420, through zune-jpeg.

use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use super::{rgb_to_yuv601, ConvertError};
use crate::media::frame::{I420Image, I420Layout, MAX_DIMENSION};

/// A DHT segment with the standard tables of JPEG Annex K.3 (luma and chroma, DC and AC),
/// which the MJPEG (OpenDML) convention leaves out of every frame.
const STANDARD_DHT: [u8; 420] = {
    const DC_LUMA_COUNTS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
    const DC_CHROMA_COUNTS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
    const DC_SYMBOLS: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const AC_LUMA_COUNTS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D];
    const AC_LUMA_SYMBOLS: [u8; 162] = [
        0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61,
        0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52,
        0xD1, 0xF0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25,
        0x26, 0x27, 0x28, 0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45,
        0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64,
        0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83,
        0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
        0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6,
        0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3,
        0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8,
        0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
    ];
    const AC_CHROMA_COUNTS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
    const AC_CHROMA_SYMBOLS: [u8; 162] = [
        0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61,
        0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33,
        0x52, 0xF0, 0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18,
        0x19, 0x1A, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44,
        0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63,
        0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A,
        0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97,
        0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4,
        0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA,
        0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7,
        0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
    ];
    let mut out = [0u8; 420];
    // Marker FFC4, then the length (418) counting itself but not the marker.
    out[0] = 0xFF;
    out[1] = 0xC4;
    out[2] = 0x01;
    out[3] = 0xA2;
    let mut at = 4;
    // Each table: class/id byte (0x00 DC luma, 0x10 AC luma, 0x01 DC chroma, 0x11 AC chroma),
    // 16 code-length counts, then the symbols.
    let tables: [(u8, &[u8; 16], &[u8]); 4] = [
        (0x00, &DC_LUMA_COUNTS, &DC_SYMBOLS),
        (0x10, &AC_LUMA_COUNTS, &AC_LUMA_SYMBOLS),
        (0x01, &DC_CHROMA_COUNTS, &DC_SYMBOLS),
        (0x11, &AC_CHROMA_COUNTS, &AC_CHROMA_SYMBOLS),
    ];
    let mut t = 0;
    while t < tables.len() {
        let (class, counts, symbols) = tables[t];
        out[at] = class;
        at += 1;
        let mut i = 0;
        while i < 16 {
            out[at] = counts[i];
            at += 1;
            i += 1;
        }
        let mut i = 0;
        while i < symbols.len() {
            out[at] = symbols[i];
            at += 1;
            i += 1;
        }
        t += 1;
    }
    out
};

/// Whether the segments before the first scan (SOS) include no DHT. Anything unparseable
/// counts as "has tables", leaving the decoder to report the real problem.
fn lacks_huffman_tables(jpeg: &[u8]) -> bool {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let mut at = 2;
    while let (Some(&0xFF), Some(&marker)) = (jpeg.get(at), jpeg.get(at + 1)) {
        match marker {
            0xC4 => return false,
            0xDA => return true,
            // Fill bytes before a marker.
            0xFF => at += 1,
            _ => {
                let Some(&[high, low]) = jpeg.get(at + 2..at + 4) else {
                    return false;
                };
                at += 2 + usize::from(u16::from_be_bytes([high, low]));
            }
        }
    }
    false
}

/// The frame with [`STANDARD_DHT`] inserted right after its start-of-image marker.
fn insert_standard_huffman_tables(jpeg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(jpeg.len() + STANDARD_DHT.len());
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&STANDARD_DHT);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// One MJPEG frame (a baseline or progressive JPEG, any chroma subsampling) to I420.
///
/// The decoder is asked for full-resolution YCbCr, which it produces for every subsampling
/// (4:2:0, 4:2:2, 4:4:4) by upsampling; we then box-filter chroma down to 4:2:0 and map JFIF's
/// full range to video range. Taking YCbCr rather than RGB skips a colour-space round trip
/// (less work, no extra rounding). JPEGs not coded as YCbCr (greyscale, Adobe RGB/CMYK) are
/// decoded to RGB and converted with BT.601. Frames without Huffman tables, as many UVC
/// cameras send them, get the standard tables. `width` and `height` are what the camera
/// negotiated; a JPEG of another size is an error rather than a silently different frame.
pub fn mjpeg_to_i420(width: u32, height: u32, jpeg: &[u8]) -> Result<I420Image, ConvertError> {
    decode_jpeg(width, height, jpeg, true)
}

fn decode_jpeg(
    width: u32,
    height: u32,
    jpeg: &[u8],
    prefer_ycbcr: bool,
) -> Result<I420Image, ConvertError> {
    let layout = I420Layout::new(width, height)?;
    let options = DecoderOptions::default()
        .set_max_width(MAX_DIMENSION as usize)
        .set_max_height(MAX_DIMENSION as usize);
    let with_tables;
    let jpeg = if lacks_huffman_tables(jpeg) {
        with_tables = insert_standard_huffman_tables(jpeg);
        with_tables.as_slice()
    } else {
        jpeg
    };
    let mut decoder = JpegDecoder::new_with_options(jpeg, options);
    guarded("its headers", || decoder.decode_headers())?;
    let (actual_width, actual_height) = decoder
        .dimensions()
        .ok_or_else(|| ConvertError::Jpeg("no frame header".into()))?;
    if (actual_width, actual_height) != (width as usize, height as usize) {
        return Err(ConvertError::JpegSizeMismatch {
            width,
            height,
            actual_width,
            actual_height,
        });
    }
    let is_ycbcr = decoder.get_input_colorspace() == Some(ColorSpace::YCbCr);
    let out_colorspace = if is_ycbcr && prefer_ycbcr {
        ColorSpace::YCbCr
    } else {
        ColorSpace::RGB
    };
    decoder.set_options(options.jpeg_set_out_colorspace(out_colorspace));
    let pixels = guarded("the picture", || decoder.decode())?;
    if pixels.len() < layout.luma_len() * 3 {
        return Err(ConvertError::Jpeg(format!(
            "decoder returned {} bytes for a {width}x{height} picture",
            pixels.len()
        )));
    }
    let mut image = I420Image::black(width, height)?;
    if out_colorspace == ColorSpace::YCbCr {
        full_range_ycbcr_to_i420(&pixels, &mut image);
    } else {
        rgb_to_i420(&pixels, &mut image);
    }
    Ok(image)
}

/// Runs one zune-jpeg call, its error or its panic becoming `ConvertError::Jpeg`. zune-jpeg
/// 0.4 still asserts on some corrupt data (an `assert_eq!` in its upsampler, found by the
/// `mjpeg` fuzz target; upstream etemesi254/zune-image issues 151 and 236), and a camera or its
/// cable can deliver such a frame: that must cost one frame, not the capture thread.
fn guarded<T, E: std::fmt::Debug>(
    part: &str,
    call: impl FnOnce() -> Result<T, E>,
) -> Result<T, ConvertError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        Ok(result) => result.map_err(|e| ConvertError::Jpeg(format!("{e:?}"))),
        Err(_) => Err(ConvertError::Jpeg(format!(
            "the decoder gave up on {part} (corrupt data)"
        ))),
    }
}

/// Interleaved full-resolution, full-range YCbCr (3 bytes per pixel) into `image`.
fn full_range_ycbcr_to_i420(pixels: &[u8], image: &mut I420Image) {
    // Lookup tables: 256 entries each, cheaper than arithmetic on every pixel.
    let luma: [u8; 256] = std::array::from_fn(|v| (16.0 + v as f32 * 219.0 / 255.0).round() as u8);
    let chroma: [u8; 256] =
        std::array::from_fn(|v| (128.0 + (v as f32 - 128.0) * 224.0 / 255.0).round() as u8);
    interleaved_to_i420(pixels, image, |p| {
        (
            luma[p[0] as usize],
            chroma[p[1] as usize],
            chroma[p[2] as usize],
        )
    });
}

/// Interleaved RGB (3 bytes per pixel) into `image`.
fn rgb_to_i420(pixels: &[u8], image: &mut I420Image) {
    interleaved_to_i420(pixels, image, |p| rgb_to_yuv601(p[0], p[1], p[2]));
}

/// Writes every pixel's Y and box-filters each 2x2 block's U and V (fewer pixels at odd edges).
fn interleaved_to_i420(
    pixels: &[u8],
    image: &mut I420Image,
    to_yuv: impl Fn(&[u8]) -> (u8, u8, u8),
) {
    let layout = image.layout();
    let (w, cw) = (layout.width() as usize, layout.chroma_width());
    let (out_y, out_u, out_v) = image.planes_mut();
    let mut u_sum = vec![0u32; cw];
    let mut v_sum = vec![0u32; cw];
    let mut count = vec![0u32; cw];
    for (row, (y_row, src_row)) in out_y
        .chunks_exact_mut(w)
        .zip(pixels.chunks_exact(3 * w))
        .enumerate()
    {
        for (x, (y, pixel)) in y_row.iter_mut().zip(src_row.chunks_exact(3)).enumerate() {
            let (py, pu, pv) = to_yuv(pixel);
            *y = py;
            u_sum[x / 2] += u32::from(pu);
            v_sum[x / 2] += u32::from(pv);
            count[x / 2] += 1;
        }
        let last_row = row + 1 == layout.height() as usize;
        if row % 2 == 1 || last_row {
            let crow = row / 2;
            for i in 0..cw {
                let n = count[i].max(1);
                out_u[crow * cw + i] = ((u_sum[i] + n / 2) / n) as u8;
                out_v[crow * cw + i] = ((v_sum[i] + n / 2) / n) as u8;
            }
            u_sum.fill(0);
            v_sum.fill(0);
            count.fill(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic bytes that are not a JPEG.
    fn noise(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7919 % 251) as u8).collect()
    }

    /// `ffmpeg -f lavfi -i "color=c=0xFF0000:s=16x16,format=rgb24[a];color=c=0x0000FF:
    /// s=16x16,format=rgb24[b];[a][b]hstack" -frames:v 1 -pix_fmt yuvj420p -q:v 2
    /// -f mjpeg red_blue_420.jpg` (and `yuvj422p` for the 4:2:2 one): left half pure red,
    /// right half pure blue.
    const RED_BLUE_420: &[u8] = include_bytes!("../testdata/red_blue_420.jpg");
    const RED_BLUE_422: &[u8] = include_bytes!("../testdata/red_blue_422.jpg");
    /// The 4:2:2 one encoded with `-huffman default`, then its DHT segment cut out (as a UVC
    /// camera would send it).
    const RED_BLUE_422_NO_DHT: &[u8] = include_bytes!("../testdata/red_blue_422_no_dht.jpg");
    /// `ffmpeg -f lavfi -i "color=c=0x808080:s=17x9,format=rgb24" -frames:v 1 -pix_fmt yuvj420p
    /// -q:v 2 -f mjpeg grey_17x9_420.jpg` (the `format=rgb24` keeps ffmpeg from evening the size).
    const GREY_17X9: &[u8] = include_bytes!("../testdata/grey_17x9_420.jpg");
    /// A 24x16 4:2:2 JPEG mutated by the `mjpeg` fuzz target until zune-jpeg's upsampler
    /// asserted (`left: 768, right: 384`).
    const CORRUPT_UPSAMPLER: &[u8] = include_bytes!("../testdata/corrupt_422_upsampler_24x16.jpg");

    #[test]
    fn a_frame_that_makes_the_decoder_panic_is_an_error() {
        // Regression: this panicked inside zune-jpeg and took the capture thread with it.
        let err = mjpeg_to_i420(24, 16, CORRUPT_UPSAMPLER).expect_err("corrupt");
        assert!(matches!(err, ConvertError::Jpeg(_)), "{err}");
        // The next good frame still converts.
        assert!(mjpeg_to_i420(32, 16, RED_BLUE_422).is_ok());
    }

    fn assert_near(actual: u8, expected: u8, what: &str) {
        assert!(
            actual.abs_diff(expected) <= 3,
            "{what}: got {actual}, expected {expected}±3"
        );
    }

    /// Checks the red | blue picture. Chroma columns next to the colour edge are skipped because
    /// the decoder's chroma upsampling blends across it, as any JPEG decoder may; through RGB that
    /// blend also reaches luma, so `exact_luma_edge` is false there.
    fn assert_red_blue(image: &I420Image, exact_luma_edge: bool) {
        assert_eq!((image.width(), image.height()), (32, 16));
        let red = rgb_to_yuv601(255, 0, 0);
        let blue = rgb_to_yuv601(0, 0, 255);
        assert_eq!(red, (81, 90, 240));
        let (y, u, v) = image.planes();
        for row in 0..16 {
            for x in (0..32).filter(|x| exact_luma_edge || !(14..18).contains(x)) {
                let want = if x < 16 { red } else { blue };
                assert_near(y[row * 32 + x], want.0, &format!("Y at {x},{row}"));
            }
        }
        for row in 0..8 {
            for x in (0..7).chain(9..16) {
                let want = if x < 8 { red } else { blue };
                assert_near(u[row * 16 + x], want.1, &format!("U at {x},{row}"));
                assert_near(v[row * 16 + x], want.2, &format!("V at {x},{row}"));
            }
        }
    }

    #[test]
    fn mjpeg_420_and_422_decode_to_video_range_i420() {
        assert_red_blue(&mjpeg_to_i420(32, 16, RED_BLUE_420).unwrap(), true);
        assert_red_blue(&mjpeg_to_i420(32, 16, RED_BLUE_422).unwrap(), true);
    }

    #[test]
    fn mjpeg_without_huffman_tables_gets_the_standard_ones() {
        assert!(lacks_huffman_tables(RED_BLUE_422_NO_DHT));
        assert!(!lacks_huffman_tables(RED_BLUE_422));
        assert_red_blue(&mjpeg_to_i420(32, 16, RED_BLUE_422_NO_DHT).unwrap(), true);
    }

    #[test]
    fn mjpeg_rgb_fallback_agrees_with_ycbcr_path() {
        assert_red_blue(&decode_jpeg(32, 16, RED_BLUE_420, false).unwrap(), false);
    }

    #[test]
    fn mjpeg_odd_size_keeps_last_row_and_column() {
        let image = mjpeg_to_i420(17, 9, GREY_17X9).unwrap();
        let (y, u, v) = image.planes();
        assert_eq!((u.len(), v.len()), (9 * 5, 9 * 5));
        let grey = rgb_to_yuv601(128, 128, 128);
        assert!(y.iter().all(|&p| p.abs_diff(grey.0) <= 2), "{y:?}");
        assert!(u.iter().chain(v).all(|&p| p.abs_diff(128) <= 2));
    }

    #[test]
    fn bad_jpegs_are_typed_errors() {
        assert!(matches!(
            mjpeg_to_i420(16, 16, RED_BLUE_420),
            Err(ConvertError::JpegSizeMismatch {
                actual_width: 32,
                actual_height: 16,
                ..
            })
        ));
        assert!(matches!(
            mjpeg_to_i420(32, 16, &[]),
            Err(ConvertError::Jpeg(_))
        ));
        assert!(matches!(
            mjpeg_to_i420(32, 16, &noise(300)),
            Err(ConvertError::Jpeg(_))
        ));
        // Truncated frames happen on USB; the decoder may conceal or refuse, but must not panic.
        for jpeg in [RED_BLUE_420, RED_BLUE_422_NO_DHT] {
            for cut in [2, 20, 100, jpeg.len() - 10] {
                let _ = mjpeg_to_i420(32, 16, &jpeg[..cut]);
            }
        }
    }
}
