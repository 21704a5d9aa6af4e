//! The hub's side of one connection: a bounded outbound queue of encoded frames and a way to ask
//! the transport to close the socket. Transports own the receiving half of the queue and a
//! writer task that drains it; the hub only ever `try_push`es (see `queue.rs`), so a slow reader can never stall a
//! room.
//!
//! Ephemeral frames ([`ConnHandle::offer_ephemeral`]) are best effort: a QUIC connection takes
//! them as datagrams ([`Datagrams`]; dropped, not queued, when its path is congested), any other
//! through the queue only while it has spare room, never closing the connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use protocol::{CloseCode, Codec, RoomId};
use tokio_util::sync::CancellationToken;

use super::queue::{FrameSender, PushError};
use crate::auth::Identity;

/// What happened when a frame was offered to a connection's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// The frame is queued.
    Queued,
    /// The queue was full: the connection is being closed as a slow consumer.
    SlowConsumer,
    /// The connection is already going away; the frame was not needed.
    Gone,
}

/// What became of an ephemeral frame offered to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EphemeralOffer {
    /// Sent as a datagram.
    Datagram,
    /// Queued on the connection's stream.
    Queued,
    /// Dropped: the path or the queue was busy, or the connection is going away.
    Dropped,
}

impl EphemeralOffer {
    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            EphemeralOffer::Datagram => "datagram",
            EphemeralOffer::Queued => "stream",
            EphemeralOffer::Dropped => "dropped",
        }
    }
}

/// What a datagram-capable transport (QUIC) does with one ephemeral frame.
#[derive(Debug)]
pub enum DatagramSent {
    /// Handed to the transport (which may still drop it on a congested path).
    Sent,
    /// Dropped: the connection is gone.
    Dropped,
    /// Not sendable as a datagram (too large for the path, or the peer takes none): the frame
    /// comes back for the stream.
    Unfit(Bytes),
}

/// A connection's datagram channel: sends one encoded frame, never waiting.
pub trait Datagrams: Send + Sync + std::fmt::Debug {
    /// Sends `frame` as one datagram, or says why not.
    fn send(&self, frame: Bytes) -> DatagramSent;
}

/// A handle to one connection, shared by every room the connection is in.
///
/// Cloned (as `Arc<ConnHandle>`) into each room's member table on join and dropped on leave;
/// the transport keeps its own clone for the connection's lifetime. Dropping the last sender
/// (`outbound`) ends the writer's queue.
#[derive(Debug)]
pub struct ConnHandle {
    /// Node-unique connection id.
    pub id: u64,
    /// Who is connected.
    pub identity: Arc<Identity>,
    /// How this connection wants its frames; rooms pick the matching encoded frame.
    pub wire: Wire,
    /// Bounded queue of encoded frames towards the writer task.
    outbound: FrameSender,
    /// Cancelled to make the transport close the socket; a child of the server's shutdown token.
    closer: CancellationToken,
    /// The close code of the first close request (0 until one is made).
    close_code: AtomicU16,
    /// Pusher sockets: whom `/pusher/auth` signed each room's subscription for, so that a
    /// (re-sent) subscription is re-checked against that person's rights now.
    signers: Mutex<HashMap<RoomId, Arc<Identity>>>,
    /// Set by a transport that carries datagrams (QUIC): where ephemeral frames go.
    datagrams: OnceLock<Box<dyn Datagrams>>,
}

impl ConnHandle {
    pub(crate) fn new(
        id: u64,
        identity: Arc<Identity>,
        wire: Wire,
        outbound: FrameSender,
        closer: CancellationToken,
    ) -> ConnHandle {
        ConnHandle {
            id,
            identity,
            wire,
            outbound,
            closer,
            close_code: AtomicU16::new(0),
            signers: Mutex::new(HashMap::new()),
            datagrams: OnceLock::new(),
        }
    }

    /// Notes that classhub signed this socket's subscription to `room` for `signer`. At most
    /// `max` rooms are noted (a note for a noted room replaces it); `false` when full.
    pub fn note_signer(&self, room: RoomId, signer: Arc<Identity>, max: usize) -> bool {
        let mut signers = self
            .signers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if signers.len() >= max && !signers.contains_key(&room) {
            return false;
        }
        signers.insert(room, signer);
        true
    }

    /// Whom classhub signed this socket's subscription to `room` for, if it did.
    pub fn signer_of(&self, room: &RoomId) -> Option<Arc<Identity>> {
        self.signers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(room)
            .cloned()
    }

    /// Offers an encoded frame without waiting. A full queue closes the connection as a slow
    /// consumer: it will reconnect and recover the gap from history.
    pub fn offer(&self, frame: Bytes) -> Offer {
        match self.outbound.try_push(frame) {
            Ok(()) => Offer::Queued,
            Err(PushError::Full) => {
                if self.close(CloseCode::SlowConsumer) {
                    metrics::counter!("classhub_slow_consumer_closes_total").increment(1);
                    tracing::info!(conn = self.id, user = %self.identity.user, "closing slow consumer");
                }
                Offer::SlowConsumer
            }
            Err(PushError::Closed) => Offer::Gone,
        }
    }

    /// Gives this connection a datagram channel for ephemeral frames (once; later calls are
    /// ignored).
    pub fn attach_datagrams(&self, datagrams: Box<dyn Datagrams>) {
        let _ = self.datagrams.set(datagrams);
    }

