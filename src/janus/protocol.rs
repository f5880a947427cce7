//! The Janus 1.x JSON API as plain data: the requests we send, the messages Janus sends, and
//! which transaction a reply settles. No sockets here; `connection.rs` does the IO.
//!
//! Every request carries a `transaction`. Core requests (`create`, `attach`, `destroy`) are
//! answered by `success` or `error`; `keepalive` and `trickle` by `ack`; plugin `message`s by
//! an `ack` and later an `event` with the same transaction (or at once by `success` with
//! `plugindata` when the plugin answers synchronously).

use crate::protocol::IceCandidate;
use serde_json::{json, Map, Value};

/// The plugin roombell talks to.
pub const VIDEOROOM_PLUGIN: &str = "janus.plugin.videoroom";

/// Credentials every request carries when the deployment asks for them. (Debug hides them.)
#[derive(Clone, Default, PartialEq)]
pub struct Auth {
    /// A stored token (`token_auth = true` in janus.jcfg, tokens added by the admin API).
    pub token: Option<String>,
    /// The shared API secret (`api_secret` in janus.jcfg).
    pub api_secret: Option<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::config::redacted;
        f.debug_struct("Auth")
            .field("token", &self.token.as_deref().map(redacted))
            .field("api_secret", &self.api_secret.as_deref().map(redacted))
            .finish()
    }
}

/// An SDP offer or answer as Janus carries it (`jsep`).
#[derive(Debug, Clone, PartialEq)]
pub struct Jsep {
    pub kind: JsepKind,
    pub sdp: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsepKind {
    Offer,
    Answer,
}

impl Jsep {
    fn to_json(&self) -> Value {
        let kind = match self.kind {
            JsepKind::Offer => "offer",
            JsepKind::Answer => "answer",
        };
        json!({"type": kind, "sdp": self.sdp})
    }

    fn from_json(value: &Value) -> Option<Jsep> {
        let kind = match value.get("type")?.as_str()? {
            "offer" => JsepKind::Offer,
            "answer" => JsepKind::Answer,
            _ => return None,
        };
        let sdp = value.get("sdp")?.as_str()?.to_owned();
        Some(Jsep { kind, sdp })
    }
}

/// A request to Janus.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// The server's description, with its `session-timeout`.
    Info,
    /// A new session.
    Create,
    /// A handle on the VideoRoom plugin in `session`.
    Attach {
        session: u64,
    },
    /// Keeps `session` alive (Janus drops sessions silent for `session_timeout`, 60 s).
    Keepalive {
        session: u64,
    },
    /// A plugin request (`body`), with an SDP when negotiating.
    Message {
        session: u64,
        handle: u64,
        body: Value,
        jsep: Option<Jsep>,
    },
    /// One of our ICE candidates, or None for "no more candidates".
    Trickle {
        session: u64,
        handle: u64,
        candidate: Option<IceCandidate>,
    },
    Detach {
        session: u64,
        handle: u64,
    },
    Destroy {
        session: u64,
    },
}

/// How a request's transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settles {
    /// `success` or `error`.
    OnSuccess,
    /// `ack` (or `error`).
    OnAck,
    /// The plugin's `event` (or a synchronous `success`, or `error`); `ack` only says "queued".
    OnEvent,
}

impl Request {
    /// Which reply ends this request's transaction.
    pub fn settles(&self) -> Settles {
        match self {
            Request::Info | Request::Create | Request::Attach { .. } | Request::Detach { .. } => {
                Settles::OnSuccess
            }
            Request::Destroy { .. } => Settles::OnSuccess,
            Request::Keepalive { .. } | Request::Trickle { .. } => Settles::OnAck,
            Request::Message { .. } => Settles::OnEvent,
        }
    }

