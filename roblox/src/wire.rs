//! The request and answer bodies of the Roblox HTTP routes (`/api/v1/roblox/...`), as the Luau
//! SDK writes and reads them. Requests are read tolerantly (see [`crate::json`]); answers
//! never put `null` inside arrays and keep integers below 2^53.

use protocol::{CommandKind, Limits, check_payload, check_text, normalize_empty_array};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::json::{integer, lenient_i64, list};

/// Longest Roblox `JobId` (a GUID is 36) or any other id a game server sends.
pub const MAX_ID_LEN: usize = 100;
/// Longest event `kind`.
pub const MAX_KIND_LEN: usize = 64;
/// The punctuation an id a game server chooses may hold, besides ASCII letters and digits.
pub const ID_PUNCTUATION: &str = "-_.";

/// The OpenAPI schema of an id checked by [`check_id`] (for `#[schema(value_type = ..)]`).
#[derive(Debug)]
pub struct GameServerId;

impl PartialSchema for GameServerId {
    fn schema() -> RefOr<Schema> {
        let punctuation: String = ID_PUNCTUATION
            .chars()
            .map(|c| format!("\\u{:04X}", u32::from(c)))
            .collect();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_ID_LEN))
            .pattern(Some(format!("^[A-Za-z0-9{punctuation}]*$")))
            .into()
    }
}

impl ToSchema for GameServerId {}

/// `POST /api/v1/roblox/sessions`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct OpenSession {
    /// `game.GameId`.
    #[serde(deserialize_with = "lenient_i64")]
    pub universe_id: i64,
    /// `game.PlaceId`.
    #[serde(deserialize_with = "lenient_i64")]
    pub place_id: i64,
    /// `game.JobId`: names the session's room `game:{tenant}:{job_id}` (in Studio, where it is
    /// empty, any unique id).
    #[schema(value_type = GameServerId)]
    pub job_id: String,
    /// Links the session to the class with this code.
    #[serde(default)]
    pub class_code: Option<String>,
    /// Links the session to the class with this id.
    #[serde(default)]
    pub class_id: Option<String>,
}

/// The answer to [`OpenSession`].
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionOpened {
    /// The session id, used in every later call.
    pub session_id: String,
    /// The session's room.
    pub room: String,
    /// The linked class, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_id: Option<String>,
    /// How to long-poll for commands.
    pub poll: PollSettings,
    /// Most events per `POST /events`.
    pub max_batch: usize,
    /// The MessagingService topic that says "poll now".
    pub topic: String,
}

/// Long-poll settings announced to the SDK.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub struct PollSettings {
    /// The hold to ask for.
    pub wait_secs: u64,
    /// The longest hold the server grants.
    pub max_wait_secs: u64,
}

/// The answer to `DELETE /api/v1/roblox/sessions/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionClosed {
    /// The session id.
    pub session_id: String,
    /// How long it was open.
    pub duration_secs: u64,
    /// Events it sent that were accepted.
    pub events_count: u64,
}

/// `POST /api/v1/roblox/sessions/{id}/players`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct PlayersBatch {
    /// Players who joined.
    #[serde(default, deserialize_with = "list")]
    pub joins: Vec<PlayerJoin>,
    /// Players who left.
    #[serde(default, deserialize_with = "list")]
    pub leaves: Vec<PlayerLeave>,
}

/// A player who joined the game server.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct PlayerJoin {
    /// `Player.UserId`.
    #[serde(deserialize_with = "lenient_i64")]
    pub user_id: i64,
    /// `Player.Name`.
    #[serde(default)]
    pub name: Option<String>,
    /// `Player.DisplayName`.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// A player who left.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct PlayerLeave {
    /// `Player.UserId`.
    #[serde(deserialize_with = "lenient_i64")]
    pub user_id: i64,
}

/// The answer to [`PlayersBatch`]: one entry per join.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PlayersAnswer {
    /// The joined players and their students.
    pub players: Vec<PlayerLink>,
}

/// A Roblox player and the roster student it is linked to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct PlayerLink {
    /// `Player.UserId`.
    pub user_id: i64,
    /// The linked student, if linked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student_id: Option<String>,
}

/// `POST /api/v1/roblox/link`: the player proves they are the student by typing both the class
/// code and the student's personal link code.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LinkRequest {
    /// The class code the player typed.
    pub class_code: String,
    /// The personal link code the player typed: the student's own code on that class's roster
    /// (the teacher sees it on the roster, the student in `GET /api/v1/auth/me`). Required: a
    /// request without it is refused (422) with a sentence saying what to do.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub student_code: Option<String>,
    /// `Player.UserId`.
    #[serde(deserialize_with = "lenient_i64")]
    pub user_id: i64,
    /// `Player.Name`, kept with the link.
    #[serde(default)]
    pub name: Option<String>,
    /// `Player.DisplayName`, kept with the link.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The session the player is in, so its presence moves to the student at once.
    #[serde(default)]
    pub session_id: Option<String>,
}

