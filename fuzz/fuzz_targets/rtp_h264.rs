//! The checks are in src/fuzzing.rs (`roombell::fuzzing::rtp_h264`), where `cargo test` also
//! replays this target's corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roombell::fuzzing::rtp_h264(data));
