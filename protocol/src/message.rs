//! The native protocol v1 messages. Client and server messages are JSON objects (or MessagePack
//! maps with the same field names) tagged by `"type"` with snake_case names. Every client message
//! may carry a `ref` (a number or a string) that the server's answer echoes. Unknown fields are
//! ignored. Optional fields are omitted rather than sent as `null` (Roblox turns `null` into a
//! missing field anyway, and never sees `null` inside an array).

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::payload::{
    object_or_empty_array, optional_object_or_empty_array, shared_object_or_empty_array,
};

/// A client-chosen correlation id, echoed by the answer to the message that carried it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Ref {
    /// A number (kept below 2^53 by well-behaved clients).
    Int(u64),
    /// A string.
    Text(String),
}

/// A message from a client to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Authenticate with a platform token (browsers cannot set headers on a WebSocket).
    Auth {
        /// Echoed by the `welcome` or `error` answer.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
        /// A JWT.
        token: String,
    },
    /// Join a room, optionally recovering what was missed since a known position.
    Join {
        /// Echoed by `joined`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
        /// The room id, `class|game|user:{tenant}:{id}`.
        room: String,
        /// The last position this client saw in the room; `[]` reads as absent.
        #[serde(
            default,
            deserialize_with = "since_or_empty",
            skip_serializing_if = "Option::is_none"
        )]
        since: Option<Since>,
        /// The presence state to show other members (an object; `[]` reads as `{}`).
        #[serde(
            default,
            deserialize_with = "optional_object_or_empty_array",
            skip_serializing_if = "Option::is_none"
        )]
        presence: Option<Value>,
    },
    /// Leave a room.
    Leave {
        /// Echoed by `reply`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
        /// The room id.
        room: String,
    },
    /// Publish an event to a room. With an `id` the event is durable (stored once per id).
    Publish {
        /// Echoed by `reply`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
        /// The room id.
        room: String,
        /// What happened (`chat`, `progress`, `quiz_answer`, or a command kind such as `reward`).
        kind: String,
        /// The event's payload (`[]` reads as `{}`; absent reads as `{}`).
        #[serde(default = "empty_object", deserialize_with = "object_or_empty_array")]
        data: Value,
        /// A client-made id that makes retries idempotent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Worthless when late (a position, a cursor, typing): never stored nor kept in
        /// history, no `seq` of its own, sent to the other members best effort (QUIC datagrams;
        /// dropped for a member whose queue is busy). Cannot carry an `id`.
        #[serde(default, skip_serializing_if = "is_false")]
        ephemeral: bool,
    },
    /// Replace this user's presence state in a room.
    Presence {
        /// Echoed by `reply`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
        /// The room id.
        room: String,
        /// The new state (an object; `[]` reads as `{}`).
        #[serde(deserialize_with = "object_or_empty_array")]
        state: Value,
    },
    /// Ask for a `pong`.
    Ping {
        /// Echoed by `pong`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
}

