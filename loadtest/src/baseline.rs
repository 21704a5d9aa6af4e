//! The floor the hub is measured against: the smallest tokio-tungstenite broadcast server that
//! serves the `fanout` scenario unchanged. It accepts `GET /ws` with either native subprotocol,
//! says `welcome` (to a token in a header or query, unchecked, or to an `auth` frame), treats any
//! `join` as joining that room (`joined`), rebroadcasts each `publish` as an `event` frame to
//! every member of the room (encoded once per codec, queued with `try_send`), answers `reply`,
//! `pong`, and `error` for frames it cannot decode. No permissions, presence, history,
//! heartbeats, metrics or persistence: whatever the hub costs beyond this shows as the ratio.
//!
//! Like the hub it keeps each connection's queue bounded (a full queue closes that connection
//! with 4100), writes with one flush per batch of queued frames, and by default keeps
//! tungstenite's 128 KiB read buffer per connection (as the hub does through axum); a smaller
//! one can be asked for, to show what it saves. Entry points: [`start`] and [`start_with`] →
//! [`Baseline`] with [`Baseline::local_addr`] and [`Baseline::shutdown`].

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use protocol::{
    ClientMessage, CloseCode, Codec, Decoded, ErrorBody, ErrorCode, EventBody, Joined, Limits,
    Pong, Ref, Reply, ServerMessage, Welcome, WireLimits,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::stats::unix_millis;

/// Frames queued per connection before it is closed as a slow consumer (the hub's default).
const QUEUE_LEN: usize = 1024;
/// Frames written before one flush, at most (as the hub).
const MAX_COALESCE: usize = 64;
/// Rooms one connection may be in.
const MAX_ROOMS_PER_CONN: usize = 64;
/// How long shutdown waits for connections to close.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(5);

/// tungstenite's (and axum's) default read buffer per connection.
pub const DEFAULT_READ_BUFFER_BYTES: usize = 128 * 1024;

/// A running baseline server.
pub struct Baseline {
    addr: SocketAddr,
    /// Cancelled by [`Baseline::shutdown`]; every connection's token is a child.
    stop: CancellationToken,
    /// The accept loop and every connection task.
    tracker: TaskTracker,
}

/// Starts a baseline server on `bind` (port 0 picks one) with the default read buffer.
pub async fn start(bind: SocketAddr) -> anyhow::Result<Baseline> {
    start_with(bind, DEFAULT_READ_BUFFER_BYTES).await
}

/// Starts a baseline server on `bind` whose connections read through buffers of
/// `read_buffer_bytes` (tungstenite fills the whole buffer's length on every read, so this is
/// resident memory per connection).
pub async fn start_with(bind: SocketAddr, read_buffer_bytes: usize) -> anyhow::Result<Baseline> {
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let addr = listener.local_addr().context("listener address")?;
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let rooms = Arc::new(Rooms::default());
    let config = WebSocketConfig::default().read_buffer_size(read_buffer_bytes);
    tracker.spawn(accept_loop(
        listener,
        rooms,
        config,
        stop.clone(),
        tracker.clone(),
    ));
    Ok(Baseline {
        addr,
        stop,
        tracker,
    })
}

impl Baseline {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes every connection (4200) and waits for them, at most 5 s.
    pub async fn shutdown(self) {
        self.stop.cancel();
        self.tracker.close();
        if tokio::time::timeout(SHUTDOWN_PATIENCE, self.tracker.wait())
            .await
            .is_err()
        {
            eprintln!("classhub-baseline: some connections did not close in time");
        }
    }
}

/// Every room, behind one mutex: held only to look up a room and `try_send` to its members,
/// never across an `.await`.
#[derive(Default)]
struct Rooms {
    by_name: Mutex<HashMap<String, Room>>,
    next_conn_id: AtomicU64,
}

#[derive(Default)]
struct Room {
    seq: u64,
    members: Vec<Member>,
}

/// A connection's place in a room.
struct Member {
    conn_id: u64,
    conn: Arc<Conn>,
}

/// What a room needs to reach a connection.
struct Conn {
    codec: Codec,
    queue: mpsc::Sender<Message>,
    /// Cancelled to close the connection (slow consumer, shutdown, reader gone).
    close: CancellationToken,
    /// Set when the close is for a full queue.
    slow: AtomicBool,
}

impl Conn {
    /// Queues `frame`, closing the connection with 4100 when its queue is full.
    fn offer(&self, frame: Message) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.queue.try_send(frame) {
            self.slow.store(true, Ordering::Relaxed);
            self.close.cancel();
        }
    }

    fn send(&self, message: &ServerMessage) {
        match encode(self.codec, message) {
            Ok(frame) => self.offer(frame),
            Err(error) => eprintln!("classhub-baseline: cannot encode a frame: {error:#}"),
        }
    }
}

