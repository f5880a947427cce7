//! What the VideoRoom plugin tells a publisher handle, turned into the TRTC events the device
//! already acts on. Pure state: the feeds in the room, by Janus feed id, with the user id we
//! show for each (its `display`, which roombell devices and the answer page set to their user
//! id; the feed id when there is none).
//!
//! | VideoRoom                         | TRTC event                                 |
//! |-----------------------------------|--------------------------------------------|
//! | `joining` (with `notify_joining`) | `peer-join`                                |
//! | `publishers` (new or in `joined`) | `peer-join` (first sight) + `stream-added` |
//! | `unpublished`                     | `stream-removed`                           |
//! | `leaving`                         | `stream-removed` (if it published) + `peer-leave` |
//! | `kicked` (someone else)           | `stream-removed` + `peer-leave` (kick)     |
//! | `kicked` (us), `destroyed`        | `client-banned` (kick / room-disband)      |

use crate::client::ClientEvent;
use crate::protocol::{BanReason, LeaveReason, StreamInfo};
use serde_json::Value;
use std::collections::HashMap;

/// A Janus participant id: a number, or a string when the room uses `string_ids`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FeedId {
    Number(u64),
    Text(String),
}

impl FeedId {
    /// Reads an id as Janus sends it.
    pub fn from_json(value: &Value) -> Option<FeedId> {
        match value {
            Value::Number(n) => n.as_u64().map(FeedId::Number),
            Value::String(s) => Some(FeedId::Text(s.clone())),
            _ => None,
        }
    }

    /// The id as Janus expects it back.
    pub fn to_json(&self) -> Value {
        match self {
            FeedId::Number(n) => Value::from(*n),
            FeedId::Text(s) => Value::from(s.clone()),
        }
    }
}

impl std::fmt::Display for FeedId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FeedId::Number(n) => write!(f, "{n}"),
            FeedId::Text(s) => f.write_str(s),
        }
    }
}

/// One published stream of a feed (Janus 1.x multistream: one per m-line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedStream {
    pub mid: String,
    pub kind: StreamKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Audio,
    Video,
    Data,
}

/// A participant we know of.
#[derive(Debug, Clone, PartialEq)]
struct Participant {
    user_id: String,
    /// Empty while it does not publish.
    streams: Vec<FeedStream>,
}

/// Our own identity in the room, from `joined`.
#[derive(Debug, Clone, PartialEq)]
pub struct Joined {
    pub feed: FeedId,
    /// Ties our subscriptions to our publisher handle (Janus uses it for notifications).
    pub private_id: Option<u64>,
}

/// The room as our publisher handle sees it.
#[derive(Debug, Default)]
pub struct VideoRoomState {
    own: Option<FeedId>,
    participants: HashMap<FeedId, Participant>,
}

impl VideoRoomState {
    /// Applies the `joined` answer; returns who we are and the events for those already
    /// publishing.
    pub fn joined(&mut self, data: &Value) -> (Option<Joined>, Vec<ClientEvent>) {
        let joined = data
            .get("id")
            .and_then(FeedId::from_json)
            .map(|feed| Joined {
                feed,
                private_id: data.get("private_id").and_then(Value::as_u64),
            });
        self.own = joined.as_ref().map(|j| j.feed.clone());
        self.participants.clear();
        let mut events = Vec::new();
        if let Some(attendees) = data.get("attendees").and_then(Value::as_array) {
            for attendee in attendees {
                self.seen(attendee, &mut events);
            }
        }
        if let Some(publishers) = data.get("publishers").and_then(Value::as_array) {
            for publisher in publishers {
                self.published(publisher, &mut events);
            }
        }
        (joined, events)
    }

    /// Applies a VideoRoom event (`"videoroom": "event"` and friends) to the room state.
    pub fn event(&mut self, data: &Value) -> Vec<ClientEvent> {
        let mut events = Vec::new();
        if data.get("videoroom").and_then(Value::as_str) == Some("destroyed") {
            events.push(ClientEvent::ClientBanned {
                reason: BanReason::RoomDisband,
                message: "the Janus room was destroyed".into(),
            });
            return events;
        }
        if let Some(joining) = data.get("joining") {
            self.seen(joining, &mut events);
        }
        if let Some(publishers) = data.get("publishers").and_then(Value::as_array) {
            for publisher in publishers {
                self.published(publisher, &mut events);
            }
        }
        if let Some(feed) = data.get("unpublished").and_then(FeedId::from_json) {
            self.unpublished(&feed, &mut events);
        }
        if let Some(feed) = data.get("leaving").and_then(FeedId::from_json) {
            self.left(&feed, LeaveReason::Normal, &mut events);
        }
        if let Some(feed) = data.get("kicked").and_then(FeedId::from_json) {
            if Some(&feed) == self.own.as_ref() {
                events.push(ClientEvent::ClientBanned {
                    reason: BanReason::Kick,
                    message: "kicked out of the Janus room".into(),
                });
            } else {
                self.left(&feed, LeaveReason::Kick, &mut events);
            }
        }
        events
    }

