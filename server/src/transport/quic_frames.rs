//! Native protocol frames on one QUIC stream: each frame is a 4-byte unsigned big-endian length
//! followed by that many bytes of the connection's codec (JSON or MessagePack, by ALPN), both
//! ways. [`QuicSource`] reads frames (a length over the limit is reported before anything of
//! the frame is read or allocated), [`QuicSink`] writes them without copying the shared frame
//! bytes and closes the connection with a QUIC application code ([`application_close`]).
//! Ephemeral events go out as QUIC datagrams ([`QuicDatagrams`]), one encoded frame per
//! datagram with no length prefix. The same framing runs inside a WebTransport session (a
//! browser's bidirectional stream and datagrams): [`StreamRecv`], [`StreamSend`] and [`Peer`]
//! carry either. The listener and handshakes are in `super::quic`.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use protocol::{CloseCode, Codec};
use quinn::{Connection, VarInt};

use super::carrier::{FrameSink, FrameSource, Inbound, WriteError};
use crate::hub::{DatagramSent, Datagrams, FrameReceiver};

/// The length prefix's size in bytes.
pub const PREFIX_BYTES: usize = 4;

/// How long a close waits for the peer to acknowledge what was written before it (as a
/// WebSocket close frame waits for a peer that may not read).
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Queued frames written ahead of a close, at most (a room may still be offering new ones
/// until the member has left it).
const MAX_CLOSE_FRAMES: usize = 1024;

/// The application close of a QUIC connection for a close code: the number of the WebSocket
/// close code (4001 … 4200) and its reason; a normal closure is 0 with reason `bye`.
pub fn application_close(code: Option<CloseCode>) -> (VarInt, &'static [u8]) {
    match code {
        None => (VarInt::from_u32(0), b"bye"),
        Some(code) => (
            VarInt::from_u32(u32::from(code.code())),
            code.reason().as_bytes(),
        ),
    }
}

/// The receiving half of the client's stream: a QUIC stream, or a WebTransport session's.
pub enum StreamRecv {
    /// Native QUIC.
    Quic(quinn::RecvStream),
    /// A WebTransport stream (its header already read).
    WebTransport(web_transport_quinn::RecvStream),
}

impl StreamRecv {
    /// The next chunk of at most `max` bytes; `None` at the end of the stream. Cancel-safe.
    async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, WriteError> {
        let chunk = match self {
            StreamRecv::Quic(recv) => recv.read_chunk(max, true).await?,
            StreamRecv::WebTransport(recv) => recv.read_chunk(max, true).await?,
        };
        Ok(chunk.map(|chunk| chunk.bytes))
    }
}

/// The sending half of the client's stream.
pub enum StreamSend {
    /// Native QUIC.
    Quic(quinn::SendStream),
    /// A WebTransport stream.
    WebTransport(web_transport_quinn::SendStream),
}

impl StreamSend {
    async fn write_chunks(&mut self, chunks: &mut [Bytes]) -> Result<usize, WriteError> {
        Ok(match self {
            StreamSend::Quic(send) => send.write_chunks(chunks).await?.chunks,
            StreamSend::WebTransport(send) => send.write_chunks(chunks).await?.chunks,
        })
    }

    /// Ends the stream and waits until the peer has read it all (or stopped it).
    async fn finish(&mut self) -> Result<(), WriteError> {
        match self {
            StreamSend::Quic(send) => {
                send.finish()?;
                send.stopped().await?;
            }
            StreamSend::WebTransport(send) => {
                send.finish()?;
                send.stopped().await?;
            }
        }
        Ok(())
    }
}

/// The connection the stream belongs to: closed with an application code, and where ephemeral
/// datagrams go.
#[derive(Clone, Debug)]
pub enum Peer {
    /// Native QUIC.
    Quic(Connection),
    /// A WebTransport session (its code travels as WebTransport's application error); boxed,
    /// as it is much larger than a connection handle.
    WebTransport(Box<web_transport_quinn::Session>),
}

impl Peer {
    /// Closes with `code` (see [`application_close`]).
    pub fn close(&self, code: Option<CloseCode>) {
        let (number, reason) = application_close(code);
        match self {
            Peer::Quic(connection) => connection.close(number, reason),
            Peer::WebTransport(session) => {
                session.close(u32::try_from(number.into_inner()).unwrap_or(0), reason)
            }
        }
    }

    /// The QUIC connection underneath.
    fn connection(&self) -> &Connection {
        match self {
            Peer::Quic(connection) => connection,
            Peer::WebTransport(session) => session,
        }
    }
}

/// The receiving half: whole frames from the stream the client opened.
pub struct QuicSource {
    recv: StreamRecv,
    /// The codec's frame kind, reported with every frame.
    binary: bool,
    /// The largest frame accepted (`--max-frame-bytes`).
    limit: usize,
    /// The length prefix read so far.
    prefix: [u8; PREFIX_BYTES],
    prefix_len: usize,
    /// The frame being read: its announced length and the bytes so far.
    body: Option<(usize, BytesMut)>,
}

/// The sending half: frames fed since the last flush, written in one call.
pub struct QuicSink {
    send: StreamSend,
    peer: Peer,
    /// Prefixes and frames not yet fully written (a partly written one was advanced in place).
    chunks: Vec<Bytes>,
    /// `chunks[..written]` are written.
    written: usize,
    /// Where the length prefixes are cut from (one allocation for many).
    prefixes: BytesMut,
}

impl QuicSource {
    /// Reads frames of `codec`, at most `limit` bytes each, from `recv`.
    pub fn new(recv: StreamRecv, codec: Codec, limit: usize) -> QuicSource {
        QuicSource {
            recv,
            binary: codec.is_binary(),
            limit,
            prefix: [0; PREFIX_BYTES],
            prefix_len: 0,
            body: None,
        }
    }

    /// Reads what the current step still needs; `None` when the stream ended or failed.
    /// Cancel-safe: `read_chunk` is, and the state changes only once it has returned.
    async fn read(&mut self, wanted: usize) -> Option<Bytes> {
        match self.recv.read_chunk(wanted).await {
            Ok(Some(chunk)) => Some(chunk),
            Ok(None) => {
                if self.prefix_len > 0 || self.body.is_some() {
                    tracing::debug!("quic stream ended inside a frame");
                }
                None
            }
            Err(cause) => {
                tracing::debug!(%cause, "quic stream read failed");
                None
            }
        }
    }
}

impl FrameSource for QuicSource {
    async fn next_frame(&mut self) -> Inbound {
        loop {
            match &mut self.body {
                None => {
                    let Some(chunk) = self.read(PREFIX_BYTES - self.prefix_len).await else {
                        return Inbound::Closed;
                    };
                    let end = self.prefix_len + chunk.len();
                    self.prefix[self.prefix_len..end].copy_from_slice(&chunk);
                    self.prefix_len = end;
                    if self.prefix_len < PREFIX_BYTES {
                        continue;
                    }
                    self.prefix_len = 0;
                    let announced = u32::from_be_bytes(self.prefix);
                    let length = announced as usize;
                    if length > self.limit {
                        return Inbound::TooLarge {
                            announced: Some(u64::from(announced)),
                        };
                    }
                    if length == 0 {
                        return Inbound::Frame {
                            bytes: Bytes::new(),
                            binary: self.binary,
                        };
                    }
                    self.body = Some((length, BytesMut::new()));
                }
                Some((length, buffer)) => {
                    let wanted = *length - buffer.len();
                    let Some(chunk) = self.read(wanted).await else {
                        return Inbound::Closed;
                    };
                    let Some((length, buffer)) = &mut self.body else {
                        continue;
                    };
                    // A frame that arrives in one piece is passed on without a copy.
                    let bytes = if buffer.is_empty() && chunk.len() == *length {
                        chunk
                    } else {
                        buffer.extend_from_slice(&chunk);
                        if buffer.len() < *length {
                            continue;
                        }
                        std::mem::take(buffer).freeze()
                    };
                    self.body = None;
                    return Inbound::Frame {
                        bytes,
                        binary: self.binary,
                    };
                }
            }
        }
    }
}

impl QuicSink {
    /// Writes frames to `send`, the stream's sending half, of `peer`.
    pub fn new(send: StreamSend, peer: Peer) -> QuicSink {
        QuicSink {
            send,
            peer,
            chunks: Vec::new(),
            written: 0,
            prefixes: BytesMut::new(),
        }
    }

    fn push(&mut self, frame: Bytes) -> Result<(), WriteError> {
        let length = u32::try_from(frame.len())
            .map_err(|_| format!("a frame of {} bytes has no length prefix", frame.len()))?;
        if self.prefixes.capacity() < PREFIX_BYTES {
            self.prefixes.reserve(PREFIX_BYTES * 64);
        }
        self.prefixes.put_u32(length);
        self.chunks.push(self.prefixes.split().freeze());
        self.chunks.push(frame);
        Ok(())
    }

    /// Finishes the stream and waits (bounded) until the peer has everything written.
    async fn finish(&mut self) -> Result<(), WriteError> {
        self.flush().await?;
        self.send.finish().await
    }
}

/// A QUIC connection's datagrams, for ephemeral frames. quinn never waits to send one: past
/// the connection's datagram buffer (`--quic-datagram-buffer`) it drops the oldest unsent, and
/// the path drops what congestion loses.
/// In a WebTransport session each datagram also carries the session's id.
#[derive(Debug)]
pub struct QuicDatagrams(Peer);

impl Datagrams for QuicDatagrams {
    fn send(&self, frame: Bytes) -> DatagramSent {
        // Too large for the path, or a peer that takes no datagrams: the stream carries it.
        let Some(path_largest) = self.0.connection().max_datagram_size() else {
            return DatagramSent::Unfit(frame);
        };
        let largest = match &self.0 {
            Peer::Quic(_) => path_largest,
            Peer::WebTransport(session) => session.max_datagram_size(),
        };
        if frame.len() > largest {
            return DatagramSent::Unfit(frame);
        }
        let sent = match &self.0 {
            Peer::Quic(connection) => connection.send_datagram(frame).is_ok(),
            Peer::WebTransport(session) => session.send_datagram(frame).is_ok(),
        };
        // Not sent: the connection is gone, or the path shrank since the check above.
        if sent {
            DatagramSent::Sent
        } else {
            DatagramSent::Dropped
        }
    }
}

impl FrameSink for QuicSink {
    async fn feed(&mut self, frame: Bytes) -> Result<(), WriteError> {
        self.push(frame)
    }

    fn datagrams(&self) -> Option<Box<dyn Datagrams>> {
        Some(Box::new(QuicDatagrams(self.peer.clone())))
    }

    /// Cancel-safe at chunk granularity: what a cancelled flush left is written by the next.
    async fn flush(&mut self) -> Result<(), WriteError> {
        while self.written < self.chunks.len() {
            let written = self
                .send
                .write_chunks(&mut self.chunks[self.written..])
                .await?;
            self.written += written;
        }
        self.chunks.clear();
        self.written = 0;
        Ok(())
    }

    async fn ping(&mut self) -> Result<(), WriteError> {
        // quinn sends keep-alives (the endpoint's `keep_alive_interval`).
        Ok(())
    }

    fn watches_silence(&self) -> bool {
        false
    }

    async fn close(&mut self, code: Option<CloseCode>, unsent: Option<&mut FrameReceiver>) {
        // A slow consumer is not sent its backlog: it recovers from history.
        if code != Some(CloseCode::SlowConsumer) {
            let mut queued = Ok(());
            if let Some(unsent) = unsent {
                for _ in 0..MAX_CLOSE_FRAMES {
                    let Some(frame) = unsent.try_recv() else {
                        break;
                    };
                    queued = queued.and(self.push(frame));
                }
            }
            let delivered = match queued {
                Ok(()) => tokio::time::timeout(CLOSE_WRITE_TIMEOUT, self.finish())
                    .await
                    .unwrap_or_else(|_| Err("the peer did not acknowledge in time".into())),
                Err(cause) => Err(cause),
            };
            if let Err(cause) = delivered {
                tracing::debug!(%cause, "quic stream not finished before the close");
            }
        }
        self.peer.close(code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_keep_their_websocket_numbers() {
        for code in CloseCode::ALL {
            let (number, reason) = application_close(Some(code));
            assert_eq!(number.into_inner(), u64::from(code.code()));
            assert_eq!(reason, code.reason().as_bytes());
        }
        assert_eq!(application_close(None).0.into_inner(), 0);
    }
}
