//! Pusher Channels protocol 7 over WebSocket: `GET /app/{key}?protocol=7`, so that pusher-js
//! works against classhub unchanged. Another front door into the same hub: channels are rooms
//! (`protocol::pusher::room_for_channel`), and a Pusher socket is a hub connection whose wire is
//! `Wire::Pusher`, so native publishes reach it and its client events reach native members.
//!
//! Subscriptions: public channels need nothing; `private-` channels an `auth` signed over
//! `socket_id:channel`, `presence-` channels one over `socket_id:channel:channel_data`, made by
//! `/pusher/auth` (see `pusher_api.rs`) with the tenant's app secret. The signature is the
//! authorization, so the hub's role check is skipped for them (`Session::join_signed`); the
//! tenant is still the app's. When classhub signed it (`/pusher/auth` notes for whom on the
//! socket's handle), the subscription is re-checked against that person's rights now, at
//! subscribe time and whenever the tenant's rules change or their token expires: a socket
//! holding a subscription no longer allowed is closed with 4009. Client events (`client-…`) go to private and presence channels
//! the socket joined, never back to the sender, at most `pusher-client-event-rate` per second
//! (over it: `pusher:error` 4301). Errors and close codes follow the protocol's ranges.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota};
use protocol::pusher::{
    self, ChannelKind, PusherClose, PusherFrame, channel_kind, room_for_channel, sign,
    validate_channel,
};
use protocol::{CloseCode, RoomId};
use serde::Deserialize;
use serde_json::{Value, json};

use super::socket::{self, LastSeen, Sink, Stream, write_loop};
use crate::api::ClientIp;
use crate::app::AppState;
use crate::auth::{Identity, Role};
use crate::hub::{ConnHandle, MemberAs, Session, Wire};
use crate::transport::pusher_apps::{PusherApp, check_auth};
use crate::transport::throttle::{Throttle, Verdict};

/// Query parameters of `GET /app/{key}`.
#[derive(Debug, Deserialize)]
pub struct PusherQuery {
    /// The protocol version; classhub speaks 7.
    protocol: Option<u32>,
}

/// `GET /app/{key}`: upgrades, then refuses over the socket (as Pusher does) when the key, the
/// protocol or the capacity is wrong.
pub async fn upgrade(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    Path(key): Path<String>,
    Query(query): Query<PusherQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let hard_cap = socket::hard_cap(app.config().hub.limits.max_frame_bytes);
    upgrade
        .read_buffer_size(app.config().socket.ws_read_buffer_bytes)
        .max_message_size(hard_cap)
        .max_frame_size(hard_cap)
        .on_upgrade(move |socket| {
            let tracker = app.tracker().clone();
            tracker.track_future(run(app, socket, key, query.protocol, client))
        })
}

/// Serves one upgraded socket. Not `async`: the socket is split first, so the connection's
/// future (kept for its whole life) holds the two halves, not the `WebSocket` it was built from
/// (an async fn keeps its arguments in its state).
fn run(
    app: AppState,
    socket: WebSocket,
    key: String,
    protocol: Option<u32>,
    ip: IpAddr,
) -> impl std::future::Future<Output = ()> {
    let (sink, stream) = socket.split();
    serve(app, sink, stream, key, protocol, ip)
}

