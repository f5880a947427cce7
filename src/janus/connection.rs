//! One WebSocket to Janus and one Janus session on it: requests matched to their answers by
//! transaction, plugin notifications routed to the handle they concern, and keepalives so
//! Janus does not drop the session (its `session_timeout` is 60 s by default).

use super::protocol::{self, Auth, Incoming, Jsep, Request, Settlement, Settles};
use super::JanusError;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// Janus refuses WebSocket clients that do not ask for this subprotocol.
pub const SUBPROTOCOL: &str = "janus-protocol";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Core requests (create, attach, keepalive) are answered at once by a live Janus.
const CORE_TIMEOUT: Duration = Duration::from_secs(5);

type Waiter = oneshot::Sender<Result<Incoming, JanusError>>;

struct Shared {
    auth: Auth,
    session: AtomicU64,
    next_transaction: AtomicU64,
    outgoing: mpsc::UnboundedSender<String>,
    pending: Mutex<HashMap<String, (Settles, Waiter)>>,
    handles: Mutex<HashMap<u64, mpsc::UnboundedSender<Incoming>>>,
    closed: watch::Sender<bool>,
}

impl Shared {
    fn on_text(&self, text: &str) {
        let incoming = match protocol::parse(text) {
            Ok(incoming) => incoming,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring a Janus message we cannot read");
                return;
            }
        };
        tracing::trace!(message = ?incoming, "from Janus");
        if let Some(transaction) = protocol::transaction_of(&incoming) {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((settles, _)) = pending.get(transaction) {
                let settlement = protocol::settle(*settles, &incoming);
                if settlement != Settlement::NotFinal {
                    if let Some((_, waiter)) = pending.remove(transaction) {
                        let result = match settlement {
                            Settlement::Failed { code, reason } => {
                                Err(JanusError::Refused { code, reason })
                            }
                            _ => Ok(incoming),
                        };
                        let _ = waiter.send(result);
                    }
                }
                // An answer (or an ack of a plugin message) is not a notification.
                return;
            }
        }
        if let Incoming::Timeout { session } = incoming {
            tracing::warn!(session, "Janus timed our session out");
            let _ = self.closed.send(true);
            return;
        }
        if let Some(handle) = protocol::handle_of(&incoming) {
            let handles = self.handles.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(events) = handles.get(&handle) {
                let _ = events.send(incoming);
            }
        }
    }

    fn on_closed(&self) {
        let pending: Vec<_> = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        for (_, (_, waiter)) in pending {
            let _ = waiter.send(Err(JanusError::Closed));
        }
        // Dropping the senders ends every handle's notification stream.
        self.handles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let _ = self.closed.send(true);
    }

    fn send(&self, request: &Request) -> String {
        let transaction = format!(
            "rb-{}",
            self.next_transaction.fetch_add(1, Ordering::Relaxed)
        );
        let _ = self
            .outgoing
            .send(request.to_text(&transaction, &self.auth));
        transaction
    }

    async fn request(
        &self,
        request: Request,
        timeout: Duration,
        what: &'static str,
    ) -> Result<Incoming, JanusError> {
        if *self.closed.borrow() {
            return Err(JanusError::Closed);
        }
        let (tx, rx) = oneshot::channel();
        let transaction = format!(
            "rb-{}",
            self.next_transaction.fetch_add(1, Ordering::Relaxed)
        );
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(transaction.clone(), (request.settles(), tx));
        let _ = self
            .outgoing
            .send(request.to_text(&transaction, &self.auth));
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(JanusError::Closed),
            Err(_) => {
                self.pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&transaction);
                Err(JanusError::Timeout {
                    what,
                    secs: timeout.as_secs(),
                })
            }
        }
    }
}

