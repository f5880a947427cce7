//! `Playback`: remote talkers' Opus in, the speaker out. Packets arrive as messages; the sink
//! runs on its own thread, paced by the sound card, and pulls one mixed frame per period.

use super::messages::{RemoteAudio, Shutdown, SourceFailed, SourceKind, StartSpeaker, TalkerGone};
use super::playout::{PlayoutMixer, PlayoutStats};
use super::supervisor::Supervisor;
use crate::media::source::{AudioSink, SourceError};
use actix::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// A speaker write that blocks this long (five 20 ms periods) is a stall worth logging.
const SPEAKER_STALL: std::time::Duration = std::time::Duration::from_millis(100);

pub struct Playback {
    mixer: Arc<Mutex<PlayoutMixer>>,
    supervisor: Addr<Supervisor>,
    /// Tells the current speaker thread to end (a new speaker gets a new flag).
    stop: Arc<AtomicBool>,
}

fn lock(mixer: &Mutex<PlayoutMixer>) -> MutexGuard<'_, PlayoutMixer> {
    // The mixer holds no invariant a panic elsewhere could break halfway.
    mixer.lock().unwrap_or_else(|e| e.into_inner())
}

impl Playback {
    /// Playback without a speaker yet; `StartSpeaker` gives it one.
    pub fn new(supervisor: Addr<Supervisor>) -> Self {
        Playback {
            mixer: Arc::new(Mutex::new(PlayoutMixer::default())),
            supervisor,
            stop: Arc::new(AtomicBool::new(false)),
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

/// What a speaker thread did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SpeakerCounters {
    /// 20 ms frames written to the sink.
    pub frames_written: u64,
    /// Writes that blocked longer than [`SPEAKER_STALL`].
    pub stalls: u64,
}

/// Plays the mixer into `sink`, one 20 ms frame per write (the sink's blocking sets the pace),
/// until `stop` is set. Used by the `Playback` actor's speaker thread and by `roombell play`.
/// An error is the sink failing for good (unplugged, gone); underruns are recovered inside it.
pub fn play_mixer(
    sink: &mut dyn AudioSink,
    mixer: &Mutex<PlayoutMixer>,
    stop: &AtomicBool,
) -> Result<SpeakerCounters, SourceError> {
    let mut counters = SpeakerCounters::default();
    while !stop.load(Ordering::Relaxed) {
        let frame = lock(mixer).next_frame(Instant::now());
        let writing = Instant::now();
        sink.write_frame(&frame)?;
        counters.frames_written += 1;
        // A write normally blocks about one period; far longer means the sink stalled (ALSA
        // counts and logs its own xruns as it recovers them).
        let took = writing.elapsed();
        if took > SPEAKER_STALL {
            counters.stalls += 1;
            tracing::warn!(
                stalls = counters.stalls,
                took_ms = took.as_millis() as u64,
                xruns = sink.xruns(),
                "speaker stalled; playing on"
            );
        }
    }
    Ok(counters)
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
        let supervisor = self.supervisor.clone();
        tracing::info!(sink = %sink.describe(), "speaker starting");
        let spawned = std::thread::Builder::new()
            .name("roombell-speaker".into())
            .spawn(move || {
                if let Err(e) = play_mixer(sink.as_mut(), &mixer, &stop) {
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
