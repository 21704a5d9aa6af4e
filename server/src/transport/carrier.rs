//! What the native protocol needs from whatever carries its frames, so that `/ws` and QUIC run
//! the same reader (`super::native::serve`) and writer (`super::socket::drain`): a
//! [`FrameSource`] yields whole inbound frames, a [`FrameSink`] writes encoded outbound ones,
//! pings, and closes with a `protocol::CloseCode`. The WebSocket carrier ([`WebSocketSource`],
//! [`WebSocketSink`]) is here, shared with Pusher sockets; the QUIC one is in `super::quic`.
//! Carriers frame bytes and nothing else: decoding, limits and the hub stay in the transports.

use std::future::Future;

use axum::extract::ws::Message;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use protocol::CloseCode;

use super::socket::{Sink, Stream, close_now, messages};
use crate::hub::{Datagrams, FrameReceiver, Wire};

/// Why a write failed (logged at debug level; the connection ends either way).
pub type WriteError = Box<dyn std::error::Error + Send + Sync>;

/// One thing read from a carrier.
#[derive(Debug)]
pub enum Inbound {
    /// One whole frame; `binary` is how it travelled (WebSocket binary or text; a QUIC frame
    /// has no kind of its own and is reported as its codec's).
    Frame {
        /// The frame's bytes.
        bytes: Bytes,
        /// Whether it came as binary.
        binary: bool,
    },
    /// A carrier-level frame with nothing for the protocol (a WebSocket ping or pong): the
    /// peer is alive.
    Control,
    /// A frame over the size limit. `announced` is its length when the carrier learnt it before
    /// reading the frame (QUIC's length prefix): the client is then told the sizes before the
    /// close; `None` is the WebSocket layer's hard cap, closed at once.
    TooLarge {
        /// The announced length in bytes.
        announced: Option<u64>,
    },
    /// The peer closed, the connection failed, or the stream ended inside a frame.
    Closed,
}

/// The receiving half of a carrier.
pub trait FrameSource: Send {
    /// The next inbound item. Cancel-safe: a future dropped before it resolves loses no bytes
    /// (the reader races it against commits, rule changes and close requests).
    fn next_frame(&mut self) -> impl Future<Output = Inbound> + Send;
}

/// The sending half of a carrier.
pub trait FrameSink: Send + 'static {
    /// Adds one encoded frame of the connection's wire to the next flush.
    fn feed(&mut self, frame: Bytes) -> impl Future<Output = Result<(), WriteError>> + Send;
    /// Writes everything fed so far.
    fn flush(&mut self) -> impl Future<Output = Result<(), WriteError>> + Send;
    /// The heartbeat's probe (a WebSocket ping; nothing where the carrier keeps itself alive).
    fn ping(&mut self) -> impl Future<Output = Result<(), WriteError>> + Send;
    /// Whether the writer must close a peer silent for two heartbeats (4101); `false` where the
    /// carrier itself drops dead peers (QUIC's idle timeout).
    fn watches_silence(&self) -> bool;
    /// Closes with `code` (a normal closure when `None`), within a bounded time. `unsent` is
    /// the connection's queue, which a carrier that can deliver frames ahead of its close
    /// (QUIC) writes first.
    fn close(
        &mut self,
        code: Option<CloseCode>,
        unsent: Option<&mut FrameReceiver>,
    ) -> impl Future<Output = ()> + Send;

    /// The carrier's datagram channel for ephemeral frames, if it has one (QUIC).
    fn datagrams(&self) -> Option<Box<dyn Datagrams>> {
        None
    }

    /// Writes one frame now.
    fn send_frame(&mut self, frame: Bytes) -> impl Future<Output = Result<(), WriteError>> + Send {
        async move {
            self.feed(frame).await?;
            self.flush().await
        }
    }
}

/// The receiving half of a WebSocket.
pub struct WebSocketSource(pub Stream);

/// The sending half of a WebSocket, with the wire its frames are encoded for.
pub struct WebSocketSink {
    sink: Sink,
    wire: Wire,
}

impl WebSocketSink {
    /// A socket's sending half for frames of `wire`.
    pub fn new(sink: Sink, wire: Wire) -> WebSocketSink {
        WebSocketSink { sink, wire }
    }
}

impl FrameSource for WebSocketSource {
    async fn next_frame(&mut self) -> Inbound {
        match self.0.next().await {
            None | Some(Ok(Message::Close(_))) => Inbound::Closed,
            Some(Err(cause)) => {
                if is_capacity_error(cause) {
                    Inbound::TooLarge { announced: None }
                } else {
                    Inbound::Closed
                }
            }
            Some(Ok(Message::Text(text))) => Inbound::Frame {
                bytes: Bytes::from(text),
                binary: false,
            },
            Some(Ok(Message::Binary(bytes))) => Inbound::Frame {
                bytes,
                binary: true,
            },
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => Inbound::Control,
        }
    }
}

impl FrameSink for WebSocketSink {
    async fn feed(&mut self, frame: Bytes) -> Result<(), WriteError> {
        for message in messages(self.wire, frame) {
            self.sink.feed(message).await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), WriteError> {
        Ok(self.sink.flush().await?)
    }

    async fn ping(&mut self) -> Result<(), WriteError> {
        Ok(self.sink.send(Message::Ping(Bytes::new())).await?)
    }

    fn watches_silence(&self) -> bool {
        true
    }

    async fn close(&mut self, code: Option<CloseCode>, _unsent: Option<&mut FrameReceiver>) {
        close_now(&mut self.sink, self.wire, code).await;
    }
}

/// Whether a WebSocket read failed on the frame-size cap (others are logged at debug level).
fn is_capacity_error(cause: axum::Error) -> bool {
    let inner = cause.into_inner();
    match inner.downcast_ref::<tokio_tungstenite::tungstenite::Error>() {
        Some(tokio_tungstenite::tungstenite::Error::Capacity(_)) => true,
        Some(other) => {
            tracing::debug!(cause = %other, "socket read failed");
            false
        }
        None => {
            tracing::debug!(cause = %inner, "socket read failed");
            false
        }
    }
}
