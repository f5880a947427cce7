//! The selective forwarding unit: receives each publisher's RTP and forwards it, undecoded, to
//! the subscribers' peer connections; relays their keyframe requests back, rate-limited.
//!
//! Runs on its own multi-threaded tokio runtime (`MediaRuntime`) so that forwarding never waits
//! behind signaling work. The room hub owns the handles below and only starts and stops them.

use crate::protocol::{IceCandidate, MediaKinds, PeerId};
use crate::rtc_peer::{self, PeerError, PeerEvent, PeerOptions};
pub use crate::runtime::MediaRuntime;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::TrackRemoteEvent;
use webrtc::media_stream::Track;
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState};
use webrtc::rtp_transceiver::RtpSender;

/// At most one keyframe request per this interval reaches a publisher: every subscriber's
/// decoder asks at once after a loss, and each IDR costs the doorbell's uplink dearly.
pub const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

/// Packets buffered per subscriber before the slowest one starts skipping (≈ 1 s of video).
const FORWARD_QUEUE: usize = 512;

/// What the SFU reports back to the hub about a peer connection.
#[derive(Debug)]
pub enum MediaNotice {
    /// The server side of `peer` gathered a candidate to trickle to the client.
    LocalCandidate {
        peer: PeerId,
        candidate: IceCandidate,
    },
    /// The connection failed or closed on its own (not by `stop`).
    Lost { peer: PeerId },
    /// Connected: media can flow.
    Connected { peer: PeerId },
}

/// Counters a test or the status line can read.
#[derive(Default, Debug)]
pub struct ForwardStats {
    pub packets_in: AtomicU64,
    pub packets_out: AtomicU64,
    pub keyframe_requests_relayed: AtomicU64,
}

/// What subscriptions need of a publication: its packet channels and its keyframe requests.
#[derive(Clone)]
pub struct PublicationTap {
    audio: broadcast::Sender<rtp::Packet>,
    video: broadcast::Sender<rtp::Packet>,
    keyframe_requests: mpsc::Sender<()>,
    kinds: MediaKinds,
    pub stats: Arc<ForwardStats>,
}

impl PublicationTap {
    /// Asks the publisher for a keyframe (coalesced to one per KEYFRAME_REQUEST_INTERVAL).
    pub fn request_keyframe(&self) {
        let _ = self.keyframe_requests.try_send(());
    }
}

/// The server side of one member's publication.
pub struct Publication {
    pc: Arc<dyn PeerConnection>,
    tap: PublicationTap,
    tasks: Vec<JoinHandle<()>>,
}

impl Publication {
    pub fn tap(&self) -> PublicationTap {
        self.tap.clone()
    }

    /// Closes the publisher's connection; subscribers' forwarders end when the channels close.
    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        let _ = self.pc.close().await;
    }
}

/// The server side of one subscription.
pub struct Subscription {
    pc: Arc<dyn PeerConnection>,
    tasks: Vec<JoinHandle<()>>,
}

impl Subscription {
    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        let _ = self.pc.close().await;
    }
}

/// Trickled candidates from the client go here; one per peer connection.
#[derive(Clone)]
pub struct CandidateSink {
    pc: Arc<dyn PeerConnection>,
}

impl CandidateSink {
    pub async fn add(&self, candidate: &IceCandidate) -> Result<(), PeerError> {
        let init = rtc_peer::candidate_from_wire(candidate)?;
        self.pc.add_ice_candidate(init).await?;
        Ok(())
    }
}

/// Answers a publisher's offer and starts receiving. Returns the answer SDP.
pub async fn start_publication(
    options: PeerOptions,
    offer: String,
    kinds: MediaKinds,
    notices: mpsc::UnboundedSender<MediaNotice>,
) -> Result<(Publication, CandidateSink, String), PeerError> {
    let offer = rtc_peer::offer_from_wire(&offer)?;
    let (pc, events) = rtc_peer::build_peer(&options).await?;
    let answer = match negotiate_answer(&pc, offer).await {
        Ok(answer) => answer,
        Err(e) => {
            let _ = pc.close().await;
            return Err(e);
        }
    };
    let (audio, _) = broadcast::channel(FORWARD_QUEUE);
    let (video, _) = broadcast::channel(FORWARD_QUEUE);
    let (keyframe_tx, keyframe_rx) = mpsc::channel(8);
    let stats = Arc::new(ForwardStats::default());
    let (video_track_tx, video_track_rx) = mpsc::channel(1);
    let events_task = tokio::spawn(publisher_events(
        events,
        PublisherOutputs {
            audio: audio.clone(),
            video: video.clone(),
            video_track: video_track_tx,
            stats: stats.clone(),
            notices,
        },
    ));
    let keyframe_task = tokio::spawn(relay_keyframe_requests(
        keyframe_rx,
        video_track_rx,
        stats.clone(),
    ));
    Ok((
        Publication {
            pc: pc.clone(),
            tap: PublicationTap {
                audio,
                video,
                keyframe_requests: keyframe_tx,
                kinds,
                stats,
            },
            tasks: vec![events_task, keyframe_task],
        },
        CandidateSink { pc },
        answer,
    ))
}

