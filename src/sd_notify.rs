//! sd_notify for both daemons: READY, STATUS, WATCHDOG and STOPPING datagrams to systemd.

use std::time::Duration;

/// Sends sd_notify datagrams; a no-op when not started by systemd (no NOTIFY_SOCKET).
#[derive(Debug, Default)]
pub struct Notifier {
    last_status: String,
}

impl Notifier {
    fn send(&self, pairs: &[(&str, &str)]) {
        if std::env::var_os("NOTIFY_SOCKET").is_none() {
            return;
        }
        if let Err(e) = systemd::daemon::notify(pairs.iter()) {
            tracing::debug!(error = %e, "sd_notify failed");
        }
    }

    pub fn ready(&self) {
        self.send(&[(systemd::daemon::STATE_READY, "1")]);
    }

    /// Sends STATUS= when it changed.
    pub fn status(&mut self, line: &str) {
        if line != self.last_status {
            self.last_status = line.to_owned();
            self.send(&[(systemd::daemon::STATE_STATUS, line)]);
        }
    }

    pub fn watchdog(&self) {
        self.send(&[(systemd::daemon::STATE_WATCHDOG, "1")]);
    }

    pub fn stopping(&self) {
        self.send(&[(systemd::daemon::STATE_STOPPING, "1")]);
    }

    /// How often to check and ping: half the watchdog interval systemd asked for, or every
    /// 2 s for STATUS alone.
    pub fn interval() -> Duration {
        match systemd::daemon::watchdog_enabled() {
            Ok(usec) if usec > 0 => Duration::from_micros(usec / 2).max(Duration::from_millis(100)),
            _ => Duration::from_secs(2),
        }
    }
}
