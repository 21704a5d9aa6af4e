//! The two codecs of protocol v1: JSON in WebSocket text frames (`classhub.v1.json`) and
//! MessagePack with named fields in binary frames (`classhub.v1.msgpack`). Decoding checks the
//! frame-size, room-id and payload-depth limits and the text rule (no U+0000 in any string; see
//! `payload`), and classifies every failure into an [`ErrorCode`] that carries the client's
//! `ref` whenever it could be read and names the field at fault whenever there is one.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ErrorCode;
use crate::limits::Limits;
use crate::message::{ClientMessage, Ref, ServerMessage};
use crate::payload::{PayloadError, check_payload, check_text};
use crate::room::RoomId;

/// A wire encoding, chosen per connection by WebSocket subprotocol (or, over QUIC, by ALPN:
/// the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// JSON text frames, subprotocol `classhub.v1.json` (the default when none is asked for).
    Json,
    /// MessagePack binary frames with named fields, subprotocol `classhub.v1.msgpack`.
    MsgPack,
}

/// A client message that passed every check, with its room id parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The message.
    pub message: ClientMessage,
    /// The parsed room id, for messages that address a room.
    pub room: Option<RoomId>,
}

/// Why a client frame was refused. The connection stays open; the server answers with an
/// `error` frame built from these fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    /// The stable error code.
    pub code: ErrorCode,
    /// What was wrong, specific to this frame.
    pub message: String,
    /// The frame's `ref`, when it could be read.
    pub reference: Option<Ref>,
}

