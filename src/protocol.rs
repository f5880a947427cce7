//! The signaling protocol between a client (device, browser SDK, Rust client) and the room server.
//!
//! JSON over one WebSocket per client; `docs/protocol.md` shows every message with an example.
//! Requests carry an `id` the server echoes in its `response` or `error`; events carry none.
//! Field names are camelCase because that is what TRTC users already write.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Largest signaling message the server accepts; bigger ones are refused, not parsed.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// How often a client sends `heartbeat`.
pub const HEARTBEAT_INTERVAL_MS: u64 = 2_000;

/// A member that sends nothing for this long is dropped and the others get `peer-leave`.
pub const HEARTBEAT_TIMEOUT_MS: u64 = 10_000;

/// TRTC v4 error codes (reference §1.7) that the protocol uses.
pub mod code {
    pub const INVALID_PARAMETER: u32 = 0x1000;
    pub const INVALID_OPERATION: u32 = 0x1001;
    pub const NOT_SUPPORTED: u32 = 0x1002;
    pub const SIGNAL_CHANNEL_SETUP_FAILED: u32 = 0x4001;
    pub const JOIN_ROOM_FAILED: u32 = 0x4004;
    pub const CREATE_OFFER_FAILED: u32 = 0x4005;
    pub const REMOTE_STREAM_NOT_EXIST: u32 = 0x4010;
    pub const CLIENT_BANNED: u32 = 0x4040;
    pub const SERVER_TIMEOUT: u32 = 0x4041;
    pub const SWITCH_ROLE_FAILED: u32 = 0x404a;
    pub const API_CALL_TIMEOUT: u32 = 0x404b;
    pub const UNKNOWN: u32 = 0xffff;
}

/// The server's own reason behind a TRTC code, sent as `extraCode` (TRTC's `getExtraCode()`).
pub mod extra {
    pub const MALFORMED_JSON: u32 = 1;
    pub const UNKNOWN_TYPE: u32 = 2;
    pub const MESSAGE_TOO_LARGE: u32 = 3;
    pub const NOT_JOINED: u32 = 4;
    pub const ALREADY_JOINED: u32 = 5;
    pub const BAD_ROOM_ID: u32 = 6;
    pub const WRONG_SDK_APP_ID: u32 = 7;
    pub const BAD_USER_SIG: u32 = 8;
    pub const USER_SIG_EXPIRED: u32 = 9;
    pub const BAD_PRIVATE_MAP_KEY: u32 = 10;
    pub const NO_PRIVILEGE: u32 = 11;
    pub const MODE_MISMATCH: u32 = 12;
    pub const AUDIENCE_CANNOT_PUBLISH: u32 = 13;
    pub const NOT_PUBLISHING: u32 = 14;
    pub const BAD_SDP: u32 = 15;
    pub const NO_SUCH_STREAM: u32 = 16;
    pub const BAD_PARAMETER: u32 = 17;
    pub const NOT_LIVE_MODE: u32 = 18;
    pub const MEDIA_SETUP_FAILED: u32 = 19;
    pub const ROOM_FULL: u32 = 20;
    pub const ALREADY_PUBLISHING: u32 = 21;
    /// Too many joins from one IP address or as one userId; try again later.
    pub const JOIN_RATE_LIMITED: u32 = 22;
    /// Too many messages on one connection; it is closed if it keeps going.
    pub const MESSAGE_RATE_LIMITED: u32 = 23;
}

/// A TRTC room id: numeric 1..=4294967294, or a string (`useStringRoomId`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RoomId {
    Number(u64),
    Text(String),
}

