//! `RoomHub`: the actor between the WebSocket sessions, the registry and the SFU.
//!
//! It only moves messages: client text goes to the registry, the registry's effects go out to
//! sessions or start and stop media on the SFU runtime, and the SFU's results come back here.

use super::limits::JoinLimiter;
use super::registry::{ConnId, Effect, Now, RoomRegistry};
use super::sfu::{self, CandidateSink, MediaNotice, Publication, Subscription};
use crate::protocol::{self, IceCandidate, PeerId, ServerMessage};
use crate::rtc_peer::{PeerError, PeerOptions};
use actix::prelude::*;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What the hub tells one WebSocket session to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound {
    Text(String),
    Close,
}

/// A new WebSocket session; the hub answers with its connection id.
#[derive(Message)]
#[rtype(result = "ConnId")]
pub struct Connect {
    pub outbox: mpsc::UnboundedSender<Outbound>,
    /// The socket's peer address, which join limits are kept per.
    pub peer_ip: Option<IpAddr>,
}

/// One text frame from a session.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Incoming {
    pub conn: ConnId,
    pub text: String,
}

/// The session's socket closed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    pub conn: ConnId,
}

/// Something the SFU noticed about one of `conn`'s peer connections.
#[derive(Message)]
#[rtype(result = "()")]
struct MediaNoticeFor {
    conn: ConnId,
    notice: MediaNotice,
}

/// Counters for `/healthz` and tests.
#[derive(Message)]
#[rtype(result = "HubStats")]
pub struct GetStats;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct HubStats {
    pub connections: usize,
    pub rooms: usize,
    /// Tasks alive on the media runtime: publications, subscriptions and their peer
    /// connections' drivers. Back to its idle value when everyone has left.
    pub media_tasks: usize,
    pub publications: usize,
    pub subscriptions: usize,
    pub packets_forwarded: u64,
    pub keyframe_requests_relayed: u64,
}

type SubscriptionKey = (ConnId, String);

/// A publication or subscription: something that can be stopped on the media runtime.
trait MediaSession: Send + 'static {
    fn stop(self) -> impl std::future::Future<Output = ()> + Send + 'static;
}

impl MediaSession for Publication {
    fn stop(self) -> impl std::future::Future<Output = ()> + Send + 'static {
        Publication::stop(self)
    }
}

impl MediaSession for Subscription {
    fn stop(self) -> impl std::future::Future<Output = ()> + Send + 'static {
        Subscription::stop(self)
    }
}

pub struct RoomHub {
    registry: RoomRegistry,
    sessions: HashMap<ConnId, mpsc::UnboundedSender<Outbound>>,
    peer_ips: HashMap<ConnId, IpAddr>,
    joins: JoinLimiter,
    next_conn: ConnId,
    media: tokio::runtime::Handle,
    peer_options: PeerOptions,
    publications: HashMap<ConnId, Publication>,
    subscriptions: HashMap<SubscriptionKey, Subscription>,
    /// Media being set up, keyed to the request that started it; a stop clears the entry so a
    /// late-finishing setup knows to tear itself down.
    pending: HashMap<(ConnId, PeerId), u64>,
    candidate_sinks: HashMap<(ConnId, PeerId), CandidateSink>,
    /// Candidates trickled before their peer connection finished setting up.
    early_candidates: HashMap<(ConnId, PeerId), Vec<IceCandidate>>,
    /// Subscriptions to a publisher whose media is still being set up: a browser subscribes
    /// the moment it sees stream-added, which can be before the publisher's DTLS is up.
    waiting_for_publication: HashMap<ConnId, Vec<Effect>>,
}

impl RoomHub {
    pub fn new(
        registry: RoomRegistry,
        joins: JoinLimiter,
        media: tokio::runtime::Handle,
        peer_options: PeerOptions,
    ) -> Self {
        RoomHub {
            registry,
            sessions: HashMap::new(),
            peer_ips: HashMap::new(),
            joins,
            next_conn: 1,
            media,
            peer_options,
            publications: HashMap::new(),
            subscriptions: HashMap::new(),
            pending: HashMap::new(),
            candidate_sinks: HashMap::new(),
            early_candidates: HashMap::new(),
            waiting_for_publication: HashMap::new(),
        }
    }

    fn now() -> Now {
        Now {
            mono: Instant::now(),
            unix: crate::usersig::unix_now(),
        }
    }