impl ClientMessage {
    /// The names of the `type`s a client may send.
    pub const TYPES: [&'static str; 6] = ["auth", "join", "leave", "publish", "presence", "ping"];

    /// The `type` name of this message.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientMessage::Auth { .. } => "auth",
            ClientMessage::Join { .. } => "join",
            ClientMessage::Leave { .. } => "leave",
            ClientMessage::Publish { .. } => "publish",
            ClientMessage::Presence { .. } => "presence",
            ClientMessage::Ping { .. } => "ping",
        }
    }

    /// The `ref` the client attached, if any.
    pub fn reference(&self) -> Option<&Ref> {
        match self {
            ClientMessage::Auth { reference, .. }
            | ClientMessage::Join { reference, .. }
            | ClientMessage::Leave { reference, .. }
            | ClientMessage::Publish { reference, .. }
            | ClientMessage::Presence { reference, .. }
            | ClientMessage::Ping { reference } => reference.as_ref(),
        }
    }

    /// The room the message addresses, if it addresses one.
    pub fn room(&self) -> Option<&str> {
        match self {
            ClientMessage::Join { room, .. }
            | ClientMessage::Leave { room, .. }
            | ClientMessage::Publish { room, .. }
            | ClientMessage::Presence { room, .. } => Some(room),
            ClientMessage::Auth { .. } | ClientMessage::Ping { .. } => None,
        }
    }

    /// The payloads whose nesting depth is limited, by field name.
    pub fn payloads(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        let payload = match self {
            ClientMessage::Join { presence, .. } => {
                presence.as_ref().map(|state| ("presence", state))
            }
            ClientMessage::Publish { data, .. } => Some(("data", data)),
            ClientMessage::Presence { state, .. } => Some(("state", state)),
            ClientMessage::Auth { .. }
            | ClientMessage::Leave { .. }
            | ClientMessage::Ping { .. } => None,
        };
        payload.into_iter()
    }

    /// The plain strings of the message (ids, names, the token), by field name: with
    /// [`ClientMessage::payloads`], every text the client chose.
    pub fn texts(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let reference = match self.reference() {
            Some(Ref::Text(text)) => Some(text.as_str()),
            Some(Ref::Int(_)) | None => None,
        };
        let (token, room, kind, id) = match self {
            ClientMessage::Auth { token, .. } => (Some(token.as_str()), None, None, None),
            ClientMessage::Publish { room, kind, id, .. } => (
                None,
                Some(room.as_str()),
                Some(kind.as_str()),
                id.as_deref(),
            ),
            ClientMessage::Join { room, .. }
            | ClientMessage::Leave { room, .. }
            | ClientMessage::Presence { room, .. } => (None, Some(room.as_str()), None, None),
            ClientMessage::Ping { .. } => (None, None, None, None),
        };
        [
            ("ref", reference),
            ("token", token),
            ("room", room),
            ("kind", kind),
            ("id", id),
        ]
        .into_iter()
        .filter_map(|(field, text)| text.map(|text| (field, text)))
    }
}

/// A position in a room's event stream: the room's epoch and the last `seq` seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Since {
    /// The room's epoch; it changes when the room is re-created.
    pub epoch: u64,
    /// The last sequence number the client saw.
    pub seq: u64,
}

/// A message from the server to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Sent once the connection is authenticated.
    Welcome(Welcome),
    /// The answer to `join`: a snapshot of the room and what was missed.
    Joined(Joined),
    /// An event published to a class or game room.
    Event(EventBody),
    /// Users who joined, left or changed their presence state.
    PresenceDiff(PresenceDiff),
    /// An educator's command (announce, quiz, reward, freeze, unfreeze, teleport).
    Command(EventBody),
    /// An event published to a user's private room.
    Notification(EventBody),
    /// A plain acknowledgement of the client message with this `ref`.
    Reply(Reply),
    /// Something the client sent was refused; the connection stays open.
    Error(ErrorBody),
    /// The answer to `ping`.
    Pong(Pong),
}

impl ServerMessage {
    /// The `type` name of this message (used as a metrics label).
    pub fn type_name(&self) -> &'static str {
        match self {
            ServerMessage::Welcome(_) => "welcome",
            ServerMessage::Joined(_) => "joined",
            ServerMessage::Event(_) => "event",
            ServerMessage::PresenceDiff(_) => "presence_diff",
            ServerMessage::Command(_) => "command",
            ServerMessage::Notification(_) => "notification",
            ServerMessage::Reply(_) => "reply",
            ServerMessage::Error(_) => "error",
            ServerMessage::Pong(_) => "pong",
        }
    }
}

/// The `welcome` frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// The `ref` of the `auth` frame, when authentication came by frame.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Ref>,
    /// This connection's id, unique on the node.
    pub conn_id: String,
    /// The authenticated user id.
    pub user: String,
    /// The user's tenant.
    pub tenant: String,
    /// The user's role (`student`, `educator`, `parent`, `admin`).
    pub role: String,
    /// The server pings at this interval; a client silent for twice as long is closed.
    pub heartbeat_ms: u64,
    /// The limits this connection must respect.
    pub limits: WireLimits,
}

