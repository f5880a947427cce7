//! What the speaker plays: one jitter buffer and Opus decoder per remote talker, mixed into
//! one 20 ms frame per sink tick. Pure and synchronous: the `Playback` actor pushes packets,
//! the sink thread pulls frames; tests drive both with a made-up clock.

use crate::media::frame::AudioFrame;
use crate::media::jitter::{JitterBuffer, JitterConfig, Playout};
use crate::media::mixer::mix_frames;
use crate::media::opus_codec::OpusDecoder;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A talker silent this long is forgotten (its decoder and buffer freed).
const TALKER_IDLE: Duration = Duration::from_secs(10);

struct Talker {
    buffer: JitterBuffer,
    decoder: OpusDecoder,
    last_packet: Instant,
}

/// Counters for the status line and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PlayoutStats {
    pub frames_played: u64,
    pub packets_decoded: u64,
    pub concealed: u64,
    pub recovered_by_fec: u64,
    pub decode_errors: u64,
}

/// The mixer of all talkers.
#[derive(Default)]
pub struct PlayoutMixer {
    talkers: BTreeMap<String, Talker>,
    stats: PlayoutStats,
}

impl PlayoutMixer {
    /// One received Opus packet from `user_id`.
    pub fn push(
        &mut self,
        user_id: &str,
        seq: u16,
        rtp_timestamp: u32,
        payload: Bytes,
        now: Instant,
    ) {
        if !self.talkers.contains_key(user_id) {
            match OpusDecoder::new() {
                Ok(decoder) => {
                    self.talkers.insert(
                        user_id.to_owned(),
                        Talker {
                            buffer: JitterBuffer::new(JitterConfig::default()),
                            decoder,
                            last_packet: now,
                        },
                    );
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot create an Opus decoder");
                    return;
                }
            }
        }
        if let Some(talker) = self.talkers.get_mut(user_id) {
            talker.buffer.push(seq, rtp_timestamp, payload, now);
            talker.last_packet = now;
        }
    }

    /// Forgets a talker that left.
    pub fn remove(&mut self, user_id: &str) {
        self.talkers.remove(user_id);
    }

    /// The next 20 ms for the speaker: every talker's next frame (decoded, recovered by FEC,
    /// or concealed), mixed. Silence when nobody talks.
    pub fn next_frame(&mut self, now: Instant) -> AudioFrame {
        self.talkers
            .retain(|_, t| now.saturating_duration_since(t.last_packet) < TALKER_IDLE);
        let mut frames = Vec::with_capacity(self.talkers.len());
        for talker in self.talkers.values_mut() {
            let decoded = match talker.buffer.pop(now) {
                Playout::Packet(payload) => {
                    self.stats.packets_decoded += 1;
                    talker.decoder.decode(&payload)
                }
                Playout::Lost {
                    next_has_fec: Some(next),
                } => {
                    self.stats.recovered_by_fec += 1;
                    talker.decoder.decode_fec(&next)
                }
                Playout::Lost { next_has_fec: None } => {
                    self.stats.concealed += 1;
                    talker.decoder.conceal()
                }
                Playout::Empty => continue,
            };
            match decoded {
                Ok(frame) => frames.push(frame),
                Err(_) => self.stats.decode_errors += 1,
            }
        }
        self.stats.frames_played += 1;
        if frames.is_empty() {
            AudioFrame::silence()
        } else {
            mix_frames(&frames)
        }
    }

    pub fn talkers(&self) -> usize {
        self.talkers.len()
    }

    pub fn stats(&self) -> PlayoutStats {
        self.stats.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::opus_codec::OpusEncoder;
    use crate::media::tone::{goertzel_power, ToneGenerator};

    fn packets(hz: f32, count: usize) -> Vec<Bytes> {
        let mut tone = ToneGenerator::new(hz, 8_000).expect("tone");
        let mut encoder = OpusEncoder::new().expect("encoder");
        (0..count)
            .map(|_| encoder.encode(&tone.next_frame()).expect("encode"))
            .collect()
    }

    /// Plays `ticks` frames with packets from each talker arriving on time.
    fn play(talkers: &[(&str, Vec<Bytes>)], ticks: usize) -> (Vec<i16>, PlayoutMixer) {
        let mut mixer = PlayoutMixer::default();
        let start = Instant::now();
        let mut out = Vec::new();
        for tick in 0..ticks {
            let now = start + Duration::from_millis(20 * tick as u64);
            for (user, packets) in talkers {
                if let Some(packet) = packets.get(tick) {
                    mixer.push(user, tick as u16, (tick * 960) as u32, packet.clone(), now);
                }
            }
            out.extend_from_slice(mixer.next_frame(now).samples());
        }
        (out, mixer)
    }

    #[test]
    fn one_talker_is_heard_at_its_frequency() {
        let (out, mixer) = play(&[("door", packets(440.0, 100))], 100);
        let tail = &out[out.len() / 2..];
        let hz = crate::media::tone::dominant_frequency(tail, 48_000);
        assert!((hz - 440.0).abs() < 440.0 * 0.02, "{hz}");
        assert_eq!(mixer.talkers(), 1);
        assert!(mixer.stats().packets_decoded > 80);
    }

    #[test]
    fn two_talkers_are_both_heard() {
        let (out, _) = play(
            &[("a", packets(440.0, 100)), ("b", packets(1000.0, 100))],
            100,
        );
        let tail = &out[out.len() / 2..];
        let p440 = goertzel_power(tail, 48_000, 440.0);
        let p1000 = goertzel_power(tail, 48_000, 1000.0);
        let p700 = goertzel_power(tail, 48_000, 700.0);
        assert!(
            p440 > 50.0 * p700 && p1000 > 50.0 * p700,
            "{p440} {p1000} {p700}"
        );
    }

    #[test]
    fn silence_when_nobody_talks_and_idle_talkers_are_forgotten() {
        let mut mixer = PlayoutMixer::default();
        let now = Instant::now();
        assert!(mixer.next_frame(now).samples().iter().all(|s| *s == 0));
        mixer.push("a", 0, 0, packets(440.0, 1)[0].clone(), now);
        mixer.next_frame(now + Duration::from_secs(11));
        assert_eq!(mixer.talkers(), 0);
    }

    #[test]
    fn a_lost_packet_is_concealed_not_skipped() {
        let mut all = packets(440.0, 60);
        all[30] = Bytes::new();
        let mut mixer = PlayoutMixer::default();
        let start = Instant::now();
        for (tick, packet) in all.iter().enumerate() {
            let now = start + Duration::from_millis(20 * tick as u64);
            if !packet.is_empty() {
                mixer.push("a", tick as u16, (tick * 960) as u32, packet.clone(), now);
            }
            mixer.next_frame(now);
        }
        let stats = mixer.stats();
        assert!(stats.concealed + stats.recovered_by_fec >= 1, "{stats:?}");
    }
}
