//! The two codecs of protocol v1: JSON in WebSocket text frames (`classhub.v1.json`) and
//! MessagePack with named fields in binary frames (`classhub.v1.msgpack`). Decoding checks the
//! frame-size, room-id and payload-depth limits, and classifies every failure into an
//! [`ErrorCode`] that carries the client's `ref` whenever it could be read.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::limits::Limits;
use crate::message::{ClientMessage, Ref, ServerMessage};
use crate::payload::depth_of;
use crate::room::RoomId;

/// A wire encoding, chosen per connection by WebSocket subprotocol.
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
        for payload in message.payloads() {
            let depth = depth_of(payload);
            if depth > limits.max_payload_depth {
                return Err(DecodeError {
                    code: ErrorCode::PayloadTooDeep,
                    message: format!(
                        "payload nests {depth} levels deep; the limit is {}",
                        limits.max_payload_depth
                    ),
                    reference,
                });
            }
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
                return DecodeError {
                    code: ErrorCode::MalformedFrame,
                    message: format!(
                        "frame is not a {format} object with a \"type\" field: {cause}"
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
                message: format!("invalid {kind} message: {cause}"),
                reference,
            },
        }
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
}
