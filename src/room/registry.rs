//! The room registry: rooms, members, streams and subscriptions as a sans-IO state machine.
//!
//! The WebSocket layer feeds it what happened (a connection opened, a message arrived, a socket
//! closed, the clock moved, the SFU failed) and carries out the [`Effect`]s it returns, in order.
//! It owns no socket, timer or task and never reads the clock, so every rule of
//! `docs/protocol.md` is tested here in-process and deterministically (str0m's sans-IO idea).
//!
//! What it does not do: answer SDP (the SFU does, through [`Effect::StartPublish`] and
//! [`Effect::StartSubscribe`]) and verify UserSigs (an [`Authenticator`] does).

use crate::protocol::{
    code, extra, BanReason, ClientMessage, IceCandidate, LeaveReason, MediaKinds, Mode, PeerId,
    Role, RoomId, ServerMessage, SignalError, StreamInfo,
};
use crate::usersig::privilege;
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

/// The IO layer's name for one client connection (one WebSocket).
pub type ConnId = u64;

/// Longest userId accepted, in bytes.
pub const MAX_USER_ID_BYTES: usize = 32;

/// What the caller knows about the clock: monotonic for heartbeats, unix seconds for UserSig expiry.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    /// For heartbeat timeouts.
    pub mono: Instant,
    /// Seconds since 1970, for UserSig and privateMapKey expiry.
    pub unix: u64,
}

/// Checks a join's credentials (UserSig, privateMapKey). The real one (UserSig v2) is in
/// `room::auth`; tests use a fake.
pub trait Authenticator: Send {
    /// Accepts the join with the privileges its privateMapKey grants, or refuses it
    /// (code `JOIN_ROOM_FAILED`); the error reaches the client unchanged.
    fn authenticate(&self, join: &JoinCredentials<'_>, now_unix: u64)
        -> Result<Grant, SignalError>;
}

/// The parts of a join an [`Authenticator`] looks at.
#[derive(Clone, Copy)]
pub struct JoinCredentials<'a> {
    pub sdk_app_id: u64,
    pub user_id: &'a str,
    pub user_sig: &'a str,
    pub room_id: &'a RoomId,
    pub private_map_key: Option<&'a str>,
}

/// Never shows the UserSig or privateMapKey: they are bearer credentials.
impl std::fmt::Debug for JoinCredentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinCredentials")
            .field("sdk_app_id", &self.sdk_app_id)
            .field("user_id", &self.user_id)
            .field("user_sig", &crate::config::redacted(self.user_sig))
            .field("room_id", &self.room_id)
            .field(
                "private_map_key",
                &self.private_map_key.map(crate::config::redacted),
            )
            .finish()
    }
}

/// Privilege bits granted by a privateMapKey (TRTC bits: 2 enter, 4 send audio, 8 recv audio,
/// 16 send video, 32 recv video); `None` = no key given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    pub privileges: Option<u32>,
}

/// The server operator's rules for every room.
#[derive(Clone, Debug)]
pub struct RegistryPolicy {
    /// Refuse joins without a privateMapKey (as if it granted nothing).
    pub require_private_map_key: bool,
    /// A join that would make a room bigger than this is refused (`ROOM_FULL`).
    pub max_members_per_room: usize,
    /// A connection silent for longer than this is dropped by [`RoomRegistry::tick`].
    pub heartbeat_timeout: Duration,
}

impl Default for RegistryPolicy {
    fn default() -> Self {
        RegistryPolicy {
            require_private_map_key: false,
            max_members_per_room: 16,
            heartbeat_timeout: Duration::from_millis(crate::protocol::HEARTBEAT_TIMEOUT_MS),
        }
    }
}

/// A room is identified by its roomId within one sdkAppId.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RoomKey {
    pub sdk_app_id: u64,
    pub room_id: RoomId,
}

impl fmt::Display for RoomKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.sdk_app_id, self.room_id)
    }
}

/// What the registry asks the IO layer (WebSocket sessions and SFU) to do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send `msg` to connection `to`.
    Send { to: ConnId, msg: ServerMessage },
    /// Close that connection (after the Sends before it).
    Close { conn: ConnId },
    /// Set up the server side of a publication: the SFU answers `sdp` (the client's offer) and
    /// then the IO layer sends `ServerMessage::Response{id: request_id, sdp: Some(answer)}` — or
    /// calls [`RoomRegistry::media_failed`].
    StartPublish {
        conn: ConnId,
        request_id: u64,
        user_id: String,
        stream_id: String,
        kinds: MediaKinds,
        sdp: String,
    },
    /// Tear down `conn`'s publication. Also sent after a failed setup, so that the IO layer can
    /// drop anything it kept for it (buffered candidates); stopping nothing must be harmless.
    StopPublish { conn: ConnId, stream_id: String },
    /// Set up a subscription of `conn` to `publisher`'s stream with only the wanted kinds; answered
    /// like [`Effect::StartPublish`].
    StartSubscribe {
        conn: ConnId,
        request_id: u64,
        publisher: ConnId,
        publisher_user: String,
        stream_id: String,
        kinds: MediaKinds,
        sdp: String,
    },
    /// Tear down `conn`'s subscription to `publisher_user`; like `StopPublish`, also after a
    /// failed setup.
    StopSubscribe {
        conn: ConnId,
        publisher_user: String,
    },
    /// A trickled candidate from the client for one of its peer connections.
    RemoteCandidate {
        conn: ConnId,
        peer: PeerId,
        candidate: IceCandidate,
    },
    /// The room's last member left; nothing of it remains.
    RoomDisposed { room: RoomKey },
}

/// One WebSocket as the registry sees it.
#[derive(Debug)]
struct Connection {
    last_seen: Instant,
    /// The room this connection is a member of, and as whom.
    membership: Option<Membership>,
    bad_messages: u64,
    /// The registry asked the IO layer to close it: whatever it still sends is ignored.
    closing: bool,
}

#[derive(Clone, Debug)]
struct Membership {
    room: RoomKey,
    user_id: String,
}

#[derive(Debug)]
struct Room {
    /// The first member's mode; every later join must use the same one.
    mode: Mode,
    /// In join order, which is the order newcomers learn about them.
    members: Vec<Member>,
}

#[derive(Debug)]
struct Member {
    conn: ConnId,
    user_id: String,
    role: Role,
    /// Privileges checked on join, publish and subscribe; `None` = not enforced.
    privileges: Option<u32>,
    publication: Option<Publication>,
    subscriptions: Vec<Subscription>,
}

#[derive(Debug)]
struct Publication {
    stream: StreamInfo,
    /// The publish request the SFU is answering (or has answered).
    request_id: u64,
}

#[derive(Debug)]
struct Subscription {
    publisher_user: String,
    /// The subscribe request the SFU is answering (or has answered).
    request_id: u64,
    kinds: MediaKinds,
}

impl Room {
    fn position(&self, user_id: &str) -> Option<usize> {
        self.members.iter().position(|m| m.user_id == user_id)
    }

    fn member(&self, user_id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.user_id == user_id)
    }

    fn member_mut(&mut self, user_id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.user_id == user_id)
    }

    /// Sends `msg` to every member but `user_id`.
    fn tell_others(&self, user_id: &str, msg: &ServerMessage, out: &mut Vec<Effect>) {
        for member in self.members.iter().filter(|m| m.user_id != user_id) {
            out.push(send(member.conn, msg.clone()));
        }
    }

    /// Ends `user_id`'s publication: the SFU stops it, its subscribers stop, the others see it go.
    fn stop_publication(&mut self, user_id: &str) -> Vec<Effect> {
        let Some(publisher) = self.member_mut(user_id) else {
            return Vec::new();
        };
        let Some(publication) = publisher.publication.take() else {
            return Vec::new();
        };
        let mut out = vec![Effect::StopPublish {
            conn: publisher.conn,
            stream_id: publication.stream.stream_id.clone(),
        }];
        for member in self.members.iter_mut().filter(|m| m.user_id != user_id) {
            if member.remove_subscription(user_id).is_some() {
                out.push(Effect::StopSubscribe {
                    conn: member.conn,
                    publisher_user: user_id.to_owned(),
                });
            }
            out.push(send(
                member.conn,
                ServerMessage::StreamRemoved {
                    stream: publication.stream.clone(),
                },
            ));
        }
        out
    }

    /// Takes `user_id` out of the room, stopping its media; the others get `peer-leave{reason}`.
    fn remove_member(
        &mut self,
        user_id: &str,
        reason: LeaveReason,
    ) -> (Option<Member>, Vec<Effect>) {
        let Some(position) = self.position(user_id) else {
            return (None, Vec::new());
        };
        let mut out = Vec::new();
        if let Some(member) = self.members.get(position) {
            for subscription in &member.subscriptions {
                out.push(Effect::StopSubscribe {
                    conn: member.conn,
                    publisher_user: subscription.publisher_user.clone(),
                });
            }
        }
        out.extend(self.stop_publication(user_id));
        let member = self.members.remove(position);
        let leave = ServerMessage::PeerLeave {
            user_id: user_id.to_owned(),
            reason,
        };
        self.tell_others(user_id, &leave, &mut out);
        (Some(member), out)
    }
}

impl Member {
    fn subscription(&self, publisher_user: &str) -> Option<&Subscription> {
        self.subscriptions
            .iter()
            .find(|s| s.publisher_user == publisher_user)
    }

    fn remove_subscription(&mut self, publisher_user: &str) -> Option<Subscription> {
        let position = self
            .subscriptions
            .iter()
            .position(|s| s.publisher_user == publisher_user)?;
        Some(self.subscriptions.remove(position))
    }
}

fn send(to: ConnId, msg: ServerMessage) -> Effect {
    Effect::Send { to, msg }
}

fn not_joined(kind: &str) -> SignalError {
    SignalError::new(
        code::INVALID_OPERATION,
        extra::NOT_JOINED,
        format!("{kind} needs a joined room; send join first"),
    )
}

/// Checks a userId: 1 to 32 bytes of `A-Z a-z 0-9 _ - @ .`.
pub fn validate_user_id(user_id: &str) -> Result<(), String> {
    const RULE: &str = "a userId is 1 to 32 characters from A-Z a-z 0-9 _ - @ .";
    if user_id.is_empty() {
        return Err(format!("userId is empty; {RULE}"));
    }
    if user_id.len() > MAX_USER_ID_BYTES {
        return Err(format!("userId has {} bytes; {RULE}", user_id.len()));
    }
    if let Some(bad) = user_id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_-@.".contains(*c)))
    {
        return Err(format!("userId {user_id:?} contains {bad:?}; {RULE}"));
    }
    Ok(())
}

/// A cheap sanity check of an offer; the SFU parses it for real.
fn check_offer(sdp: &str, request: &str) -> Result<(), SignalError> {
    if sdp.trim_start().starts_with("v=0") {
        Ok(())
    } else {
        Err(SignalError::new(
            code::INVALID_PARAMETER,
            extra::BAD_SDP,
            format!("{request} sdp is not an SDP offer: it must start with \"v=0\""),
        ))
    }
}

