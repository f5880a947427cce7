//! Everything that flows between the device's actors. Reading this file tells the data flow:
//!
//! ```text
//! VideoCapture ─(LatestSlot + FrameReady)─▶ VideoEncoder ─EncodedVideoFrame─▶ PeerLink ─▶ room
//! AudioCapture ──────────RawAudio─────────▶ AudioEncoder ─EncodedAudioPacket─▶ PeerLink
//! PeerLink ─KeyframeRequest, TargetBitrate─▶ VideoEncoder        (receivers' PLI/FIR, loss)
//! RoomSession ─PublisherReady / PublisherGone─▶ PeerLink
//! subscription ─RemoteAudio / TalkerGone─▶ Playback ─▶ speaker
//! room backend (roombell client | Janus) ─RoomEvent─▶ RoomSession
//! capture/speaker threads ─SourceFailed─▶ Supervisor ─(reopen with backoff)─▶ capture actor
//!                                                    └─StartSpeaker─▶ Playback
//! Supervisor ─Shutdown─▶ RoomSession (leave the room)
//! anyone ─GetStatus─▶ Supervisor
//! ```

use crate::client::{ClientEvent, Publisher};
use crate::media::frame::AudioFrame;
use crate::media::h264::EncodedVideo;
use actix::prelude::*;
use bytes::Bytes;

/// The capture thread put a new frame in the shared latest-frame slot.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FrameReady;

/// 20 ms of microphone audio. Audio is never dropped: a gap would be heard.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RawAudio(pub AudioFrame);

/// One encoded H.264 access unit, ready to send.
#[derive(Message)]
#[rtype(result = "()")]
pub struct EncodedVideoFrame(pub EncodedVideo);

/// One encoded 20 ms Opus packet, ready to send.
#[derive(Message)]
#[rtype(result = "()")]
pub struct EncodedAudioPacket(pub Bytes);

/// A receiver asked for a keyframe (PLI/FIR relayed by the SFU).
#[derive(Message)]
#[rtype(result = "()")]
pub struct KeyframeRequest;

/// The rate the network can carry now, in bits per second.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TargetBitrate(pub u32);

/// The room session published: media can go out through this.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PublisherReady(pub Publisher);

/// The publication ended (leave, disconnect, reconnect in progress).
#[derive(Message)]
#[rtype(result = "()")]
pub struct PublisherGone;

/// One Opus packet from a remote talker.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RemoteAudio {
    pub user_id: String,
    pub sequence_number: u16,
    pub rtp_timestamp: u32,
    pub payload: Bytes,
}

/// A remote talker stopped publishing or left.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TalkerGone {
    pub user_id: String,
}

/// A TRTC client event from the signaling connection of session `generation` (events of a
/// connection already replaced are ignored).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RoomEvent {
    pub generation: u64,
    pub event: ClientEvent,
}

/// Which capture backend failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Camera,
    Microphone,
    Speaker,
}

/// A capture or playback thread ended with an error; the supervisor restarts it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SourceFailed {
    pub kind: SourceKind,
    pub reason: String,
}

/// A (re)opened speaker for the playback actor to play into.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StartSpeaker(pub Box<dyn crate::media::source::AudioSink>);

/// Leave the room now: we are stopping.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// The device's one line of truth (for logs and systemd STATUS=).
#[derive(Message)]
#[rtype(result = "DeviceStatus")]
pub struct GetStatus;

/// What the device is doing right now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceStatus {
    pub in_room: bool,
    pub publishing: bool,
    pub listeners: usize,
    pub frames_sent: u64,
    pub audio_packets_sent: u64,
    pub line: String,
}
