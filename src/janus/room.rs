//! A member of one Janus VideoRoom, with the same calls and events as roombell's own client:
//! `join` → `publish`; `StreamAdded` → `subscribe`; `leave`. Publishing: we offer, Janus
//! answers. Subscribing: Janus offers on a new handle, we answer (Janus 1.x multistream).

use super::connection::JanusConnection;
use super::protocol::{Auth, Incoming, Jsep, JsepKind};
use super::videoroom::{FeedStream, StreamKind, VideoRoomState};
use super::JanusError;
use crate::client::media::{add_send_tracks, forward_peer_events};
use crate::client::{ClientEvent, ConnectionState, Publisher, Subscriber};
use crate::rtc_peer::{self, PeerOptions};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::PeerConnection;

const JOIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Janus builds its side of the PeerConnection before answering: allow longer.
const MEDIA_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the room is and who we are in it.
#[derive(Debug, Clone)]
pub struct JanusRoomConfig {
    /// Janus's WebSocket URL, e.g. `ws://10.0.0.5:8188`.
    pub url: String,
    pub room: u64,
    /// The room's `pin`, when it has one.
    pub pin: Option<String>,
    pub auth: Auth,
    /// Our `display` in the room; others see it as our user id.
    pub user_id: String,
    pub peer: PeerOptions,
    /// TLS verification and the ws:// rule, as for roombell's own server.
    pub security: crate::client::SignalingSecurity,
}

/// A subscription's Janus handle and connection, kept to hang them up.
struct Subscription {
    handle: u64,
    pc: Arc<dyn PeerConnection>,
}

struct Inner {
    connection: JanusConnection,
    config: JanusRoomConfig,
    publisher_handle: u64,
    private_id: Option<u64>,
    state: Mutex<VideoRoomState>,
    publishing: Mutex<Option<Arc<dyn PeerConnection>>>,
    subscriptions: Mutex<HashMap<String, Subscription>>,
}

impl Inner {
    /// Hangs up our subscription to `user_id`, if any.
    async fn drop_subscription(&self, user_id: &str) {
        let gone = self
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(user_id);
        if let Some(subscription) = gone {
            self.connection.detach(subscription.handle);
            let _ = subscription.pc.close().await;
        }
    }
}

/// A joined Janus VideoRoom.
pub struct JanusRoom {
    inner: Arc<Inner>,
    events_task: tokio::task::JoinHandle<()>,
}

impl JanusRoom {
    /// Connects, creates a session, attaches and joins the room as a publisher (not yet
    /// publishing). Room events arrive on the receiver as TRTC client events.
    pub async fn join(
        config: JanusRoomConfig,
    ) -> Result<(JanusRoom, mpsc::UnboundedReceiver<ClientEvent>), JanusError> {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let connection =
            JanusConnection::connect(&config.url, config.auth.clone(), &config.security).await?;
        let result = Self::join_on(connection, config, events_tx).await;
        result.map(|room| (room, events_rx))
    }

    async fn join_on(
        connection: JanusConnection,
        config: JanusRoomConfig,
        events: mpsc::UnboundedSender<ClientEvent>,
    ) -> Result<JanusRoom, JanusError> {
        let (handle, notifications) = match connection.attach().await {
            Ok(attached) => attached,
            Err(e) => {
                connection.close().await;
                return Err(e);
            }
        };
        let mut body = json!({
            "request": "join",
            "ptype": "publisher",
            "room": config.room,
            "display": config.user_id,
        });
        if let Some(pin) = &config.pin {
            body["pin"] = pin.clone().into();
        }
        let (data, _) = match connection
            .message(handle, body, None, JOIN_TIMEOUT, "join")
            .await
        {
            Ok(answer) => answer,
            Err(e) => {
                connection.close().await;
                return Err(e);
            }
        };
        let mut state = VideoRoomState::default();
        let (joined, first_events) = state.joined(&data);
        tracing::info!(
            room = config.room,
            feed = ?joined.as_ref().map(|j| j.feed.to_string()),
            session = connection.session(),
            "joined the Janus room"
        );
        let _ = events.send(ClientEvent::ConnectionStateChanged {
            prev: ConnectionState::Connecting,
            state: ConnectionState::Connected,
        });
        for event in first_events {
            let _ = events.send(event);
        }
        let closed = connection.closed();
        let inner = Arc::new(Inner {
            connection,
            private_id: joined.and_then(|j| j.private_id),
            config,
            publisher_handle: handle,
            state: Mutex::new(state),
            publishing: Mutex::new(None),
            subscriptions: Mutex::new(HashMap::new()),
        });
        let events_task = tokio::spawn(relay_room_events(
            inner.clone(),
            notifications,
            closed,
            events,
        ));
        Ok(JanusRoom { inner, events_task })
    }

