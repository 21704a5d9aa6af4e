//! Properties of the decoders of client input — the native codec in both encodings
//! (`Codec::decode`) and Pusher frames (`pusher::decode_frame`) — on arbitrary bytes, on
//! mutated frames and on arbitrary-but-structured messages: never a panic; every refusal a
//! non-empty sentence, naming the field when one is at fault (a NUL anywhere, an unpaired
//! surrogate, invalid UTF-8); anything accepted follows the text rule and survives
//! `decode(encode(decoded))` unchanged.
//!
//! Each property runs `strategies::DEFAULT_CASES` cases under `cargo test`; the long run,
//! `cargo bench -p benches --bench decoders`, runs the same functions (listed in `PROPERTIES`)
//! with many more.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use protocol::pusher::{self, PusherFrame};
use protocol::{ClientMessage, Codec, ErrorCode, Limits, Ref, Since, check_payload, check_text};
use serde_json::{Map, Value};

use crate::strategies::{
    Spot, check, json_object, json_value, mutate, mutations, plant, spot, text,
};

/// Stands for a character the decoders must refuse, before a test turns it into one that a
/// Rust string cannot hold (an unpaired surrogate, invalid UTF-8). A private-use character, so
/// generated text never holds it.
const MARKER: char = '\u{E000}';

crate::strategies::properties!(
    native_arbitrary_bytes,
    native_mutated_frames,
    native_structured_messages,
    pusher_arbitrary_text,
    pusher_structured_frames,
);

fn codec() -> impl Strategy<Value = Codec> {
    prop_oneof![Just(Codec::Json), Just(Codec::MsgPack)]
}

fn reference() -> impl Strategy<Value = Option<Ref>> {
    prop_oneof![
        Just(None),
        (0u64..(1 << 53)).prop_map(|number| Some(Ref::Int(number))),
        text().prop_map(|text| Some(Ref::Text(text))),
    ]
}

fn room() -> impl Strategy<Value = String> {
    "(class|game|user|channel):[a-z0-9]{1,8}:[a-zA-Z0-9_.-]{1,24}"
}

/// A payload as the codec hands it back: `[]` at the top reads as `{}`.
fn payload() -> impl Strategy<Value = Value> {
    json_value().prop_map(protocol::normalize_empty_array)
}

/// Any client message that passes every check of the default [`Limits`].
pub fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (reference(), text())
            .prop_map(|(reference, token)| ClientMessage::Auth { reference, token }),
        (
            reference(),
            room(),
            proptest::option::of(
                (any::<u64>(), any::<u64>()).prop_map(|(epoch, seq)| Since { epoch, seq })
            ),
            proptest::option::of(json_object()),
        )
            .prop_map(|(reference, room, since, presence)| ClientMessage::Join {
                reference,
                room,
                since,
                presence,
            }),
        (reference(), room())
            .prop_map(|(reference, room)| ClientMessage::Leave { reference, room }),
        (
            reference(),
            room(),
            "[a-z_-]{1,16}",
            payload(),
            proptest::option::of("[a-zA-Z0-9_-]{1,64}"),
        )
            .prop_map(|(reference, room, kind, data, id)| {
                // An ephemeral event carries no id (the decoder refuses both together).
                let ephemeral =
                    id.is_none() && data.as_object().is_some_and(|map| map.len() % 2 == 1);
                ClientMessage::Publish {
                    reference,
                    room,
                    kind,
                    data,
                    id,
                    ephemeral,
                }
            }),
        (reference(), room(), payload()).prop_map(|(reference, room, state)| {
            ClientMessage::Presence {
                reference,
                room,
                state,
            }
        }),
        reference().prop_map(|reference| ClientMessage::Ping { reference }),
    ]
}

/// What to spoil in a structured message.
#[derive(Debug, Clone)]
enum Fault {
    /// Nothing: the message must decode.
    None,
    /// A NUL in the plain string picked by the number (among those the message has), or in
    /// the payload at the spot when the number picks past them.
    Nul(usize, Spot),
    /// The same places, with an unpaired surrogate (JSON) or invalid UTF-8 (MessagePack).
    BadText(usize, Spot),
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        2 => Just(Fault::None),
        2 => (any::<usize>(), spot()).prop_map(|(pick, spot)| Fault::Nul(pick, spot)),
        1 => (any::<usize>(), spot()).prop_map(|(pick, spot)| Fault::BadText(pick, spot)),
    ]
}