    /// The feed that `user_id` publishes, with its streams.
    pub fn feed_of(&self, user_id: &str) -> Option<(FeedId, Vec<FeedStream>)> {
        self.participants
            .iter()
            .find(|(_, p)| p.user_id == user_id && !p.streams.is_empty())
            .map(|(feed, p)| (feed.clone(), p.streams.clone()))
    }

    /// A participant (from `joining`, `attendees` or `publishers`); peer-join on first sight.
    fn seen(&mut self, entry: &Value, events: &mut Vec<ClientEvent>) -> Option<FeedId> {
        let feed = entry.get("id").and_then(FeedId::from_json)?;
        if Some(&feed) == self.own.as_ref() {
            return None;
        }
        if !self.participants.contains_key(&feed) {
            let user_id = entry
                .get("display")
                .and_then(Value::as_str)
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .unwrap_or_else(|| feed.to_string());
            events.push(ClientEvent::PeerJoin {
                user_id: user_id.clone(),
            });
            self.participants.insert(
                feed.clone(),
                Participant {
                    user_id,
                    streams: Vec::new(),
                },
            );
        }
        Some(feed)
    }

    fn published(&mut self, entry: &Value, events: &mut Vec<ClientEvent>) {
        let Some(feed) = self.seen(entry, events) else {
            return;
        };
        let streams: Vec<FeedStream> = entry
            .get("streams")
            .and_then(Value::as_array)
            .map(|streams| streams.iter().filter_map(feed_stream).collect())
            .unwrap_or_default();
        let Some(participant) = self.participants.get_mut(&feed) else {
            return;
        };
        let was_publishing = !participant.streams.is_empty();
        if participant.streams == streams {
            return;
        }
        if was_publishing {
            // Janus re-announces a feed when its streams change: TRTC says stream-updated.
            participant.streams = streams;
            events.push(ClientEvent::StreamUpdated(stream_info(&feed, participant)));
            return;
        }
        participant.streams = streams;
        if !participant.streams.is_empty() {
            events.push(ClientEvent::StreamAdded(stream_info(&feed, participant)));
        }
    }

    fn unpublished(&mut self, feed: &FeedId, events: &mut Vec<ClientEvent>) {
        if let Some(participant) = self.participants.get_mut(feed) {
            if !participant.streams.is_empty() {
                let info = stream_info(feed, participant);
                participant.streams.clear();
                events.push(ClientEvent::StreamRemoved(info));
            }
        }
    }

    fn left(&mut self, feed: &FeedId, reason: LeaveReason, events: &mut Vec<ClientEvent>) {
        self.unpublished(feed, events);
        if let Some(participant) = self.participants.remove(feed) {
            events.push(ClientEvent::PeerLeave {
                user_id: participant.user_id,
                reason,
            });
        }
    }
}

fn feed_stream(entry: &Value) -> Option<FeedStream> {
    if entry.get("disabled").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let kind = match entry.get("type").and_then(Value::as_str)? {
        "audio" => StreamKind::Audio,
        "video" => StreamKind::Video,
        _ => StreamKind::Data,
    };
    let mid = entry.get("mid").and_then(Value::as_str)?.to_owned();
    Some(FeedStream { mid, kind })
}

