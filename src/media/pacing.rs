//! Real-time pacing for sources and sinks that have no clock of their own (test pattern, tone,
//! files, ALSA's null plugin): a deadline clock that never drifts, and the switch that turns it
//! off for offline runs.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Whether a clockless source or sink keeps real time.
///
/// Capture devices and sound cards keep their own time; only backends without a clock (test,
/// y4m, tone, wav, null, and ALSA plugins that return at once) look at this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pacing {
    /// Each frame is handed out (or accepted) when it is due, like a camera or sound card.
    #[default]
    RealTime,
    /// No waiting: frames come as fast as the caller takes them (`record` on files, benchmarks).
    AsFastAsPossible,
}

/// Milliseconds since the Unix epoch, the capture-time stamp frames carry (0 if the clock is
/// before 1970).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Sleeps until tick `n` is due at `anchor + n * interval`.
///
/// Deadlines are computed from the anchor, never by adding intervals to the previous deadline,
/// so rounding does not accumulate: after an hour at 30 fps the clock is still exact. A caller
/// that falls more than `max_lag` behind (a stalled encoder, a suspended process) is not
/// given a burst of catch-up ticks: the clock re-anchors at the present and counts a slip.
#[derive(Debug, Clone)]
pub struct DeadlineClock {
    anchor: Option<Instant>,
    /// Interval as a rational `numerator / denominator` seconds, so 1/30 s is exact.
    numerator: u64,
    denominator: u64,
    max_lag: Duration,
    /// Ticks since the anchor.
    ticks: u64,
    slips: u64,
}

impl DeadlineClock {
    /// A clock ticking `rate` times per second (`rate` 0 is taken as 1); the first tick is
    /// due at the first call to [`DeadlineClock::wait`].
    pub fn per_second(rate: u32, max_lag: Duration) -> Self {
        Self {
            anchor: None,
            numerator: 1,
            denominator: u64::from(rate.max(1)),
            max_lag,
            ticks: 0,
            slips: 0,
        }
    }

    /// A clock ticking every `interval` (at least 1 µs).
    pub fn every(interval: Duration, max_lag: Duration) -> Self {
        Self {
            anchor: None,
            numerator: (interval.as_micros() as u64).max(1),
            denominator: 1_000_000,
            max_lag,
            ticks: 0,
            slips: 0,
        }
    }

    /// When tick `n` after the anchor is due.
    fn due(&self, anchor: Instant, n: u64) -> Instant {
        let nanos = u128::from(n) * u128::from(self.numerator) * 1_000_000_000
            / u128::from(self.denominator);
        anchor + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Waits for the next tick and returns the time it was due.
    pub fn wait(&mut self) -> Instant {
        let deadline = self.next_deadline(Instant::now());
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
        deadline
    }

    /// Decides the next deadline as seen at `now` without sleeping (the testable half of
    /// [`DeadlineClock::wait`]).
    pub fn next_deadline(&mut self, now: Instant) -> Instant {
        let anchor = *self.anchor.get_or_insert(now);
        let mut deadline = self.due(anchor, self.ticks);
        if now.saturating_duration_since(deadline) > self.max_lag {
            // Too far behind: start over from now instead of rushing through missed ticks.
            self.anchor = Some(now);
            self.ticks = 0;
            self.slips += 1;
            deadline = now;
        }
        self.ticks += 1;
        deadline
    }

    /// Times the clock gave up catching up and re-anchored.
    pub fn slips(&self) -> u64 {
        self.slips
    }
}

/// Paces a device only if it turns out not to keep time itself.
///
/// A sound card cannot be ahead of real time by more than its buffer: capture cannot deliver
/// audio not yet recorded, playback cannot accept more than its buffer holds. ALSA plugins
/// without a clock (`null`, `file` on `null`) accept and deliver instantly. So once the audio
/// transferred runs ahead of the wall clock by more than `lead` plus a margin, the device is
/// known not to pace, and from then on every transfer waits until it is due, keeping
/// `lead` of audio ahead as a sound card's buffer would.
#[derive(Debug, Clone)]
pub struct ClockFallback {
    lead: Duration,
    margin: Duration,
    /// When the first transfer began.
    start: Option<Instant>,
    /// Audio transferred since `start`.
    media: Duration,
    engaged: bool,
}

impl ClockFallback {
    /// A checker for a device that may legitimately run `lead` ahead (its buffer for playback,
    /// zero for capture); `margin` absorbs scheduling noise.
    pub fn new(lead: Duration, margin: Duration) -> Self {
        Self {
            lead,
            margin,
            start: None,
            media: Duration::ZERO,
            engaged: false,
        }
    }