    /// The JSON text for the wire.
    pub fn to_text(&self, transaction: &str, auth: &Auth) -> String {
        let mut message = Map::new();
        let (verb, session, handle) = match self {
            Request::Info => ("info", None, None),
            Request::Create => ("create", None, None),
            Request::Attach { session } => {
                message.insert("plugin".into(), VIDEOROOM_PLUGIN.into());
                ("attach", Some(*session), None)
            }
            Request::Keepalive { session } => ("keepalive", Some(*session), None),
            Request::Message {
                session,
                handle,
                body,
                jsep,
            } => {
                message.insert("body".into(), body.clone());
                if let Some(jsep) = jsep {
                    message.insert("jsep".into(), jsep.to_json());
                }
                ("message", Some(*session), Some(*handle))
            }
            Request::Trickle {
                session,
                handle,
                candidate,
            } => {
                let candidate = match candidate {
                    Some(c) => json!({
                        "candidate": c.candidate,
                        "sdpMid": c.sdp_mid,
                        "sdpMLineIndex": c.sdp_m_line_index,
                    }),
                    None => json!({"completed": true}),
                };
                message.insert("candidate".into(), candidate);
                ("trickle", Some(*session), Some(*handle))
            }
            Request::Detach { session, handle } => ("detach", Some(*session), Some(*handle)),
            Request::Destroy { session } => ("destroy", Some(*session), None),
        };
        message.insert("janus".into(), verb.into());
        message.insert("transaction".into(), transaction.into());
        if let Some(session) = session {
            message.insert("session_id".into(), session.into());
        }
        if let Some(handle) = handle {
            message.insert("handle_id".into(), handle.into());
        }
        if let Some(token) = &auth.token {
            message.insert("token".into(), token.clone().into());
        }
        if let Some(secret) = &auth.api_secret {
            message.insert("apisecret".into(), secret.clone().into());
        }
        Value::Object(message).to_string()
    }
}

/// A message from Janus, sorted by what it means to us.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// `success`: `id` is `data.id` (a new session or handle); `plugin_data` is a synchronous
    /// plugin answer.
    Success {
        transaction: String,
        id: Option<u64>,
        plugin_data: Option<Value>,
    },
    /// `error`: Janus refused a request (e.g. 403 unauthorized, 458 no such session).
    Error {
        transaction: String,
        code: i64,
        reason: String,
    },
    /// `server_info`: the answer to `info`; Janus drops sessions silent for `session_timeout`
    /// seconds (0: never).
    ServerInfo {
        transaction: String,
        session_timeout: Option<u64>,
    },
    /// `ack`: received (the final answer for keepalive and trickle).
    Ack { transaction: String },
    /// A plugin `event` on handle `sender`, with `transaction` when it answers a request.
    Event {
        transaction: Option<String>,
        sender: u64,
        data: Value,
        jsep: Option<Jsep>,
    },
    /// Janus trickled one of its candidates (None: it has no more).
    Trickle {
        sender: u64,
        candidate: Option<IceCandidate>,
    },
    /// ICE and DTLS are up on handle `sender`.
    WebrtcUp { sender: u64 },
    /// Media of one kind started or stopped arriving at Janus.
    Media {
        sender: u64,
        kind: String,
        receiving: bool,
    },
    /// The PeerConnection of handle `sender` is gone.
    Hangup { sender: u64, reason: String },
    /// Handle `sender` was detached.
    Detached { sender: u64 },
    /// Janus dropped our session (no keepalive in time).
    Timeout { session: u64 },
    /// Anything else (`slowlink`, server info...), kept for the log.
    Other(String),
}

/// Why a text from Janus could not be understood.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("no \"janus\" field")]
    NoVerb,
    #[error("\"{verb}\" without \"{field}\"")]
    Missing { verb: String, field: &'static str },
}