/// A Janus session over its own WebSocket.
pub struct JanusConnection {
    shared: Arc<Shared>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl JanusConnection {
    /// Opens the WebSocket (subprotocol `janus-protocol`) and creates a session.
    pub async fn connect(
        url: &str,
        auth: Auth,
        security: &crate::client::SignalingSecurity,
    ) -> Result<JanusConnection, JanusError> {
        let connect_error = |reason: String| JanusError::Connect {
            url: url.to_owned(),
            reason,
        };
        let mut request = url
            .into_client_request()
            .map_err(|e| connect_error(e.to_string()))?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
        // The same TLS verification and ws:// rules as roombell's own server (device.ca_file,
        // device.allow_insecure_ws).
        let connector = crate::client::websocket_connector(url, security).map_err(connect_error)?;
        let socket = match tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(connector)),
        )
        .await
        {
            Ok(Ok((socket, _))) => socket,
            Ok(Err(e)) => return Err(connect_error(e.to_string())),
            Err(_) => {
                return Err(connect_error(format!(
                    "no answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )))
            }
        };
        let (outgoing_tx, mut outgoing_rx) = mpsc::unbounded_channel::<String>();
        let (closed_tx, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            auth,
            session: AtomicU64::new(0),
            next_transaction: AtomicU64::new(1),
            outgoing: outgoing_tx,
            pending: Mutex::new(HashMap::new()),
            handles: Mutex::new(HashMap::new()),
            closed: closed_tx,
        });
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
            while let Some(frame) = stream.next().await {
                match frame {
                    Ok(Message::Text(text)) => reader_shared.on_text(&text),
                    Ok(Message::Close(_)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            reader_shared.on_closed();
        });
        let connection = JanusConnection {
            shared: shared.clone(),
            tasks: Mutex::new(vec![writer, reader]),
        };
        // The server says how long it keeps a silent session; keepalives follow from that.
        let info = shared.request(Request::Info, CORE_TIMEOUT, "info").await?;
        let session_timeout = match info {
            Incoming::ServerInfo {
                session_timeout, ..
            } => session_timeout,
            _ => None,
        };
        let keepalive_every = protocol::keepalive_interval(session_timeout);
        let created = shared
            .request(Request::Create, CORE_TIMEOUT, "create")
            .await?;
        let Incoming::Success {
            id: Some(session), ..
        } = created
        else {
            return Err(JanusError::Unexpected(
                "create answered without a session id",
            ));
        };
        shared.session.store(session, Ordering::Relaxed);
        tracing::debug!(
            session,
            ?session_timeout,
            keepalive_ms = keepalive_every.as_millis() as u64,
            "Janus session created"
        );
        let keepalive_shared = shared.clone();
        let keepalive = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(keepalive_every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let result = keepalive_shared
                    .request(Request::Keepalive { session }, CORE_TIMEOUT, "keepalive")
                    .await;
                if let Err(e) = result {
                    // A Janus that forgot our session (restarted) or stopped answering: the
                    // owner reconnects when it sees the connection closed.
                    tracing::warn!(error = %e, "Janus keepalive failed; dropping the connection");
                    let _ = keepalive_shared.closed.send(true);
                    break;
                }
            }
        });
        connection
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(keepalive);
        Ok(connection)
    }

    /// The Janus session id.
    pub fn session(&self) -> u64 {
        self.shared.session.load(Ordering::Relaxed)
    }

    /// Becomes true when the socket closed, the session timed out or a keepalive failed.
    pub fn closed(&self) -> watch::Receiver<bool> {
        self.shared.closed.subscribe()
    }

    /// Attaches a VideoRoom handle; its notifications arrive on the receiver.
    pub async fn attach(&self) -> Result<(u64, mpsc::UnboundedReceiver<Incoming>), JanusError> {
        let attached = self
            .shared
            .request(
                Request::Attach {
                    session: self.session(),
                },
                CORE_TIMEOUT,
                "attach",
            )
            .await?;
        let Incoming::Success {
            id: Some(handle), ..
        } = attached
        else {
            return Err(JanusError::Unexpected(
                "attach answered without a handle id",
            ));
        };
        let (tx, rx) = mpsc::unbounded_channel();
        self.shared
            .handles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(handle, tx);
        Ok((handle, rx))
    }

    /// Sends a VideoRoom request on `handle` and waits for the plugin's answer: its data and
    /// the SDP it carries, if any.
    pub async fn message(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<Jsep>,
        timeout: Duration,
        what: &'static str,
    ) -> Result<(Value, Option<Jsep>), JanusError> {
        let request = Request::Message {
            session: self.session(),
            handle,
            body,
            jsep,
        };
        match self.shared.request(request, timeout, what).await? {
            Incoming::Event { data, jsep, .. } => Ok((data, jsep)),
            Incoming::Success { plugin_data, .. } => Ok((plugin_data.unwrap_or_default(), None)),
            _ => Err(JanusError::Unexpected(
                "a plugin request answered by neither event nor success",
            )),
        }
    }

    /// Sends one of our ICE candidates (None: "no more") without waiting for the ack.
    pub fn trickle(&self, handle: u64, candidate: Option<crate::protocol::IceCandidate>) {
        self.shared.send(&Request::Trickle {
            session: self.session(),
            handle,
            candidate,
        });
    }

    /// Detaches `handle` (Janus hangs its PeerConnection up), without waiting.
    pub fn detach(&self, handle: u64) {
        self.shared
            .handles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&handle);
        self.shared.send(&Request::Detach {
            session: self.session(),
            handle,
        });
    }

    /// Destroys the session (bounded wait), then closes the socket.
    pub async fn close(&self) {
        if !*self.shared.closed.borrow() {
            let _ = self
                .shared
                .request(
                    Request::Destroy {
                        session: self.session(),
                    },
                    Duration::from_millis(500),
                    "destroy",
                )
                .await;
        }
        self.abort_tasks();
        self.shared.on_closed();
    }

    fn abort_tasks(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            task.abort();
        }
    }
}

impl Drop for JanusConnection {
    fn drop(&mut self) {
        self.abort_tasks();
    }
}
