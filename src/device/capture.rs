//! `VideoCapture` and `AudioCapture`: each owns one blocking source on its own thread (a
//! camera dequeue or a paced file/test source must never stall an actor's event loop) and
//! only hands what it reads to the encoders.

use super::messages::{FrameReady, RawAudio, SourceFailed, SourceKind};
use super::supervisor::Supervisor;
use super::{AudioEncoder, VideoEncoder};
use crate::media::frame::VideoFrame;
use crate::media::latest::LatestSlot;
use crate::media::source::{AudioSource, VideoSource};
use actix::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Runs a video source and hands each frame to the encoder, latest frame wins.
pub struct VideoCapture {
    source: Option<Box<dyn VideoSource>>,
    slot: LatestSlot<VideoFrame>,
    encoder: Addr<VideoEncoder>,
    supervisor: Addr<Supervisor>,
    stop: Arc<AtomicBool>,
}

impl VideoCapture {
    pub fn new(
        source: Box<dyn VideoSource>,
        slot: LatestSlot<VideoFrame>,
        encoder: Addr<VideoEncoder>,
        supervisor: Addr<Supervisor>,
    ) -> Self {
        VideoCapture {
            source: Some(source),
            slot,
            encoder,
            supervisor,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Actor for VideoCapture {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        let Some(mut source) = self.source.take() else {
            return;
        };
        let slot = self.slot.clone();
        let encoder = self.encoder.clone();
        let supervisor = self.supervisor.clone();
        let stop = self.stop.clone();
        tracing::info!(source = %source.describe(), "camera capture starting");
        let spawned = std::thread::Builder::new()
            .name("roombell-camera".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match source.next_frame() {
                        Ok(frame) => {
                            // Only wake the encoder when it has nothing pending: a frame it has
                            // not taken yet is simply replaced by the newer one.
                            if !slot.put(frame) {
                                encoder.do_send(FrameReady);
                            }
                        }
                        Err(e) => {
                            if !stop.load(Ordering::Relaxed) {
                                supervisor.do_send(SourceFailed {
                                    kind: SourceKind::Camera,
                                    reason: e.to_string(),
                                });
                            }
                            return;
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            self.supervisor.do_send(SourceFailed {
                kind: SourceKind::Camera,
                reason: format!("cannot start the camera thread: {e}"),
            });
        }
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Runs an audio source and sends every 20 ms frame to the encoder.
pub struct AudioCapture {
    source: Option<Box<dyn AudioSource>>,
    encoder: Addr<AudioEncoder>,
    supervisor: Addr<Supervisor>,
    stop: Arc<AtomicBool>,
}

impl AudioCapture {
    pub fn new(
        source: Box<dyn AudioSource>,
        encoder: Addr<AudioEncoder>,
        supervisor: Addr<Supervisor>,
    ) -> Self {
        AudioCapture {
            source: Some(source),
            encoder,
            supervisor,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Actor for AudioCapture {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        let Some(mut source) = self.source.take() else {
            return;
        };
        let encoder = self.encoder.clone();
        let supervisor = self.supervisor.clone();
        let stop = self.stop.clone();
        tracing::info!(source = %source.describe(), "microphone capture starting");
        let spawned = std::thread::Builder::new()
            .name("roombell-mic".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match source.read_frame() {
                        Ok(frame) => encoder.do_send(RawAudio(frame)),
                        Err(e) => {
                            if !stop.load(Ordering::Relaxed) {
                                supervisor.do_send(SourceFailed {
                                    kind: SourceKind::Microphone,
                                    reason: e.to_string(),
                                });
                            }
                            return;
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            self.supervisor.do_send(SourceFailed {
                kind: SourceKind::Microphone,
                reason: format!("cannot start the microphone thread: {e}"),
            });
        }
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