/// Puts `bad` into the message at `pick`/`spot` and returns the path that names it, or `None`
/// when the message has no place for it (a `ping` without `ref`). Keys only take a NUL: a bad
/// key gets no name from serde.
fn spoil(message: &mut ClientMessage, pick: usize, spot: &Spot, bad: char) -> Option<String> {
    let bad_text = |text: &mut String| {
        let at = text.len() / 2;
        let at = (0..=at)
            .rev()
            .find(|at| text.is_char_boundary(*at))
            .unwrap_or(0);
        text.insert(at, bad);
    };
    let texts: Vec<&'static str> = message.texts().map(|(field, _)| field).collect();
    let payloads = message.payloads().count();
    if texts.is_empty() && payloads == 0 {
        return None;
    }
    let pick = pick % (texts.len() + payloads);
    if let Some(field) = texts.get(pick).copied() {
        let target = match (field, &mut *message) {
            (
                "ref",
                ClientMessage::Auth {
                    reference: Some(Ref::Text(text)),
                    ..
                }
                | ClientMessage::Join {
                    reference: Some(Ref::Text(text)),
                    ..
                }
                | ClientMessage::Leave {
                    reference: Some(Ref::Text(text)),
                    ..
                }
                | ClientMessage::Publish {
                    reference: Some(Ref::Text(text)),
                    ..
                }
                | ClientMessage::Presence {
                    reference: Some(Ref::Text(text)),
                    ..
                }
                | ClientMessage::Ping {
                    reference: Some(Ref::Text(text)),
                },
            ) => text,
            ("token", ClientMessage::Auth { token, .. }) => token,
            ("kind", ClientMessage::Publish { kind, .. }) => kind,
            ("id", ClientMessage::Publish { id: Some(id), .. }) => id,
            (
                "room",
                ClientMessage::Join { room, .. }
                | ClientMessage::Leave { room, .. }
                | ClientMessage::Publish { room, .. }
                | ClientMessage::Presence { room, .. },
            ) => room,
            (field, other) => unreachable!("{field} of {other:?}"),
        };
        bad_text(target);
        return Some(field.to_owned());
    }
    let keys = bad == '\0';
    match message {
        ClientMessage::Join {
            presence: Some(presence),
            ..
        } => Some(plant(presence, "presence", spot, bad, keys)),
        ClientMessage::Publish { data, .. } => Some(plant(data, "data", spot, bad, keys)),
        ClientMessage::Presence { state, .. } => Some(plant(state, "state", spot, bad, keys)),
        _ => unreachable!("payloads() listed one"),
    }
}

/// Turns each [`MARKER`] of an encoded frame into what a Rust string cannot hold: a `\ud800`
/// escape in JSON, the three bytes of U+D800 (not UTF-8) in MessagePack, which keeps every
/// length prefix right.
fn unmark(codec: Codec, frame: &[u8]) -> Vec<u8> {
    let mut marker = [0u8; 3];
    MARKER.encode_utf8(&mut marker);
    let replacement: &[u8] = match codec {
        Codec::Json => br"\ud800",
        Codec::MsgPack => &[0xED, 0xA0, 0x80],
    };
    let mut out = Vec::with_capacity(frame.len() + 8);
    let mut rest = frame;
    while let Some(at) = rest.windows(3).position(|window| window == marker) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(replacement);
        rest = &rest[at + 3..];
    }
    out.extend_from_slice(rest);
    out
}

