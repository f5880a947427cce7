//! Video freeze accounting as WebRTC's receiver stats define it (`freezeCount`,
//! `totalFreezesDuration`): a freeze is an inter-frame gap longer than
//! `max(3 × mean gap, mean gap + 150 ms)`, the mean taken over the frames rendered just before.
//!
//! Plain logic, shared by `examples/fault_probe.rs` (which feeds it rendered-frame times) and
//! `tests/faults.rs` (whose unit tests pin it down).
#![allow(dead_code)]

use std::collections::VecDeque;

/// Gaps the running mean is taken over (one second at 30 fps).
const MEAN_WINDOW: usize = 30;
/// A freeze must also exceed the mean by this much.
const FREEZE_MARGIN_MS: f64 = 150.0;

/// One freeze: the gap between two rendered frames, in the caller's milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Freeze {
    pub start_ms: f64,
    pub end_ms: f64,
}

impl Freeze {
    pub fn duration_ms(&self) -> f64 {
        self.end_ms - self.start_ms
    }
}

/// Rendered-frame times in, freezes out.
#[derive(Debug, Default)]
pub struct FreezeMeter {
    last_frame_ms: Option<f64>,
    first_frame_ms: Option<f64>,
    recent_gaps: VecDeque<f64>,
    freezes: Vec<Freeze>,
    frames: u64,
}

impl FreezeMeter {
    /// A frame was rendered at `at_ms` (monotonic, non-decreasing).
    pub fn frame(&mut self, at_ms: f64) {
        self.frames += 1;
        self.first_frame_ms.get_or_insert(at_ms);
        let Some(last) = self.last_frame_ms.replace(at_ms) else {
            return;
        };
        let gap = (at_ms - last).max(0.0);
        if let Some(mean) = self.mean_gap() {
            if gap > (3.0 * mean).max(mean + FREEZE_MARGIN_MS) {
                self.freezes.push(Freeze {
                    start_ms: last,
                    end_ms: at_ms,
                });
                // A freeze is not a frame interval: keep it out of the mean, as WebRTC does.
                return;
            }
        }
        self.recent_gaps.push_back(gap);
        if self.recent_gaps.len() > MEAN_WINDOW {
            self.recent_gaps.pop_front();
        }
    }

    fn mean_gap(&self) -> Option<f64> {
        if self.recent_gaps.is_empty() {
            return None;
        }
        Some(self.recent_gaps.iter().sum::<f64>() / self.recent_gaps.len() as f64)
    }

    /// Closes the window at `end_ms`: a stall still going on at the end counts as a freeze too
    /// (WebRTC would only count it once a frame arrives; a test window must not hide it).
    pub fn finish(&mut self, end_ms: f64) -> FreezeReport {
        let mut freezes = self.freezes.clone();
        if let (Some(last), Some(mean)) = (self.last_frame_ms, self.mean_gap()) {
            let gap = end_ms - last;
            if gap > (3.0 * mean).max(mean + FREEZE_MARGIN_MS) {
                freezes.push(Freeze {
                    start_ms: last,
                    end_ms,
                });
            }
        }
        FreezeReport {
            frames: self.frames,
            first_frame_ms: self.first_frame_ms,
            freezes,
        }
    }
}

/// What a window of rendered frames looked like.
#[derive(Debug, Clone)]
pub struct FreezeReport {
    pub frames: u64,
    pub first_frame_ms: Option<f64>,
    pub freezes: Vec<Freeze>,
}

impl FreezeReport {
    pub fn total_freeze_ms(&self) -> f64 {
        self.freezes.iter().map(Freeze::duration_ms).sum()
    }

    /// Frozen share of `window_ms` in percent. No frame at all is 100 % frozen.
    pub fn freeze_percent(&self, window_ms: f64) -> f64 {
        if self.frames == 0 || window_ms <= 0.0 {
            return 100.0;
        }
        (100.0 * self.total_freeze_ms() / window_ms).min(100.0)
    }
}

/// When a receiver would show each frame: like WebRTC's timing, frames are played out on their
/// RTP clock plus a delay that adapts to how late frames complete (here the 95th percentile of
/// the last 120 frames' extra transit, at most 1 s), so a frame repaired by a retransmission
/// shows on time instead of as a stall followed by a burst. A frame that completes later than
/// its slot shows when it completes.
#[derive(Debug, Default)]
pub struct PlayoutClock {
    /// Unwrapped RTP time (ms) of the last frame, and its raw 90 kHz timestamp.
    last_rtp: Option<(f64, u32)>,
    /// Smallest transit (completion − RTP time) seen: the path's fixed delay.
    base_transit_ms: Option<f64>,
    recent_excess_ms: VecDeque<f64>,
    last_render_ms: f64,
}

/// Frames the playout delay is adapted over.
const PLAYOUT_WINDOW: usize = 120;
/// Most extra delay the playout adds.
const MAX_PLAYOUT_DELAY_MS: f64 = 1000.0;

impl PlayoutClock {
    /// A frame with 90 kHz `rtp_timestamp` completed (decoded) at `complete_ms`: when it shows.
    pub fn frame(&mut self, rtp_timestamp: u32, complete_ms: f64) -> f64 {
        let rtp_ms = match self.last_rtp {
            None => 0.0,
            Some((ms, raw)) => ms + f64::from(rtp_timestamp.wrapping_sub(raw) as i32) / 90.0,
        };
        self.last_rtp = Some((rtp_ms, rtp_timestamp));
        let transit = complete_ms - rtp_ms;
        let base = self.base_transit_ms.map_or(transit, |b| b.min(transit));
        self.base_transit_ms = Some(base);
        self.recent_excess_ms.push_back(transit - base);
        if self.recent_excess_ms.len() > PLAYOUT_WINDOW {
            self.recent_excess_ms.pop_front();
        }
        let render = (rtp_ms + base + self.target_delay_ms())
            .max(complete_ms)
            .max(self.last_render_ms);
        self.last_render_ms = render;
        render
    }

    /// The extra delay frames are currently played out with.
    pub fn target_delay_ms(&self) -> f64 {
        let mut sorted: Vec<f64> = self.recent_excess_ms.iter().copied().collect();
        if sorted.is_empty() {
            return 0.0;
        }
        sorted.sort_by(f64::total_cmp);
        let index = ((sorted.len() as f64 * 0.95).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[index].min(MAX_PLAYOUT_DELAY_MS)
    }
}
