//! The checks are in src/fuzzing.rs (`roombell::fuzzing::signaling_server`), where `cargo test` also
//! replays this target's corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roombell::fuzzing::signaling_server(data));
