//! The Pusher Channels protocol 7, sans I/O: frames, channel names and their mapping onto hub
//! rooms, the close and error codes, the signatures (`sign`), each tenant's derived app
//! credentials (`apps`), and the translation of hub messages into the frames a pusher-js client
//! expects. The server's Pusher transport is a thin I/O shell around this module.
//!
//! Channel ↔ room mapping (tenant from the app the socket connected to):
//! `private-user-{id}` ↔ `user:{tenant}:{id}`, `presence-class-{id}` ↔ `class:{tenant}:{id}`,
//! `private-game-{job}` ↔ `game:{tenant}:{job}`, any other name ↔ `channel:{tenant}:{name}`.

pub mod apps;
pub mod sign;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::message::{EventBody, Member, ServerMessage};
use crate::payload::{PayloadError, check_payload, check_text};
use crate::room::{RoomId, RoomIdError, RoomKind};

/// The protocol version classhub speaks (`?protocol=7`).
pub const PROTOCOL: u32 = 7;
/// Longest channel name Pusher accepts.
pub const MAX_CHANNEL_LEN: usize = 164;

/// One Pusher frame. Server → client frames carry `data` as a JSON-encoded string; client →
/// server frames carry it as an object (or string), so it is kept as a [`Value`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PusherFrame {
    /// `pusher:…`, `pusher_internal:…`, `client-…`, or an application event name.
    pub event: String,
    /// The channel, for channel events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The payload.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
    /// The sender of a client event on a presence channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// Fields of a client frame's `data` that carry JSON inside a string, which the server parses
/// (`pusher:subscribe`'s `channel_data`, `pusher:signin`'s `user_data`).
const JSON_STRING_FIELDS: [&str; 2] = ["channel_data", "user_data"];

/// Reads one client frame (JSON text) and checks it: every string follows the text rule (no
/// U+0000, see [`crate::check_text`]) — also inside the JSON that `data`, `data.channel_data`
/// and `data.user_data` may carry as strings — and `data` nests at most `max_payload_depth`
/// levels. The error is the sentence for a `pusher:error` frame, naming the field at fault.
pub fn decode_frame(text: &str, max_payload_depth: usize) -> Result<PusherFrame, String> {
    let frame: PusherFrame = serde_path_to_error::deserialize(
        &mut serde_json::Deserializer::from_str(text),
    )
    .map_err(|failure| match failure.path().to_string() {
        path if path == "." => format!("invalid JSON frame: {}", failure.inner()),
        path => format!("invalid JSON frame at {path}: {}", failure.inner()),
    })?;
    check_frame(&frame, max_payload_depth).map_err(|refused| refused.to_string())?;
    Ok(frame)
}

fn check_frame(frame: &PusherFrame, max_payload_depth: usize) -> Result<(), PayloadError> {
    check_text("event", &frame.event)?;
    if let Some(channel) = &frame.channel {
        check_text("channel", channel)?;
    }
    if let Some(user_id) = &frame.user_id {
        check_text("user_id", user_id)?;
    }
    check_payload("data", &frame.data, max_payload_depth)?;
    let parsed: Value;
    let data = match &frame.data {
        Value::String(inner) => match serde_json::from_str::<Value>(inner) {
            Ok(value) => {
                parsed = value;
                check_payload("data", &parsed, usize::MAX)?;
                &parsed
            }
            // Plain text (a client event's string data): checked above as a string.
            Err(_) => return Ok(()),
        },
        other => other,
    };
    for field in JSON_STRING_FIELDS {
        if let Some(Value::String(inner)) = data.get(field)
            && let Ok(parsed) = serde_json::from_str::<Value>(inner)
        {
            check_payload(&format!("data.{field}"), &parsed, usize::MAX)?;
        }
    }
    Ok(())
}

/// What a channel's name makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// Anyone with the app key may subscribe.
    Public,
    /// `private-…`: needs an authorization signature.
    Private,
    /// `presence-…`: needs a signature over `channel_data` naming the member.
    Presence,
    /// `private-encrypted-…`: end-to-end encrypted (not supported by classhub).
    Encrypted,
}

/// Close codes of Pusher protocol 7 that classhub sends. 4000–4099: do not reconnect; 4100–4199:
/// reconnect after a back-off; 4200–4299: reconnect at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PusherClose {
    /// No app has this key.
    UnknownApp,
    /// The protocol version is not 7.
    UnsupportedProtocol,
    /// The connection is unauthorized (e.g. terminated by the HTTP API).
    Unauthorized,
    /// The server or app is over its connection capacity.
    OverCapacity,
    /// The server is shutting down or restarting.
    Reconnect,
    /// No pong arrived within the activity timeout.
    ActivityTimeout,
    /// The client kept sending frames the server refused after being told to slow down.
    RateLimited,
}

