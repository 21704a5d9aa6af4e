//! A client for the two Roblox Open Cloud endpoints classhub uses, at a configurable base URL
//! (`https://apis.roblox.com` in production, a local stand-in in tests):
//!
//! * `POST {base}/cloud/v2/universes/{universe_id}:publishMessage` with `x-api-key` and
//!   `{"topic", "message"}` (message at most 1 KiB): MessagingService delivers the message to
//!   every live server of the universe; classhub sends "poll now" so a game server picks up a
//!   new command without waiting out its long-poll.
//! * `GET {base}/cloud/v2/users/{user_id}`: a user's `name` and `displayName`.
//!
//! A 429 answer becomes [`OpenCloudError::RateLimited`] carrying its `retry-after`, so the
//! caller can wait; this client never retries by itself and never blocks command delivery.

use std::time::Duration;

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use url::Url;

/// The MessagingService topic classhub publishes on and the SDK subscribes to.
pub const TOPIC: &str = "classhub";
/// Open Cloud's limit on a message.
pub const MAX_MESSAGE_BYTES: usize = 1024;
/// What a 429 without `retry-after` waits.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Why an Open Cloud call failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenCloudError {
    /// 429: wait this long before the next call.
    #[error("Open Cloud rate limit; retry after {retry_after:?}")]
    RateLimited {
        /// From the `retry-after` header.
        retry_after: Duration,
    },
    /// Another non-success status (bad key, unknown universe, …).
    #[error("Open Cloud refused the call with {status}: {body}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The start of the answer body.
        body: String,
    },
    /// The call never got an answer.
    #[error("Open Cloud unreachable: {0}")]
    Transport(#[from] reqwest::Error),
    /// The message is over [`MAX_MESSAGE_BYTES`].
    #[error("the message is {0} bytes; Open Cloud takes at most 1024")]
    MessageTooLarge(usize),
    /// The base URL cannot be joined with the path.
    #[error("bad Open Cloud base URL: {0}")]
    BadUrl(#[from] url::ParseError),
}

/// A Roblox user, as `GET /cloud/v2/users/{id}` describes it (fields classhub reads).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct RobloxUser {
    /// The user id, as a string.
    pub id: String,
    /// The unique user name.
    pub name: String,
    /// The display name.
    #[serde(rename = "displayName", default)]
    pub display_name: Option<String>,
}

#[derive(Serialize)]
struct PublishBody<'a> {
    topic: &'a str,
    message: &'a str,
}

/// The Open Cloud client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OpenCloud {
    http: reqwest::Client,
    base: Url,
}

impl OpenCloud {
    /// A client for `base` (e.g. `https://apis.roblox.com`), each call bounded by `timeout`.
    pub fn new(base: Url, timeout: Duration) -> Result<OpenCloud, OpenCloudError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("classhub/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(OpenCloud { http, base })
    }

    /// Publishes `message` on `topic` to every live server of `universe_id`.
    pub async fn publish_message(
        &self,
        universe_id: i64,
        api_key: &str,
        topic: &str,
        message: &str,
    ) -> Result<(), OpenCloudError> {
        if message.len() > MAX_MESSAGE_BYTES {
            return Err(OpenCloudError::MessageTooLarge(message.len()));
        }
        let url = self
            .base
            .join(&format!("cloud/v2/universes/{universe_id}:publishMessage"))?;
        let response = self
            .http
            .post(url)
            .header("x-api-key", api_key)
            .json(&PublishBody { topic, message })
            .send()
            .await?;
        check(response).await.map(drop)
    }

    /// Looks a user up (for display names).
    pub async fn user(&self, user_id: i64, api_key: &str) -> Result<RobloxUser, OpenCloudError> {
        let url = self.base.join(&format!("cloud/v2/users/{user_id}"))?;
        let response = self
            .http
            .get(url)
            .header("x-api-key", api_key)
            .send()
            .await?;
        Ok(check(response).await?.json().await?)
    }
}

/// The "poll now" message for one session (`"*"`: every session of the universe).
pub fn poll_message(session_id: &str) -> String {
    serde_json::json!({ "type": "poll", "session_id": session_id }).to_string()
}