/// Refuses `what` unless `privileges` (when enforced) include `bit`.
fn require_privilege(privileges: Option<u32>, bit: u32, what: &str) -> Result<(), SignalError> {
    match privileges {
        Some(granted) if granted & bit == 0 => Err(SignalError::new(
            code::INVALID_OPERATION,
            extra::NO_PRIVILEGE,
            format!("your privateMapKey grants privileges {granted}, without {what} (bit {bit})"),
        )),
        _ => Ok(()),
    }
}

fn kinds_text(kinds: MediaKinds) -> &'static str {
    match (kinds.audio, kinds.video) {
        (true, true) => "audio and video",
        (true, false) => "audio only",
        (false, true) => "video only",
        (false, false) => "nothing",
    }
}

fn mode_text(mode: Mode) -> &'static str {
    match mode {
        Mode::Rtc => "rtc",
        Mode::Live => "live",
    }
}

/// Every room of one server, and every connection to it.
pub struct RoomRegistry {
    policy: RegistryPolicy,
    auth: Box<dyn Authenticator>,
    connections: HashMap<ConnId, Connection>,
    rooms: HashMap<RoomKey, Room>,
    /// Makes stream ids unique for the life of the server.
    streams_started: u64,
}

impl RoomRegistry {
    /// An empty registry.
    pub fn new(policy: RegistryPolicy, auth: Box<dyn Authenticator>) -> Self {
        RoomRegistry {
            policy,
            auth,
            connections: HashMap::new(),
            rooms: HashMap::new(),
            streams_started: 0,
        }
    }

    /// A new connection; it must join before anything but heartbeats is accepted.
    pub fn connect(&mut self, conn: ConnId, now: Now) {
        self.connections.insert(
            conn,
            Connection {
                last_seen: now.mono,
                membership: None,
                bad_messages: 0,
                closing: false,
            },
        );
    }

    /// One parsed message from `conn`. Messages from unknown or closing connections are ignored.
    pub fn handle(&mut self, conn: ConnId, msg: ClientMessage, now: Now) -> Vec<Effect> {
        if !self.touch(conn, now) {
            return Vec::new();
        }
        let request_id = msg.request_id();
        let result = match msg {
            ClientMessage::Join {
                id,
                sdk_app_id,
                user_id,
                user_sig,
                room_id,
                mode,
                role,
                private_map_key,
            } => self.join(
                conn,
                id,
                JoinRequest {
                    sdk_app_id,
                    user_id,
                    user_sig,
                    room_id,
                    mode,
                    role,
                    private_map_key,
                },
                now,
            ),
            ClientMessage::Publish {
                id,
                audio,
                video,
                sdp,
            } => self.publish(conn, id, MediaKinds { audio, video }, sdp),
            ClientMessage::Unpublish { id } => self.unpublish(conn, id),
            ClientMessage::Subscribe {
                id,
                user_id,
                audio,
                video,
                sdp,
            } => self.subscribe(conn, id, user_id, MediaKinds { audio, video }, sdp),
            ClientMessage::Unsubscribe { id, user_id } => self.unsubscribe(conn, id, &user_id),
            ClientMessage::Mute {
                id,
                audio_muted,
                video_muted,
            } => self.mute(conn, id, audio_muted, video_muted),
            ClientMessage::SwitchRole { id, role } => self.switch_role(conn, id, role),
            ClientMessage::Candidate { peer, candidate } => self.candidate(conn, peer, candidate),
            ClientMessage::Leave { id } => self.leave(conn, id),
            ClientMessage::Heartbeat { id } => Ok(vec![send(conn, ServerMessage::ok(id))]),
        };
        // A refusal changes nothing and is told to the sender only.
        result.unwrap_or_else(|err| vec![send(conn, err.to_message(request_id))])
    }

    /// A malformed message from conn (already turned into a SignalError by
    /// protocol::parse_client_message): answer it, count it; never affects others.
    pub fn bad_message(
        &mut self,
        conn: ConnId,
        id: Option<u64>,
        err: SignalError,
        now: Now,
    ) -> Vec<Effect> {
        if !self.touch(conn, now) {
            return Vec::new();
        }
        if let Some(connection) = self.connections.get_mut(&conn) {
            connection.bad_messages += 1;
        }
        vec![send(conn, err.to_message(id))]
    }

    /// The connection's socket closed: a leave without a response (others see reason normal).
    pub fn disconnect(&mut self, conn: ConnId, _now: Now) -> Vec<Effect> {
        let Some(connection) = self.connections.remove(&conn) else {
            return Vec::new();
        };
        match connection.membership {
            Some(membership) => self.drop_member(&membership, LeaveReason::Normal),
            None => Vec::new(),
        }
    }

    /// Drops connections silent for longer than heartbeat_timeout (any message counts as alive):
    /// members leave with `peer-leave{timeout}` to the others, and every dropped connection gets
    /// a `Close` (no `client-banned`). A connection that never joins is dropped the same way.
    pub fn tick(&mut self, now: Now) -> Vec<Effect> {
        let timeout = self.policy.heartbeat_timeout;
        let mut silent: Vec<ConnId> = self
            .connections
            .iter()
            .filter(|(_, c)| {
                !c.closing && now.mono.saturating_duration_since(c.last_seen) > timeout
            })
            .map(|(conn, _)| *conn)
            .collect();
        silent.sort_unstable();
        let mut out = Vec::new();
        for conn in silent {
            let membership = self.connections.get_mut(&conn).and_then(|c| {
                c.closing = true;
                c.membership.take()
            });
            if let Some(membership) = membership {
                out.extend(self.drop_member(&membership, LeaveReason::Timeout));
            }
            out.push(Effect::Close { conn });
        }
        out
    }

    /// The SFU could not set up a publication/subscription: answer the pending request with an
    /// error and roll back (a failed publication disappears for the others with
    /// `stream-removed`). Ignored unless `request_id` is what that peer connection is waiting for.
    pub fn media_failed(
        &mut self,
        conn: ConnId,
        peer: &PeerId,
        request_id: u64,
        reason: &str,
    ) -> Vec<Effect> {
        let Some(membership) = self.membership(conn) else {
            return Vec::new();
        };
        let Some(room) = self.rooms.get_mut(&membership.room) else {
            return Vec::new();
        };
        let Some(member) = room.member_mut(&membership.user_id) else {
            return Vec::new();
        };
        let mut out = match peer {
            PeerId::Publish => {
                match &member.publication {
                    Some(p) if p.request_id == request_id => {}
                    _ => return Vec::new(),
                }
                room.stop_publication(&membership.user_id)
            }
            PeerId::Subscribe { user_id } => {
                match member.subscription(user_id) {
                    Some(s) if s.request_id == request_id => {}
                    _ => return Vec::new(),
                }
                member.remove_subscription(user_id);
                vec![Effect::StopSubscribe {
                    conn,
                    publisher_user: user_id.clone(),
                }]
            }
        };
        let what = match peer {
            PeerId::Publish => "publication".to_owned(),
            PeerId::Subscribe { user_id } => format!("subscription to {user_id}"),
        };
        let err = SignalError::new(
            code::UNKNOWN,
            extra::MEDIA_SETUP_FAILED,
            format!("the server could not set up the media of your {what}: {reason}"),
        );
        out.push(send(conn, err.to_message(Some(request_id))));
        out
    }

    // ---- read-only views for the IO layer and tests ----

    /// Open connections, joined or not.
    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// Rooms with at least one member.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Every room with at least one member.
    pub fn rooms(&self) -> impl Iterator<Item = &RoomKey> {
        self.rooms.keys()
    }

    /// The room's mode, if it exists.
    pub fn room_mode(&self, room: &RoomKey) -> Option<Mode> {
        self.rooms.get(room).map(|r| r.mode)
    }

    /// How many members the room has (0 when it does not exist).
    pub fn member_count(&self, room: &RoomKey) -> usize {
        self.rooms.get(room).map_or(0, |r| r.members.len())
    }

    /// The room's userIds in join order.
    pub fn members(&self, room: &RoomKey) -> Vec<&str> {
        self.rooms.get(room).map_or_else(Vec::new, |r| {
            r.members.iter().map(|m| m.user_id.as_str()).collect()
        })
    }

    /// Where `conn` is a member, and as which userId.
    pub fn membership_of(&self, conn: ConnId) -> Option<(&RoomKey, &str)> {
        let membership = self.connections.get(&conn)?.membership.as_ref()?;
        Some((&membership.room, membership.user_id.as_str()))
    }

    /// The connection a user of a room is on.
    pub fn conn_of(&self, room: &RoomKey, user_id: &str) -> Option<ConnId> {
        Some(self.rooms.get(room)?.member(user_id)?.conn)
    }

    /// `conn`'s role, if joined.
    pub fn role_of(&self, conn: ConnId) -> Option<Role> {
        let (room, user_id) = self.membership_of(conn)?;
        Some(self.rooms.get(room)?.member(user_id)?.role)
    }

    /// The stream a user of a room publishes.
    pub fn stream_of(&self, room: &RoomKey, user_id: &str) -> Option<&StreamInfo> {
        let member = self.rooms.get(room)?.member(user_id)?;
        member.publication.as_ref().map(|p| &p.stream)
    }

    /// Whom `conn` subscribes to, with the kinds it receives.
    pub fn subscriptions_of(&self, conn: ConnId) -> Vec<(&str, MediaKinds)> {
        let Some((room, user_id)) = self.membership_of(conn) else {
            return Vec::new();
        };
        let Some(member) = self.rooms.get(room).and_then(|r| r.member(user_id)) else {
            return Vec::new();
        };
        member
            .subscriptions
            .iter()
            .map(|s| (s.publisher_user.as_str(), s.kinds))
            .collect()
    }

    /// How many malformed messages `conn` has sent.
    pub fn bad_message_count(&self, conn: ConnId) -> u64 {
        self.connections.get(&conn).map_or(0, |c| c.bad_messages)
    }

    // ---- the transitions ----

    /// Notes that `conn` is alive; false when it is unknown or being closed.
    fn touch(&mut self, conn: ConnId, now: Now) -> bool {
        match self.connections.get_mut(&conn) {
            Some(connection) if !connection.closing => {
                connection.last_seen = now.mono;
                true
            }
            _ => false,
        }
    }

    fn membership(&self, conn: ConnId) -> Option<Membership> {
        self.connections.get(&conn)?.membership.clone()
    }

    /// `conn`'s membership and member record, or NOT_JOINED.
    fn joined(&self, conn: ConnId, kind: &str) -> Result<(Membership, &Member), SignalError> {
        let membership = self.membership(conn).ok_or_else(|| not_joined(kind))?;
        let member = self
            .rooms
            .get(&membership.room)
            .and_then(|r| r.member(&membership.user_id))
            .ok_or_else(|| not_joined(kind))?;
        Ok((membership, member))
    }

    fn room_mut(&mut self, key: &RoomKey, kind: &str) -> Result<&mut Room, SignalError> {
        self.rooms.get_mut(key).ok_or_else(|| not_joined(kind))
    }