impl Rooms {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        // A panic while holding this lock leaves plain data behind; keep serving.
        self.by_name
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn join(&self, room: &str, conn_id: u64, conn: &Arc<Conn>) -> u64 {
        let mut rooms = self.lock();
        let entry = rooms.entry(room.to_owned()).or_default();
        if !entry.members.iter().any(|member| member.conn_id == conn_id) {
            entry.members.push(Member {
                conn_id,
                conn: Arc::clone(conn),
            });
        }
        entry.seq
    }

    fn leave(&self, room: &str, conn_id: u64) {
        let mut rooms = self.lock();
        if let Some(entry) = rooms.get_mut(room) {
            entry.members.retain(|member| member.conn_id != conn_id);
            if entry.members.is_empty() {
                rooms.remove(room);
            }
        }
    }

    /// Numbers the event and queues it to every member, encoded once per codec in use.
    fn publish(&self, room: &str, from: &str, kind: String, data: serde_json::Value) -> u64 {
        let mut rooms = self.lock();
        let entry = rooms.entry(room.to_owned()).or_default();
        entry.seq += 1;
        let event = ServerMessage::Event(EventBody {
            room: room.to_owned(),
            seq: entry.seq,
            ts: unix_millis(),
            from: from.to_owned(),
            kind,
            data: data.into(),
            id: None,
            ephemeral: false,
        });
        let mut frames: [Option<Message>; 2] = [None, None];
        for member in &entry.members {
            let slot = &mut frames[usize::from(member.conn.codec.is_binary())];
            if slot.is_none() {
                match encode(member.conn.codec, &event) {
                    Ok(frame) => *slot = Some(frame),
                    Err(error) => {
                        eprintln!("classhub-baseline: cannot encode an event: {error:#}");
                        continue;
                    }
                }
            }
            if let Some(frame) = slot {
                member.conn.offer(frame.clone());
            }
        }
        let seq = entry.seq;
        if entry.members.is_empty() {
            // Nobody to remember the count for: keep the map bounded by live rooms.
            rooms.remove(room);
        }
        seq
    }
}

async fn accept_loop(
    listener: TcpListener,
    rooms: Arc<Rooms>,
    config: WebSocketConfig,
    stop: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _peer)) => {
                tracker.spawn(serve(
                    stream,
                    Arc::clone(&rooms),
                    config,
                    stop.child_token(),
                ));
            }
            Err(error) => {
                // Out of descriptors, usually: back off briefly instead of spinning.
                eprintln!("classhub-baseline: accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// What the upgrade request settled.
struct Handshake {
    codec: Codec,
    /// A token came in a header or the query, so `welcome` goes out at once.
    token_given: bool,
}

/// Checks the path, picks the codec by subprotocol, and notes whether a token came along.
#[expect(
    clippy::result_large_err,
    reason = "the signature of tungstenite's handshake callback"
)]
fn negotiate(
    request: &Request,
    mut response: Response,
    settled: &mut Option<Handshake>,
) -> Result<Response, ErrorResponse> {
    if request.uri().path() != "/ws" {
        return Err(refusal(StatusCode::NOT_FOUND, "only /ws is served here"));
    }
    let offered: Vec<&str> = request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect();
    let codec = if offered.is_empty() {
        Codec::Json
    } else {
        match offered
            .iter()
            .find_map(|name| Codec::from_subprotocol(name))
        {
            Some(codec) => {
                response.headers_mut().insert(
                    "sec-websocket-protocol",
                    HeaderValue::from_static(codec.subprotocol()),
                );
                codec
            }
            None => {
                return Err(refusal(
                    StatusCode::BAD_REQUEST,
                    "unsupported WebSocket subprotocol",
                ));
            }
        }
    };
    let token_given = request.headers().contains_key("authorization")
        || request
            .uri()
            .query()
            .is_some_and(|query| query.split('&').any(|pair| pair.starts_with("token=")));
    *settled = Some(Handshake { codec, token_given });
    Ok(response)
}