    /// Publishes audio and/or video: we offer, Janus answers.
    pub async fn publish(&self, audio: bool, video: bool) -> Result<Publisher, JanusError> {
        let inner = &self.inner;
        let (pc, events) = rtc_peer::build_peer(&inner.config.peer).await?;
        let tracks = add_send_tracks(&pc, &inner.config.user_id, audio, video).await?;
        let (connected_tx, connected_rx) = tokio::sync::watch::channel(false);
        let trickle_to = self.inner.clone();
        let handle = inner.publisher_handle;
        forward_peer_events(
            format!("{} janus publish", inner.config.user_id),
            events,
            move |candidate| trickle_to.connection.trickle(handle, Some(candidate)),
            connected_tx,
            None,
        );
        if let Some(old) = inner
            .publishing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(pc.clone())
        {
            tokio::spawn(async move { old.close().await });
        }
        let offer = local_description(&pc, true).await?;
        let answered = inner
            .connection
            .message(
                handle,
                json!({"request": "publish", "audio": audio, "video": video}),
                Some(Jsep {
                    kind: JsepKind::Offer,
                    sdp: offer,
                }),
                MEDIA_TIMEOUT,
                "publish",
            )
            .await;
        let answer = match answered {
            Ok((_, Some(jsep))) if jsep.kind == JsepKind::Answer => jsep.sdp,
            Ok(_) => return Err(JanusError::NoSdp("in the publish answer")),
            Err(e) => return Err(e),
        };
        pc.set_remote_description(rtc_peer::answer_from_wire(&answer)?)
            .await
            .map_err(|e| rtc_peer::PeerError::BadSdp(e.to_string()))?;
        Ok(Publisher::negotiated(pc, tracks, connected_rx).await)
    }

    /// Subscribes to `user_id`'s feed on a new handle: Janus offers, we answer.
    pub async fn subscribe(
        &self,
        user_id: &str,
        audio: bool,
        video: bool,
    ) -> Result<Subscriber, JanusError> {
        let inner = &self.inner;
        let (feed, streams) = inner
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .feed_of(user_id)
            .ok_or_else(|| JanusError::NoSuchPublisher(user_id.to_owned()))?;
        let wanted: Vec<&FeedStream> = streams
            .iter()
            .filter(|s| {
                (audio && s.kind == StreamKind::Audio) || (video && s.kind == StreamKind::Video)
            })
            .collect();
        if wanted.is_empty() {
            return Err(JanusError::NoSuchPublisher(format!(
                "{user_id} (nothing of the kinds asked for)"
            )));
        }
        let (handle, notifications) = inner.connection.attach().await?;
        tokio::spawn(log_handle_notifications(user_id.to_owned(), notifications));
        let mut body = json!({
            "request": "join",
            "ptype": "subscriber",
            "room": inner.config.room,
            "streams": wanted
                .iter()
                .map(|s| json!({"feed": feed.to_json(), "mid": s.mid}))
                .collect::<Vec<Value>>(),
        });
        if let Some(private_id) = inner.private_id {
            body["private_id"] = private_id.into();
        }
        if let Some(pin) = &inner.config.pin {
            body["pin"] = pin.clone().into();
        }
        let result = self.answer_subscription(handle, user_id, body).await;
        if result.is_err() {
            inner.connection.detach(handle);
        }
        result
    }

