//! The native protocol over WebSocket: `GET /ws`; and [`serve`], the connection logic it shares
//! with QUIC (`super::quic`) through `super::carrier`.
//!
//! Upgrade: the codec is chosen by subprotocol (`classhub.v1.json`, the default when none is
//! offered, or `classhub.v1.msgpack`); an offer of only unknown subprotocols is refused with
//! HTTP 400. A token in `Authorization: Bearer` or `?token=` is checked before the upgrade
//! (HTTP 401 when bad); without one, the first frame must be `auth` within the auth timeout.
//!
//! Then one reader (this task) and one writer task per socket (`socket::drain`). The reader
//! decodes frames and calls the hub; the writer drains the connection's bounded queue,
//! coalescing whatever is queued into one flush, pings every heartbeat interval and closes peers
//! silent for two intervals.
//! Close codes are `protocol::CloseCode`. Frames that change what the hub holds spend the
//! connection's budget (`super::throttle`); refusals spend a second one, past which the
//! connection is closed with 4103.
//!
//! Authority is live: the reader also waits on the tenant's rules clock and the token's `exp`
//! and then re-checks the session (`AppState::recheck`): rooms the user may no longer be in are
//! left with the reason `revoked`; a deactivated user's or an expired token's connection is
//! closed with 4001. An `auth` frame on an open connection with a fresh token of the same user
//! extends it (answered with `reply`).

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::{FuturesOrdered, FuturesUnordered};
use persistence::SinkError;
use protocol::{
    ClientMessage, CloseCode, Codec, CommandKind, Decoded, ErrorBody, ErrorCode, Pong, Ref, Reply,
    RoomId, RoomKind, ServerMessage, Welcome, WireLimits,
};
use serde::Deserialize;
use serde_json::Value;

use super::carrier::{FrameSink, FrameSource, Inbound, WebSocketSink, WebSocketSource};
use super::socket::{self, LastSeen};
use super::throttle::{Throttle, Verdict};
use crate::app::AppState;
use crate::auth::Identity;
use crate::auth::directory::AuthFailure;
use crate::chat;
use axum::response::IntoResponse;

use crate::api::{ApiError, ClientIp, ErrorKind};
use crate::hub::{Published, Session, Wire};
use crate::platform::audit::{self, Actor, Target};

/// A durable publish waiting for its commit: resolves to the `ref`, the `seq`, and the outcome.
type PendingAck = std::pin::Pin<
    Box<dyn std::future::Future<Output = (Option<Ref>, u64, Result<(), SinkError>)> + Send>,
>;

/// A chat message waiting for its moderation verdict: resolves to the `ref` and the screened
/// draft (or why the sender may no longer send it).
type PendingChat = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = (Option<Ref>, Result<chat::Draft, chat::ChatRefusal>)>
            + Send,
    >,
>;

/// What a connection waits on besides frames: commits of durable publishes (any order) and
/// chat moderation verdicts (in the order the messages were sent, so a student's messages
/// are shown in their order).
#[derive(Default)]
struct Pending {
    acks: FuturesUnordered<PendingAck>,
    chats: FuturesOrdered<PendingChat>,
}

impl Pending {
    /// The answer to a publish: a `reply` now, or, for a durable one, once its commit is known.
    fn answer(&mut self, reference: Option<Ref>, published: Published) -> Option<ServerMessage> {
        let Published { seq, ack } = published;
        let Some(ack) = ack else {
            return reply(reference, Some(seq));
        };
        self.acks.push(Box::pin(async move {
            let outcome = ack.await.unwrap_or(Err(SinkError::Stopped));
            (reference, seq, outcome)
        }));
        None
    }
}

/// Query parameters of `GET /ws`.
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    /// A token, for clients that cannot set headers.
    token: Option<String>,
}

