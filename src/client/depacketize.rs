//! Turns received RTP back into codec frames: H.264 access units (Annex-B) and Opus packets.

use bytes::Bytes;
use rtc::media::io::sample_builder::SampleBuilder;
use rtc::rtp;
use rtc::rtp::codec::h264::H264Packet;
use std::time::{Duration, Instant};

/// Reassembles H.264 access units from RTP, in order, giving up on a frame after a short wait.
pub struct H264Assembler {
    builder: SampleBuilder<H264Packet>,
}

impl Default for H264Assembler {
    fn default() -> Self {
        H264Assembler {
            // Latency over completeness: a frame whose packets are 100 ms late is dropped and a
            // keyframe request repairs the picture.
            builder: SampleBuilder::new(64, H264Packet::default(), 90_000)
                .with_max_time_delay(Duration::from_millis(100)),
        }
    }
}

impl H264Assembler {
    /// Adds one packet; returns the access units it completed (Annex-B, with start codes).
    pub fn push(&mut self, packet: rtp::Packet) -> Vec<Bytes> {
        let now = Instant::now();
        self.builder.push(now, packet);
        let mut frames = Vec::new();
        while let Some(sample) = self.builder.pop(now) {
            frames.push(sample.data);
        }
        frames
    }
}
