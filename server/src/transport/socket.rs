//! What every socket transport shares: the writer task that drains a connection's queue
//! ([`drain`], over any `super::carrier::FrameSink`; [`write_loop`] for a WebSocket: coalescing
//! whatever is queued into one flush, pinging every heartbeat, closing peers silent for two
//! intervals), the WebSocket close handshake with the wire's close codes, and the liveness
//! clock the reader updates.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bytes::Bytes;
use futures_util::SinkExt;
use futures_util::stream::{SplitSink, SplitStream};
use protocol::CloseCode;
use protocol::pusher::PusherClose;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::carrier::{FrameSink, WebSocketSink};
use crate::hub::{ConnHandle, FrameReceiver, Wire};

/// The sending half of a socket.
pub type Sink = SplitSink<WebSocket, Message>;
/// The receiving half of a socket.
pub type Stream = SplitStream<WebSocket>;

/// Frames written before one flush, at most.
const MAX_COALESCE: usize = 64;
/// How long the writer tries to deliver a close frame to a peer that may not be reading.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The WebSocket layer's own frame cap: frames up to the protocol limit get a clear error from
/// the transport; only frames far beyond it (4 × the limit, at least 16 KiB) are cut off there.
pub fn hard_cap(max_frame_bytes: usize) -> usize {
    max_frame_bytes.saturating_mul(4).max(16 * 1024)
}

/// A session's re-check deadline for a pinned `sleep_until`; a year ahead when it has none.
pub fn deadline_or_far(deadline: Option<Instant>) -> Instant {
    deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 24 * 3600))
}

/// When the peer was last heard from (any frame, pongs included).
#[derive(Debug)]
pub struct LastSeen {
    base: Instant,
    millis: AtomicU64,
}

