//! What the room server does with every WebSocket text frame a client sends:
//! `parse_client_message` (plus `request_id_hint` for the error reply). Whatever parses must
//! survive its own encoding unchanged, and every refusal must carry a TRTC code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roombell::protocol::{parse_client_message, request_id_hint, ClientMessage};

fuzz_target!(|data: &[u8]| {
    // WebSocket text frames are UTF-8 by the time the server sees them.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let hint = request_id_hint(text);
    match parse_client_message(text) {
        Ok(message) => {
            let _ = message.kind();
            if let ClientMessage::Join { room_id, .. } = &message {
                let _ = room_id.validate();
            }
            let json = serde_json::to_string(&message).expect("a parsed message serializes");
            let again = parse_client_message(&json).expect("a parsed message's own JSON parses");
            assert_eq!(again, message, "round trip changed the message");
        }
        Err(error) => {
            assert_ne!(error.code, 0, "a refusal without a TRTC code: {error:?}");
            // The reply the server sends must itself be valid JSON.
            let reply = serde_json::to_string(&error.to_message(hint)).expect("error serializes");
            assert!(serde_json::from_str::<serde_json::Value>(&reply).is_ok());
        }
    }
});
