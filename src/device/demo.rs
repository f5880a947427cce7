//! `roombell demo`: what the printed answer-page link carries.

use super::config::DaemonConfig;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// The user id the demo's answer page joins as.
pub const ANSWERER_USER_ID: &str = "home";

/// The answer page on the demo's room server, with credentials for the person answering
/// (minted from the demo room's secret key, valid one day).
pub fn answer_page_url(config: &DaemonConfig, room: SocketAddr) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let user_sig = crate::usersig::gen_user_sig(
        config.room.sdk_app_id,
        &config.room.secret_key,
        ANSWERER_USER_ID,
        86_400,
        now,
    );
    format!(
        "http://{room}/?sdkAppId={}&roomId={}&userId={ANSWERER_USER_ID}&userSig={user_sig}",
        config.room.sdk_app_id, config.device.room_id
    )
}
