//! `PeerLink`: the device's publishing peer connection as an actor. Encoded media comes in
//! as messages and goes out through the room session's `Publisher`, which lives in a task on
//! the media runtime; receivers' keyframe requests go back to the video encoder.

use super::bitrate::BitrateController;
use super::messages::{
    EncodedAudioPacket, EncodedVideoFrame, KeyframeRequest, PublisherGone, PublisherReady,
    TargetBitrate,
};
use crate::client::Publisher;
use crate::media::h264::EncodedVideo;
use actix::prelude::*;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Frames waiting for the network; beyond this a stalled link drops video instead of
/// building up delay.
const VIDEO_QUEUE: usize = 4;
/// Audio waiting for the network (1 s): audio is small and a gap is heard.
const AUDIO_QUEUE: usize = 50;

/// Counters for status and the watchdog.
#[derive(Debug, Default)]
pub struct LinkStats {
    pub frames_sent: AtomicU64,
    pub frames_dropped: AtomicU64,
    pub audio_sent: AtomicU64,
    pub keyframe_requests: AtomicU64,
}

enum Outgoing {
    Video(EncodedVideo),
    Audio(Bytes),
}

/// Where the encoder's feedback goes, and the bounds bitrate adaptation keeps to.
#[derive(Clone)]
pub struct EncoderFeedback {
    pub keyframes: Recipient<KeyframeRequest>,
    pub bitrate: Recipient<TargetBitrate>,
    pub start_bps: u32,
    pub min_bps: u32,
    pub max_bps: u32,
}

pub struct PeerLink {
    media: tokio::runtime::Handle,
    keyframes: Option<Recipient<KeyframeRequest>>,
    feedback: Option<EncoderFeedback>,
    video: Option<mpsc::Sender<Outgoing>>,
    audio: Option<mpsc::Sender<Outgoing>>,
    task: Option<tokio::task::JoinHandle<()>>,
    stats: Arc<LinkStats>,
}

impl PeerLink {
    pub fn new(media: tokio::runtime::Handle, stats: Arc<LinkStats>) -> Self {
        PeerLink {
            media,
            keyframes: None,
            feedback: None,
            video: None,
            audio: None,
            task: None,
            stats,
        }
    }

    /// Where receivers' keyframe requests and the adapted bitrate go (set once the encoder
    /// exists).
    pub fn set_encoder_feedback(&mut self, feedback: EncoderFeedback) {
        self.keyframes = Some(feedback.keyframes.clone());
        self.feedback = Some(feedback);
    }

    fn stop_task(&mut self) {
        self.video = None;
        self.audio = None;
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Actor for PeerLink {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.stop_task();
    }
}

impl Handler<PublisherReady> for PeerLink {
    type Result = ();

    fn handle(&mut self, msg: PublisherReady, _ctx: &mut Self::Context) {
        self.stop_task();
        let (video_tx, video_rx) = mpsc::channel(VIDEO_QUEUE);
        let (audio_tx, audio_rx) = mpsc::channel(AUDIO_QUEUE);
        self.video = Some(video_tx);
        self.audio = Some(audio_tx);
        self.task = Some(self.media.spawn(send_media(
            msg.0,
            video_rx,
            audio_rx,
            self.feedback.clone(),
            self.stats.clone(),
        )));
        // A fresh publication starts with a keyframe so its first receiver can decode.
        if let Some(keyframes) = &self.keyframes {
            keyframes.do_send(KeyframeRequest);
        }
    }
}

impl Handler<PublisherGone> for PeerLink {
    type Result = ();

    fn handle(&mut self, _msg: PublisherGone, _ctx: &mut Self::Context) {
        self.stop_task();
    }
}

impl Handler<EncodedVideoFrame> for PeerLink {
    type Result = ();

    fn handle(&mut self, msg: EncodedVideoFrame, _ctx: &mut Self::Context) {
        let Some(video) = &self.video else {
            self.stats.frames_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if video.try_send(Outgoing::Video(msg.0)).is_err() {
            self.stats.frames_dropped.fetch_add(1, Ordering::Relaxed);
            // The next frame after a drop must not reference the lost one.
            if let Some(keyframes) = &self.keyframes {
                keyframes.do_send(KeyframeRequest);
            }
        }
    }
}

impl Handler<EncodedAudioPacket> for PeerLink {
    type Result = ();

