//! Opus for the doorbell's voice: 48 kHz mono, 20 ms packets, tuned for speech over a lossy
//! network (VOIP application, in-band FEC on, expecting some loss).

use bytes::Bytes;
use opus::{Application, Bitrate, Channels};

pub use super::codec_error::CodecError;
use super::frame::{AudioFrame, FRAME_SAMPLES, SAMPLE_RATE};

/// Largest Opus packet we produce; libopus never needs more than this for 20 ms mono.
const MAX_PACKET_BYTES: usize = 1500;
/// Longest packet libopus can decode (120 ms), so an odd packet reports its length instead of
/// a buffer error.
const MAX_PACKET_SAMPLES: usize = 5_760;

/// Settings of an [`OpusEncoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusEncoderConfig {
    /// Target bitrate; 24-32 kbit/s is clear speech, more is wasted on a doorbell speaker.
    pub bitrate_bps: u32,
    /// Loss the encoder plans for: the higher, the more FEC it embeds.
    pub packet_loss_percent: u8,
    /// 0 (cheapest) to 10 (best); 5 costs about half of 10 for speech that sounds the same.
    pub complexity: u8,
}

impl Default for OpusEncoderConfig {
    fn default() -> Self {
        Self {
            bitrate_bps: 32_000,
            packet_loss_percent: 10,
            complexity: 5,
        }
    }
}

fn opus_error(operation: &'static str) -> impl Fn(opus::Error) -> CodecError {
    move |e| CodecError::Opus {
        operation,
        message: e.to_string(),
    }
}

/// Encodes 20 ms frames to Opus packets.
pub struct OpusEncoder {
    inner: opus::Encoder,
    config: OpusEncoderConfig,
    buffer: Vec<u8>,
}

impl OpusEncoder {
    /// An encoder with the default settings (32 kbit/s, FEC for 10 % loss).
    pub fn new() -> Result<Self, CodecError> {
        Self::with_config(OpusEncoderConfig::default())
    }

    /// An encoder with the given settings.
    pub fn with_config(config: OpusEncoderConfig) -> Result<Self, CodecError> {
        if !(6_000..=510_000).contains(&config.bitrate_bps) {
            return Err(CodecError::BadConfig {
                key: "bitrate_bps",
                value: config.bitrate_bps.to_string(),
                accepted: "6000 to 510000 bit/s".into(),
            });
        }
        if config.packet_loss_percent > 100 || config.complexity > 10 {
            return Err(CodecError::BadConfig {
                key: "packet_loss_percent / complexity",
                value: format!("{} / {}", config.packet_loss_percent, config.complexity),
                accepted: "0 to 100 / 0 to 10".into(),
            });
        }
        let mut inner = opus::Encoder::new(SAMPLE_RATE, Channels::Mono, Application::Voip)
            .map_err(opus_error("create encoder"))?;
        let setup = opus_error("configure encoder");
        inner
            .set_bitrate(Bitrate::Bits(config.bitrate_bps as i32))
            .map_err(&setup)?;
        inner.set_inband_fec(true).map_err(&setup)?;
        inner
            .set_packet_loss_perc(i32::from(config.packet_loss_percent))
            .map_err(&setup)?;
        inner
            .set_complexity(i32::from(config.complexity))
            .map_err(&setup)?;
        Ok(Self {
            inner,
            config,
            buffer: vec![0; MAX_PACKET_BYTES],
        })
    }

    /// The settings in force.
    pub fn config(&self) -> OpusEncoderConfig {
        self.config
    }

    /// Changes the bitrate live (6 to 510 kbit/s).
    pub fn set_bitrate(&mut self, bps: u32) -> Result<(), CodecError> {
        let bps = bps.clamp(6_000, 510_000);
        self.inner
            .set_bitrate(Bitrate::Bits(bps as i32))
            .map_err(opus_error("set bitrate"))?;
        self.config.bitrate_bps = bps;
        Ok(())
    }

