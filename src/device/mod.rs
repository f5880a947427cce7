//! The device daemon: a doorbell that joins its room on start and stays there.
//!
//! ```text
//!  VideoCapture ─FrameReady─▶ VideoEncoder ─EncodedVideoFrame─▶ PeerLink ──RTP──▶ room
//!  (v4l2|test|y4m)              (openh264)  ◀─KeyframeRequest──┘   ▲
//!  AudioCapture ─RawAudio───▶ AudioEncoder ─EncodedAudioPacket─────┘   PublisherReady
//!  (alsa|tone|wav)              (opus)                                 │
//!  room ──RTP──▶ subscription ─RemoteAudio─▶ Playback ─▶ speaker   RoomSession ◀─RoomEvent─ client
//!                                           (jitter buffer, mix)  (join, publish, subscribe,
//!                                                                   reconnect with backoff)
//!  Supervisor: builds all of it from config, reopens failed devices, leads the shutdown.
//! ```
//!
//! Every message is in [`messages`]. Actors only move messages; the logic they drive is in
//! plain modules: the client state machine, [`backoff`], [`playout`], and `crate::media`.

pub mod backend;
pub mod backoff;
pub mod bitrate;
pub mod capture;
pub mod certificate;
pub mod check;
pub mod config;
pub mod encoder;
pub mod messages;
pub mod notify;
pub mod peer_link;
pub mod play;
pub mod playback;
pub mod playout;
pub mod session;
pub mod supervisor;

pub use encoder::{AudioEncoder, VideoEncoder};
pub use peer_link::PeerLink;
pub use playback::Playback;
pub use supervisor::Supervisor;

use crate::rtc_peer::PeerOptions;
use crate::runtime::MediaRuntime;
use actix::prelude::*;
use config::DaemonConfig;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static PROCESS_START: OnceLock<Instant> = OnceLock::new();

/// Marks the process start; call first thing in `main` so start-up times are honest.
pub fn mark_process_start() {
    PROCESS_START.get_or_init(Instant::now);
}

/// Time since `mark_process_start` (or since first asked).
pub fn since_process_start() -> Duration {
    PROCESS_START.get_or_init(Instant::now).elapsed()
}

/// The H.264 encoder settings the config asks for.
pub fn encoder_config(config: &DaemonConfig) -> crate::media::h264::H264EncoderConfig {
    let encoder = &config.encoder;
    crate::media::h264::H264EncoderConfig {
        width: config.video.width,
        height: config.video.height,
        fps: config.video.fps,
        bitrate_bps: encoder.bitrate_kbps * 1000,
        min_bitrate_bps: encoder.min_bitrate_kbps * 1000,
        max_bitrate_bps: encoder.max_bitrate_kbps * 1000,
        gop_frames: encoder.gop_frames,
        min_keyframe_interval: Duration::from_millis(encoder.min_keyframe_interval_ms),
    }
}

/// Why the device could not start.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("cannot start the media runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Certificate(#[from] certificate::CertificateError),
}

/// A running device.
pub struct Device {
    supervisor: Addr<Supervisor>,
    _media: MediaRuntime,
}

impl Device {
    /// Builds and starts the actor graph; must run inside an actix system.
    pub fn start(config: DaemonConfig) -> Result<Device, DeviceError> {
        let media = MediaRuntime::new(2).map_err(DeviceError::Runtime)?;
        let handle = media
            .handle()
            .ok_or_else(|| DeviceError::Runtime(std::io::Error::other("media runtime is gone")))?;
        let certificate = certificate::load_or_create(&config.device.state_dir)?;
        let peer = PeerOptions {
            bind_ip: config.device.media_ip,
            certificate: Some(certificate),
        };
        let supervisor = Supervisor::new(config, handle, peer).start();
        Ok(Device {
            supervisor,
            _media: media,
        })
    }

    /// The status line and counters.
    pub async fn status(&self) -> Option<messages::DeviceStatus> {
        self.supervisor.send(messages::GetStatus).await.ok()
    }

    /// Leaves the room and stops the pipeline (bounded: about 1.5 s at most).
    pub async fn shutdown(self) {
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            self.supervisor.send(messages::Shutdown),
        )
        .await;
    }
}
