//! WebRTC peer connections as both ends of roombell build them (webrtc-rs 0.21).
//!
//! One place decides the codecs, the interceptors and the DTLS role, so that the room server,
//! the device and the Rust client always negotiate the same thing: H.264 constrained baseline
//! 42e01f packetization-mode=1 and Opus 48 kHz, nothing else (fewer codecs, smaller SDP, and no
//! RTX, which webrtc 0.21 retransmits far too eagerly; lost video packets are NACKed and
//! resent on the media SSRC instead).

use crate::protocol::IceCandidate;
use rtc::interceptor::{Attribute, Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind,
};
use rtc::sansio::Protocol;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCCertificate, RTCConfigurationBuilder, RTCIceCandidateInit,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSessionDescription, Registry,
    SettingEngineBuilder,
};

/// RTP payload type we offer for H.264 (the answerer may map it to its own number).
pub const H264_PAYLOAD_TYPE: u8 = 102;
/// RTP payload type we offer for Opus.
pub const OPUS_PAYLOAD_TYPE: u8 = 111;
/// H.264 fmtp every roombell end uses; Chromium matches on the profile's first two bytes.
pub const H264_FMTP: &str =
    "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";

/// The H.264 codec as roombell registers it.
pub fn h264_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "video/H264".to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: H264_FMTP.to_owned(),
        rtcp_feedback: vec![
            RTCPFeedback {
                typ: "ccm".to_owned(),
                parameter: "fir".to_owned(),
            },
            RTCPFeedback {
                typ: "goog-remb".to_owned(),
                parameter: String::new(),
            },
            // Lost packets are asked for again (RFC 4585 generic NACK) and resent on the same
            // SSRC: without it a keyframe of ~20 packets rarely survives 10 % loss whole, and
            // the picture froze ~45 % of the time (scripts/faults.sh netns, docs/faults.md).
            RTCPFeedback {
                typ: "nack".to_owned(),
                parameter: String::new(),
            },
        ],
    }
}

/// The Opus codec as roombell registers it: in-band FEC on, 20 ms packets.
pub fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "audio/opus".to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// How often ICE checks candidate pairs while connecting.
pub const ICE_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(25);
/// Binding requests per pair: 56 × 25 ms keeps webrtc's default 1.4 s of attempts.
const ICE_BINDING_ATTEMPTS: u16 = 56;

/// Errors setting up a peer connection.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("WebRTC: {0}")]
    WebRtc(#[from] webrtc::error::Error),
    #[error("bad SDP: {0}")]
    BadSdp(String),
    #[error("bad ICE candidate: {0}")]
    BadCandidate(String),
}

/// Where a peer connection listens and which DTLS certificate it presents.
#[derive(Clone)]
pub struct PeerOptions {
    /// Host candidates are gathered on this address only.
    pub bind_ip: IpAddr,
    /// A stored certificate saves ~200 ms of key generation per connection.
    pub certificate: Option<RTCCertificate>,
}

impl std::fmt::Debug for PeerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerOptions")
            .field("bind_ip", &self.bind_ip)
            .field("certificate", &self.certificate.is_some())
            .finish()
    }
}

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            bind_ip: IpAddr::from([127, 0, 0, 1]),
            certificate: None,
        }
    }
}

/// What a peer connection tells its owner; one channel per connection keeps owners simple.
pub enum PeerEvent {
    LocalCandidate(IceCandidate),
    State(RTCPeerConnectionState),
    Track(Arc<dyn TrackRemote>),
}

struct ChannelHandler {
    events: mpsc::UnboundedSender<PeerEvent>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for ChannelHandler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.events.send(PeerEvent::LocalCandidate(IceCandidate {
                candidate: init.candidate,
                sdp_mid: init.sdp_mid.filter(|m| !m.is_empty()),
                sdp_m_line_index: init.sdp_mline_index,
            }));
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.events.send(PeerEvent::State(state));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.events.send(PeerEvent::Track(track));
    }
}

