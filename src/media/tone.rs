//! A sine tone source, and frequency measurement for tests that check audio end to end.

use std::f64::consts::TAU;

use super::frame::{AudioFrame, FRAME_SAMPLES, SAMPLE_RATE};

/// Why a tone could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToneError {
    /// The frequency is not strictly between 0 and half the sample rate.
    #[error("tone frequency {0} Hz is not allowed: it must be above 0 and below 24000 Hz")]
    BadFrequency(f32),
}

/// Generates a sine at a fixed frequency and amplitude, 20 ms at a time, with no phase jump
/// between frames.
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    /// Cycles advanced per sample.
    cycles_per_sample: f64,
    amplitude: f64,
    /// Position within the current cycle, in 0..1. Kept in cycles rather than radians so the
    /// wrap is exact and phase never drifts over hours.
    phase: f64,
}

impl ToneGenerator {
    /// A sine of `frequency_hz` with peak `amplitude` (negative values are used as positive).
    pub fn new(frequency_hz: f32, amplitude: i16) -> Result<Self, ToneError> {
        let nyquist = SAMPLE_RATE as f32 / 2.0;
        if !(frequency_hz > 0.0 && frequency_hz < nyquist) {
            return Err(ToneError::BadFrequency(frequency_hz));
        }
        Ok(Self {
            cycles_per_sample: f64::from(frequency_hz) / f64::from(SAMPLE_RATE),
            amplitude: f64::from(amplitude).abs(),
            phase: 0.0,
        })
    }

    /// Fills `out` with the next samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for sample in out {
            *sample = (self.amplitude * (TAU * self.phase).sin()).round() as i16;
            self.phase = (self.phase + self.cycles_per_sample).fract();
        }
    }

    /// The next 20 ms.
    pub fn next_frame(&mut self) -> AudioFrame {
        let mut samples = [0i16; FRAME_SAMPLES];
        self.fill(&mut samples);
        AudioFrame::from_array(samples)
    }
}

/// Power of `samples` at `frequency_hz` (Goertzel algorithm), Hann-windowed so a strong tone
/// nearby leaks little into the measurement. Comparable between frequencies of one signal.
pub fn goertzel_power(samples: &[i16], rate: u32, frequency_hz: f32) -> f64 {
    goertzel(&hann(samples), rate, f64::from(frequency_hz))
}

/// The frequency with the most energy, in Hz; 0.0 for silence or fewer than 16 samples.
///
/// A coarse Goertzel scan over at most 4096 samples finds the strongest bin; a finer scan and
/// a golden-section search over the whole input refine it. For a clean sine over 0.2 s or more
/// the result is well within 0.1 %.
pub fn dominant_frequency(samples: &[i16], rate: u32) -> f32 {
    if samples.len() < 16 || rate == 0 || samples.iter().all(|&s| s == 0) {
        return 0.0;
    }
    let rate_f = f64::from(rate);
    let coarse = hann(&samples[..samples.len().min(4096)]);
    let coarse_bin = rate_f / coarse.len() as f64;
    let mut peak = (coarse_bin, f64::MIN);
    for k in 1..coarse.len() / 2 {
        let f = k as f64 * coarse_bin;
        let p = goertzel(&coarse, rate, f);
        if p > peak.1 {
            peak = (f, p);
        }
    }

    // Fine scan at a quarter of the whole input's bin width, so the golden-section search
    // starts inside the main lobe, where power has a single peak.
    let windowed = hann(samples);
    let power = |f: f64| goertzel(&windowed, rate, f);
    let fine_step = rate_f / samples.len() as f64 / 4.0;
    let steps = (coarse_bin / fine_step).ceil() as i32;
    let mut best = (peak.0, power(peak.0));
    for i in -steps..=steps {
        let f = peak.0 + f64::from(i) * fine_step;
        if f > 0.0 && f < rate_f / 2.0 {
            let p = power(f);
            if p > best.1 {
                best = (f, p);
            }
        }
    }

    let (mut low, mut high) = (best.0 - fine_step, best.0 + fine_step);
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (high - ratio * (high - low), low + ratio * (high - low));
    let (mut pa, mut pb) = (power(a), power(b));
    // 40 steps shrink the interval by 0.618^40, about 4e-9: far below any useful precision.
    for _ in 0..40 {
        if pa > pb {
            high = b;
            (b, pb) = (a, pa);
            a = high - ratio * (high - low);
            pa = power(a);
        } else {
            low = a;
            (a, pa) = (b, pb);
            b = low + ratio * (high - low);
            pb = power(b);
        }
    }
    ((low + high) / 2.0) as f32
}

/// The samples multiplied by a Hann window.
fn hann(samples: &[i16]) -> Vec<f64> {
    let n = samples.len() as f64;
    samples
        .iter()
        .enumerate()
        .map(|(i, &s)| f64::from(s) * (0.5 - 0.5 * (TAU * i as f64 / n).cos()))
        .collect()
}

/// Goertzel power of already-windowed samples at `frequency` Hz, normalised by length.
fn goertzel(windowed: &[f64], rate: u32, frequency: f64) -> f64 {
    let n = windowed.len() as f64;
    if windowed.is_empty() || rate == 0 {
        return 0.0;
    }
    let coefficient = 2.0 * (TAU * frequency / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in windowed {
        let s0 = x + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coefficient * s1 * s2) / (n * n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(frequency: f32, seconds: f32) -> Vec<i16> {
        let mut generator = ToneGenerator::new(frequency, 10_000).unwrap();
        let mut samples = vec![0i16; (seconds * SAMPLE_RATE as f32) as usize];
        generator.fill(&mut samples);
        samples
    }

    #[test]
    fn frames_join_without_a_phase_jump() {
        let mut generator = ToneGenerator::new(1000.0, 10_000).unwrap();
        let frames: Vec<i16> = (0..5)
            .flat_map(|_| generator.next_frame().samples().to_vec())
            .collect();
        let mut reference = ToneGenerator::new(1000.0, 10_000).unwrap();
        let mut continuous = vec![0i16; frames.len()];
        reference.fill(&mut continuous);
        assert_eq!(frames, continuous);
        // 1 kHz at 48 kHz: one cycle every 48 samples, peak of 10000.
        assert_eq!(frames[12], 10_000);
        assert_eq!(frames[12 + 48 * 90], 10_000);
    }

    #[test]
    fn dominant_frequency_is_accurate_for_clean_sines() {
        for frequency in [50.0, 440.0, 1000.0, 3_333.3, 12_000.0] {
            let measured = dominant_frequency(&tone(frequency, 0.2), SAMPLE_RATE);
            let error = (measured - frequency).abs() / frequency;
            assert!(error < 0.001, "{frequency} Hz measured as {measured}");
        }
    }

    #[test]
    fn goertzel_tells_present_from_absent_frequencies() {
        let samples = tone(440.0, 0.2);
        let present = goertzel_power(&samples, SAMPLE_RATE, 440.0);
        let absent = goertzel_power(&samples, SAMPLE_RATE, 660.0);
        assert!(present > 1000.0 * absent, "{present} vs {absent}");
    }

    #[test]
    fn silence_and_bad_frequencies() {
        assert_eq!(dominant_frequency(&[0; 9600], SAMPLE_RATE), 0.0);
        assert_eq!(dominant_frequency(&[], SAMPLE_RATE), 0.0);
        assert!(ToneGenerator::new(0.0, 1).is_err());
        assert!(ToneGenerator::new(24_000.0, 1).is_err());
        assert!(ToneGenerator::new(f32::NAN, 1).is_err());
    }
}
