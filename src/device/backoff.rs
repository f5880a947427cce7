//! Jittered exponential backoff for reconnects and restarts: the first retry comes quickly,
//! later ones spread out (capped), and the jitter keeps a building's doorbells from
//! reconnecting in lockstep after the room server restarts.

use std::time::Duration;

/// Retry delays: `initial`, doubling up to `max`, each scaled by a random factor in
/// [1 - jitter, 1 + jitter].
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    jitter: f64,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration, jitter: f64) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            jitter: jitter.clamp(0.0, 1.0),
            attempt: 0,
        }
    }

    /// The next delay, given a random number in [0, 1).
    pub fn next_delay_with(&mut self, random: f64) -> Duration {
        let exponent = self.attempt.min(16);
        self.attempt = self.attempt.saturating_add(1);
        let base = self
            .initial
            .saturating_mul(1u32 << exponent)
            .min(self.max)
            .as_secs_f64();
        let factor = 1.0 + self.jitter * (2.0 * random.clamp(0.0, 1.0) - 1.0);
        Duration::from_secs_f64((base * factor).min(self.max.as_secs_f64() * (1.0 + self.jitter)))
    }

    /// The next delay, with thread-local randomness.
    pub fn next_delay(&mut self) -> Duration {
        self.next_delay_with(rand::random::<f64>())
    }

    /// How many retries since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// A success: the next failure starts from `initial` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(4), 0.0);
        let delays: Vec<u128> = (0..8)
            .map(|_| backoff.next_delay_with(0.5).as_millis())
            .collect();
        assert_eq!(delays, vec![250, 500, 1000, 2000, 4000, 4000, 4000, 4000]);
        assert_eq!(backoff.attempts(), 8);
        backoff.reset();
        assert_eq!(backoff.next_delay_with(0.5), Duration::from_millis(250));
    }

    #[test]
    fn jitter_spreads_delays_within_its_bounds() {
        let mut low = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 0.2);
        let mut high = low.clone();
        assert_eq!(low.next_delay_with(0.0), Duration::from_millis(800));
        assert_eq!(high.next_delay_with(0.999_999_9).as_millis(), 1199);
    }

    #[test]
    fn many_failures_never_overflow() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 0.5);
        for _ in 0..10_000 {
            assert!(backoff.next_delay() <= Duration::from_secs(45));
        }
    }
}
