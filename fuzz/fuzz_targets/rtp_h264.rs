//! Received video RTP as the Rust client and device reassemble it: each packet unmarshalled
//! from the wire bytes (after SRTP), then pushed through `H264Assembler` (FU-A / STAP-A /
//! single NAL depacketizing and frame reassembly).
//!
//! Input: a sequence of packets, each a big-endian u16 length followed by that many bytes.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use roombell::client::depacketize::H264Assembler;
use rtc::shared::marshal::Unmarshal;

fuzz_target!(|data: &[u8]| {
    let mut assembler = H264Assembler::default();
    let mut rest = data;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let body = &rest[2..];
        let (packet_bytes, tail) = body.split_at(len.min(body.len()));
        rest = tail;
        let mut buf = Bytes::copy_from_slice(packet_bytes);
        let Ok(packet) = rtc::rtp::Packet::unmarshal(&mut buf) else {
            continue;
        };
        for frame in assembler.push(packet) {
            // Access units come out in Annex-B form; each is at most what went in, plus start
            // codes, so a runaway size means the reassembly invented data.
            assert!(
                frame.len() <= data.len() * 2 + 64,
                "frame larger than its input"
            );
        }
    }
});