fn refusal(status: StatusCode, message: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(message.to_owned()));
    *response.status_mut() = status;
    response
}

type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;

/// One connection: the handshake, then a reader (this task) and a writer task.
async fn serve(
    stream: TcpStream,
    rooms: Arc<Rooms>,
    config: WebSocketConfig,
    close: CancellationToken,
) {
    if let Err(error) = stream.set_nodelay(true) {
        eprintln!("classhub-baseline: TCP_NODELAY: {error}");
    }
    let mut settled = None;
    #[expect(
        clippy::result_large_err,
        reason = "the signature of tungstenite's handshake callback"
    )]
    let accepted = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        |request: &Request, response| negotiate(request, response, &mut settled),
        Some(config),
    )
    .await;
    let (ws, Some(Handshake { codec, token_given })) = (accepted, settled) else {
        return;
    };
    let Ok(ws) = ws else {
        return;
    };
    let (sink, mut stream) = ws.split();
    let (queue, frames) = mpsc::channel(QUEUE_LEN);
    let conn = Arc::new(Conn {
        codec,
        queue,
        close,
        slow: AtomicBool::new(false),
    });
    let writer = tokio::spawn(write_loop(sink, frames, Arc::clone(&conn)));
    let conn_id = rooms.next_conn_id.fetch_add(1, Ordering::Relaxed) + 1;
    let user = format!("baseline-{conn_id}");
    let mut session = Session {
        conn_id,
        user,
        conn: Arc::clone(&conn),
        rooms: Arc::clone(&rooms),
        joined: HashSet::new(),
        welcomed: false,
    };
    if token_given {
        session.welcome(None);
    }
    loop {
        let next = tokio::select! {
            _ = conn.close.cancelled() => break,
            next = stream.next() => next,
        };
        match next {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
            Some(Ok(Message::Text(text))) => session.handle(text.as_bytes(), false),
            Some(Ok(Message::Binary(bytes))) => session.handle(&bytes, true),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
        }
    }
    session.leave_all();
    conn.close.cancel();
    if let Err(error) = writer.await {
        eprintln!("classhub-baseline: writer task failed: {error}");
    }
}

/// A connection's protocol state.
struct Session {
    conn_id: u64,
    user: String,
    conn: Arc<Conn>,
    rooms: Arc<Rooms>,
    joined: HashSet<String>,
    welcomed: bool,
}

impl Session {
    fn welcome(&mut self, reference: Option<Ref>) {
        let limits = Limits::default();
        self.welcomed = true;
        self.conn.send(&ServerMessage::Welcome(Welcome {
            reference,
            conn_id: self.conn_id.to_string(),
            user: self.user.clone(),
            tenant: "baseline".into(),
            role: "educator".into(),
            heartbeat_ms: 0,
            limits: WireLimits {
                max_frame_bytes: limits.max_frame_bytes as u64,
                max_room_id_len: limits.max_room_id_len as u64,
                max_payload_depth: limits.max_payload_depth as u64,
                publish_per_sec: u64::from(u32::MAX),
                publish_burst: u64::from(u32::MAX),
                max_rooms: MAX_ROOMS_PER_CONN as u64,
                max_event_id_len: limits.max_event_id_len as u64,
            },
        }));
    }

    fn error(&self, reference: Option<Ref>, code: ErrorCode, message: String) {
        self.conn.send(&ServerMessage::Error(ErrorBody {
            reference,
            code: code.code(),
            message,
            retry_after_ms: None,
        }));
    }

    fn reply(&self, reference: Option<Ref>, seq: Option<u64>) {
        if let Some(reference) = reference {
            self.conn
                .send(&ServerMessage::Reply(Reply { reference, seq }));
        }
    }

