//! The harness's Pusher Channels protocol 7 side, beside [`crate::client`]'s native one: the
//! app credentials ([`PusherApp`], given with `--app-id/--app-key/--app-secret` or derived for
//! a classhub tenant from `--jwt-secret` with `protocol::pusher::apps`, as the server derives
//! them), a member socket (`/app/{key}?protocol=7`, `pusher:connection_established`,
//! `pusher:subscribe` on a public channel, `pusher_internal:subscription_succeeded`), a cheap
//! probe of event frames for the send time, and [`Publisher`], the signed HTTP API trigger
//! (`POST /apps/{id}/events`) over one keep-alive `reqwest` pool. Works against classhub and any
//! Pusher-protocol server (Sockudo).

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use protocol::pusher::{PusherFrame, apps, sign};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::{Message, WebSocketConfig};

use crate::client::{self, SETUP_PATIENCE, WsStream};
use crate::target::Target;

/// One Pusher app's credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct PusherApp {
    /// The app id (`/apps/{id}/…`).
    pub app_id: String,
    /// The public key (`/app/{key}`).
    pub key: String,
    /// The secret that signs HTTP API requests.
    pub secret: String,
}

impl std::fmt::Debug for PusherApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PusherApp")
            .field("app_id", &self.app_id)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl PusherApp {
    /// The app classhub derives for `tenant` from its secret (what `classhub apps show` prints
    /// when no `CLASSHUB_PUSHER_*` override is set).
    pub fn derived(jwt_secret: &str, tenant: &str) -> PusherApp {
        PusherApp {
            app_id: tenant.to_owned(),
            key: apps::derived_key(jwt_secret, tenant),
            secret: apps::derived_secret(jwt_secret, tenant),
        }
    }
}

/// A member's socket after `pusher:connection_established`.
pub struct Member {
    /// The socket.
    pub ws: WsStream,
    /// The socket id the server gave.
    pub socket_id: String,
}

/// Opens a Pusher socket for `key` from `source` and waits for `connection_established`.
pub async fn connect(target: &Target, key: &str, source: Option<IpAddr>) -> anyhow::Result<Member> {
    let stream = tokio::time::timeout(SETUP_PATIENCE, client::open_tcp(target.addr(), source))
        .await
        .with_context(|| format!("no TCP connection to {} in time", target.addr()))??;
    let request = target
        .pusher_ws_url(key)
        .into_client_request()
        .context("building the upgrade request")?;
    let config = WebSocketConfig::default().read_buffer_size(client::READ_BUFFER_BYTES);
    let (ws, _response) = tokio::time::timeout(
        SETUP_PATIENCE,
        tokio_tungstenite::client_async_with_config(request, stream, Some(config)),
    )
    .await
    .context("no WebSocket handshake in time")?
    .map_err(client::describe_handshake_error)?;
    let mut member = Member {
        ws,
        socket_id: String::new(),
    };
    let frame = member.recv().await?;
    if frame.event != "pusher:connection_established" {
        bail!(
            "expected pusher:connection_established, got {}: {}",
            frame.event,
            frame.data
        );
    }
    let data = data_object(&frame.data);
    member.socket_id = data
        .get("socket_id")
        .and_then(Value::as_str)
        .context("connection_established without a socket_id")?
        .to_owned();
    Ok(member)
}

/// `data` as an object, whether it came as a JSON string (server → client) or an object.
fn data_object(data: &Value) -> Value {
    match data {
        Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        other => other.clone(),
    }
}

impl Member {
    /// The next Pusher frame (WebSocket pings skipped); an error if the socket closes or nothing
    /// arrives within [`SETUP_PATIENCE`]. For setup, not hot paths.
    pub async fn recv(&mut self) -> anyhow::Result<PusherFrame> {
        loop {
            let next = tokio::time::timeout(SETUP_PATIENCE, self.ws.next())
                .await
                .context("no frame from the server in time")?;
            let frame = match next {
                None => bail!("the server closed the socket"),
                Some(Err(cause)) => return Err(anyhow::Error::new(cause).context("socket failed")),
                Some(Ok(frame)) => frame,
            };
            if let Message::Close(close) = &frame {
                bail!("the server closed the socket ({close:?})");
            }
            let Some(bytes) = client::payload(&frame) else {
                continue;
            };
            return serde_json::from_slice(bytes).context("undecodable Pusher frame");
        }
    }

    /// Sends a frame as JSON text.
    pub async fn send(&mut self, frame: &PusherFrame) -> anyhow::Result<()> {
        let text = serde_json::to_string(frame).context("encoding a Pusher frame")?;
        self.ws
            .send(Message::text(text))
            .await
            .context("sending a frame")
    }

    /// Subscribes to the public `channel` and waits for `subscription_succeeded` (other frames
    /// are skipped; `pusher:error` and `pusher:subscription_error` fail).
    pub async fn subscribe(&mut self, channel: &str) -> anyhow::Result<()> {
        self.send(&PusherFrame {
            event: "pusher:subscribe".into(),
            channel: None,
            data: json!({ "channel": channel }),
            user_id: None,
        })
        .await?;
        loop {
            let frame = self.recv().await?;
            match frame.event.as_str() {
                "pusher_internal:subscription_succeeded"
                    if frame.channel.as_deref() == Some(channel) =>
                {
                    return Ok(());
                }
                "pusher:error" | "pusher:subscription_error" => {
                    bail!("subscribing to {channel} refused: {}", frame.data)
                }
                "pusher:ping" => self.send(&pong()).await?,
                _ => {}
            }
        }
    }
}

