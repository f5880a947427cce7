//! The Rust client of the room protocol, in the spirit of TRTC's Web SDK v4:
//! `Client::connect` → `join` → `publish`; `StreamAdded` → `subscribe`; `leave`.
//!
//! The logic is in [`state::ClientState`] (sans-IO); this module is the IO around it: one
//! WebSocket, heartbeats, request/response matching and the webrtc-rs peer connections.

pub mod depacketize;
pub mod media;
pub mod state;

pub use media::{Publisher, RemoteMedia, Subscriber};
pub use state::{ClientEvent, ConnectionState};

use crate::protocol::{
    code, extra, ClientMessage, IceCandidate, Mode, PeerId, Role, RoomId, ServerMessage,
    SignalError, HEARTBEAT_INTERVAL_MS,
};
use crate::rtc_peer::{PeerError, PeerOptions};
use futures_util::{SinkExt, StreamExt};
use state::{ClientState, Incoming, RequestKind};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use webrtc::peer_connection::PeerConnection;

/// TRTC gives a join 5 s to be answered.
const JOIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Media setup involves the server building a peer connection: allow longer.
const MEDIA_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The server answers every heartbeat: silent for three of them, it is gone even if TCP has not
/// noticed (a dead path keeps a socket open for minutes). Found by scripts/faults.sh (blackhole).
const SERVER_SILENCE_TIMEOUT: Duration = Duration::from_millis(3 * HEARTBEAT_INTERVAL_MS);

/// Who connects, and where to.
#[derive(Clone)]
pub struct ClientConfig {
    /// The room server's signaling URL, e.g. `ws://127.0.0.1:8080/ws`.
    pub url: String,
    pub sdk_app_id: u64,
    pub user_id: String,
    pub user_sig: String,
    pub mode: Mode,
    pub peer: PeerOptions,
}

/// Everything but the UserSig, which is a bearer credential.
impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("url", &self.url)
            .field("sdk_app_id", &self.sdk_app_id)
            .field("user_id", &self.user_id)
            .field("user_sig", &crate::config::redacted(&self.user_sig))
            .field("mode", &self.mode)
            .field("peer", &self.peer)
            .finish()
    }
}

/// How the signaling connection is protected: which CA a `wss://` server's certificate must
/// chain to, and whether plain `ws://` to another machine is acceptable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignalingSecurity {
    /// Trust only this PEM CA (a private CA) instead of the system's roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// Allow `ws://` to a host that is not this machine.
    pub allow_insecure_ws: bool,
}

/// How to open a WebSocket to `url` under `security`: TLS verified against its CA, or plain
/// where plain is allowed. Shared with the Janus backend, so both refuse and verify alike.
pub(crate) fn websocket_connector(
    url: &str,
    security: &SignalingSecurity,
) -> Result<tokio_tungstenite::Connector, String> {
    let transport = crate::tls::signaling_transport(url, security.allow_insecure_ws)
        .map_err(|refusal| refusal.to_string())?;
    Ok(match transport {
        crate::tls::Transport::Tls => tokio_tungstenite::Connector::Rustls(
            crate::tls::client_config(security.ca_file.as_deref()).map_err(|e| e.to_string())?,
        ),
        crate::tls::Transport::PlainLoopback | crate::tls::Transport::PlainAllowed => {
            tokio_tungstenite::Connector::Plain
        }
    })
}

/// Largest message or frame the client accepts from a server (answers are a few KiB).
const MAX_SERVER_MESSAGE_BYTES: usize = 1 << 20;

/// A failed client call: TRTC's code and extra code (like `RtcError`), or a local failure.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Rtc(#[from] SignalError),
    #[error("media: {0}")]
    Media(#[from] PeerError),
}

impl ClientError {
    /// TRTC's error code (`RtcError.getCode()`).
    pub fn code(&self) -> u32 {
        match self {
            ClientError::Rtc(e) => e.code,
            ClientError::Media(_) => code::CREATE_OFFER_FAILED,
        }
    }

    /// The server's extra code (`RtcError.getExtraCode()`), 0 for local failures.
    pub fn extra_code(&self) -> u32 {
        match self {
            ClientError::Rtc(e) => e.extra_code,
            ClientError::Media(_) => 0,
        }
    }
}

type Waiter = oneshot::Sender<Result<Option<String>, SignalError>>;

/// A peer connection of ours and the server candidates that came before its answer.
struct PeerSlot {
    pc: Arc<dyn PeerConnection>,
    answered: bool,
    early: Vec<IceCandidate>,
}

