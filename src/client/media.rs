//! The client's peer connections: one to publish, one per subscription. With roombell's server
//! the client offers and the server answers (see docs/protocol.md); the parts that do not care
//! who offers (`add_send_tracks`, `Publisher::negotiated`, `Subscriber::receiving`,
//! `forward_peer_events`) also serve the Janus backend, where Janus offers subscriptions.

use super::state::RequestKind;
use super::{ClientError, Shared, MEDIA_REQUEST_TIMEOUT};
use crate::protocol::{code, extra, ClientMessage, PeerId, SignalError};
use crate::rtc_peer::{self, PeerEvent};
use bytes::Bytes;
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState};
use webrtc::rtp_transceiver::RtpSender;

/// Received packets waiting for the application; beyond this they are dropped and counted.
const RECEIVE_QUEUE: usize = 4096;

/// One sending track: where to write samples and with which SSRC and payload type.
struct SendTrack {
    track: Arc<TrackLocalStaticSample>,
    ssrc: u32,
    payload_type: u8,
}

/// Our published stream. Write encoded media; read the keyframe requests receivers send.
pub struct Publisher {
    pc: Arc<dyn PeerConnection>,
    audio: Option<SendTrack>,
    video: Option<SendTrack>,
    keyframe_requests: mpsc::Receiver<()>,
    connected: tokio::sync::watch::Receiver<bool>,
}

impl Publisher {
    /// Sends one encoded video frame (H.264 Annex-B access unit).
    pub async fn write_video(&self, frame: Bytes, duration: Duration) -> Result<(), ClientError> {
        let Some(video) = &self.video else {
            return Err(not_published("video"));
        };
        write(video, frame, duration).await
    }

    /// Sends one Opus packet.
    pub async fn write_audio(&self, packet: Bytes, duration: Duration) -> Result<(), ClientError> {
        let Some(audio) = &self.audio else {
            return Err(not_published("audio"));
        };
        write(audio, packet, duration).await
    }

    /// Waits for the next PLI/FIR from a receiver (relayed by the SFU); None once closed.
    pub async fn next_keyframe_request(&mut self) -> Option<()> {
        self.keyframe_requests.recv().await
    }

    /// A keyframe request already waiting, without blocking.
    pub fn try_keyframe_request(&mut self) -> bool {
        self.keyframe_requests.try_recv().is_ok()
    }

    /// Waits until DTLS is up, so the first frames are not written into the void.
    pub async fn wait_connected(&mut self, timeout: Duration) -> bool {
        let wait = self.connected.wait_for(|up| *up);
        matches!(tokio::time::timeout(timeout, wait).await, Ok(Ok(_)))
    }

    /// True once DTLS is up; media written before that is lost.
    pub fn is_connected(&self) -> bool {
        *self.connected.borrow()
    }

    /// Whether the peer connection is connected, as it changes: for whoever must notice the
    /// media path dying while signaling stays up.
    pub fn connection_watch(&self) -> tokio::sync::watch::Receiver<bool> {
        self.connected.clone()
    }

    /// The underlying peer connection (for stats).
    pub fn peer_connection(&self) -> &Arc<dyn PeerConnection> {
        &self.pc
    }
}

fn not_published(kind: &str) -> ClientError {
    SignalError::new(
        code::INVALID_OPERATION,
        extra::NOT_PUBLISHING,
        format!("no {kind} track was published"),
    )
    .into()
}

async fn write(track: &SendTrack, data: Bytes, duration: Duration) -> Result<(), ClientError> {
    let sample = Sample {
        data,
        duration,
        ..Sample::new(Instant::now())
    };
    track
        .track
        .write_sample(track.ssrc, track.payload_type, &sample, &[])
        .await
        .map_err(|e| ClientError::Media(e.into()))
}

fn local_track(kind: RtpCodecKind, user_id: &str, ssrc: u32) -> MediaStreamTrack {
    let codec = match kind {
        RtpCodecKind::Video => rtc_peer::h264_codec(),
        _ => rtc_peer::opus_codec(),
    };
    MediaStreamTrack::new(
        format!("roombell-{user_id}"),
        format!("roombell-{user_id}-{kind}"),
        format!("{user_id} {kind}"),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            ..Default::default()
        }],
    )
}