impl LastSeen {
    /// Starts the clock now.
    pub fn new() -> LastSeen {
        LastSeen {
            base: Instant::now(),
            millis: AtomicU64::new(0),
        }
    }
    /// The peer was heard from.
    pub fn touch(&self) {
        self.millis
            .store(self.base.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
    /// How long the peer has been silent.
    pub fn silence(&self) -> Duration {
        self.base
            .elapsed()
            .saturating_sub(Duration::from_millis(self.millis.load(Ordering::Relaxed)))
    }
}

impl Default for LastSeen {
    fn default() -> Self {
        LastSeen::new()
    }
}

/// The WebSocket messages of one queued frame: one for the native codecs; for Pusher, one per
/// `\n`-separated frame (a hub message may become several Pusher frames). Allocates nothing:
/// the parts are slices of the shared frame.
pub fn messages(wire: Wire, frame: Bytes) -> impl Iterator<Item = Message> {
    let binary = matches!(wire, Wire::Native(codec) if codec.is_binary());
    let split = wire == Wire::Pusher;
    let mut rest = Some(frame);
    std::iter::from_fn(move || {
        let mut part = rest.take()?;
        if split && let Some(newline) = part.iter().position(|byte| *byte == b'\n') {
            let tail = part.split_off(newline + 1);
            part.truncate(newline);
            rest = Some(tail);
        }
        Some(message(binary, part))
    })
}

/// One encoded frame as a WebSocket message: binary for MessagePack, text otherwise.
pub fn message(binary: bool, frame: Bytes) -> Message {
    if binary {
        return Message::Binary(frame);
    }
    // serde_json always writes UTF-8, so the check passes; the clone is a reference count.
    match Utf8Bytes::try_from(frame.clone()) {
        Ok(text) => Message::Text(text),
        Err(cause) => {
            tracing::error!(%cause, "encoded JSON frame is not UTF-8; sending it as binary");
            Message::Binary(frame)
        }
    }
}

enum Step {
    Frame(Bytes),
    Heartbeat,
}

/// Drains the connection's queue into the socket until the connection is closed (by the hub,
/// the reader, the heartbeat or shutdown), then sends the close frame.
pub async fn write_loop(
    sink: Sink,
    frames: FrameReceiver,
    handle: Arc<ConnHandle>,
    heartbeat: Duration,
    last_seen: Arc<LastSeen>,
    shutdown: CancellationToken,
) {
    let sink = WebSocketSink::new(sink, handle.wire);
    drain(sink, frames, handle, heartbeat, last_seen, shutdown).await;
}

/// [`write_loop`] over any carrier: drains the connection's queue, coalescing whatever is
/// queued into one flush, probes every heartbeat (closing a peer silent for two intervals
/// where the carrier asks for it), and closes with the code of the first close request
/// (`reconnect` when the server is shutting down).
pub async fn drain<S: FrameSink>(
    mut sink: S,
    mut frames: FrameReceiver,
    handle: Arc<ConnHandle>,
    heartbeat: Duration,
    last_seen: Arc<LastSeen>,
    shutdown: CancellationToken,
) {
    // Looked up once: each `histogram!` call is a registry look-up.
    let batch_frames = metrics::histogram!("classhub_writer_batch_frames");
    let queue_depth = metrics::histogram!("classhub_conn_queue_depth");
    let mut ticker = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Made once: each `closed()` call registers with the token, which takes a lock.
    let closed = handle.closed();
    tokio::pin!(closed);
    loop {
        let step = tokio::select! {
            biased;
            _ = &mut closed => break,
            frame = frames.recv() => match frame {
                Some(frame) => Step::Frame(frame),
                None => break,
            },
            _ = ticker.tick() => Step::Heartbeat,
        };
        let io = async {
            match step {
                Step::Frame(first) => {
                    let mut batch = 1;
                    sink.feed(first).await?;
                    while batch < MAX_COALESCE {
                        let Some(frame) = frames.try_recv() else {
                            break;
                        };
                        sink.feed(frame).await?;
                        batch += 1;
                    }
                    batch_frames.record(batch as f64);
                    sink.flush().await
                }
                Step::Heartbeat => {
                    if sink.watches_silence() && last_seen.silence() > heartbeat * 2 {
                        handle.close(CloseCode::HeartbeatTimeout);
                        return Ok(());
                    }
                    queue_depth.record(handle.queued() as f64);
                    sink.ping().await
                }
            }
        };
        // The write first: most complete at once, and checking the close token takes a lock.
        // A close requested meanwhile is seen by the next turn's first select; one requested
        // while the write waits on a peer that does not read stops the write here.
        let written = tokio::select! {
            biased;
            written = io => written,
            _ = &mut closed => break,
        };
        if let Err(cause) = written {
            tracing::debug!(%cause, "socket write failed");
            handle.finish();
            return;
        }
    }
    let code = handle
        .close_code()
        .or_else(|| shutdown.is_cancelled().then_some(CloseCode::Reconnect));
    sink.close(code, Some(&mut frames)).await;
}

/// Sends a close frame (normal closure when `code` is `None`), with the wire's own code for it,
/// and closes the sink, giving up after [`CLOSE_WRITE_TIMEOUT`] on a peer that does not read.
pub async fn close_now(sink: &mut Sink, wire: Wire, code: Option<CloseCode>) {
    let frame = match (wire, code) {
        (_, None) => CloseFrame {
            code: 1000,
            reason: Utf8Bytes::from_static("bye"),
        },
        // Game servers and players have no socket; should one reach here, send native codes.
        (Wire::Native(_) | Wire::Commands | Wire::Silent, Some(code)) => CloseFrame {
            code: code.code(),
            reason: Utf8Bytes::from_static(code.reason()),
        },
        (Wire::Pusher, Some(code)) => {
            let pusher = match code {
                CloseCode::HeartbeatTimeout => Some(PusherClose::ActivityTimeout),
                CloseCode::Reconnect => Some(PusherClose::Reconnect),
                CloseCode::SlowConsumer | CloseCode::OverCapacity => {
                    Some(PusherClose::OverCapacity)
                }
                CloseCode::AuthFailed | CloseCode::AuthTimeout => Some(PusherClose::Unauthorized),
                CloseCode::RateLimited => Some(PusherClose::RateLimited),
                CloseCode::FrameTooLarge => None,
            };
            match pusher {
                Some(pusher) => CloseFrame {
                    code: pusher.code(),
                    reason: Utf8Bytes::from_static(pusher.reason()),
                },
                None => CloseFrame {
                    code: 1009,
                    reason: Utf8Bytes::from_static(code.reason()),
                },
            }
        }
    };
    send_close(sink, frame).await;
}

/// Sends `frame` and closes the sink, within [`CLOSE_WRITE_TIMEOUT`].
pub async fn send_close(sink: &mut Sink, frame: CloseFrame) {
    let closing = async {
        sink.send(Message::Close(Some(frame))).await?;
        sink.close().await
    };
    if let Ok(Err(cause)) = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, closing).await {
        tracing::debug!(%cause, "close handshake failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::Codec;

    fn texts(wire: Wire, frame: &'static str) -> Vec<String> {
        messages(wire, Bytes::from_static(frame.as_bytes()))
            .map(|message| match message {
                Message::Text(text) => text.as_str().to_owned(),
                other => panic!("expected text, got {other:?}"),
            })
            .collect()
    }

    #[test]
    fn pusher_frames_split_on_newlines_and_native_frames_stay_whole() {
        assert_eq!(
            texts(Wire::Pusher, "{\"a\":1}\n{\"b\":2}"),
            ["{\"a\":1}", "{\"b\":2}"]
        );
        assert_eq!(texts(Wire::Pusher, "{}"), ["{}"]);
        assert_eq!(
            texts(Wire::Native(Codec::Json), "{\"a\":\"x\"}"),
            ["{\"a\":\"x\"}"]
        );
        let binary: Vec<Message> =
            messages(Wire::Native(Codec::MsgPack), Bytes::from_static(b"\x81\n")).collect();
        assert!(matches!(binary.as_slice(), [Message::Binary(bytes)] if bytes.len() == 2));
    }
}
