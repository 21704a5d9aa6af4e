//! The HTTP half of the Pusher compatibility: the auth endpoints pusher-js calls
//! (`POST /pusher/auth`, `POST /pusher/user-auth`, authenticated by the platform JWT), and the
//! Pusher HTTP API the platform backend calls through the Pusher server libraries (`/apps/{id}/…`,
//! authenticated by Pusher request signing).
//!
//! Request signing: `auth_key` must be the app's key, `auth_timestamp` within 600 s of now,
//! `auth_version` 1.0, `body_md5` the MD5 of a non-empty body, and `auth_signature` the
//! HMAC-SHA256 of `METHOD\nPATH\nsorted query` with the app secret. Pusher's limits: at most 100
//! channels per event, 10 events per batch, 10 KB of data per event, event names of 200 bytes.
//! Errors keep the statuses Pusher's clients expect (400 bad request, 401 bad signature or
//! credentials, 403 forbidden, 404 unknown app or channel, 413 data too large) in the server's
//! one error body (`crate::api::ApiError`: `{"error": {"code", "message"}}`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use protocol::RoomId;
use protocol::pusher::{
    ChannelKind, channel_for_room, channel_kind, room_for_channel, sign, validate_channel,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{ApiError, ErrorKind};
use crate::app::AppState;
use crate::auth::Identity;
use crate::hub::{Wire, permissions};
use crate::transport::pusher_apps::PusherApp;

/// Most channels one event may go to.
pub const MAX_CHANNELS_PER_EVENT: usize = 100;
/// Most events in one batch.
pub const MAX_BATCH_EVENTS: usize = 10;
/// Largest `data` of one event, in bytes.
pub const MAX_EVENT_DATA_BYTES: usize = 10 * 1024;
/// Longest event name.
pub const MAX_EVENT_NAME_BYTES: usize = 200;
/// Largest accepted clock difference of `auth_timestamp`, in seconds.
pub const MAX_TIMESTAMP_SKEW_SECS: u64 = 600;

// ---------------------------------------------------------------------------------------------
// Auth endpoints for pusher-js.

/// The fields pusher-js posts (form-encoded by default, JSON when configured).
#[derive(Debug, Deserialize)]
struct AuthRequest {
    socket_id: String,
    #[serde(default)]
    channel_name: Option<String>,
}

fn parse_auth_request(headers: &HeaderMap, body: &[u8]) -> Result<AuthRequest, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    let parsed = if is_json {
        serde_json::from_slice(body).map_err(|cause| cause.to_string())
    } else {
        serde_urlencoded::from_bytes(body).map_err(|cause| cause.to_string())
    };
    let request: AuthRequest = parsed.map_err(|cause| {
        ApiError::new(
            ErrorKind::BadRequest,
            format!("expected socket_id and channel_name: {cause}"),
        )
    })?;
    let valid_socket = request
        .socket_id
        .split_once('.')
        .is_some_and(|(node, conn)| {
            !node.is_empty()
                && !conn.is_empty()
                && node
                    .bytes()
                    .chain(conn.bytes())
                    .all(|byte| byte.is_ascii_digit())
        });
    if !valid_socket {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            "socket_id must look like 1234.5678",
        ));
    }
    Ok(request)
}

async fn caller(app: &AppState, headers: &HeaderMap) -> Result<(Identity, PusherApp), ApiError> {
    let token = crate::auth::bearer_token(headers)
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::Unauthorized,
                "send the platform token as Authorization: Bearer <token>",
            )
        })?;
    let identity = app.authenticate(&token).await.map_err(ApiError::from)?;
    let pusher_app = app.apps().for_tenant(&identity.tenant);
    Ok((identity, pusher_app))
}