fn stream_info(feed: &FeedId, participant: &Participant) -> StreamInfo {
    let has = |kind| participant.streams.iter().any(|s| s.kind == kind);
    StreamInfo {
        user_id: participant.user_id.clone(),
        stream_id: format!("janus-{feed}"),
        audio: has(StreamKind::Audio),
        video: has(StreamKind::Video),
        audio_muted: false,
        video_muted: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn door_publisher() -> Value {
        json!({"id": 8123, "display": "phone", "streams": [
            {"type": "audio", "mindex": 0, "mid": "0", "codec": "opus"},
            {"type": "video", "mindex": 1, "mid": "1", "codec": "h264"}
        ]})
    }

    #[test]
    fn joined_lists_those_already_publishing() {
        let mut room = VideoRoomState::default();
        let (joined, events) = room.joined(&json!({"videoroom": "joined", "room": 4321,
            "id": 77, "private_id": 1234, "publishers": [door_publisher()]}));
        assert_eq!(
            joined,
            Some(Joined {
                feed: FeedId::Number(77),
                private_id: Some(1234)
            })
        );
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0],
            ClientEvent::PeerJoin {
                user_id: "phone".into()
            }
        );
        let ClientEvent::StreamAdded(stream) = &events[1] else {
            panic!("stream-added expected, got {events:?}");
        };
        assert!(stream.audio && stream.video);
        assert_eq!(stream.user_id, "phone");
        let (feed, streams) = room.feed_of("phone").expect("known feed");
        assert_eq!(feed, FeedId::Number(8123));
        assert_eq!(streams.len(), 2);
    }

    #[test]
    fn publish_unpublish_leave_map_to_trtc_events() {
        let mut room = VideoRoomState::default();
        room.joined(&json!({"videoroom": "joined", "id": 77, "publishers": []}));
        let joining =
            room.event(&json!({"videoroom": "event", "joining": {"id": 8123, "display": "phone"}}));
        assert_eq!(
            joining,
            vec![ClientEvent::PeerJoin {
                user_id: "phone".into()
            }]
        );
        let added = room.event(&json!({"videoroom": "event", "publishers": [door_publisher()]}));
        assert!(matches!(&added[..], [ClientEvent::StreamAdded(s)] if s.user_id == "phone"));
        let removed = room.event(&json!({"videoroom": "event", "unpublished": 8123}));
        assert!(matches!(&removed[..], [ClientEvent::StreamRemoved(s)] if s.user_id == "phone"));
        assert!(room.feed_of("phone").is_none());
        let left = room.event(&json!({"videoroom": "event", "leaving": 8123}));
        assert_eq!(
            left,
            vec![ClientEvent::PeerLeave {
                user_id: "phone".into(),
                reason: LeaveReason::Normal
            }]
        );
    }

    #[test]
    fn leaving_while_publishing_removes_the_stream_first() {
        let mut room = VideoRoomState::default();
        room.joined(&json!({"videoroom": "joined", "id": 77, "publishers": [door_publisher()]}));
        let events = room.event(&json!({"videoroom": "event", "leaving": 8123}));
        assert!(matches!(
            &events[..],
            [ClientEvent::StreamRemoved(_), ClientEvent::PeerLeave { .. }]
        ));
    }

    #[test]
    fn our_own_unpublish_and_leave_acks_are_not_events() {
        let mut room = VideoRoomState::default();
        room.joined(&json!({"videoroom": "joined", "id": 77, "publishers": []}));
        assert!(room
            .event(&json!({"videoroom": "event", "unpublished": "ok"}))
            .is_empty());
        assert!(room
            .event(&json!({"videoroom": "event", "leaving": "ok"}))
            .is_empty());
        assert!(room
            .event(&json!({"videoroom": "event", "configured": "ok"}))
            .is_empty());
    }

    #[test]
    fn kicks_and_destroyed_rooms_put_us_out() {
        let mut room = VideoRoomState::default();
        room.joined(&json!({"videoroom": "joined", "id": 77, "publishers": []}));
        assert!(matches!(
            &room.event(&json!({"videoroom": "event", "kicked": 77}))[..],
            [ClientEvent::ClientBanned {
                reason: BanReason::Kick,
                ..
            }]
        ));
        assert!(matches!(
            &room.event(&json!({"videoroom": "destroyed", "room": 4321}))[..],
            [ClientEvent::ClientBanned {
                reason: BanReason::RoomDisband,
                ..
            }]
        ));
    }

    #[test]
    fn string_ids_and_missing_displays_still_name_the_user() {
        let mut room = VideoRoomState::default();
        room.joined(&json!({"videoroom": "joined", "id": "me", "publishers": [
            {"id": "door-3", "streams": [{"type": "audio", "mid": "0"}]}
        ]}));
        let (feed, _) = room.feed_of("door-3").expect("named by its id");
        assert_eq!(feed.to_json(), json!("door-3"));
    }

    #[test]
    fn disabled_streams_do_not_count() {
        let mut room = VideoRoomState::default();
        room.joined(&json!({"videoroom": "joined", "id": 1, "publishers": [
            {"id": 2, "display": "x", "streams": [
                {"type": "audio", "mid": "0"}, {"type": "video", "mid": "1", "disabled": true}]}
        ]}));
        let (_, streams) = room.feed_of("x").expect("publishing");
        assert_eq!(
            streams,
            vec![FeedStream {
                mid: "0".into(),
                kind: StreamKind::Audio
            }]
        );
    }
}
