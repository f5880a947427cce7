//! Received RTCP as our interceptor and sender logic see it: a compound packet unmarshalled
//! from the wire bytes (after SRTCP), checked for keyframe requests (PLI/FIR, what
//! `KeyframeRequestMarker` forwards to the encoder), and receiver-report loss fed to the
//! device's `BitrateController`.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use roombell::device::bitrate::BitrateController;
use roombell::rtc_peer::is_keyframe_request;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::sender_report::SenderReport;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let mut buf = Bytes::copy_from_slice(data);
    let Ok(packets) = rtc::rtcp::packet::unmarshal(&mut buf) else {
        return;
    };
    let mut bitrate = BitrateController::new(800_000, 150_000, 2_000_000);
    let start = Instant::now();
    for (i, packet) in packets.iter().enumerate() {
        let _ = is_keyframe_request(packet.as_ref());
        let any = packet.as_any();
        let reports = if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
            rr.reports.as_slice()
        } else if let Some(sr) = any.downcast_ref::<SenderReport>() {
            sr.reports.as_slice()
        } else {
            continue;
        };
        for report in reports {
            // RFC 3550: fraction lost is a fixed-point number with the binary point at the left.
            let loss = f64::from(report.fraction_lost) / 256.0;
            let now = start + Duration::from_secs(u64::try_from(i).unwrap_or(u64::MAX).min(3600));
            if let Some(bps) = bitrate.on_loss_report(loss, now) {
                assert!(
                    (150_000..=2_000_000).contains(&bps),
                    "bitrate {bps} out of bounds"
                );
            }
        }
    }
});
