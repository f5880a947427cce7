//! The TRTC client state machine, without IO: connection state, pending requests, remote
//! members and streams. The async `Client` feeds it socket events and server messages and
//! carries out what it says; the device's `RoomSession` actor wraps the same machine.

use crate::protocol::{
    code, extra, BanReason, IceCandidate, LeaveReason, PeerId, RoomId, ServerMessage, SignalError,
    StreamInfo,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// TRTC's signaling connection states (`connection-state-changed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    Disconnected,
    Connecting,
    Connected,
    Reconnecting,
}

impl ConnectionState {
    /// The name TRTC uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Disconnected => "DISCONNECTED",
            ConnectionState::Connecting => "CONNECTING",
            ConnectionState::Connected => "CONNECTED",
            ConnectionState::Reconnecting => "RECONNECTING",
        }
    }
}

/// What kind of request is waiting for its response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RequestKind {
    Join,
    Leave,
    Publish,
    Unpublish,
    Subscribe(String),
    Unsubscribe(String),
    Mute,
    SwitchRole,
    Heartbeat,
}

impl RequestKind {
    /// TRTC refuses a second join/leave/publish/unpublish/switchRole while one is pending.
    fn is_exclusive(&self) -> bool {
        matches!(
            self,
            RequestKind::Join
                | RequestKind::Leave
                | RequestKind::Publish
                | RequestKind::Unpublish
                | RequestKind::SwitchRole
        )
    }
}

/// TRTC client events, as the Web SDK names them.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    ConnectionStateChanged {
        prev: ConnectionState,
        state: ConnectionState,
    },
    PeerJoin {
        user_id: String,
    },
    PeerLeave {
        user_id: String,
        reason: LeaveReason,
    },
    StreamAdded(StreamInfo),
    StreamRemoved(StreamInfo),
    StreamUpdated(StreamInfo),
    MuteAudio {
        user_id: String,
    },
    UnmuteAudio {
        user_id: String,
    },
    MuteVideo {
        user_id: String,
    },
    UnmuteVideo {
        user_id: String,
    },
    ClientBanned {
        reason: BanReason,
        message: String,
    },
    NetworkQuality {
        uplink: u8,
        downlink: u8,
    },
    /// An error the server sent outside any request.
    Error(SignalError),
}

/// What a server message means for the IO layer.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// The response to request `id` of `kind`: an SDP answer for publish/subscribe, or an error.
    Reply {
        id: u64,
        kind: RequestKind,
        result: Result<Option<String>, SignalError>,
    },
    /// A candidate for one of our peer connections.
    Candidate {
        peer: PeerId,
        candidate: IceCandidate,
    },
    Events(Vec<ClientEvent>),
}

/// The client's view of the room.
#[derive(Debug)]
pub struct ClientState {
    connection: ConnectionState,
    next_id: u64,
    pending: HashMap<u64, RequestKind>,
    room: Option<RoomId>,
    publishing: bool,
    members: BTreeSet<String>,
    streams: BTreeMap<String, StreamInfo>,
}

impl Default for ClientState {
    fn default() -> Self {
        ClientState {
            connection: ConnectionState::Disconnected,
            next_id: 1,
            pending: HashMap::new(),
            room: None,
            publishing: false,
            members: BTreeSet::new(),
            streams: BTreeMap::new(),
        }
    }
}

fn invalid_operation(extra_code: u32, message: impl Into<String>) -> SignalError {
    SignalError::new(code::INVALID_OPERATION, extra_code, message)
}

impl ClientState {
    pub fn connection(&self) -> ConnectionState {
        self.connection
    }

    pub fn room(&self) -> Option<&RoomId> {
        self.room.as_ref()
    }

    pub fn is_publishing(&self) -> bool {
        self.publishing
    }

    /// Members other than us, as far as the server told us.
    pub fn members(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(String::as_str)
    }

    /// Streams published by the others, by user id.
    pub fn remote_stream(&self, user_id: &str) -> Option<&StreamInfo> {
        self.streams.get(user_id)
    }

    pub fn remote_streams(&self) -> impl Iterator<Item = &StreamInfo> {
        self.streams.values()
    }

    fn set_connection(&mut self, state: ConnectionState) -> Vec<ClientEvent> {
        let prev = self.connection;
        if prev == state {
            return Vec::new();
        }
        self.connection = state;
        vec![ClientEvent::ConnectionStateChanged { prev, state }]
    }

