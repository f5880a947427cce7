//! NV12 and YUYV conversions checked against a per-pixel reference on synthetic buffers
//! whose padding is garbage.

use super::*;

/// Deterministic noise, so padding bytes and pixels differ everywhere.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        })
        .collect()
}

/// Sizes that exercise odd widths/heights and single rows/columns.
const SIZES: [(u32, u32); 7] = [(1, 1), (2, 2), (3, 5), (7, 3), (16, 9), (33, 17), (64, 48)];
/// Extra bytes per row beyond what the pixels need.
const PADDINGS: [usize; 4] = [0, 1, 3, 64];

fn chroma_size(w: usize, h: usize) -> (usize, usize) {
    (w.div_ceil(2), h.div_ceil(2))
}

/// Reference NV12 → I420, one pixel at a time, straight from the format description.
fn reference_nv12(w: usize, h: usize, y: &[u8], ys: usize, uv: &[u8], uvs: usize) -> Vec<u8> {
    let (cw, ch) = chroma_size(w, h);
    let mut out = Vec::new();
    for row in 0..h {
        for x in 0..w {
            out.push(y[row * ys + x]);
        }
    }
    for offset in [0, 1] {
        for row in 0..ch {
            for x in 0..cw {
                out.push(uv[row * uvs + 2 * x + offset]);
            }
        }
    }
    out
}

/// Reference YUYV → I420: Y from even bytes, chroma averaged over the two rows it covers.
fn reference_yuyv(w: usize, h: usize, src: &[u8], stride: usize) -> Vec<u8> {
    let (cw, ch) = chroma_size(w, h);
    let mut out = Vec::new();
    for row in 0..h {
        for x in 0..w {
            out.push(src[row * stride + 2 * x]);
        }
    }
    for offset in [1, 3] {
        for row in 0..ch {
            for x in 0..cw {
                let top = src[2 * row * stride + 4 * x + offset] as u32;
                let bottom_row = if 2 * row + 1 < h {
                    2 * row + 1
                } else {
                    2 * row
                };
                let bottom = src[bottom_row * stride + 4 * x + offset] as u32;
                // Rounds half up: (top + bottom + 1) / 2.
                out.push((top + bottom).div_ceil(2) as u8);
            }
        }
    }
    out
}

#[test]
fn nv12_matches_reference_with_padding_and_odd_sizes() {
    for (i, &(width, height)) in SIZES.iter().enumerate() {
        for &pad in &PADDINGS {
            let (w, h) = (width as usize, height as usize);
            let (cw, ch) = chroma_size(w, h);
            let (ys, uvs) = (w + pad, 2 * cw + pad + 2);
            // The last row carries no padding: drivers may end the buffer right after it.
            let y = noise(ys * (h - 1) + w, i as u32);
            let uv = noise(uvs * (ch - 1) + 2 * cw, 100 + i as u32);
            let image = nv12_to_i420(
                width,
                height,
                PlaneRef {
                    data: &y,
                    stride: ys,
                },
                PlaneRef {
                    data: &uv,
                    stride: uvs,
                },
            )
            .unwrap();
            assert_eq!(
                image.as_bytes(),
                reference_nv12(w, h, &y, ys, &uv, uvs),
                "{w}x{h} pad {pad}"
            );
        }
    }
}

#[test]
fn nv12_contiguous_buffer_splits_at_stride_times_height() {
    let (width, height, stride) = (6u32, 5u32, 8usize);
    let buffer = noise(stride * 5 + stride * 3, 7);
    let image = nv12_contiguous_to_i420(width, height, &buffer, stride).unwrap();
    let (y, uv) = buffer.split_at(stride * 5);
    assert_eq!(
        image.as_bytes(),
        reference_nv12(6, 5, y, stride, uv, stride)
    );
    assert!(matches!(
        nv12_contiguous_to_i420(width, height, &buffer[..stride * 5], stride),
        Err(ConvertError::BufferTooShort { plane: "UV", .. })
    ));
}

#[test]
fn yuyv_matches_reference_with_padding_and_odd_sizes() {
    for (i, &(width, height)) in SIZES.iter().enumerate() {
        for &pad in &PADDINGS {
            let (w, h) = (width as usize, height as usize);
            let row_bytes = 4 * w.div_ceil(2);
            let stride = row_bytes + pad;
            let src = noise(stride * (h - 1) + row_bytes, 200 + i as u32);
            let image = yuyv_to_i420(width, height, PlaneRef { data: &src, stride }).unwrap();
            assert_eq!(
                image.as_bytes(),
                reference_yuyv(w, h, &src, stride),
                "{w}x{h} pad {pad}"
            );
        }
    }
}

#[test]
fn short_buffers_and_small_strides_are_errors_not_panics() {
    let src = noise(4 * 4 * 2, 1);
    let short = &src[..src.len() - 1];
    assert!(matches!(
        yuyv_to_i420(
            4,
            4,
            PlaneRef {
                data: short,
                stride: 8
            }
        ),
        Err(ConvertError::BufferTooShort {
            plane: "YUYV",
            needed: 32,
            actual: 31,
            ..
        })
    ));
    assert!(matches!(
        yuyv_to_i420(
            4,
            4,
            PlaneRef {
                data: &src,
                stride: 7
            }
        ),
        Err(ConvertError::StrideTooSmall {
            stride: 7,
            row_bytes: 8,
            ..
        })
    ));
    let y = noise(16, 2);
    assert!(matches!(
        nv12_to_i420(
            4,
            4,
            PlaneRef {
                data: &y,
                stride: 4
            },
            PlaneRef {
                data: &[],
                stride: 4
            }
        ),
        Err(ConvertError::BufferTooShort { plane: "UV", .. })
    ));
    // A stride so large that the needed length overflows must still be a clean error.
    assert!(matches!(
        nv12_to_i420(
            4,
            4,
            PlaneRef {
                data: &y,
                stride: usize::MAX
            },
            PlaneRef {
                data: &y,
                stride: 4
            }
        ),
        Err(ConvertError::BufferTooShort { plane: "Y", .. })
    ));
    assert!(matches!(
        yuyv_to_i420(
            0,
            4,
            PlaneRef {
                data: &src,
                stride: 8
            }
        ),
        Err(ConvertError::Size(FrameError::BadSize { .. }))
    ));
}