async fn negotiated_payload_type(sender: &Arc<dyn RtpSender>, fallback: u8) -> u8 {
    sender
        .get_parameters()
        .await
        .ok()
        .and_then(|p| p.rtp_parameters.codecs.first().map(|c| c.payload_type))
        .unwrap_or(fallback)
}

/// Forwards a peer connection's events: our candidates to the server, states to `connected`,
/// remote tracks to `on_track`.
fn spawn_peer_events(
    shared: Arc<Shared>,
    peer: PeerId,
    events: mpsc::UnboundedReceiver<PeerEvent>,
    connected: tokio::sync::watch::Sender<bool>,
    on_track: Option<mpsc::UnboundedSender<Arc<dyn TrackRemote>>>,
) {
    let user_id = shared.config.user_id.clone();
    let label = format!("{user_id} {peer:?}");
    forward_peer_events(
        label,
        events,
        move |candidate| {
            shared.send(&ClientMessage::Candidate {
                peer: peer.clone(),
                candidate,
            })
        },
        connected,
        on_track,
    );
}

/// Forwards a peer connection's events whatever the signaling: our candidates to
/// `on_candidate`, states to `connected`, remote tracks to `on_track`.
pub(crate) fn forward_peer_events(
    label: String,
    mut events: mpsc::UnboundedReceiver<PeerEvent>,
    on_candidate: impl Fn(crate::protocol::IceCandidate) + Send + 'static,
    connected: tokio::sync::watch::Sender<bool>,
    on_track: Option<mpsc::UnboundedSender<Arc<dyn TrackRemote>>>,
) {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                PeerEvent::LocalCandidate(candidate) => on_candidate(candidate),
                PeerEvent::State(state) => {
                    tracing::debug!(peer = %label, %state, "peer connection state");
                    let _ = connected.send(state == RTCPeerConnectionState::Connected);
                }
                PeerEvent::Track(track) => {
                    if let Some(on_track) = &on_track {
                        let _ = on_track.send(track);
                    }
                }
            }
        }
    });
}

/// A track added to the publishing connection, waiting for negotiation: kind, track, SSRC, sender.
type PendingTrack = (
    RtpCodecKind,
    Arc<TrackLocalStaticSample>,
    u32,
    Arc<dyn RtpSender>,
);

pub(super) async fn publish(
    shared: Arc<Shared>,
    audio: bool,
    video: bool,
) -> Result<Publisher, ClientError> {
    if !audio && !video {
        return Err(SignalError::new(
            code::INVALID_PARAMETER,
            extra::BAD_PARAMETER,
            "publish needs audio, video or both",
        )
        .into());
    }
    let (pc, events) = rtc_peer::build_peer(&shared.config.peer).await?;
    let tracks = add_send_tracks(&pc, &shared.config.user_id, audio, video).await?;
    let (connected_tx, connected_rx) = tokio::sync::watch::channel(false);
    shared.register_peer(PeerId::Publish, pc.clone());
    spawn_peer_events(shared.clone(), PeerId::Publish, events, connected_tx, None);
    let result = offer_and_answer(
        &shared,
        &pc,
        PeerId::Publish,
        RequestKind::Publish,
        |id, sdp| ClientMessage::Publish {
            id,
            audio,
            video,
            sdp,
        },
    )
    .await;
    if let Err(e) = result {
        shared.forget_peer(&PeerId::Publish);
        let _ = pc.close().await;
        return Err(e);
    }
    Ok(Publisher::negotiated(pc, tracks, connected_rx).await)
}

/// The sending tracks of a publishing connection, added before its offer is made.
pub(crate) struct SendTracks(Vec<PendingTrack>);