/// What every decode must satisfy: a refusal is a sentence; an acceptance follows the text rule
/// and is stable under re-encoding.
fn decode_is_sound(codec: Codec, frame: &[u8]) -> Result<(), TestCaseError> {
    let limits = Limits::default();
    match codec.decode(frame, &limits) {
        Err(error) => {
            prop_assert!(
                !error.message.trim().is_empty(),
                "empty refusal for {frame:?}"
            );
        }
        Ok(decoded) => {
            for (field, text) in decoded.message.texts() {
                prop_assert!(check_text(field, text).is_ok(), "accepted a NUL in {field}");
            }
            for (field, payload) in decoded.message.payloads() {
                prop_assert!(
                    check_payload(field, payload, limits.max_payload_depth).is_ok(),
                    "accepted {field} that breaks the rules"
                );
            }
            let again = codec
                .encode(&decoded.message)
                .expect("an accepted message encodes");
            let redecoded = codec.decode(&again, &limits);
            // serde_json (without its `float_roundtrip` feature) may read a float of arbitrary
            // text one ulp off, and the re-encoded float differently again: such payloads are
            // compared by acceptance only. Generated messages hold floats it reads exactly, and
            // `native_structured_messages` compares them whole.
            let floats = decoded
                .message
                .payloads()
                .any(|(_, payload)| has_float(payload));
            if codec == Codec::Json && floats {
                prop_assert!(redecoded.is_ok(), "{:?}", redecoded);
            } else {
                prop_assert_eq!(
                    redecoded.map(|decoded| decoded.message),
                    Ok(decoded.message)
                );
            }
        }
    }
    Ok(())
}

/// Whether `value` holds a number that is not an integer.
fn has_float(value: &Value) -> bool {
    match value {
        Value::Number(number) => number.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(fields) => fields.values().any(has_float),
        Value::Null | Value::Bool(_) | Value::String(_) => false,
    }
}

/// `Codec::decode` on arbitrary bytes.
pub fn native_arbitrary_bytes(cases: u32) {
    check(
        "native_arbitrary_bytes",
        cases,
        (codec(), vec(any::<u8>(), 0..256)),
        |(codec, bytes)| decode_is_sound(codec, &bytes),
    );
}

/// `Codec::decode` on valid frames with a few bytes changed: the inputs that reach deep into
/// the decoder.
pub fn native_mutated_frames(cases: u32) {
    check(
        "native_mutated_frames",
        cases,
        (codec(), client_message(), mutations()),
        |(codec, message, mutations)| {
            let mut frame = codec.encode(&message).expect("encode");
            mutate(&mut frame, &mutations);
            decode_is_sound(codec, &frame)
        },
    );
}

/// `Codec::decode` on structured messages: each valid one decodes to itself and re-encodes to
/// the same bytes; each one spoiled in one place is refused naming that place.
pub fn native_structured_messages(cases: u32) {
    check(
        "native_structured_messages",
        cases,
        (codec(), client_message(), fault()),
        |(codec, mut message, fault)| {
            let limits = Limits::default();
            let field = match &fault {
                Fault::None => None,
                Fault::Nul(pick, spot) => spoil(&mut message, *pick, spot, '\0'),
                Fault::BadText(pick, spot) => spoil(&mut message, *pick, spot, MARKER),
            };
            let frame = codec.encode(&message).expect("encode");
            let Some(field) = field else {
                let decoded = codec.decode(&frame, &limits).map(|decoded| decoded.message);
                prop_assert_eq!(&decoded, &Ok(message));
                if let Ok(decoded) = decoded {
                    let again = codec.encode(&decoded).expect("encode again");
                    prop_assert_eq!(again, frame, "encode(decode(x)) is x");
                }
                return Ok(());
            };
            let frame = unmark(codec, &frame);
            let error = codec
                .decode(&frame, &limits)
                .expect_err("a spoiled message is refused");
            prop_assert!(
                error.message.contains(&field),
                "{:?} refusal does not name {}: {}",
                fault,
                field,
                error.message
            );
            match fault {
                Fault::Nul(..) => prop_assert_eq!(error.code, ErrorCode::InvalidMessage),
                _ => prop_assert!(
                    matches!(
                        error.code,
                        ErrorCode::InvalidMessage | ErrorCode::MalformedFrame
                    ),
                    "{:?}",
                    error.code
                ),
            }
            Ok(())
        },
    );
}

/// What every Pusher decode must satisfy: a refusal is a sentence; an acceptance follows the
/// text rule, also inside JSON carried in strings, and survives re-encoding.
fn pusher_decode_is_sound(text: &str) -> Result<(), TestCaseError> {
    let limits = Limits::default();
    match pusher::decode_frame(text, limits.max_payload_depth) {
        Err(refusal) => prop_assert!(!refusal.trim().is_empty(), "empty refusal for {text:?}"),
        Ok(frame) => {
            let again = serde_json::to_string(&frame).expect("encode");
            let redecoded = pusher::decode_frame(&again, limits.max_payload_depth);
            // As in `decode_is_sound`: floats read from arbitrary text may move by one ulp.
            if has_float(&frame.data) {
                prop_assert!(redecoded.is_ok(), "{:?}", redecoded);
            } else {
                prop_assert_eq!(redecoded, Ok(frame));
            }
        }
    }
    Ok(())
}