/// The `pusher:pong` answering a server's `pusher:ping`.
pub fn pong() -> PusherFrame {
    PusherFrame {
        event: "pusher:pong".into(),
        channel: None,
        data: json!({}),
        user_id: None,
    }
}

/// The few fields of a Pusher frame the hot receive path reads.
#[derive(Debug, Deserialize)]
pub struct Probe {
    /// The event name.
    pub event: String,
    /// The payload: a JSON string for server frames (an object from some servers).
    #[serde(default)]
    pub data: Value,
}

impl Probe {
    /// The harness's send time in an event's `data` (`t`, µs since the Unix epoch).
    pub fn sent_micros(&self) -> Option<u64> {
        #[derive(Deserialize)]
        struct Sent {
            #[serde(default)]
            t: Option<u64>,
        }
        match &self.data {
            Value::String(text) => serde_json::from_str::<Sent>(text).ok()?.t,
            Value::Object(map) => map.get("t").and_then(Value::as_u64),
            _ => None,
        }
    }

    /// A `pusher:error`'s code and message.
    pub fn error(&self) -> (u16, String) {
        let data = data_object(&self.data);
        let code = data
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|code| u16::try_from(code).ok())
            .unwrap_or(0);
        let message = data
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        (code, message)
    }
}

/// Decodes the [`Probe`] fields of a Pusher frame.
pub fn probe(bytes: &[u8]) -> anyhow::Result<Probe> {
    serde_json::from_slice(bytes).context("undecodable Pusher frame")
}

/// Triggers events through the Pusher HTTP API; one per run, shared by every publisher (its
/// `reqwest` pool keeps connections alive, and opens new ones when a server closes them).
#[derive(Debug, Clone)]
pub struct Publisher {
    client: reqwest::Client,
    app: PusherApp,
    path: String,
    url: String,
}

impl Publisher {
    /// A publisher for `app` on `target`.
    pub fn new(target: &Target, app: PusherApp, pool_size: usize) -> anyhow::Result<Publisher> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(pool_size)
            .pool_idle_timeout(Duration::from_secs(90))
            .timeout(SETUP_PATIENCE)
            .tcp_nodelay(true)
            .build()
            .context("building the HTTP client")?;
        let path = format!("/apps/{}/events", app.app_id);
        let url = format!("{}{path}", target.http_base());
        Ok(Publisher {
            client,
            app,
            path,
            url,
        })
    }

    /// Posts event `name` with `data` (a string) to `channel`; returns the HTTP status, or the
    /// transport error.
    pub async fn trigger(
        &self,
        name: &str,
        channel: &str,
        data: &str,
    ) -> anyhow::Result<reqwest::StatusCode> {
        let body = serde_json::to_vec(&json!({
            "name": name,
            "channels": [channel],
            "data": data,
        }))
        .context("encoding the event")?;
        let query = signed_query(&self.app, "POST", &self.path, &body, unix_secs());
        let response = self
            .client
            .post(&self.url)
            .query(&query)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .context("posting the event")?;
        let status = response.status();
        // Read the (small) body so the connection goes back to the pool.
        let _body_not_needed = response.bytes().await;
        Ok(status)
    }
}

/// The query of a signed HTTP API request: auth_key, auth_timestamp, auth_version,
/// body_md5 and auth_signature (over `METHOD\nPATH\nsorted query`).
pub fn signed_query(
    app: &PusherApp,
    method: &str,
    path: &str,
    body: &[u8],
    timestamp: u64,
) -> Vec<(String, String)> {
    let mut query = vec![
        ("auth_key".to_owned(), app.key.clone()),
        ("auth_timestamp".to_owned(), timestamp.to_string()),
        ("auth_version".to_owned(), "1.0".to_owned()),
        ("body_md5".to_owned(), sign::body_md5(body)),
    ];
    let signature = sign::hmac_hex(&app.secret, &sign::request_string(method, path, &query));
    query.push(("auth_signature".to_owned(), signature));
    query
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_reads_the_send_time_from_string_and_object_data() {
        let frame = br#"{"event":"loadtest","channel":"c","data":"{\"t\":1764160000000123,\"pad\":\"xx\"}"}"#;
        let probed = probe(frame).expect("probe");
        assert_eq!(probed.event, "loadtest");
        assert_eq!(probed.sent_micros(), Some(1_764_160_000_000_123));
        let object = br#"{"event":"loadtest","channel":"c","data":{"t":5}}"#;
        assert_eq!(probe(object).expect("probe").sent_micros(), Some(5));
        let error = br#"{"event":"pusher:error","data":{"code":4301,"message":"slow down"}}"#;
        assert_eq!(
            probe(error).expect("probe").error(),
            (4301, "slow down".to_owned())
        );
    }

    #[test]
    fn signed_queries_verify_with_the_app_secret() {
        let app = PusherApp::derived("secret-0123456789", "loadtest");
        assert_eq!(app.app_id, "loadtest");
        let body = br#"{"name":"x"}"#;
        let query = signed_query(&app, "POST", "/apps/loadtest/events", body, 1_700_000_000);
        let signature = &query.last().expect("signature").1;
        let message = sign::request_string("POST", "/apps/loadtest/events", &query);
        assert!(sign::verify_hex(&app.secret, &message, signature));
        assert!(
            query
                .iter()
                .any(|(key, value)| key == "body_md5" && *value == sign::body_md5(body))
        );
    }
}
