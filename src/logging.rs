//! Logging: to the journal under systemd (structured fields), readable stderr otherwise.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// True when stderr goes to the journal (systemd sets JOURNAL_STREAM for services).
fn under_journald() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some()
}

/// Installs the global subscriber once; `RUST_LOG` chooses the level (default info).
pub fn init() {
    init_with(None)
}

/// Like `init`, with a default filter from config (`RUST_LOG` still wins when set).
pub fn init_with(configured: Option<&str>) {
    let fallback = configured.unwrap_or("info,webrtc=warn,rtc=warn,rtc_ice=warn,rtc_dtls=warn");
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(fallback));
    if under_journald() {
        if let Ok(journald) = tracing_journald::layer() {
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(journald)
                .try_init();
            return;
        }
    }
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .try_init();
}