impl PusherClose {
    /// The numeric close code.
    pub fn code(self) -> u16 {
        match self {
            PusherClose::UnknownApp => 4001,
            PusherClose::UnsupportedProtocol => 4007,
            PusherClose::Unauthorized => 4009,
            PusherClose::OverCapacity => 4100,
            PusherClose::Reconnect => 4200,
            PusherClose::ActivityTimeout => 4201,
            PusherClose::RateLimited => 4101,
        }
    }

    /// The reason sent with the close, and in the preceding `pusher:error`.
    pub fn reason(self) -> &'static str {
        match self {
            PusherClose::UnknownApp => "App key not in this cluster; check the key",
            PusherClose::UnsupportedProtocol => "Unsupported protocol version; use protocol=7",
            PusherClose::Unauthorized => "Connection not authorized",
            PusherClose::OverCapacity => "Over capacity; reconnect later",
            PusherClose::Reconnect => "Server shutting down; reconnect",
            PusherClose::ActivityTimeout => "Pong reply not received",
            PusherClose::RateLimited => "Too many refused frames; reconnect later and slow down",
        }
    }
}

/// The error code Pusher uses for client events over the rate limit.
pub const CLIENT_EVENT_RATE_LIMIT: u16 = 4301;

/// The kind of a channel by its prefix.
pub fn channel_kind(channel: &str) -> ChannelKind {
    if channel.starts_with("private-encrypted-") {
        ChannelKind::Encrypted
    } else if channel.starts_with("private-") {
        ChannelKind::Private
    } else if channel.starts_with("presence-") {
        ChannelKind::Presence
    } else {
        ChannelKind::Public
    }
}

/// Checks a channel name: 1–164 characters from `[A-Za-z0-9_\-=@,.;]`.
pub fn validate_channel(channel: &str) -> Result<(), String> {
    let allowed = |byte: u8| byte.is_ascii_alphanumeric() || b"_-=@,.;".contains(&byte);
    if channel.is_empty() || channel.len() > MAX_CHANNEL_LEN {
        return Err(format!(
            "channel names are 1 to {MAX_CHANNEL_LEN} characters"
        ));
    }
    if !channel.bytes().all(allowed) {
        return Err(format!(
            "invalid channel name {channel:?}: use letters, digits and _-=@,.;"
        ));
    }
    Ok(())
}

/// The hub room a channel of `tenant` maps onto.
pub fn room_for_channel(
    tenant: &str,
    channel: &str,
    max_room_id_len: usize,
) -> Result<RoomId, RoomIdError> {
    let (kind, id) = if let Some(user) = channel.strip_prefix("private-user-") {
        (RoomKind::User, user)
    } else if let Some(class) = channel.strip_prefix("presence-class-") {
        (RoomKind::Class, class)
    } else if let Some(job) = channel.strip_prefix("private-game-") {
        (RoomKind::Game, job)
    } else {
        (RoomKind::Channel, channel)
    };
    RoomId::new(kind, tenant, id, max_room_id_len)
}

/// The channel name a hub room is known by to Pusher clients.
pub fn channel_for_room(room: &RoomId) -> String {
    match room.kind() {
        RoomKind::User => format!("private-user-{}", room.local_id()),
        RoomKind::Class => format!("presence-class-{}", room.local_id()),
        RoomKind::Game => format!("private-game-{}", room.local_id()),
        RoomKind::Channel => room.local_id().to_owned(),
    }
}

/// Whether a room is a presence channel for Pusher clients.
pub fn is_presence_room(room: &RoomId) -> bool {
    channel_kind(&channel_for_room(room)) == ChannelKind::Presence
}

/// The `pusher:connection_established` frame.
pub fn connection_established(socket_id: &str, activity_timeout_secs: u64) -> PusherFrame {
    PusherFrame {
        event: "pusher:connection_established".into(),
        channel: None,
        data: Value::String(
            json!({"socket_id": socket_id, "activity_timeout": activity_timeout_secs}).to_string(),
        ),
        user_id: None,
    }
}

/// A `pusher:error` frame (`code` `None` for errors that do not close the connection).
pub fn error(code: Option<u16>, message: &str) -> PusherFrame {
    PusherFrame {
        event: "pusher:error".into(),
        channel: None,
        data: json!({"code": code, "message": message}),
        user_id: None,
    }
}