async fn serve(
    app: AppState,
    mut sink: Sink,
    mut stream: Stream,
    key: String,
    protocol: Option<u32>,
    ip: IpAddr,
) {
    if protocol != Some(pusher::PROTOCOL) {
        return refuse(&mut sink, PusherClose::UnsupportedProtocol).await;
    }
    let Some(pusher_app) = app.apps().by_key(&key) else {
        return refuse(&mut sink, PusherClose::UnknownApp).await;
    };
    if app.shutdown().is_cancelled() {
        return refuse(&mut sink, PusherClose::Reconnect).await;
    }
    let Some(_slot) = app.reserve_socket() else {
        return refuse(&mut sink, PusherClose::OverCapacity).await;
    };
    // Anyone with the public app key can open one: capped per client IP and per tenant.
    let Some(_ip_slot) = app.reserve_pusher_ip(ip) else {
        return refuse(&mut sink, PusherClose::OverCapacity).await;
    };
    let Some(_tenant_slot) = app.reserve_tenant_socket(&pusher_app.tenant) else {
        return refuse(&mut sink, PusherClose::OverCapacity).await;
    };
    let identity = Identity {
        user: "pusher".into(),
        tenant: pusher_app.tenant.clone(),
        role: Role::Guest,
        name: None,
        children: Vec::new(),
        expires_at: None,
    };
    let (mut session, frames) = app.hub().connect(identity, Wire::Pusher);
    let handle = Arc::clone(session.handle());
    let socket_id = format!("{}.{}", app.node_id(), handle.id);
    let span = tracing::debug_span!("pusher", tenant = %pusher_app.tenant, socket = %socket_id);
    let _entered = span.enter();
    let activity_timeout = app.config().pusher.activity_timeout;
    send(
        &handle,
        &pusher::connection_established(&socket_id, activity_timeout.as_secs()),
    );

    let last_seen = Arc::new(LastSeen::new());
    let writer = tokio::spawn(write_loop(
        sink,
        frames,
        Arc::clone(&handle),
        activity_timeout,
        Arc::clone(&last_seen),
        app.shutdown().clone(),
    ));
    let rate = NonZeroU32::new(app.config().pusher.client_event_rate).unwrap_or(NonZeroU32::MIN);
    let mut connection = PusherConnection {
        app: pusher_app,
        socket_id,
        signed_in: None,
        members: HashMap::new(),
        client_events: crate::transport::throttle::limiter(Quota::per_second(rate)),
        throttle: Throttle::new(&app.config().socket),
        max_room_id_len: app.config().hub.limits.max_room_id_len,
    };
    read_loop(&app, &mut connection, &mut session, &mut stream, &last_seen).await;
    if let Some(user) = &connection.signed_in {
        app.pusher_users()
            .remove(&connection.app.tenant, user, handle.id);
    }
    drop(session);
    handle.finish();
    if let Err(cause) = writer.await {
        tracing::error!(%cause, "writer task failed");
    }
}

/// Sends `pusher:error` with the close code, then closes with it.
async fn refuse(sink: &mut Sink, close: PusherClose) {
    let error = pusher::error(Some(close.code()), close.reason());
    if let Ok(text) = serde_json::to_string(&error) {
        let _sent = sink.send(Message::Text(Utf8Bytes::from(text))).await;
    }
    socket::send_close(
        sink,
        CloseFrame {
            code: close.code(),
            reason: Utf8Bytes::from_static(close.reason()),
        },
    )
    .await;
}

/// Per-socket Pusher state the hub does not keep.
struct PusherConnection {
    app: PusherApp,
    socket_id: String,
    /// The user id of a `pusher:signin`, once signed in.
    signed_in: Option<String>,
    /// The user each joined channel room knows this socket as.
    members: HashMap<RoomId, String>,
    client_events: DefaultDirectRateLimiter,
    /// The frame budget (`pusher:subscribe` spends the `/ws` join limit) and the refusal
    /// budget every refused frame spends.
    throttle: Throttle,
    max_room_id_len: usize,
}

/// Queues a frame for this socket alone.
fn send(handle: &ConnHandle, frame: &PusherFrame) {
    match serde_json::to_string(frame) {
        Ok(text) => {
            handle.offer(Bytes::from(text));
        }
        Err(cause) => tracing::error!(%cause, "encoding a pusher frame failed"),
    }
}

async fn read_loop(
    app: &AppState,
    connection: &mut PusherConnection,
    session: &mut Session,
    stream: &mut Stream,
    last_seen: &LastSeen,
) {
    let handle = Arc::clone(session.handle());
    let closed = handle.closed();
    tokio::pin!(closed);
    let mut rules = session.rules_watch();
    let expiry = tokio::time::sleep_until(socket::deadline_or_far(session.deadline()));
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
                expiry.as_mut().reset(socket::deadline_or_far(session.deadline()));
                continue;
            }
            next = stream.next() => next,
        };
        let message = match next {
            None | Some(Err(_)) => return,
            Some(Ok(message)) => message,
        };
        last_seen.touch();
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                if !connection.throttle.refused(&handle) {
                    send(&handle, &pusher::error(None, "send JSON text frames"));
                }
                continue;
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => return,
        };
        if text.len() > app.config().hub.limits.max_frame_bytes {
            if !connection.throttle.refused(&handle) {
                send(&handle, &pusher::error(None, "message too large"));
            }
            continue;
        }
        match pusher::decode_frame(&text, app.config().hub.limits.max_payload_depth) {
            Ok(frame) => {
                metrics::counter!("classhub_frames_in_total", "type" => "pusher").increment(1);
                handle_frame(app, connection, session, frame);
                // A subscription may have brought a signer whose token expires sooner.
                expiry
                    .as_mut()
                    .reset(socket::deadline_or_far(session.deadline()));
            }
            Err(refusal) => {
                if !connection.throttle.refused(&handle) {
                    send(&handle, &pusher::error(None, &refusal));
                }
            }
        }
    }
}