/// Builds a peer connection with roombell's codecs and interceptors; events arrive on the
/// returned channel.
pub async fn build_peer(
    options: &PeerOptions,
) -> Result<(Arc<dyn PeerConnection>, mpsc::UnboundedReceiver<PeerEvent>), PeerError> {
    let mut media_engine = MediaEngine::default();
    media_engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: h264_codec(),
            payload_type: H264_PAYLOAD_TYPE,
        },
        RtpCodecKind::Video,
    )?;
    media_engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus_codec(),
            payload_type: OPUS_PAYLOAD_TYPE,
        },
        RtpCodecKind::Audio,
    )?;
    let registry = register_default_interceptors(Registry::new(), &mut media_engine)?;
    // After the default chain, so PLI/FIR reach TrackLocal::poll (see docs in webrtc.md).
    let registry = registry.with(Slot::from(14_000), KeyframeRequestMarker::default());

    let mut configuration = RTCConfigurationBuilder::new();
    if let Some(cert) = &options.certificate {
        configuration = configuration.with_certificates(vec![cert.clone()]);
    }
    // DTLS server when answering: the offerer's ClientHello goes out at once instead of waiting
    // ~180 ms for our timer tick (measured with Chromium).
    //
    // ICE checks every 25 ms while connecting instead of 200 ms (same 1.4 s of attempts): the
    // agent's tick is also what flushes our first DTLS flight, so this takes ~175 ms off
    // every call set-up. Keepalives after connecting are unchanged.
    let settings = SettingEngineBuilder::new()
        .with_answering_dtls_role(rtc::peer_connection::transport::RTCDtlsRole::Server)
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(ICE_BINDING_ATTEMPTS))
        .with_include_loopback_candidate(options.bind_ip.is_loopback())
        .build();
    let (tx, rx) = mpsc::unbounded_channel();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(configuration.build())
        .with_media_engine(media_engine)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(ChannelHandler { events: tx }))
        .with_udp_addrs(vec![std::net::SocketAddr::new(options.bind_ip, 0)])
        .build()
        .await?;
    Ok((Arc::new(pc), rx))
}

/// Parses an SDP offer from the wire, refusing text that is not SDP before webrtc sees it.
pub fn offer_from_wire(sdp: &str) -> Result<RTCSessionDescription, PeerError> {
    check_sdp_shape(sdp)?;
    RTCSessionDescription::offer(sdp.to_owned()).map_err(|e| PeerError::BadSdp(e.to_string()))
}

/// Parses an SDP answer from the wire.
pub fn answer_from_wire(sdp: &str) -> Result<RTCSessionDescription, PeerError> {
    check_sdp_shape(sdp)?;
    RTCSessionDescription::answer(sdp.to_owned()).map_err(|e| PeerError::BadSdp(e.to_string()))
}

fn check_sdp_shape(sdp: &str) -> Result<(), PeerError> {
    if !sdp.starts_with("v=0") {
        return Err(PeerError::BadSdp("SDP must start with \"v=0\"".into()));
    }
    if !sdp.contains("\nm=") {
        return Err(PeerError::BadSdp("SDP has no media section".into()));
    }
    Ok(())
}

/// Converts a wire candidate to webrtc's type.
pub fn candidate_from_wire(candidate: &IceCandidate) -> Result<RTCIceCandidateInit, PeerError> {
    if candidate.candidate.len() > 1024 {
        return Err(PeerError::BadCandidate(
            "candidate longer than 1024 bytes".into(),
        ));
    }
    Ok(RTCIceCandidateInit {
        candidate: candidate.candidate.clone(),
        sdp_mid: candidate.sdp_mid.clone(),
        sdp_mline_index: candidate.sdp_m_line_index,
        ..Default::default()
    })
}

/// Turns the keyframe requests (PLI/FIR) receivers send about `track` into `()`s on
/// `requests`, until the track is unbound.
pub async fn forward_keyframe_requests(
    track: Arc<dyn webrtc::media_stream::track_local::TrackLocal>,
    requests: mpsc::Sender<()>,
) {
    use webrtc::media_stream::track_local::TrackLocalEvent;
    while let Some(event) = track.poll().await {
        let TrackLocalEvent::OnRtcpPacket(packets) = event else {
            continue;
        };
        if packets.iter().any(|p| is_keyframe_request(p.as_ref())) {
            let _ = requests.try_send(());
        }
    }
}

/// Marks inbound PLI/FIR for delivery to the application; without it the default chain eats
/// them and a receiver that missed the first keyframe never gets one.
#[derive(Default)]
struct KeyframeRequestMarker {
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

/// True for RTCP that asks the sender for a keyframe.
pub fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestMarker {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            if packets.iter().any(|p| is_keyframe_request(p.as_ref())) {
                msg.message.add(Attribute::DeliverToApplication);
            }
        }
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }
}

impl Interceptor for KeyframeRequestMarker {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_sdp_is_refused_before_webrtc_sees_it() {
        assert!(matches!(
            offer_from_wire("hello"),
            Err(PeerError::BadSdp(_))
        ));
        assert!(matches!(
            offer_from_wire("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"),
            Err(PeerError::BadSdp(_))
        ));
    }

    #[test]
    fn pli_and_fir_are_keyframe_requests() {
        let pli = PictureLossIndication {
            sender_ssrc: 1,
            media_ssrc: 2,
        };
        assert!(is_keyframe_request(&pli));
        let rr = rtc::rtcp::receiver_report::ReceiverReport::default();
        assert!(!is_keyframe_request(&rr));
    }
}
