//! `RoomSession`: keeps the doorbell in its room, forever. Connects and joins, publishes,
//! subscribes to whoever publishes audio, and when anything drops it tears down and tries
//! again with jittered backoff. The room is reached through a [`RoomBackend`] (roombell's own
//! server or a Janus VideoRoom, `[device] backend`); the protocol logic is the backend's state
//! machine, and this actor only sequences it and reports.

use super::backend::{self, BackendKind, JoinRequest, RoomBackend};
use super::backoff::Backoff;
use super::config::DeviceConfig;
use super::messages::{
    PublisherGone, PublisherReady, RemoteAudio, RoomEvent, Shutdown, TalkerGone,
};
use super::{PeerLink, Playback};
use crate::client::media::MediaKind;
use crate::client::{ClientEvent, ConnectionState};
use crate::rtc_peer::PeerOptions;
use crate::usersig;
use actix::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a publication may take to connect, or stay disconnected, before the session
/// starts over. Set-up takes 0.2-1.1 s here; ICE's own verdict ("failed") takes ~25 s.
const MEDIA_PATH_GRACE: Duration = Duration::from_secs(4);

/// Resolves to true when the connection does not come up within `grace`, or goes down and
/// stays down for `grace`; to false when the connection is closed (the publication ended).
async fn media_path_lost(
    mut connected: tokio::sync::watch::Receiver<bool>,
    grace: Duration,
) -> bool {
    loop {
        match tokio::time::timeout(grace, connected.wait_for(|up| *up)).await {
            Err(_) => return true,
            Ok(Err(_)) => return false,
            Ok(Ok(_)) => {}
        }
        if connected.wait_for(|up| !*up).await.is_err() {
            return false;
        }
    }
}

/// What the session is doing, for the status line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionStatus {
    pub in_room: bool,
    pub publishing: bool,
    /// Remote users we receive audio from.
    pub listening_to: usize,
    /// Why we are not in the room, when we are not.
    pub problem: Option<String>,
    pub reconnects: u64,
}

/// Shared status, written by the session and read by the supervisor.
pub type StatusHandle = Arc<Mutex<SessionStatus>>;

pub struct RoomSession {
    config: DeviceConfig,
    peer: PeerOptions,
    media: tokio::runtime::Handle,
    peer_link: Addr<PeerLink>,
    playback: Addr<Playback>,
    backoff: Backoff,
    generation: u64,
    client: Option<Arc<dyn RoomBackend>>,
    subscriptions: HashMap<String, tokio::task::JoinHandle<()>>,
    stopping: bool,
    status: StatusHandle,
}

impl RoomSession {
    pub fn new(
        config: DeviceConfig,
        peer: PeerOptions,
        media: tokio::runtime::Handle,
        peer_link: Addr<PeerLink>,
        playback: Addr<Playback>,
        status: StatusHandle,
    ) -> Self {
        let backoff = Backoff::new(
            Duration::from_millis(250),
            Duration::from_millis(config.max_retry_ms.max(250)),
            0.3,
        );
        RoomSession {
            config,
            peer,
            media,
            peer_link,
            playback,
            backoff,
            generation: 0,
            client: None,
            subscriptions: HashMap::new(),
            stopping: false,
            status,
        }
    }

    fn set_status(&self, update: impl FnOnce(&mut SessionStatus)) {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        update(&mut status);
    }