/// The limits announced in `welcome`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireLimits {
    /// Largest accepted frame in bytes.
    pub max_frame_bytes: u64,
    /// Longest accepted room id in bytes.
    pub max_room_id_len: u64,
    /// Deepest accepted payload nesting.
    pub max_payload_depth: u64,
    /// Sustained publishes per second.
    pub publish_per_sec: u64,
    /// Publishes allowed in one burst.
    pub publish_burst: u64,
    /// Rooms one connection may be in at once.
    pub max_rooms: u64,
    /// Longest accepted event id in bytes.
    pub max_event_id_len: u64,
}

/// The `joined` frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Joined {
    /// The `ref` of the `join`.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Ref>,
    /// The room id.
    pub room: String,
    /// The room's epoch.
    pub epoch: u64,
    /// The room's last sequence number.
    pub seq: u64,
    /// The users present, one entry per user (not per socket), this user included.
    pub members: Vec<Member>,
    /// True when `since` was given and every event after it is in `missed`.
    pub recovered: bool,
    /// The events after `since`, oldest first, as the frames they were delivered as.
    pub missed: Vec<ServerMessage>,
}

/// One user present in a room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The user id.
    pub user: String,
    /// The display name, when the token carried one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user's role.
    pub role: String,
    /// The user's presence state (an object).
    #[serde(default = "empty_object", deserialize_with = "object_or_empty_array")]
    pub state: Value,
}

/// One user who left a room, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftMember {
    /// The user id.
    pub user: String,
    /// `left`, `disconnected`, `slow_consumer`, `heartbeat_timeout`, `shutdown`, `kicked`, `revoked` (no longer allowed in the room).
    pub reason: String,
}

/// The `presence_diff` frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceDiff {
    /// The room id.
    pub room: String,
    /// Users who became present.
    #[serde(default)]
    pub joins: Vec<Member>,
    /// Users who are no longer present.
    #[serde(default)]
    pub leaves: Vec<LeftMember>,
    /// Users whose presence state changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub updates: Vec<Member>,
}

/// The body of `event`, `command` and `notification` frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventBody {
    /// The room id.
    pub room: String,
    /// The event's sequence number in the room.
    pub seq: u64,
    /// Server time of publication, milliseconds since the Unix epoch.
    pub ts: u64,
    /// The publishing user's id.
    pub from: String,
    /// What happened.
    pub kind: String,
    /// The payload, shared by every room the event went to, their histories and the sink.
    #[serde(
        default = "shared_empty_object",
        deserialize_with = "shared_object_or_empty_array"
    )]
    pub data: Arc<Value>,
    /// The client-made event id, when the publisher gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// An ephemeral event: `seq` is the room's last one (it does not advance), and it is never
    /// in `missed`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ephemeral: bool,
}

/// The `reply` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The `ref` being answered.
    #[serde(rename = "ref")]
    pub reference: Ref,
    /// For a publish: the sequence number the event got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// The `error` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The `ref` of the refused message, when it had one.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Ref>,
    /// The stable numeric code (see [`crate::ErrorCode`]).
    pub code: u16,
    /// What was wrong and what to do.
    pub message: String,
    /// For retryable errors: how long to wait before retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// The `pong` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    /// The `ref` of the `ping`.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Ref>,
}

/// Kinds of event that educators send to game servers and students as `command` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandKind {
    /// Show a message to players.
    Announce,
    /// Push a quiz.
    Quiz,
    /// Award a badge and/or points.
    Reward,
    /// Freeze players in place.
    Freeze,
    /// Release frozen players.
    Unfreeze,
    /// Move players to a place or spot.
    Teleport,
}

impl CommandKind {
    /// Every command kind.
    pub const ALL: [CommandKind; 6] = [
        CommandKind::Announce,
        CommandKind::Quiz,
        CommandKind::Reward,
        CommandKind::Freeze,
        CommandKind::Unfreeze,
        CommandKind::Teleport,
    ];