    /// The socket is being opened (first time) or reopened (after a drop while joined).
    pub fn socket_connecting(&mut self) -> Vec<ClientEvent> {
        let next = if self.room.is_some() || self.connection == ConnectionState::Reconnecting {
            ConnectionState::Reconnecting
        } else {
            ConnectionState::Connecting
        };
        self.set_connection(next)
    }

    pub fn socket_open(&mut self) -> Vec<ClientEvent> {
        self.set_connection(ConnectionState::Connected)
    }

    /// The socket closed: every pending request fails, and the room is gone with the server's
    /// state (a rejoin starts from scratch). Returns the failed requests and the events.
    pub fn socket_closed(
        &mut self,
        will_retry: bool,
    ) -> (Vec<(u64, RequestKind)>, Vec<ClientEvent>) {
        let failed: Vec<(u64, RequestKind)> = self.pending.drain().collect();
        let mut events = Vec::new();
        for stream in std::mem::take(&mut self.streams).into_values() {
            events.push(ClientEvent::StreamRemoved(stream));
        }
        self.members.clear();
        self.publishing = false;
        self.room = None;
        let next = if will_retry {
            ConnectionState::Reconnecting
        } else {
            ConnectionState::Disconnected
        };
        events.extend(self.set_connection(next));
        (failed, events)
    }