fn handle_frame(
    app: &AppState,
    connection: &mut PusherConnection,
    session: &mut Session,
    frame: PusherFrame,
) {
    let handle = Arc::clone(session.handle());
    match frame.event.as_str() {
        "pusher:ping" => send(
            &handle,
            &PusherFrame {
                event: "pusher:pong".into(),
                channel: None,
                data: Value::String("{}".into()),
                user_id: None,
            },
        ),
        "pusher:pong" => {}
        "pusher:subscribe" => {
            let data = data_object(&frame.data);
            let channel = data
                .get("channel")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let refusal = match connection.throttle.frame(&handle) {
                Verdict::CutOff => return,
                Verdict::Refused { retry_after_ms } => Some((
                    "LimitReached",
                    format!(
                        "too many subscriptions in too short a time; subscribe again in {retry_after_ms} ms"
                    ),
                    429,
                )),
                Verdict::Go => None,
            };
            let refusal = if refusal.is_some() {
                refusal
            } else {
                subscribe(app, connection, session, &channel, &data)
                    .err()
                    .map(|reason| ("AuthError", reason, 401))
            };
            if let Some((kind, reason, status)) = refusal {
                // Any other refusal spends the refusal budget too (the rate limit's already did).
                if kind != "LimitReached" && connection.throttle.refused(&handle) {
                    return;
                }
                send(
                    &handle,
                    &PusherFrame {
                        event: "pusher:subscription_error".into(),
                        channel: Some(channel),
                        data: json!({"type": kind, "error": reason, "status": status}),
                        user_id: None,
                    },
                );
            }
        }
        "pusher:unsubscribe" => {
            let data = data_object(&frame.data);
            let channel = data
                .get("channel")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if let Ok(room) =
                room_for_channel(&connection.app.tenant, channel, connection.max_room_id_len)
                && connection.members.remove(&room).is_some()
            {
                // Not joined is not an error for unsubscribe.
                let _left = session.leave(&room);
            }
        }
        "pusher:signin" => {
            let data = data_object(&frame.data);
            let auth = data.get("auth").and_then(Value::as_str).unwrap_or_default();
            let user_data = data
                .get("user_data")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let user_id = serde_json::from_str::<Value>(user_data)
                .ok()
                .and_then(|user| user.get("id").and_then(Value::as_str).map(str::to_owned));
            match user_id {
                Some(user)
                    if check_auth(
                        &connection.app,
                        auth,
                        &sign::user_string(&connection.socket_id, user_data),
                    ) =>
                {
                    if let Some(previous) = connection.signed_in.replace(user.clone()) {
                        app.pusher_users()
                            .remove(&connection.app.tenant, &previous, handle.id);
                    }
                    app.pusher_users()
                        .add(&connection.app.tenant, &user, Arc::clone(&handle));
                    send(
                        &handle,
                        &PusherFrame {
                            event: "pusher:signin_success".into(),
                            channel: None,
                            data: json!({"user_data": user_data}),
                            user_id: None,
                        },
                    );
                }
                _ => send(
                    &handle,
                    &pusher::error(
                        Some(4009),
                        "Invalid signin: bad auth or user_data without an id",
                    ),
                ),
            }
        }
        event if event.starts_with("client-") => client_event(connection, session, frame),
        other => send(
            &handle,
            &pusher::error(None, &format!("unsupported event {other:?}")),
        ),
    }
}

fn data_object(data: &Value) -> serde_json::Map<String, Value> {
    match data {
        Value::Object(fields) => fields.clone(),
        // Some clients send `data` as a JSON string.
        Value::String(text) => serde_json::from_str(text).unwrap_or_default(),
        _ => serde_json::Map::new(),
    }
}

