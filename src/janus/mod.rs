//! Janus VideoRoom as a room backend: the device joins rooms hosted by a Janus 1.x gateway
//! (WebSocket API, multistream) with the same calls and TRTC events as roombell's own server.
//!
//! - [`protocol`]: the JSON requests and replies, and which reply settles which transaction
//!   (sans-IO, unit tested);
//! - [`videoroom`]: VideoRoom notifications → TRTC events (sans-IO, unit tested);
//! - [`connection`]: the WebSocket, the session, keepalives;
//! - [`room`]: join / publish / subscribe / leave over webrtc-rs peer connections.
//!
//! `docs/janus.md` explains deployment and what roombell's own server adds.

pub mod connection;
pub mod protocol;
pub mod room;
pub mod videoroom;

pub use connection::JanusConnection;
pub use protocol::Auth;
pub use room::{JanusRoom, JanusRoomConfig};

/// A failed Janus call.
#[derive(Debug, thiserror::Error)]
pub enum JanusError {
    #[error("cannot reach Janus at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("Janus refused the request: {code} {reason}")]
    Refused { code: i64, reason: String },
    #[error("Janus did not answer {what} within {secs} s")]
    Timeout { what: &'static str, secs: u64 },
    #[error("the connection to Janus closed")]
    Closed,
    #[error("Janus sent no SDP {0}")]
    NoSdp(&'static str),
    #[error("Janus answered oddly: {0}")]
    Unexpected(&'static str),
    #[error("{0} publishes nothing in this room")]
    NoSuchPublisher(String),
    #[error("media: {0}")]
    Media(#[from] crate::rtc_peer::PeerError),
}
