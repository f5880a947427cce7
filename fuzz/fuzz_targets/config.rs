//! The two TOML configuration files: the room server's `[room]` and the device daemon's whole
//! file, parsed and validated exactly as from disk (without the environment layer). The first
//! byte picks which; the rest is the file's text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    // Files are read as UTF-8 text; anything else is refused before parsing.
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if which % 2 == 0 {
        let _ = roombell::config::parse_room_config(text);
    } else {
        let _ = roombell::device::config::parse_daemon_config(text);
    }
});
