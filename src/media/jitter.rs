//! Adaptive jitter buffer for one remote talker's Opus packets.
//!
//! A sans-IO state machine: the playback actor calls [`JitterBuffer::push`] as RTP packets
//! arrive and [`JitterBuffer::pop`] once per 20 ms audio tick, then decodes what it gets. Every
//! packet is assumed to carry one 20 ms frame (what our encoder and browsers send).
//!
//! How the delay adapts:
//! - Inter-arrival jitter `J` is measured as in RFC 3550 §6.4.1 (mean deviation of transit time
//!   between consecutive packets, smoothed by 1/16), and the target delay is
//!   `frame + 3·J`, clamped to `[min_delay, max_delay]` and rounded up to whole frames.
//! - Playback starts (and restarts after an underrun) once the buffer holds the target delay's
//!   worth of frames, or its oldest packet has waited the target delay.
//! - While playing, the buffer level (frames from the next one to play up to the newest
//!   received) is watched over a window of ticks. If even its minimum stayed above target + 1,
//!   one frame is dropped to cut latency; if even its maximum stayed below target, one tick is
//!   left empty so the buffer can fill. At most one adjustment per window keeps it gentle.
//! - An underrun (nothing left to play) returns [`Playout::Empty`] and rebuffers, so the delay
//!   grows by exactly what the network took.
//! - A sequence jump larger than jitter could explain (a sender restart, a long outage)
//!   restarts the buffer once the next packet confirms it; a lone stray packet is dropped.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// RTP clock rate of Opus, whatever the audio's actual rate.
const RTP_CLOCK_HZ: f64 = 48_000.0;

/// Tuning of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// Smallest target delay.
    pub min_delay: Duration,
    /// Largest target delay.
    pub max_delay: Duration,
    /// Audio carried by one packet.
    pub frame: Duration,
    /// Ticks over which the buffer level is watched before shrinking or growing it.
    pub adaptation_ticks: u32,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            frame: Duration::from_millis(20),
            adaptation_ticks: 50,
        }
    }
}

/// What to play for this talker in the current 20 ms tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Decode and play this packet.
    Packet(Bytes),
    /// The packet for this tick is missing: decode the in-band FEC of `next_has_fec` (the
    /// following packet) if present, otherwise run packet-loss concealment.
    Lost {
        /// The packet after the lost one, if it has arrived.
        next_has_fec: Option<Bytes>,
    },
    /// Nothing to play: not started yet, an underrun or end of a talk spurt, or the buffer is
    /// growing its delay. Play silence (or conceal once, if the talker was just speaking).
    Empty,
}

/// What happened to packets so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterCounters {
    /// Packets pushed, including those dropped below.
    pub received: u64,
    /// Packets returned as [`Playout::Packet`].
    pub played: u64,
    /// Ticks returned as [`Playout::Lost`].
    pub lost: u64,
    /// Packets that arrived after their tick had passed (or had already played), dropped.
    pub late: u64,
    /// Packets already in the buffer, dropped.
    pub duplicates: u64,
    /// Times the buffer ran dry while playing (includes the end of each talk spurt).
    pub underruns: u64,
    /// Times a confirmed sequence-number jump restarted the buffer.
    pub resyncs: u64,
    /// Packets far from the stream's sequence that no successor confirmed as a jump, dropped.
    pub strays: u64,
    /// Frames skipped to reduce the delay.
    pub dropped_to_shrink: u64,
    /// Ticks left empty to increase the delay.
    pub stalls_to_grow: u64,
}

#[derive(Debug, Clone)]
struct Stored {
    payload: Bytes,
    arrival: Instant,
}

/// Buffers one talker's packets and hands them out in sequence, one per tick.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    config: JitterConfig,
    /// Keyed by sequence number extended past 16 bits, so wrap-around orders correctly.
    packets: BTreeMap<i64, Stored>,
    /// Next sequence number to play; `None` until playback first starts (or after a resync).
    next_seq: Option<i64>,
    highest_seq: Option<i64>,
    playing: bool,
    /// Arrival time and RTP timestamp of the last accepted packet, for the jitter estimate.
    last_arrival: Option<(Instant, u32)>,
    jitter_ms: f64,
    target_frames: u32,
    window: LevelWindow,
    /// A packet far from the stream, waiting for its successor to confirm a jump.
    jump_candidate: Option<JumpCandidate>,
    counters: JitterCounters,
}

#[derive(Debug, Clone)]
struct JumpCandidate {
    seq: u16,
    rtp_timestamp: u32,
    payload: Bytes,
    arrival: Instant,
}