    /// The `kind` string on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandKind::Announce => "announce",
            CommandKind::Quiz => "quiz",
            CommandKind::Reward => "reward",
            CommandKind::Freeze => "freeze",
            CommandKind::Unfreeze => "unfreeze",
            CommandKind::Teleport => "teleport",
        }
    }

    /// The command kind a publish `kind` names, if it names one.
    pub fn parse(kind: &str) -> Option<CommandKind> {
        CommandKind::ALL
            .into_iter()
            .find(|command| command.as_str() == kind)
    }

    /// Checks a command's `data` (an object) before it is sent to game servers:
    /// `announce {text}`, `quiz {question, choices?}`, `reward {badge_id?, points?}` (at least
    /// one; points not negative), `teleport {place_id?}`; `target` (a student id), when present, is a non-empty
    /// string. Returns a sentence naming the offending field.
    pub fn validate(self, data: &Value) -> Result<(), String> {
        let Some(fields) = data.as_object() else {
            return Err(format!("{} data must be an object", self.as_str()));
        };
        let non_empty_text = |field: &str| {
            fields
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(|text| !text.trim().is_empty())
        };
        let whole_number = |field: &str| match fields.get(field) {
            None => Ok(false),
            Some(value) => value
                .as_f64()
                .filter(|number| number.fract() == 0.0 && number.abs() < 9_007_199_254_740_992.0)
                .map(|_| true)
                .ok_or_else(|| format!("{} data.{field} must be a whole number", self.as_str())),
        };
        if let Some(target) = fields.get("target")
            && target.as_str().is_none_or(|target| target.is_empty())
        {
            return Err(format!(
                "{} data.target must be a student id (a non-empty string); leave it out to address everyone",
                self.as_str()
            ));
        }
        match self {
            CommandKind::Announce if !non_empty_text("text") => {
                Err("announce needs data.text, the message to show".into())
            }
            CommandKind::Quiz if !non_empty_text("question") => {
                Err("quiz needs data.question, the question to ask".into())
            }
            CommandKind::Quiz
                if fields
                    .get("choices")
                    .is_some_and(|choices| !choices.is_array()) =>
            {
                Err("quiz data.choices must be a list".into())
            }
            CommandKind::Reward => {
                let badge = whole_number("badge_id")?;
                let points = whole_number("points")?;
                // Points are recorded in the rewards ledger, which counts up only.
                if fields
                    .get("points")
                    .and_then(Value::as_f64)
                    .is_some_and(|points| points < 0.0)
                {
                    Err("reward data.points must not be negative".into())
                } else if badge || points {
                    Ok(())
                } else {
                    Err("reward needs data.badge_id (a Roblox badge id) and/or data.points".into())
                }
            }
            CommandKind::Teleport => whole_number("place_id").map(drop),
            _ => Ok(()),
        }
    }
}

fn is_false(flag: &bool) -> bool {
    !*flag
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

fn shared_empty_object() -> Arc<Value> {
    Arc::new(empty_object())
}

fn since_or_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Since>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum SinceOrEmpty {
        Since(Since),
        Empty([u8; 0]),
    }
    Ok(match Option::<SinceOrEmpty>::deserialize(deserializer)? {
        Some(SinceOrEmpty::Since(since)) => Some(since),
        Some(SinceOrEmpty::Empty(_)) | None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::CommandKind;
    use serde_json::json;

    #[test]
    fn command_data_is_checked_per_kind() {
        let check = |kind: &str, data: serde_json::Value, ok: bool| {
            let verdict = CommandKind::parse(kind)
                .expect("a command kind")
                .validate(&data);
            assert_eq!(verdict.is_ok(), ok, "{kind} {data}: {verdict:?}");
        };
        check("announce", json!({"text": "Lunch in 5"}), true);
        check("announce", json!({"text": "  "}), false);
        check("announce", json!({}), false);
        check(
            "quiz",
            json!({"question": "2+2?", "choices": ["3", "4"]}),
            true,
        );
        check("quiz", json!({"question": "2+2?", "choices": "4"}), false);
        check("reward", json!({"badge_id": 2124.0}), true);
        check("reward", json!({"points": 10}), true);
        check("reward", json!({"points": 1.5}), false);
        check("reward", json!({"points": -5}), false);
        check("reward", json!({"reason": "nice"}), false);
        check("freeze", json!({"target": "s1"}), true);
        check("freeze", json!({"target": 7}), false);
        check("unfreeze", json!([]), false);
        check("teleport", json!({"place_id": "x"}), false);
        check("teleport", json!({}), true);
    }
}