/// `POST /pusher/auth`: signs a private or presence subscription the caller's role allows.
pub async fn channel_auth(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (identity, pusher_app) = caller(&app, &headers).await?;
    let request = parse_auth_request(&headers, &body)?;
    let channel = request.channel_name.unwrap_or_default();
    if let Err(reason) = validate_channel(&channel) {
        return Err(ApiError::new(ErrorKind::BadRequest, reason));
    }
    let room = room_of(&app, &identity.tenant, &channel)?;
    if let Err(denied) = permissions::check_join(&identity, &room, app.hub().rosters()) {
        return Err(ApiError::new(ErrorKind::Forbidden, denied.to_string()));
    }
    note_signer(&app, &request.socket_id, &identity, room)?;
    match channel_kind(&channel) {
        ChannelKind::Private => {
            let auth = sign::auth_token(
                &pusher_app.key,
                &pusher_app.secret,
                &sign::channel_string(&request.socket_id, &channel, None),
            );
            Ok(Json(json!({"auth": auth})).into_response())
        }
        ChannelKind::Presence => {
            let channel_data = json!({
                "user_id": identity.user,
                "user_info": {"name": identity.name, "role": identity.role.as_str()},
            })
            .to_string();
            let message = sign::channel_string(&request.socket_id, &channel, Some(&channel_data));
            let auth = sign::auth_token(&pusher_app.key, &pusher_app.secret, &message);
            Ok(Json(json!({"auth": auth, "channel_data": channel_data})).into_response())
        }
        ChannelKind::Public => Err(ApiError::new(
            ErrorKind::BadRequest,
            "public channels need no authorization",
        )),
        ChannelKind::Encrypted => Err(ApiError::new(
            ErrorKind::BadRequest,
            "encrypted channels are not supported",
        )),
    }
}

/// Notes on the socket (when it is one of this node's Pusher sockets of the caller's tenant)
/// whom this subscription is signed for, so the socket re-checks that person's rights when it
/// subscribes and whenever the rules change. A socket holds at most `max-rooms-per-conn`
/// notes; past that, 429.
fn note_signer(
    app: &AppState,
    socket_id: &str,
    identity: &Identity,
    room: RoomId,
) -> Result<(), ApiError> {
    let Some((node, conn)) = socket_id.split_once('.') else {
        return Ok(());
    };
    let ours = node.parse::<u32>().ok() == Some(app.node_id());
    let Some(handle) = conn
        .parse::<u64>()
        .ok()
        .filter(|_| ours)
        .and_then(|conn| app.hub().connection(conn))
    else {
        return Ok(());
    };
    if handle.wire != Wire::Pusher || handle.identity.tenant != identity.tenant {
        return Ok(());
    }
    let max = app.config().hub.max_rooms_per_conn;
    if handle.note_signer(room, Arc::new(identity.clone()), max) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::RateLimited,
            format!(
                "this socket already holds {max} channel authorizations, the most allowed; unsubscribe from some or open a new connection"
            ),
        ))
    }
}

/// `POST /pusher/user-auth`: signs a `pusher:signin` for the caller.
pub async fn user_auth(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (identity, pusher_app) = caller(&app, &headers).await?;
    let request = parse_auth_request(&headers, &body)?;
    let user_data = json!({
        "id": identity.user,
        "user_info": {"name": identity.name, "role": identity.role.as_str()},
    })
    .to_string();
    let auth = sign::auth_token(
        &pusher_app.key,
        &pusher_app.secret,
        &sign::user_string(&request.socket_id, &user_data),
    );
    Ok(Json(json!({"auth": auth, "user_data": user_data})).into_response())
}

// ---------------------------------------------------------------------------------------------
// The HTTP API.

/// The room a channel of `tenant` maps onto, or a 400 saying why there is none.
fn room_of(app: &AppState, tenant: &str, channel: &str) -> Result<RoomId, ApiError> {
    room_for_channel(tenant, channel, app.config().hub.limits.max_room_id_len).map_err(|cause| {
        ApiError::new(
            ErrorKind::BadRequest,
            format!("channel {channel:?}: {cause}"),
        )
    })
}