    /// Checks a request against TRTC's rules and allocates its id.
    pub fn start_request(&mut self, kind: RequestKind) -> Result<u64, SignalError> {
        if self.connection != ConnectionState::Connected {
            return Err(SignalError::new(
                code::INVALID_OPERATION,
                extra::NOT_JOINED,
                format!("signaling is {}, not CONNECTED", self.connection.as_str()),
            ));
        }
        if kind.is_exclusive() && self.pending.values().any(|k| *k == kind) {
            return Err(invalid_operation(
                extra::BAD_PARAMETER,
                format!("a {kind:?} is already in progress"),
            ));
        }
        match &kind {
            RequestKind::Join if self.room.is_some() => {
                return Err(invalid_operation(extra::ALREADY_JOINED, "already joined"));
            }
            RequestKind::Join | RequestKind::Heartbeat => {}
            _ if self.room.is_none() => {
                return Err(invalid_operation(extra::NOT_JOINED, "join a room first"));
            }
            RequestKind::Publish if self.publishing => {
                return Err(invalid_operation(
                    extra::BAD_PARAMETER,
                    "already publishing",
                ));
            }
            RequestKind::Subscribe(user) if !self.streams.contains_key(user) => {
                return Err(SignalError::new(
                    code::REMOTE_STREAM_NOT_EXIST,
                    extra::NO_SUCH_STREAM,
                    format!("{user} publishes no stream"),
                ));
            }
            _ => {}
        }
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, kind);
        Ok(id)
    }

    /// Remembers the room a pending join is for, so the response can complete it.
    pub fn joining(&mut self, room: RoomId) -> PendingJoin {
        PendingJoin(room)
    }

    /// Completes a successful join.
    pub fn joined(&mut self, pending: PendingJoin) {
        self.room = Some(pending.0);
    }

    /// Forgets request `id` without a response (timed out or abandoned).
    pub fn abandon(&mut self, id: u64) -> Option<RequestKind> {
        self.pending.remove(&id)
    }

    /// Interprets one message from the server.
    pub fn server_message(&mut self, msg: ServerMessage) -> Incoming {
        match msg {
            ServerMessage::Response { id, sdp } => match self.pending.remove(&id) {
                Some(kind) => {
                    self.complete(&kind);
                    Incoming::Reply {
                        id,
                        kind,
                        result: Ok(sdp),
                    }
                }
                None => Incoming::Events(Vec::new()),
            },
            ServerMessage::Error {
                id: Some(id),
                code,
                extra_code,
                message,
            } => match self.pending.remove(&id) {
                Some(kind) => Incoming::Reply {
                    id,
                    kind,
                    result: Err(SignalError {
                        code,
                        extra_code,
                        message,
                    }),
                },
                None => Incoming::Events(vec![ClientEvent::Error(SignalError {
                    code,
                    extra_code,
                    message,
                })]),
            },
            ServerMessage::Error {
                id: None,
                code,
                extra_code,
                message,
            } => Incoming::Events(vec![ClientEvent::Error(SignalError {
                code,
                extra_code,
                message,
            })]),
            ServerMessage::Candidate { peer, candidate } => Incoming::Candidate { peer, candidate },
            event => Incoming::Events(self.event(event)),
        }
    }

    fn complete(&mut self, kind: &RequestKind) {
        match kind {
            RequestKind::Publish => self.publishing = true,
            RequestKind::Unpublish => self.publishing = false,
            RequestKind::Leave => {
                self.room = None;
                self.publishing = false;
                self.members.clear();
                self.streams.clear();
            }
            _ => {}
        }
    }

    fn event(&mut self, msg: ServerMessage) -> Vec<ClientEvent> {
        let event = match msg {
            ServerMessage::PeerJoin { user_id } => {
                self.members.insert(user_id.clone());
                ClientEvent::PeerJoin { user_id }
            }
            ServerMessage::PeerLeave { user_id, reason } => {
                self.members.remove(&user_id);
                let mut events = Vec::new();
                if let Some(stream) = self.streams.remove(&user_id) {
                    events.push(ClientEvent::StreamRemoved(stream));
                }
                events.push(ClientEvent::PeerLeave { user_id, reason });
                return events;
            }
            ServerMessage::StreamAdded { stream } => {
                self.streams.insert(stream.user_id.clone(), stream.clone());
                ClientEvent::StreamAdded(stream)
            }
            ServerMessage::StreamRemoved { stream } => {
                // A removal we already applied (e.g. through peer-leave) is not news.
                if self.streams.remove(&stream.user_id).is_none() {
                    return Vec::new();
                }
                ClientEvent::StreamRemoved(stream)
            }
            ServerMessage::StreamUpdated { stream } => {
                self.streams.insert(stream.user_id.clone(), stream.clone());
                ClientEvent::StreamUpdated(stream)
            }
            ServerMessage::MuteAudio { user_id } => {
                self.set_muted(&user_id, Some(true), None);
                ClientEvent::MuteAudio { user_id }
            }
            ServerMessage::UnmuteAudio { user_id } => {
                self.set_muted(&user_id, Some(false), None);
                ClientEvent::UnmuteAudio { user_id }
            }
            ServerMessage::MuteVideo { user_id } => {
                self.set_muted(&user_id, None, Some(true));
                ClientEvent::MuteVideo { user_id }
            }
            ServerMessage::UnmuteVideo { user_id } => {
                self.set_muted(&user_id, None, Some(false));
                ClientEvent::UnmuteVideo { user_id }
            }
            ServerMessage::ClientBanned { reason, message } => {
                self.room = None;
                self.publishing = false;
                self.members.clear();
                self.streams.clear();
                ClientEvent::ClientBanned { reason, message }
            }
            ServerMessage::NetworkQuality {
                uplink_network_quality,
                downlink_network_quality,
                ..
            } => ClientEvent::NetworkQuality {
                uplink: uplink_network_quality,
                downlink: downlink_network_quality,
            },
            ServerMessage::Response { .. }
            | ServerMessage::Error { .. }
            | ServerMessage::Candidate { .. } => return Vec::new(),
        };
        vec![event]
    }

    fn set_muted(&mut self, user_id: &str, audio: Option<bool>, video: Option<bool>) {
        if let Some(stream) = self.streams.get_mut(user_id) {
            if let Some(muted) = audio {
                stream.audio_muted = muted;
            }
            if let Some(muted) = video {
                stream.video_muted = muted;
            }
        }
    }
}