/// `GET /ws`: negotiates the codec, checks any token, and upgrades. A refused token spends the
/// client address's per-IP REST budget ([`ClientIp`]), so a flood of made-up tokens gets 429.
pub async fn upgrade(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    Query(query): Query<WsQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let codec = match negotiate(&headers) {
        Ok(codec) => codec,
        Err(refusal) => {
            return ApiError::new(ErrorKind::BadRequest, refusal).into_response();
        }
    };
    let token = crate::auth::bearer_token(&headers)
        .map(str::to_owned)
        .or(query.token);
    let identity = match token {
        Some(token) => match app.authenticate_socket(&token).await {
            Ok(identity) => Some(identity),
            Err(cause) => {
                if matches!(cause, AuthFailure::Token(_))
                    && let Err(too_many) = app.api_limiters().check_ip(client)
                {
                    return too_many.into_response();
                }
                return ApiError::from(cause).into_response();
            }
        },
        None => None,
    };
    if app.shutdown().is_cancelled() {
        return ApiError::new(
            ErrorKind::Unavailable,
            "the server is shutting down; reconnect to another node or retry shortly",
        )
        .with_retry_after(std::time::Duration::from_secs(1))
        .into_response();
    }
    let Some(slot) = app.reserve_socket() else {
        return ApiError::new(
            ErrorKind::Unavailable,
            format!(
                "the server is at its connection limit ({}); retry later",
                app.config().socket.max_connections
            ),
        )
        .with_retry_after(std::time::Duration::from_secs(1))
        .into_response();
    };
    let hard_cap = socket::hard_cap(app.config().hub.limits.max_frame_bytes);
    upgrade
        .protocols([codec.subprotocol()])
        .read_buffer_size(app.config().socket.ws_read_buffer_bytes)
        .max_message_size(hard_cap)
        .max_frame_size(hard_cap)
        .on_upgrade(move |socket| {
            let tracker = app.tracker().clone();
            tracker.track_future(async move {
                run(app, socket, codec, identity, client).await;
                drop(slot);
            })
        })
}

/// Picks the codec from `Sec-WebSocket-Protocol`, or says why an offer of only unknown names is
/// refused.
fn negotiate(headers: &HeaderMap) -> Result<Codec, String> {
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect();
    if offered.is_empty() {
        return Ok(Codec::Json);
    }
    offered
        .iter()
        .find_map(|name| Codec::from_subprotocol(name))
        .ok_or_else(|| {
            format!(
                "unsupported WebSocket subprotocol {}; use {} or {}",
                offered.join(", "),
                Codec::Json.subprotocol(),
                Codec::MsgPack.subprotocol()
            )
        })
}

/// Serves one upgraded socket. Not `async`: the socket is split first, so the connection's
/// future (kept for its whole life) holds the two halves, not the `WebSocket` it was built from
/// (an async fn keeps its arguments in its state, and the socket is about 2 KB).
fn run(
    app: AppState,
    socket: WebSocket,
    codec: Codec,
    identity: Option<Identity>,
    client: IpAddr,
) -> impl std::future::Future<Output = ()> {
    let (sink, stream) = socket.split();
    let sink = WebSocketSink::new(sink, Wire::Native(codec));
    serve(app, sink, WebSocketSource(stream), codec, identity, client)
}