impl RoomId {
    /// Checks the reference's rules; the message says what would be accepted.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            RoomId::Number(n) => {
                if (1..=4_294_967_294).contains(n) {
                    Ok(())
                } else {
                    Err(format!("numeric roomId {n} is outside 1..=4294967294"))
                }
            }
            RoomId::Text(s) => {
                let allowed = |c: char| {
                    c.is_ascii_alphanumeric()
                        || c == ' '
                        || "!#$%&()+-:;<=.>?@[]^_{}|~,".contains(c)
                };
                if s.is_empty() || s.chars().count() > 64 {
                    Err("string roomId must have 1 to 64 characters".into())
                } else if let Some(bad) = s.chars().find(|c| !allowed(*c)) {
                    Err(format!(
                        "string roomId contains {bad:?}; allowed are letters, digits, space and !#$%&()+-:;<=.>?@[]^_{{}}|~,"
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoomId::Number(n) => write!(f, "{n}"),
            RoomId::Text(s) => write!(f, "{s}"),
        }
    }
}

/// TRTC scene: a room has one, its first member's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Rtc,
    Live,
}

/// TRTC role. In `rtc` mode everyone is an anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    Anchor,
    Audience,
}

/// Which kinds of media a stream carries or a subscription wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MediaKinds {
    pub audio: bool,
    pub video: bool,
}

/// One ICE candidate, as the browser's `RTCIceCandidateInit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_m_line_index: Option<u16>,
}

/// Identifies one peer connection of a client: its publication, or its subscription to a user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PeerId {
    Publish,
    Subscribe {
        #[serde(rename = "userId")]
        user_id: String,
    },
}

/// What a client sends. Its Debug output leaves out the credentials of a join.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ClientMessage {
    #[serde(rename_all = "camelCase")]
    Join {
        id: u64,
        sdk_app_id: u64,
        user_id: String,
        user_sig: String,
        room_id: RoomId,
        mode: Mode,
        #[serde(default)]
        role: Role,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        private_map_key: Option<String>,
    },
    /// Starts publishing: `sdp` is the client's offer (send-only); the answer comes in the response.
    #[serde(rename_all = "camelCase")]
    Publish {
        id: u64,
        audio: bool,
        video: bool,
        sdp: String,
    },
    Unpublish {
        id: u64,
    },
    /// Subscribes to a user's stream: `sdp` is the client's receive-only offer.
    #[serde(rename_all = "camelCase")]
    Subscribe {
        id: u64,
        user_id: String,
        audio: bool,
        video: bool,
        sdp: String,
    },
    #[serde(rename_all = "camelCase")]
    Unsubscribe {
        id: u64,
        user_id: String,
    },
    /// Mute state of the client's published stream.
    #[serde(rename_all = "camelCase")]
    Mute {
        id: u64,
        audio_muted: bool,
        video_muted: bool,
    },
    SwitchRole {
        id: u64,
        role: Role,
    },
    /// A trickled ICE candidate for one of the client's peer connections.
    Candidate {
        peer: PeerId,
        candidate: IceCandidate,
    },
    Leave {
        id: u64,
    },
    Heartbeat {
        id: u64,
    },
}

/// Written out by hand so that a logged or debug-printed join never shows its UserSig or
/// privateMapKey (bearer credentials); every other field is shown as derive would.
impl fmt::Debug for ClientMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientMessage::Join {
                id,
                sdk_app_id,
                user_id,
                user_sig,
                room_id,
                mode,
                role,
                private_map_key,
            } => f
                .debug_struct("Join")
                .field("id", id)
                .field("sdk_app_id", sdk_app_id)
                .field("user_id", user_id)
                .field("user_sig", &crate::config::redacted(user_sig))
                .field("room_id", room_id)
                .field("mode", mode)
                .field("role", role)
                .field(
                    "private_map_key",
                    &private_map_key.as_deref().map(crate::config::redacted),
                )
                .finish(),
            ClientMessage::Publish {
                id,
                audio,
                video,
                sdp,
            } => f
                .debug_struct("Publish")
                .field("id", id)
                .field("audio", audio)
                .field("video", video)
                .field("sdp", sdp)
                .finish(),
            ClientMessage::Unpublish { id } => f.debug_struct("Unpublish").field("id", id).finish(),
            ClientMessage::Subscribe {
                id,
                user_id,
                audio,
                video,
                sdp,
            } => f
                .debug_struct("Subscribe")
                .field("id", id)
                .field("user_id", user_id)
                .field("audio", audio)
                .field("video", video)
                .field("sdp", sdp)
                .finish(),
            ClientMessage::Unsubscribe { id, user_id } => f
                .debug_struct("Unsubscribe")
                .field("id", id)
                .field("user_id", user_id)
                .finish(),
            ClientMessage::Mute {
                id,
                audio_muted,
                video_muted,
            } => f
                .debug_struct("Mute")
                .field("id", id)
                .field("audio_muted", audio_muted)
                .field("video_muted", video_muted)
                .finish(),
            ClientMessage::SwitchRole { id, role } => f
                .debug_struct("SwitchRole")
                .field("id", id)
                .field("role", role)
                .finish(),
            ClientMessage::Candidate { peer, candidate } => f
                .debug_struct("Candidate")
                .field("peer", peer)
                .field("candidate", candidate)
                .finish(),
            ClientMessage::Leave { id } => f.debug_struct("Leave").field("id", id).finish(),
            ClientMessage::Heartbeat { id } => f.debug_struct("Heartbeat").field("id", id).finish(),
        }
    }
}