/// `pusher::decode_frame` on arbitrary text and on mutated valid frames.
pub fn pusher_arbitrary_text(cases: u32) {
    check(
        "pusher_arbitrary_text",
        cases,
        prop_oneof![
            any::<String>().boxed(),
            (pusher_frame(), mutations())
                .prop_map(|(frame, mutations)| {
                    let mut bytes = serde_json::to_vec(&frame).expect("encode");
                    mutate(&mut bytes, &mutations);
                    String::from_utf8_lossy(&bytes).into_owned()
                })
                .boxed(),
        ],
        |text| pusher_decode_is_sound(&text),
    );
}

fn pusher_frame() -> impl Strategy<Value = PusherFrame> {
    (
        "(pusher:[a-z_]{1,12}|client-[a-z-]{1,12}|[a-z]{1,12})",
        proptest::option::of("(private-|presence-)?[a-z0-9-]{1,20}"),
        prop_oneof![
            json_value(),
            json_object(),
            json_value().prop_map(|inner| Value::String(inner.to_string())),
            json_value().prop_map(|inner| {
                let mut data = Map::new();
                data.insert("channel_data".into(), Value::String(inner.to_string()));
                Value::Object(data)
            }),
        ],
        proptest::option::of(text()),
    )
        .prop_map(|(event, channel, data, user_id)| PusherFrame {
            event,
            channel,
            data,
            user_id,
        })
}

/// `pusher::decode_frame` on structured frames: each valid one decodes to itself; each one with
/// a NUL in one place — also inside the JSON that `data` or `data.channel_data` carries as a
/// string — is refused naming that place.
pub fn pusher_structured_frames(cases: u32) {
    check(
        "pusher_structured_frames",
        cases,
        (pusher_frame(), proptest::option::of((0usize..4, spot()))),
        |(mut frame, fault)| {
            let limits = Limits::default();
            let field = fault.map(|(pick, spot)| match pick {
                0 => {
                    frame.event.push('\0');
                    "event".to_owned()
                }
                1 if frame.channel.is_some() => {
                    frame
                        .channel
                        .iter_mut()
                        .for_each(|channel| channel.push('\0'));
                    "channel".to_owned()
                }
                2 if frame.user_id.is_some() => {
                    frame.user_id.iter_mut().for_each(|user| user.push('\0'));
                    "user_id".to_owned()
                }
                _ => plant_in_pusher_data(&mut frame.data, &spot),
            });
            let text = serde_json::to_string(&frame).expect("encode");
            let decoded = pusher::decode_frame(&text, limits.max_payload_depth);
            match field {
                None => prop_assert_eq!(decoded, Ok(frame)),
                Some(field) => {
                    let refusal = decoded.expect_err("a NUL is refused");
                    prop_assert!(
                        refusal.contains(&field),
                        "does not name {}: {}",
                        field,
                        refusal
                    );
                }
            }
            Ok(())
        },
    );
}

/// Puts a NUL into a Pusher frame's `data` — into the JSON it carries as a string when it
/// carries some — and returns the path the decoder names.
fn plant_in_pusher_data(data: &mut Value, spot: &Spot) -> String {
    if let Value::Object(fields) = data
        && let Some(Value::String(inner)) = fields.get_mut("channel_data")
        && let Ok(mut parsed) = serde_json::from_str::<Value>(inner)
    {
        let field = plant(&mut parsed, "data.channel_data", spot, '\0', true);
        *inner = parsed.to_string();
        return field;
    }
    if let Value::String(inner) = data
        && let Ok(mut parsed) = serde_json::from_str::<Value>(inner)
    {
        let field = plant(&mut parsed, "data", spot, '\0', true);
        *inner = parsed.to_string();
        return field;
    }
    plant(data, "data", spot, '\0', true)
}
