//! Telling systemd the truth: READY=1 once media flows, STATUS= one line of what the device
//! is doing, WATCHDOG=1 only while capture → encode actually produces (so a hung encoder ends
//! in a watchdog restart), STOPPING=1 on the way out.
//!
//! The decision is the pure [`WatchdogJudge`]; `crate::sd_notify::Notifier` only sends
//! datagrams.

use std::time::{Duration, Instant};

/// What the pipeline has produced so far (monotonic counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub video_frames: u64,
    pub audio_packets: u64,
}

/// Which streams are expected to produce right now: a camera being reopened after a failure
/// is not expected to (that is a device problem, retried, not a hang).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    pub video: bool,
    pub audio: bool,
}

/// Decides READY and WATCHDOG from progress samples.
#[derive(Debug)]
pub struct WatchdogJudge {
    started: Instant,
    ready_after: Duration,
    last: Progress,
    ready_sent: bool,
}

impl WatchdogJudge {
    /// `ready_after`: READY=1 even if nothing flowed by then (a broken camera and microphone
    /// are reported in STATUS, not by failing the start).
    pub fn new(now: Instant, ready_after: Duration) -> Self {
        WatchdogJudge {
            started: now,
            ready_after,
            last: Progress::default(),
            ready_sent: false,
        }
    }

    /// True when every expected stream made progress since the previous sample.
    pub fn healthy(&mut self, progress: Progress, expected: Expected) -> bool {
        let video_ok = !expected.video || progress.video_frames > self.last.video_frames;
        let audio_ok = !expected.audio || progress.audio_packets > self.last.audio_packets;
        self.last = progress;
        video_ok && audio_ok
    }

    /// True exactly once: when media first flows, or when `ready_after` has passed.
    pub fn ready(&mut self, progress: Progress, now: Instant) -> bool {
        if self.ready_sent {
            return false;
        }
        let flowing = progress.video_frames > 0 || progress.audio_packets > 0;
        if flowing || now.saturating_duration_since(self.started) >= self.ready_after {
            self.ready_sent = true;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: Expected = Expected {
        video: true,
        audio: true,
    };

    fn progress(video_frames: u64, audio_packets: u64) -> Progress {
        Progress {
            video_frames,
            audio_packets,
        }
    }

    #[test]
    fn healthy_only_while_every_expected_stream_progresses() {
        let mut judge = WatchdogJudge::new(Instant::now(), Duration::from_secs(3));
        assert!(judge.healthy(progress(10, 50), BOTH));
        assert!(judge.healthy(progress(20, 100), BOTH));
        // The video encoder hangs while audio goes on: no watchdog ping.
        assert!(!judge.healthy(progress(20, 150), BOTH));
        // A camera being reopened is not expected to produce.
        let audio_only = Expected {
            video: false,
            audio: true,
        };
        assert!(judge.healthy(progress(20, 200), audio_only));
        assert!(!judge.healthy(progress(20, 200), audio_only));
    }

    #[test]
    fn ready_once_media_flows_or_after_the_grace_period() {
        let start = Instant::now();
        let mut judge = WatchdogJudge::new(start, Duration::from_secs(3));
        assert!(!judge.ready(progress(0, 0), start + Duration::from_secs(1)));
        assert!(judge.ready(progress(1, 0), start + Duration::from_secs(1)));
        assert!(
            !judge.ready(progress(2, 0), start + Duration::from_secs(2)),
            "only once"
        );
        let mut judge = WatchdogJudge::new(start, Duration::from_secs(3));
        assert!(judge.ready(progress(0, 0), start + Duration::from_secs(3)));
    }
}
