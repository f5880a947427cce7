//! Turns received RTP back into codec frames: H.264 access units (Annex-B) and Opus packets.

use bytes::Bytes;
use rtc::media::io::sample_builder::SampleBuilder;
use rtc::rtp;
use rtc::rtp::codec::h264::H264Packet;
use std::time::{Duration, Instant};

/// Packets the reassembly waits for a missing one before giving up on its frame.
const MAX_LATE_PACKETS: u16 = 64;

/// NAL unit type of a STAP-A aggregation packet (RFC 6184 §5.7.1).
const STAP_A: u8 = 24;

/// Reassembles H.264 access units from RTP, in order, giving up on a frame after a short wait.
pub struct H264Assembler {
    builder: SampleBuilder<H264Packet>,
    /// The newest sequence number handed to the builder (in the builder's numbering).
    newest: Option<u16>,
    /// Added (wrapping) to every received sequence number; changes at each sequence jump.
    seq_offset: u16,
}

impl Default for H264Assembler {
    fn default() -> Self {
        H264Assembler {
            // Latency over completeness: a frame whose packets are 100 ms late is dropped and a
            // keyframe request repairs the picture.
            builder: SampleBuilder::new(MAX_LATE_PACKETS, H264Packet::default(), 90_000)
                .with_max_time_delay(Duration::from_millis(100)),
            newest: None,
            seq_offset: 0,
        }
    }
}

impl H264Assembler {
    /// Adds one packet; returns the access units it completed (Annex-B, with start codes).
    pub fn push(&mut self, mut packet: rtp::Packet) -> Vec<Bytes> {
        if is_malformed_stap_a(&packet.payload) {
            return Vec::new();
        }
        packet.header.sequence_number = self.builder_seq(packet.header.sequence_number);
        let now = Instant::now();
        self.builder.push(now, packet);
        let mut frames = Vec::new();
        while let Some(sample) = self.builder.pop(now) {
            frames.push(sample.data);
        }
        frames
    }

    /// The sequence number to give the builder for a received one. The builder rescans the gap
    /// between its oldest and newest packet for every packet it gives up on, so one packet
    /// thousands of numbers away (a sender restart, a long outage, a forged packet) cost seconds
    /// of CPU (found by the `rtp_h264` fuzz target). Its window is kept small instead: a packet
    /// further than `MAX_LATE_PACKETS` from the newest, ahead or behind (16-bit numbers wrap, so
    /// a restart's new numbering may look like either), starts a new numbering just after a loss
    /// of `MAX_LATE_PACKETS + 1`, which the builder handles as any loss.
    fn builder_seq(&mut self, received: u16) -> u16 {
        let seq = received.wrapping_add(self.seq_offset);
        let Some(newest) = self.newest else {
            self.newest = Some(seq);
            return seq;
        };
        // The signed distance in sequence-number space (RFC 3550 numbers wrap at 2^16).
        let distance = seq.wrapping_sub(newest) as i16;
        if distance.unsigned_abs() > MAX_LATE_PACKETS {
            let renumbered = newest.wrapping_add(MAX_LATE_PACKETS + 1);
            self.seq_offset = self.seq_offset.wrapping_add(renumbered.wrapping_sub(seq));
            self.newest = Some(renumbered);
            return renumbered;
        }
        if distance > 0 {
            self.newest = Some(seq);
        }
        seq
    }
}