pub(crate) struct Shared {
    pub(crate) config: ClientConfig,
    state: Mutex<ClientState>,
    waiters: Mutex<HashMap<u64, Waiter>>,
    peers: Mutex<HashMap<PeerId, PeerSlot>>,
    outgoing: mpsc::UnboundedSender<String>,
    events: mpsc::UnboundedSender<ClientEvent>,
}

impl Shared {
    pub(crate) fn send(&self, msg: &ClientMessage) {
        if let Ok(text) = serde_json::to_string(msg) {
            let _ = self.outgoing.send(text);
        }
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, ClientState> {
        // A poisoned lock means a panic elsewhere already; the state itself is still coherent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, events: Vec<ClientEvent>) {
        for event in events {
            tracing::info!(user_id = %self.config.user_id, event = ?event, "trtc event");
            let _ = self.events.send(event);
        }
    }

    pub(crate) fn register_peer(&self, peer: PeerId, pc: Arc<dyn PeerConnection>) {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers.insert(
            peer,
            PeerSlot {
                pc,
                answered: false,
                early: Vec::new(),
            },
        );
    }

    /// Applies the server's answer, then the candidates that raced ahead of it.
    pub(crate) async fn apply_answer(&self, peer: &PeerId, sdp: &str) -> Result<(), ClientError> {
        let answer = crate::rtc_peer::answer_from_wire(sdp)?;
        let pc = {
            let peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
            peers.get(peer).map(|slot| slot.pc.clone())
        };
        let Some(pc) = pc else {
            return Err(SignalError::new(
                code::INVALID_OPERATION,
                extra::BAD_PARAMETER,
                "peer connection closed meanwhile",
            )
            .into());
        };
        pc.set_remote_description(answer)
            .await
            .map_err(|e| PeerError::BadSdp(e.to_string()))?;
        let early = {
            let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
            match peers.get_mut(peer) {
                Some(slot) => {
                    slot.answered = true;
                    std::mem::take(&mut slot.early)
                }
                None => Vec::new(),
            }
        };
        for candidate in early {
            if let Ok(init) = crate::rtc_peer::candidate_from_wire(&candidate) {
                let _ = pc.add_ice_candidate(init).await;
            }
        }
        Ok(())
    }

    pub(crate) fn forget_peer(&self, peer: &PeerId) -> Option<Arc<dyn PeerConnection>> {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers.remove(peer).map(|slot| slot.pc)
    }

    async fn remote_candidate(&self, peer: PeerId, candidate: IceCandidate) {
        let ready = {
            let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
            match peers.get_mut(&peer) {
                Some(slot) if slot.answered => Some(slot.pc.clone()),
                Some(slot) => {
                    if slot.early.len() < 32 {
                        slot.early.push(candidate.clone());
                    }
                    None
                }
                None => None,
            }
        };
        if let Some(pc) = ready {
            if let Ok(init) = crate::rtc_peer::candidate_from_wire(&candidate) {
                if let Err(e) = pc.add_ice_candidate(init).await {
                    tracing::debug!(error = %e, "server candidate refused");
                }
            }
        }
    }

    /// Sends a request built around its id and waits for the response.
    pub(crate) async fn request(
        &self,
        kind: RequestKind,
        timeout: Duration,
        build: impl FnOnce(u64) -> ClientMessage,
    ) -> Result<Option<String>, ClientError> {
        let id = self.lock_state().start_request(kind)?;
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        self.send(&build(id));
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => Ok(result?),
            Ok(Err(_)) => Err(SignalError::new(
                code::SIGNAL_CHANNEL_SETUP_FAILED,
                0,
                "signaling closed before the server answered",
            )
            .into()),
            Err(_) => {
                self.lock_state().abandon(id);
                self.waiters
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                Err(SignalError::new(
                    code::API_CALL_TIMEOUT,
                    0,
                    format!(
                        "no answer from the room server within {} s",
                        timeout.as_secs()
                    ),
                )
                .into())
            }
        }
    }

    async fn on_text(&self, text: &str) {
        let msg: ServerMessage = match serde_json::from_str(text) {
            Ok(msg) => msg,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring a server message we cannot parse");
                return;
            }
        };
        let incoming = self.lock_state().server_message(msg);
        match incoming {
            Incoming::Reply { id, result, .. } => {
                let waiter = self
                    .waiters
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                if let Some(waiter) = waiter {
                    let _ = waiter.send(result);
                }
            }
            Incoming::Candidate { peer, candidate } => self.remote_candidate(peer, candidate).await,
            Incoming::Events(events) => self.emit(events),
        }
    }

    fn on_closed(&self) {
        let (failed, events) = self.lock_state().socket_closed(false);
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        for (id, _) in failed {
            if let Some(waiter) = waiters.remove(&id) {
                let _ = waiter.send(Err(SignalError::new(
                    code::SIGNAL_CHANNEL_SETUP_FAILED,
                    0,
                    "signaling connection closed",
                )));
            }
        }
        drop(waiters);
        self.emit(events);
    }
}

