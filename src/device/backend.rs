//! How the room session reaches its room: a small trait with one implementation per room
//! service. `roombell` is our own room server (`crate::client`); `janus` is a Janus VideoRoom
//! (`crate::janus`). Both report the same TRTC client events, so `RoomSession` logs and acts
//! on them the same way (see docs/janus.md for the mapping).

use crate::client::{Client, ClientConfig, ClientError, ClientEvent, Publisher, Subscriber};
use crate::janus::{JanusError, JanusRoom, JanusRoomConfig};
use crate::protocol::{Mode, Role, RoomId};
use crate::rtc_peer::PeerOptions;
use serde::Deserialize;
use tokio::sync::mpsc;

/// Which room service the device joins (`[device] backend`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// roombell's own room server (`[device] server`, UserSig, privateMapKey).
    #[default]
    Roombell,
    /// A Janus VideoRoom (`[device.janus]`).
    Janus,
}

/// The `[device.janus]` section: the Janus deployment and the room this device joins.
/// (Debug is written out below: it must not show the credentials.)
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JanusSettings {
    /// Janus's WebSocket transport, e.g. `ws://10.0.0.5:8188` or `wss://janus.example/ws`.
    pub url: String,
    /// The VideoRoom room number of this door.
    pub room: u64,
    /// The room's `pin`, when it has one.
    pub pin: Option<String>,
    /// A token from Janus's token store (`token_auth = true`), one per device.
    pub token: Option<String>,
    /// Janus's shared `api_secret`, when the deployment sets one.
    pub api_secret: Option<String>,
}

impl std::fmt::Debug for JanusSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::config::redacted;
        f.debug_struct("JanusSettings")
            .field("url", &self.url)
            .field("room", &self.room)
            .field("pin", &self.pin.as_deref().map(redacted))
            .field("token", &self.token.as_deref().map(redacted))
            .field("api_secret", &self.api_secret.as_deref().map(redacted))
            .finish()
    }
}

/// Why the backend could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    Roombell(#[from] ClientError),
    #[error("Janus: {0}")]
    Janus(#[from] JanusError),
}

/// TRTC client events of one joined room.
pub type RoomEvents = mpsc::UnboundedReceiver<ClientEvent>;

/// A joined room, whatever serves it.
#[async_trait::async_trait]
pub trait RoomBackend: Send + Sync {
    /// Publishes audio and/or video; media goes out through the returned [`Publisher`].
    async fn publish(&self, audio: bool, video: bool) -> Result<Publisher, BackendError>;
    /// Receives `user_id`'s stream.
    async fn subscribe(
        &self,
        user_id: &str,
        audio: bool,
        video: bool,
    ) -> Result<Subscriber, BackendError>;
    /// Leaves the room so others see peer-leave at once.
    async fn leave(&self) -> Result<(), BackendError>;
    /// Closes every connection.
    async fn close(&self);
}

/// Everything a join needs, for either backend. (No Debug: it holds the UserSig.)
#[derive(Clone)]
pub struct JoinRequest {
    pub kind: BackendKind,
    pub user_id: String,
    pub peer: PeerOptions,
    /// roombell: the server URL, sdkAppId, a fresh UserSig, room and privateMapKey.
    pub server: String,
    pub sdk_app_id: u64,
    pub user_sig: String,
    pub mode: Mode,
    pub room_id: RoomId,
    pub private_map_key: Option<String>,
    /// janus: the deployment and room.
    pub janus: JanusSettings,
    /// Either: how the signaling connection is verified (device.ca_file, allow_insecure_ws).
    pub security: crate::client::SignalingSecurity,
}

impl JoinRequest {
    /// Where the session goes, for logs and the status line.
    pub fn target(&self) -> String {
        match self.kind {
            BackendKind::Roombell => self.server.clone(),
            BackendKind::Janus => format!("{} room {}", self.janus.url, self.janus.room),
        }
    }
}

/// Connects and joins the room; its events arrive on the returned receiver (a lost connection
/// arrives as CONNECTION_STATE_CHANGED to DISCONNECTED).
pub async fn join(
    request: JoinRequest,
) -> Result<(Box<dyn RoomBackend>, RoomEvents), BackendError> {
    match request.kind {
        BackendKind::Roombell => {
            let config = ClientConfig {
                url: request.server,
                sdk_app_id: request.sdk_app_id,
                user_id: request.user_id,
                user_sig: request.user_sig,
                mode: request.mode,
                peer: request.peer,
            };
            let (client, events) = Client::connect_with(config, &request.security).await?;
            if let Err(e) = client
                .join(request.room_id, Role::Anchor, request.private_map_key)
                .await
            {
                client.close().await;
                return Err(e.into());
            }
            Ok((Box::new(RoombellRoom(client)), events))
        }
        BackendKind::Janus => {
            let settings = request.janus;
            let config = JanusRoomConfig {
                url: settings.url,
                room: settings.room,
                pin: settings.pin,
                auth: crate::janus::Auth {
                    token: settings.token,
                    api_secret: settings.api_secret,
                },
                user_id: request.user_id,
                peer: request.peer,
                security: request.security,
            };
            let (room, events) = JanusRoom::join(config).await?;
            Ok((Box::new(room), events))
        }
    }
}

