//! The checks are in src/fuzzing.rs (`roombell::fuzzing::rtcp_keyframe`), where `cargo test` also
//! replays this target's corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roombell::fuzzing::rtcp_keyframe(data));
