//! The Y4M file source (`video_source = "y4m"`): header, FRAME lines and frame data, read to
//! the end and looped once, as the capture thread does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roombell::media::y4m::Y4mReader;
use std::io::Cursor;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = Y4mReader::new(Cursor::new(data)) else {
        return;
    };
    let _ = reader.header().frame_interval();
    // Bounded: each frame consumes at least a FRAME line, so the input length bounds the count.
    for _ in 0..=data.len() {
        match reader.read_image() {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    // Looping past the end: rewinds and reads the first frame again (or fails typed).
    if reader.rewind().is_ok() {
        for i in 0..3 {
            if reader.next_frame_looping(i).is_err() {
                break;
            }
        }
    }
});