    fn send(&self, conn: ConnId, msg: &ServerMessage) {
        let Some(outbox) = self.sessions.get(&conn) else {
            return;
        };
        match serde_json::to_string(msg) {
            Ok(text) => {
                let _ = outbox.send(Outbound::Text(text));
            }
            Err(e) => tracing::error!(conn, error = %e, "cannot serialize a server message"),
        }
    }

    fn notices_for(&self, conn: ConnId, ctx: &Context<Self>) -> mpsc::UnboundedSender<MediaNotice> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let hub = ctx.address();
        self.media.spawn(async move {
            while let Some(notice) = rx.recv().await {
                hub.do_send(MediaNoticeFor { conn, notice });
            }
        });
        tx
    }

    fn apply(&mut self, effects: Vec<Effect>, ctx: &mut Context<Self>) {
        for effect in effects {
            match effect {
                Effect::Send { to, msg } => self.send(to, &msg),
                Effect::Close { conn } => {
                    if let Some(outbox) = self.sessions.get(&conn) {
                        let _ = outbox.send(Outbound::Close);
                    }
                }
                Effect::StartPublish {
                    conn,
                    request_id,
                    user_id,
                    stream_id,
                    kinds,
                    sdp,
                } => {
                    tracing::info!(conn, user_id, stream_id, ?kinds, "starting publication");
                    let setup = self.media.spawn(sfu::start_publication(
                        self.peer_options.clone(),
                        sdp,
                        kinds,
                        self.notices_for(conn, ctx),
                    ));
                    self.await_setup(
                        ctx,
                        conn,
                        PeerId::Publish,
                        request_id,
                        setup,
                        move |hub, publication| {
                            hub.publications.insert(conn, publication);
                        },
                    );
                }
                Effect::StopPublish { conn, stream_id } => {
                    tracing::info!(conn, stream_id, "stopping publication");
                    self.fail_waiting_subscriptions(conn, ctx);
                    self.pending.remove(&(conn, PeerId::Publish));
                    self.forget_peer(conn, &PeerId::Publish);
                    if let Some(publication) = self.publications.remove(&conn) {
                        self.media.spawn(publication.stop());
                    }
                }
                Effect::StartSubscribe {
                    conn,
                    request_id,
                    publisher,
                    publisher_user,
                    stream_id,
                    kinds,
                    sdp,
                } => {
                    let peer = PeerId::Subscribe {
                        user_id: publisher_user.clone(),
                    };
                    let Some(tap) = self.publications.get(&publisher).map(|p| p.tap()) else {
                        if self.pending.contains_key(&(publisher, PeerId::Publish)) {
                            self.waiting_for_publication
                                .entry(publisher)
                                .or_default()
                                .push(Effect::StartSubscribe {
                                    conn,
                                    request_id,
                                    publisher,
                                    publisher_user,
                                    stream_id,
                                    kinds,
                                    sdp,
                                });
                        } else {
                            let effects = self.registry.media_failed(
                                conn,
                                &peer,
                                request_id,
                                "the publisher has no media",
                            );
                            self.apply(effects, ctx);
                        }
                        continue;
                    };
                    tracing::info!(
                        conn,
                        publisher_user,
                        stream_id,
                        ?kinds,
                        "starting subscription"
                    );
                    let setup = self.media.spawn(sfu::start_subscription(
                        self.peer_options.clone(),
                        sdp,
                        tap,
                        kinds,
                        publisher_user.clone(),
                        self.notices_for(conn, ctx),
                    ));
                    self.await_setup(
                        ctx,
                        conn,
                        peer,
                        request_id,
                        setup,
                        move |hub, subscription| {
                            hub.subscriptions
                                .insert((conn, publisher_user), subscription);
                        },
                    );
                }
                Effect::StopSubscribe {
                    conn,
                    publisher_user,
                } => {
                    let peer = PeerId::Subscribe {
                        user_id: publisher_user.clone(),
                    };
                    self.pending.remove(&(conn, peer.clone()));
                    self.forget_peer(conn, &peer);
                    if let Some(subscription) = self.subscriptions.remove(&(conn, publisher_user)) {
                        self.media.spawn(subscription.stop());
                    }
                }
                Effect::RemoteCandidate {
                    conn,
                    peer,
                    candidate,
                } => {
                    let key = (conn, peer);
                    if let Some(sink) = self.candidate_sinks.get(&key).cloned() {
                        self.media.spawn(async move {
                            if let Err(e) = sink.add(&candidate).await {
                                tracing::debug!(conn, error = %e, "candidate refused");
                            }
                        });
                    } else {
                        let early = self.early_candidates.entry(key).or_default();
                        // A client has no business sending more; don't let it grow memory.
                        if early.len() < 32 {
                            early.push(candidate);
                        }
                    }
                }
                Effect::RoomDisposed { room } => {
                    tracing::info!(sdk_app_id = room.sdk_app_id, room_id = %room.room_id, "room disposed");
                }
            }
        }
    }

    /// Waits for a peer connection being set up on the media runtime, then answers the request
    /// and keeps the session with `install` — or, if it was stopped meanwhile, tears it down.
    fn await_setup<M: MediaSession>(
        &mut self,
        ctx: &mut Context<Self>,
        conn: ConnId,
        peer: PeerId,
        request_id: u64,
        setup: tokio::task::JoinHandle<Result<(M, CandidateSink, String), PeerError>>,
        install: impl FnOnce(&mut RoomHub, M) + 'static,
    ) {
        self.pending.insert((conn, peer.clone()), request_id);
        ctx.spawn(setup.into_actor(self).map(move |result, hub, ctx| {
            let key = (conn, peer.clone());
            if hub.pending.get(&key) != Some(&request_id) {
                if let Ok(Ok((session, _, _))) = result {
                    hub.media.spawn(session.stop());
                }
                return;
            }
            hub.pending.remove(&key);
            let failure = match result {
                Ok(Ok((session, sink, answer))) => {
                    install(hub, session);
                    hub.install_sink(conn, peer.clone(), sink);
                    hub.send(
                        conn,
                        &ServerMessage::Response {
                            id: request_id,
                            sdp: Some(answer),
                        },
                    );
                    if peer == PeerId::Publish {
                        let waiting = hub
                            .waiting_for_publication
                            .remove(&conn)
                            .unwrap_or_default();
                        hub.apply(waiting, ctx);
                    }
                    return;
                }
                Ok(Err(e)) => e.to_string(),
                Err(join_error) => join_error.to_string(),
            };
            tracing::warn!(conn, ?peer, error = %failure, "media setup failed");
            let effects = hub.registry.media_failed(conn, &peer, request_id, &failure);
            hub.apply(effects, ctx);
            if peer == PeerId::Publish {
                hub.fail_waiting_subscriptions(conn, ctx);
            }
        }));
    }

    /// The publisher's media will not come: answer whoever waited for it.
    fn fail_waiting_subscriptions(&mut self, publisher: ConnId, ctx: &mut Context<Self>) {
        for waiting in self
            .waiting_for_publication
            .remove(&publisher)
            .unwrap_or_default()
        {
            if let Effect::StartSubscribe {
                conn,
                request_id,
                publisher_user,
                ..
            } = waiting
            {
                let peer = PeerId::Subscribe {
                    user_id: publisher_user,
                };
                let effects =
                    self.registry
                        .media_failed(conn, &peer, request_id, "the publication ended");
                self.apply(effects, ctx);
            }
        }
    }

    fn install_sink(&mut self, conn: ConnId, peer: PeerId, sink: CandidateSink) {
        let key = (conn, peer);
        if let Some(early) = self.early_candidates.remove(&key) {
            let sink = sink.clone();
            self.media.spawn(async move {
                for candidate in early {
                    let _ = sink.add(&candidate).await;
                }
            });
        }
        self.candidate_sinks.insert(key, sink);
    }

    fn forget_peer(&mut self, conn: ConnId, peer: &PeerId) {
        let key = (conn, peer.clone());
        self.candidate_sinks.remove(&key);
        self.early_candidates.remove(&key);
    }
}

