//! What the Rust client (device daemon, tests) does with text frames from a room server: parse
//! each line as a `ServerMessage` exactly as `Client::on_text` does, and feed it to the pure
//! client state machine, with some requests in flight so replies have someone to match.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roombell::client::state::{ClientState, RequestKind};
use roombell::protocol::{RoomId, ServerMessage};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut state = ClientState::default();
    let _ = state.socket_connecting();
    let _ = state.socket_open();
    // Joined, with requests the fuzzer's responses can answer (ids are handed out from 1 up).
    let _ = state.start_request(RequestKind::Join);
    let pending = state.joining(RoomId::Number(1234));
    state.joined(pending);
    for kind in [
        RequestKind::Publish,
        RequestKind::Heartbeat,
        RequestKind::Mute,
    ] {
        let _ = state.start_request(kind);
    }
    // One message per line, as if each line were its own frame; bounded by the input size.
    for line in text.lines() {
        match serde_json::from_str::<ServerMessage>(line) {
            Ok(message) => {
                let _ = state.server_message(message);
                // Streams the server announced can be subscribed to, as an app would.
                let users: Vec<String> =
                    state.remote_streams().map(|s| s.user_id.clone()).collect();
                for user in users.into_iter().take(4) {
                    let _ = state.start_request(RequestKind::Subscribe(user));
                }
            }
            Err(_) => continue, // the client logs and ignores what it cannot parse
        }
    }
    let _ = state.socket_closed(false);
});
