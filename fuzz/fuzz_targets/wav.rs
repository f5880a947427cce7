//! The WAV file source and sink reader (`audio_source = "wav"`): RIFF chunks, `fmt `, `data`,
//! then the cut into 20 ms frames the encoder takes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roombell::media::wav::read_wav;

fuzz_target!(|data: &[u8]| {
    let Ok(audio) = read_wav(data) else {
        return;
    };
    assert!(
        audio.samples.len() <= data.len() / 2,
        "more samples than the file holds"
    );
    let _ = audio.into_frames();
});