async fn check(response: reqwest::Response) -> Result<reqwest::Response, OpenCloudError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<f64>().ok())
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
            .map_or(DEFAULT_RETRY_AFTER, Duration::from_secs_f64);
        return Err(OpenCloudError::RateLimited { retry_after });
    }
    let mut body = response.text().await.unwrap_or_default();
    body.truncate(200);
    Err(OpenCloudError::Refused {
        status: status.as_u16(),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use axum::Json;
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use serde_json::{Value, json};

    /// What the stand-in saw: (path, api key, body).
    type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

    /// A stand-in following the documented shapes: publishMessage takes `{topic, message}`
    /// with `x-api-key`, answers `{}`; universe 429 answers 429 with retry-after 7.
    async fn stand_in() -> (Url, Seen) {
        let seen: Seen = Arc::default();
        async fn publish(
            State(seen): State<Seen>,
            Path(target): Path<String>,
            headers: HeaderMap,
            Json(body): Json<Value>,
        ) -> axum::response::Response {
            let key = headers
                .get("x-api-key")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            seen.lock()
                .expect("lock")
                .push((target.clone(), key.clone(), body.clone()));
            let well_formed = body["topic"].is_string() && body["message"].is_string();
            match (target.as_str(), key.as_str()) {
                ("429:publishMessage", _) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "7")],
                    "slow down",
                )
                    .into_response(),
                (_, "good-key") if well_formed => Json(json!({})).into_response(),
                (_, "good-key") => StatusCode::BAD_REQUEST.into_response(),
                _ => (StatusCode::UNAUTHORIZED, "Invalid API Key").into_response(),
            }
        }
        async fn user(Path(id): Path<i64>) -> Json<Value> {
            Json(
                json!({"path": format!("users/{id}"), "id": id.to_string(), "name": "builderman", "displayName": "Builder"}),
            )
        }
        let app = axum::Router::new()
            .route("/cloud/v2/universes/{target}", post(publish))
            .route("/cloud/v2/users/{id}", get(user))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (Url::parse(&format!("http://{addr}/")).expect("url"), seen)
    }

    #[tokio::test]
    async fn publish_message_sends_the_documented_request() {
        let (base, seen) = stand_in().await;
        let client = OpenCloud::new(base, Duration::from_secs(5)).expect("client");
        client
            .publish_message(42, "good-key", TOPIC, &poll_message("gs_1"))
            .await
            .expect("published");
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, "42:publishMessage");
        assert_eq!(seen[0].1, "good-key");
        assert_eq!(seen[0].2["topic"], "classhub");
        let message: Value =
            serde_json::from_str(seen[0].2["message"].as_str().expect("a string")).expect("json");
        assert_eq!(message, json!({"type": "poll", "session_id": "gs_1"}));
    }

    #[tokio::test]
    async fn refusals_and_rate_limits_are_told_apart() {
        let (base, _) = stand_in().await;
        let client = OpenCloud::new(base, Duration::from_secs(5)).expect("client");
        match client.publish_message(42, "bad-key", TOPIC, "{}").await {
            Err(OpenCloudError::Refused { status: 401, .. }) => {}
            other => panic!("expected a 401 refusal, got {other:?}"),
        }
        match client.publish_message(429, "good-key", TOPIC, "{}").await {
            Err(OpenCloudError::RateLimited { retry_after }) => {
                assert_eq!(retry_after, Duration::from_secs(7));
            }
            other => panic!("expected a rate limit, got {other:?}"),
        }
        let too_big = "x".repeat(MAX_MESSAGE_BYTES + 1);
        assert!(matches!(
            client
                .publish_message(42, "good-key", TOPIC, &too_big)
                .await,
            Err(OpenCloudError::MessageTooLarge(_))
        ));
    }

    #[tokio::test]
    async fn users_are_read() {
        let (base, _) = stand_in().await;
        let client = OpenCloud::new(base, Duration::from_secs(5)).expect("client");
        let user = client.user(156, "good-key").await.expect("user");
        assert_eq!(user.display_name.as_deref(), Some("Builder"));
        assert_eq!(user.id, "156");
    }
}