/// The frames a Pusher client receives for a hub message, as JSON text (none for messages that
/// have no Pusher counterpart: `reply`, `welcome`, presence `updates`).
pub fn frames_for(message: &ServerMessage) -> Vec<String> {
    let frames = match message {
        ServerMessage::Event(body)
        | ServerMessage::Command(body)
        | ServerMessage::Notification(body) => event_frame(body).into_iter().collect(),
        ServerMessage::PresenceDiff(diff) => match parse_room(&diff.room) {
            Some(room) if is_presence_room(&room) => {
                let channel = channel_for_room(&room);
                let added = diff.joins.iter().map(|member| PusherFrame {
                    event: "pusher_internal:member_added".into(),
                    channel: Some(channel.clone()),
                    data: Value::String(
                        json!({"user_id": member.user, "user_info": user_info(member)}).to_string(),
                    ),
                    user_id: None,
                });
                let removed = diff.leaves.iter().map(|left| PusherFrame {
                    event: "pusher_internal:member_removed".into(),
                    channel: Some(channel.clone()),
                    data: Value::String(json!({"user_id": left.user}).to_string()),
                    user_id: None,
                });
                added.chain(removed).collect()
            }
            Some(_) | None => Vec::new(),
        },
        ServerMessage::Joined(joined) => match parse_room(&joined.room) {
            Some(room) => {
                let data = if is_presence_room(&room) {
                    let ids: Vec<&str> = joined
                        .members
                        .iter()
                        .map(|member| member.user.as_str())
                        .collect();
                    let hash: Map<String, Value> = joined
                        .members
                        .iter()
                        .map(|member| (member.user.clone(), user_info(member)))
                        .collect();
                    json!({"presence": {"ids": ids, "hash": hash, "count": ids.len()}}).to_string()
                } else {
                    "{}".to_owned()
                };
                vec![PusherFrame {
                    event: "pusher_internal:subscription_succeeded".into(),
                    channel: Some(channel_for_room(&room)),
                    data: Value::String(data),
                    user_id: None,
                }]
            }
            None => Vec::new(),
        },
        ServerMessage::Error(body) => {
            let code = (body.code == crate::ErrorCode::RateLimited.code())
                .then_some(CLIENT_EVENT_RATE_LIMIT);
            vec![error(code, &body.message)]
        }
        ServerMessage::Pong(_) => {
            vec![PusherFrame {
                event: "pusher:pong".into(),
                channel: None,
                data: Value::String("{}".into()),
                user_id: None,
            }]
        }
        ServerMessage::Welcome(_) | ServerMessage::Reply(_) => Vec::new(),
    };
    frames
        .iter()
        .filter_map(|frame| serde_json::to_string(frame).ok())
        .collect()
}

fn parse_room(room: &str) -> Option<RoomId> {
    RoomId::parse(room, usize::MAX).ok()
}

/// A member's `user_info`: its presence state (for Pusher members, the `user_info` of their
/// `channel_data`), with the display name added when the state has none.
fn user_info(member: &Member) -> Value {
    let mut info = match &member.state {
        Value::Object(fields) => fields.clone(),
        _ => Map::new(),
    };
    if let Some(name) = &member.name {
        info.entry("name")
            .or_insert_with(|| Value::String(name.clone()));
    }
    Value::Object(info)
}