/// True for a STAP-A payload whose NAL unit sizes do not tile it exactly. The depacketizer
/// reads a size field past the end of a payload with one byte left over (an index panic, found
/// by the `rtp_h264` fuzz target) instead of refusing it, so such packets are dropped here.
fn is_malformed_stap_a(payload: &[u8]) -> bool {
    let Some((&header, mut rest)) = payload.split_first() else {
        return false;
    };
    if header & 0x1F != STAP_A {
        return false;
    }
    while !rest.is_empty() {
        let [high, low, units @ ..] = rest else {
            return true;
        };
        let size = usize::from(u16::from_be_bytes([*high, *low]));
        let Some(after) = units.get(size..) else {
            return true;
        };
        rest = after;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One RTP packet carrying a single NAL unit (`nal_type` 5: IDR slice, 1: non-IDR slice).
    fn packet(seq: u16, timestamp: u32, nal_type: u8) -> rtp::Packet {
        rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                marker: true,
                payload_type: 102,
                sequence_number: seq,
                timestamp,
                ssrc: 1,
                ..Default::default()
            },
            payload: Bytes::from(vec![0x60 | nal_type, 0x88, seq as u8, 0x01]),
        }
    }

    /// Pushes one frame per packet, consecutive sequence numbers from `first`, 30 fps.
    fn push_frames(assembler: &mut H264Assembler, first: u16, count: u16, ts0: u32) -> usize {
        (0..count)
            .map(|i| {
                let seq = first.wrapping_add(i);
                assembler
                    .push(packet(seq, ts0 + 3000 * u32::from(i), 1))
                    .len()
            })
            .sum()
    }

    fn stap_a(seq: u16, timestamp: u32, payload: &[u8]) -> rtp::Packet {
        let mut p = packet(seq, timestamp, 1);
        p.payload = Bytes::copy_from_slice(payload);
        p
    }

    #[test]
    fn a_stap_a_with_a_dangling_byte_is_dropped_not_a_panic() {
        // Regression: one byte after the last NAL unit made the depacketizer index past the end.
        let mut assembler = H264Assembler::default();
        let sps_pps = [0x18, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce];
        let mut dangling = sps_pps.to_vec();
        dangling.push(0x00);
        assert!(is_malformed_stap_a(&dangling));
        assert!(is_malformed_stap_a(&[0x18, 0x00, 0x05, 0x67]));
        assert!(!is_malformed_stap_a(&sps_pps));
        assert!(assembler.push(stap_a(1, 0, &dangling)).is_empty());
        assert!(assembler.push(stap_a(2, 3000, &dangling)).is_empty());
        // A well-formed STAP-A still comes out, as two Annex-B NAL units.
        assert!(assembler.push(stap_a(3, 6000, &sps_pps)).is_empty());
        let frames = assembler.push(packet(4, 9000, 1));
        assert_eq!(
            frames.first().map(|f| f.to_vec()),
            Some(vec![0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce])
        );
    }

    #[test]
    fn consecutive_frames_come_out_in_order() {
        let mut assembler = H264Assembler::default();
        // A frame is complete when the next one starts: 10 packets give 9 frames.
        assert_eq!(push_frames(&mut assembler, 1000, 10, 0), 9);
    }

    #[test]
    fn a_sequence_jump_is_a_loss_and_frames_carry_on_after_it() {
        // Regression: a packet 30000 numbers ahead made the sample builder rescan its gap for
        // every packet it dropped (quadratic; seconds of CPU for one packet).
        let mut assembler = H264Assembler::default();
        assert_eq!(push_frames(&mut assembler, 100, 5, 0), 4);
        assert!(assembler.push(packet(30_100, 900_000, 5)).len() <= 1);
        // The stream carries on from its new numbering, across the 16-bit wrap as well.
        assert_eq!(push_frames(&mut assembler, 30_101, 10, 903_000), 10);
        assert_eq!(push_frames(&mut assembler, 65_530, 12, 2_000_000), 12);
        assert_eq!(
            assembler
                .newest
                .map(|n| n.wrapping_sub(assembler.seq_offset)),
            Some(5)
        );
    }

    #[test]
    fn a_packet_far_behind_starts_a_new_numbering_too() {
        let mut assembler = H264Assembler::default();
        assert_eq!(push_frames(&mut assembler, 40_000, 5, 0), 4);
        // A packet slightly late keeps its number.
        assert_eq!(assembler.builder_seq(39_990), 39_990);
        // 20000 behind (a restarted sender, say): renumbered just after a loss, and frames
        // carry on from there.
        assert!(assembler.push(packet(20_000, 15_000, 5)).len() <= 1);
        assert_eq!(assembler.newest, Some(40_004 + 65));
        assert_eq!(push_frames(&mut assembler, 20_001, 4, 18_000), 4);
        assert_eq!(assembler.newest, Some(40_004 + 69));
    }
}