/// Serves one connection of the native protocol over any carrier (a WebSocket, or a QUIC
/// stream from `super::quic`): authenticates it unless `identity` was checked already, joins
/// it to the hub as a `Session`, and runs the reader here and the writer (`socket::drain`) in
/// its own task until either ends.
pub(crate) async fn serve<K: FrameSink, R: FrameSource>(
    app: AppState,
    mut sink: K,
    mut stream: R,
    codec: Codec,
    identity: Option<Identity>,
    client: IpAddr,
) {
    let (identity, auth_ref) = match identity {
        Some(identity) => (identity, None),
        // Boxed: the authentication step's state (JWKS, directory look-ups) is freed once it
        // ends instead of sizing the future every open socket keeps (3.3 KiB → 1.2 KiB).
        None => match Box::pin(authenticate(&app, codec, &mut sink, &mut stream)).await {
            Some(authenticated) => authenticated,
            None => return,
        },
    };
    let Some(_tenant_slot) = app.reserve_tenant_socket(&identity.tenant) else {
        sink.close(Some(CloseCode::OverCapacity), None).await;
        return;
    };
    let span = tracing::debug_span!("conn", tenant = %identity.tenant, user = %identity.user);
    let _entered = span.enter();
    let (mut session, frames) = app.hub().connect(identity, Wire::Native(codec));
    let handle = Arc::clone(session.handle());
    if let Some(datagrams) = sink.datagrams() {
        handle.attach_datagrams(datagrams);
    }
    session.send(&welcome(&app, &session, auth_ref));

    let last_seen = Arc::new(LastSeen::new());
    let writer = tokio::spawn(socket::drain(
        sink,
        frames,
        Arc::clone(&handle),
        app.config().socket.heartbeat,
        Arc::clone(&last_seen),
        app.shutdown().clone(),
    ));
    read_loop(&app, &mut session, &mut stream, &last_seen, client).await;
    // Leave every room now (presence must not wait for the close handshake), then let the
    // writer send the close frame.
    drop(session);
    handle.finish();
    if let Err(cause) = writer.await {
        tracing::error!(%cause, "writer task failed");
    }
}

fn welcome(app: &AppState, session: &Session, reference: Option<Ref>) -> ServerMessage {
    let config = app.config();
    let identity = session.identity();
    ServerMessage::Welcome(Welcome {
        reference,
        conn_id: session.handle().id.to_string(),
        user: identity.user.clone(),
        tenant: identity.tenant.clone(),
        role: identity.role.as_str().to_owned(),
        heartbeat_ms: config.socket.heartbeat.as_millis() as u64,
        limits: WireLimits {
            max_frame_bytes: config.hub.limits.max_frame_bytes as u64,
            max_room_id_len: config.hub.limits.max_room_id_len as u64,
            max_payload_depth: config.hub.limits.max_payload_depth as u64,
            publish_per_sec: u64::from(config.socket.publish_rate),
            publish_burst: u64::from(config.socket.publish_burst),
            max_rooms: config.hub.max_rooms_per_conn as u64,
            max_event_id_len: config.hub.limits.max_event_id_len as u64,
        },
    })
}

/// Waits for an `auth` frame. Answers `ping`, refuses everything else with `unauthenticated`.
async fn authenticate<K: FrameSink, R: FrameSource>(
    app: &AppState,
    codec: Codec,
    sink: &mut K,
    stream: &mut R,
) -> Option<(Identity, Option<Ref>)> {
    let deadline = tokio::time::sleep(app.config().socket.auth_timeout);
    tokio::pin!(deadline);
    loop {
        let next = tokio::select! {
            _ = &mut deadline => {
                sink.close(Some(CloseCode::AuthTimeout), None).await;
                return None;
            }
            _ = app.shutdown().cancelled() => {
                sink.close(Some(CloseCode::Reconnect), None).await;
                return None;
            }
            next = stream.next_frame() => next,
        };
        let (bytes, binary) = match next {
            Inbound::Closed | Inbound::TooLarge { announced: None } => return None,
            Inbound::TooLarge {
                announced: Some(length),
            } => {
                let error = too_large_error(app, length);
                let _sent = sink.send_frame(native_frame(codec, &error)).await;
                sink.close(Some(CloseCode::FrameTooLarge), None).await;
                return None;
            }
            Inbound::Frame { bytes, binary } => (bytes, binary),
            Inbound::Control => continue,
        };
        let answer = match decode(app, codec, &bytes, binary) {
            Err(error) => ServerMessage::Error(error),
            Ok(Decoded {
                message: ClientMessage::Auth { reference, token },
                ..
            }) => match app.authenticate_socket(&token).await {
                Ok(identity) => return Some((identity, reference)),
                Err(cause) => {
                    let error = error_frame(reference, cause.error_code(), cause.to_string());
                    let _sent = sink.send_frame(native_frame(codec, &error)).await;
                    sink.close(Some(CloseCode::AuthFailed), None).await;
                    return None;
                }
            },
            Ok(Decoded {
                message: ClientMessage::Ping { reference },
                ..
            }) => ServerMessage::Pong(Pong { reference }),
            Ok(Decoded { message, .. }) => error_frame(
                message.reference().cloned(),
                ErrorCode::Unauthenticated,
                ErrorCode::Unauthenticated.sentence().to_owned(),
            ),
        };
        if sink.send_frame(native_frame(codec, &answer)).await.is_err() {
            return None;
        }
    }
}