/// Minimum and maximum buffer level seen over the current adaptation window.
#[derive(Debug, Clone, Copy)]
struct LevelWindow {
    ticks: u32,
    min: i64,
    max: i64,
}

impl LevelWindow {
    const EMPTY: Self = Self {
        ticks: 0,
        min: i64::MAX,
        max: i64::MIN,
    };
}

impl JitterBuffer {
    /// An empty buffer that will start at the minimum delay.
    pub fn new(config: JitterConfig) -> Self {
        let mut buffer = Self {
            config,
            packets: BTreeMap::new(),
            next_seq: None,
            highest_seq: None,
            playing: false,
            last_arrival: None,
            jitter_ms: 0.0,
            target_frames: 1,
            window: LevelWindow::EMPTY,
            jump_candidate: None,
            counters: JitterCounters::default(),
        };
        buffer.update_target();
        buffer
    }

    /// Accepts one RTP packet's Opus payload.
    pub fn push(&mut self, seq: u16, rtp_timestamp: u32, payload: Bytes, arrival: Instant) {
        self.counters.received += 1;
        let ext = self.extend(seq);
        if self.is_far(ext) {
            self.handle_far_packet(seq, rtp_timestamp, payload, arrival);
            return;
        }
        if self.jump_candidate.take().is_some() {
            // The stream carried on where it was: the far packet was a stray.
            self.counters.strays += 1;
        }
        if self.next_seq.is_some_and(|next| ext < next) {
            self.counters.late += 1;
            return;
        }
        self.accept(ext, rtp_timestamp, payload, arrival);
    }

    /// What to play this tick; call once per frame duration.
    pub fn pop(&mut self, now: Instant) -> Playout {
        if !self.playing {
            if !self.ready_to_start(now) {
                return Playout::Empty;
            }
            self.playing = true;
            self.window = LevelWindow::EMPTY;
            if self.next_seq.is_none() {
                self.next_seq = self.packets.keys().next().copied();
            }
        }
        let (Some(mut next), Some(highest)) = (self.next_seq, self.highest_seq) else {
            return Playout::Empty;
        };
        let level = highest - next + 1;
        if level <= 0 {
            self.playing = false;
            self.counters.underruns += 1;
            return Playout::Empty;
        }

        match self.adapt(level) {
            Adjustment::Grow => {
                self.counters.stalls_to_grow += 1;
                return Playout::Empty;
            }
            Adjustment::Shrink => {
                self.packets.remove(&next);
                next += 1;
                self.counters.dropped_to_shrink += 1;
            }
            Adjustment::None => {}
        }

        self.next_seq = Some(next + 1);
        match self.packets.remove(&next) {
            Some(stored) => {
                self.counters.played += 1;
                Playout::Packet(stored.payload)
            }
            None => {
                self.counters.lost += 1;
                Playout::Lost {
                    next_has_fec: self.packets.get(&(next + 1)).map(|s| s.payload.clone()),
                }
            }
        }
    }

    /// The delay the buffer currently aims for.
    pub fn target_delay(&self) -> Duration {
        self.config.frame * self.target_frames
    }

    /// Smoothed inter-arrival jitter (RFC 3550).
    pub fn jitter(&self) -> Duration {
        Duration::from_secs_f64(self.jitter_ms / 1000.0)
    }

    /// Packets waiting to be played.
    pub fn buffered_packets(&self) -> usize {
        self.packets.len()
    }

    /// What happened so far.
    pub fn counters(&self) -> JitterCounters {
        self.counters
    }

    /// Turns a 16-bit sequence number into one that keeps counting past wrap-around, taking
    /// the value closest to the newest packet seen.
    fn extend(&self, seq: u16) -> i64 {
        match self.highest_seq {
            None => i64::from(seq),
            Some(highest) => highest + i64::from(seq.wrapping_sub(highest as u16) as i16),
        }
    }

    /// Whether `ext` is too far from the playout point (or the newest packet, before playback
    /// starts) to be jitter: a sender restart, a long outage, or a stray packet.
    fn is_far(&self, ext: i64) -> bool {
        let limit = self.max_ahead_frames();
        match (self.next_seq, self.highest_seq) {
            (Some(next), _) => ext >= next + limit || ext < next - limit,
            (None, Some(highest)) => (ext - highest).abs() >= limit,
            (None, None) => false,
        }
    }