    /// Encodes one 20 ms frame into one packet.
    pub fn encode(&mut self, frame: &AudioFrame) -> Result<Bytes, CodecError> {
        let length = self
            .inner
            .encode(frame.samples(), &mut self.buffer)
            .map_err(opus_error("encode"))?;
        Ok(Bytes::copy_from_slice(&self.buffer[..length]))
    }
}

/// Decodes Opus packets to 20 ms frames, recovering lost ones by FEC or concealment.
pub struct OpusDecoder {
    inner: opus::Decoder,
    buffer: Vec<i16>,
}

impl OpusDecoder {
    /// A 48 kHz mono decoder.
    pub fn new() -> Result<Self, CodecError> {
        Ok(Self {
            inner: opus::Decoder::new(SAMPLE_RATE, Channels::Mono)
                .map_err(opus_error("create decoder"))?,
            buffer: vec![0; MAX_PACKET_SAMPLES],
        })
    }

    /// Decodes a packet holding exactly 20 ms.
    pub fn decode(&mut self, packet: &[u8]) -> Result<AudioFrame, CodecError> {
        if packet.is_empty() {
            // libopus reads an empty packet as "lost": say so instead of concealing silently.
            return Err(CodecError::Opus {
                operation: "decode",
                message: "empty packet".into(),
            });
        }
        let samples = self
            .inner
            .decode(packet, &mut self.buffer, false)
            .map_err(opus_error("decode"))?;
        self.frame(samples)
    }

    /// Rebuilds the frame before `next_packet` (which was lost) from the redundancy embedded
    /// in `next_packet`; then decode `next_packet` itself as usual. Without embedded FEC
    /// libopus conceals instead.
    pub fn decode_fec(&mut self, next_packet: &[u8]) -> Result<AudioFrame, CodecError> {
        let samples = self
            .inner
            .decode(next_packet, &mut self.buffer[..FRAME_SAMPLES], true)
            .map_err(opus_error("decode FEC"))?;
        self.frame(samples)
    }

    /// Invents 20 ms that continue the last decoded audio (packet-loss concealment).
    pub fn conceal(&mut self) -> Result<AudioFrame, CodecError> {
        let samples = self
            .inner
            .decode(&[], &mut self.buffer[..FRAME_SAMPLES], false)
            .map_err(opus_error("conceal"))?;
        self.frame(samples)
    }

    fn frame(&self, samples: usize) -> Result<AudioFrame, CodecError> {
        if samples != FRAME_SAMPLES {
            return Err(CodecError::PacketDuration { samples });
        }
        Ok(AudioFrame::new(&self.buffer[..FRAME_SAMPLES])?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tone::{dominant_frequency, ToneGenerator};

    #[test]
    fn round_trip_keeps_the_tone() {
        let mut encoder = OpusEncoder::new().unwrap();
        let mut decoder = OpusDecoder::new().unwrap();
        let mut tone = ToneGenerator::new(440.0, 10_000).unwrap();
        let mut out = Vec::new();
        for _ in 0..25 {
            let packet = encoder.encode(&tone.next_frame()).unwrap();
            assert!(
                packet.len() < 200,
                "{} bytes for 20 ms at 32 kbit/s",
                packet.len()
            );
            out.extend_from_slice(decoder.decode(&packet).unwrap().samples());
        }
        let hz = dominant_frequency(&out[out.len() / 2..], SAMPLE_RATE);
        assert!((hz - 440.0).abs() < 4.4, "{hz}");
    }

    #[test]
    fn odd_packets_are_typed_errors() {
        let mut decoder = OpusDecoder::new().unwrap();
        assert!(matches!(decoder.decode(&[]), Err(CodecError::Opus { .. })));
        // TOC 0x0B: SILK wideband 60 ms, one frame: decodes to 2880 samples, not 960.
        assert!(matches!(
            decoder.decode(&[0x0B, 0, 0]),
            Err(CodecError::PacketDuration { samples: 2880 }) | Err(CodecError::Opus { .. })
        ));
        assert!(decoder.conceal().is_ok());
        assert!(OpusEncoder::with_config(OpusEncoderConfig {
            bitrate_bps: 1,
            ..Default::default()
        })
        .is_err());
    }
}
