//! Each test feeds a packet schedule (arrival times in ms) and ticks every 20 ms, as the
//! playback actor would, then checks what came out.

use super::*;

/// One tick's outcome, with payloads turned back into the sequence numbers they carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Play(u16),
    Lost(Option<u16>),
    Empty,
}

/// A packet to deliver: sequence number, RTP timestamp, arrival in ms after the start.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    seq: u16,
    timestamp: u32,
    at_ms: u64,
}

fn payload(seq: u16) -> Bytes {
    Bytes::copy_from_slice(&seq.to_be_bytes())
}

fn seq_of(payload: &Bytes) -> u16 {
    u16::from_be_bytes([payload[0], payload[1]])
}

/// `count` packets from `first_seq`, one per 20 ms from `start_ms`, each delayed by `extra(i)`.
fn stream(first_seq: u16, count: u16, start_ms: u64, extra: impl Fn(u16) -> u64) -> Vec<Arrival> {
    (0..count)
        .map(|i| Arrival {
            seq: first_seq.wrapping_add(i),
            timestamp: u32::from(i) * 960,
            at_ms: start_ms + 20 * u64::from(i) + extra(i),
        })
        .collect()
}

/// Delivers `arrivals` and ticks `ticks` times, every 20 ms from `phase_ms`.
fn simulate(
    buffer: &mut JitterBuffer,
    arrivals: &[Arrival],
    ticks: u64,
    phase_ms: u64,
) -> Vec<Out> {
    let start = Instant::now();
    let mut pending = arrivals.to_vec();
    pending.sort_by_key(|a| a.at_ms);
    let mut pending = pending.into_iter().peekable();
    let mut outs = Vec::new();
    for tick in 0..ticks {
        let now_ms = phase_ms + 20 * tick;
        while let Some(a) = pending.next_if(|a| a.at_ms <= now_ms) {
            buffer.push(
                a.seq,
                a.timestamp,
                payload(a.seq),
                start + Duration::from_millis(a.at_ms),
            );
        }
        outs.push(match buffer.pop(start + Duration::from_millis(now_ms)) {
            Playout::Packet(p) => Out::Play(seq_of(&p)),
            Playout::Lost { next_has_fec } => Out::Lost(next_has_fec.as_ref().map(seq_of)),
            Playout::Empty => Out::Empty,
        });
    }
    outs
}

/// The outcomes between the first and the last non-empty tick.
fn trimmed(outs: &[Out]) -> Vec<Out> {
    let first = outs.iter().position(|o| *o != Out::Empty).unwrap_or(0);
    let last = outs
        .iter()
        .rposition(|o| *o != Out::Empty)
        .map_or(0, |i| i + 1);
    outs[first..last.max(first)].to_vec()
}

/// The outcomes without the empty ticks (start-up, underruns, stalls that grow the delay).
fn non_empty(outs: &[Out]) -> Vec<Out> {
    outs.iter().copied().filter(|o| *o != Out::Empty).collect()
}

fn plays(seqs: impl IntoIterator<Item = u16>) -> Vec<Out> {
    seqs.into_iter().map(Out::Play).collect()
}

fn with_min_delay(ms: u64) -> JitterBuffer {
    JitterBuffer::new(JitterConfig {
        min_delay: Duration::from_millis(ms),
        ..JitterConfig::default()
    })
}

#[test]
fn nothing_pushed_means_empty() {
    let mut buffer = JitterBuffer::new(JitterConfig::default());
    assert_eq!(buffer.pop(Instant::now()), Playout::Empty);
    assert_eq!(buffer.target_delay(), Duration::from_millis(20));
}

#[test]
fn in_order_packets_play_in_order() {
    let mut buffer = JitterBuffer::new(JitterConfig::default());
    let outs = simulate(&mut buffer, &stream(0, 100, 0, |_| 0), 110, 10);
    assert_eq!(trimmed(&outs), plays(0..100));
    let counters = buffer.counters();
    assert_eq!((counters.played, counters.lost, counters.late), (100, 0, 0));
    assert_eq!(counters.underruns, 1, "the end of the stream");
}

#[test]
fn reordered_packets_within_a_tick_play_in_order() {
    let mut buffer = JitterBuffer::new(JitterConfig::default());
    // Odd packets overtake even ones, both arriving before the tick that needs them.
    let mut arrivals = stream(0, 100, 0, |i| if i % 2 == 0 { 12 } else { 0 });
    for a in arrivals.iter_mut().filter(|a| a.seq % 2 == 1) {
        a.at_ms -= 10;
    }
    let outs = simulate(&mut buffer, &arrivals, 110, 15);
    // Reordering reads as jitter, so the buffer may also stall a tick to grow its delay.
    assert_eq!(non_empty(&outs), plays(0..100));
    assert_eq!(buffer.counters().lost, 0);
}

#[test]
fn reordered_packets_across_ticks_play_in_order_with_enough_delay() {
    let mut buffer = with_min_delay(80);
    // Each even packet arrives 30 ms late, after the odd packet that follows it.
    let outs = simulate(
        &mut buffer,
        &stream(0, 100, 0, |i| if i % 2 == 0 { 30 } else { 0 }),
        120,
        5,
    );
    assert_eq!(non_empty(&outs), plays(0..100));
    assert_eq!(buffer.counters().lost, 0);
}

