//! One MJPEG frame from a UVC camera to I420 (`mjpeg_to_i420`): the camera negotiated the size,
//! the JPEG bytes are whatever it (or a broken cable) sent.
//!
//! Input: width and height as two little-endian u16 (kept to 1..=1024 each, a size V4L2 could
//! negotiate without making every run a 100 MB allocation), then the JPEG.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roombell::media::convert::mjpeg_to_i420;
use std::sync::Once;

static KNOWN_DECODER_PANICS: Once = Once::new();

/// zune-jpeg 0.4 still panics on some corrupt data (upstream etemesi254/zune-image issues 151
/// and 236); `mjpeg_to_i420` catches those and returns `ConvertError::Jpeg`. libFuzzer's panic
/// hook would abort on the caught panic anyway, so panics raised inside zune-jpeg are let
/// through to that `catch_unwind`; every other panic (ours included) still aborts the run.
fn let_decoder_panics_reach_our_catch() {
    KNOWN_DECODER_PANICS.call_once(|| {
        let abort_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_decoder = info
                .location()
                .is_some_and(|at| at.file().contains("/zune-jpeg-"));
            if !in_decoder {
                abort_hook(info);
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    let_decoder_panics_reach_our_catch();
    if data.len() < 4 {
        return;
    }
    let width = u32::from(u16::from_le_bytes([data[0], data[1]]) % 1024) + 1;
    let height = u32::from(u16::from_le_bytes([data[2], data[3]]) % 1024) + 1;
    if let Ok(image) = mjpeg_to_i420(width, height, &data[4..]) {
        assert_eq!((image.width(), image.height()), (width, height));
    }
});