async fn read_loop<R: FrameSource>(
    app: &AppState,
    session: &mut Session,
    stream: &mut R,
    last_seen: &LastSeen,
    client: IpAddr,
) {
    let handle = Arc::clone(session.handle());
    let throttle = Throttle::new(&app.config().socket);
    let mut pending = Pending::default();
    // Made once: each `closed()` call registers with the token, which takes a lock.
    let closed = handle.closed();
    tokio::pin!(closed);
    let mut rules = session.rules_watch();
    let expiry = tokio::time::sleep_until(super::socket::deadline_or_far(session.deadline()));
    tokio::pin!(expiry);
    loop {
        let next = tokio::select! {
            biased;
            _ = &mut closed => return,
            Ok(()) = rules.changed() => {
                app.recheck(session);
                continue;
            }
            _ = &mut expiry => {
                app.recheck(session);
                expiry.as_mut().reset(super::socket::deadline_or_far(session.deadline()));
                continue;
            }
            Some((reference, seq, outcome)) = pending.acks.next(), if !pending.acks.is_empty() => {
                if let Some(answer) = durable_answer(reference, seq, outcome) {
                    session.send(&answer);
                }
                continue;
            }
            Some((reference, screened)) = pending.chats.next(), if !pending.chats.is_empty() => {
                let answer = match screened {
                    Ok(draft) => post_chat(app, &mut pending, reference, draft),
                    Err(refusal) => Some(chat_refusal(reference, &refusal)),
                };
                if let Some(answer) = answer {
                    session.send(&answer);
                }
                continue;
            }
            next = stream.next_frame() => next,
        };
        let (bytes, binary) = match next {
            Inbound::Closed => return,
            Inbound::TooLarge { announced } => {
                if let Some(length) = announced {
                    session.send(&too_large_error(app, length));
                }
                handle.close(CloseCode::FrameTooLarge);
                return;
            }
            Inbound::Frame { bytes, binary } => (bytes, binary),
            Inbound::Control => {
                last_seen.touch();
                continue;
            }
        };
        last_seen.touch();
        let reauth = handle_frame(
            app,
            session,
            &throttle,
            &mut pending,
            &bytes,
            binary,
            client,
        );
        if let Some((reference, token)) = reauth {
            // Boxed, like the first authentication: verifying a token (JWKS, the directory)
            // is a large future, and every open socket's state would otherwise be sized for it.
            Box::pin(reauthenticate(app, session, reference, &token)).await;
            expiry
                .as_mut()
                .reset(super::socket::deadline_or_far(session.deadline()));
        }
    }
}

/// An `auth` frame on an open connection: a fresh token of the same user replaces the old one
/// (its role and expiry), then everything the connection holds is re-checked.
async fn reauthenticate(
    app: &AppState,
    session: &mut Session,
    reference: Option<Ref>,
    token: &str,
) {
    let answer = match app.authenticate_socket(token).await {
        Ok(identity) => match app.reauthenticate(session, identity) {
            Ok(_) => reply(reference, None),
            Err(refusal) => Some(error_frame(
                reference,
                ErrorCode::AlreadyAuthenticated,
                refusal,
            )),
        },
        Err(cause) => Some(error_frame(
            reference,
            cause.error_code(),
            cause.to_string(),
        )),
    };
    if let Some(answer) = answer {
        session.send(&answer);
    }
}

