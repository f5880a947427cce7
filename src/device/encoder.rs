//! `VideoEncoder` and `AudioEncoder`: run the codecs on their own arbiter thread and pass the
//! encoded media to the `PeerLink`.

use super::messages::{
    EncodedAudioPacket, EncodedVideoFrame, FrameReady, KeyframeRequest, RawAudio, TargetBitrate,
};
use super::PeerLink;
use crate::media::frame::VideoFrame;
use crate::media::h264::{H264Encoder, H264EncoderConfig};
use crate::media::latest::LatestSlot;
use crate::media::opus_codec::OpusEncoder;
use actix::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Counters the supervisor reads for status and the watchdog.
#[derive(Debug, Default)]
pub struct EncoderStats {
    pub frames_encoded: AtomicU64,
    pub frames_skipped: AtomicU64,
    pub encode_errors: AtomicU64,
    pub encode_micros_total: AtomicU64,
    pub audio_packets: AtomicU64,
}

/// H.264 with openh264; the encoder is made on the first frame, at the frame's size.
pub struct VideoEncoder {
    config: H264EncoderConfig,
    encoder: Option<H264Encoder>,
    slot: LatestSlot<VideoFrame>,
    peer: Addr<PeerLink>,
    stats: Arc<EncoderStats>,
    /// A receiver asked for a keyframe that the encoder's rate limit refused: it is owed,
    /// and given as soon as the limit allows (receivers don't always ask twice).
    keyframe_owed: bool,
    hang_after: Option<u64>,
}

impl VideoEncoder {
    pub fn new(
        config: H264EncoderConfig,
        slot: LatestSlot<VideoFrame>,
        peer: Addr<PeerLink>,
        stats: Arc<EncoderStats>,
    ) -> Self {
        VideoEncoder {
            config,
            encoder: None,
            slot,
            peer,
            stats,
            keyframe_owed: false,
            hang_after: hang_after_frames(),
        }
    }

    fn encoder_for(&mut self, frame: &VideoFrame) -> Option<&mut H264Encoder> {
        let size_changed = self.encoder.as_ref().is_some_and(|_| {
            (self.config.width, self.config.height) != (frame.width(), frame.height())
        });
        if self.encoder.is_none() || size_changed {
            self.config.width = frame.width();
            self.config.height = frame.height();
            match H264Encoder::new(self.config.clone()) {
                Ok(encoder) => self.encoder = Some(encoder),
                Err(e) => {
                    tracing::error!(error = %e, "cannot create the H.264 encoder");
                    self.stats.encode_errors.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            }
        }
        self.encoder.as_mut()
    }
}

impl Actor for VideoEncoder {
    type Context = Context<Self>;
}

/// Fault injection for the watchdog test: `ROOMBELL_FAULT_HANG_ENCODER_AFTER=N` makes the
/// video encoder hang forever after N frames, as a wedged codec would.
fn hang_after_frames() -> Option<u64> {
    std::env::var("ROOMBELL_FAULT_HANG_ENCODER_AFTER")
        .ok()?
        .parse()
        .ok()
}

impl Handler<FrameReady> for VideoEncoder {
    type Result = ();

    fn handle(&mut self, _msg: FrameReady, _ctx: &mut Self::Context) {
        let Some(frame) = self.slot.take() else {
            return;
        };
        if let Some(limit) = self.hang_after {
            if self.stats.frames_encoded.load(Ordering::Relaxed) >= limit {
                tracing::error!("fault injection: the video encoder hangs now");
                loop {
                    std::thread::park();
                }
            }
        }
        let mut owed = self.keyframe_owed;
        let stats = self.stats.clone();
        let peer = self.peer.clone();
        let Some(encoder) = self.encoder_for(&frame) else {
            return;
        };
        if owed && encoder.request_keyframe(Instant::now()) {
            owed = false;
        }
        let started = Instant::now();
        match encoder.encode(&frame) {
            Ok(Some(encoded)) => {
                stats.frames_encoded.fetch_add(1, Ordering::Relaxed);
                stats
                    .encode_micros_total
                    .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                peer.do_send(EncodedVideoFrame(encoded));
            }
            Ok(None) => {
                stats.frames_skipped.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                stats.encode_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "H.264 encode failed");
            }
        }
        self.keyframe_owed = owed;
    }
}

impl Handler<KeyframeRequest> for VideoEncoder {
    type Result = ();

    fn handle(&mut self, _msg: KeyframeRequest, _ctx: &mut Self::Context) {
        // Before the first frame there is nothing to force: the first output is a keyframe.
        if let Some(encoder) = self.encoder.as_mut() {
            if encoder.request_keyframe(Instant::now()) {
                tracing::debug!("keyframe requested by a receiver");
            } else {
                self.keyframe_owed = true;
            }
        }
    }
}

impl Handler<TargetBitrate> for VideoEncoder {
    type Result = ();

    fn handle(&mut self, msg: TargetBitrate, _ctx: &mut Self::Context) {
        self.config.bitrate_bps = msg.0;
        if let Some(encoder) = self.encoder.as_mut() {
            encoder.set_bitrate(msg.0);
        }
    }
}

/// Opus (VOIP, 20 ms, in-band FEC).
pub struct AudioEncoder {
    encoder: Option<OpusEncoder>,
    peer: Addr<PeerLink>,
    stats: Arc<EncoderStats>,
}

impl AudioEncoder {
    pub fn new(peer: Addr<PeerLink>, stats: Arc<EncoderStats>) -> Self {
        let encoder = match OpusEncoder::new() {
            Ok(encoder) => Some(encoder),
            Err(e) => {
                tracing::error!(error = %e, "cannot create the Opus encoder; the microphone stays silent");
                None
            }
        };
        AudioEncoder {
            encoder,
            peer,
            stats,
        }
    }
}

impl Actor for AudioEncoder {
    type Context = Context<Self>;
}

impl Handler<RawAudio> for AudioEncoder {
    type Result = ();

    fn handle(&mut self, msg: RawAudio, _ctx: &mut Self::Context) {
        let Some(encoder) = self.encoder.as_mut() else {
            return;
        };
        match encoder.encode(&msg.0) {
            Ok(packet) => {
                self.stats.audio_packets.fetch_add(1, Ordering::Relaxed);
                self.peer.do_send(EncodedAudioPacket(packet));
            }
            Err(e) => tracing::warn!(error = %e, "Opus encode failed"),
        }
    }
}