/// Adds roombell's audio and/or video sending tracks to `pc` (before the offer).
pub(crate) async fn add_send_tracks(
    pc: &Arc<dyn PeerConnection>,
    user_id: &str,
    audio: bool,
    video: bool,
) -> Result<SendTracks, rtc_peer::PeerError> {
    let mut tracks: Vec<PendingTrack> = Vec::new();
    for (kind, wanted) in [(RtpCodecKind::Audio, audio), (RtpCodecKind::Video, video)] {
        if !wanted {
            continue;
        }
        let ssrc = rand::random::<u32>();
        let track = Arc::new(TrackLocalStaticSample::new(
            Instant::now(),
            local_track(kind, user_id, ssrc),
        )?);
        let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
        tracks.push((kind, track, ssrc, sender));
    }
    Ok(SendTracks(tracks))
}

impl Publisher {
    /// The publisher of a connection whose offer/answer is done (the payload types are the
    /// negotiated ones).
    pub(crate) async fn negotiated(
        pc: Arc<dyn PeerConnection>,
        tracks: SendTracks,
        connected: tokio::sync::watch::Receiver<bool>,
    ) -> Publisher {
        let (keyframe_tx, keyframe_rx) = mpsc::channel(4);
        let mut publisher = Publisher {
            pc,
            audio: None,
            video: None,
            keyframe_requests: keyframe_rx,
            connected,
        };
        for (kind, track, ssrc, sender) in tracks.0 {
            match kind {
                RtpCodecKind::Video => {
                    let payload_type =
                        negotiated_payload_type(&sender, rtc_peer::H264_PAYLOAD_TYPE).await;
                    tokio::spawn(rtc_peer::forward_keyframe_requests(
                        track.clone(),
                        keyframe_tx.clone(),
                    ));
                    publisher.video = Some(SendTrack {
                        track,
                        ssrc,
                        payload_type,
                    });
                }
                _ => {
                    let payload_type =
                        negotiated_payload_type(&sender, rtc_peer::OPUS_PAYLOAD_TYPE).await;
                    publisher.audio = Some(SendTrack {
                        track,
                        ssrc,
                        payload_type,
                    });
                }
            }
        }
        publisher
    }
}

/// Creates our offer, sends it with the request `build` makes, applies the server's answer.
async fn offer_and_answer(
    shared: &Arc<Shared>,
    pc: &Arc<dyn PeerConnection>,
    peer: PeerId,
    kind: RequestKind,
    build: impl FnOnce(u64, String) -> ClientMessage,
) -> Result<(), ClientError> {
    let offer = pc
        .create_offer(None)
        .await
        .map_err(|e| ClientError::Media(e.into()))?;
    pc.set_local_description(offer)
        .await
        .map_err(|e| ClientError::Media(e.into()))?;
    let sdp =
        pc.local_description().await.map(|d| d.sdp).ok_or_else(|| {
            ClientError::Media(rtc_peer::PeerError::BadSdp("no local offer".into()))
        })?;
    let answer = shared
        .request(kind, MEDIA_REQUEST_TIMEOUT, |id| build(id, sdp))
        .await?;
    let Some(answer) = answer else {
        return Err(rtc_peer::PeerError::BadSdp("the server answered without SDP".into()).into());
    };
    shared.apply_answer(&peer, &answer).await
}

/// Which kind of media a received packet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Audio,
    Video,
}

/// One RTP packet received from a subscription.
#[derive(Debug, Clone)]
pub struct RemoteMedia {
    pub kind: MediaKind,
    pub packet: rtp::Packet,
}

/// A subscription to one remote user's stream.
pub struct Subscriber {
    pc: Arc<dyn PeerConnection>,
    media: mpsc::Receiver<RemoteMedia>,
    video_track: Arc<Mutex<Option<Arc<dyn TrackRemote>>>>,
    dropped: Arc<AtomicU64>,
}

impl Subscriber {
    /// The next received packet; None once the subscription ends.
    pub async fn next_media(&mut self) -> Option<RemoteMedia> {
        self.media.recv().await
    }