fn decode(app: &AppState, codec: Codec, bytes: &[u8], binary: bool) -> Result<Decoded, ErrorBody> {
    if binary != codec.is_binary() {
        metrics::counter!("classhub_frames_in_total", "type" => "invalid").increment(1);
        let sentence = ErrorCode::WrongFrameKind.sentence().to_owned();
        return Err(error_body(None, ErrorCode::WrongFrameKind, sentence));
    }
    match codec.decode(bytes, &app.config().hub.limits) {
        Ok(decoded) => {
            metrics::counter!("classhub_frames_in_total", "type" => decoded.message.type_name())
                .increment(1);
            Ok(decoded)
        }
        Err(error) => {
            metrics::counter!("classhub_frames_in_total", "type" => "invalid").increment(1);
            Err(error_body(error.reference, error.code, error.message))
        }
    }
}

/// The answer to a durable publish once its commit is known.
fn durable_answer(
    reference: Option<Ref>,
    seq: u64,
    outcome: Result<(), SinkError>,
) -> Option<ServerMessage> {
    match outcome {
        Ok(()) => reply(reference, Some(seq)),
        Err(error @ SinkError::Rejected(_)) => Some(error_frame(
            reference,
            ErrorCode::InvalidMessage,
            error.to_string(),
        )),
        Err(error @ (SinkError::Unavailable | SinkError::Stopped)) => Some(error_frame(
            reference,
            ErrorCode::Unavailable,
            error.to_string(),
        )),
    }
}

