//! `Supervisor`: builds the device's actor graph from config, reopens a failed camera,
//! microphone or speaker with backoff (the rest of the call goes on meanwhile), answers
//! status queries and leads the shutdown.

use super::backoff::Backoff;
use super::capture::{AudioCapture, VideoCapture};
use super::config::DaemonConfig;
use super::encoder::{AudioEncoder, EncoderStats, VideoEncoder};
use super::messages::{DeviceStatus, GetStatus, Shutdown, SourceFailed, SourceKind, StartSpeaker};
use super::notify::{Expected, Progress, WatchdogJudge};
use super::peer_link::{LinkStats, PeerLink};
use super::playback::{Playback, SpeakerHealth};
use super::session::{RoomSession, StatusHandle};
use crate::media::frame::VideoFrame;
use crate::media::latest::LatestSlot;
use crate::media::source::{open_audio_sink, open_audio_source, open_video_source};
use crate::rtc_peer::PeerOptions;
use crate::sd_notify::Notifier;
use actix::prelude::*;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Handles to everything the supervisor built.
struct Graph {
    video_slot: LatestSlot<VideoFrame>,
    video_encoder: Addr<VideoEncoder>,
    audio_encoder: Addr<AudioEncoder>,
    playback: Addr<Playback>,
    session: Addr<RoomSession>,
    video_capture: Option<Addr<VideoCapture>>,
    audio_capture: Option<Addr<AudioCapture>>,
    // Arbiters own the encoder threads; kept so they live as long as the device.
    _arbiters: Vec<Arbiter>,
}

pub struct Supervisor {
    config: DaemonConfig,
    media: tokio::runtime::Handle,
    peer: PeerOptions,
    graph: Option<Graph>,
    camera_retry: SourceRetry,
    mic_retry: SourceRetry,
    speaker_retry: SourceRetry,
    session_status: StatusHandle,
    encoder_stats: Arc<EncoderStats>,
    link_stats: Arc<LinkStats>,
    speaker_health: Arc<SpeakerHealth>,
    problems: Vec<(SourceKind, String)>,
    notifier: Notifier,
    judge: WatchdogJudge,
}

fn source_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(500), Duration::from_secs(30), 0.2)
}

/// A source that ran this long before failing starts its retries from the shortest delay
/// again; one that fails sooner (it opens, then fails at its first read) keeps backing off.
const SOURCE_STABLE_AFTER: Duration = Duration::from_secs(10);

/// When to retry a failed camera, microphone or speaker.
#[derive(Debug, Clone)]
struct SourceRetry {
    backoff: Backoff,
    opened_at: Option<std::time::Instant>,
}

impl SourceRetry {
    fn new() -> Self {
        SourceRetry {
            backoff: source_backoff(),
            opened_at: None,
        }
    }

    /// The source opened at `now`.
    fn opened(&mut self, now: std::time::Instant) {
        self.opened_at = Some(now);
    }

    /// The source failed at `now`: the delay before the next attempt, given a random number
    /// in [0, 1) for the jitter.
    fn failed(&mut self, now: std::time::Instant, random: f64) -> Duration {
        if let Some(opened) = self.opened_at.take() {
            if now.duration_since(opened) >= SOURCE_STABLE_AFTER {
                self.backoff.reset();
            }
        }
        self.backoff.next_delay_with(random)
    }
}

impl Supervisor {
    pub fn new(config: DaemonConfig, media: tokio::runtime::Handle, peer: PeerOptions) -> Self {
        Supervisor {
            config,
            media,
            peer,
            graph: None,
            camera_retry: SourceRetry::new(),
            mic_retry: SourceRetry::new(),
            speaker_retry: SourceRetry::new(),
            session_status: StatusHandle::default(),
            encoder_stats: Arc::default(),
            link_stats: Arc::default(),
            speaker_health: Arc::default(),
            problems: Vec::new(),
            notifier: Notifier::default(),
            judge: WatchdogJudge::new(std::time::Instant::now(), Duration::from_secs(3)),
        }
    }

