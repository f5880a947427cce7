//! Mixes several talkers into one 20 ms frame without clipping or wrapping around.
//!
//! Samples are summed in `i32` (no overflow for up to 65 536 talkers), then passed through a
//! memoryless soft limiter: below [`LIMITER_KNEE`] (75 % of full scale) the sum is untouched,
//! so one talker at normal level, or a few quiet ones, mix bit-exactly; above the knee the
//! excess is compressed along a `tanh` curve that meets the knee with slope 1 and approaches
//! full scale without ever reaching past it. Being memoryless it needs no state per call and
//! cannot pump; the cost is some harmonic distortion on peaks that would have clipped anyway.

use super::frame::{AudioFrame, FRAME_SAMPLES};

/// Sums up to this magnitude pass unchanged.
pub const LIMITER_KNEE: i32 = 24_576;
/// Headroom above the knee that the limiter compresses into.
const HEADROOM: f32 = (i16::MAX as i32 - LIMITER_KNEE) as f32;

/// Maps a sum of samples into the `i16` range, smoothly above [`LIMITER_KNEE`].
pub fn soft_limit(sum: i32) -> i16 {
    let magnitude = sum.unsigned_abs();
    if magnitude <= LIMITER_KNEE as u32 {
        return sum as i16;
    }
    let excess = (magnitude - LIMITER_KNEE as u32) as f32;
    // tanh < 1, so the result stays below full scale; the `as` cast saturates regardless.
    let limited = LIMITER_KNEE as f32 + HEADROOM * (excess / HEADROOM).tanh();
    let limited = limited.round() as i16;
    if sum < 0 {
        -limited
    } else {
        limited
    }
}

/// Mixes `talkers` into `out`; a talker shorter than `out` is silent past its end.
pub fn mix_into(talkers: &[&[i16]], out: &mut [i16]) {
    for (i, sample) in out.iter_mut().enumerate() {
        let sum: i32 = talkers
            .iter()
            .filter_map(|talker| talker.get(i))
            .map(|&s| i32::from(s))
            .sum();
        *sample = soft_limit(sum);
    }
}

/// Mixes whole frames; no frames gives silence.
pub fn mix_frames(frames: &[AudioFrame]) -> AudioFrame {
    match frames {
        [] => AudioFrame::silence(),
        // One talker below the knee would come out unchanged: share it instead of copying.
        [only]
            if only
                .samples()
                .iter()
                .all(|&s| i32::from(s).abs() <= LIMITER_KNEE) =>
        {
            only.clone()
        }
        _ => {
            let talkers: Vec<&[i16]> = frames.iter().map(AudioFrame::samples).collect();
            let mut out = [0i16; FRAME_SAMPLES];
            mix_into(&talkers, &mut out);
            AudioFrame::from_array(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::frame::SAMPLE_RATE;
    use crate::media::tone::{dominant_frequency, goertzel_power, ToneGenerator};

    fn tone_frames(frequency: f32, amplitude: i16, count: usize) -> Vec<AudioFrame> {
        let mut generator = ToneGenerator::new(frequency, amplitude).unwrap();
        (0..count).map(|_| generator.next_frame()).collect()
    }

    fn mixed(a: &[AudioFrame], b: &[AudioFrame]) -> Vec<i16> {
        a.iter()
            .zip(b)
            .flat_map(|(a, b)| mix_frames(&[a.clone(), b.clone()]).samples().to_vec())
            .collect()
    }

    #[test]
    fn loud_sines_keep_both_frequencies_through_the_limiter() {
        // Each at 20000: peaks of 40000 go through the limiter.
        let out = mixed(
            &tone_frames(440.0, 20_000, 20),
            &tone_frames(1000.0, 20_000, 20),
        );
        let at = |f| goertzel_power(&out, SAMPLE_RATE, f);
        let (p440, p1000, p700) = (at(440.0), at(1000.0), at(700.0));
        assert!(
            p440 > 100.0 * p700 && p1000 > 100.0 * p700,
            "{p440} {p1000} {p700}"
        );
        assert!(out.iter().any(|&s| i32::from(s).abs() > LIMITER_KNEE));
    }

    #[test]
    fn two_sines_keep_both_frequencies() {
        // 0.4 s of 440 Hz and 1000 Hz, each at 10000: the sum stays below the knee.
        let low = tone_frames(440.0, 10_000, 20);
        let high = tone_frames(1000.0, 10_000, 20);
        let out = mixed(&low, &high);
        let at = |f| goertzel_power(&out, SAMPLE_RATE, f);
        let (p440, p1000, p700) = (at(440.0), at(1000.0), at(700.0));
        assert!(
            p440 > 1000.0 * p700 && p1000 > 1000.0 * p700,
            "{p440} {p1000} {p700}"
        );
        assert!(
            (p440 / p1000 - 1.0).abs() < 0.05,
            "unequal levels: {p440} vs {p1000}"
        );
        // Below the knee the mix is exact.
        let exact: Vec<i16> = low
            .iter()
            .zip(&high)
            .flat_map(|(a, b)| {
                a.samples()
                    .iter()
                    .zip(b.samples())
                    .map(|(x, y)| x + y)
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(out, exact);
    }

    #[test]
    fn full_scale_inputs_do_not_wrap_around() {
        let loud = tone_frames(440.0, i16::MAX, 10);
        let louder = tone_frames(440.0, i16::MAX, 10);
        let out = mixed(&loud, &louder);
        // Summed in i16 these would wrap to the opposite sign; the limiter keeps the sign.
        for (i, (&sample, reference)) in out
            .iter()
            .zip(loud.iter().flat_map(|f| f.samples().to_vec()))
            .enumerate()
        {
            assert!(
                sample.signum() == reference.signum() || reference.abs() < 2,
                "sample {i}"
            );
            assert!(
                sample.abs() >= reference.abs().min(LIMITER_KNEE as i16),
                "sample {i}"
            );
        }
        let frequency = dominant_frequency(&out, SAMPLE_RATE);
        assert!((frequency - 440.0).abs() < 4.4, "{frequency}");
        assert_eq!(soft_limit(i32::from(i16::MIN) * 8), -i16::MAX);
        assert_eq!(soft_limit(i32::from(i16::MAX) * 8), i16::MAX);
    }

    #[test]
    fn the_limiter_is_continuous_and_monotonic() {
        let mut previous = soft_limit(-200_000);
        for sum in -200_000..=200_000 {
            let limited = soft_limit(sum);
            assert!(limited >= previous, "not monotonic at {sum}");
            assert!(i32::from(limited - previous) <= 1, "jump at {sum}");
            previous = limited;
        }
        assert_eq!(soft_limit(LIMITER_KNEE), LIMITER_KNEE as i16);
        assert_eq!(soft_limit(-LIMITER_KNEE - 1), -(LIMITER_KNEE as i16) - 1);
    }

    #[test]
    fn one_or_no_talkers() {
        assert_eq!(mix_frames(&[]), AudioFrame::silence());
        let quiet = tone_frames(300.0, 5_000, 1).remove(0);
        let mixed = mix_frames(std::slice::from_ref(&quiet));
        assert_eq!(mixed.samples().as_ptr(), quiet.samples().as_ptr());
        let mut out = [0i16; 4];
        mix_into(&[&[1, 2], &[10, 20, 30, 40]], &mut out);
        assert_eq!(out, [11, 22, 30, 40]);
    }
}
