//! Properties of the decoders of Roblox bodies, from arbitrary JSON values (as `HttpService`
//! writes them, and as anything else might): `IngestEvent::read` for each event of a batch, and
//! the other wire bodies (`OpenSession`, `PlayersBatch`, `LinkRequest`, `AckRequest`,
//! `EventBatch`) as the server's JSON extractor reads them — `protocol::check_payload` on the
//! whole body, then serde. Never a panic; every refusal a non-empty sentence, naming the field
//! when one is at fault; an event read back from what it was written as is itself.
//!
//! Each property runs `strategies::DEFAULT_CASES` cases under `cargo test`; the long run,
//! `cargo bench -p benches --bench decoders`, runs the same functions (listed in `PROPERTIES`)
//! with many more.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use protocol::{CommandKind, Limits, check_payload, check_text};
use roblox::wire::{
    AckRequest, CommandsAnswer, EventBatch, EventsAnswer, IngestEvent, LinkRequest, OpenSession,
    PlayersBatch, PolledCommand, RejectedEvent,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::strategies::{
    Spot, check, json_object, json_value, mutate, mutations, plant, spot, text,
};

crate::strategies::properties!(
    ingest_arbitrary_values,
    ingest_mutated_batches,
    ingest_structured_events,
    bodies_arbitrary_values,
    bodies_holding_a_nul,
    answers_round_trip,
);

/// The fields an event may have, and some it may not.
fn event_field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("id".to_owned()),
        Just("kind".to_owned()),
        Just("data".to_owned()),
        Just("player".to_owned()),
        Just("session_id".to_owned()),
        Just("client_time".to_owned()),
        "[a-z_]{1,8}",
    ]
}

/// A value that is often the right shape for an event field and often not.
fn event_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        json_value(),
        "[a-z_]{1,10}".prop_map(Value::String),
        "[a-z]{0,4}\\x00?[a-z]{0,4}".prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|number| json!(number)),
        json_object(),
    ]
}

/// Anything, and event-shaped objects with fields of any shape.
fn any_event() -> impl Strategy<Value = Value> {
    prop_oneof![
        json_value(),
        btree_map(event_field(), event_value(), 0..7)
            .prop_map(|fields| Value::Object(fields.into_iter().collect())),
    ]
}

/// What every read must satisfy: a refusal names the event and says why; an accepted event
/// follows the text rule and the limits.
fn read_is_sound(value: Value) -> Result<(), TestCaseError> {
    let limits = Limits::default();
    let id = value
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match IngestEvent::read(value, &limits) {
        Err(rejected) => {
            prop_assert_eq!(rejected.id, id);
            prop_assert_eq!(rejected.code, "invalid_input");
            prop_assert!(!rejected.message.trim().is_empty());
        }
        Ok(event) => {
            prop_assert!(check_text("id", &event.id).is_ok());
            prop_assert!(!event.id.is_empty() && event.id.len() <= limits.max_event_id_len);
            prop_assert!(check_text("kind", &event.kind).is_ok());
            if let Some(session) = &event.session_id {
                prop_assert!(check_text("session_id", session).is_ok());
            }
            prop_assert!(event.data.is_object());
            prop_assert!(check_payload("data", &event.data, limits.max_payload_depth).is_ok());
            prop_assert!(event.client_time.is_none_or(f64::is_finite));
        }
    }
    Ok(())
}

/// `IngestEvent::read` on arbitrary values and event-shaped objects.
pub fn ingest_arbitrary_values(cases: u32) {
    check("ingest_arbitrary_values", cases, any_event(), read_is_sound);
}

/// A batch as the SDK writes it, with a few bytes changed, read as the server reads it: the
/// body as JSON, then each event.
pub fn ingest_mutated_batches(cases: u32) {
    check(
        "ingest_mutated_batches",
        cases,
        (vec(valid_event(), 0..4), mutations()),
        |(events, mutations)| {
            let events: Vec<Value> = events.iter().map(GameEvent::to_json).collect();
            let mut body = serde_json::to_vec(&json!({"session_id": "s-1", "events": events}))
                .expect("encode");
            mutate(&mut body, &mutations);
            let Ok(value) = serde_json::from_slice::<Value>(&body) else {
                return Ok(());
            };
            if let Ok(batch) = serde_json::from_value::<EventBatch>(value) {
                for event in batch.events {
                    read_is_sound(event)?;
                }
            }
            Ok(())
        },
    );
}

