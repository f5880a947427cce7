//! The room server's HTTP side: `/ws` signaling sessions, `/healthz`, and the web client.

use super::auth::UserSigAuthenticator;
use super::hub::{Connect, Disconnect, GetStats, HubStats, Incoming, Outbound, RoomHub};
use super::limits::{ConnectionLimiter, JoinLimiter, LimitsConfig, MessageGate, MessageVerdict};
use super::registry::{RegistryPolicy, RoomRegistry};
use super::sfu::MediaRuntime;
use crate::config::RoomConfig;
use crate::rtc_peer::PeerOptions;
use actix::prelude::*;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use actix_ws::AggregatedMessage;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Frames above this are a protocol error that closes the socket; between
/// `protocol::MAX_MESSAGE_BYTES` and this, the client gets a typed error and stays connected.
const MAX_FRAME_BYTES: usize = 1 << 20;

/// Why the room server refused to start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source} (is another `roombell room` running? choose another port with room.listen)")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot start the media runtime: {0}")]
    Media(std::io::Error),
    #[error("room.tls_cert/room.tls_key: {0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// A running room server.
pub struct RoomServer {
    /// Where it actually listens (the port is resolved when the config asked for 0).
    pub addr: SocketAddr,
    /// True when it speaks https and wss only.
    pub tls: bool,
    http: actix_web::dev::ServerHandle,
    hub: Addr<RoomHub>,
    _media: Arc<MediaRuntime>,
}

impl RoomServer {
    /// Starts listening; must run inside an actix system.
    pub async fn start(config: &RoomConfig) -> Result<RoomServer, StartError> {
        // Certificate problems are found before anything else starts.
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key)?),
            _ => None,
        };
        let media = Arc::new(MediaRuntime::new(2).map_err(StartError::Media)?);
        let media_handle = media
            .handle()
            .ok_or_else(|| StartError::Media(std::io::Error::other("media runtime is gone")))?;
        let registry = RoomRegistry::new(
            RegistryPolicy {
                require_private_map_key: config.require_private_map_key,
                max_members_per_room: config.max_members_per_room,
                heartbeat_timeout: Duration::from_millis(config.heartbeat_timeout_ms),
            },
            Box::new(UserSigAuthenticator::new(
                config.sdk_app_id,
                config.secret_key.clone(),
            )),
        );
        let peer_options = PeerOptions {
            bind_ip: config.media_ip,
            certificate: None,
        };
        let limits = config.limits();
        let hub = RoomHub::new(
            registry,
            JoinLimiter::new(&limits),
            media_handle,
            peer_options,
        )
        .start();
        let web_root = config.web_root.clone();
        let demo = config.demo_room_id.clone().map(|room_id| {
            web::Data::new(DemoCredentials {
                sdk_app_id: config.sdk_app_id,
                secret_key: config.secret_key.clone(),
                room_id,
            })
        });
        let hub_for_http = hub.clone();
        let connections = web::Data::new(OpenConnections(Arc::new(Mutex::new(
            ConnectionLimiter::new(&limits),
        ))));
        let server = HttpServer::new(move || {
            let mut app = App::new()
                .app_data(web::Data::new(hub_for_http.clone()))
                .app_data(web::Data::new(limits))
                .app_data(connections.clone())
                .route("/ws", web::get().to(ws_session))
                .route("/healthz", web::get().to(healthz))
                .route("/debug/metrics", web::get().to(debug_metrics));
            if let Some(demo) = &demo {
                app = app
                    .app_data(demo.clone())
                    .route("/config.json", web::get().to(demo_credentials));
            }
            if let Some(root) = &web_root {
                app = app.configure(|cfg| super::web::configure(cfg, root.clone()));
            }
            app
        })
        .workers(1)
        .shutdown_timeout(1)
        .disable_signals();
        let with_tls = tls.is_some();
        let server = match tls {
            Some(tls) => server.bind_rustls_0_23(config.listen.as_str(), tls),
            None => server.bind(config.listen.as_str()),
        }
        .map_err(|source| StartError::Listen {
            addr: config.listen.clone(),
            source,
        })?;
        let addr = server
            .addrs()
            .first()
            .copied()
            .ok_or_else(|| StartError::Listen {
                addr: config.listen.clone(),
                source: std::io::Error::other("bound to no address"),
            })?;
        let server = server.run();
        let http = server.handle();
        actix_rt::spawn(server);
        tracing::info!(
            %addr,
            tls = with_tls,
            sdk_app_id = config.sdk_app_id,
            "room server listening"
        );
        Ok(RoomServer {
            addr,
            tls: with_tls,
            http,
            hub,
            _media: media,
        })
    }

    /// Counters of the hub and the SFU.
    pub async fn stats(&self) -> Option<HubStats> {
        self.hub.send(GetStats).await.ok()
    }

    /// Stops accepting and closes every session.
    pub async fn stop(self) {
        self.http.stop(false).await;
    }
}