async fn negotiate_answer(
    pc: &Arc<dyn PeerConnection>,
    offer: webrtc::peer_connection::RTCSessionDescription,
) -> Result<String, PeerError> {
    pc.set_remote_description(offer)
        .await
        .map_err(|e| PeerError::BadSdp(e.to_string()))?;
    let answer = pc.create_answer(None).await?;
    pc.set_local_description(answer).await?;
    pc.local_description()
        .await
        .map(|d| d.sdp)
        .ok_or_else(|| PeerError::BadSdp("no local description after answering".into()))
}

struct PublisherOutputs {
    audio: broadcast::Sender<rtp::Packet>,
    video: broadcast::Sender<rtp::Packet>,
    video_track: mpsc::Sender<Arc<dyn webrtc::media_stream::track_remote::TrackRemote>>,
    stats: Arc<ForwardStats>,
    notices: mpsc::UnboundedSender<MediaNotice>,
}

async fn publisher_events(mut events: mpsc::UnboundedReceiver<PeerEvent>, out: PublisherOutputs) {
    let peer = PeerId::Publish;
    let mut readers = Vec::new();
    while let Some(event) = events.recv().await {
        match event {
            PeerEvent::LocalCandidate(candidate) => {
                let _ = out.notices.send(MediaNotice::LocalCandidate {
                    peer: peer.clone(),
                    candidate,
                });
            }
            PeerEvent::State(state) => match state {
                RTCPeerConnectionState::Connected => {
                    let _ = out
                        .notices
                        .send(MediaNotice::Connected { peer: peer.clone() });
                }
                RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                    let _ = out.notices.send(MediaNotice::Lost { peer: peer.clone() });
                }
                _ => {}
            },
            PeerEvent::Track(track) => {
                let kind = track.kind().await;
                let channel = match kind {
                    RtpCodecKind::Video => {
                        let _ = out.video_track.try_send(track.clone());
                        out.video.clone()
                    }
                    _ => out.audio.clone(),
                };
                let stats = out.stats.clone();
                readers.push(tokio::spawn(async move {
                    while let Some(event) = track.poll().await {
                        match event {
                            TrackRemoteEvent::OnRtpPacket(packet) => {
                                stats.packets_in.fetch_add(1, Ordering::Relaxed);
                                // No subscriber yet is fine: the packet is simply not needed.
                                let _ = channel.send(packet);
                            }
                            TrackRemoteEvent::OnEnded | TrackRemoteEvent::OnError => break,
                            _ => {}
                        }
                    }
                }));
            }
        }
    }
    for reader in readers {
        reader.abort();
    }
}

async fn relay_keyframe_requests(
    mut requests: mpsc::Receiver<()>,
    mut video_track: mpsc::Receiver<Arc<dyn webrtc::media_stream::track_remote::TrackRemote>>,
    stats: Arc<ForwardStats>,
) {
    let Some(track) = video_track.recv().await else {
        return;
    };
    let Some(media_ssrc) = track.ssrcs().await.first().copied() else {
        return;
    };
    let mut last_sent: Option<Instant> = None;
    while requests.recv().await.is_some() {
        if let Some(last) = last_sent {
            let since = last.elapsed();
            if since < KEYFRAME_REQUEST_INTERVAL {
                tokio::time::sleep(KEYFRAME_REQUEST_INTERVAL - since).await;
            }
        }
        // Everything that arrived while we waited is answered by this one request.
        while requests.try_recv().is_ok() {}
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc,
        };
        if track.write_rtcp(vec![Box::new(pli)]).await.is_err() {
            break;
        }
        stats
            .keyframe_requests_relayed
            .fetch_add(1, Ordering::Relaxed);
        last_sent = Some(Instant::now());
    }
}