/// An event as a game server means it.
#[derive(Debug, Clone)]
struct GameEvent {
    id: String,
    kind: String,
    data: Value,
    /// The player, and whether it is written as a double (as Luau numbers are).
    player: Option<(i64, bool)>,
    session_id: Option<String>,
    client_time: Option<f64>,
}

impl GameEvent {
    /// The JSON the SDK writes for it.
    fn to_json(&self) -> Value {
        let mut fields = Map::new();
        fields.insert("id".into(), json!(self.id));
        fields.insert("kind".into(), json!(self.kind));
        fields.insert("data".into(), self.data.clone());
        if let Some((player, as_double)) = self.player {
            let player = if as_double {
                json!(player as f64)
            } else {
                json!(player)
            };
            fields.insert("player".into(), player);
        }
        if let Some(session) = &self.session_id {
            fields.insert("session_id".into(), json!(session));
        }
        if let Some(time) = self.client_time {
            fields.insert("client_time".into(), json!(time));
        }
        Value::Object(fields)
    }
}

fn valid_event() -> impl Strategy<Value = GameEvent> {
    const SAFE: i64 = 1 << 53;
    (
        "[a-zA-Z0-9_-]{1,64}",
        "[a-z][a-z0-9_.:-]{0,20}".prop_filter("reserved for commands", |kind| {
            CommandKind::parse(kind).is_none() && kind != "command_status"
        }),
        json_object(),
        proptest::option::of((-SAFE..SAFE, any::<bool>())),
        proptest::option::of("[a-zA-Z0-9_.-]{1,36}"),
        proptest::option::of(any::<i32>().prop_map(|eighths| f64::from(eighths) / 8.0)),
    )
        .prop_map(
            |(id, kind, data, player, session_id, client_time)| GameEvent {
                id,
                kind,
                data,
                player,
                session_id,
                client_time,
            },
        )
}

/// Where to put a NUL in an event.
#[derive(Debug, Clone)]
enum Fault {
    None,
    Id,
    SessionId,
    Data(Spot),
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        3 => Just(Fault::None),
        1 => Just(Fault::Id),
        1 => Just(Fault::SessionId),
        3 => spot().prop_map(Fault::Data),
    ]
}

/// `IngestEvent::read` on structured events: each valid one reads back as itself; each one with
/// a NUL in one place is rejected by its id, naming that place.
pub fn ingest_structured_events(cases: u32) {
    check(
        "ingest_structured_events",
        cases,
        (valid_event(), fault(), text()),
        |(mut event, fault, session)| {
            let field = match &fault {
                Fault::None => None,
                Fault::Id => {
                    event.id.insert(event.id.len() / 2, '\0');
                    Some("id".to_owned())
                }
                Fault::SessionId => {
                    event.session_id = Some(format!("{session}\0"));
                    Some("session_id".to_owned())
                }
                Fault::Data(spot) => Some(plant(&mut event.data, "data", spot, '\0', true)),
            };
            let read = IngestEvent::read(event.to_json(), &Limits::default());
            match field {
                None => {
                    let read = read.map_err(|rejected| rejected.message);
                    prop_assert_eq!(
                        read,
                        Ok(IngestEvent {
                            id: event.id,
                            session_id: event.session_id,
                            player: event.player.map(|(player, _)| player),
                            kind: event.kind,
                            data: event.data,
                            client_time: event.client_time,
                        })
                    );
                }
                Some(field) => {
                    let rejected: RejectedEvent = read.expect_err("a NUL is rejected");
                    prop_assert_eq!(&rejected.id, &event.id);
                    prop_assert!(
                        rejected.message.contains(&field),
                        "does not name {}: {}",
                        field,
                        rejected.message
                    );
                }
            }
            Ok(())
        },
    );
}

/// Reads a body as the server's JSON extractor does: the text rule on the whole body, then the
/// type; the error is the sentence the answer carries.
fn read_body<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    check_payload("", &value, usize::MAX).map_err(|refused| refused.to_string())?;
    serde_json::from_value(value).map_err(|cause| cause.to_string())
}

/// Field names of the Roblox bodies, so that arbitrary objects often hit them.
fn body_field() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "universe_id",
            "place_id",
            "job_id",
            "class_code",
            "class_id",
            "joins",
            "leaves",
            "user_id",
            "name",
            "display_name",
            "student_id",
            "student_code",
            "session_id",
            "ids",
            "events",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,8}",
    ]
}