/// What the demo hands its answer page.
struct DemoCredentials {
    sdk_app_id: u64,
    secret_key: String,
    room_id: crate::protocol::RoomId,
}

/// Lifetime of a UserSig handed out by `/config.json`: enough to answer a ring.
const DEMO_USER_SIG_SECS: u64 = 600;

async fn demo_credentials(demo: web::Data<DemoCredentials>) -> HttpResponse {
    let now = crate::usersig::unix_now();
    // A fresh user id per page, so two open pages don't replace each other in the room.
    let user_id = format!("home-{:06}", rand::random::<u32>() % 1_000_000);
    let user_sig = crate::usersig::gen_user_sig(
        demo.sdk_app_id,
        &demo.secret_key,
        &user_id,
        DEMO_USER_SIG_SECS,
        now,
    );
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({
            "sdkAppId": demo.sdk_app_id,
            "roomId": demo.room_id,
            "userId": user_id,
            "userSig": user_sig,
            "mode": "rtc",
        }))
}

async fn healthz(hub: web::Data<Addr<RoomHub>>) -> HttpResponse {
    match hub.send(GetStats).await {
        Ok(stats) => HttpResponse::Ok().json(serde_json::json!({"status": "ok", "stats": stats})),
        Err(_) => HttpResponse::ServiceUnavailable().body("room hub is not running"),
    }
}

/// The hub's counters and the process's memory, threads and sockets, for load and soak runs.
/// Only for peers on this machine: it says how busy the server is.
async fn debug_metrics(req: HttpRequest, hub: web::Data<Addr<RoomHub>>) -> HttpResponse {
    let from_this_machine = req.peer_addr().is_some_and(|peer| peer.ip().is_loopback());
    if !from_this_machine {
        return HttpResponse::NotFound().finish();
    }
    match hub.send(GetStats).await {
        Ok(stats) => HttpResponse::Ok().json(serde_json::json!({
            "hub": stats,
            "process": super::metrics::ProcessMetrics::of_this_process(),
        })),
        Err(_) => HttpResponse::ServiceUnavailable().body("room hub is not running"),
    }
}

/// The open-connection counts every HTTP worker shares.
struct OpenConnections(Arc<Mutex<ConnectionLimiter>>);

/// One admitted connection's place in [`OpenConnections`], given back when dropped.
struct ConnectionSlot {
    limiter: Arc<Mutex<ConnectionLimiter>>,
    ip: Option<IpAddr>,
}