impl Actor for RoomHub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_secs(1), |hub, ctx| {
            let effects = hub.registry.tick(Self::now());
            hub.apply(effects, ctx);
        });
        // The hub answering its timer is what "alive" means for the room server.
        let notifier = crate::sd_notify::Notifier::default();
        ctx.run_interval(crate::sd_notify::Notifier::interval(), move |_, _| {
            notifier.watchdog();
        });
    }
}

impl Handler<Connect> for RoomHub {
    type Result = ConnId;

    fn handle(&mut self, msg: Connect, _ctx: &mut Self::Context) -> ConnId {
        let conn = self.next_conn;
        self.next_conn += 1;
        self.sessions.insert(conn, msg.outbox);
        if let Some(ip) = msg.peer_ip {
            self.peer_ips.insert(conn, ip);
        }
        self.registry.connect(conn, Self::now());
        conn
    }
}

impl Handler<Incoming> for RoomHub {
    type Result = ();

    fn handle(&mut self, msg: Incoming, ctx: &mut Self::Context) {
        let now = Self::now();
        let effects = match protocol::parse_client_message(&msg.text) {
            Ok(parsed) => {
                tracing::debug!(conn = msg.conn, kind = parsed.kind(), "signaling message");
                if let protocol::ClientMessage::Join { id, user_id, .. } = &parsed {
                    let ip = self.peer_ips.get(&msg.conn).copied();
                    if let Err(refusal) = self.joins.admit(ip, user_id, now.mono) {
                        // Debug, not info: a flood must not flood the journal too.
                        tracing::debug!(conn = msg.conn, ?ip, error = %refusal, "join rate-limited");
                        self.send(msg.conn, &refusal.to_message(Some(*id)));
                        return;
                    }
                }
                self.registry.handle(msg.conn, parsed, now)
            }
            Err(err) => {
                tracing::info!(conn = msg.conn, error = %err, "bad signaling message");
                self.registry
                    .bad_message(msg.conn, protocol::request_id_hint(&msg.text), err, now)
            }
        };
        self.apply(effects, ctx);
    }
}

