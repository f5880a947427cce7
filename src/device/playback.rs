//! `Playback`: remote talkers' Opus in, the speaker out. Packets arrive as messages; the sink
//! runs on its own thread, paced by the sound card, and pulls one mixed frame per period.

use super::messages::{RemoteAudio, Shutdown, SourceFailed, SourceKind, StartSpeaker, TalkerGone};
use super::playout::{PlayoutMixer, PlayoutStats};
use super::supervisor::Supervisor;
use crate::media::source::{AudioSink, SourceError};
use actix::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
#[cfg(test)]
use std::time::Duration;
use std::time::Instant;

/// A speaker write that blocks this long (five 20 ms periods) is a stall worth logging.
const SPEAKER_STALL: std::time::Duration = std::time::Duration::from_millis(100);

pub struct Playback {
    mixer: Arc<Mutex<PlayoutMixer>>,
    supervisor: Addr<Supervisor>,
    /// Tells the current speaker thread to end (a new speaker gets a new flag).
    stop: Arc<AtomicBool>,
    health: Arc<SpeakerHealth>,
}

pub(crate) fn lock(mixer: &Mutex<PlayoutMixer>) -> MutexGuard<'_, PlayoutMixer> {
    // The mixer holds no invariant a panic elsewhere could break halfway.
    mixer.lock().unwrap_or_else(|e| e.into_inner())
}

impl Playback {
    /// Playback without a speaker yet; `StartSpeaker` gives it one. Every speaker it is given
    /// counts into `health`.
    pub fn new(supervisor: Addr<Supervisor>, health: Arc<SpeakerHealth>) -> Self {
        Playback {
            mixer: Arc::new(Mutex::new(PlayoutMixer::default())),
            supervisor,
            stop: Arc::new(AtomicBool::new(false)),
            health,
        }
    }

    /// Counters of what was played.
    pub fn stats_handle(&self) -> Arc<Mutex<PlayoutMixer>> {
        self.mixer.clone()
    }
}

/// Reads playout counters from a handle.
pub fn playout_stats(mixer: &Mutex<PlayoutMixer>) -> PlayoutStats {
    lock(mixer).stats()
}

/// How the speaker has fared since the device started, across reopened sinks: written by the
/// speaker thread, read by the supervisor for the status line and by `roombell play`.
#[derive(Debug, Default)]
pub struct SpeakerHealth {
    frames_written: AtomicU64,
    xruns: AtomicU64,
    stalls: AtomicU64,
}

impl SpeakerHealth {
    /// 20 ms frames written to a sink.
    pub fn frames_written(&self) -> u64 {
        self.frames_written.load(Ordering::Relaxed)
    }

    /// Underruns the sinks recovered from (ALSA's xruns).
    pub fn xruns(&self) -> u64 {
        self.xruns.load(Ordering::Relaxed)
    }

    /// Writes that blocked longer than [`SPEAKER_STALL`].
    pub fn stalls(&self) -> u64 {
        self.stalls.load(Ordering::Relaxed)
    }

    /// For the status line: `None` while the speaker has had no trouble.
    pub fn trouble(&self) -> Option<String> {
        let (xruns, stalls) = (self.xruns(), self.stalls());
        (xruns > 0 || stalls > 0).then(|| {
            format!(
                "{xruns} underrun{} recovered, {stalls} stall{} over {} ms",
                if xruns == 1 { "" } else { "s" },
                if stalls == 1 { "" } else { "s" },
                SPEAKER_STALL.as_millis()
            )
        })
    }
}

/// Plays the mixer into `sink`, one 20 ms frame per write (the sink's blocking sets the pace),
/// until `stop` is set, counting into `health`. Used by the `Playback` actor's speaker thread
/// and by `roombell play`. An error is the sink failing for good (unplugged, gone); underruns
/// are recovered inside it.
pub fn play_mixer(
    sink: &mut dyn AudioSink,
    mixer: &Mutex<PlayoutMixer>,
    stop: &AtomicBool,
    health: &SpeakerHealth,
) -> Result<(), SourceError> {
    // A sink counts its own xruns from 0; the health counts every sink's.
    let mut sink_xruns = sink.xruns();
    while !stop.load(Ordering::Relaxed) {
        let frame = lock(mixer).next_frame(Instant::now());
        let writing = Instant::now();
        sink.write_frame(&frame)?;
        health.frames_written.fetch_add(1, Ordering::Relaxed);
        let xruns = sink.xruns();
        if xruns > sink_xruns {
            health
                .xruns
                .fetch_add(xruns - sink_xruns, Ordering::Relaxed);
            sink_xruns = xruns;
        }
        // A write normally blocks about one period; far longer means the sink stalled (ALSA
        // also logs each xrun as it recovers it).
        let took = writing.elapsed();
        if took > SPEAKER_STALL {
            let stalls = health.stalls.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(
                stalls,
                took_ms = took.as_millis() as u64,
                xruns = health.xruns(),
                "speaker stalled; playing on"
            );
        }
    }
    Ok(())
}