    fn join(
        &mut self,
        conn: ConnId,
        id: u64,
        join: JoinRequest,
        now: Now,
    ) -> Result<Vec<Effect>, SignalError> {
        if let Some(membership) = self.membership(conn) {
            return Err(SignalError::new(
                code::INVALID_OPERATION,
                extra::ALREADY_JOINED,
                format!(
                    "this connection already joined room {} as {}; leave first",
                    membership.room.room_id, membership.user_id
                ),
            ));
        }
        if join.sdk_app_id == 0 {
            return Err(SignalError::new(
                code::INVALID_PARAMETER,
                extra::BAD_PARAMETER,
                "sdkAppId 0 is not valid; use the sdkAppId the server was configured with",
            ));
        }
        validate_user_id(&join.user_id)
            .map_err(|m| SignalError::new(code::INVALID_PARAMETER, extra::BAD_PARAMETER, m))?;
        join.room_id
            .validate()
            .map_err(|m| SignalError::new(code::INVALID_PARAMETER, extra::BAD_ROOM_ID, m))?;
        let grant = self.auth.authenticate(
            &JoinCredentials {
                sdk_app_id: join.sdk_app_id,
                user_id: &join.user_id,
                user_sig: &join.user_sig,
                room_id: &join.room_id,
                private_map_key: join.private_map_key.as_deref(),
            },
            now.unix,
        )?;
        let privileges =
            match grant.privileges {
                None if self.policy.require_private_map_key => return Err(SignalError::new(
                    code::JOIN_ROOM_FAILED,
                    extra::NO_PRIVILEGE,
                    "this server requires a privateMapKey with the enter-room privilege (bit 2)",
                )),
                privileges => privileges,
            };
        if let Some(granted) = privileges {
            if granted & privilege::ENTER_ROOM == 0 {
                return Err(SignalError::new(
                    code::JOIN_ROOM_FAILED,
                    extra::NO_PRIVILEGE,
                    format!(
                        "your privateMapKey grants privileges {granted}, without enter-room (bit {})",
                        privilege::ENTER_ROOM
                    ),
                ));
            }
        }
        let key = RoomKey {
            sdk_app_id: join.sdk_app_id,
            room_id: join.room_id,
        };
        let replaced = match self.rooms.get(&key) {
            Some(room) => {
                if room.mode != join.mode {
                    return Err(SignalError::new(
                        code::JOIN_ROOM_FAILED,
                        extra::MODE_MISMATCH,
                        format!(
                            "room {} is a {} room and this join asked for mode {}; every end of a room must use the same scene (mode)",
                            key.room_id,
                            mode_text(room.mode),
                            mode_text(join.mode)
                        ),
                    ));
                }
                let replaced = room.member(&join.user_id).map(|m| m.conn);
                if replaced.is_none() && room.members.len() >= self.policy.max_members_per_room {
                    return Err(room_full(&key, self.policy.max_members_per_room));
                }
                replaced
            }
            None if self.policy.max_members_per_room == 0 => {
                return Err(room_full(&key, self.policy.max_members_per_room))
            }
            None => None,
        };

        // Accepted: from here on nothing is refused.
        let mut out = Vec::new();
        if let Some(old) = replaced {
            out.push(send(
                old,
                ServerMessage::ClientBanned {
                    reason: BanReason::Kick,
                    message: format!(
                        "userId {} joined room {} from another connection; this one is closed",
                        join.user_id, key.room_id
                    ),
                },
            ));
            out.push(Effect::Close { conn: old });
            if let Some(connection) = self.connections.get_mut(&old) {
                connection.closing = true;
            }
            let old_membership = Membership {
                room: key.clone(),
                user_id: join.user_id.clone(),
            };
            // The room stays even if the old connection was its only member: it is rejoined now.
            out.extend(self.remove_member(&old_membership, LeaveReason::Kick));
        }
        let role = match join.mode {
            Mode::Rtc => Role::Anchor,
            Mode::Live => join.role,
        };
        let room = self.rooms.entry(key.clone()).or_insert_with(|| Room {
            mode: join.mode,
            members: Vec::new(),
        });
        out.push(send(conn, ServerMessage::ok(id)));
        for member in &room.members {
            out.push(send(
                conn,
                ServerMessage::PeerJoin {
                    user_id: member.user_id.clone(),
                },
            ));
        }
        for publication in room.members.iter().filter_map(|m| m.publication.as_ref()) {
            out.push(send(
                conn,
                ServerMessage::StreamAdded {
                    stream: publication.stream.clone(),
                },
            ));
        }
        let peer_join = ServerMessage::PeerJoin {
            user_id: join.user_id.clone(),
        };
        room.tell_others(&join.user_id, &peer_join, &mut out);
        room.members.push(Member {
            conn,
            user_id: join.user_id.clone(),
            role,
            privileges,
            publication: None,
            subscriptions: Vec::new(),
        });
        if let Some(connection) = self.connections.get_mut(&conn) {
            connection.membership = Some(Membership {
                room: key,
                user_id: join.user_id,
            });
        }
        Ok(out)
    }

    fn publish(
        &mut self,
        conn: ConnId,
        id: u64,
        kinds: MediaKinds,
        sdp: String,
    ) -> Result<Vec<Effect>, SignalError> {
        let (membership, member) = self.joined(conn, "publish")?;
        if member.role == Role::Audience {
            return Err(SignalError::new(
                code::INVALID_OPERATION,
                extra::AUDIENCE_CANNOT_PUBLISH,
                "an audience cannot publish; switch-role to anchor first",
            ));
        }
        if let Some(publication) = &member.publication {
            return Err(SignalError::new(
                code::INVALID_OPERATION,
                extra::ALREADY_PUBLISHING,
                format!(
                    "already publishing stream {}; unpublish it first",
                    publication.stream.stream_id
                ),
            ));
        }
        if !kinds.audio && !kinds.video {
            return Err(SignalError::new(
                code::INVALID_PARAMETER,
                extra::BAD_PARAMETER,
                "publish has neither audio nor video; set audio, video or both",
            ));
        }
        if kinds.audio {
            require_privilege(member.privileges, privilege::SEND_AUDIO, "send audio")?;
        }
        if kinds.video {
            require_privilege(member.privileges, privilege::SEND_VIDEO, "send video")?;
        }
        check_offer(&sdp, "publish")?;

        self.streams_started += 1;
        let stream = StreamInfo {
            user_id: membership.user_id.clone(),
            stream_id: format!("{}-{}", membership.user_id, self.streams_started),
            audio: kinds.audio,
            video: kinds.video,
            audio_muted: false,
            video_muted: false,
        };
        let room = self.room_mut(&membership.room, "publish")?;
        let mut out = vec![Effect::StartPublish {
            conn,
            request_id: id,
            user_id: membership.user_id.clone(),
            stream_id: stream.stream_id.clone(),
            kinds,
            sdp,
        }];
        // The stream is announced now rather than when media flows: simplest, and a subscriber
        // that comes too early is refused by the SFU and retries.
        let added = ServerMessage::StreamAdded {
            stream: stream.clone(),
        };
        room.tell_others(&membership.user_id, &added, &mut out);
        if let Some(member) = room.member_mut(&membership.user_id) {
            member.publication = Some(Publication {
                stream,
                request_id: id,
            });
        }
        Ok(out)
    }

    fn unpublish(&mut self, conn: ConnId, id: u64) -> Result<Vec<Effect>, SignalError> {
        let (membership, member) = self.joined(conn, "unpublish")?;
        if member.publication.is_none() {
            return Err(SignalError::new(
                code::INVALID_OPERATION,
                extra::NOT_PUBLISHING,
                "unpublish: nothing is published",
            ));
        }
        let room = self.room_mut(&membership.room, "unpublish")?;
        let mut out = room.stop_publication(&membership.user_id);
        out.push(send(conn, ServerMessage::ok(id)));
        Ok(out)
    }

    fn subscribe(
        &mut self,
        conn: ConnId,
        id: u64,
        publisher_user: String,
        wanted: MediaKinds,
        sdp: String,
    ) -> Result<Vec<Effect>, SignalError> {
        let (membership, member) = self.joined(conn, "subscribe")?;
        if !wanted.audio && !wanted.video {
            return Err(SignalError::new(
                code::INVALID_OPERATION,
                extra::BAD_PARAMETER,
                "subscribe asks for neither audio nor video; set audio, video or both",
            ));
        }
        if publisher_user == membership.user_id {
            return Err(SignalError::new(
                code::INVALID_OPERATION,
                extra::BAD_PARAMETER,
                "cannot subscribe to your own stream",
            ));
        }
        let no_stream = |message: String| {
            SignalError::new(
                code::REMOTE_STREAM_NOT_EXIST,
                extra::NO_SUCH_STREAM,
                message,
            )
        };
        let room = self
            .rooms
            .get(&membership.room)
            .ok_or_else(|| not_joined("subscribe"))?;
        let publisher = room.member(&publisher_user).ok_or_else(|| {
            no_stream(format!(
                "no user {publisher_user:?} in room {}",
                membership.room.room_id
            ))
        })?;
        let publication = publisher.publication.as_ref().ok_or_else(|| {
            no_stream(format!(
                "{publisher_user} is in room {} but publishes nothing",
                membership.room.room_id
            ))
        })?;
        let has = MediaKinds {
            audio: publication.stream.audio,
            video: publication.stream.video,
        };
        let kinds = MediaKinds {
            audio: wanted.audio && has.audio,
            video: wanted.video && has.video,
        };
        if !kinds.audio && !kinds.video {
            return Err(no_stream(format!(
                "{publisher_user}'s stream carries {}; you asked for {}",
                kinds_text(has),
                kinds_text(wanted)
            )));
        }
        if kinds.audio {
            require_privilege(member.privileges, privilege::RECV_AUDIO, "receive audio")?;
        }
        if kinds.video {
            require_privilege(member.privileges, privilege::RECV_VIDEO, "receive video")?;
        }
        check_offer(&sdp, "subscribe")?;

        let start = Effect::StartSubscribe {
            conn,
            request_id: id,
            publisher: publisher.conn,
            publisher_user: publisher_user.clone(),
            stream_id: publication.stream.stream_id.clone(),
            kinds,
            sdp,
        };
        let room = self.room_mut(&membership.room, "subscribe")?;
        let member = room
            .member_mut(&membership.user_id)
            .ok_or_else(|| not_joined("subscribe"))?;
        let mut out = Vec::new();
        if member.remove_subscription(&publisher_user).is_some() {
            out.push(Effect::StopSubscribe {
                conn,
                publisher_user: publisher_user.clone(),
            });
        }
        member.subscriptions.push(Subscription {
            publisher_user,
            request_id: id,
            kinds,
        });
        out.push(start);
        Ok(out)
    }

    fn unsubscribe(
        &mut self,
        conn: ConnId,
        id: u64,
        publisher_user: &str,
    ) -> Result<Vec<Effect>, SignalError> {
        let (membership, _) = self.joined(conn, "unsubscribe")?;
        let room = self.room_mut(&membership.room, "unsubscribe")?;
        let member = room
            .member_mut(&membership.user_id)
            .ok_or_else(|| not_joined("unsubscribe"))?;
        if member.remove_subscription(publisher_user).is_none() {
            return Err(SignalError::new(
                code::INVALID_OPERATION,
                extra::NO_SUCH_STREAM,
                format!("unsubscribe: you are not subscribed to {publisher_user:?}"),
            ));
        }
        Ok(vec![
            Effect::StopSubscribe {
                conn,
                publisher_user: publisher_user.to_owned(),
            },
            send(conn, ServerMessage::ok(id)),
        ])
    }

