//! The room server's HTTP side: `/ws` signaling sessions, `/healthz`, and the web client.

use super::auth::UserSigAuthenticator;
use super::hub::{Connect, Disconnect, GetStats, HubStats, Incoming, Outbound, RoomHub};
use super::registry::{RegistryPolicy, RoomRegistry};
use super::sfu::MediaRuntime;
use crate::config::RoomConfig;
use crate::rtc_peer::PeerOptions;
use actix::prelude::*;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use actix_ws::AggregatedMessage;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
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
}

/// A running room server.
pub struct RoomServer {
    /// Where it actually listens (the port is resolved when the config asked for 0).
    pub addr: SocketAddr,
    http: actix_web::dev::ServerHandle,
    hub: Addr<RoomHub>,
    _media: Arc<MediaRuntime>,
}

impl RoomServer {
    /// Starts listening; must run inside an actix system.
    pub async fn start(config: &RoomConfig) -> Result<RoomServer, StartError> {
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
        let hub = RoomHub::new(registry, media_handle, peer_options).start();
        let web_root = config.web_root.clone();
        let demo = config.demo_room_id.clone().map(|room_id| {
            web::Data::new(DemoCredentials {
                sdk_app_id: config.sdk_app_id,
                secret_key: config.secret_key.clone(),
                room_id,
            })
        });
        let hub_for_http = hub.clone();
        let server = HttpServer::new(move || {
            let mut app = App::new()
                .app_data(web::Data::new(hub_for_http.clone()))
                .route("/ws", web::get().to(ws_session))
                .route("/healthz", web::get().to(healthz));
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
        .disable_signals()
        .bind(config.listen.as_str())
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
        tracing::info!(%addr, sdk_app_id = config.sdk_app_id, "room server listening");
        Ok(RoomServer {
            addr,
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

async fn ws_session(
    req: HttpRequest,
    body: web::Payload,
    hub: web::Data<Addr<RoomHub>>,
) -> Result<HttpResponse, actix_web::Error> {
    let (response, mut session, stream) = actix_ws::handle(&req, body)?;
    let mut stream = stream
        .max_frame_size(MAX_FRAME_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME_BYTES);
    let hub = hub.get_ref().clone();
    actix_rt::spawn(async move {
        let (outbox, mut outgoing) = mpsc::unbounded_channel();
        let Ok(conn) = hub.send(Connect { outbox }).await else {
            let _ = session.close(None).await;
            return;
        };
        loop {
            tokio::select! {
                incoming = stream.recv() => match incoming {
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        hub.do_send(Incoming { conn, text: text.to_string() });
                    }
                    Some(Ok(AggregatedMessage::Binary(bytes))) => {
                        // The protocol is text; a binary frame gets the same typed error as
                        // any other malformed message.
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
        let _ = session.close(None).await;
    });
    Ok(response)
}

/// A room server on its own thread with its own actix system: how `roombell demo` and the
/// tests run one next to other async code.
pub struct RoomServerThread {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RoomServerThread {
    /// Starts the server and returns once it listens (or failed to).
    pub fn spawn(config: RoomConfig) -> Result<RoomServerThread, StartError> {
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
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The signaling URL clients connect to.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
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