    /// A UserSig for this attempt: minted fresh from the secret key (so it never expires on a
    /// device that runs for years), or the configured one (warned about when near expiry).
    fn user_sig(&self) -> String {
        if self.config.backend == BackendKind::Janus {
            return String::new();
        }
        if !self.config.secret_key.is_empty() {
            return usersig::gen_user_sig(
                self.config.sdk_app_id,
                &self.config.secret_key,
                &self.config.user_id,
                self.config.user_sig_lifetime_secs.max(60),
                crate::usersig::unix_now(),
            );
        }
        if let Ok(document) = usersig::decode(&self.config.user_sig) {
            let left = document
                .expires_at()
                .saturating_sub(crate::usersig::unix_now());
            if left < 86_400 {
                tracing::warn!(
                    USER_ID = %self.config.user_id,
                    seconds_left = left,
                    "the configured UserSig expires soon: configure a new one or device.secret_key"
                );
            }
        }
        self.config.user_sig.clone()
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        self.generation += 1;
        let generation = self.generation;
        let request = JoinRequest {
            kind: self.config.backend,
            user_id: self.config.user_id.clone(),
            peer: self.peer.clone(),
            server: self.config.server.clone(),
            sdk_app_id: self.config.sdk_app_id,
            user_sig: self.user_sig(),
            mode: self.config.mode,
            room_id: self.config.room_id.clone(),
            private_map_key: self.config.private_map_key.clone(),
            janus: self.config.janus.clone(),
            security: self.config.signaling_security(),
        };
        let session = ctx.address();
        tracing::info!(
            ROOM_ID = %self.room_name(),
            USER_ID = %request.user_id,
            server = %request.target(),
            backend = ?request.kind,
            attempt = self.backoff.attempts() + 1,
            "joining the room"
        );
        let setup = self.media.spawn(async move {
            let (client, mut events) = backend::join(request).await?;
            // From here the session hears every event; a closed socket arrives as
            // DISCONNECTED, which starts the next attempt.
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    session.do_send(RoomEvent { generation, event });
                }
            });
            Ok::<Box<dyn RoomBackend>, backend::BackendError>(client)
        });
        ctx.spawn(setup.into_actor(self).map(move |result, session, ctx| {
            if generation != session.generation || session.stopping {
                if let Ok(Ok(client)) = result {
                    session.media.spawn(async move { client.close().await });
                }
                return;
            }
            match result {
                Ok(Ok(client)) => session.joined(Arc::from(client), ctx),
                Ok(Err(e)) => session.retry_later(format!("{e}"), ctx),
                Err(e) => session.retry_later(format!("join task failed: {e}"), ctx),
            }
        }));
    }

    /// The room's name for logs: the TRTC room id, or the Janus room number.
    fn room_name(&self) -> String {
        match self.config.backend {
            BackendKind::Roombell => self.config.room_id.to_string(),
            BackendKind::Janus => self.config.janus.room.to_string(),
        }
    }

    /// Where the session goes, for logs and the status line.
    fn target(&self) -> String {
        match self.config.backend {
            BackendKind::Roombell => self.config.server.clone(),
            BackendKind::Janus => self.config.janus.url.clone(),
        }
    }

    fn joined(&mut self, client: Arc<dyn RoomBackend>, ctx: &mut Context<Self>) {
        tracing::info!(ROOM_ID = %self.room_name(), USER_ID = %self.config.user_id, "in the room");
        self.backoff.reset();
        self.client = Some(client.clone());
        self.set_status(|s| {
            s.in_room = true;
            s.problem = None;
        });
        let generation = self.generation;
        let (audio, video) = (self.config.publish_audio, self.config.publish_video);
        let publish = self
            .media
            .spawn(async move { client.publish(audio, video).await });
        ctx.spawn(publish.into_actor(self).map(move |result, session, ctx| {
            if generation != session.generation {
                return;
            }
            match result {
                Ok(Ok(publisher)) => {
                    tracing::info!(EVENT = "publish", audio, video, "publishing");
                    session.set_status(|s| s.publishing = true);
                    session.watch_media_path(publisher.connection_watch(), ctx);
                    session.peer_link.do_send(PublisherReady(publisher));
                }
                Ok(Err(e)) => session.retry_later(format!("publish failed: {e}"), ctx),
                Err(e) => session.retry_later(format!("publish task failed: {e}"), ctx),
            }
        }));
    }

    /// Signaling can stay up while the media path dies (a firewall, a NAT rebinding, UDP
    /// blocked): then nobody would ever see the doorbell again, so a publication that does not
    /// connect, or stays disconnected, is treated like a lost connection.
    fn watch_media_path(
        &mut self,
        connected: tokio::sync::watch::Receiver<bool>,
        ctx: &mut Context<Self>,
    ) {
        let generation = self.generation;
        let watch = self
            .media
            .spawn(media_path_lost(connected, MEDIA_PATH_GRACE));
        ctx.spawn(watch.into_actor(self).map(move |lost, session, ctx| {
            if matches!(lost, Ok(true)) && generation == session.generation && !session.stopping {
                session.retry_later("the media connection to the room was lost".into(), ctx);
            }
        }));
    }

    /// Drops the current connection and schedules the next attempt.
    fn retry_later(&mut self, reason: String, ctx: &mut Context<Self>) {
        self.teardown();
        if self.stopping {
            return;
        }
        let delay = self.backoff.next_delay();
        tracing::warn!(
            server = %self.target(),
            reason = %reason,
            retry_in_ms = delay.as_millis() as u64,
            "not in the room; retrying"
        );
        let shown = format!(
            "reconnecting to {}: {reason}, retry in {:.1} s",
            self.target(),
            delay.as_secs_f32()
        );
        self.set_status(|s| {
            s.problem = Some(shown);
            s.reconnects += 1;
        });
        // A new generation now, so events from the dead connection are ignored meanwhile.
        self.generation += 1;
        ctx.run_later(delay, |session, ctx| session.connect(ctx));
    }

    fn teardown(&mut self) {
        self.peer_link.do_send(PublisherGone);
        for (user_id, pump) in self.subscriptions.drain() {
            pump.abort();
            self.playback.do_send(TalkerGone { user_id });
        }
        if let Some(client) = self.client.take() {
            self.media.spawn(async move { client.close().await });
        }
        self.set_status(|s| {
            s.in_room = false;
            s.publishing = false;
            s.listening_to = 0;
        });
    }

    fn subscribe(&mut self, user_id: String, ctx: &mut Context<Self>) {
        let Some(client) = self.client.clone() else {
            return;
        };
        let generation = self.generation;
        let video = self.config.subscribe_video;
        let target = user_id.clone();
        let subscribe = self
            .media
            .spawn(async move { client.subscribe(&target, true, video).await });
        ctx.spawn(subscribe.into_actor(self).map(move |result, session, ctx| {
            if generation != session.generation {
                return;
            }
            match result {
                Ok(Ok(mut subscriber)) => {
                    let playback = session.playback.clone();
                    let talker = user_id.clone();
                    let pump = session.media.spawn(async move {
                        while let Some(media) = subscriber.next_media().await {
                            if media.kind == MediaKind::Audio {
                                playback.do_send(RemoteAudio {
                                    user_id: talker.clone(),
                                    sequence_number: media.packet.header.sequence_number,
                                    rtp_timestamp: media.packet.header.timestamp,
                                    payload: media.packet.payload,
                                });
                            }
                        }
                    });
                    if let Some(old) = session.subscriptions.insert(user_id.clone(), pump) {
                        old.abort();
                    }
                    let listening = session.subscriptions.len();
                    session.set_status(|s| s.listening_to = listening);
                    tracing::info!(EVENT = "stream-subscribed", STREAM_USER = %user_id, "listening");
                }
                Ok(Err(e)) => {
                    // The stream may still be setting up on the server: try once more shortly.
                    tracing::warn!(STREAM_USER = %user_id, error = %e, "subscribe failed; retrying in 1 s");
                    ctx.run_later(Duration::from_secs(1), move |session, ctx| {
                        if generation == session.generation
                            && !session.subscriptions.contains_key(&user_id)
                        {
                            session.subscribe(user_id, ctx);
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, "subscribe task failed"),
            }
        }));
    }

    fn unsubscribe(&mut self, user_id: &str) {
        if let Some(pump) = self.subscriptions.remove(user_id) {
            pump.abort();
            self.playback.do_send(TalkerGone {
                user_id: user_id.to_owned(),
            });
        }
        let listening = self.subscriptions.len();
        self.set_status(|s| s.listening_to = listening);
    }
}

impl Actor for RoomSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.connect(ctx);
    }
}