#[test]
fn duplicates_are_dropped_and_counted() {
    let mut buffer = JitterBuffer::new(JitterConfig::default());
    let mut arrivals = stream(0, 50, 0, |_| 0);
    arrivals.extend(stream(0, 50, 1, |_| 0));
    let outs = simulate(&mut buffer, &arrivals, 60, 10);
    assert_eq!(trimmed(&outs), plays(0..50));
    assert_eq!(buffer.counters().duplicates, 50);
    assert_eq!(buffer.counters().received, 100);
}

#[test]
fn a_lost_packet_offers_the_next_one_for_fec() {
    let mut buffer = with_min_delay(60);
    let arrivals: Vec<_> = stream(0, 30, 0, |_| 0)
        .into_iter()
        .filter(|a| a.seq != 10)
        .collect();
    let outs = simulate(&mut buffer, &arrivals, 40, 5);
    let mut expected = plays(0..10);
    expected.push(Out::Lost(Some(11)));
    expected.extend(plays(11..30));
    assert_eq!(trimmed(&outs), expected);
    assert_eq!(buffer.counters().lost, 1);
}

#[test]
fn a_loss_without_a_following_packet_offers_no_fec() {
    let mut buffer = with_min_delay(60);
    let arrivals: Vec<_> = stream(0, 30, 0, |_| 0)
        .into_iter()
        .filter(|a| a.seq != 10 && a.seq != 11)
        .collect();
    let outs = simulate(&mut buffer, &arrivals, 40, 5);
    let lost = trimmed(&outs)
        .into_iter()
        .filter(|o| matches!(o, Out::Lost(_)))
        .collect::<Vec<_>>();
    assert_eq!(lost, [Out::Lost(None), Out::Lost(Some(12))]);
}

#[test]
fn a_late_packet_is_dropped_and_counted() {
    let mut buffer = with_min_delay(60);
    let outs = simulate(
        &mut buffer,
        &stream(0, 30, 0, |i| if i == 10 { 300 } else { 0 }),
        40,
        5,
    );
    let mut expected = plays(0..10);
    expected.push(Out::Lost(Some(11)));
    expected.extend(plays(11..30));
    assert_eq!(trimmed(&outs), expected);
    assert_eq!((buffer.counters().late, buffer.counters().lost), (1, 1));
}

#[test]
fn sequence_numbers_wrap_around() {
    let mut buffer = JitterBuffer::new(JitterConfig::default());
    let outs = simulate(&mut buffer, &stream(65_500, 100, 0, |_| 0), 110, 10);
    assert_eq!(
        trimmed(&outs),
        plays((0..100u16).map(|i| 65_500u16.wrapping_add(i)))
    );
    assert_eq!(buffer.counters().resyncs, 0);
}

#[test]
fn a_big_jump_resyncs_instead_of_reporting_a_flood_of_losses() {
    for new_first in [30_000u16, 100] {
        let mut buffer = JitterBuffer::new(JitterConfig::default());
        let mut arrivals = stream(40_000, 50, 0, |_| 0);
        arrivals.extend(stream(new_first, 50, 1000, |_| 0));
        let outs = simulate(&mut buffer, &arrivals, 110, 10);
        let played = non_empty(&outs);
        let mut expected = plays((0..50u16).map(|i| 40_000 + i));
        expected.extend(plays((0..50u16).map(|i| new_first + i)));
        assert_eq!(played, expected, "jump to {new_first}");
        assert_eq!((buffer.counters().resyncs, buffer.counters().lost), (1, 0));
    }
}

#[test]
fn a_single_stray_packet_does_not_flush_the_buffer() {
    let mut buffer = with_min_delay(60);
    let mut arrivals = stream(1000, 40, 0, |_| 0);
    arrivals.push(Arrival {
        seq: 50_000,
        timestamp: 0,
        at_ms: 301,
    });
    let outs = simulate(&mut buffer, &arrivals, 50, 5);
    assert_eq!(non_empty(&outs), plays(1000..1040));
    let counters = buffer.counters();
    assert_eq!(
        (counters.resyncs, counters.strays, counters.lost),
        (0, 1, 0)
    );
}

/// Deterministic "random" extra delay in 0..max_ms.
fn jitter_ms(i: u16, max_ms: u64) -> u64 {
    (u64::from(i).wrapping_mul(2_654_435_761) >> 7) % max_ms
}

#[test]
fn delay_grows_with_jitter_and_shrinks_when_it_calms() {
    let mut buffer = JitterBuffer::new(JitterConfig::default());
    let calm = simulate(&mut buffer, &stream(0, 100, 0, |_| 0), 100, 10);
    assert_eq!(buffer.target_delay(), Duration::from_millis(20));
    assert!(calm.contains(&Out::Play(99)));

    let noisy = simulate(
        &mut buffer,
        &stream(100, 500, 2000, |i| jitter_ms(i, 100)),
        505,
        2010,
    );
    let grown = buffer.target_delay();
    assert!(
        grown >= Duration::from_millis(100),
        "target only {grown:?} with 0-100 ms jitter"
    );
    let late_half = &noisy[250..];
    let losses = late_half
        .iter()
        .filter(|o| matches!(o, Out::Lost(_)))
        .count();
    assert!(losses <= 5, "{losses} losses once adapted: {late_half:?}");

    let before = buffer.counters().dropped_to_shrink;
    simulate(&mut buffer, &stream(600, 750, 12_100, |_| 0), 750, 12_110);
    let calmed = buffer.target_delay();
    assert!(
        calmed <= Duration::from_millis(40),
        "target still {calmed:?}"
    );
    assert!(
        buffer.counters().dropped_to_shrink > before,
        "the buffer never shrank"
    );
    assert!(
        buffer.buffered_packets() <= 3,
        "{} packets still queued",
        buffer.buffered_packets()
    );
}