/// A join waiting for its response.
#[derive(Debug)]
pub struct PendingJoin(RoomId);

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(user: &str) -> StreamInfo {
        StreamInfo {
            user_id: user.into(),
            stream_id: format!("{user}-1"),
            audio: true,
            video: true,
            audio_muted: false,
            video_muted: false,
        }
    }

    fn connected() -> ClientState {
        let mut state = ClientState::default();
        state.socket_connecting();
        state.socket_open();
        state
    }

    fn joined() -> ClientState {
        let mut state = connected();
        let id = state
            .start_request(RequestKind::Join)
            .expect("join allowed");
        let pending = state.joining(RoomId::Number(1));
        let reply = state.server_message(ServerMessage::ok(id));
        assert!(matches!(
            reply,
            Incoming::Reply {
                result: Ok(None),
                ..
            }
        ));
        state.joined(pending);
        state
    }

    #[test]
    fn connection_states_follow_trtc() {
        let mut state = ClientState::default();
        assert_eq!(
            state.socket_connecting(),
            vec![ClientEvent::ConnectionStateChanged {
                prev: ConnectionState::Disconnected,
                state: ConnectionState::Connecting
            }]
        );
        state.socket_open();
        assert_eq!(state.connection(), ConnectionState::Connected);
        let (_, events) = state.socket_closed(true);
        assert!(events.contains(&ClientEvent::ConnectionStateChanged {
            prev: ConnectionState::Connected,
            state: ConnectionState::Reconnecting
        }));
        assert_eq!(state.socket_connecting(), vec![]);
        state.socket_open();
        let (_, events) = state.socket_closed(false);
        assert_eq!(
            events,
            vec![ClientEvent::ConnectionStateChanged {
                prev: ConnectionState::Connected,
                state: ConnectionState::Disconnected
            }]
        );
    }

    #[test]
    fn requests_before_join_or_while_one_is_pending_are_invalid() {
        let mut state = ClientState::default();
        assert!(
            state.start_request(RequestKind::Join).is_err(),
            "not connected"
        );
        let mut state = connected();
        let err = state
            .start_request(RequestKind::Publish)
            .expect_err("not joined");
        assert_eq!(err.code, code::INVALID_OPERATION);
        state.start_request(RequestKind::Join).expect("first join");
        let err = state
            .start_request(RequestKind::Join)
            .expect_err("second join");
        assert_eq!(err.code, code::INVALID_OPERATION);
        let mut state = joined();
        assert!(
            state.start_request(RequestKind::Join).is_err(),
            "already joined"
        );
    }

    #[test]
    fn subscribing_to_a_missing_stream_is_remote_stream_not_exist() {
        let mut state = joined();
        let err = state
            .start_request(RequestKind::Subscribe("ghost".into()))
            .expect_err("no stream");
        assert_eq!(err.code, code::REMOTE_STREAM_NOT_EXIST);
        state.server_message(ServerMessage::StreamAdded {
            stream: stream("door"),
        });
        assert!(state
            .start_request(RequestKind::Subscribe("door".into()))
            .is_ok());
    }

    #[test]
    fn remote_streams_and_mute_state_are_tracked() {
        let mut state = joined();
        state.server_message(ServerMessage::PeerJoin {
            user_id: "door".into(),
        });
        state.server_message(ServerMessage::StreamAdded {
            stream: stream("door"),
        });
        state.server_message(ServerMessage::MuteAudio {
            user_id: "door".into(),
        });
        assert!(state.remote_stream("door").is_some_and(|s| s.audio_muted));
        let Incoming::Events(events) = state.server_message(ServerMessage::PeerLeave {
            user_id: "door".into(),
            reason: LeaveReason::Normal,
        }) else {
            panic!("expected events")
        };
        assert!(matches!(events[0], ClientEvent::StreamRemoved(_)));
        assert!(matches!(events[1], ClientEvent::PeerLeave { .. }));
        assert!(state.remote_stream("door").is_none());
        // The server's own stream-removed after peer-leave is not reported twice.
        let Incoming::Events(events) = state.server_message(ServerMessage::StreamRemoved {
            stream: stream("door"),
        }) else {
            panic!("expected events")
        };
        assert!(events.is_empty());
    }

    #[test]
    fn errors_complete_their_request_and_closing_fails_the_rest() {
        let mut state = joined();
        let id = state.start_request(RequestKind::Publish).expect("publish");
        let reply = state.server_message(
            SignalError::new(
                code::INVALID_OPERATION,
                extra::AUDIENCE_CANNOT_PUBLISH,
                "no",
            )
            .to_message(Some(id)),
        );
        assert!(matches!(
            reply,
            Incoming::Reply {
                kind: RequestKind::Publish,
                result: Err(_),
                ..
            }
        ));
        assert!(!state.is_publishing());
        let id = state.start_request(RequestKind::Publish).expect("again");
        let (failed, _) = state.socket_closed(true);
        assert_eq!(failed, vec![(id, RequestKind::Publish)]);
        assert!(state.room().is_none());
    }

    #[test]
    fn being_kicked_forgets_the_room() {
        let mut state = joined();
        let Incoming::Events(events) = state.server_message(ServerMessage::ClientBanned {
            reason: BanReason::Kick,
            message: "same userId joined elsewhere".into(),
        }) else {
            panic!("expected events")
        };
        assert_eq!(events.len(), 1);
        assert!(state.room().is_none());
    }
}