/// A connection to a room server: one member of (at most) one room.
pub struct Client {
    shared: Arc<Shared>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Client {
    /// Opens the signaling connection with the default [`SignalingSecurity`]: `wss://`
    /// verified against the system's roots, `ws://` only to this machine. Events (TRTC's
    /// client events) arrive on the receiver.
    pub async fn connect(
        config: ClientConfig,
    ) -> Result<(Client, mpsc::UnboundedReceiver<ClientEvent>), ClientError> {
        Self::connect_with(config, &SignalingSecurity::default()).await
    }

    /// Opens the signaling connection: `wss://` verified against `security`'s CA (or the
    /// system's roots); `ws://` only to this machine unless `security` allows more.
    pub async fn connect_with(
        config: ClientConfig,
        security: &SignalingSecurity,
    ) -> Result<(Client, mpsc::UnboundedReceiver<ClientEvent>), ClientError> {
        let setup_failed =
            |message: String| SignalError::new(code::SIGNAL_CHANNEL_SETUP_FAILED, 0, message);
        let connector = websocket_connector(&config.url, security).map_err(setup_failed)?;
        let websocket = tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
            max_message_size: Some(MAX_SERVER_MESSAGE_BYTES),
            max_frame_size: Some(MAX_SERVER_MESSAGE_BYTES),
            ..Default::default()
        };
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (outgoing_tx, mut outgoing_rx) = mpsc::unbounded_channel::<String>();
        let mut state = ClientState::default();
        let connecting = state.socket_connecting();
        let shared = Arc::new(Shared {
            config: config.clone(),
            state: Mutex::new(state),
            waiters: Mutex::new(HashMap::new()),
            peers: Mutex::new(HashMap::new()),
            outgoing: outgoing_tx,
            events: events_tx,
        });
        shared.emit(connecting);
        let connected = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_tungstenite::connect_async_tls_with_config(
                config.url.as_str(),
                Some(websocket),
                false,
                Some(connector.clone()),
            ),
        )
        .await;
        let socket = match connected {
            Ok(Ok((socket, _))) => socket,
            Ok(Err(e)) => {
                shared.on_closed();
                let text = e.to_string();
                let hint = if matches!(connector, tokio_tungstenite::Connector::Rustls(_))
                    && text.contains("certificate")
                {
                    match &security.ca_file {
                        Some(ca) => format!(
                            " (the server's certificate does not chain to the CA in {}, or is not for this host name)",
                            ca.display()
                        ),
                        None => " (the server's certificate is not trusted by this system: for a private CA set device.ca_file)".to_owned(),
                    }
                } else {
                    String::new()
                };
                return Err(SignalError::new(
                    code::SIGNAL_CHANNEL_SETUP_FAILED,
                    0,
                    format!("cannot reach {}: {text}{hint}", config.url),
                )
                .into());
            }
            Err(_) => {
                shared.on_closed();
                return Err(SignalError::new(
                    code::SIGNAL_CHANNEL_SETUP_FAILED,
                    0,
                    format!(
                        "{} did not answer within {} s",
                        config.url,
                        CONNECT_TIMEOUT.as_secs()
                    ),
                )
                .into());
            }
        };
        let opened = shared.lock_state().socket_open();
        shared.emit(opened);
        let (mut sink, mut stream) = socket.split();
        let writer = tokio::spawn(async move {
            while let Some(text) = outgoing_rx.recv().await {
                if sink.send(Message::Text(text)).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let reader_shared = shared.clone();
        let reader = tokio::spawn(async move {
            while let Ok(Some(frame)) =
                tokio::time::timeout(SERVER_SILENCE_TIMEOUT, stream.next()).await
            {
                match frame {
                    Ok(Message::Text(text)) => reader_shared.on_text(&text).await,
                    Ok(Message::Close(_)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            reader_shared.on_closed();
        });
        let heartbeat_shared = shared.clone();
        let heartbeat = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(HEARTBEAT_INTERVAL_MS));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if heartbeat_shared.lock_state().connection() != ConnectionState::Connected {
                    break;
                }
                // Fire and forget: the server's response only matters to show liveness.
                let id = heartbeat_shared
                    .lock_state()
                    .start_request(RequestKind::Heartbeat);
                if let Ok(id) = id {
                    heartbeat_shared.lock_state().abandon(id);
                    heartbeat_shared.send(&ClientMessage::Heartbeat { id });
                }
            }
        });
        Ok((
            Client {
                shared,
                tasks: Mutex::new(vec![writer, reader, heartbeat]),
            },
            events_rx,
        ))
    }

    /// The signaling connection's state.
    pub fn connection_state(&self) -> ConnectionState {
        self.shared.lock_state().connection()
    }

    /// True while the signaling socket is open.
    pub fn is_connected(&self) -> bool {
        self.connection_state() == ConnectionState::Connected
    }

    /// The user id this client joins as.
    pub fn user_id(&self) -> &str {
        &self.shared.config.user_id
    }

    /// Joins a room (TRTC `client.join({roomId, role, privateMapKey})`).
    pub async fn join(
        &self,
        room_id: RoomId,
        role: Role,
        private_map_key: Option<String>,
    ) -> Result<(), ClientError> {
        room_id.validate().map_err(|message| {
            SignalError::new(code::INVALID_PARAMETER, extra::BAD_ROOM_ID, message)
        })?;
        let pending = self.shared.lock_state().joining(room_id.clone());
        let config = &self.shared.config;
        self.shared
            .request(RequestKind::Join, JOIN_TIMEOUT, |id| ClientMessage::Join {
                id,
                sdk_app_id: config.sdk_app_id,
                user_id: config.user_id.clone(),
                user_sig: config.user_sig.clone(),
                room_id,
                mode: config.mode,
                role,
                private_map_key,
            })
            .await
            .map_err(|e| match e {
                // TRTC reports every server refusal of a join as JOIN_ROOM_FAILED.
                ClientError::Rtc(err) if err.code != code::INVALID_OPERATION => {
                    ClientError::Rtc(SignalError {
                        code: code::JOIN_ROOM_FAILED,
                        ..err
                    })
                }
                other => other,
            })?;
        self.shared.lock_state().joined(pending);
        Ok(())
    }

    /// Publishes audio and/or video; write media through the returned [`Publisher`].
    pub async fn publish(&self, audio: bool, video: bool) -> Result<Publisher, ClientError> {
        media::publish(self.shared.clone(), audio, video).await
    }

    /// Stops publishing.
    pub async fn unpublish(&self) -> Result<(), ClientError> {
        let result = self
            .shared
            .request(RequestKind::Unpublish, JOIN_TIMEOUT, |id| {
                ClientMessage::Unpublish { id }
            })
            .await;
        if let Some(pc) = self.shared.forget_peer(&PeerId::Publish) {
            let _ = pc.close().await;
        }
        result.map(|_| ())
    }

    /// Subscribes to `user_id`'s stream; its RTP arrives through the returned [`Subscriber`].
    pub async fn subscribe(
        &self,
        user_id: &str,
        audio: bool,
        video: bool,
    ) -> Result<Subscriber, ClientError> {
        media::subscribe(self.shared.clone(), user_id, audio, video).await
    }

    /// Stops receiving `user_id`'s stream.
    pub async fn unsubscribe(&self, user_id: &str) -> Result<(), ClientError> {
        let result = self
            .shared
            .request(
                RequestKind::Unsubscribe(user_id.to_owned()),
                JOIN_TIMEOUT,
                |id| ClientMessage::Unsubscribe {
                    id,
                    user_id: user_id.to_owned(),
                },
            )
            .await;
        let peer = PeerId::Subscribe {
            user_id: user_id.to_owned(),
        };
        if let Some(pc) = self.shared.forget_peer(&peer) {
            let _ = pc.close().await;
        }
        result.map(|_| ())
    }

    /// Tells the others our published stream's mute state.
    pub async fn mute(&self, audio_muted: bool, video_muted: bool) -> Result<(), ClientError> {
        self.shared
            .request(RequestKind::Mute, JOIN_TIMEOUT, |id| ClientMessage::Mute {
                id,
                audio_muted,
                video_muted,
            })
            .await
            .map(|_| ())
    }

    /// Leaves the room and closes every peer connection; the signaling socket stays open.
    pub async fn leave(&self) -> Result<(), ClientError> {
        let result = self
            .shared
            .request(RequestKind::Leave, JOIN_TIMEOUT, |id| {
                ClientMessage::Leave { id }
            })
            .await;
        self.close_peers().await;
        result.map(|_| ())
    }

    async fn close_peers(&self) {
        let peers: Vec<Arc<dyn PeerConnection>> = {
            let mut peers = self.shared.peers.lock().unwrap_or_else(|e| e.into_inner());
            peers.drain().map(|(_, slot)| slot.pc).collect()
        };
        for pc in peers {
            let _ = pc.close().await;
        }
    }

    /// Closes everything: peer connections and the signaling socket.
    pub async fn close(&self) {
        self.close_peers().await;
        self.abort_tasks();
    }

    fn abort_tasks(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            task.abort();
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.abort_tasks();
    }
}