    async fn answer_subscription(
        &self,
        handle: u64,
        user_id: &str,
        body: Value,
    ) -> Result<Subscriber, JanusError> {
        let inner = &self.inner;
        let offer = match inner
            .connection
            .message(handle, body, None, MEDIA_TIMEOUT, "subscribe")
            .await?
        {
            (_, Some(jsep)) if jsep.kind == JsepKind::Offer => jsep.sdp,
            _ => return Err(JanusError::NoSdp("in the subscription's offer")),
        };
        let (pc, events) = rtc_peer::build_peer(&inner.config.peer).await?;
        let (track_tx, track_rx) = mpsc::unbounded_channel::<Arc<dyn TrackRemote>>();
        let (connected_tx, _connected_rx) = tokio::sync::watch::channel(false);
        let trickle_to = inner.clone();
        forward_peer_events(
            format!("{} janus subscribe {user_id}", inner.config.user_id),
            events,
            move |candidate| trickle_to.connection.trickle(handle, Some(candidate)),
            connected_tx,
            Some(track_tx),
        );
        let subscriber = Subscriber::receiving(pc.clone(), track_rx);
        let negotiated = async {
            pc.set_remote_description(rtc_peer::offer_from_wire(&offer)?)
                .await
                .map_err(|e| rtc_peer::PeerError::BadSdp(e.to_string()))?;
            let answer = local_description(&pc, false).await?;
            inner
                .connection
                .message(
                    handle,
                    json!({"request": "start", "room": inner.config.room}),
                    Some(Jsep {
                        kind: JsepKind::Answer,
                        sdp: answer,
                    }),
                    MEDIA_TIMEOUT,
                    "start",
                )
                .await
                .map(|_| ())
        };
        if let Err(e) = negotiated.await {
            let _ = pc.close().await;
            return Err(e);
        }
        let replaced = inner
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user_id.to_owned(), Subscription { handle, pc });
        if let Some(old) = replaced {
            inner.connection.detach(old.handle);
            tokio::spawn(async move { old.pc.close().await });
        }
        Ok(subscriber)
    }

    /// Stops receiving `user_id`.
    pub async fn unsubscribe(&self, user_id: &str) {
        self.inner.drop_subscription(user_id).await;
    }

    /// Leaves the room (others see `leaving` at once) and hangs every connection up; the
    /// session stays until [`close`](Self::close).
    pub async fn leave(&self) -> Result<(), JanusError> {
        let inner = &self.inner;
        let result = inner
            .connection
            .message(
                inner.publisher_handle,
                json!({"request": "leave"}),
                None,
                JOIN_TIMEOUT,
                "leave",
            )
            .await
            .map(|_| ());
        self.close_peers().await;
        result
    }

    async fn close_peers(&self) {
        let inner = &self.inner;
        let users: Vec<String> = inner
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        for user in users {
            inner.drop_subscription(&user).await;
        }
        let publishing = inner
            .publishing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(pc) = publishing {
            let _ = pc.close().await;
        }
    }

    /// Closes everything: peer connections, the Janus session and the socket.
    pub async fn close(&self) {
        self.close_peers().await;
        self.events_task.abort();
        self.inner.connection.close().await;
    }
}

impl Drop for JanusRoom {
    fn drop(&mut self) {
        self.events_task.abort();
    }
}

/// Our offer or answer, created and set locally.
async fn local_description(
    pc: &Arc<dyn PeerConnection>,
    offer: bool,
) -> Result<String, rtc_peer::PeerError> {
    let description = if offer {
        pc.create_offer(None).await?
    } else {
        pc.create_answer(None).await?
    };
    pc.set_local_description(description).await?;
    pc.local_description()
        .await
        .map(|d| d.sdp)
        .ok_or_else(|| rtc_peer::PeerError::BadSdp("no local description".into()))
}

/// Turns the publisher handle's notifications into TRTC events until the connection ends,
/// then says DISCONNECTED (which is what makes the device reconnect).
async fn relay_room_events(
    inner: Arc<Inner>,
    mut notifications: mpsc::UnboundedReceiver<Incoming>,
    mut closed: tokio::sync::watch::Receiver<bool>,
    events: mpsc::UnboundedSender<ClientEvent>,
) {
    while !*closed.borrow() {
        tokio::select! {
            notification = notifications.recv() => {
                let Some(notification) = notification else { break };
                let room_events = match &notification {
                    Incoming::Event { data, .. } => {
                        inner.state.lock().unwrap_or_else(|e| e.into_inner()).event(data)
                    }
                    Incoming::Hangup { reason, .. } => {
                        // Our media no longer reaches the room (ICE or DTLS failed on Janus's
                        // side): start over, as after a lost connection.
                        tracing::warn!(%reason, "Janus hung our publication up");
                        break;
                    }
                    other => {
                        tracing::debug!(notification = ?other, "Janus publisher handle");
                        Vec::new()
                    }
                };
                for event in room_events {
                    // A subscription to someone who stopped publishing is dead weight.
                    match &event {
                        ClientEvent::StreamRemoved(stream) => {
                            inner.drop_subscription(&stream.user_id).await;
                        }
                        ClientEvent::PeerLeave { user_id, .. } => {
                            inner.drop_subscription(user_id).await;
                        }
                        _ => {}
                    }
                    tracing::debug!(event = ?event, "janus room event");
                    let _ = events.send(event);
                }
            }
            changed = closed.changed() => {
                if changed.is_err() || *closed.borrow() {
                    break;
                }
            }
        }
    }
    let _ = events.send(ClientEvent::ConnectionStateChanged {
        prev: ConnectionState::Connected,
        state: ConnectionState::Disconnected,
    });
}

/// Subscriber handles only tell us about their own PeerConnection: log it.
async fn log_handle_notifications(
    user_id: String,
    mut notifications: mpsc::UnboundedReceiver<Incoming>,
) {
    while let Some(notification) = notifications.recv().await {
        match notification {
            Incoming::WebrtcUp { .. } => {
                tracing::debug!(STREAM_USER = %user_id, "Janus subscription is up")
            }
            Incoming::Hangup { reason, .. } => {
                tracing::info!(STREAM_USER = %user_id, %reason, "Janus hung a subscription up")
            }
            other => {
                tracing::trace!(STREAM_USER = %user_id, notification = ?other, "Janus subscriber handle")
            }
        }
    }
}