/// Handles one frame; an `auth` frame is handed back (its token is checked asynchronously).
fn handle_frame(
    app: &AppState,
    session: &mut Session,
    throttle: &Throttle,
    pending: &mut Pending,
    bytes: &[u8],
    binary: bool,
    client: IpAddr,
) -> Option<(Option<Ref>, String)> {
    let Wire::Native(codec) = session.handle().wire else {
        tracing::error!("a native-protocol socket without a native wire");
        return None;
    };
    let Decoded { message, room } = match decode(app, codec, bytes, binary) {
        Ok(decoded) => decoded,
        Err(error) => {
            if !throttle.refused(session.handle()) {
                session.send(&ServerMessage::Error(error));
            }
            return None;
        }
    };
    let reference = message.reference().cloned();
    let handle = Arc::clone(session.handle());
    // The frame budget, for the frames that change what the hub holds.
    let rate_limited = |reference: &Option<Ref>| match throttle.frame(&handle) {
        Verdict::Go => None,
        Verdict::Refused { retry_after_ms } => {
            Some(Some(rate_limit_error(reference, retry_after_ms)))
        }
        Verdict::CutOff => Some(None),
    };
    let answer = match (message, room) {
        (ClientMessage::Auth { reference, token }, _) => return Some((reference, token)),
        (ClientMessage::Ping { reference }, _) => Some(ServerMessage::Pong(Pong { reference })),
        (
            ClientMessage::Join {
                reference,
                since,
                presence,
                ..
            },
            Some(room),
        ) => match rate_limited(&reference) {
            Some(refusal) => refusal,
            None => session
                .join(room, since, presence, reference.clone())
                .err()
                .map(|error| error_frame(reference, error.error_code(), error.to_string())),
        },
        (ClientMessage::Leave { reference, .. }, Some(room)) => match rate_limited(&reference) {
            Some(refusal) => refusal,
            None => match session.leave(&room) {
                Ok(()) => reply(reference, None),
                Err(error) => Some(error_frame(
                    reference,
                    error.error_code(),
                    error.to_string(),
                )),
            },
        },
        (
            ClientMessage::Publish {
                reference,
                kind,
                data,
                id,
                ephemeral,
                ..
            },
            Some(room),
        ) => {
            if let Some(refusal) = rate_limited(&reference) {
                refusal
            } else if ephemeral {
                match session.publish_ephemeral(&room, kind, data) {
                    Ok(_) => reply(reference, None),
                    Err(error) => Some(error_frame(
                        reference,
                        error.error_code(),
                        error.to_string(),
                    )),
                }
            } else if kind == "chat" {
                admit_chat(
                    app,
                    session,
                    pending,
                    reference,
                    &room,
                    &data,
                    id.as_deref(),
                )
            } else {
                // A command is audited like one sent over REST (`platform/commands.rs`).
                // A reward is also recorded in the ledger (`platform/rewards.rs`).
                let command = CommandKind::parse(&kind).map(|command| {
                    let student = data.get("target").and_then(Value::as_str);
                    let reward = (command == CommandKind::Reward).then(|| data.clone());
                    (command, student.map(str::to_owned), reward)
                });
                let published = session.publish(&room, kind, data, id);
                if let (Ok(&Published { seq, .. }), Some((command, student, reward))) =
                    (published.as_ref(), command)
                {
                    audit_command(
                        app,
                        session.identity(),
                        client,
                        &room,
                        seq,
                        (command, student),
                        reward,
                    );
                }
                match published {
                    Ok(published) => pending.answer(reference, published),
                    Err(error) => Some(error_frame(
                        reference,
                        error.error_code(),
                        error.to_string(),
                    )),
                }
            }
        }
        (
            ClientMessage::Presence {
                reference, state, ..
            },
            Some(room),
        ) => {
            if let Some(refusal) = rate_limited(&reference) {
                refusal
            } else {
                match session.set_presence(&room, state) {
                    Ok(()) => reply(reference, None),
                    Err(error) => Some(error_frame(
                        reference,
                        error.error_code(),
                        error.to_string(),
                    )),
                }
            }
        }
        (
            ClientMessage::Join { .. }
            | ClientMessage::Leave { .. }
            | ClientMessage::Publish { .. }
            | ClientMessage::Presence { .. },
            None,
        ) => {
            tracing::error!("decoder returned a room message without its room");
            Some(error_frame(
                reference,
                ErrorCode::Internal,
                ErrorCode::Internal.sentence().to_owned(),
            ))
        }
    };
    if let Some(answer) = answer {
        // Any other refusal spends the refusal budget too (the rate limit's already did).
        let refused = matches!(&answer, ServerMessage::Error(body)
            if body.code != ErrorCode::RateLimited.code());
        if refused && throttle.refused(&handle) {
            return None;
        }
        session.send(&answer);
    }
    None
}

/// A `chat` publish: the chat rule (`crate::chat`), then at once or after its moderation
/// verdict, shown or held; answered with a `reply` once stored.
fn admit_chat(
    app: &AppState,
    session: &Session,
    pending: &mut Pending,
    reference: Option<Ref>,
    room: &RoomId,
    data: &Value,
    id: Option<&str>,
) -> Option<ServerMessage> {
    let joined = session.has_joined(room);
    match app
        .chat()
        .admit(app, session.identity(), room, data, (id, joined))
    {
        Err(refusal) => Some(chat_refusal(reference, &refusal)),
        Ok(draft) if draft.is_pending() => {
            let app = app.clone();
            pending.chats.push_back(Box::pin(async move {
                let screened = chat::screen(&app, draft).await;
                (reference, screened)
            }));
            None
        }
        Ok(draft) => post_chat(app, pending, reference, draft),
    }
}

