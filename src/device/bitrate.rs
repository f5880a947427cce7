//! Loss-based bitrate adaptation (the loss half of Google's congestion control): the
//! receivers' reports say what fraction of our video was lost; heavy loss cuts the rate in
//! proportion, a clean path lets it climb back slowly. webrtc-rs's sender adapts nothing by
//! itself, so without this a doorbell on weak Wi-Fi keeps flooding the link it is losing on.

use std::time::{Duration, Instant};

/// Above this loss fraction the rate comes down.
const LOSS_HIGH: f64 = 0.10;
/// Below this the path is clean and the rate may rise.
const LOSS_LOW: f64 = 0.02;
/// Growth per clean report.
const INCREASE: f64 = 1.08;
/// Changes smaller than this are not worth reconfiguring the encoder for.
const MIN_CHANGE: f64 = 0.03;
/// Receiver reports come about once a second; don't climb faster than that.
const MIN_INCREASE_INTERVAL: Duration = Duration::from_millis(900);

/// The sender's target rate, within configured bounds.
#[derive(Debug, Clone)]
pub struct BitrateController {
    min_bps: u32,
    max_bps: u32,
    current_bps: u32,
    last_increase: Option<Instant>,
}

impl BitrateController {
    pub fn new(start_bps: u32, min_bps: u32, max_bps: u32) -> Self {
        let max_bps = max_bps.max(min_bps);
        BitrateController {
            min_bps,
            max_bps,
            current_bps: start_bps.clamp(min_bps, max_bps),
            last_increase: None,
        }
    }

    pub fn current_bps(&self) -> u32 {
        self.current_bps
    }

    /// One receiver report's loss fraction (0..=1); returns the new target when it changed.
    pub fn on_loss_report(&mut self, fraction_lost: f64, now: Instant) -> Option<u32> {
        if !fraction_lost.is_finite() {
            return None;
        }
        let loss = fraction_lost.clamp(0.0, 1.0);
        let current = f64::from(self.current_bps);
        let target = if loss > LOSS_HIGH {
            current * (1.0 - 0.5 * loss)
        } else if loss < LOSS_LOW {
            let due = self
                .last_increase
                .is_none_or(|last| now.saturating_duration_since(last) >= MIN_INCREASE_INTERVAL);
            if !due {
                return None;
            }
            self.last_increase = Some(now);
            current * INCREASE
        } else {
            return None;
        };
        let target = (target as u32).clamp(self.min_bps, self.max_bps);
        let change = (f64::from(target) - current).abs() / current.max(1.0);
        let at_bound = target == self.min_bps || target == self.max_bps;
        if target == self.current_bps || (change < MIN_CHANGE && !at_bound) {
            return None;
        }
        self.current_bps = target;
        Some(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_loss_cuts_in_proportion_down_to_the_floor() {
        let now = Instant::now();
        let mut rate = BitrateController::new(1_000_000, 150_000, 2_500_000);
        assert_eq!(rate.on_loss_report(0.2, now), Some(900_000));
        for _ in 0..50 {
            rate.on_loss_report(0.5, now);
        }
        assert_eq!(rate.current_bps(), 150_000);
        assert_eq!(rate.on_loss_report(0.5, now), None, "already at the floor");
    }

    #[test]
    fn a_clean_path_climbs_slowly_up_to_the_ceiling() {
        let start = Instant::now();
        let mut rate = BitrateController::new(1_000_000, 150_000, 1_200_000);
        assert_eq!(rate.on_loss_report(0.0, start), Some(1_080_000));
        assert_eq!(
            rate.on_loss_report(0.0, start + Duration::from_millis(100)),
            None,
            "at most one step per report interval"
        );
        let later = start + Duration::from_secs(1);
        assert_eq!(rate.on_loss_report(0.0, later), Some(1_166_400));
        assert_eq!(
            rate.on_loss_report(0.0, later + Duration::from_secs(1)),
            Some(1_200_000)
        );
        assert_eq!(
            rate.on_loss_report(0.0, later + Duration::from_secs(2)),
            None
        );
    }

    #[test]
    fn moderate_loss_holds_and_garbage_is_ignored() {
        let now = Instant::now();
        let mut rate = BitrateController::new(1_000_000, 150_000, 2_500_000);
        assert_eq!(rate.on_loss_report(0.05, now), None);
        assert_eq!(rate.on_loss_report(f64::NAN, now), None);
        assert_eq!(rate.current_bps(), 1_000_000);
    }
}