fn event_frame(body: &EventBody) -> Option<PusherFrame> {
    let room = parse_room(&body.room)?;
    let channel = channel_for_room(&room);
    let data = match body.data.as_ref() {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let user_id = (body.kind.starts_with("client-")
        && channel_kind(&channel) == ChannelKind::Presence)
        .then(|| body.from.clone());
    Some(PusherFrame {
        event: body.kind.clone(),
        channel: Some(channel),
        data: Value::String(data),
        user_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Joined, LeftMember, PresenceDiff};

    #[test]
    fn channels_map_onto_rooms_and_back() {
        let check = |channel: &str, room: &str| {
            let mapped = room_for_channel("acme", channel, 200).expect("maps");
            assert_eq!(mapped.as_str(), room, "{channel}");
            assert_eq!(channel_for_room(&mapped), channel, "{room}");
        };
        check("private-user-s1", "user:acme:s1");
        check("presence-class-math-7b", "class:acme:math-7b");
        check("private-game-0c8f3e12-aa9e", "game:acme:0c8f3e12-aa9e");
        check("news", "channel:acme:news");
        check(
            "private-chat@room=1;a,b",
            "channel:acme:private-chat@room=1;a,b",
        );
        check("presence-lobby", "channel:acme:presence-lobby");
        assert!(room_for_channel("acme", "private-user-", 200).is_err());
    }

    #[test]
    fn channel_names_are_checked() {
        assert!(validate_channel("presence-class-1").is_ok());
        assert!(validate_channel("").is_err());
        assert!(validate_channel("a b").is_err());
        assert!(validate_channel(&"x".repeat(165)).is_err());
        assert_eq!(channel_kind("private-encrypted-x"), ChannelKind::Encrypted);
        assert_eq!(channel_kind("presence-x"), ChannelKind::Presence);
        assert_eq!(channel_kind("x"), ChannelKind::Public);
    }

    #[test]
    fn hub_messages_become_pusher_frames() {
        let event = ServerMessage::Event(EventBody {
            room: "class:acme:c1".into(),
            seq: 3,
            ts: 1,
            from: "s1".into(),
            kind: "client-typing".into(),
            data: json!({"x": 1}).into(),
            id: None,
            ephemeral: false,
        });
        let frames: Vec<Value> = frames_for(&event)
            .iter()
            .map(|frame| serde_json::from_str(frame).expect("json"))
            .collect();
        assert_eq!(
            frames,
            [
                json!({"event": "client-typing", "channel": "presence-class-c1", "data": "{\"x\":1}", "user_id": "s1"})
            ]
        );

        let member = Member {
            user: "s2".into(),
            name: Some("Ada".into()),
            role: "student".into(),
            state: json!({"color": "red"}),
        };
        let diff = ServerMessage::PresenceDiff(PresenceDiff {
            room: "class:acme:c1".into(),
            joins: vec![member.clone()],
            leaves: vec![LeftMember {
                user: "s1".into(),
                reason: "left".into(),
            }],
            updates: vec![],
        });
        let frames: Vec<Value> = frames_for(&diff)
            .iter()
            .map(|frame| serde_json::from_str(frame).expect("json"))
            .collect();
        assert_eq!(frames[0]["event"], "pusher_internal:member_added");
        let added: Value =
            serde_json::from_str(frames[0]["data"].as_str().expect("string data")).expect("json");
        assert_eq!(
            added,
            json!({"user_id": "s2", "user_info": {"color": "red", "name": "Ada"}})
        );
        assert_eq!(frames[1]["event"], "pusher_internal:member_removed");

        let joined = ServerMessage::Joined(Joined {
            reference: None,
            room: "class:acme:c1".into(),
            epoch: 1,
            seq: 0,
            members: vec![member],
            recovered: false,
            missed: vec![],
        });
        let frames: Vec<Value> = frames_for(&joined)
            .iter()
            .map(|frame| serde_json::from_str(frame).expect("json"))
            .collect();
        let data: Value =
            serde_json::from_str(frames[0]["data"].as_str().expect("string")).expect("json");
        assert_eq!(
            data,
            json!({"presence": {"ids": ["s2"], "hash": {"s2": {"color": "red", "name": "Ada"}}, "count": 1}})
        );

        // Public-channel presence changes and replies have no Pusher counterpart.
        let public_diff = ServerMessage::PresenceDiff(PresenceDiff {
            room: "channel:acme:news".into(),
            joins: vec![],
            leaves: vec![],
            updates: vec![],
        });
        assert!(frames_for(&public_diff).is_empty());
    }

    #[test]
    fn client_frames_are_checked_naming_the_field() {
        let check = |text: &str, expected: Result<(), &str>| {
            let verdict = decode_frame(text, 16).map(drop);
            match (&verdict, expected) {
                (Ok(()), Ok(())) => {}
                (Err(message), Err(field)) => {
                    assert!(message.contains(field), "{text}: {message}")
                }
                _ => panic!("{text}: {verdict:?}, expected {expected:?}"),
            }
        };
        check(r#"{"event":"pusher:ping","data":{}}"#, Ok(()));
        check(
            r#"{"event":"client-move","channel":"private-game-j1","data":{"x":"\u0000"}}"#,
            Err("data.x"),
        );
        check(r#"{"event":"client-\u0000","data":{}}"#, Err("event"));
        check(
            r#"{"event":"client-a","channel":"private-\u0000","data":{}}"#,
            Err("channel"),
        );
        check(
            r#"{"event":"client-a","channel":"c","data":"{\"x\":\"\\u0000\"}"}"#,
            Err("data.x"),
        );
        check(
            r#"{"event":"pusher:subscribe","data":{"channel":"presence-class-c1","auth":"k:s","channel_data":"{\"user_id\":\"u\",\"user_info\":{\"name\":\"A\\u0000\"}}"}}"#,
            Err("data.channel_data.user_info.name"),
        );
        check(
            r#"{"event":"client-a","channel":"c","data":{"x":"\ud800"}}"#,
            Err("data.x"),
        );
        check(r#"{"event":"client-a","data":"just text"}"#, Ok(()));
        check(
            &format!(
                r#"{{"event":"client-a","data":{}1{}}}"#,
                "[".repeat(17),
                "]".repeat(17)
            ),
            Err("data"),
        );
        check("nope", Err("invalid JSON frame"));
    }
}