impl Handler<Disconnect> for RoomHub {
    type Result = ();

    fn handle(&mut self, msg: Disconnect, ctx: &mut Self::Context) {
        let effects = self.registry.disconnect(msg.conn, Self::now());
        self.apply(effects, ctx);
        self.sessions.remove(&msg.conn);
        self.peer_ips.remove(&msg.conn);
        // Whatever the registry did not stop explicitly goes now.
        if let Some(publication) = self.publications.remove(&msg.conn) {
            self.media.spawn(publication.stop());
        }
        let keys: Vec<SubscriptionKey> = self
            .subscriptions
            .keys()
            .filter(|(conn, _)| *conn == msg.conn)
            .cloned()
            .collect();
        for key in keys {
            if let Some(subscription) = self.subscriptions.remove(&key) {
                self.media.spawn(subscription.stop());
            }
        }
        self.pending.retain(|(conn, _), _| *conn != msg.conn);
        for waiting in self.waiting_for_publication.values_mut() {
            waiting.retain(
                |effect| !matches!(effect, Effect::StartSubscribe { conn, .. } if *conn == msg.conn),
            );
        }
        self.candidate_sinks
            .retain(|(conn, _), _| *conn != msg.conn);
        self.early_candidates
            .retain(|(conn, _), _| *conn != msg.conn);
    }
}

impl Handler<MediaNoticeFor> for RoomHub {
    type Result = ();

    fn handle(&mut self, msg: MediaNoticeFor, _ctx: &mut Self::Context) {
        match msg.notice {
            MediaNotice::LocalCandidate { peer, candidate } => {
                self.send(msg.conn, &ServerMessage::Candidate { peer, candidate });
            }
            MediaNotice::Connected { peer } => {
                tracing::info!(conn = msg.conn, ?peer, "media connected");
            }
            MediaNotice::Lost { peer } => {
                tracing::info!(conn = msg.conn, ?peer, "media connection lost");
            }
        }
    }
}

impl Handler<GetStats> for RoomHub {
    type Result = MessageResult<GetStats>;

    fn handle(&mut self, _msg: GetStats, _ctx: &mut Self::Context) -> Self::Result {
        let mut stats = HubStats {
            connections: self.sessions.len(),
            rooms: self.registry.room_count(),
            media_tasks: self.media.metrics().num_alive_tasks(),
            publications: self.publications.len(),
            subscriptions: self.subscriptions.len(),
            ..HubStats::default()
        };
        for publication in self.publications.values() {
            let tap = publication.tap();
            stats.packets_forwarded += tap
                .stats
                .packets_out
                .load(std::sync::atomic::Ordering::Relaxed);
            stats.keyframe_requests_relayed += tap
                .stats
                .keyframe_requests_relayed
                .load(std::sync::atomic::Ordering::Relaxed);
        }
        MessageResult(stats)
    }
}