/// roombell's own room server, through `crate::client::Client`.
struct RoombellRoom(Client);

#[async_trait::async_trait]
impl RoomBackend for RoombellRoom {
    async fn publish(&self, audio: bool, video: bool) -> Result<Publisher, BackendError> {
        Ok(self.0.publish(audio, video).await?)
    }

    async fn subscribe(
        &self,
        user_id: &str,
        audio: bool,
        video: bool,
    ) -> Result<Subscriber, BackendError> {
        Ok(self.0.subscribe(user_id, audio, video).await?)
    }

    async fn leave(&self) -> Result<(), BackendError> {
        Ok(self.0.leave().await?)
    }

    async fn close(&self) {
        self.0.close().await;
    }
}

#[async_trait::async_trait]
impl RoomBackend for JanusRoom {
    async fn publish(&self, audio: bool, video: bool) -> Result<Publisher, BackendError> {
        Ok(JanusRoom::publish(self, audio, video).await?)
    }

    async fn subscribe(
        &self,
        user_id: &str,
        audio: bool,
        video: bool,
    ) -> Result<Subscriber, BackendError> {
        Ok(JanusRoom::subscribe(self, user_id, audio, video).await?)
    }

    async fn leave(&self) -> Result<(), BackendError> {
        Ok(JanusRoom::leave(self).await?)
    }

    async fn close(&self) {
        JanusRoom::close(self).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::config::parse_daemon_config;

    const JANUS_DOOR: &str = r#"
[device]
backend = "janus"
user_id = "door-0042"

[device.janus]
url = "wss://janus.example.net/ws"
room = 42
pin = "4711"
token = "door-0042-token"
"#;

    #[test]
    fn a_janus_device_needs_no_sdk_app_id_or_usersig() {
        let config = parse_daemon_config(JANUS_DOOR).expect("a valid Janus device config");
        assert_eq!(config.device.backend, BackendKind::Janus);
        assert_eq!(config.device.janus.room, 42);
        assert_eq!(config.device.janus.pin.as_deref(), Some("4711"));
        let shown = format!("{:?}", config.device.janus);
        assert!(!shown.contains("door-0042-token"), "{shown}");
    }

    #[test]
    fn a_janus_device_without_room_or_url_is_refused_by_name() {
        let no_room = JANUS_DOOR.replace("room = 42\n", "");
        let error = parse_daemon_config(&no_room)
            .expect_err("no room")
            .to_string();
        assert!(error.contains("device.janus.room"), "{error}");
        let bad_url = JANUS_DOOR.replace("wss://janus.example.net/ws", "janus.example.net:8188");
        let error = parse_daemon_config(&bad_url)
            .expect_err("bad url")
            .to_string();
        assert!(error.contains("device.janus.url"), "{error}");
    }

    #[test]
    fn plain_ws_to_a_janus_elsewhere_needs_the_explicit_setting() {
        let plain = JANUS_DOOR.replace("wss://janus.example.net/ws", "ws://10.0.0.5:8188");
        let error = parse_daemon_config(&plain)
            .expect_err("plain ws:// across the network")
            .to_string();
        assert!(error.contains("device.janus.url"), "{error}");
        assert!(error.contains("allow_insecure_ws"), "{error}");
        let allowed = plain.replace(
            "user_id = \"door-0042\"",
            "user_id = \"door-0042\"\nallow_insecure_ws = true",
        );
        parse_daemon_config(&allowed).expect("allowed explicitly");
    }

    #[test]
    fn unknown_backends_are_refused() {
        let other = JANUS_DOOR.replace("backend = \"janus\"", "backend = \"livekit\"");
        assert!(parse_daemon_config(&other).is_err());
    }

    #[test]
    fn the_roombell_backend_is_the_default_and_still_wants_its_keys() {
        let roombell = JANUS_DOOR.replace("backend = \"janus\"\n", "");
        let error = parse_daemon_config(&roombell)
            .expect_err("no sdk_app_id")
            .to_string();
        assert!(error.contains("sdk_app_id"), "{error}");
    }
}