fn any_body() -> impl Strategy<Value = Value> {
    let field_value = prop_oneof![
        json_value(),
        vec(
            btree_map(body_field(), json_value(), 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            0..3
        )
        .prop_map(Value::Array),
    ];
    prop_oneof![
        json_value(),
        btree_map(body_field(), field_value, 0..6)
            .prop_map(|fields| Value::Object(fields.into_iter().collect())),
    ]
}

/// Every Roblox request body from arbitrary values: never a panic, and a refusal is a sentence.
pub fn bodies_arbitrary_values(cases: u32) {
    fn sound<T: DeserializeOwned>(value: &Value) -> Result<(), TestCaseError> {
        if let Err(refusal) = read_body::<T>(value.clone()) {
            prop_assert!(!refusal.trim().is_empty());
        }
        Ok(())
    }
    check("bodies_arbitrary_values", cases, any_body(), |value| {
        sound::<OpenSession>(&value)?;
        sound::<PlayersBatch>(&value)?;
        sound::<LinkRequest>(&value)?;
        sound::<AckRequest>(&value)?;
        sound::<EventBatch>(&value)
    });
}

/// Valid players and link bodies with a NUL planted anywhere are refused naming its path.
pub fn bodies_holding_a_nul(cases: u32) {
    let players = vec(
        (
            any::<i32>(),
            proptest::option::of(text()),
            proptest::option::of(text()),
        ),
        1..4,
    )
    .prop_map(|joins| {
        let joins: Vec<Value> = joins
            .into_iter()
            .map(|(user_id, name, display_name)| {
                json!({"user_id": user_id, "name": name, "display_name": display_name})
            })
            .collect();
        json!({"joins": joins, "leaves": [{"user_id": 7}]})
    });
    let link = (text(), text(), any::<i32>(), proptest::option::of(text())).prop_map(
        |(class_code, student_code, user_id, name)| {
            json!({"class_code": class_code, "student_code": student_code, "user_id": user_id, "name": name})
        },
    );
    check(
        "bodies_holding_a_nul",
        cases,
        (prop_oneof![players, link], spot()),
        |(mut body, spot)| {
            let field = plant(&mut body, "", &spot, '\0', true);
            let refusal = read_body::<PlayersBatch>(body.clone())
                .map(drop)
                .and(read_body::<LinkRequest>(body).map(drop))
                .expect_err("a NUL is refused");
            prop_assert!(
                refusal.starts_with(&field),
                "does not name {}: {}",
                field,
                refusal
            );
            Ok(())
        },
    );
}

/// The answers the SDK decodes survive encoding and decoding unchanged.
pub fn answers_round_trip(cases: u32) {
    let rejected = ("[a-z0-9-]{0,12}", "[a-z_]{1,12}", text())
        .prop_map(|(id, code, message)| RejectedEvent { id, code, message });
    let events = (vec("[a-z0-9-]{1,12}", 0..4), vec(rejected, 0..3))
        .prop_map(|(accepted, rejected)| EventsAnswer { accepted, rejected });
    let command = (
        "[a-z0-9-]{1,12}",
        any::<u64>(),
        "[a-z]{1,10}",
        json_object(),
        proptest::option::of(text()),
        proptest::option::of(any::<i64>()),
        any::<u64>(),
        any::<u32>(),
    )
        .prop_map(
            |(id, cursor, kind, data, target, roblox_user_id, issued_at, attempt)| PolledCommand {
                id,
                cursor,
                kind,
                data,
                target,
                roblox_user_id,
                issued_at,
                attempt,
            },
        );
    let commands = (vec(command, 0..3), any::<u64>())
        .prop_map(|(commands, cursor)| CommandsAnswer { commands, cursor });
    check(
        "answers_round_trip",
        cases,
        (events, commands),
        |(events, commands)| {
            let text = serde_json::to_string(&events).expect("encode");
            let back: EventsAnswer = serde_json::from_str(&text).expect("decode");
            prop_assert_eq!(serde_json::to_string(&back).expect("encode again"), text);
            let text = serde_json::to_string(&commands).expect("encode");
            let back: CommandsAnswer = serde_json::from_str(&text).expect("decode");
            prop_assert_eq!(&back.commands, &commands.commands);
            prop_assert_eq!(serde_json::to_string(&back).expect("encode again"), text);
            Ok(())
        },
    );
}