    /// Asks the publisher for a keyframe (PLI), through the SFU.
    pub async fn request_keyframe(&self) -> Result<(), ClientError> {
        let track = self
            .video_track
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(track) = track else {
            return Err(SignalError::new(
                code::INVALID_OPERATION,
                extra::NO_SUCH_STREAM,
                "no video received yet",
            )
            .into());
        };
        let media_ssrc = track.ssrcs().await.first().copied().unwrap_or_default();
        track
            .write_rtcp(vec![Box::new(PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc,
            })])
            .await
            .map_err(|e| ClientError::Media(e.into()))
    }

    /// Packets dropped because the application read too slowly.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn peer_connection(&self) -> &Arc<dyn PeerConnection> {
        &self.pc
    }
}

pub(super) async fn subscribe(
    shared: Arc<Shared>,
    user_id: &str,
    audio: bool,
    video: bool,
) -> Result<Subscriber, ClientError> {
    if !audio && !video {
        return Err(SignalError::new(
            code::INVALID_OPERATION,
            extra::BAD_PARAMETER,
            "subscribe needs audio, video or both",
        )
        .into());
    }
    let (pc, events) = rtc_peer::build_peer(&shared.config.peer).await?;
    // Both kinds are always offered, as browsers do: the server answers with only what the
    // subscribe asked for, so the SFU alone decides what flows.
    for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
        pc.add_transceiver_from_kind(
            kind,
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Recvonly,
                ..Default::default()
            }),
        )
        .await
        .map_err(|e| ClientError::Media(e.into()))?;
    }
    let peer = PeerId::Subscribe {
        user_id: user_id.to_owned(),
    };
    let (track_tx, track_rx) = mpsc::unbounded_channel::<Arc<dyn TrackRemote>>();
    let (connected_tx, _connected_rx) = tokio::sync::watch::channel(false);
    shared.register_peer(peer.clone(), pc.clone());
    spawn_peer_events(
        shared.clone(),
        peer.clone(),
        events,
        connected_tx,
        Some(track_tx),
    );
    let subscriber = Subscriber::receiving(pc.clone(), track_rx);
    let target = user_id.to_owned();
    let result = offer_and_answer(
        &shared,
        &pc,
        peer.clone(),
        RequestKind::Subscribe(target.clone()),
        |id, sdp| ClientMessage::Subscribe {
            id,
            user_id: target,
            audio,
            video,
            sdp,
        },
    )
    .await;
    if let Err(e) = result {
        shared.forget_peer(&peer);
        let _ = pc.close().await;
        return Err(e);
    }
    Ok(subscriber)
}

impl Subscriber {
    /// A subscription that hands out the RTP of every track `tracks` brings (whoever made the
    /// offer).
    pub(crate) fn receiving(
        pc: Arc<dyn PeerConnection>,
        mut tracks: mpsc::UnboundedReceiver<Arc<dyn TrackRemote>>,
    ) -> Subscriber {
        let (media_tx, media_rx) = mpsc::channel(RECEIVE_QUEUE);
        let video_track = Arc::new(Mutex::new(None));
        let dropped = Arc::new(AtomicU64::new(0));
        let video_slot = video_track.clone();
        let dropped_count = dropped.clone();
        tokio::spawn(async move {
            while let Some(track) = tracks.recv().await {
                let kind = match track.kind().await {
                    RtpCodecKind::Video => {
                        *video_slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(track.clone());
                        MediaKind::Video
                    }
                    _ => MediaKind::Audio,
                };
                let media_tx = media_tx.clone();
                let dropped = dropped_count.clone();
                tokio::spawn(async move {
                    while let Some(event) = track.poll().await {
                        match event {
                            TrackRemoteEvent::OnRtpPacket(packet) => {
                                let full = media_tx.try_send(RemoteMedia { kind, packet }).is_err();
                                dropped.fetch_add(u64::from(full), Ordering::Relaxed);
                            }
                            TrackRemoteEvent::OnEnded | TrackRemoteEvent::OnError => break,
                            _ => {}
                        }
                    }
                });
            }
        });
        Subscriber {
            pc,
            media: media_rx,
            video_track,
            dropped,
        }
    }
}