impl ClientMessage {
    /// The request id, for messages that expect a response.
    pub fn request_id(&self) -> Option<u64> {
        match self {
            ClientMessage::Join { id, .. }
            | ClientMessage::Publish { id, .. }
            | ClientMessage::Unpublish { id }
            | ClientMessage::Subscribe { id, .. }
            | ClientMessage::Unsubscribe { id, .. }
            | ClientMessage::Mute { id, .. }
            | ClientMessage::SwitchRole { id, .. }
            | ClientMessage::Leave { id }
            | ClientMessage::Heartbeat { id } => Some(*id),
            ClientMessage::Candidate { .. } => None,
        }
    }

    /// The message type as written on the wire, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::Join { .. } => "join",
            ClientMessage::Publish { .. } => "publish",
            ClientMessage::Unpublish { .. } => "unpublish",
            ClientMessage::Subscribe { .. } => "subscribe",
            ClientMessage::Unsubscribe { .. } => "unsubscribe",
            ClientMessage::Mute { .. } => "mute",
            ClientMessage::SwitchRole { .. } => "switch-role",
            ClientMessage::Candidate { .. } => "candidate",
            ClientMessage::Leave { .. } => "leave",
            ClientMessage::Heartbeat { .. } => "heartbeat",
        }
    }
}

/// A published stream as the others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamInfo {
    pub user_id: String,
    pub stream_id: String,
    pub audio: bool,
    pub video: bool,
    pub audio_muted: bool,
    pub video_muted: bool,
}

/// Why a member left, as TRTC's server reasons 0-3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeaveReason {
    Normal,
    Timeout,
    Kick,
    RoleChange,
}

/// Why the server put a client out, as TRTC's `client-banned` reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BanReason {
    Kick,
    Banned,
    RoomDisband,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMessage {
    /// A request succeeded. `sdp` is the answer to a publish or subscribe offer.
    #[serde(rename_all = "camelCase")]
    Response {
        id: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp: Option<String>,
    },
    /// A request (or, with no `id`, the connection) failed.
    #[serde(rename_all = "camelCase")]
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        code: u32,
        extra_code: u32,
        message: String,
    },
    #[serde(rename_all = "camelCase")]
    PeerJoin {
        user_id: String,
    },
    #[serde(rename_all = "camelCase")]
    PeerLeave {
        user_id: String,
        reason: LeaveReason,
    },
    StreamAdded {
        stream: StreamInfo,
    },
    StreamRemoved {
        stream: StreamInfo,
    },
    StreamUpdated {
        stream: StreamInfo,
    },
    #[serde(rename_all = "camelCase")]
    MuteAudio {
        user_id: String,
    },
    #[serde(rename_all = "camelCase")]
    UnmuteAudio {
        user_id: String,
    },
    #[serde(rename_all = "camelCase")]
    MuteVideo {
        user_id: String,
    },
    #[serde(rename_all = "camelCase")]
    UnmuteVideo {
        user_id: String,
    },
    ClientBanned {
        reason: BanReason,
        message: String,
    },
    #[serde(rename_all = "camelCase")]
    NetworkQuality {
        uplink_network_quality: u8,
        downlink_network_quality: u8,
        #[serde(rename = "uplinkRTT")]
        uplink_rtt: u32,
        uplink_loss: u32,
        #[serde(rename = "downlinkRTT")]
        downlink_rtt: u32,
        downlink_loss: u32,
    },
    /// A trickled ICE candidate of the server's side of one peer connection.
    Candidate {
        peer: PeerId,
        candidate: IceCandidate,
    },
}