    /// Offers an ephemeral frame, best effort: as a datagram where the connection has a channel
    /// for them and the frame fits one, otherwise through the queue while it has spare room
    /// (`FrameSender::try_push_spare`). Never closes the connection.
    pub fn offer_ephemeral(&self, frame: Bytes) -> EphemeralOffer {
        let frame = match self.datagrams.get() {
            Some(datagrams) => match datagrams.send(frame) {
                DatagramSent::Sent => return EphemeralOffer::Datagram,
                DatagramSent::Dropped => return EphemeralOffer::Dropped,
                DatagramSent::Unfit(frame) => frame,
            },
            None => frame,
        };
        match self.outbound.try_push_spare(frame) {
            Ok(()) => EphemeralOffer::Queued,
            Err(PushError::Full | PushError::Closed) => EphemeralOffer::Dropped,
        }
    }

    /// Asks the transport to close the socket with `code`. Only the first request counts; returns
    /// whether this call was it.
    pub fn close(&self, code: CloseCode) -> bool {
        let first = self
            .close_code
            .compare_exchange(0, code.code(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        self.closer.cancel();
        first
    }

    /// Ends the connection without a close code of the hub's (the peer left, or the socket
    /// failed): the transport's writer stops and closes normally.
    pub fn finish(&self) {
        self.closer.cancel();
    }

    /// The close code requested so far, if any.
    pub fn close_code(&self) -> Option<CloseCode> {
        CloseCode::from_code(self.close_code.load(Ordering::Acquire))
    }

    /// Resolves when a close was requested, or the server began shutting down.
    pub fn closed(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.closer.cancelled()
    }

    /// Frames waiting in the queue.
    pub fn queued(&self) -> usize {
        self.outbound.len()
    }
}

/// How a connection wants frames: the native protocol in one of its codecs, or Pusher protocol 7
/// (whose frames the transport splits on `\n`, since one hub message may become several).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wire {
    /// Native protocol v1.
    Native(Codec),
    /// Pusher Channels protocol 7.
    Pusher,
    /// A Roblox game server's command mailbox: only `command` frames, as native JSON; every
    /// other frame is skipped (a game server long-polls for commands, not for room traffic).
    Commands,
    /// A member present in rooms but reached by no frame (a Roblox player, whose game server
    /// speaks for it).
    Silent,
}

impl Wire {
    /// Whether this wire is a real socket (counted in `classhub_connections`).
    pub fn is_socket(self) -> bool {
        matches!(self, Wire::Native(_) | Wire::Pusher)
    }
}

/// A server message encoded at most once per wire, whatever the number of recipients.
#[derive(Debug)]
pub(crate) struct EncodedFrame<'a> {
    message: &'a protocol::ServerMessage,
    json: Option<Option<Bytes>>,
    msgpack: Option<Option<Bytes>>,
    pusher: Option<Option<Bytes>>,
    commands: Option<Option<Bytes>>,
}

impl<'a> EncodedFrame<'a> {
    pub(crate) fn new(message: &'a protocol::ServerMessage) -> EncodedFrame<'a> {
        EncodedFrame {
            message,
            json: None,
            msgpack: None,
            pusher: None,
            commands: None,
        }
    }

    /// The frame for `wire`, encoding it on first use; `None` when the wire has no frame for
    /// this message.
    pub(crate) fn bytes(&mut self, wire: Wire) -> Option<Bytes> {
        let slot = match wire {
            Wire::Native(Codec::Json) => &mut self.json,
            Wire::Native(Codec::MsgPack) => &mut self.msgpack,
            Wire::Pusher => &mut self.pusher,
            Wire::Commands => &mut self.commands,
            Wire::Silent => return None,
        };
        slot.get_or_insert_with(|| encode(wire, self.message))
            .clone()
    }
}

/// Encodes a server message for a wire (`None`: nothing to send, e.g. a `reply` to a Pusher
/// socket). Native messages are built from `serde_json::Value`s and plain fields, which both
/// codecs always accept; a failure would be a bug, so it is logged and an `internal` error
/// frame is sent in its place rather than dropping the frame silently.
pub fn encode(wire: Wire, message: &protocol::ServerMessage) -> Option<Bytes> {
    let codec = match wire {
        Wire::Native(codec) => codec,
        Wire::Pusher => {
            let frames = protocol::pusher::frames_for(message);
            return (!frames.is_empty()).then(|| Bytes::from(frames.join("\n")));
        }
        Wire::Commands if matches!(message, protocol::ServerMessage::Command(_)) => Codec::Json,
        Wire::Commands | Wire::Silent => return None,
    };
    match codec.encode(message) {
        Ok(bytes) => Some(Bytes::from(bytes)),
        Err(cause) => {
            tracing::error!(%cause, kind = message.type_name(), "encoding a server message failed");
            let fallback = protocol::ServerMessage::Error(protocol::ErrorBody {
                reference: None,
                code: protocol::ErrorCode::Internal.code(),
                message: protocol::ErrorCode::Internal.sentence().to_owned(),
                retry_after_ms: None,
            });
            Some(Bytes::from(codec.encode(&fallback).unwrap_or_default()))
        }
    }
}