/// Encoding a server message failed (a payload that cannot be represented, which the server's
/// own types make impossible in practice).
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// serde_json refused the value.
    #[error("json encoding failed: {0}")]
    Json(#[from] serde_json::Error),
    /// rmp-serde refused the value.
    #[error("msgpack encoding failed: {0}")]
    MsgPack(#[from] rmp_serde::encode::Error),
}

impl Codec {
    /// Every codec, in order of preference when a client offers several.
    pub const ALL: [Codec; 2] = [Codec::Json, Codec::MsgPack];

    /// The WebSocket subprotocol name of this codec.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Codec::Json => "classhub.v1.json",
            Codec::MsgPack => "classhub.v1.msgpack",
        }
    }

    /// The codec named by a WebSocket subprotocol.
    pub fn from_subprotocol(name: &str) -> Option<Codec> {
        Codec::ALL
            .into_iter()
            .find(|codec| codec.subprotocol() == name.trim())
    }

    /// True when this codec travels in binary frames.
    pub fn is_binary(self) -> bool {
        match self {
            Codec::Json => false,
            Codec::MsgPack => true,
        }
    }

    /// Encodes any protocol value (a [`ServerMessage`], or a [`ClientMessage`] for clients).
    pub fn encode<T: Serialize>(self, value: &T) -> Result<Vec<u8>, EncodeError> {
        match self {
            Codec::Json => Ok(serde_json::to_vec(value)?),
            Codec::MsgPack => Ok(rmp_serde::to_vec_named(value)?),
        }
    }

    /// Decodes and checks a client frame against `limits`.
    pub fn decode(self, frame: &[u8], limits: &Limits) -> Result<Decoded, DecodeError> {
        if frame.len() > limits.max_frame_bytes {
            return Err(DecodeError {
                code: ErrorCode::FrameTooLarge,
                message: format!(
                    "frame is {} bytes; the limit is {} bytes",
                    frame.len(),
                    limits.max_frame_bytes
                ),
                reference: None,
            });
        }
        let message: ClientMessage = match self.decode_value(frame) {
            Ok(message) => message,
            Err(cause) => return Err(self.classify(frame, cause)),
        };
        let reference = message.reference().cloned();
        let checked = message
            .texts()
            .try_for_each(|(field, text)| check_text(field, text))
            .and_then(|()| {
                message.payloads().try_for_each(|(field, payload)| {
                    check_payload(field, payload, limits.max_payload_depth)
                })
            });
        if let Err(refused) = checked {
            let code = match refused {
                PayloadError::Nul { .. } => ErrorCode::InvalidMessage,
                PayloadError::TooDeep { .. } => ErrorCode::PayloadTooDeep,
            };
            return Err(DecodeError {
                code,
                message: refused.to_string(),
                reference,
            });
        }
        if let ClientMessage::Publish {
            id: Some(_),
            ephemeral: true,
            ..
        } = &message
        {
            return Err(DecodeError {
                code: ErrorCode::InvalidMessage,
                message: "an ephemeral publish cannot carry an id: an id makes an event durable; send one or the other".to_owned(),
                reference,
            });
        }
        if let ClientMessage::Publish { id: Some(id), .. } = &message
            && (id.is_empty() || id.len() > limits.max_event_id_len)
        {
            return Err(DecodeError {
                code: ErrorCode::InvalidMessage,
                message: format!(
                    "event id is {} bytes; it must be 1 to {} bytes",
                    id.len(),
                    limits.max_event_id_len
                ),
                reference,
            });
        }
        let room = match message.room() {
            Some(text) => match RoomId::parse(text, limits.max_room_id_len) {
                Ok(room) => Some(room),
                Err(cause) => {
                    return Err(DecodeError {
                        code: ErrorCode::BadRoomId,
                        message: format!("bad room id {text:?}: {cause}"),
                        reference,
                    });
                }
            },
            None => None,
        };
        Ok(Decoded { message, room })
    }

    /// Decodes a server frame (for clients: tests, the load-test harness).
    pub fn decode_server(self, frame: &[u8]) -> Result<ServerMessage, DecodeError> {
        self.decode_value(frame).map_err(|cause| DecodeError {
            code: ErrorCode::MalformedFrame,
            message: cause,
            reference: None,
        })
    }

    fn decode_value<T: for<'de> Deserialize<'de>>(self, frame: &[u8]) -> Result<T, String> {
        match self {
            Codec::Json => serde_json::from_slice(frame).map_err(|cause| cause.to_string()),
            Codec::MsgPack => rmp_serde::from_slice(frame).map_err(|cause| cause.to_string()),
        }
    }

    /// Works out why a frame did not decode: not an object at all, an unknown `type`, or a known
    /// type with a bad field. Only runs on the error path.
    fn classify(self, frame: &[u8], cause: String) -> DecodeError {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(rename = "type", default)]
            kind: Option<String>,
            #[serde(rename = "ref", default)]
            reference: Option<Ref>,
        }
        let too_deep = cause.contains("recursion limit") || cause.contains("depth limit");
        let probe: Probe = match self.decode_value(frame) {
            Ok(probe) => probe,
            Err(_) if too_deep => {
                return DecodeError {
                    code: ErrorCode::PayloadTooDeep,
                    message: format!("payload nests too deeply to parse: {cause}"),
                    reference: None,
                };
            }
            Err(_) => {
                let format = if self.is_binary() {
                    "MessagePack"
                } else {
                    "JSON"
                };
                let at = self
                    .failing_field(frame)
                    .map(|field| format!(" (the fault is at {field})"))
                    .unwrap_or_default();
                return DecodeError {
                    code: ErrorCode::MalformedFrame,
                    message: format!(
                        "frame is not a {format} object with a \"type\" field{at}: {cause}"
                    ),
                    reference: None,
                };
            }
        };
        let reference = probe.reference;
        match probe.kind {
            None => DecodeError {
                code: ErrorCode::MalformedFrame,
                message: "frame has no \"type\" field; use one of auth, join, leave, publish, presence, ping".into(),
                reference,
            },
            Some(kind) if !ClientMessage::TYPES.contains(&kind.as_str()) => DecodeError {
                code: ErrorCode::UnknownType,
                message: format!(
                    "unknown message type {kind:?}; use one of auth, join, leave, publish, presence, ping"
                ),
                reference,
            },
            Some(_) if too_deep => DecodeError {
                code: ErrorCode::PayloadTooDeep,
                message: format!("payload nests too deeply to parse: {cause}"),
                reference,
            },
            Some(kind) => DecodeError {
                code: ErrorCode::InvalidMessage,
                message: match self.failing_field(frame) {
                    Some(field) => format!("invalid {kind} message at {field}: {cause}"),
                    None => format!("invalid {kind} message: {cause}"),
                },
                reference,
            },
        }
    }

    /// The path of the field a client frame failed to decode at (`data.answer` for an unpaired
    /// surrogate there), when it is not the frame as a whole. Text faults (a surrogate, invalid
    /// UTF-8) are found by reading the frame as any value; a wrong type by reading it as a
    /// message. Only runs on the error path.
    fn failing_field(self, frame: &[u8]) -> Option<String> {
        let path = self
            .failing_path::<Value>(frame)
            .or_else(|| self.failing_path::<ClientMessage>(frame))?;
        // `.` is the frame itself; `?` stands for a segment serde could not name (a bad key).
        (path != "." && !path.contains('?')).then_some(path)
    }

    fn failing_path<T: for<'de> Deserialize<'de>>(self, frame: &[u8]) -> Option<String> {
        let failure = match self {
            Codec::Json => serde_path_to_error::deserialize::<_, T>(
                &mut serde_json::Deserializer::from_slice(frame),
            )
            .err()?
            .path()
            .to_string(),
            Codec::MsgPack => serde_path_to_error::deserialize::<_, T>(
                &mut rmp_serde::Deserializer::from_read_ref(frame),
            )
            .err()?
            .path()
            .to_string(),
        };
        Some(failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(codec: Codec, frame: &[u8]) -> ErrorCode {
        codec
            .decode(frame, &Limits::default())
            .expect_err("frame should be refused")
            .code
    }

    #[test]
    fn json_failures_are_classified() {
        let check = |frame: &str, expected: ErrorCode| {
            assert_eq!(code_of(Codec::Json, frame.as_bytes()), expected, "{frame}");
        };
        check("{nope", ErrorCode::MalformedFrame);
        check("[1,2]", ErrorCode::MalformedFrame);
        check(r#"{"room":"class:a:b"}"#, ErrorCode::MalformedFrame);
        check(r#"{"type":"dance"}"#, ErrorCode::UnknownType);
        check(r#"{"type":"join"}"#, ErrorCode::InvalidMessage);
        check(r#"{"type":"join","room":"lobby"}"#, ErrorCode::BadRoomId);
        check(
            r#"{"type":"publish","room":"class:a:b"}"#,
            ErrorCode::InvalidMessage,
        );
        let deep = format!(
            r#"{{"type":"publish","room":"class:a:b","kind":"k","data":{}1{}}}"#,
            "[".repeat(17),
            "]".repeat(17)
        );
        check(&deep, ErrorCode::PayloadTooDeep);
        let very_deep = format!(
            r#"{{"type":"publish","room":"class:a:b","kind":"k","data":{}1{}}}"#,
            "[".repeat(500),
            "]".repeat(500)
        );
        check(&very_deep, ErrorCode::PayloadTooDeep);
    }

    #[test]
    fn an_ephemeral_publish_with_an_id_is_refused_naming_both() {
        let error = Codec::Json
            .decode(
                br#"{"type":"publish","ref":3,"room":"game:a:b","kind":"cursor","data":{},"id":"e1","ephemeral":true}"#,
                &Limits::default(),
            )
            .expect_err("ephemeral with an id");
        assert_eq!(error.code, ErrorCode::InvalidMessage);
        assert_eq!(error.reference, Some(Ref::Int(3)));
        assert!(error.message.contains("ephemeral") && error.message.contains("id"));
        let decoded = Codec::Json
            .decode(
                br#"{"type":"publish","room":"game:a:b","kind":"cursor","data":{"x":1},"ephemeral":true}"#,
                &Limits::default(),
            )
            .expect("ephemeral without an id");
        assert!(matches!(
            decoded.message,
            ClientMessage::Publish {
                ephemeral: true,
                id: None,
                ..
            }
        ));
    }

    #[test]
    fn the_ref_survives_a_refusal() {
        let error = Codec::Json
            .decode(br#"{"type":"dance","ref":7}"#, &Limits::default())
            .expect_err("unknown type");
        assert_eq!(error.reference, Some(Ref::Int(7)));
        let error = Codec::Json
            .decode(
                br#"{"type":"join","ref":"r1","room":"x"}"#,
                &Limits::default(),
            )
            .expect_err("bad room");
        assert_eq!(error.reference, Some(Ref::Text("r1".into())));
    }

    #[test]
    fn frame_size_is_checked_before_parsing() {
        let limits = Limits {
            max_frame_bytes: 10,
            ..Limits::default()
        };
        let error = Codec::Json
            .decode(br#"{"type":"ping"}"#, &limits)
            .expect_err("too large");
        assert_eq!(error.code, ErrorCode::FrameTooLarge);
    }

    #[test]
    fn roblox_empty_tables_read_as_objects() {
        let decoded = Codec::Json
            .decode(
                br#"{"type":"join","room":"class:a:b","since":[],"presence":[]}"#,
                &Limits::default(),
            )
            .expect("roblox-shaped join");
        let ClientMessage::Join {
            since, presence, ..
        } = decoded.message
        else {
            panic!("join")
        };
        assert_eq!(since, None);
        assert_eq!(presence, Some(serde_json::json!({})));
    }

    #[test]
    fn msgpack_failures_are_classified() {
        let unknown = rmp_serde::to_vec_named(&serde_json::json!({"type": "dance", "ref": 3}))
            .expect("encode");
        let error = Codec::MsgPack
            .decode(&unknown, &Limits::default())
            .expect_err("unknown");
        assert_eq!(
            (error.code, error.reference),
            (ErrorCode::UnknownType, Some(Ref::Int(3)))
        );
        assert_eq!(
            code_of(Codec::MsgPack, &[0xc1, 0x00]),
            ErrorCode::MalformedFrame
        );
    }

    #[test]
    fn nul_and_unpaired_surrogates_are_refused_naming_the_field() {
        let check = |codec: Codec, frame: &[u8], field: &str| {
            let error = codec
                .decode(frame, &Limits::default())
                .expect_err("must be refused");
            assert_eq!(error.code, ErrorCode::InvalidMessage, "{}", error.message);
            assert!(error.message.contains(field), "{field}: {}", error.message);
            assert_eq!(error.reference, Some(Ref::Int(9)), "{}", error.message);
        };
        let publish = |kind: &str, answer: &str| serde_json::json!({"type": "publish", "ref": 9, "room": "class:a:b", "kind": kind, "data": {"answer": answer}});
        for codec in Codec::ALL {
            let encode = |value: serde_json::Value| codec.encode(&value).expect("encode");
            check(codec, &encode(publish("quiz", "4\u{0}")), "data.answer");
            check(codec, &encode(publish("qu\u{0}iz", "4")), "kind");
            let presence = serde_json::json!({"type": "presence", "ref": 9, "room": "class:a:b", "state": {"list": ["x", "\u{0}"]}});
            check(codec, &encode(presence), "state.list[1]");
            let durable = serde_json::json!({"type": "publish", "ref": 9, "room": "class:a:b", "kind": "k", "id": "e\u{0}"});
            check(codec, &encode(durable), "id");
        }
        let surrogate =
            br#"{"type":"publish","ref":9,"room":"class:a:b","kind":"k","data":{"answer":"\ud800"}}"#;
        check(Codec::Json, surrogate, "data.answer");
        // MessagePack strings must be UTF-8: the three bytes of a surrogate are refused.
        let mut packed = Codec::MsgPack
            .encode(&publish("k", "\u{E000}"))
            .expect("encode");
        let at = packed
            .windows(3)
            .position(|window| window == "\u{E000}".as_bytes())
            .expect("marker");
        packed[at..at + 3].copy_from_slice(&[0xED, 0xA0, 0x80]);
        check(Codec::MsgPack, &packed, "data.answer");
    }
}
