//! The room server: a sans-IO registry of rooms, the signaling over WebSocket and a small SFU.
//!
//! ```text
//! WebSocket session ──Incoming──▶ RoomHub ──handle()──▶ RoomRegistry (pure)
//!        ▲                          │  ◀──Effects──────────┘
//!        └────────Outbound──────────┤
//!                                   └──start/stop──▶ SFU (own runtime) ──MediaNotice──▶ RoomHub
//! ```

pub mod auth;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod registry;
pub mod server;
pub mod sfu;
pub mod web;

pub use server::{RoomServer, RoomServerThread};