/// Checks Pusher request signing for `app_id`; returns the app and the (decoded) query.
fn verify_request(
    app: &AppState,
    app_id: &str,
    method: &Method,
    uri: &Uri,
    query: Option<&str>,
    body: &[u8],
) -> Result<(PusherApp, BTreeMap<String, String>), ApiError> {
    let pusher_app = app
        .apps()
        .by_id(app_id)
        .ok_or_else(|| ApiError::new(ErrorKind::NotFound, format!("unknown app {app_id:?}")))?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|cause| {
            ApiError::new(ErrorKind::BadRequest, format!("bad query string: {cause}"))
        })?;
    let params: BTreeMap<String, String> = pairs.iter().cloned().collect();
    let unauthorized = |message: String| ApiError::new(ErrorKind::Unauthorized, message);
    if params.get("auth_key") != Some(&pusher_app.key) {
        return Err(unauthorized("auth_key is not this app's key".into()));
    }
    if params.get("auth_version").map(String::as_str) != Some("1.0") {
        return Err(unauthorized("auth_version must be 1.0".into()));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let timestamp: u64 = params
        .get("auth_timestamp")
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| unauthorized("auth_timestamp is missing".into()))?;
    if timestamp.abs_diff(now) > MAX_TIMESTAMP_SKEW_SECS {
        return Err(unauthorized(format!(
            "Timestamp expired: given {timestamp}, now {now}; the server allows {MAX_TIMESTAMP_SKEW_SECS} s of difference"
        )));
    }
    if !body.is_empty() && params.get("body_md5") != Some(&sign::body_md5(body)) {
        return Err(unauthorized("body_md5 does not match the body".into()));
    }
    let signature = params.get("auth_signature").cloned().unwrap_or_default();
    let message = sign::request_string(method.as_str(), uri.path(), &pairs);
    if !sign::verify_hex(&pusher_app.secret, &message, &signature) {
        return Err(unauthorized(format!(
            "Invalid signature: expected HMAC SHA256 hex digest of {:?} with the app secret",
            message.replace('\n', "\\n")
        )));
    }
    Ok((pusher_app, params))
}

/// One event of `POST /events` or of a batch.
#[derive(Debug, Deserialize)]
struct TriggerEvent {
    name: String,
    data: Value,
    #[serde(default)]
    channels: Vec<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    socket_id: Option<String>,
}

/// Publishes one event to its channels; the error is the HTTP answer.
fn trigger(app: &AppState, pusher_app: &PusherApp, event: TriggerEvent) -> Result<(), ApiError> {
    let mut channels = event.channels;
    channels.extend(event.channel);
    if channels.is_empty() || channels.len() > MAX_CHANNELS_PER_EVENT {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            format!("give 1 to {MAX_CHANNELS_PER_EVENT} channels"),
        ));
    }
    if event.name.is_empty() || event.name.len() > MAX_EVENT_NAME_BYTES {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            format!("event names are 1 to {MAX_EVENT_NAME_BYTES} bytes"),
        ));
    }
    let data_text = match &event.data {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    if data_text.len() > MAX_EVENT_DATA_BYTES {
        return Err(ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "event data is {} bytes; the limit is {MAX_EVENT_DATA_BYTES}",
                data_text.len()
            ),
        ));
    }
    // Native members get structured data when the string holds JSON.
    let data: Value = serde_json::from_str::<Value>(&data_text)
        .ok()
        .filter(|value| value.is_object() || value.is_array())
        .unwrap_or(Value::String(data_text));
    // The text rule (no U+0000), here as on every door; Pusher's status for bad input is 400.
    protocol::check_text("name", &event.name)
        .and_then(|()| protocol::check_payload("data", &data, usize::MAX))
        .map_err(|refused| ApiError::new(ErrorKind::BadRequest, refused.to_string()))?;
    let except = event
        .socket_id
        .as_deref()
        .and_then(|socket_id| local_conn_id(app, socket_id));
    let mut rooms = Vec::with_capacity(channels.len());
    for channel in &channels {
        validate_channel(channel).map_err(|reason| ApiError::new(ErrorKind::BadRequest, reason))?;
        let room = room_of(app, &pusher_app.tenant, channel)?;
        rooms.push(room);
    }
    for room in &rooms {
        app.hub()
            .publish_from_app(room, event.name.clone(), data.clone(), except);
    }
    Ok(())
}

/// The connection id of a socket id of this node.
fn local_conn_id(app: &AppState, socket_id: &str) -> Option<u64> {
    let (node, conn) = socket_id.split_once('.')?;
    (node.parse::<u32>().ok()? == app.node_id())
        .then(|| conn.parse().ok())
        .flatten()
}

/// `POST /apps/{app_id}/events`.
pub async fn events(
    State(app): State<AppState>,
    Path(app_id): Path<String>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (pusher_app, _) = verify_request(&app, &app_id, &method, &uri, query.as_deref(), &body)?;
    let event: TriggerEvent = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(cause) => {
            return Err(ApiError::new(
                ErrorKind::BadRequest,
                format!("expected {{name, data, channels}}: {cause}"),
            ));
        }
    };
    trigger(&app, &pusher_app, event)?;
    Ok(Json(json!({})).into_response())
}