fn subscribe(
    app: &AppState,
    connection: &mut PusherConnection,
    session: &mut Session,
    channel: &str,
    data: &serde_json::Map<String, Value>,
) -> Result<(), String> {
    validate_channel(channel)?;
    let room = room_for_channel(&connection.app.tenant, channel, connection.max_room_id_len)
        .map_err(|cause| format!("channel {channel:?} maps to no room: {cause}"))?;
    let auth = data.get("auth").and_then(Value::as_str).unwrap_or_default();
    // A subscription classhub signed is re-checked against its signer's rights now (below, by
    // `join_signed`), and the socket is present with the signer's role (which decides, for
    // one, whether it sees events about one student).
    let signer = match channel_kind(channel) {
        ChannelKind::Public => None,
        _ => match session.handle().signer_of(&room) {
            Some(signer) => Some(Arc::new(app.standing(&signer)?)),
            None => None,
        },
    };
    let signed_role = signer.as_ref().map(|signer| signer.role);
    let anonymous = || MemberAs {
        user: connection
            .signed_in
            .clone()
            .unwrap_or_else(|| connection.socket_id.clone()),
        name: None,
        role: signed_role.unwrap_or(Role::Guest),
    };
    let (member, presence) = match channel_kind(channel) {
        ChannelKind::Public => (anonymous(), None),
        ChannelKind::Private => {
            if !check_auth(
                &connection.app,
                auth,
                &sign::channel_string(&connection.socket_id, channel, None),
            ) {
                return Err(format!(
                    "Invalid signature for {channel}: sign socket_id:channel_name with the app secret"
                ));
            }
            (anonymous(), None)
        }
        ChannelKind::Presence => {
            let channel_data = data
                .get("channel_data")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !check_auth(
                &connection.app,
                auth,
                &sign::channel_string(&connection.socket_id, channel, Some(channel_data)),
            ) {
                return Err(format!(
                    "Invalid signature for {channel}: sign socket_id:channel_name:channel_data with the app secret"
                ));
            }
            let parsed: Value = serde_json::from_str(channel_data)
                .map_err(|_| "channel_data is not JSON".to_owned())?;
            let user = match parsed.get("user_id") {
                Some(Value::String(user)) if !user.is_empty() => user.clone(),
                Some(Value::Number(number)) => number.to_string(),
                _ => return Err("channel_data needs a user_id".into()),
            };
            let info = match parsed.get("user_info") {
                Some(Value::Object(info)) => info.clone(),
                _ => serde_json::Map::new(),
            };
            let name = info.get("name").and_then(Value::as_str).map(str::to_owned);
            let role = signed_role.unwrap_or(match info.get("role").and_then(Value::as_str) {
                Some("student") => Role::Student,
                Some("educator") => Role::Educator,
                Some("parent") => Role::Parent,
                Some("admin") => Role::Admin,
                _ => Role::Guest,
            });
            (MemberAs { user, name, role }, Some(Value::Object(info)))
        }
        ChannelKind::Encrypted => {
            return Err("encrypted channels are not supported by classhub".into());
        }
    };
    session
        .join_signed(room.clone(), &member, presence, signer)
        .map_err(|error| error.to_string())?;
    connection.members.insert(room, member.user);
    Ok(())
}

fn client_event(connection: &mut PusherConnection, session: &mut Session, frame: PusherFrame) {
    let handle = Arc::clone(session.handle());
    let channel = frame.channel.unwrap_or_default();
    if !matches!(
        channel_kind(&channel),
        ChannelKind::Private | ChannelKind::Presence
    ) {
        send(
            &handle,
            &pusher::error(
                None,
                "client events are only allowed on private and presence channels",
            ),
        );
        return;
    }
    let Ok(room) = room_for_channel(&connection.app.tenant, &channel, connection.max_room_id_len)
    else {
        send(&handle, &pusher::error(None, "unknown channel"));
        return;
    };
    let Some(member) = connection.members.get(&room) else {
        send(
            &handle,
            &pusher::error(
                None,
                &format!("subscribe to {channel} before triggering client events on it"),
            ),
        );
        return;
    };
    if connection.client_events.check().is_err() {
        if connection.throttle.refused(&handle) {
            return;
        }
        send(
            &handle,
            &pusher::error(
                Some(pusher::CLIENT_EVENT_RATE_LIMIT),
                "Client event rejected: too many client events per second",
            ),
        );
        return;
    }
    if let Err(error) = session.publish_client_event(&room, frame.event, frame.data, member.clone())
    {
        send(&handle, &pusher::error(None, &error.to_string()));
    }
}

/// Signed-in Pusher sockets by (tenant, user id), for `terminate_connections`. Entries are
/// added by `pusher:signin` and removed when the socket ends.
#[derive(Debug, Default)]
pub struct PusherUsers {
    sockets: dashmap::DashMap<(String, String), Vec<Arc<ConnHandle>>>,
}

impl PusherUsers {
    fn add(&self, tenant: &str, user: &str, handle: Arc<ConnHandle>) {
        self.sockets
            .entry((tenant.to_owned(), user.to_owned()))
            .or_default()
            .push(handle);
    }

    fn remove(&self, tenant: &str, user: &str, conn_id: u64) {
        let key = (tenant.to_owned(), user.to_owned());
        if let Some(mut sockets) = self.sockets.get_mut(&key) {
            sockets.retain(|handle| handle.id != conn_id);
        }
        self.sockets
            .remove_if(&key, |_, sockets| sockets.is_empty());
    }

    /// Closes every socket of a signed-in user (Pusher close 4009); returns how many.
    pub fn terminate(&self, tenant: &str, user: &str) -> usize {
        let key = (tenant.to_owned(), user.to_owned());
        let sockets = self
            .sockets
            .get(&key)
            .map(|sockets| sockets.clone())
            .unwrap_or_default();
        for handle in &sockets {
            handle.close(CloseCode::AuthFailed);
        }
        sockets.len()
    }
}