    fn build(&mut self, ctx: &mut Context<Self>) {
        let video_arbiter = Arbiter::new();
        let audio_arbiter = Arbiter::new();
        let video_slot = LatestSlot::default();
        let mut video_encoder = None;
        let mut audio_encoder = None;
        let (media, link_stats, encoder_stats) = (
            self.media.clone(),
            self.link_stats.clone(),
            self.encoder_stats.clone(),
        );
        let encoder_config = super::encoder_config(&self.config);
        let slot = video_slot.clone();
        let peer_link = PeerLink::create(|link_ctx| {
            let mut link = PeerLink::new(media, link_stats);
            let link_addr = link_ctx.address();
            let for_video = link_addr.clone();
            let stats = encoder_stats.clone();
            let for_encoder = encoder_config.clone();
            let video = VideoEncoder::start_in_arbiter(&video_arbiter.handle(), move |_| {
                VideoEncoder::new(for_encoder, slot, for_video, stats)
            });
            link.set_encoder_feedback(super::peer_link::EncoderFeedback {
                keyframes: video.clone().recipient(),
                bitrate: video.clone().recipient(),
                start_bps: encoder_config.bitrate_bps,
                min_bps: encoder_config.min_bitrate_bps,
                max_bps: encoder_config.max_bitrate_bps,
            });
            let stats = encoder_stats.clone();
            audio_encoder = Some(AudioEncoder::start_in_arbiter(
                &audio_arbiter.handle(),
                move |_| AudioEncoder::new(link_addr, stats),
            ));
            video_encoder = Some(video);
            link
        });
        let (Some(video_encoder), Some(audio_encoder)) = (video_encoder, audio_encoder) else {
            tracing::error!("the encoders did not start");
            return;
        };
        let playback = Playback::new(ctx.address(), self.speaker_health.clone()).start();
        let session = RoomSession::new(
            self.config.device.clone(),
            self.peer.clone(),
            self.media.clone(),
            peer_link,
            playback.clone(),
            self.session_status.clone(),
        )
        .start();
        self.graph = Some(Graph {
            video_slot,
            video_encoder,
            audio_encoder,
            playback,
            session,
            video_capture: None,
            audio_capture: None,
            _arbiters: vec![video_arbiter, audio_arbiter],
        });
        if self.config.device.publish_video {
            self.start_camera(ctx);
        }
        if self.config.device.publish_audio {
            self.start_microphone(ctx);
        }
        self.start_speaker(ctx);
    }

    fn start_camera(&mut self, ctx: &mut Context<Self>) {
        let Some(graph) = self.graph.as_mut() else {
            return;
        };
        match open_video_source(&self.config.video) {
            Ok(source) => {
                self.camera_retry.opened(std::time::Instant::now());
                self.problems.retain(|(k, _)| *k != SourceKind::Camera);
                graph.video_capture = Some(
                    VideoCapture::new(
                        source,
                        graph.video_slot.clone(),
                        graph.video_encoder.clone(),
                        ctx.address(),
                    )
                    .start(),
                );
            }
            Err(e) => ctx.notify(SourceFailed {
                kind: SourceKind::Camera,
                reason: e.to_string(),
            }),
        }
    }

    fn start_microphone(&mut self, ctx: &mut Context<Self>) {
        let Some(graph) = self.graph.as_mut() else {
            return;
        };
        match open_audio_source(&self.config.audio) {
            Ok(source) => {
                self.mic_retry.opened(std::time::Instant::now());
                self.problems.retain(|(k, _)| *k != SourceKind::Microphone);
                graph.audio_capture = Some(
                    AudioCapture::new(source, graph.audio_encoder.clone(), ctx.address()).start(),
                );
            }
            Err(e) => ctx.notify(SourceFailed {
                kind: SourceKind::Microphone,
                reason: e.to_string(),
            }),
        }
    }

    fn start_speaker(&mut self, ctx: &mut Context<Self>) {
        let Some(graph) = self.graph.as_ref() else {
            return;
        };
        match open_audio_sink(&self.config.speaker) {
            Ok(sink) => {
                self.speaker_retry.opened(std::time::Instant::now());
                self.problems.retain(|(k, _)| *k != SourceKind::Speaker);
                graph.playback.do_send(StartSpeaker(sink));
            }
            Err(e) => ctx.notify(SourceFailed {
                kind: SourceKind::Speaker,
                reason: e.to_string(),
            }),
        }
    }

    fn status(&self) -> DeviceStatus {
        let session = self
            .session_status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        let frames_sent = self.link_stats.frames_sent.load(Ordering::Relaxed);
        let audio_packets_sent = self.link_stats.audio_sent.load(Ordering::Relaxed);
        let video = &self.config.video;
        let mut line = match &session.problem {
            Some(problem) if !session.in_room => problem.clone(),
            _ if session.in_room => format!(
                "in room {} as {}, {}, {} listener{}",
                self.config.device.room_id,
                self.config.device.user_id,
                if session.publishing {
                    format!(
                        "publishing {}x{}@{} {:.1} Mbps",
                        video.width,
                        video.height,
                        video.fps,
                        f64::from(self.config.encoder.bitrate_kbps) / 1000.0
                    )
                } else {
                    "not publishing yet".to_owned()
                },
                session.listening_to,
                if session.listening_to == 1 { "" } else { "s" }
            ),
            _ => format!(
                "joining room {} at {}",
                self.config.device.room_id, self.config.device.server
            ),
        };
        for (kind, problem) in &self.problems {
            line.push_str(&format!("; {kind:?}: {problem}"));
        }
        if let Some(trouble) = self.speaker_health.trouble() {
            line.push_str(&format!("; speaker: {trouble}"));
        }
        DeviceStatus {
            in_room: session.in_room,
            publishing: session.publishing,
            listeners: session.listening_to,
            frames_sent,
            audio_packets_sent,
            line,
        }
    }
}

