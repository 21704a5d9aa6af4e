//! classhub native protocol v1: the wire types, their two codecs, the limits a frame must
//! respect, and the stable error and close codes.
//!
//! This crate is sans-I/O and deterministic (in the manner of `quinn-proto`): it knows nothing of
//! sockets, tokio, axum, sqlx or Redis, and it never reads a clock — callers pass time in. The
//! server's transports turn WebSocket frames into [`ClientMessage`]s with [`Codec::decode`] and the
//! hub turns events into bytes with [`Codec::encode`]. The golden frames under `tests/golden/` are
//! the contract shared with the Luau SDK's tests: wire drift breaks both languages at once.
//!
//! Entry points: [`Codec`] (JSON text frames or MessagePack binary frames, chosen by WebSocket
//! subprotocol or QUIC ALPN; over QUIC each frame is preceded by its length, a big-endian u32), [`ClientMessage`] / [`ServerMessage`], [`RoomId`], [`Limits`], [`ErrorCode`],
//! [`CloseCode`].

pub mod audience;
mod close;
mod codec;
mod error;
mod limits;
mod message;
mod payload;
pub mod pusher;
mod room;

pub use close::CloseCode;
pub use codec::{Codec, DecodeError, Decoded, EncodeError};
pub use error::ErrorCode;
pub use limits::Limits;
pub use message::{
    ClientMessage, CommandKind, ErrorBody, EventBody, Joined, LeftMember, Member, Pong,
    PresenceDiff, Ref, Reply, ServerMessage, Since, Welcome, WireLimits,
};
pub use payload::{
    PayloadError, check_payload, check_text, normalize_empty_array, object_or_empty_array,
    optional_object_or_empty_array,
};
pub use room::{RoomId, RoomIdError, RoomKind};

/// The protocol version carried in the subprotocol names below.
pub const PROTOCOL_VERSION: u32 = 1;
