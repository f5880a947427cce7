//! roombell: a video doorbell / intercom daemon, its room server and the client side of the
//! room protocol. See README.md for the big picture and `docs/` for the details.

pub mod client;
pub mod config;
pub mod device;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod janus;
pub mod logging;
pub mod media;
pub mod protocol;
pub mod room;
pub mod rtc_peer;
pub mod runtime;
pub mod sd_notify;
pub mod shutdown;
pub mod tls;
pub mod usersig;