/// Shows or holds a screened chat message; the reply waits for its commit.
fn post_chat(
    app: &AppState,
    pending: &mut Pending,
    reference: Option<Ref>,
    draft: chat::Draft,
) -> Option<ServerMessage> {
    match chat::post(app, draft) {
        Ok(posted) => pending.answer(reference, posted.published),
        Err(refusal) => Some(chat_refusal(reference, &refusal)),
    }
}

/// The error frame of a refused chat message (counted).
fn chat_refusal(reference: Option<Ref>, refusal: &chat::ChatRefusal) -> ServerMessage {
    chat::refused(refusal);
    ServerMessage::Error(ErrorBody {
        reference,
        code: refusal.error_code().code(),
        message: refusal.to_string(),
        retry_after_ms: refusal.retry_after_ms(),
    })
}

/// The `rate_limited` error: when the frame budget allows the next one.
fn rate_limit_error(reference: &Option<Ref>, retry_after_ms: u64) -> ServerMessage {
    ServerMessage::Error(ErrorBody {
        reference: reference.clone(),
        code: ErrorCode::RateLimited.code(),
        message: format!(
            "rate limit reached (publish, presence, join and leave frames share it); retry after {retry_after_ms} ms; a connection that keeps sending is closed (4103)"
        ),
        retry_after_ms: Some(retry_after_ms),
    })
}

/// A `reply` when the client asked for one (by sending a `ref`).
fn reply(reference: Option<Ref>, seq: Option<u64>) -> Option<ServerMessage> {
    reference.map(|reference| ServerMessage::Reply(Reply { reference, seq }))
}

fn error_frame(reference: Option<Ref>, code: ErrorCode, message: String) -> ServerMessage {
    ServerMessage::Error(error_body(reference, code, message))
}

fn error_body(reference: Option<Ref>, code: ErrorCode, message: String) -> ErrorBody {
    let retry_after_ms = code.is_retryable().then_some(1000);
    ErrorBody {
        reference,
        code: code.code(),
        message,
        retry_after_ms,
    }
}

/// A message encoded for this connection before it has a session (the authentication phase).
fn native_frame(codec: Codec, message: &ServerMessage) -> Bytes {
    crate::hub::encode(Wire::Native(codec), message).unwrap_or_default()
}

/// The error a frame announced over the size limit earns before the connection is closed
/// (4009): its length cannot be skipped without reading it.
fn too_large_error(app: &AppState, length: u64) -> ServerMessage {
    error_frame(
        None,
        ErrorCode::FrameTooLarge,
        format!(
            "frame is {length} bytes; the limit is {} bytes; closing the connection (4009)",
            app.config().hub.limits.max_frame_bytes
        ),
    )
}

/// Records a command published over `/ws` in the audit trail (and a reward in the ledger),
/// without holding up the socket.
fn audit_command(
    app: &AppState,
    identity: &Identity,
    client: IpAddr,
    room: &RoomId,
    seq: u64,
    (command, student): (CommandKind, Option<String>),
    reward: Option<Value>,
) {
    let app = app.clone();
    let identity = identity.clone();
    let room = room.clone();
    tokio::spawn(async move {
        let actor = Actor::socket(&identity, client);
        let target = Target {
            kind: if room.kind() == RoomKind::Game {
                "game"
            } else {
                "class"
            },
            id: room.local_id(),
            student: student.as_deref(),
        };
        let detail = serde_json::json!({"kind": command.as_str(), "seq": seq, "via": "ws"});
        audit::record_by(&app, actor, "command.sent", target, Some(detail)).await;
        if let Some(data) = reward {
            let tenant = room.tenant();
            let class = match room.kind() {
                RoomKind::Class => Some(room.local_id().to_owned()),
                _ => app.hub().rosters().class_of_game(tenant, room.local_id()),
            };
            let key = format!("{room}:{seq}");
            crate::platform::rewards::record_command(
                &app,
                tenant,
                class.as_deref(),
                &identity.user,
                &key,
                &data,
            )
            .await;
        }
    });
}