impl ServerMessage {
    /// A successful response with nothing in it.
    pub fn ok(id: u64) -> Self {
        ServerMessage::Response { id, sdp: None }
    }
}

/// A refusal: a TRTC code, the server's extra code and a message that says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (code {code:#x}, extra {extra_code})")]
pub struct SignalError {
    pub code: u32,
    pub extra_code: u32,
    pub message: String,
}

impl SignalError {
    pub fn new(code: u32, extra_code: u32, message: impl Into<String>) -> Self {
        SignalError {
            code,
            extra_code,
            message: message.into(),
        }
    }

    /// The wire form, answering request `id` (if any).
    pub fn to_message(&self, id: Option<u64>) -> ServerMessage {
        ServerMessage::Error {
            id,
            code: self.code,
            extra_code: self.extra_code,
            message: self.message.clone(),
        }
    }
}

/// Parses one text frame from a client, refusing oversized, malformed and unknown messages
/// with typed errors instead of guessing.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, SignalError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(SignalError::new(
            code::INVALID_PARAMETER,
            extra::MESSAGE_TOO_LARGE,
            format!(
                "message of {} bytes is over the {MAX_MESSAGE_BYTES}-byte limit",
                text.len()
            ),
        ));
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        SignalError::new(
            code::INVALID_PARAMETER,
            extra::MALFORMED_JSON,
            format!("not JSON: {e}"),
        )
    })?;
    let kind = value.get("type").and_then(|t| t.as_str()).ok_or_else(|| {
        SignalError::new(
            code::INVALID_PARAMETER,
            extra::UNKNOWN_TYPE,
            "message has no string field \"type\"",
        )
    })?;
    const KNOWN: &[&str] = &[
        "join",
        "publish",
        "unpublish",
        "subscribe",
        "unsubscribe",
        "mute",
        "switch-role",
        "candidate",
        "leave",
        "heartbeat",
    ];
    if !KNOWN.contains(&kind) {
        return Err(SignalError::new(
            code::INVALID_PARAMETER,
            extra::UNKNOWN_TYPE,
            format!("unknown message type {kind:?}; known: {}", KNOWN.join(", ")),
        ));
    }
    let kind = kind.to_owned();
    serde_json::from_value(value).map_err(|e| {
        SignalError::new(
            code::INVALID_PARAMETER,
            extra::BAD_PARAMETER,
            format!("bad {kind} message: {e}"),
        )
    })
}