    /// Records that `duration` of audio was transferred, the transfer ending at `now`; returns
    /// how long to sleep before the next transfer (zero while the device keeps time).
    pub fn after_transfer(&mut self, duration: Duration, now: Instant) -> Duration {
        // The first transfer took at least its own duration on a real device, so the clock
        // starts that much before its end.
        let start = *self
            .start
            .get_or_insert_with(|| now.checked_sub(duration).unwrap_or(now));
        self.media += duration;
        let elapsed = now.saturating_duration_since(start);
        if !self.engaged && self.media > elapsed + self.lead + self.margin {
            self.engaged = true;
        }
        if !self.engaged {
            return Duration::ZERO;
        }
        let due = start + self.media.saturating_sub(self.lead);
        if now > due + self.margin.max(Duration::from_millis(200)) {
            // Far behind (the process was stopped): do not rush to catch up.
            self.start = now.checked_sub(self.media.saturating_sub(self.lead));
            return Duration::ZERO;
        }
        due.saturating_duration_since(now)
    }

    /// Whether the device was found not to keep time.
    pub fn engaged(&self) -> bool {
        self.engaged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD: Duration = Duration::from_millis(20);

    #[test]
    fn a_device_that_keeps_time_is_left_alone() {
        // Playback with an 80 ms buffer: the first four writes return at once, then each
        // write waits for a period to play out.
        let mut check = ClockFallback::new(4 * PERIOD, 2 * PERIOD);
        let start = Instant::now();
        for n in 0..100u32 {
            let now = start + PERIOD * n.saturating_sub(4);
            assert_eq!(
                check.after_transfer(PERIOD, now),
                Duration::ZERO,
                "write {n}"
            );
        }
        assert!(!check.engaged());
        // Capture: each read returns when its period has been recorded.
        let mut check = ClockFallback::new(Duration::ZERO, 2 * PERIOD);
        for n in 1..100u32 {
            assert_eq!(
                check.after_transfer(PERIOD, start + PERIOD * n),
                Duration::ZERO
            );
        }
        assert!(!check.engaged());
    }

    #[test]
    fn a_device_that_returns_at_once_gets_paced() {
        let mut check = ClockFallback::new(Duration::ZERO, 2 * PERIOD);
        let start = Instant::now();
        // Three instant reads fit in the margin; the fourth gives the device away.
        for _ in 0..3 {
            assert_eq!(check.after_transfer(PERIOD, start), Duration::ZERO);
        }
        assert_eq!(check.after_transfer(PERIOD, start), 3 * PERIOD);
        assert!(check.engaged());
        // Once paced, each read that comes on time waits one period.
        let now = start + 3 * PERIOD;
        assert_eq!(check.after_transfer(PERIOD, now), PERIOD);
    }

    #[test]
    fn a_paced_device_after_a_stall_does_not_burst() {
        let mut check = ClockFallback::new(Duration::ZERO, 2 * PERIOD);
        let start = Instant::now();
        for _ in 0..4 {
            check.after_transfer(PERIOD, start);
        }
        assert!(check.engaged());
        let late = start + Duration::from_secs(5);
        assert_eq!(check.after_transfer(PERIOD, late), Duration::ZERO);
        assert_eq!(check.after_transfer(PERIOD, late), PERIOD);
    }

    #[test]
    fn deadlines_follow_the_anchor_without_drift() {
        let mut clock = DeadlineClock::per_second(30, Duration::from_secs(1));
        let start = Instant::now();
        let first = clock.next_deadline(start);
        assert_eq!(first, start);
        // Ask exactly on time for 108 000 ticks (an hour at 30 fps): the last one is due at
        // exactly 3600 s minus one frame, to the nanosecond.
        let mut last = first;
        for n in 1..108_000u64 {
            let now = start + Duration::from_nanos(n * 1_000_000_000 / 30);
            last = clock.next_deadline(now);
        }
        assert_eq!(
            last - start,
            Duration::from_nanos(107_999 * 1_000_000_000 / 30)
        );
        assert_eq!(clock.slips(), 0);
    }

    #[test]
    fn a_small_delay_is_caught_up_a_large_one_re_anchors() {
        let mut clock = DeadlineClock::every(Duration::from_millis(20), Duration::from_millis(100));
        let start = Instant::now();
        clock.next_deadline(start);
        // 50 ms late for tick 1: still within the lag allowance, so tick 1 keeps its deadline
        // (in the past: no sleep) and tick 2 too.
        let late = start + Duration::from_millis(70);
        assert_eq!(clock.next_deadline(late), start + Duration::from_millis(20));
        assert_eq!(clock.next_deadline(late), start + Duration::from_millis(40));
        // A 1 s stall: the clock restarts at the present.
        let stalled = start + Duration::from_secs(1);
        assert_eq!(clock.next_deadline(stalled), stalled);
        assert_eq!(
            clock.next_deadline(stalled),
            stalled + Duration::from_millis(20)
        );
        assert_eq!(clock.slips(), 1);
    }

    #[test]
    fn wait_sleeps_until_due() {
        let mut clock = DeadlineClock::every(Duration::from_millis(10), Duration::from_secs(1));
        let start = Instant::now();
        for _ in 0..6 {
            clock.wait();
        }
        // Ticks 0..=5: the sixth is due 50 ms after the first.
        assert!(start.elapsed() >= Duration::from_millis(50));
    }
}