    /// A far packet is held until its successor confirms the jump (as RFC 3550 A.1 does), so
    /// one stray packet cannot flush a healthy buffer.
    fn handle_far_packet(
        &mut self,
        seq: u16,
        rtp_timestamp: u32,
        payload: Bytes,
        arrival: Instant,
    ) {
        let confirmed = match self.jump_candidate.take() {
            Some(previous) if previous.seq.wrapping_add(1) == seq => previous,
            other => {
                if other.is_some() {
                    self.counters.strays += 1;
                }
                self.jump_candidate = Some(JumpCandidate {
                    seq,
                    rtp_timestamp,
                    payload,
                    arrival,
                });
                return;
            }
        };
        // The old state would only produce a burst of losses, or drop every new packet as late.
        self.packets.clear();
        self.next_seq = None;
        self.highest_seq = None;
        self.playing = false;
        self.last_arrival = None;
        self.window = LevelWindow::EMPTY;
        self.counters.resyncs += 1;
        let first = i64::from(confirmed.seq);
        self.accept(
            first,
            confirmed.rtp_timestamp,
            confirmed.payload,
            confirmed.arrival,
        );
        self.accept(first + 1, rtp_timestamp, payload, arrival);
    }

    /// Stores a packet that belongs to the stream (not late, not far).
    fn accept(&mut self, ext: i64, rtp_timestamp: u32, payload: Bytes, arrival: Instant) {
        if self.packets.contains_key(&ext) {
            self.counters.duplicates += 1;
            return;
        }
        self.measure_jitter(rtp_timestamp, arrival);
        self.packets.insert(ext, Stored { payload, arrival });
        self.highest_seq = Some(self.highest_seq.map_or(ext, |highest| highest.max(ext)));
    }

    /// Packets further than this from the playout point mean a jump, not jitter.
    fn max_ahead_frames(&self) -> i64 {
        2 * i64::from(self.frames_in(self.config.max_delay)) + 10
    }

    fn frames_in(&self, delay: Duration) -> u32 {
        let frame = self.config.frame.as_micros().max(1);
        delay.as_micros().div_ceil(frame).clamp(1, 1000) as u32
    }

    fn ready_to_start(&self, now: Instant) -> bool {
        let Some(oldest_arrival) = self.packets.values().map(|s| s.arrival).min() else {
            return false;
        };
        let first = self
            .next_seq
            .or_else(|| self.packets.keys().next().copied());
        let level = match (first, self.highest_seq) {
            (Some(first), Some(highest)) => highest - first + 1,
            _ => 0,
        };
        level >= i64::from(self.target_frames)
            || now.saturating_duration_since(oldest_arrival) >= self.target_delay()
    }

    /// RFC 3550 interarrival jitter, in milliseconds.
    fn measure_jitter(&mut self, rtp_timestamp: u32, arrival: Instant) {
        if let Some((last_arrival, last_timestamp)) = self.last_arrival {
            let arrival_ms = signed_ms(arrival, last_arrival);
            let media_ms = f64::from(rtp_timestamp.wrapping_sub(last_timestamp) as i32)
                / RTP_CLOCK_HZ
                * 1000.0;
            // One wild outlier (a sender clock jump) must not pin the target at its maximum.
            let cap = self.config.max_delay.as_secs_f64() * 1000.0;
            let deviation = (arrival_ms - media_ms).abs().min(cap);
            self.jitter_ms += (deviation - self.jitter_ms) / 16.0;
        }
        self.last_arrival = Some((arrival, rtp_timestamp));
        self.update_target();
    }

    fn update_target(&mut self) {
        let wanted = self.config.frame.as_secs_f64() + 3.0 * self.jitter_ms / 1000.0;
        let wanted = Duration::from_secs_f64(wanted).clamp(
            self.config.min_delay,
            self.config.max_delay.max(self.config.min_delay),
        );
        self.target_frames = self.frames_in(wanted);
    }

    /// Tracks the level over the window and decides, once per window, whether to adjust.
    fn adapt(&mut self, level: i64) -> Adjustment {
        let window = &mut self.window;
        window.ticks += 1;
        window.min = window.min.min(level);
        window.max = window.max.max(level);
        if window.ticks < self.config.adaptation_ticks {
            return Adjustment::None;
        }
        let target = i64::from(self.target_frames);
        let decision = if window.min > target + 1 {
            Adjustment::Shrink
        } else if window.max < target {
            Adjustment::Grow
        } else {
            Adjustment::None
        };
        self.window = LevelWindow::EMPTY;
        decision
    }
}

enum Adjustment {
    None,
    Shrink,
    Grow,
}

/// `a - b` in milliseconds, negative when `a` is earlier.
fn signed_ms(a: Instant, b: Instant) -> f64 {
    match a.checked_duration_since(b) {
        Some(d) => d.as_secs_f64() * 1000.0,
        None => -(b.saturating_duration_since(a).as_secs_f64() * 1000.0),
    }
}

#[cfg(test)]
mod tests;
