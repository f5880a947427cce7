//! The checks are in src/fuzzing.rs (`roombell::fuzzing::mjpeg`), where `cargo test` also
//! replays this target's corpus.
#![no_main]

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

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let_decoder_panics_reach_our_catch();
    roombell::fuzzing::mjpeg(data);
});