/// Reads one text frame from Janus.
pub fn parse(text: &str) -> Result<Incoming, ParseError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| ParseError::NotJson(e.to_string()))?;
    let verb = value
        .get("janus")
        .and_then(Value::as_str)
        .ok_or(ParseError::NoVerb)?
        .to_owned();
    let missing = |field: &'static str| ParseError::Missing {
        verb: verb.clone(),
        field,
    };
    let transaction = value
        .get("transaction")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let sender = value.get("sender").and_then(Value::as_u64);
    let plugin_data = value.get("plugindata").and_then(|p| p.get("data")).cloned();
    Ok(match verb.as_str() {
        "success" => Incoming::Success {
            transaction: transaction.ok_or_else(|| missing("transaction"))?,
            id: value
                .get("data")
                .and_then(|d| d.get("id"))
                .and_then(Value::as_u64),
            plugin_data,
        },
        "error" => {
            let error = value.get("error");
            Incoming::Error {
                transaction: transaction.ok_or_else(|| missing("transaction"))?,
                code: error
                    .and_then(|e| e.get("code"))
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
                reason: error
                    .and_then(|e| e.get("reason"))
                    .and_then(Value::as_str)
                    .unwrap_or("(no reason given)")
                    .to_owned(),
            }
        }
        "server_info" => Incoming::ServerInfo {
            transaction: transaction.ok_or_else(|| missing("transaction"))?,
            session_timeout: value.get("session-timeout").and_then(Value::as_u64),
        },
        "ack" => Incoming::Ack {
            transaction: transaction.ok_or_else(|| missing("transaction"))?,
        },
        "event" => Incoming::Event {
            transaction,
            sender: sender.ok_or_else(|| missing("sender"))?,
            data: plugin_data.ok_or_else(|| missing("plugindata"))?,
            jsep: value.get("jsep").and_then(Jsep::from_json),
        },
        "trickle" => {
            let candidate = value.get("candidate");
            let completed = candidate
                .and_then(|c| c.get("completed"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            Incoming::Trickle {
                sender: sender.ok_or_else(|| missing("sender"))?,
                candidate: match candidate {
                    Some(c) if !completed => Some(IceCandidate {
                        candidate: c
                            .get("candidate")
                            .and_then(Value::as_str)
                            .ok_or_else(|| missing("candidate.candidate"))?
                            .to_owned(),
                        sdp_mid: c.get("sdpMid").and_then(Value::as_str).map(str::to_owned),
                        sdp_m_line_index: c
                            .get("sdpMLineIndex")
                            .and_then(Value::as_u64)
                            .and_then(|i| u16::try_from(i).ok()),
                    }),
                    _ => None,
                },
            }
        }
        "webrtcup" => Incoming::WebrtcUp {
            sender: sender.ok_or_else(|| missing("sender"))?,
        },
        "media" => Incoming::Media {
            sender: sender.ok_or_else(|| missing("sender"))?,
            kind: value
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            receiving: value
                .get("receiving")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        },
        "hangup" => Incoming::Hangup {
            sender: sender.ok_or_else(|| missing("sender"))?,
            reason: value
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        },
        "detached" => Incoming::Detached {
            sender: sender.ok_or_else(|| missing("sender"))?,
        },
        "timeout" => Incoming::Timeout {
            session: value
                .get("session_id")
                .and_then(Value::as_u64)
                .ok_or_else(|| missing("session_id"))?,
        },
        _ => Incoming::Other(text.chars().take(200).collect()),
    })
}

/// How often to send keepalives for a server that drops silent sessions after
/// `session_timeout` seconds: three per timeout (one lost keepalive is survivable), at most
/// every 20 s, at least every second.
pub fn keepalive_interval(session_timeout: Option<u64>) -> std::time::Duration {
    let secs = match session_timeout {
        Some(timeout) if timeout > 0 => (timeout / 3).clamp(1, 20),
        _ => 20,
    };
    std::time::Duration::from_secs(secs)
}

/// What a pending transaction learns from an incoming message.
#[derive(Debug, Clone, PartialEq)]
pub enum Settlement {
    /// Not about any transaction of ours still waiting (or only an `ack` of a plugin message).
    NotFinal,
    /// The request succeeded; the message is its answer.
    Done,
    /// Janus or the plugin refused the request.
    Failed { code: i64, reason: String },
}

/// Decides whether `incoming` ends a request that settles the way `settles` says.
pub fn settle(settles: Settles, incoming: &Incoming) -> Settlement {
    match (settles, incoming) {
        (_, Incoming::Error { code, reason, .. }) => Settlement::Failed {
            code: *code,
            reason: reason.clone(),
        },
        (Settles::OnAck, Incoming::Ack { .. }) => Settlement::Done,
        (Settles::OnAck, Incoming::Success { .. }) => Settlement::Done,
        (Settles::OnSuccess, Incoming::Success { .. } | Incoming::ServerInfo { .. }) => {
            Settlement::Done
        }
        (Settles::OnEvent, Incoming::Success { plugin_data, .. }) => {
            plugin_result(plugin_data.as_ref())
        }
        (Settles::OnEvent, Incoming::Event { data, .. }) => plugin_result(Some(data)),
        _ => Settlement::NotFinal,
    }
}

/// A plugin answer is a failure when it carries `error_code`.
fn plugin_result(data: Option<&Value>) -> Settlement {
    match data
        .and_then(|d| d.get("error_code"))
        .and_then(Value::as_i64)
    {
        Some(code) => Settlement::Failed {
            code,
            reason: data
                .and_then(|d| d.get("error"))
                .and_then(Value::as_str)
                .unwrap_or("(no reason given)")
                .to_owned(),
        },
        None => Settlement::Done,
    }
}

/// The transaction a message answers, if any.
pub fn transaction_of(incoming: &Incoming) -> Option<&str> {
    match incoming {
        Incoming::Success { transaction, .. }
        | Incoming::Error { transaction, .. }
        | Incoming::ServerInfo { transaction, .. }
        | Incoming::Ack { transaction } => Some(transaction),
        Incoming::Event { transaction, .. } => transaction.as_deref(),
        _ => None,
    }
}

/// The handle a message is about, if any.
pub fn handle_of(incoming: &Incoming) -> Option<u64> {
    match incoming {
        Incoming::Event { sender, .. }
        | Incoming::Trickle { sender, .. }
        | Incoming::WebrtcUp { sender }
        | Incoming::Media { sender, .. }
        | Incoming::Hangup { sender, .. }
        | Incoming::Detached { sender } => Some(*sender),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_json(text: &str) -> Value {
        serde_json::from_str(text).expect("valid JSON")
    }

    #[test]
    fn credentials_stay_out_of_debug_output() {
        let auth = Auth {
            token: Some("door-7-token".into()),
            api_secret: Some("shared".into()),
        };
        let shown = format!("{auth:?}");
        assert!(
            !shown.contains("door-7-token") && !shown.contains("shared"),
            "{shown}"
        );
    }

    #[test]
    fn requests_carry_transaction_ids_and_credentials() {
        let auth = Auth {
            token: Some("door-7".into()),
            api_secret: None,
        };
        let create = as_json(&Request::Create.to_text("t1", &auth));
        assert_eq!(
            create,
            json!({"janus": "create", "transaction": "t1", "token": "door-7"})
        );
        let attach = as_json(&Request::Attach { session: 5 }.to_text("t2", &Auth::default()));
        assert_eq!(
            attach,
            json!({"janus": "attach", "transaction": "t2", "session_id": 5,
                   "plugin": "janus.plugin.videoroom"})
        );
        let keepalive = as_json(&Request::Keepalive { session: 5 }.to_text("t3", &Auth::default()));
        assert_eq!(keepalive["janus"], "keepalive");
        assert_eq!(keepalive["session_id"], 5);
    }

    #[test]
    fn a_publish_message_carries_body_and_offer() {
        let request = Request::Message {
            session: 1,
            handle: 2,
            body: json!({"request": "publish", "audio": true, "video": true}),
            jsep: Some(Jsep {
                kind: JsepKind::Offer,
                sdp: "v=0\r\n".into(),
            }),
        };
        let v = as_json(&request.to_text("t", &Auth::default()));
        assert_eq!(v["janus"], "message");
        assert_eq!(v["handle_id"], 2);
        assert_eq!(v["body"]["request"], "publish");
        assert_eq!(v["jsep"], json!({"type": "offer", "sdp": "v=0\r\n"}));
        assert_eq!(request.settles(), Settles::OnEvent);
    }

    #[test]
    fn trickle_sends_candidates_then_completed() {
        let one = Request::Trickle {
            session: 1,
            handle: 2,
            candidate: Some(IceCandidate {
                candidate: "candidate:1 1 udp 2130706431 10.77.0.1 5000 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
            }),
        };
        let v = as_json(&one.to_text("t", &Auth::default()));
        assert_eq!(v["candidate"]["sdpMid"], "0");
        assert_eq!(v["candidate"]["sdpMLineIndex"], 0);
        let done = Request::Trickle {
            session: 1,
            handle: 2,
            candidate: None,
        };
        let v = as_json(&done.to_text("t", &Auth::default()));
        assert_eq!(v["candidate"], json!({"completed": true}));
    }

    #[test]
    fn server_info_gives_the_session_timeout() {
        let info = parse(
            r#"{"janus":"server_info","name":"Janus WebRTC Server","version":1102,
                "version_string":"1.1.2","session-timeout":60,"transaction":"t0"}"#,
        )
        .expect("parses");
        assert_eq!(
            info,
            Incoming::ServerInfo {
                transaction: "t0".into(),
                session_timeout: Some(60)
            }
        );
        assert_eq!(settle(Request::Info.settles(), &info), Settlement::Done);
        assert_eq!(
            keepalive_interval(Some(60)),
            std::time::Duration::from_secs(20)
        );
        assert_eq!(
            keepalive_interval(Some(6)),
            std::time::Duration::from_secs(2)
        );
        assert_eq!(
            keepalive_interval(Some(0)),
            std::time::Duration::from_secs(20)
        );
        assert_eq!(keepalive_interval(None), std::time::Duration::from_secs(20));
        assert_eq!(
            keepalive_interval(Some(1)),
            std::time::Duration::from_secs(1)
        );
    }

    #[test]
    fn create_and_attach_answers_give_ids() {
        let session =
            parse(r#"{"janus":"success","transaction":"t1","data":{"id":4242}}"#).expect("parses");
        assert_eq!(
            session,
            Incoming::Success {
                transaction: "t1".into(),
                id: Some(4242),
                plugin_data: None
            }
        );
        assert_eq!(settle(Settles::OnSuccess, &session), Settlement::Done);
    }

    #[test]
    fn a_plugin_message_settles_on_its_event_not_its_ack() {
        let ack = parse(r#"{"janus":"ack","session_id":1,"transaction":"t5"}"#).expect("parses");
        assert_eq!(settle(Settles::OnEvent, &ack), Settlement::NotFinal);
        assert_eq!(settle(Settles::OnAck, &ack), Settlement::Done);
        let joined = parse(
            r#"{"janus":"event","session_id":1,"transaction":"t5","sender":7,
                "plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"joined",
                "room":4321,"id":99,"private_id":5,"publishers":[]}}}"#,
        )
        .expect("parses");
        assert_eq!(transaction_of(&joined), Some("t5"));
        assert_eq!(handle_of(&joined), Some(7));
        assert_eq!(settle(Settles::OnEvent, &joined), Settlement::Done);
    }

    #[test]
    fn plugin_errors_fail_the_request() {
        let no_room = parse(
            r#"{"janus":"event","session_id":1,"transaction":"t6","sender":7,
                "plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"event",
                "error_code":426,"error":"No such room (4321)"}}}"#,
        )
        .expect("parses");
        assert_eq!(
            settle(Settles::OnEvent, &no_room),
            Settlement::Failed {
                code: 426,
                reason: "No such room (4321)".into()
            }
        );
        let unauthorized = parse(
            r#"{"janus":"error","transaction":"t7","error":{"code":403,"reason":"Unauthorized request (wrong or missing secret/token)"}}"#,
        )
        .expect("parses");
        assert!(matches!(
            settle(Settles::OnSuccess, &unauthorized),
            Settlement::Failed { code: 403, .. }
        ));
    }

    #[test]
    fn the_publish_answer_carries_an_sdp_answer() {
        let configured = parse(
            r#"{"janus":"event","session_id":1,"transaction":"t8","sender":7,
                "plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"event",
                "room":4321,"configured":"ok","audio_codec":"opus","video_codec":"h264",
                "streams":[{"type":"audio","mindex":0,"mid":"0","codec":"opus"},
                           {"type":"video","mindex":1,"mid":"1","codec":"h264"}]}},
                "jsep":{"type":"answer","sdp":"v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"}}"#,
        )
        .expect("parses");
        let Incoming::Event { jsep, .. } = configured else {
            panic!("an event");
        };
        assert_eq!(jsep.map(|j| j.kind), Some(JsepKind::Answer));
    }

    #[test]
    fn session_level_notifications_are_recognised() {
        assert_eq!(
            parse(r#"{"janus":"webrtcup","session_id":1,"sender":7}"#),
            Ok(Incoming::WebrtcUp { sender: 7 })
        );
        assert_eq!(
            parse(r#"{"janus":"hangup","session_id":1,"sender":7,"reason":"DTLS alert"}"#),
            Ok(Incoming::Hangup {
                sender: 7,
                reason: "DTLS alert".into()
            })
        );
        assert_eq!(
            parse(r#"{"janus":"timeout","session_id":12}"#),
            Ok(Incoming::Timeout { session: 12 })
        );
        assert_eq!(
            parse(
                r#"{"janus":"trickle","session_id":1,"sender":7,"candidate":{"completed":true}}"#
            ),
            Ok(Incoming::Trickle {
                sender: 7,
                candidate: None
            })
        );
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        assert!(matches!(parse("nope"), Err(ParseError::NotJson(_))));
        assert_eq!(parse(r#"{"transaction":"x"}"#), Err(ParseError::NoVerb));
        assert!(matches!(
            parse(r#"{"janus":"event","plugindata":{"data":{}}}"#),
            Err(ParseError::Missing {
                field: "sender",
                ..
            })
        ));
        assert!(matches!(
            parse(r#"{"janus":"success"}"#),
            Err(ParseError::Missing {
                field: "transaction",
                ..
            })
        ));
    }
}