/// The answer to [`LinkRequest`]: the player is linked (or was already) to this student. A
/// request that links nobody is an error answer, never a list of students to pick from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct LinkAnswer {
    /// Always `true`.
    pub linked: bool,
    /// The student.
    pub student_id: String,
    /// The student's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The class whose code was used.
    pub class_id: String,
}

/// `POST /api/v1/roblox/events`: events are kept as raw values so that one bad event is
/// reported by id without failing the batch (see [`IngestEvent::read`]).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct EventBatch {
    /// The session every event belongs to, unless an event names its own.
    #[serde(default)]
    pub session_id: Option<String>,
    /// The events.
    #[serde(default, deserialize_with = "list")]
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Value>,
}

/// One valid event of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestEvent {
    /// Made once by the SDK; retries reuse it, so it is stored once.
    pub id: String,
    /// The session it belongs to.
    pub session_id: Option<String>,
    /// The Roblox player it is about, if any.
    pub player: Option<i64>,
    /// What happened.
    pub kind: String,
    /// The payload (an object).
    pub data: Value,
    /// The game server's clock when it happened, seconds since the Unix epoch.
    pub client_time: Option<f64>,
}

/// An event refused by validation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct RejectedEvent {
    /// Its id (empty when it had none).
    pub id: String,
    /// `invalid_input`, `forbidden`, `not_found` or `unavailable`.
    pub code: String,
    /// What was wrong.
    pub message: String,
}

/// The answer to [`EventBatch`], sent once the accepted events are committed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct EventsAnswer {
    /// Ids stored (or stored earlier: retries are accepted again).
    pub accepted: Vec<String>,
    /// Ids refused, with why; retrying them unchanged will not help.
    pub rejected: Vec<RejectedEvent>,
}

impl IngestEvent {
    /// Reads and checks one event of a batch; `Err` carries what to report for it, naming the
    /// field at fault. Every text the event carries follows `protocol`'s text rule (no U+0000),
    /// so an event the database could not store is refused here, by its id, and the rest of the
    /// batch goes on.
    pub fn read(value: Value, limits: &Limits) -> Result<IngestEvent, RejectedEvent> {
        let id = value
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let reject = |message: String| RejectedEvent {
            id: id.clone(),
            code: "invalid_input".into(),
            message,
        };
        let Value::Object(mut fields) = value else {
            return Err(reject("each event must be an object".into()));
        };
        if id.is_empty() || id.len() > limits.max_event_id_len {
            return Err(reject(format!(
                "id must be a non-empty string of at most {} bytes, made once per event",
                limits.max_event_id_len
            )));
        }
        check_text("id", &id).map_err(|refused| reject(refused.to_string()))?;
        let kind = match fields.remove("kind") {
            Some(Value::String(kind)) if valid_kind(&kind) => kind,
            _ => {
                return Err(reject(format!(
                    "kind must be 1 to {MAX_KIND_LEN} letters, digits, '_', '-', '.' or ':'"
                )));
            }
        };
        if CommandKind::parse(&kind).is_some() || kind == "command_status" {
            return Err(reject(format!(
                "kind {kind:?} is reserved for teacher commands; game servers send events"
            )));
        }
        let data = match fields.remove("data").map(normalize_empty_array) {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(data @ Value::Object(_)) => data,
            Some(_) => return Err(reject("data must be an object".into())),
        };
        check_payload("data", &data, limits.max_payload_depth)
            .map_err(|refused| reject(refused.to_string()))?;
        let player = match fields.remove("player") {
            None | Some(Value::Null) => None,
            Some(value) => {
                Some(integer(&value).map_err(|cause| reject(format!("player: {cause}")))?)
            }
        };
        let session_id = match fields.remove("session_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(session)) => {
                check_text("session_id", &session)
                    .map_err(|refused| reject(refused.to_string()))?;
                Some(session)
            }
            Some(_) => return Err(reject("session_id must be a string".into())),
        };
        let client_time = match fields.remove("client_time") {
            None | Some(Value::Null) => None,
            Some(value) => match value.as_f64() {
                Some(seconds) if seconds.is_finite() => Some(seconds),
                _ => {
                    return Err(reject(
                        "client_time must be seconds since the Unix epoch".into(),
                    ));
                }
            },
        };
        Ok(IngestEvent {
            id,
            session_id,
            player,
            kind,
            data,
            client_time,
        })
    }
}

fn valid_kind(kind: &str) -> bool {
    !kind.is_empty()
        && kind.len() <= MAX_KIND_LEN
        && kind
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.' | b':'))
}

/// A command waiting for (or delivered to) a game server, as the long-poll returns it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct PolledCommand {
    /// The command id, to acknowledge.
    pub id: String,
    /// Its place in this session's command stream (pass the largest as `after`).
    pub cursor: u64,
    /// `announce`, `quiz`, `reward`, `freeze`, `unfreeze` or `teleport`.
    pub kind: String,
    /// Its data.
    #[schema(value_type = Object)]
    pub data: Value,
    /// The student it is for; absent for everyone in the game server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The Roblox account of `target` in this game server, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roblox_user_id: Option<i64>,
    /// When the teacher sent it, milliseconds since the Unix epoch.
    pub issued_at: u64,
    /// 1 on first delivery, more on redelivery.
    pub attempt: u32,
}