/// The request id of a message that failed to parse, if one can be read, so the error can
/// answer the request instead of leaving the client to time out.
pub fn request_id_hint(text: &str) -> Option<u64> {
    if text.len() > MAX_MESSAGE_BYTES {
        return None;
    }
    serde_json::from_str::<serde_json::Value>(text)
        .ok()?
        .get("id")?
        .as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_round_trips_in_camel_case() {
        let text = r#"{"type":"join","id":1,"sdkAppId":1400000000,"userId":"a","userSig":"s","roomId":1234,"mode":"rtc"}"#;
        let msg = parse_client_message(text).expect("valid join");
        match &msg {
            ClientMessage::Join { room_id, role, .. } => {
                assert_eq!(*room_id, RoomId::Number(1234));
                assert_eq!(*role, Role::Anchor);
            }
            other => panic!("parsed as {other:?}"),
        }
        let back = serde_json::to_value(&msg).expect("serializes");
        assert_eq!(back["sdkAppId"], 1400000000u64);
        assert_eq!(back["type"], "join");
    }

    #[test]
    fn string_room_ids_parse_and_validate() {
        let text = r#"{"type":"join","id":1,"sdkAppId":1,"userId":"a","userSig":"s","roomId":"front door","mode":"live","role":"audience"}"#;
        let msg = parse_client_message(text).expect("valid join");
        let ClientMessage::Join { room_id, .. } = msg else {
            panic!("not a join")
        };
        assert_eq!(room_id, RoomId::Text("front door".into()));
        assert!(room_id.validate().is_ok());
        assert!(RoomId::Text("a/b".into()).validate().is_err());
        assert!(RoomId::Text(String::new()).validate().is_err());
        assert!(RoomId::Text("x".repeat(65)).validate().is_err());
        assert!(RoomId::Number(0).validate().is_err());
        assert!(RoomId::Number(4_294_967_295).validate().is_err());
        assert!(RoomId::Number(4_294_967_294).validate().is_ok());
    }

    #[test]
    fn bad_input_gets_distinct_typed_errors() {
        let too_big = format!(
            r#"{{"type":"heartbeat","id":1,"pad":"{}"}}"#,
            "x".repeat(70_000)
        );
        let cases = [
            ("{not json", extra::MALFORMED_JSON),
            (r#"{"id":1}"#, extra::UNKNOWN_TYPE),
            (r#"{"type":"dance","id":1}"#, extra::UNKNOWN_TYPE),
            (r#"{"type":"join","id":1}"#, extra::BAD_PARAMETER),
            (r#"{"type":"subscribe","id":"x"}"#, extra::BAD_PARAMETER),
            (too_big.as_str(), extra::MESSAGE_TOO_LARGE),
        ];
        for (text, want) in cases {
            let err = parse_client_message(text).expect_err(text);
            assert_eq!(err.code, code::INVALID_PARAMETER, "{text}");
            assert_eq!(err.extra_code, want, "{}", &text[..text.len().min(40)]);
        }
    }

    #[test]
    fn a_bad_request_still_yields_its_id() {
        assert_eq!(request_id_hint(r#"{"type":"join","id":7}"#), Some(7));
        assert_eq!(request_id_hint("{nope"), None);
        assert_eq!(request_id_hint(r#"{"id":"x"}"#), None);
    }

    #[test]
    fn server_events_use_trtc_names() {
        let msg = ServerMessage::PeerLeave {
            user_id: "b".into(),
            reason: LeaveReason::Timeout,
        };
        let v = serde_json::to_value(&msg).expect("serializes");
        assert_eq!(v["type"], "peer-leave");
        assert_eq!(v["userId"], "b");
        assert_eq!(v["reason"], "timeout");
        let err = SignalError::new(code::JOIN_ROOM_FAILED, extra::BAD_USER_SIG, "forged")
            .to_message(Some(3));
        let v = serde_json::to_value(&err).expect("serializes");
        assert_eq!(v["code"], 0x4004);
        assert_eq!(v["extraCode"], extra::BAD_USER_SIG);
    }

    #[test]
    fn debug_output_of_a_join_hides_its_credentials() {
        let join = ClientMessage::Join {
            id: 1,
            sdk_app_id: 1_400_000_000,
            user_id: "door".into(),
            user_sig: "SIG-SECRET-VALUE".into(),
            room_id: RoomId::Number(1234),
            mode: Mode::Rtc,
            role: Role::Anchor,
            private_map_key: Some("PMK-SECRET-VALUE".into()),
        };
        let shown = format!("{join:?}");
        assert!(!shown.contains("SIG-SECRET-VALUE"), "{shown}");
        assert!(!shown.contains("PMK-SECRET-VALUE"), "{shown}");
        assert!(shown.contains("door") && shown.contains("1234"), "{shown}");
    }
}