impl Handler<RoomEvent> for RoomSession {
    type Result = ();

    fn handle(&mut self, msg: RoomEvent, ctx: &mut Self::Context) {
        if msg.generation != self.generation {
            return;
        }
        let event = msg.event;
        match &event {
            ClientEvent::StreamAdded(stream) => {
                tracing::info!(EVENT = "stream-added", STREAM_USER = %stream.user_id, STREAM_ID = %stream.stream_id, audio = stream.audio, video = stream.video);
                if stream.audio || (stream.video && self.config.subscribe_video) {
                    self.subscribe(stream.user_id.clone(), ctx);
                }
            }
            ClientEvent::StreamRemoved(stream) => {
                tracing::info!(EVENT = "stream-removed", STREAM_USER = %stream.user_id, STREAM_ID = %stream.stream_id);
                self.unsubscribe(&stream.user_id);
            }
            ClientEvent::PeerLeave { user_id, reason } => {
                tracing::info!(EVENT = "peer-leave", PEER_USER = %user_id, ?reason);
                self.unsubscribe(user_id);
            }
            ClientEvent::PeerJoin { user_id } => {
                tracing::info!(EVENT = "peer-join", PEER_USER = %user_id);
            }
            ClientEvent::ClientBanned { reason, message } => {
                tracing::warn!(EVENT = "client-banned", ?reason, message = %message);
                self.retry_later(format!("put out of the room ({reason:?}: {message})"), ctx);
            }
            ClientEvent::ConnectionStateChanged { prev, state } => {
                tracing::info!(
                    EVENT = "connection-state-changed",
                    prev = prev.as_str(),
                    state = state.as_str()
                );
                if matches!(
                    state,
                    ConnectionState::Disconnected | ConnectionState::Reconnecting
                ) && !self.stopping
                {
                    self.retry_later("signaling connection lost".into(), ctx);
                }
            }
            other => tracing::info!(event = ?other, "room event"),
        }
    }
}