    fn handle(&mut self, bytes: &[u8], binary: bool) {
        let codec = self.conn.codec;
        if binary != codec.is_binary() {
            let sentence = ErrorCode::WrongFrameKind.sentence().to_owned();
            self.error(None, ErrorCode::WrongFrameKind, sentence);
            return;
        }
        let message = match codec.decode(bytes, &Limits::default()) {
            Ok(Decoded { message, .. }) => message,
            Err(error) => {
                self.error(error.reference, error.code, error.message);
                return;
            }
        };
        if !self.welcomed {
            match message {
                ClientMessage::Auth { reference, .. } => self.welcome(reference),
                ClientMessage::Ping { reference } => {
                    self.conn.send(&ServerMessage::Pong(Pong { reference }));
                }
                other => self.error(
                    other.reference().cloned(),
                    ErrorCode::Unauthenticated,
                    ErrorCode::Unauthenticated.sentence().to_owned(),
                ),
            }
            return;
        }
        match message {
            ClientMessage::Auth { reference, .. } => self.error(
                reference,
                ErrorCode::AlreadyAuthenticated,
                ErrorCode::AlreadyAuthenticated.sentence().to_owned(),
            ),
            ClientMessage::Ping { reference } => {
                self.conn.send(&ServerMessage::Pong(Pong { reference }));
            }
            ClientMessage::Join {
                reference, room, ..
            } => {
                if !self.joined.contains(&room) && self.joined.len() >= MAX_ROOMS_PER_CONN {
                    self.error(
                        reference,
                        ErrorCode::TooManyRooms,
                        format!("at most {MAX_ROOMS_PER_CONN} rooms per connection"),
                    );
                    return;
                }
                let seq = self.rooms.join(&room, self.conn_id, &self.conn);
                self.joined.insert(room.clone());
                self.conn.send(&ServerMessage::Joined(Joined {
                    reference,
                    room,
                    epoch: 1,
                    seq,
                    members: vec![],
                    recovered: false,
                    missed: vec![],
                }));
            }
            ClientMessage::Leave { reference, room } => {
                self.rooms.leave(&room, self.conn_id);
                self.joined.remove(&room);
                self.reply(reference, None);
            }
            ClientMessage::Publish {
                reference,
                room,
                kind,
                data,
                ..
            } => {
                let seq = self.rooms.publish(&room, &self.user, kind, data);
                self.reply(reference, Some(seq));
            }
            ClientMessage::Presence { reference, .. } => self.reply(reference, None),
        }
    }

    fn leave_all(&mut self) {
        for room in self.joined.drain() {
            self.rooms.leave(&room, self.conn_id);
        }
    }
}

/// Drains the queue into the socket, one flush per batch, until the connection is closed; then
/// sends the close frame (4100 for a slow consumer, 4200 otherwise).
async fn write_loop(mut sink: Sink, mut frames: mpsc::Receiver<Message>, conn: Arc<Conn>) {
    loop {
        let first = tokio::select! {
            biased;
            _ = conn.close.cancelled() => break,
            frame = frames.recv() => match frame {
                Some(frame) => frame,
                None => break,
            },
        };
        if sink.feed(first).await.is_err() {
            return;
        }
        for _ in 1..MAX_COALESCE {
            match frames.try_recv() {
                Ok(frame) => {
                    if sink.feed(frame).await.is_err() {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let code = if conn.slow.load(Ordering::Relaxed) {
        CloseCode::SlowConsumer
    } else {
        CloseCode::Reconnect
    };
    let close = Message::Close(Some(CloseFrame {
        code: WsCloseCode::from(code.code()),
        reason: code.reason().into(),
    }));
    // The peer may be gone or not reading; the close is a courtesy with a deadline.
    let _sent_or_not = tokio::time::timeout(Duration::from_secs(2), sink.send(close)).await;
}

fn encode(codec: Codec, message: &ServerMessage) -> anyhow::Result<Message> {
    let bytes = codec.encode(message).context("encoding a server message")?;
    if codec.is_binary() {
        Ok(Message::binary(bytes))
    } else {
        Ok(Message::text(
            String::from_utf8(bytes).context("JSON encoder wrote non-UTF-8")?,
        ))
    }
}