/// Answers a subscriber's receive-only offer with the publisher's tracks (only the kinds
/// wanted) and starts forwarding. Returns the answer SDP.
pub async fn start_subscription(
    options: PeerOptions,
    offer: String,
    publication: PublicationTap,
    kinds: MediaKinds,
    publisher_user: String,
    notices: mpsc::UnboundedSender<MediaNotice>,
) -> Result<(Subscription, CandidateSink, String), PeerError> {
    let offer = rtc_peer::offer_from_wire(&offer)?;
    let (pc, events) = rtc_peer::build_peer(&options).await?;
    let stream_id = format!("roombell-{publisher_user}");
    let mut senders: Vec<(RtpCodecKind, Arc<TrackLocalStaticRTP>, Arc<dyn RtpSender>)> = Vec::new();
    let wanted = [
        (RtpCodecKind::Audio, kinds.audio && publication.kinds.audio),
        (RtpCodecKind::Video, kinds.video && publication.kinds.video),
    ];
    for (kind, want) in wanted {
        if !want {
            continue;
        }
        let ssrc = rand::random::<u32>();
        let codec = match kind {
            RtpCodecKind::Video => rtc_peer::h264_codec(),
            _ => rtc_peer::opus_codec(),
        };
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            stream_id.clone(),
            format!("{stream_id}-{kind}"),
            format!("{publisher_user} {kind}"),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec,
                ..Default::default()
            }],
        )));
        let sender = match pc.add_track(track.clone() as Arc<dyn TrackLocal>).await {
            Ok(sender) => sender,
            Err(e) => {
                let _ = pc.close().await;
                return Err(e.into());
            }
        };
        senders.push((kind, track, sender));
    }
    let answer = match negotiate_answer(&pc, offer).await {
        Ok(answer) => answer,
        Err(e) => {
            let _ = pc.close().await;
            return Err(e);
        }
    };
    let peer = PeerId::Subscribe {
        user_id: publisher_user,
    };
    // A new subscriber's decoder can start only at a keyframe, and one sent before its DTLS
    // is up is lost: ask for it when the subscriber's connection comes up.
    let wants_video = kinds.video && publication.kinds.video;
    let keyframe_on_connect = wants_video.then(|| publication.keyframe_requests.clone());
    let mut tasks = vec![tokio::spawn(subscriber_events(
        events,
        peer,
        notices,
        keyframe_on_connect,
    ))];
    for (kind, track, sender) in senders {
        let payload_type = sender
            .get_parameters()
            .await
            .ok()
            .and_then(|p| p.rtp_parameters.codecs.first().map(|c| c.payload_type));
        let Some(payload_type) = payload_type else {
            // The client's offer had no matching codec for this kind: nothing to forward.
            continue;
        };
        let ssrc = track.ssrcs().await.first().copied().unwrap_or_default();
        let source = match kind {
            RtpCodecKind::Video => publication.video.subscribe(),
            _ => publication.audio.subscribe(),
        };
        tasks.push(tokio::spawn(forward(
            source,
            track.clone(),
            ssrc,
            payload_type,
            publication.stats.clone(),
        )));
        if kind == RtpCodecKind::Video {
            tasks.push(tokio::spawn(rtc_peer::forward_keyframe_requests(
                track.clone(),
                publication.keyframe_requests.clone(),
            )));
        }
    }
    Ok((
        Subscription {
            pc: pc.clone(),
            tasks,
        },
        CandidateSink { pc },
        answer,
    ))
}

async fn subscriber_events(
    mut events: mpsc::UnboundedReceiver<PeerEvent>,
    peer: PeerId,
    notices: mpsc::UnboundedSender<MediaNotice>,
    keyframe_on_connect: Option<mpsc::Sender<()>>,
) {
    while let Some(event) = events.recv().await {
        let notice = match event {
            PeerEvent::LocalCandidate(candidate) => MediaNotice::LocalCandidate {
                peer: peer.clone(),
                candidate,
            },
            PeerEvent::State(RTCPeerConnectionState::Connected) => {
                if let Some(requests) = &keyframe_on_connect {
                    let _ = requests.try_send(());
                }
                MediaNotice::Connected { peer: peer.clone() }
            }
            PeerEvent::State(RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed) => {
                MediaNotice::Lost { peer: peer.clone() }
            }
            _ => continue,
        };
        let _ = notices.send(notice);
    }
}

async fn forward(
    mut source: broadcast::Receiver<rtp::Packet>,
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    payload_type: u8,
    stats: Arc<ForwardStats>,
) {
    loop {
        match source.recv().await {
            Ok(mut packet) => {
                // Each subscriber has its own SSRC and may have negotiated its own payload type.
                packet.header.ssrc = ssrc;
                packet.header.payload_type = payload_type;
                // The publisher's extension ids mean nothing in this subscriber's session.
                packet.header.extension = false;
                packet.header.extensions.clear();
                packet.header.extensions_padding = 0;
                if track.write_rtp(packet).await.is_ok() {
                    stats.packets_out.fetch_add(1, Ordering::Relaxed);
                }
            }
            // A slow subscriber skips ahead rather than making everyone wait; NACK/PLI repair it.
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}