impl Handler<Shutdown> for RoomSession {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _msg: Shutdown, _ctx: &mut Self::Context) -> Self::Result {
        self.stopping = true;
        self.generation += 1;
        let client = self.client.take();
        self.teardown();
        let leave = self.media.spawn(async move {
            if let Some(client) = client {
                // Others see peer-leave at once instead of after the heartbeat timeout.
                let _ = tokio::time::timeout(Duration::from_millis(1200), client.leave()).await;
                client.close().await;
            }
        });
        Box::pin(
            async move {
                let _ = leave.await;
            }
            .into_actor(self),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::media_path_lost;
    use std::time::Duration;
    use tokio::sync::watch;

    const GRACE: Duration = Duration::from_millis(100);

    #[tokio::test]
    async fn a_publication_that_never_connects_is_lost() {
        let (_state, connected) = watch::channel(false);
        assert!(media_path_lost(connected, GRACE).await);
    }

    #[tokio::test]
    async fn one_that_goes_down_and_stays_down_is_lost() {
        let (state, connected) = watch::channel(false);
        let watcher = tokio::spawn(media_path_lost(connected, GRACE));
        state.send_replace(true);
        tokio::time::sleep(GRACE * 2).await;
        state.send_replace(false);
        assert!(watcher.await.expect("watcher"));
        drop(state);
    }

    #[tokio::test]
    async fn a_short_drop_is_ridden_out_and_closing_ends_the_watch() {
        let (state, connected) = watch::channel(false);
        let watcher = tokio::spawn(media_path_lost(connected, GRACE));
        state.send_replace(true);
        tokio::time::sleep(GRACE * 2).await;
        state.send_replace(false);
        tokio::time::sleep(GRACE / 4).await;
        state.send_replace(true);
        tokio::time::sleep(GRACE * 2).await;
        drop(state);
        assert!(!watcher.await.expect("watcher"), "closing is not a loss");
    }
}