    fn mute(
        &mut self,
        conn: ConnId,
        id: u64,
        audio_muted: bool,
        video_muted: bool,
    ) -> Result<Vec<Effect>, SignalError> {
        let (membership, _) = self.joined(conn, "mute")?;
        let user_id = membership.user_id;
        let room = self.room_mut(&membership.room, "mute")?;
        let stream = room
            .member_mut(&user_id)
            .and_then(|m| m.publication.as_mut())
            .map(|p| &mut p.stream)
            .ok_or_else(|| {
                SignalError::new(
                    code::INVALID_OPERATION,
                    extra::NOT_PUBLISHING,
                    "mute: nothing is published; mute state belongs to a published stream",
                )
            })?;
        let mut events = Vec::new();
        // A kind the stream does not carry has no mute state to change.
        if stream.audio && stream.audio_muted != audio_muted {
            stream.audio_muted = audio_muted;
            events.push(if audio_muted {
                ServerMessage::MuteAudio {
                    user_id: user_id.clone(),
                }
            } else {
                ServerMessage::UnmuteAudio {
                    user_id: user_id.clone(),
                }
            });
        }
        if stream.video && stream.video_muted != video_muted {
            stream.video_muted = video_muted;
            events.push(if video_muted {
                ServerMessage::MuteVideo {
                    user_id: user_id.clone(),
                }
            } else {
                ServerMessage::UnmuteVideo {
                    user_id: user_id.clone(),
                }
            });
        }
        let mut out = vec![send(conn, ServerMessage::ok(id))];
        for event in &events {
            room.tell_others(&user_id, event, &mut out);
        }
        Ok(out)
    }

    fn switch_role(
        &mut self,
        conn: ConnId,
        id: u64,
        role: Role,
    ) -> Result<Vec<Effect>, SignalError> {
        let (membership, _) = self.joined(conn, "switch-role")?;
        let room = self.room_mut(&membership.room, "switch-role")?;
        if room.mode != Mode::Live {
            return Err(SignalError::new(
                code::INVALID_PARAMETER,
                extra::NOT_LIVE_MODE,
                format!(
                    "switch-role is only for live mode; room {} is an rtc room, where everyone is an anchor",
                    membership.room.room_id
                ),
            ));
        }
        let mut out = Vec::new();
        if role == Role::Audience {
            // An audience does not publish: its stream goes as if unpublished.
            out.extend(room.stop_publication(&membership.user_id));
        }
        if let Some(member) = room.member_mut(&membership.user_id) {
            member.role = role;
        }
        out.push(send(conn, ServerMessage::ok(id)));
        Ok(out)
    }

    fn candidate(
        &mut self,
        conn: ConnId,
        peer: PeerId,
        candidate: IceCandidate,
    ) -> Result<Vec<Effect>, SignalError> {
        let (_, member) = self.joined(conn, "candidate")?;
        // Only for a peer connection that exists, so the IO layer never buffers candidates for
        // made-up peers.
        match &peer {
            PeerId::Publish if member.publication.is_none() => {
                return Err(SignalError::new(
                    code::INVALID_OPERATION,
                    extra::NOT_PUBLISHING,
                    "candidate for the publication, but nothing is published",
                ))
            }
            PeerId::Subscribe { user_id } if member.subscription(user_id).is_none() => {
                return Err(SignalError::new(
                    code::INVALID_OPERATION,
                    extra::NO_SUCH_STREAM,
                    format!("candidate for a subscription to {user_id:?}, but there is none"),
                ))
            }
            _ => {}
        }
        Ok(vec![Effect::RemoteCandidate {
            conn,
            peer,
            candidate,
        }])
    }

    fn leave(&mut self, conn: ConnId, id: u64) -> Result<Vec<Effect>, SignalError> {
        let (membership, _) = self.joined(conn, "leave")?;
        let mut out = vec![send(conn, ServerMessage::ok(id))];
        out.extend(self.drop_member(&membership, LeaveReason::Normal));
        Ok(out)
    }

    /// Takes a member out of its room for good (the others see `reason`) and disposes of the
    /// room if it is now empty.
    fn drop_member(&mut self, membership: &Membership, reason: LeaveReason) -> Vec<Effect> {
        let mut out = self.remove_member(membership, reason);
        if self
            .rooms
            .get(&membership.room)
            .is_some_and(|r| r.members.is_empty())
        {
            self.rooms.remove(&membership.room);
            out.push(Effect::RoomDisposed {
                room: membership.room.clone(),
            });
        }
        out
    }

    /// Takes a member out of its room (the others see `reason`), keeping the room even if empty.
    fn remove_member(&mut self, membership: &Membership, reason: LeaveReason) -> Vec<Effect> {
        let Some(room) = self.rooms.get_mut(&membership.room) else {
            return Vec::new();
        };
        let (removed, out) = room.remove_member(&membership.user_id, reason);
        if let Some(connection) = removed.and_then(|m| self.connections.get_mut(&m.conn)) {
            connection.membership = None;
        }
        out
    }
}

/// A join's fields, moved out of the message.
struct JoinRequest {
    sdk_app_id: u64,
    user_id: String,
    user_sig: String,
    room_id: RoomId,
    mode: Mode,
    role: Role,
    private_map_key: Option<String>,
}

