//! The audio jitter buffer, driven by what the network decides: sequence numbers, RTP
//! timestamps, payloads and arrival times all come from the input, interleaved with the 20 ms
//! playout ticks. Invariants: every played packet was pushed, nothing is played twice, and the
//! counters add up.
//!
//! Input: 4-byte records `[op, seq_delta (i8), ts_jitter (i8), advance_ms]`. `op` bit 0: push
//! (1) or pop (0); bits 1..: payload length for a push.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use roombell::media::jitter::{JitterBuffer, JitterConfig, Playout};
use std::collections::HashSet;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let mut buffer = JitterBuffer::new(JitterConfig::default());
    let mut now = Instant::now();
    let mut seq: u16 = 0;
    let mut timestamp: u32 = 0;
    let mut pushes: u64 = 0;
    let mut pops: u64 = 0;
    let mut played = HashSet::new();
    for (index, record) in data.chunks_exact(4).enumerate() {
        let [op, seq_delta, ts_jitter, advance_ms] = [record[0], record[1], record[2], record[3]];
        now += Duration::from_millis(u64::from(advance_ms));
        if op & 1 == 1 {
            let delta = i16::from(seq_delta as i8);
            seq = seq.wrapping_add_signed(delta);
            // 960 samples per 20 ms at 48 kHz, give or take what the sender's clock did.
            timestamp = timestamp
                .wrapping_add_signed(i32::from(delta) * 960)
                .wrapping_add_signed(i32::from(ts_jitter as i8));
            // A unique payload per push, so a packet played twice is visible.
            let mut payload = u32::try_from(index)
                .unwrap_or(u32::MAX)
                .to_be_bytes()
                .to_vec();
            payload.resize(4 + usize::from(op >> 1), 0xAB);
            buffer.push(seq, timestamp, Bytes::from(payload), now);
            pushes += 1;
        } else {
            pops += 1;
            if let Playout::Packet(payload) = buffer.pop(now) {
                assert!(played.insert(payload.clone()), "a packet was played twice");
            }
        }
        let _ = buffer.target_delay();
        let _ = buffer.jitter();
    }
    let counters = buffer.counters();
    assert_eq!(counters.received, pushes);
    assert_eq!(counters.played, played.len() as u64);
    assert!(counters.played + counters.lost + counters.stalls_to_grow <= pops);
    assert!(counters.played <= pushes);
    assert!(buffer.buffered_packets() as u64 <= pushes);
});