/// `POST /apps/{app_id}/batch_events`.
pub async fn batch_events(
    State(app): State<AppState>,
    Path(app_id): Path<String>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (pusher_app, _) = verify_request(&app, &app_id, &method, &uri, query.as_deref(), &body)?;
    #[derive(Deserialize)]
    struct Batch {
        batch: Vec<TriggerEvent>,
    }
    let batch: Batch = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(cause) => {
            return Err(ApiError::new(
                ErrorKind::BadRequest,
                format!("expected {{batch: [...]}}: {cause}"),
            ));
        }
    };
    if batch.batch.len() > MAX_BATCH_EVENTS {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            format!("a batch holds at most {MAX_BATCH_EVENTS} events"),
        ));
    }
    for event in batch.batch {
        trigger(&app, &pusher_app, event)?;
    }
    Ok(Json(json!({"batch": []})).into_response())
}

/// `GET /apps/{app_id}/channels`: occupied channels, optionally filtered by prefix.
pub async fn channels(
    State(app): State<AppState>,
    Path(app_id): Path<String>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (pusher_app, params) = verify_request(&app, &app_id, &method, &uri, query.as_deref(), &[])?;
    let prefix = params.get("filter_by_prefix").cloned().unwrap_or_default();
    let info: Vec<&str> = params
        .get("info")
        .map(|info| info.split(',').collect())
        .unwrap_or_default();
    if info.contains(&"user_count") && !prefix.starts_with("presence-") {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            "info=user_count needs filter_by_prefix=presence-",
        ));
    }
    let mut channels = serde_json::Map::new();
    for room in app.hub().rooms_of(&pusher_app.tenant) {
        let Some((users, sockets)) = app.hub().room_presence(&room) else {
            continue;
        };
        let channel = channel_for_room(&room);
        if sockets == 0 || !channel.starts_with(&prefix) {
            continue;
        }
        let mut attributes = serde_json::Map::new();
        if info.contains(&"user_count") {
            attributes.insert("user_count".into(), json!(users.len()));
        }
        channels.insert(channel, Value::Object(attributes));
    }
    Ok(Json(json!({"channels": channels})).into_response())
}

/// `GET /apps/{app_id}/channels/{channel}`: whether it is occupied, and its counts.
pub async fn channel(
    State(app): State<AppState>,
    Path((app_id, channel)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (pusher_app, params) = verify_request(&app, &app_id, &method, &uri, query.as_deref(), &[])?;
    let room = room_of(&app, &pusher_app.tenant, &channel)?;
    let info: Vec<&str> = params
        .get("info")
        .map(|info| info.split(',').collect())
        .unwrap_or_default();
    let (users, sockets) = app.hub().room_presence(&room).unwrap_or_default();
    let mut answer = json!({"occupied": sockets > 0});
    if info.contains(&"user_count") {
        if channel_kind(&channel) != ChannelKind::Presence {
            return Err(ApiError::new(
                ErrorKind::BadRequest,
                "user_count is only available for presence channels",
            ));
        }
        answer["user_count"] = json!(users.len());
    }
    if info.contains(&"subscription_count") {
        answer["subscription_count"] = json!(sockets);
    }
    Ok(Json(answer).into_response())
}

/// `GET /apps/{app_id}/channels/{channel}/users`: the members of a presence channel.
pub async fn channel_users(
    State(app): State<AppState>,
    Path((app_id, channel)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (pusher_app, _) = verify_request(&app, &app_id, &method, &uri, query.as_deref(), &[])?;
    if channel_kind(&channel) != ChannelKind::Presence {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            "users are only listed for presence channels",
        ));
    }
    let room = room_of(&app, &pusher_app.tenant, &channel)?;
    let (users, _) = app.hub().room_presence(&room).unwrap_or_default();
    let users: Vec<Value> = users.into_iter().map(|user| json!({"id": user})).collect();
    Ok(Json(json!({"users": users})).into_response())
}

/// `POST /apps/{app_id}/users/{user_id}/terminate_connections`.
pub async fn terminate_connections(
    State(app): State<AppState>,
    Path((app_id, user_id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (pusher_app, _) = verify_request(&app, &app_id, &method, &uri, query.as_deref(), &body)?;
    let closed = app.pusher_users().terminate(&pusher_app.tenant, &user_id);
    tracing::info!(tenant = %pusher_app.tenant, user = %user_id, closed, "terminated pusher connections");
    Ok(Json(json!({})).into_response())
}