impl Supervisor {
    /// READY once, STATUS when it changes, WATCHDOG only while the pipeline produces.
    fn report_to_systemd(&mut self) {
        let progress = Progress {
            video_frames: self.encoder_stats.frames_encoded.load(Ordering::Relaxed),
            audio_packets: self.encoder_stats.audio_packets.load(Ordering::Relaxed),
        };
        let failed = |kind| self.problems.iter().any(|(k, _)| *k == kind);
        let expected = Expected {
            video: self.config.device.publish_video && !failed(SourceKind::Camera),
            audio: self.config.device.publish_audio && !failed(SourceKind::Microphone),
        };
        if self.judge.ready(progress, std::time::Instant::now()) {
            tracing::info!(
                ready_ms = super::since_process_start().as_millis() as u64,
                "ready"
            );
            self.notifier.ready();
        }
        let status = self.status();
        self.notifier.status(&status.line);
        if self.judge.healthy(progress, expected) {
            self.notifier.watchdog();
        } else {
            tracing::warn!(
                ?progress,
                "capture → encode made no progress; withholding the watchdog ping"
            );
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.build(ctx);
        ctx.run_interval(Notifier::interval(), |supervisor, _ctx| {
            supervisor.report_to_systemd();
        });
    }
}

impl Handler<SourceFailed> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: SourceFailed, ctx: &mut Self::Context) {
        let retry = match msg.kind {
            SourceKind::Camera => &mut self.camera_retry,
            SourceKind::Microphone => &mut self.mic_retry,
            SourceKind::Speaker => &mut self.speaker_retry,
        };
        let delay = retry.failed(std::time::Instant::now(), rand::random::<f64>());
        tracing::warn!(
            device = ?msg.kind,
            reason = %msg.reason,
            retry_in_ms = delay.as_millis() as u64,
            "device failed; the call goes on and it is retried"
        );
        self.problems.retain(|(k, _)| *k != msg.kind);
        self.problems.push((
            msg.kind,
            format!("{}, retry in {:.1} s", msg.reason, delay.as_secs_f32()),
        ));
        if let Some(graph) = self.graph.as_mut() {
            match msg.kind {
                SourceKind::Camera => {
                    if let Some(capture) = graph.video_capture.take() {
                        drop(capture);
                    }
                }
                SourceKind::Microphone => {
                    graph.audio_capture.take();
                }
                SourceKind::Speaker => {}
            }
        }
        ctx.run_later(delay, move |supervisor, ctx| match msg.kind {
            SourceKind::Camera => supervisor.start_camera(ctx),
            SourceKind::Microphone => supervisor.start_microphone(ctx),
            SourceKind::Speaker => supervisor.start_speaker(ctx),
        });
    }
}

impl Handler<GetStatus> for Supervisor {
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _msg: GetStatus, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.status())
    }
}

impl Handler<Shutdown> for Supervisor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _msg: Shutdown, _ctx: &mut Self::Context) -> Self::Result {
        self.notifier.stopping();
        let session = self.graph.as_ref().map(|g| g.session.clone());
        let playback = self.graph.as_ref().map(|g| g.playback.clone());
        Box::pin(
            async move {
                if let Some(session) = session {
                    let _ =
                        tokio::time::timeout(Duration::from_millis(1500), session.send(Shutdown))
                            .await;
                }
                if let Some(playback) = playback {
                    let _ = playback.send(Shutdown).await;
                    // One speaker period for the thread to notice and close its sink.
                    tokio::time::sleep(Duration::from_millis(60)).await;
                }
            }
            .into_actor(self)
            .map(|_, supervisor, _ctx| {
                // Dropping the addresses stops the captures and the speaker thread (which
                // finalises a WAV sink).
                supervisor.graph = None;
            }),
        )
    }
}

/// Encoder counters, for the watchdog and benchmarks.
impl Supervisor {
    pub fn encoder_stats(&self) -> Arc<EncoderStats> {
        self.encoder_stats.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_source_that_fails_right_after_opening_keeps_backing_off() {
        let mut retry = SourceRetry::new();
        let start = Instant::now();
        let mut delays = Vec::new();
        for i in 0..5u64 {
            let now = start + Duration::from_secs(i);
            retry.opened(now);
            delays.push(retry.failed(now + Duration::from_millis(50), 0.5));
        }
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![500, 1000, 2000, 4000, 8000]);
    }

    #[test]
    fn a_source_that_ran_a_while_retries_quickly_again() {
        let mut retry = SourceRetry::new();
        let start = Instant::now();
        retry.opened(start);
        assert_eq!(retry.failed(start, 0.5), Duration::from_millis(500));
        retry.opened(start);
        assert_eq!(retry.failed(start, 0.5), Duration::from_millis(1000));
        retry.opened(start);
        let later = start + SOURCE_STABLE_AFTER;
        assert_eq!(retry.failed(later, 0.5), Duration::from_millis(500));
        // A failure to open at all (no `opened`) keeps growing.
        assert_eq!(retry.failed(later, 0.5), Duration::from_millis(1000));
    }
}