impl Actor for Playback {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Handler<StartSpeaker> for Playback {
    type Result = ();

    fn handle(&mut self, msg: StartSpeaker, _ctx: &mut Self::Context) {
        self.stop.store(true, Ordering::Relaxed);
        self.stop = Arc::new(AtomicBool::new(false));
        let mut sink = msg.0;
        let mixer = self.mixer.clone();
        let stop = self.stop.clone();
        let health = self.health.clone();
        let supervisor = self.supervisor.clone();
        tracing::info!(sink = %sink.describe(), "speaker starting");
        let spawned = std::thread::Builder::new()
            .name("roombell-speaker".into())
            .spawn(move || {
                if let Err(e) = play_mixer(sink.as_mut(), &mixer, &stop, &health) {
                    supervisor.do_send(SourceFailed {
                        kind: SourceKind::Speaker,
                        reason: e.to_string(),
                    });
                    return;
                }
                if let Err(e) = sink.finish() {
                    tracing::warn!(error = %e, "speaker did not close cleanly");
                }
            });
        if let Err(e) = spawned {
            self.supervisor.do_send(SourceFailed {
                kind: SourceKind::Speaker,
                reason: format!("cannot start the speaker thread: {e}"),
            });
        }
    }
}

impl Handler<RemoteAudio> for Playback {
    type Result = ();

    fn handle(&mut self, msg: RemoteAudio, _ctx: &mut Self::Context) {
        lock(&self.mixer).push(
            &msg.user_id,
            msg.sequence_number,
            msg.rtp_timestamp,
            msg.payload,
            Instant::now(),
        );
    }
}

impl Handler<TalkerGone> for Playback {
    type Result = ();

    fn handle(&mut self, msg: TalkerGone, _ctx: &mut Self::Context) {
        lock(&self.mixer).remove(&msg.user_id);
    }
}

impl Handler<Shutdown> for Playback {
    type Result = ();

    /// Ends the speaker thread, which finalises its sink (a WAV file gets its final header).
    fn handle(&mut self, _msg: Shutdown, _ctx: &mut Self::Context) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::frame::AudioFrame;

    /// A sink that underruns on some writes and blocks long on others, then stops the loop.
    struct TroubledSink {
        writes: u64,
        xruns: u64,
        stop: Arc<AtomicBool>,
    }

    impl AudioSink for TroubledSink {
        fn write_frame(&mut self, _frame: &AudioFrame) -> Result<(), SourceError> {
            self.writes += 1;
            if self.writes % 3 == 0 {
                self.xruns += 1;
            }
            if self.writes == 4 {
                std::thread::sleep(SPEAKER_STALL + Duration::from_millis(20));
            }
            if self.writes == 10 {
                self.stop.store(true, Ordering::Relaxed);
            }
            Ok(())
        }
        fn xruns(&self) -> u64 {
            self.xruns
        }
        fn describe(&self) -> String {
            "troubled".into()
        }
    }

    #[test]
    fn the_speaker_loop_counts_every_sinks_underruns_and_stalls() {
        let health = SpeakerHealth::default();
        assert_eq!(health.trouble(), None);
        let mixer = Mutex::new(PlayoutMixer::default());
        for _ in 0..2 {
            // A reopened sink counts its xruns from 0 again; the health keeps the total.
            let stop = Arc::new(AtomicBool::new(false));
            let mut sink = TroubledSink {
                writes: 0,
                xruns: 0,
                stop: stop.clone(),
            };
            play_mixer(&mut sink, &mixer, &stop, &health).expect("plays");
        }
        assert_eq!(health.frames_written(), 20);
        assert_eq!(health.xruns(), 6);
        assert_eq!(health.stalls(), 2);
        assert_eq!(
            health.trouble().as_deref(),
            Some("6 underruns recovered, 2 stalls over 100 ms")
        );
    }
}