    fn handle(&mut self, msg: EncodedAudioPacket, _ctx: &mut Self::Context) {
        if let Some(audio) = &self.audio {
            let _ = audio.try_send(Outgoing::Audio(msg.0));
        }
    }
}

/// Writes media into the publisher until the channels close; relays keyframe requests.
async fn send_media(
    mut publisher: Publisher,
    mut video: mpsc::Receiver<Outgoing>,
    mut audio: mpsc::Receiver<Outgoing>,
    feedback: Option<EncoderFeedback>,
    stats: Arc<LinkStats>,
) {
    let keyframes = feedback.as_ref().map(|f| f.keyframes.clone());
    let mut bitrate = feedback.as_ref().map(|f| {
        (
            BitrateController::new(f.start_bps, f.min_bps, f.max_bps),
            f.bitrate.clone(),
        )
    });
    let mut reports = tokio::time::interval(Duration::from_secs(1));
    reports.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_capture_ms: Option<u64> = None;
    let mut requests_open = true;
    let mut was_connected = false;
    loop {
        tokio::select! {
            outgoing = video.recv() => {
                let Some(Outgoing::Video(frame)) = outgoing else { break };
                // Until DTLS is up frames would only be thrown away by the stack; once it is,
                // start with a fresh keyframe since the first one was never delivered.
                if !publisher.is_connected() {
                    stats.frames_dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if !was_connected {
                    was_connected = true;
                    if let Some(keyframes) = &keyframes {
                        keyframes.do_send(KeyframeRequest);
                    }
                }
                // RTP time follows capture time, so frames the encoder skipped leave a gap
                // of the right length instead of slowing the clock.
                let duration = last_capture_ms
                    .map(|last| frame.capture_unix_ms.saturating_sub(last).clamp(1, 1000))
                    .unwrap_or(33);
                last_capture_ms = Some(frame.capture_unix_ms);
                if publisher.write_video(frame.data, Duration::from_millis(duration)).await.is_ok()
                    && stats.frames_sent.fetch_add(1, Ordering::Relaxed) == 0
                {
                    // Process start to first RTP: the start-up figure a doorbell is judged by.
                    tracing::info!(
                        first_rtp_ms = super::since_process_start().as_millis() as u64,
                        "first video frame sent"
                    );
                }
            }
            outgoing = audio.recv() => {
                let Some(Outgoing::Audio(packet)) = outgoing else { break };
                if !publisher.is_connected() {
                    continue;
                }
                if publisher.write_audio(packet, Duration::from_millis(20)).await.is_ok() {
                    stats.audio_sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ = reports.tick() => {
                if let Some((controller, target)) = bitrate.as_mut() {
                    if let Some(loss) = video_loss(&publisher).await {
                        tracing::debug!(loss, "receiver report");
                        if let Some(bps) = controller.on_loss_report(loss, std::time::Instant::now()) {
                            tracing::info!(target_bps = bps, loss, "video bitrate adapted");
                            target.do_send(TargetBitrate(bps));
                        }
                    }
                }
            }
            request = publisher.next_keyframe_request(), if requests_open => {
                match request {
                    Some(()) => {
                        stats.keyframe_requests.fetch_add(1, Ordering::Relaxed);
                        if let Some(keyframes) = &keyframes {
                            keyframes.do_send(KeyframeRequest);
                        }
                    }
                    None => requests_open = false,
                }
            }
        }
    }
}

/// The loss fraction receivers last reported for our video (RTCP receiver reports).
async fn video_loss(publisher: &Publisher) -> Option<f64> {
    use rtc::statistics::report::RTCStatsReportEntry;
    use rtc::statistics::StatsSelector;
    let report = publisher
        .peer_connection()
        .get_stats(std::time::Instant::now(), StatsSelector::None)
        .await;
    tracing::trace!(entries = ?report.iter().map(|e| e.stats_type()).collect::<Vec<_>>(), "stats");
    let loss = report.iter().find_map(|entry| match entry {
        RTCStatsReportEntry::RemoteInboundRtp(remote)
            if remote.received_rtp_stream_stats.rtp_stream_stats.kind
                == rtc::rtp_transceiver::rtp_sender::RtpCodecKind::Video =>
        {
            Some(remote.fraction_lost)
        }
        _ => None,
    });
    loss
}
