//! Bad input against a real room server over a real WebSocket: every case gets a typed error
//! with its TRTC code, and a member already in the room keeps working throughout.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use roombell::client::ClientEvent;
use roombell::protocol::{code, extra, Role, RoomId, ServerMessage};
use roombell::usersig::{self, PrivateMapRoom};
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn raw_socket(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects")
        .0
}

/// Sends one text frame and returns the first error the server answers with.
async fn error_for(socket: &mut Socket, text: String) -> (Option<u64>, u32, u32, String) {
    socket.send(Message::Text(text)).await.expect("send");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("server answers in time")
            .expect("socket open")
            .expect("frame");
        let Message::Text(text) = frame else { continue };
        let msg: ServerMessage = serde_json::from_str(&text).expect("server speaks the protocol");
        if let ServerMessage::Error {
            id,
            code,
            extra_code,
            message,
        } = msg
        {
            return (id, code, extra_code, message);
        }
    }
}

fn join_json(user: &str, sig: &str, room: serde_json::Value, pmk: Option<&str>) -> String {
    let mut msg = json!({
        "type": "join", "id": 1, "sdkAppId": SDK_APP_ID, "userId": user,
        "userSig": sig, "roomId": room, "mode": "rtc",
    });
    if let Some(pmk) = pmk {
        msg["privateMapKey"] = json!(pmk);
    }
    msg.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_input_gets_its_typed_error_and_the_room_carries_on() {
    let server = start_room();
    let url = server.ws_url();
    let (member, mut member_events) = connect(&server, "door").await;
    member
        .join(RoomId::Number(7), Role::Anchor, None)
        .await
        .expect("member joins");

    let now = unix_now();
    let good = |user: &str| usersig::gen_user_sig(SDK_APP_ID, SECRET_KEY, user, 3600, now);
    let too_big = format!(
        r#"{{"type":"heartbeat","id":1,"pad":"{}"}}"#,
        "x".repeat(70 * 1024)
    );
    let forged = usersig::gen_user_sig(SDK_APP_ID, "guessed-key", "mallory", 3600, now);
    let expired = usersig::gen_user_sig(SDK_APP_ID, SECRET_KEY, "late", 60, now - 3600);
    let other_app = usersig::gen_user_sig(1_400_000_001, SECRET_KEY, "stranger", 3600, now);
    let no_enter = usersig::gen_private_map_key(
        SDK_APP_ID as u32,
        SECRET_KEY,
        "lurker",
        3600,
        now,
        &PrivateMapRoom::Number(7),
        usersig::privilege::RECV_AUDIO | usersig::privilege::RECV_VIDEO,
    );
    let cases: Vec<(&str, String, u32, u32)> = vec![
        ("malformed JSON", "{\"type\":".into(), code::INVALID_PARAMETER, extra::MALFORMED_JSON),
        ("unknown type", r#"{"type":"dance","id":3}"#.into(), code::INVALID_PARAMETER, extra::UNKNOWN_TYPE),
        ("over 64 KiB", too_big, code::INVALID_PARAMETER, extra::MESSAGE_TOO_LARGE),
        (
            "publish before join",
            r#"{"type":"publish","id":4,"audio":true,"video":true,"sdp":"v=0"}"#.into(),
            code::INVALID_OPERATION,
            extra::NOT_JOINED,
        ),
        ("forged UserSig", join_json("mallory", &forged, json!(7), None), code::JOIN_ROOM_FAILED, extra::BAD_USER_SIG),
        ("expired UserSig", join_json("late", &expired, json!(7), None), code::JOIN_ROOM_FAILED, extra::USER_SIG_EXPIRED),
        ("wrong sdkAppId", json!({"type":"join","id":1,"sdkAppId":1_400_000_001u64,"userId":"stranger","userSig":other_app,"roomId":7,"mode":"rtc"}).to_string(), code::JOIN_ROOM_FAILED, extra::WRONG_SDK_APP_ID),
        ("no enter-room privilege", join_json("lurker", &good("lurker"), json!(7), Some(&no_enter)), code::JOIN_ROOM_FAILED, extra::NO_PRIVILEGE),
        ("bad room id", join_json("x", &good("x"), json!(0), None), code::INVALID_PARAMETER, extra::BAD_ROOM_ID),
        ("other mode", json!({"type":"join","id":1,"sdkAppId":SDK_APP_ID,"userId":"live1","userSig":good("live1"),"roomId":7,"mode":"live"}).to_string(), code::JOIN_ROOM_FAILED, extra::MODE_MISMATCH),
    ];
    for (what, text, want_code, want_extra) in cases {
        let mut socket = raw_socket(&url).await;
        let (_, got_code, got_extra, message) = error_for(&mut socket, text).await;
        assert_eq!(
            (got_code, got_extra),
            (want_code, want_extra),
            "{what}: got {message:?}"
        );
        assert!(!message.is_empty(), "{what}: the error says why");
    }

    // Bad SDP after a valid join: the publish is refused, answered with its id.
    let mut socket = raw_socket(&url).await;
    socket
        .send(Message::Text(join_json(
            "sdp",
            &good("sdp"),
            json!(7),
            None,
        )))
        .await
        .expect("send join");
    let publish = json!({"type":"publish","id":9,"audio":true,"video":true,"sdp":"v=0\r\nthis is not sdp\r\nm=garbage\r\n"});
    let (id, got_code, _, message) = error_for(&mut socket, publish.to_string()).await;
    assert_eq!(id, Some(9), "the error answers the publish request");
    assert_ne!(got_code, 0, "bad SDP refused: {message}");

    // A binary frame is answered like any other malformed message.
    socket
        .send(Message::Binary(vec![0xff, 0x00, 0x13]))
        .await
        .expect("send binary");

    // The member in the room saw only the one well-behaved joiner come and go, and still works.
    let mut joins = Vec::new();
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(300), member_events.recv()).await
    {
        if let ClientEvent::PeerJoin { user_id } = event {
            joins.push(user_id);
        }
    }
    assert_eq!(
        joins,
        vec!["sdp".to_string()],
        "no refused joiner appeared in the room"
    );
    assert!(member.is_connected());
    member
        .leave()
        .await
        .expect("the member's requests still work");
    member
        .join(RoomId::Number(7), Role::Anchor, None)
        .await
        .expect("and it can join again");
    drop(socket);
    member.close().await;
    server.stop();
}