impl ConnectionSlot {
    fn take(
        connections: &OpenConnections,
        ip: Option<IpAddr>,
    ) -> Result<Self, super::limits::ConnectionRefused> {
        lock_connections(&connections.0).open(ip)?;
        Ok(ConnectionSlot {
            limiter: connections.0.clone(),
            ip,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        lock_connections(&self.limiter).close(self.ip);
    }
}

fn lock_connections(
    limiter: &Mutex<ConnectionLimiter>,
) -> std::sync::MutexGuard<'_, ConnectionLimiter> {
    // Counters only: a panic elsewhere cannot leave them half-updated.
    limiter.lock().unwrap_or_else(|e| e.into_inner())
}

async fn ws_session(
    req: HttpRequest,
    body: web::Payload,
    hub: web::Data<Addr<RoomHub>>,
    limits: web::Data<LimitsConfig>,
    connections: web::Data<OpenConnections>,
) -> Result<HttpResponse, actix_web::Error> {
    // The socket's own peer: a forwarded-for header is whatever the client wants it to be.
    let peer_ip = req.peer_addr().map(|addr| addr.ip());
    let slot = match ConnectionSlot::take(&connections, peer_ip) {
        Ok(slot) => slot,
        Err(refused) => {
            tracing::info!(ip = ?peer_ip, "{refused}");
            return Ok(HttpResponse::TooManyRequests().body(refused.to_string()));
        }
    };
    let (response, mut session, stream) = actix_ws::handle(&req, body)?;
    let mut stream = stream
        .max_frame_size(MAX_FRAME_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME_BYTES);
    let hub = hub.get_ref().clone();
    let mut gate = MessageGate::new(limits.get_ref(), Instant::now());
    actix_rt::spawn(async move {
        // Counted as open until this task ends, however it ends.
        let _slot = slot;
        let (outbox, mut outgoing) = mpsc::unbounded_channel();
        let Ok(conn) = hub.send(Connect { outbox, peer_ip }).await else {
            let _ = session.close(None).await;
            return;
        };
        let mut close_reason = None;
        loop {
            tokio::select! {
                incoming = stream.recv() => {
                    // Every frame a client sends counts against its rate, pings included:
                    // a flood is dropped here, before it reaches the hub.
                    let counted = matches!(
                        &incoming,
                        Some(Ok(
                            AggregatedMessage::Text(_)
                                | AggregatedMessage::Binary(_)
                                | AggregatedMessage::Ping(_)
                        ))
                    );
                    if counted {
                        match gate.admit(Instant::now()) {
                            MessageVerdict::Pass => {}
                            MessageVerdict::Refuse(err) => {
                                tracing::info!(conn, ip = ?peer_ip, "connection over its message rate");
                                let text = serde_json::to_string(&err.to_message(None))
                                    .unwrap_or_default();
                                if session.text(text).await.is_err() {
                                    break;
                                }
                                continue;
                            }
                            MessageVerdict::Drop => continue,
                            MessageVerdict::Close => {
                                tracing::info!(conn, ip = ?peer_ip, "closing a connection that kept flooding");
                                close_reason = Some(actix_ws::CloseReason {
                                    code: actix_ws::CloseCode::Policy,
                                    description: Some("too many messages".into()),
                                });
                                break;
                            }
                        }
                    }
                    match incoming {
                        Some(Ok(AggregatedMessage::Text(text))) => {
                            hub.do_send(Incoming { conn, text: text.to_string() });
                        }
                        Some(Ok(AggregatedMessage::Binary(bytes))) => {
                            // The protocol is text; a binary frame gets the same typed error
                            // as any other malformed message.
                            let text = String::from_utf8_lossy(&bytes).into_owned();
                            hub.do_send(Incoming { conn, text });
                        }
                        Some(Ok(AggregatedMessage::Ping(payload))) => {
                            if session.pong(&payload).await.is_err() {
                                break;
                            }
                        }
                        Some(Ok(AggregatedMessage::Pong(_))) => {}
                        Some(Ok(AggregatedMessage::Close(_))) | Some(Err(_)) | None => break,
                    }
                },
                outgoing = outgoing.recv() => match outgoing {
                    Some(Outbound::Text(text)) => {
                        if session.text(text).await.is_err() {
                            break;
                        }
                    }
                    Some(Outbound::Close) | None => break,
                },
            }
        }
        hub.do_send(Disconnect { conn });
        let _ = session.close(close_reason).await;
    });
    Ok(response)
}

/// A room server on its own thread with its own actix system: how `roombell demo` and the
/// tests run one next to other async code.
pub struct RoomServerThread {
    pub addr: SocketAddr,
    /// True when it speaks https and wss only.
    pub tls: bool,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RoomServerThread {
    /// Starts the server and returns once it listens (or failed to).
    pub fn spawn(config: RoomConfig) -> Result<RoomServerThread, StartError> {
        let tls = config.tls_enabled();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("roombell-room".into())
            .spawn(move || {
                let system = actix::System::new();
                system.block_on(async move {
                    match RoomServer::start(&config).await {
                        Ok(server) => {
                            let _ = ready_tx.send(Ok(server.addr));
                            let _ = stop_rx.await;
                            server.stop().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(StartError::Media)?;
        let addr = ready_rx
            .recv()
            .map_err(|_| StartError::Media(std::io::Error::other("room server thread died")))??;
        Ok(RoomServerThread {
            addr,
            tls,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The signaling URL clients connect to.
    pub fn ws_url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}/ws", self.addr)
    }

    /// The server's base URL (the web client, `/healthz`).
    pub fn http_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/", self.addr)
    }

    /// Stops the server and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RoomServerThread {
    fn drop(&mut self) {
        self.shutdown();
    }
}