/// The answer to a command long-poll.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CommandsAnswer {
    /// Commands to carry out, oldest first.
    pub commands: Vec<PolledCommand>,
    /// Pass as `after` on the next poll.
    pub cursor: u64,
}

/// `POST /api/v1/roblox/sessions/{id}/commands/ack`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AckRequest {
    /// Command ids carried out.
    #[serde(default, deserialize_with = "list")]
    pub ids: Vec<String>,
}

/// The answer to [`AckRequest`].
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AckAnswer {
    /// Ids acknowledged now or before.
    pub acked: Vec<String>,
    /// Ids this session never received (or that expired).
    pub unknown: Vec<String>,
}

/// Checks an id a game server chose (`job_id`, `session_id`): non-empty, at most
/// [`MAX_ID_LEN`] bytes, letters, digits, '-', '_' and '.' (it becomes part of a room id).
pub fn check_id(field: &str, id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(format!(
            "{field} must be 1 to {MAX_ID_LEN} characters (in Studio, where game.JobId is empty, send any unique id)"
        ));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ID_PUNCTUATION.contains(c))
    {
        return Err(format!(
            "{field} may hold only letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(value: Value) -> Result<IngestEvent, RejectedEvent> {
        IngestEvent::read(value, &Limits::default())
    }

    #[test]
    fn roblox_shaped_events_are_read() {
        let event = read(json!({
            "id": "e1", "player": 1234.0, "kind": "checkpoint", "data": [], "client_time": 1.7e9
        }))
        .expect("valid");
        assert_eq!(event.player, Some(1234));
        assert_eq!(event.data, json!({}));
        assert_eq!(event.session_id, None);
        let bare = read(json!({"id": "e2", "kind": "progress"})).expect("missing fields are fine");
        assert_eq!(bare.data, json!({}));
        assert_eq!(bare.player, None);
    }

    #[test]
    fn bad_events_are_rejected_with_their_id_and_reason() {
        let check = |value: Value, expected_id: &str, words: &str| {
            let rejected = read(value.clone()).expect_err("must be rejected");
            assert_eq!(rejected.id, expected_id, "{value}");
            assert_eq!(rejected.code, "invalid_input");
            assert!(
                rejected.message.contains(words),
                "{value}: {}",
                rejected.message
            );
        };
        check(json!({"kind": "x"}), "", "id must be");
        check(
            json!({"id": "a".repeat(200), "kind": "x"}),
            &"a".repeat(200),
            "id must be",
        );
        check(json!({"id": "e", "kind": ""}), "e", "kind must be");
        check(json!({"id": "e", "kind": "has space"}), "e", "kind must be");
        check(json!({"id": "e", "kind": "reward"}), "e", "reserved");
        check(
            json!({"id": "e", "kind": "x", "data": 5}),
            "e",
            "data must be an object",
        );
        check(
            json!({"id": "e", "kind": "x", "player": "abc"}),
            "e",
            "player",
        );
        check(
            json!({"id": "e", "kind": "x", "player": 1.5}),
            "e",
            "player",
        );
        check(
            json!({"id": "e", "kind": "x", "session_id": 3}),
            "e",
            "session_id",
        );
        let mut deep = json!(1);
        for _ in 0..20 {
            deep = json!({ "d": deep });
        }
        check(json!({"id": "e", "kind": "x", "data": deep}), "e", "deeper");
        check(
            json!({"id": "e", "kind": "x", "data": {"answer": "4\u{0}"}}),
            "e",
            "data.answer holds a NUL",
        );
        check(
            json!({"id": "e", "kind": "x", "data": {"list": [{"a\u{0}": 1}]}}),
            "e",
            "data.list[0].a\\0 holds a NUL",
        );
        check(
            json!({"id": "e\u{0}", "kind": "x"}),
            "e\u{0}",
            "id holds a NUL",
        );
        check(
            json!({"id": "e", "kind": "x", "session_id": "s\u{0}"}),
            "e",
            "session_id holds a NUL",
        );
        check(json!({"id": "e", "kind": "x\u{0}"}), "e", "kind must be");
        check(json!("e"), "", "object");
    }

    #[test]
    fn session_requests_accept_doubles_and_missing_optionals() {
        let open: OpenSession =
            serde_json::from_value(json!({"universe_id": 1.0e6, "place_id": 7, "job_id": "j-1"}))
                .expect("valid");
        assert_eq!((open.universe_id, open.place_id), (1_000_000, 7));
        assert_eq!(open.class_code, None);
        let players: PlayersBatch =
            serde_json::from_value(json!({"joins": [{"user_id": 5.0}], "leaves": []})).expect("ok");
        assert_eq!(players.joins[0].user_id, 5);
        assert!(players.leaves.is_empty());
    }

    #[test]
    fn ids_that_become_room_ids_are_checked() {
        assert!(check_id("job_id", "6f1c2a9e-2d4b-4c1a-9f0e-123456789abc").is_ok());
        assert!(check_id("job_id", "").is_err());
        assert!(check_id("job_id", "a:b").is_err());
        assert!(check_id("job_id", &"a".repeat(101)).is_err());
    }
}