fn room_full(key: &RoomKey, max: usize) -> SignalError {
    SignalError::new(
        code::JOIN_ROOM_FAILED,
        extra::ROOM_FULL,
        format!(
            "room {} is full: it has the most members this server allows ({max})",
            key.room_id
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const APP: u64 = 1_400_000_000;
    const ROOM: u64 = 1234;
    const JOIN_ID: u64 = 1;
    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

    /// Accepts sig "good"; a pmk "pmk:N" grants privileges N.
    struct FakeAuth;

    impl Authenticator for FakeAuth {
        fn authenticate(
            &self,
            join: &JoinCredentials<'_>,
            _now_unix: u64,
        ) -> Result<Grant, SignalError> {
            if join.user_sig != "good" {
                return Err(SignalError::new(
                    code::JOIN_ROOM_FAILED,
                    extra::BAD_USER_SIG,
                    "userSig refused: forged",
                ));
            }
            let privileges = match join.private_map_key {
                None => None,
                Some(pmk) => Some(
                    pmk.strip_prefix("pmk:")
                        .and_then(|bits| bits.parse().ok())
                        .ok_or_else(|| {
                            SignalError::new(
                                code::JOIN_ROOM_FAILED,
                                extra::BAD_PRIVATE_MAP_KEY,
                                "privateMapKey refused",
                            )
                        })?,
                ),
            };
            Ok(Grant { privileges })
        }
    }

    /// A join to build: rtc mode, room 1234, a good sig and no privateMapKey unless changed.
    struct Join {
        sdk_app_id: u64,
        user: String,
        room: RoomId,
        mode: Mode,
        role: Role,
        sig: String,
        pmk: Option<String>,
    }

    fn join(user: &str) -> Join {
        Join {
            sdk_app_id: APP,
            user: user.into(),
            room: RoomId::Number(ROOM),
            mode: Mode::Rtc,
            role: Role::Anchor,
            sig: "good".into(),
            pmk: None,
        }
    }

    impl Join {
        fn live(mut self, role: Role) -> Self {
            self.mode = Mode::Live;
            self.role = role;
            self
        }
        fn role(mut self, role: Role) -> Self {
            self.role = role;
            self
        }
        fn room(mut self, room: RoomId) -> Self {
            self.room = room;
            self
        }
        fn app(mut self, sdk_app_id: u64) -> Self {
            self.sdk_app_id = sdk_app_id;
            self
        }
        fn sig(mut self, sig: &str) -> Self {
            self.sig = sig.into();
            self
        }
        fn pmk(mut self, privileges: u32) -> Self {
            self.pmk = Some(format!("pmk:{privileges}"));
            self
        }
        fn msg(self) -> ClientMessage {
            ClientMessage::Join {
                id: JOIN_ID,
                sdk_app_id: self.sdk_app_id,
                user_id: self.user,
                user_sig: self.sig,
                room_id: self.room,
                mode: self.mode,
                role: self.role,
                private_map_key: self.pmk,
            }
        }
    }

    /// A registry with a hand-driven clock.
    struct Server {
        registry: RoomRegistry,
        start: Instant,
        clock_ms: u64,
    }

    impl Server {
        fn new() -> Self {
            Self::with_policy(RegistryPolicy::default())
        }

        fn with_policy(policy: RegistryPolicy) -> Self {
            Server {
                registry: RoomRegistry::new(policy, Box::new(FakeAuth)),
                start: Instant::now(),
                clock_ms: 0,
            }
        }

        fn now(&self) -> Now {
            Now {
                mono: self.start + Duration::from_millis(self.clock_ms),
                unix: 1_700_000_000 + self.clock_ms / 1000,
            }
        }

        fn advance(&mut self, ms: u64) {
            self.clock_ms += ms;
        }

        fn connect(&mut self, conn: ConnId) {
            let now = self.now();
            self.registry.connect(conn, now);
        }

        fn send(&mut self, conn: ConnId, msg: ClientMessage) -> Vec<Effect> {
            let now = self.now();
            self.registry.handle(conn, msg, now)
        }

        fn tick(&mut self) -> Vec<Effect> {
            let now = self.now();
            self.registry.tick(now)
        }

        fn disconnect(&mut self, conn: ConnId) -> Vec<Effect> {
            let now = self.now();
            self.registry.disconnect(conn, now)
        }

        /// Connects `conn` and sends `join`, returning what that caused.
        fn join(&mut self, conn: ConnId, join: Join) -> Vec<Effect> {
            self.connect(conn);
            self.send(conn, join.msg())
        }

        /// Connects and joins, asserting success.
        fn joined(&mut self, conn: ConnId, join: Join) {
            let user = join.user.clone();
            let effects = self.join(conn, join);
            assert_eq!(
                sent_to(&effects, conn).first(),
                Some(&&ServerMessage::ok(JOIN_ID)),
                "{user} could not join: {effects:?}"
            );
        }

        fn publish(&mut self, conn: ConnId, audio: bool, video: bool) -> Vec<Effect> {
            self.send(
                conn,
                ClientMessage::Publish {
                    id: 10,
                    audio,
                    video,
                    sdp: OFFER.into(),
                },
            )
        }

        fn subscribe(&mut self, conn: ConnId, user: &str, audio: bool, video: bool) -> Vec<Effect> {
            self.send(
                conn,
                ClientMessage::Subscribe {
                    id: 20,
                    user_id: user.into(),
                    audio,
                    video,
                    sdp: OFFER.into(),
                },
            )
        }

        fn mute(&mut self, conn: ConnId, audio_muted: bool, video_muted: bool) -> Vec<Effect> {
            self.send(
                conn,
                ClientMessage::Mute {
                    id: 30,
                    audio_muted,
                    video_muted,
                },
            )
        }

        fn stream(&self, user: &str) -> StreamInfo {
            self.registry
                .stream_of(&room_key(ROOM), user)
                .cloned()
                .unwrap_or_else(|| panic!("{user} publishes nothing"))
        }
    }

    fn room_key(room: u64) -> RoomKey {
        RoomKey {
            sdk_app_id: APP,
            room_id: RoomId::Number(room),
        }
    }

    fn both() -> MediaKinds {
        MediaKinds {
            audio: true,
            video: true,
        }
    }

    fn peer_join(user: &str) -> ServerMessage {
        ServerMessage::PeerJoin {
            user_id: user.into(),
        }
    }

    fn peer_leave(user: &str, reason: LeaveReason) -> ServerMessage {
        ServerMessage::PeerLeave {
            user_id: user.into(),
            reason,
        }
    }

    fn stop_subscribe(conn: ConnId, publisher: &str) -> Effect {
        Effect::StopSubscribe {
            conn,
            publisher_user: publisher.into(),
        }
    }

    fn candidate() -> IceCandidate {
        IceCandidate {
            candidate: "candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
        }
    }

    /// The messages sent to `conn`, in order.
    fn sent_to(effects: &[Effect], conn: ConnId) -> Vec<&ServerMessage> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send { to, msg } if *to == conn => Some(msg),
                _ => None,
            })
            .collect()
    }

    /// Every connection an effect is for.
    fn addressed(effects: &[Effect]) -> BTreeSet<ConnId> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send { to, .. } => Some(*to),
                Effect::Close { conn }
                | Effect::StartPublish { conn, .. }
                | Effect::StopPublish { conn, .. }
                | Effect::StartSubscribe { conn, .. }
                | Effect::StopSubscribe { conn, .. }
                | Effect::RemoteCandidate { conn, .. } => Some(*conn),
                Effect::RoomDisposed { .. } => None,
            })
            .collect()
    }

    /// Asserts the effects are exactly one error to `conn` with these codes; returns its message.
    #[track_caller]
    fn refused(effects: &[Effect], conn: ConnId, code: u32, extra_code: u32) -> String {
        match effects {
            [Effect::Send {
                to,
                msg:
                    ServerMessage::Error {
                        code: c,
                        extra_code: x,
                        message,
                        ..
                    },
            }] if *to == conn => {
                assert_eq!((*c, *x), (code, extra_code), "wrong codes for {message:?}");
                message.clone()
            }
            other => panic!("expected one error to {conn}, got {other:?}"),
        }
    }

    // ---- join ----

    #[test]
    fn join_answers_then_introduces_existing_members_and_streams() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.publish(1, true, true);
        s.joined(2, join("phone"));
        let door_stream = s.stream("door");
        let effects = s.join(3, join("tablet"));
        assert_eq!(
            effects,
            vec![
                send(3, ServerMessage::ok(JOIN_ID)),
                send(3, peer_join("door")),
                send(3, peer_join("phone")),
                send(
                    3,
                    ServerMessage::StreamAdded {
                        stream: door_stream
                    }
                ),
                send(1, peer_join("tablet")),
                send(2, peer_join("tablet")),
            ]
        );
        assert_eq!(
            s.registry.members(&room_key(ROOM)),
            ["door", "phone", "tablet"]
        );
        assert_eq!(
            s.registry.membership_of(3),
            Some((&room_key(ROOM), "tablet"))
        );
    }

    #[test]
    fn the_first_join_creates_the_room_with_its_mode() {
        let mut s = Server::new();
        let effects = s.join(1, join("door").live(Role::Anchor));
        assert_eq!(effects, vec![send(1, ServerMessage::ok(JOIN_ID))]);
        assert_eq!(s.registry.room_mode(&room_key(ROOM)), Some(Mode::Live));
        assert_eq!(s.registry.room_count(), 1);
    }

    #[test]
    fn a_bad_room_id_is_an_invalid_parameter() {
        let mut s = Server::new();
        let effects = s.join(1, join("door").room(RoomId::Number(0)));
        let message = refused(&effects, 1, code::INVALID_PARAMETER, extra::BAD_ROOM_ID);
        assert!(message.contains("1..=4294967294"), "{message}");
        let effects = s.send(1, join("door").room(RoomId::Text("a/b".into())).msg());
        refused(&effects, 1, code::INVALID_PARAMETER, extra::BAD_ROOM_ID);
        assert_eq!(s.registry.room_count(), 0);
    }

    #[test]
    fn a_bad_user_id_is_refused_saying_what_is_allowed() {
        let mut s = Server::new();
        s.connect(1);
        for bad in ["", "has space", "ümlaut", &"x".repeat(33)] {
            let effects = s.send(1, join(bad).msg());
            let message = refused(&effects, 1, code::INVALID_PARAMETER, extra::BAD_PARAMETER);
            assert!(message.contains("A-Z a-z 0-9 _ - @ ."), "{message}");
        }
        for good in ["a", "door-01", "me@home.example", "A_b", &"x".repeat(32)] {
            assert_eq!(validate_user_id(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn sdk_app_id_zero_is_refused() {
        let mut s = Server::new();
        let effects = s.join(1, join("door").app(0));
        refused(&effects, 1, code::INVALID_PARAMETER, extra::BAD_PARAMETER);
    }

    #[test]
    fn the_authenticators_refusal_reaches_the_client_unchanged() {
        let mut s = Server::new();
        let effects = s.join(1, join("mallory").sig("forged"));
        let message = refused(&effects, 1, code::JOIN_ROOM_FAILED, extra::BAD_USER_SIG);
        assert_eq!(message, "userSig refused: forged");
        assert_eq!(s.registry.room_count(), 0);
        assert_eq!(s.registry.membership_of(1), None);
    }

    #[test]
    fn joining_twice_on_one_connection_is_already_joined() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        let effects = s.send(1, join("door").room(RoomId::Number(99)).msg());
        refused(&effects, 1, code::INVALID_OPERATION, extra::ALREADY_JOINED);
        assert_eq!(s.registry.room_count(), 1);
    }

    #[test]
    fn a_join_with_the_other_mode_is_refused() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        let effects = s.join(2, join("phone").live(Role::Anchor));
        let message = refused(&effects, 2, code::JOIN_ROOM_FAILED, extra::MODE_MISMATCH);
        assert!(message.contains("rtc room"), "{message}");
        assert!(message.contains("same scene"), "{message}");
        assert_eq!(s.registry.member_count(&room_key(ROOM)), 1);
    }

    #[test]
    fn in_rtc_mode_everyone_is_an_anchor() {
        let mut s = Server::new();
        s.joined(1, join("door").role(Role::Audience));
        assert_eq!(s.registry.role_of(1), Some(Role::Anchor));
        assert!(matches!(
            s.publish(1, true, true).as_slice(),
            [Effect::StartPublish { .. }]
        ));
    }

    #[test]
    fn a_full_room_refuses_newcomers() {
        let mut s = Server::with_policy(RegistryPolicy {
            max_members_per_room: 2,
            ..RegistryPolicy::default()
        });
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        let effects = s.join(3, join("tablet"));
        let message = refused(&effects, 3, code::JOIN_ROOM_FAILED, extra::ROOM_FULL);
        assert!(message.contains("(2)"), "{message}");
        // Another room is not affected.
        s.joined(4, join("tablet").room(RoomId::Number(99)));
    }

    #[test]
    fn same_room_id_under_another_sdk_app_id_is_another_room() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        let effects = s.join(2, join("door").app(APP + 1));
        assert_eq!(effects, vec![send(2, ServerMessage::ok(JOIN_ID))]);
        assert_eq!(s.registry.room_count(), 2);
    }

    // ---- replace on same userId ----

    #[test]
    fn a_second_join_with_the_same_user_id_replaces_the_first() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        s.publish(1, true, true);
        s.publish(2, true, false);
        s.subscribe(2, "door", true, true); // phone watches the old door
        s.subscribe(1, "phone", true, false); // the old door listens to phone
        let old_stream = s.stream("door");

        let effects = s.join(3, join("door"));
        let Some(Effect::Send {
            to: 1,
            msg: ServerMessage::ClientBanned { reason, message },
        }) = effects.first()
        else {
            panic!("the old connection is not told first: {effects:?}")
        };
        assert_eq!(*reason, BanReason::Kick);
        assert!(message.contains("another connection"), "{message}");
        assert_eq!(effects.get(1), Some(&Effect::Close { conn: 1 }));
        // Its media stops: its own subscription, its publication, and phone's subscription to it.
        assert!(effects.contains(&stop_subscribe(1, "phone")));
        assert!(effects.contains(&Effect::StopPublish {
            conn: 1,
            stream_id: old_stream.stream_id.clone()
        }));
        assert!(effects.contains(&stop_subscribe(2, "door")));
        // Phone sees the old door go, then the new one arrive.
        assert_eq!(
            sent_to(&effects, 2),
            [
                &ServerMessage::StreamRemoved { stream: old_stream },
                &peer_leave("door", LeaveReason::Kick),
                &peer_join("door"),
            ]
        );
        // The newcomer learns about phone and its stream.
        let phone_stream = s.stream("phone");
        assert_eq!(
            sent_to(&effects, 3),
            [
                &ServerMessage::ok(JOIN_ID),
                &peer_join("phone"),
                &ServerMessage::StreamAdded {
                    stream: phone_stream
                },
            ]
        );
        assert!(!effects
            .iter()
            .any(|e| matches!(e, Effect::RoomDisposed { .. })));
        assert_eq!(s.registry.member_count(&room_key(ROOM)), 2);
        assert_eq!(s.registry.conn_of(&room_key(ROOM), "door"), Some(3));
        assert_eq!(s.registry.membership_of(1), None);
        assert!(s.registry.stream_of(&room_key(ROOM), "door").is_none());
        assert!(s.registry.subscriptions_of(2).is_empty());
    }

    #[test]
    fn the_replaced_connection_is_ignored_until_its_socket_closes() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("door"));
        assert!(s.send(1, ClientMessage::Heartbeat { id: 5 }).is_empty());
        assert!(s.publish(1, true, true).is_empty());
        s.advance(60_000);
        // It was closed already; tick does not close it again (but drops the silent newcomer).
        assert_eq!(s.tick().last(), Some(&Effect::Close { conn: 2 }));
        assert!(s.disconnect(1).is_empty());
    }

    #[test]
    fn replacing_the_only_member_keeps_the_room() {
        let mut s = Server::new();
        s.joined(1, join("door").live(Role::Anchor));
        let effects = s.join(2, join("door").live(Role::Anchor));
        assert_eq!(addressed(&effects), BTreeSet::from([1, 2]), "{effects:?}");
        assert!(!effects
            .iter()
            .any(|e| matches!(e, Effect::RoomDisposed { .. })));
        assert_eq!(s.registry.room_mode(&room_key(ROOM)), Some(Mode::Live));
    }

    #[test]
    fn replacement_works_in_a_full_room() {
        let mut s = Server::with_policy(RegistryPolicy {
            max_members_per_room: 1,
            ..RegistryPolicy::default()
        });
        s.joined(1, join("door"));
        s.joined(2, join("door"));
        assert_eq!(s.registry.conn_of(&room_key(ROOM), "door"), Some(2));
    }

    // ---- before join ----

    #[test]
    fn only_join_and_heartbeat_are_accepted_before_join() {
        let mut s = Server::new();
        s.joined(9, join("bystander"));
        s.connect(1);
        let requests = [
            ClientMessage::Publish {
                id: 2,
                audio: true,
                video: true,
                sdp: OFFER.into(),
            },
            ClientMessage::Unpublish { id: 2 },
            ClientMessage::Subscribe {
                id: 2,
                user_id: "bystander".into(),
                audio: true,
                video: true,
                sdp: OFFER.into(),
            },
            ClientMessage::Unsubscribe {
                id: 2,
                user_id: "bystander".into(),
            },
            ClientMessage::Mute {
                id: 2,
                audio_muted: true,
                video_muted: false,
            },
            ClientMessage::SwitchRole {
                id: 2,
                role: Role::Audience,
            },
            ClientMessage::Leave { id: 2 },
        ];
        for request in requests {
            let kind = request.kind();
            let effects = s.send(1, request);
            let message = refused(&effects, 1, code::INVALID_OPERATION, extra::NOT_JOINED);
            assert!(message.starts_with(kind), "{message}");
            assert_eq!(effects, vec![send(1, not_joined(kind).to_message(Some(2)))]);
        }
        assert_eq!(
            s.send(1, ClientMessage::Heartbeat { id: 3 }),
            vec![send(1, ServerMessage::ok(3))]
        );
    }

    #[test]
    fn a_candidate_before_join_is_refused_without_an_id() {
        let mut s = Server::new();
        s.connect(1);
        let effects = s.send(
            1,
            ClientMessage::Candidate {
                peer: PeerId::Publish,
                candidate: candidate(),
            },
        );
        refused(&effects, 1, code::INVALID_OPERATION, extra::NOT_JOINED);
        assert!(matches!(
            effects.as_slice(),
            [Effect::Send {
                msg: ServerMessage::Error { id: None, .. },
                ..
            }]
        ));
    }

    #[test]
    fn bad_messages_are_answered_and_counted_and_affect_nobody_else() {
        let mut s = Server::new();
        s.joined(9, join("bystander"));
        s.connect(1);
        let err = SignalError::new(code::INVALID_PARAMETER, extra::MALFORMED_JSON, "not JSON");
        let now = s.now();
        let effects = s.registry.bad_message(1, None, err.clone(), now);
        assert_eq!(effects, vec![send(1, err.to_message(None))]);
        let effects = s.registry.bad_message(9, None, err.clone(), now);
        assert_eq!(effects, vec![send(9, err.to_message(None))]);
        assert_eq!(s.registry.bad_message_count(1), 1);
        assert_eq!(s.registry.bad_message_count(9), 1);
        assert_eq!(s.registry.member_count(&room_key(ROOM)), 1);
    }

    #[test]
    fn messages_from_unknown_connections_are_ignored() {
        let mut s = Server::new();
        assert!(s.send(42, join("ghost").msg()).is_empty());
        assert!(s.disconnect(42).is_empty());
        let now = s.now();
        let err = SignalError::new(code::INVALID_PARAMETER, extra::MALFORMED_JSON, "x");
        assert!(s.registry.bad_message(42, None, err, now).is_empty());
        assert_eq!(s.registry.connection_count(), 0);
    }

    // ---- publish / unpublish ----

    #[test]
    fn publish_starts_media_and_announces_the_stream_at_once() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        let effects = s.publish(1, true, true);
        let stream = s.stream("door");
        assert_eq!(
            effects,
            vec![
                Effect::StartPublish {
                    conn: 1,
                    request_id: 10,
                    user_id: "door".into(),
                    stream_id: stream.stream_id.clone(),
                    kinds: both(),
                    sdp: OFFER.into(),
                },
                send(
                    2,
                    ServerMessage::StreamAdded {
                        stream: stream.clone()
                    }
                ),
            ]
        );
        assert!(stream.audio && stream.video && !stream.audio_muted && !stream.video_muted);
        assert!(stream.stream_id.starts_with("door-"));
    }

    #[test]
    fn stream_ids_are_unique_even_for_the_same_user() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.publish(1, true, true);
        let first = s.stream("door").stream_id;
        s.send(1, ClientMessage::Unpublish { id: 11 });
        s.publish(1, true, true);
        assert_ne!(first, s.stream("door").stream_id);
    }

    #[test]
    fn an_audience_cannot_publish() {
        let mut s = Server::new();
        s.joined(1, join("viewer").live(Role::Audience));
        let effects = s.publish(1, true, true);
        refused(
            &effects,
            1,
            code::INVALID_OPERATION,
            extra::AUDIENCE_CANNOT_PUBLISH,
        );
        assert!(s.registry.stream_of(&room_key(ROOM), "viewer").is_none());
    }

    #[test]
    fn publishing_twice_is_an_invalid_operation() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.publish(1, true, true);
        let message = refused(
            &s.publish(1, true, false),
            1,
            code::INVALID_OPERATION,
            extra::ALREADY_PUBLISHING,
        );
        assert!(message.contains("already publishing"), "{message}");
    }

    #[test]
    fn publishing_nothing_or_a_non_sdp_is_refused() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        refused(
            &s.publish(1, false, false),
            1,
            code::INVALID_PARAMETER,
            extra::BAD_PARAMETER,
        );
        let effects = s.send(
            1,
            ClientMessage::Publish {
                id: 10,
                audio: true,
                video: true,
                sdp: "hello".into(),
            },
        );
        refused(&effects, 1, code::INVALID_PARAMETER, extra::BAD_SDP);
        assert!(s.registry.stream_of(&room_key(ROOM), "door").is_none());
    }

    #[test]
    fn unpublish_stops_media_and_subscribers_and_tells_the_others() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        s.joined(3, join("tablet"));
        s.publish(1, true, true);
        s.subscribe(2, "door", true, true);
        let stream = s.stream("door");
        let effects = s.send(1, ClientMessage::Unpublish { id: 11 });
        assert_eq!(
            effects,
            vec![
                Effect::StopPublish {
                    conn: 1,
                    stream_id: stream.stream_id.clone()
                },
                stop_subscribe(2, "door"),
                send(
                    2,
                    ServerMessage::StreamRemoved {
                        stream: stream.clone()
                    }
                ),
                send(3, ServerMessage::StreamRemoved { stream }),
                send(1, ServerMessage::ok(11)),
            ]
        );
        assert!(s.registry.subscriptions_of(2).is_empty());
    }

    #[test]
    fn unpublish_without_a_publication_is_refused() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        let effects = s.send(1, ClientMessage::Unpublish { id: 11 });
        refused(&effects, 1, code::INVALID_OPERATION, extra::NOT_PUBLISHING);
    }

    // ---- subscribe / unsubscribe ----

    #[test]
    fn subscribe_starts_media_with_the_wanted_kinds() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        s.publish(1, true, true);
        let stream_id = s.stream("door").stream_id;
        let effects = s.subscribe(2, "door", false, true);
        assert_eq!(
            effects,
            vec![Effect::StartSubscribe {
                conn: 2,
                request_id: 20,
                publisher: 1,
                publisher_user: "door".into(),
                stream_id,
                kinds: MediaKinds {
                    audio: false,
                    video: true
                },
                sdp: OFFER.into(),
            }]
        );
        assert_eq!(
            s.registry.subscriptions_of(2),
            [(
                "door",
                MediaKinds {
                    audio: false,
                    video: true
                }
            )]
        );
    }

    #[test]
    fn subscribe_kinds_are_limited_to_what_the_stream_has() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        s.publish(1, true, false);
        let effects = s.subscribe(2, "door", true, true);
        let [Effect::StartSubscribe { kinds, .. }] = effects.as_slice() else {
            panic!("{effects:?}")
        };
        assert_eq!(
            *kinds,
            MediaKinds {
                audio: true,
                video: false
            }
        );
        let message = refused(
            &s.subscribe(2, "door", false, true),
            2,
            code::REMOTE_STREAM_NOT_EXIST,
            extra::NO_SUCH_STREAM,
        );
        assert!(message.contains("audio only"), "{message}");
    }

    #[test]
    fn subscribing_to_a_missing_stream_is_remote_stream_not_exist() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        let message = refused(
            &s.subscribe(2, "nobody", true, true),
            2,
            code::REMOTE_STREAM_NOT_EXIST,
            extra::NO_SUCH_STREAM,
        );
        assert!(message.contains("no user"), "{message}");
        let message = refused(
            &s.subscribe(2, "door", true, true),
            2,
            code::REMOTE_STREAM_NOT_EXIST,
            extra::NO_SUCH_STREAM,
        );
        assert!(message.contains("publishes nothing"), "{message}");
    }

    #[test]
    fn subscribing_to_nothing_or_to_yourself_is_an_invalid_operation() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        s.publish(1, true, true);
        s.publish(2, true, true);
        refused(
            &s.subscribe(2, "door", false, false),
            2,
            code::INVALID_OPERATION,
            extra::BAD_PARAMETER,
        );
        refused(
            &s.subscribe(2, "phone", true, true),
            2,
            code::INVALID_OPERATION,
            extra::BAD_PARAMETER,
        );
        let bad_sdp = s.send(
            2,
            ClientMessage::Subscribe {
                id: 20,
                user_id: "door".into(),
                audio: true,
                video: true,
                sdp: String::new(),
            },
        );
        refused(&bad_sdp, 2, code::INVALID_PARAMETER, extra::BAD_SDP);
        assert!(s.registry.subscriptions_of(2).is_empty());
    }

    #[test]
    fn subscribing_again_replaces_the_subscription() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        s.publish(1, true, true);
        s.subscribe(2, "door", true, false);
        let effects = s.subscribe(2, "door", true, true);
        assert_eq!(effects.len(), 2, "{effects:?}");
        assert_eq!(effects.first(), Some(&stop_subscribe(2, "door")));
        assert!(matches!(
            effects.get(1),
            Some(Effect::StartSubscribe { kinds, .. }) if *kinds == both()
        ));
        assert_eq!(s.registry.subscriptions_of(2), [("door", both())]);
    }

    #[test]
    fn unsubscribe_stops_the_subscription() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        s.publish(1, true, true);
        s.subscribe(2, "door", true, true);
        let unsubscribe = || ClientMessage::Unsubscribe {
            id: 21,
            user_id: "door".into(),
        };
        assert_eq!(
            s.send(2, unsubscribe()),
            vec![stop_subscribe(2, "door"), send(2, ServerMessage::ok(21))]
        );
        refused(
            &s.send(2, unsubscribe()),
            2,
            code::INVALID_OPERATION,
            extra::NO_SUCH_STREAM,
        );
    }

    // ---- mute ----

    #[test]
    fn mute_tells_the_others_only_what_changed() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        s.publish(1, true, true);
        let effects = s.mute(1, true, false);
        assert_eq!(
            effects,
            vec![
                send(1, ServerMessage::ok(30)),
                send(
                    2,
                    ServerMessage::MuteAudio {
                        user_id: "door".into()
                    }
                ),
            ]
        );
        assert!(s.stream("door").audio_muted);
        // Same state again: nothing to tell.
        assert_eq!(s.mute(1, true, false), vec![send(1, ServerMessage::ok(30))]);
        let effects = s.mute(1, false, true);
        assert_eq!(
            sent_to(&effects, 2),
            [
                &ServerMessage::UnmuteAudio {
                    user_id: "door".into()
                },
                &ServerMessage::MuteVideo {
                    user_id: "door".into()
                },
            ]
        );
        let effects = s.mute(1, false, false);
        assert_eq!(
            sent_to(&effects, 2),
            [&ServerMessage::UnmuteVideo {
                user_id: "door".into()
            }]
        );
        let stream = s.stream("door");
        assert!(!stream.audio_muted && !stream.video_muted);
    }

    #[test]
    fn mute_of_a_kind_the_stream_lacks_changes_nothing() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        s.publish(1, true, false);
        assert_eq!(s.mute(1, false, true), vec![send(1, ServerMessage::ok(30))]);
        assert!(!s.stream("door").video_muted);
    }

    #[test]
    fn mute_without_a_publication_is_refused() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        refused(
            &s.mute(1, true, true),
            1,
            code::INVALID_OPERATION,
            extra::NOT_PUBLISHING,
        );
    }

    // ---- switch-role ----

    #[test]
    fn switch_role_is_only_for_live_mode() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        let effects = s.send(
            1,
            ClientMessage::SwitchRole {
                id: 40,
                role: Role::Audience,
            },
        );
        refused(&effects, 1, code::INVALID_PARAMETER, extra::NOT_LIVE_MODE);
        assert_eq!(s.registry.role_of(1), Some(Role::Anchor));
    }

    #[test]
    fn switching_to_audience_unpublishes_and_back_to_anchor_allows_publishing() {
        let mut s = Server::new();
        s.joined(1, join("door").live(Role::Anchor));
        s.joined(2, join("phone").live(Role::Audience));
        s.publish(1, true, true);
        s.subscribe(2, "door", true, true);
        let stream = s.stream("door");
        let effects = s.send(
            1,
            ClientMessage::SwitchRole {
                id: 40,
                role: Role::Audience,
            },
        );
        assert_eq!(
            effects,
            vec![
                Effect::StopPublish {
                    conn: 1,
                    stream_id: stream.stream_id.clone()
                },
                stop_subscribe(2, "door"),
                send(2, ServerMessage::StreamRemoved { stream }),
                send(1, ServerMessage::ok(40)),
            ]
        );
        assert_eq!(s.registry.role_of(1), Some(Role::Audience));
        refused(
            &s.publish(1, true, true),
            1,
            code::INVALID_OPERATION,
            extra::AUDIENCE_CANNOT_PUBLISH,
        );
        let effects = s.send(
            2,
            ClientMessage::SwitchRole {
                id: 41,
                role: Role::Anchor,
            },
        );
        assert_eq!(effects, vec![send(2, ServerMessage::ok(41))]);
        assert!(matches!(
            s.publish(2, true, true).first(),
            Some(Effect::StartPublish { conn: 2, .. })
        ));
    }

    // ---- candidates ----

    #[test]
    fn candidates_go_to_the_sfu_for_existing_peer_connections_only() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        let for_publish = ClientMessage::Candidate {
            peer: PeerId::Publish,
            candidate: candidate(),
        };
        refused(
            &s.send(1, for_publish.clone()),
            1,
            code::INVALID_OPERATION,
            extra::NOT_PUBLISHING,
        );
        s.publish(1, true, true);
        assert_eq!(
            s.send(1, for_publish),
            vec![Effect::RemoteCandidate {
                conn: 1,
                peer: PeerId::Publish,
                candidate: candidate()
            }]
        );
        let for_subscription = ClientMessage::Candidate {
            peer: PeerId::Subscribe {
                user_id: "door".into(),
            },
            candidate: candidate(),
        };
        refused(
            &s.send(2, for_subscription.clone()),
            2,
            code::INVALID_OPERATION,
            extra::NO_SUCH_STREAM,
        );
        s.subscribe(2, "door", true, true);
        assert!(matches!(
            s.send(2, for_subscription).as_slice(),
            [Effect::RemoteCandidate { conn: 2, .. }]
        ));
    }

    // ---- leave / disconnect ----

    #[test]
    fn leave_answers_then_tells_the_others() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        s.publish(1, true, true);
        s.subscribe(1, "phone", true, true); // no stream: refused, nothing kept
        s.publish(2, true, true);
        s.subscribe(1, "phone", true, true);
        let stream = s.stream("door");
        let effects = s.send(1, ClientMessage::Leave { id: 50 });
        assert_eq!(effects.first(), Some(&send(1, ServerMessage::ok(50))));
        assert!(effects.contains(&stop_subscribe(1, "phone")));
        assert!(effects.contains(&Effect::StopPublish {
            conn: 1,
            stream_id: stream.stream_id.clone()
        }));
        assert_eq!(
            sent_to(&effects, 2),
            [
                &ServerMessage::StreamRemoved { stream },
                &peer_leave("door", LeaveReason::Normal),
            ]
        );
        assert_eq!(s.registry.members(&room_key(ROOM)), ["phone"]);
        assert_eq!(s.registry.membership_of(1), None);
    }

    #[test]
    fn the_last_leave_disposes_the_room() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        s.send(1, ClientMessage::Leave { id: 50 });
        let effects = s.send(2, ClientMessage::Leave { id: 51 });
        assert_eq!(
            effects,
            vec![
                send(2, ServerMessage::ok(51)),
                Effect::RoomDisposed {
                    room: room_key(ROOM)
                }
            ]
        );
        assert_eq!(s.registry.room_count(), 0);
        assert_eq!(s.registry.room_mode(&room_key(ROOM)), None);
    }

    #[test]
    fn after_leave_a_connection_may_join_again_even_with_another_mode() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.send(1, ClientMessage::Leave { id: 50 });
        let effects = s.send(1, join("door").live(Role::Anchor).msg());
        assert_eq!(effects, vec![send(1, ServerMessage::ok(JOIN_ID))]);
        assert_eq!(s.registry.room_mode(&room_key(ROOM)), Some(Mode::Live));
    }

    #[test]
    fn disconnect_is_a_leave_without_a_response() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        let effects = s.disconnect(1);
        assert_eq!(
            effects,
            vec![send(2, peer_leave("door", LeaveReason::Normal))]
        );
        assert_eq!(
            s.disconnect(2),
            vec![Effect::RoomDisposed {
                room: room_key(ROOM)
            }]
        );
        assert_eq!(s.registry.connection_count(), 0);
    }

    // ---- heartbeats ----

    #[test]
    fn a_silent_member_is_dropped_with_reason_timeout() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        s.publish(1, true, true);
        let stream = s.stream("door");
        s.advance(6_000);
        s.send(2, ClientMessage::Heartbeat { id: 60 });
        s.advance(5_000); // door silent for 11 s, phone for 5 s
        let effects = s.tick();
        assert_eq!(
            effects,
            vec![
                Effect::StopPublish {
                    conn: 1,
                    stream_id: stream.stream_id.clone()
                },
                send(2, ServerMessage::StreamRemoved { stream }),
                send(2, peer_leave("door", LeaveReason::Timeout)),
                Effect::Close { conn: 1 },
            ]
        );
        assert!(!effects.iter().any(|e| matches!(
            e,
            Effect::Send {
                msg: ServerMessage::ClientBanned { .. },
                ..
            }
        )));
        assert_eq!(s.registry.members(&room_key(ROOM)), ["phone"]);
        // Closed once; its late messages and disconnect change nothing.
        assert!(s.tick().is_empty());
        assert!(s.send(1, ClientMessage::Heartbeat { id: 61 }).is_empty());
        assert!(s.disconnect(1).is_empty());
    }

    #[test]
    fn heartbeats_keep_a_member_alive() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        for _ in 0..10 {
            s.advance(2_000);
            assert_eq!(
                s.send(1, ClientMessage::Heartbeat { id: 62 }),
                vec![send(1, ServerMessage::ok(62))]
            );
            assert!(s.tick().is_empty());
        }
        assert_eq!(s.registry.member_count(&room_key(ROOM)), 1);
    }

    #[test]
    fn any_message_counts_as_alive_and_the_timeout_is_strict() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.advance(9_000);
        let now = s.now();
        let err = SignalError::new(code::INVALID_PARAMETER, extra::MALFORMED_JSON, "x");
        s.registry.bad_message(1, None, err, now);
        s.advance(10_000); // exactly the timeout: not longer than it
        assert!(s.tick().is_empty());
        s.advance(1);
        assert_eq!(
            s.tick(),
            vec![
                Effect::RoomDisposed {
                    room: room_key(ROOM)
                },
                Effect::Close { conn: 1 }
            ]
        );
    }

    #[test]
    fn a_connection_that_never_joins_is_closed_when_silent() {
        let mut s = Server::new();
        s.connect(1);
        s.advance(10_001);
        assert_eq!(s.tick(), vec![Effect::Close { conn: 1 }]);
    }

    // ---- privileges ----

    #[test]
    fn a_private_map_key_without_the_enter_bit_is_refused() {
        let mut s = Server::new();
        let effects = s.join(1, join("door").pmk(255 & !privilege::ENTER_ROOM));
        let message = refused(&effects, 1, code::JOIN_ROOM_FAILED, extra::NO_PRIVILEGE);
        assert!(message.contains("enter-room"), "{message}");
        assert_eq!(s.registry.room_count(), 0);
    }

    #[test]
    fn a_required_private_map_key_must_be_given() {
        let mut s = Server::with_policy(RegistryPolicy {
            require_private_map_key: true,
            ..RegistryPolicy::default()
        });
        let effects = s.join(1, join("door"));
        let message = refused(&effects, 1, code::JOIN_ROOM_FAILED, extra::NO_PRIVILEGE);
        assert!(message.contains("requires a privateMapKey"), "{message}");
        s.joined(2, join("door").pmk(255));
    }

    #[test]
    fn a_bad_private_map_key_is_the_authenticators_refusal() {
        let mut s = Server::new();
        s.connect(1);
        let mut msg = join("door").msg();
        if let ClientMessage::Join {
            private_map_key, ..
        } = &mut msg
        {
            *private_map_key = Some("garbage".into());
        }
        refused(
            &s.send(1, msg),
            1,
            code::JOIN_ROOM_FAILED,
            extra::BAD_PRIVATE_MAP_KEY,
        );
    }

    #[test]
    fn send_privileges_are_enforced_per_kind() {
        let mut s = Server::new();
        // 42 = enter + receive audio + receive video: a viewer.
        s.joined(1, join("viewer").pmk(42));
        let message = refused(
            &s.publish(1, true, false),
            1,
            code::INVALID_OPERATION,
            extra::NO_PRIVILEGE,
        );
        assert!(message.contains("send audio"), "{message}");
        // enter + send audio: may talk but not show.
        s.joined(2, join("intercom").pmk(2 | 4));
        let message = refused(
            &s.publish(2, true, true),
            2,
            code::INVALID_OPERATION,
            extra::NO_PRIVILEGE,
        );
        assert!(message.contains("send video"), "{message}");
        assert!(matches!(
            s.publish(2, true, false).first(),
            Some(Effect::StartPublish { .. })
        ));
    }

    #[test]
    fn receive_privileges_are_enforced_per_kind() {
        let mut s = Server::new();
        s.joined(1, join("door").pmk(2 | 4 | 16));
        s.publish(1, true, true);
        // The door itself may not receive anything.
        s.joined(2, join("phone").pmk(2 | 4 | 16));
        s.publish(2, true, true);
        let message = refused(
            &s.subscribe(1, "phone", true, false),
            1,
            code::INVALID_OPERATION,
            extra::NO_PRIVILEGE,
        );
        assert!(message.contains("receive audio"), "{message}");
        // A viewer with receive-video only may subscribe to video.
        s.joined(3, join("viewer").pmk(2 | 32));
        refused(
            &s.subscribe(3, "door", true, true),
            3,
            code::INVALID_OPERATION,
            extra::NO_PRIVILEGE,
        );
        assert!(matches!(
            s.subscribe(3, "door", false, true).as_slice(),
            [Effect::StartSubscribe { .. }]
        ));
    }

    #[test]
    fn without_a_key_nothing_is_enforced() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        s.publish(1, true, true);
        assert!(matches!(
            s.subscribe(2, "door", true, true).as_slice(),
            [Effect::StartSubscribe { .. }]
        ));
    }

    // ---- media failures ----

    #[test]
    fn a_failed_publication_is_answered_and_rolled_back() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        s.publish(1, true, true);
        s.subscribe(2, "door", true, true);
        let stream = s.stream("door");
        // A stale request id changes nothing.
        assert!(s
            .registry
            .media_failed(1, &PeerId::Publish, 9, "late")
            .is_empty());
        let effects = s.registry.media_failed(1, &PeerId::Publish, 10, "no codec");
        assert_eq!(
            effects,
            vec![
                Effect::StopPublish {
                    conn: 1,
                    stream_id: stream.stream_id.clone()
                },
                stop_subscribe(2, "door"),
                send(2, ServerMessage::StreamRemoved { stream }),
                send(
                    1,
                    ServerMessage::Error {
                        id: Some(10),
                        code: code::UNKNOWN,
                        extra_code: extra::MEDIA_SETUP_FAILED,
                        message:
                            "the server could not set up the media of your publication: no codec"
                                .into(),
                    }
                ),
            ]
        );
        assert!(s.registry.stream_of(&room_key(ROOM), "door").is_none());
        // Publishing again works.
        assert!(matches!(
            s.publish(1, true, true).first(),
            Some(Effect::StartPublish { .. })
        ));
    }

    #[test]
    fn a_failed_subscription_is_answered_and_forgotten() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        s.publish(1, true, true);
        s.subscribe(2, "door", true, true);
        let peer = PeerId::Subscribe {
            user_id: "door".into(),
        };
        let effects = s.registry.media_failed(2, &peer, 20, "not ready");
        assert_eq!(effects.first(), Some(&stop_subscribe(2, "door")));
        let message = refused(&effects[1..], 2, code::UNKNOWN, extra::MEDIA_SETUP_FAILED);
        assert!(message.contains("subscription to door"), "{message}");
        assert!(s.registry.subscriptions_of(2).is_empty());
        assert!(s.registry.media_failed(2, &peer, 20, "again").is_empty());
        assert!(s.registry.stream_of(&room_key(ROOM), "door").is_some());
    }

    // ---- isolation ----

    #[test]
    fn a_failing_member_never_produces_effects_for_anyone_else() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(2, join("phone"));
        s.joined(3, join("tablet"));
        s.joined(4, join("elsewhere").room(RoomId::Number(99)));
        s.publish(1, true, true);
        s.publish(4, true, true);
        let failing: Vec<ClientMessage> = vec![
            join("door").msg(),
            ClientMessage::Publish {
                id: 2,
                audio: false,
                video: false,
                sdp: OFFER.into(),
            },
            ClientMessage::Publish {
                id: 2,
                audio: true,
                video: true,
                sdp: "nope".into(),
            },
            ClientMessage::Unpublish { id: 2 },
            ClientMessage::Subscribe {
                id: 2,
                user_id: "elsewhere".into(),
                audio: true,
                video: true,
                sdp: OFFER.into(),
            },
            ClientMessage::Subscribe {
                id: 2,
                user_id: "tablet".into(),
                audio: true,
                video: true,
                sdp: OFFER.into(),
            },
            ClientMessage::Subscribe {
                id: 2,
                user_id: "door".into(),
                audio: false,
                video: false,
                sdp: OFFER.into(),
            },
            ClientMessage::Unsubscribe {
                id: 2,
                user_id: "door".into(),
            },
            ClientMessage::Mute {
                id: 2,
                audio_muted: true,
                video_muted: true,
            },
            ClientMessage::SwitchRole {
                id: 2,
                role: Role::Audience,
            },
            ClientMessage::Candidate {
                peer: PeerId::Subscribe {
                    user_id: "door".into(),
                },
                candidate: candidate(),
            },
        ];
        for msg in failing {
            let kind = msg.kind();
            let effects = s.send(2, msg);
            assert_eq!(
                addressed(&effects),
                BTreeSet::from([2]),
                "{kind}: {effects:?}"
            );
            assert!(
                matches!(
                    effects.as_slice(),
                    [Effect::Send {
                        msg: ServerMessage::Error { .. },
                        ..
                    }]
                ),
                "{kind}: {effects:?}"
            );
        }
        let now = s.now();
        let err = SignalError::new(code::INVALID_PARAMETER, extra::UNKNOWN_TYPE, "dance");
        assert_eq!(
            addressed(&s.registry.bad_message(2, None, err, now)),
            BTreeSet::from([2])
        );
        assert_eq!(s.registry.member_count(&room_key(ROOM)), 3);
    }

    #[test]
    fn events_never_cross_rooms() {
        let mut s = Server::new();
        s.joined(1, join("door"));
        s.joined(4, join("elsewhere").room(RoomId::Number(99)));
        let mut all = Vec::new();
        all.extend(s.join(2, join("phone")));
        all.extend(s.publish(1, true, true));
        all.extend(s.subscribe(2, "door", true, true));
        all.extend(s.mute(1, true, true));
        all.extend(s.send(1, ClientMessage::Leave { id: 3 }));
        all.extend(s.disconnect(2));
        assert!(!addressed(&all).contains(&4), "{all:?}");
        assert_eq!(s.registry.members(&room_key(99)), ["elsewhere"]);
    }

    // ---- docs/protocol.md ----

    const PROTOCOL_DOC: &str = include_str!("../../docs/protocol.md");

    /// The JSON examples of the protocol document, one per ```json block.
    fn documented_examples() -> Vec<&'static str> {
        let mut examples = Vec::new();
        let mut rest = PROTOCOL_DOC;
        while let Some(start) = rest.find("```json\n") {
            let body = &rest[start + "```json\n".len()..];
            let end = body.find("```").expect("unterminated json block");
            examples.push(body[..end].trim());
            rest = &body[end..];
        }
        examples
    }

    #[test]
    fn documented_examples_match_the_wire_format() {
        let mut client_types = BTreeSet::new();
        let mut server_types = BTreeSet::new();
        for example in documented_examples() {
            let value: serde_json::Value = serde_json::from_str(example)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {example}"));
            let kind = value["type"].as_str().expect("a type").to_owned();
            // An example must be exactly what serde writes: same fields, same spelling.
            let as_server = serde_json::from_value::<ServerMessage>(value.clone())
                .ok()
                .filter(|m| serde_json::to_value(m).ok().as_ref() == Some(&value));
            let as_client = serde_json::from_value::<ClientMessage>(value.clone())
                .ok()
                .filter(|m| serde_json::to_value(m).ok().as_ref() == Some(&value));
            assert!(
                as_server.is_some() || as_client.is_some(),
                "example does not round-trip: {example}"
            );
            if as_server.is_some() {
                server_types.insert(kind.clone());
            }
            if let Some(msg) = as_client {
                assert_eq!(
                    crate::protocol::parse_client_message(example).ok(),
                    Some(msg),
                    "{example}"
                );
                client_types.insert(kind);
            }
        }
        let every_client_type = [
            "join",
            "publish",
            "unpublish",
            "subscribe",
            "unsubscribe",
            "mute",
            "switch-role",
            "candidate",
            "leave",
            "heartbeat",
        ];
        let every_server_type = [
            "response",
            "error",
            "peer-join",
            "peer-leave",
            "stream-added",
            "stream-removed",
            "stream-updated",
            "mute-audio",
            "unmute-audio",
            "mute-video",
            "unmute-video",
            "client-banned",
            "network-quality",
            "candidate",
        ];
        assert_eq!(
            client_types,
            BTreeSet::from(every_client_type.map(String::from))
        );
        assert_eq!(
            server_types,
            BTreeSet::from(every_server_type.map(String::from))
        );
    }

    #[test]
    fn documented_error_codes_match_the_protocol() {
        let codes = [
            (code::INVALID_PARAMETER, "INVALID_PARAMETER"),
            (code::INVALID_OPERATION, "INVALID_OPERATION"),
            (code::JOIN_ROOM_FAILED, "JOIN_ROOM_FAILED"),
            (code::REMOTE_STREAM_NOT_EXIST, "REMOTE_STREAM_NOT_EXIST"),
            (code::UNKNOWN, "UNKNOWN"),
        ];
        for (value, name) in codes {
            let row = format!("| {value} ({value:#x}) | {name} |");
            assert!(PROTOCOL_DOC.contains(&row), "missing {row}");
        }
        let extra_codes = [
            (extra::MALFORMED_JSON, "MALFORMED_JSON"),
            (extra::UNKNOWN_TYPE, "UNKNOWN_TYPE"),
            (extra::MESSAGE_TOO_LARGE, "MESSAGE_TOO_LARGE"),
            (extra::NOT_JOINED, "NOT_JOINED"),
            (extra::ALREADY_JOINED, "ALREADY_JOINED"),
            (extra::BAD_ROOM_ID, "BAD_ROOM_ID"),
            (extra::WRONG_SDK_APP_ID, "WRONG_SDK_APP_ID"),
            (extra::BAD_USER_SIG, "BAD_USER_SIG"),
            (extra::USER_SIG_EXPIRED, "USER_SIG_EXPIRED"),
            (extra::BAD_PRIVATE_MAP_KEY, "BAD_PRIVATE_MAP_KEY"),
            (extra::NO_PRIVILEGE, "NO_PRIVILEGE"),
            (extra::MODE_MISMATCH, "MODE_MISMATCH"),
            (extra::AUDIENCE_CANNOT_PUBLISH, "AUDIENCE_CANNOT_PUBLISH"),
            (extra::NOT_PUBLISHING, "NOT_PUBLISHING"),
            (extra::BAD_SDP, "BAD_SDP"),
            (extra::NO_SUCH_STREAM, "NO_SUCH_STREAM"),
            (extra::BAD_PARAMETER, "BAD_PARAMETER"),
            (extra::NOT_LIVE_MODE, "NOT_LIVE_MODE"),
            (extra::MEDIA_SETUP_FAILED, "MEDIA_SETUP_FAILED"),
            (extra::ROOM_FULL, "ROOM_FULL"),
            (extra::ALREADY_PUBLISHING, "ALREADY_PUBLISHING"),
        ];
        for (value, name) in extra_codes {
            let row = format!("| {value} | {name} |");
            assert!(PROTOCOL_DOC.contains(&row), "missing {row}");
        }
    }
}
