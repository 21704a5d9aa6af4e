//! Server configuration: command-line flags, `CLASSHUB_*` environment variables and an optional
//! TOML file, in that order of precedence, over built-in defaults. Every limit the server
//! enforces is here. A setting the user gave explicitly that cannot be used stops start-up with
//! a message naming it; nothing silently falls back to a default.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use protocol::Limits;
use serde::Deserialize;

use persistence::SinkSettings;

use crate::ai::AiSettings;
use crate::auth::AuthSettings;
use crate::billing::BillingSettings;
use crate::hub::HubSettings;
use crate::roblox::RobloxSettings;
use crate::transport::pusher_apps::PusherApp;

/// The resolved configuration `classhub serve` runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Where the server keeps its files: the generated JWT secret and the embedded SQLite database.
    pub data_dir: PathBuf,
    /// HS256 secret; `None` means "read or create `{data_dir}/jwt-secret`".
    pub jwt_secret: Option<String>,
    /// Frame-level limits.
    pub limits: Limits,
    /// Outbound frames queued per connection before it is closed as a slow consumer.
    pub conn_queue_len: usize,
    /// Bytes each WebSocket reads at a time: the per-socket read buffer, resident for every
    /// socket (tungstenite zero-fills it); larger frames still arrive (the buffer grows).
    pub ws_read_buffer_bytes: usize,
    /// Rooms one connection may be in.
    pub max_rooms_per_conn: usize,
    /// Concurrent WebSocket connections; more are refused with HTTP 503.
    pub max_connections: usize,
    /// Sustained publishes per second per connection.
    pub publish_rate: u32,
    /// Publish burst per connection.
    pub publish_burst: u32,
    /// Events kept per room for recovery.
    pub history_len: usize,
    /// Oldest event kept for recovery.
    pub history_ttl: Duration,
    /// How long an empty room lives on.
    pub room_grace: Duration,
    /// Server ping interval; a connection silent for twice this is closed.
    pub heartbeat: Duration,
    /// How long a connection without a token may take to send `auth`.
    pub auth_timeout: Duration,
    /// How long shutdown waits for connections to close, and then again for the last batch.
    pub shutdown_timeout: Duration,
    /// `postgres://…` or `sqlite:…`; `None` means the embedded `{data_dir}/classhub.db`.
    pub database_url: Option<String>,
    /// The durable-event sink's batching, queue and retry settings.
    pub sink: SinkSettings,
    /// Fixed Pusher credentials for one tenant (other tenants' apps are derived).
    pub pusher_app: Option<PusherApp>,
    /// Heartbeat interval announced to and applied on Pusher sockets (`activity_timeout`).
    pub pusher_activity_timeout: Duration,
    /// Client events per second a Pusher socket may send (Pusher's rule is 10).
    pub pusher_client_event_rate: u32,
    /// Pusher webhook URL per tenant.
    pub pusher_webhooks: HashMap<String, String>,
    /// How people's tokens are verified (JWKS or the HS256 development secret).
    pub auth: AuthSettings,
    /// REST request limits per token and per client IP.
    pub api_limits: ApiLimits,
    /// Roblox game servers: ingest, long-poll, linking, Open Cloud.
    pub roblox: RobloxSettings,
    /// Stripe billing and the plans' entitlements (seats, AI tokens per day).
    pub billing: BillingSettings,
    /// The AI tutor's OpenAI-compatible endpoint, models and limits.
    pub ai: AiSettings,
}

/// REST (`/api/v1`) rate limits: sustained requests per second and burst, per token (per user)
/// and per client IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// Requests per second per token.
    pub per_token_rate: u32,
    /// Burst per token.
    pub per_token_burst: u32,
    /// Requests per second per client IP.
    pub per_ip_rate: u32,
    /// Burst per client IP.
    pub per_ip_burst: u32,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            per_token_rate: 20,
            per_token_burst: 60,
            per_ip_rate: 50,
            per_ip_burst: 150,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8009)),
            data_dir: PathBuf::from("./classhub-data"),
            jwt_secret: None,
            limits: Limits::default(),
            conn_queue_len: 1024,
            ws_read_buffer_bytes: 1024,
            max_rooms_per_conn: 64,
            max_connections: 100_000,
            publish_rate: 20,
            publish_burst: 40,
            history_len: 256,
            history_ttl: Duration::from_secs(300),
            room_grace: Duration::from_secs(60),
            heartbeat: Duration::from_secs(25),
            auth_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
            database_url: None,
            sink: SinkSettings::default(),
            pusher_app: None,
            pusher_activity_timeout: Duration::from_secs(120),
            pusher_client_event_rate: 10,
            pusher_webhooks: HashMap::new(),
            auth: AuthSettings::default(),
            api_limits: ApiLimits::default(),
            roblox: RobloxSettings::default(),
            billing: BillingSettings::default(),
            ai: AiSettings::default(),
        }
    }
}

impl Config {
    /// The hub's share of the configuration.
    pub fn hub_settings(&self) -> HubSettings {
        HubSettings {
            limits: self.limits,
            history_len: self.history_len,
            history_ttl: self.history_ttl,
            room_grace: self.room_grace,
            conn_queue_len: self.conn_queue_len,
            conn_queue_bytes: crate::hub::DEFAULT_CONN_QUEUE_BYTES,
            max_rooms_per_conn: self.max_rooms_per_conn,
        }
    }

    /// Resolves flags and environment (already parsed into `args`) over the TOML file they name,
    /// over defaults.
    pub fn resolve(args: ServeArgs) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => ServeArgs::from_file(path)?,
            None => ServeArgs::default(),
        };
        args.or(file).into_config()
    }
}

/// A configuration error, naming the setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {cause}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The config file is not valid TOML for these settings.
    #[error("config file {path} is invalid: {cause}")]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// Why (names the key).
        cause: Box<toml::de::Error>,
    },
    /// A value is out of range.
    #[error("setting {key} is invalid: {reason}")]
    Invalid {
        /// The flag/TOML key.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// A duration given as text such as `25s`, `5m` or `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationArg(pub Duration);

impl FromStr for DurationArg {
    type Err = humantime::DurationError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        humantime::parse_duration(text).map(DurationArg)
    }
}

impl<'de> Deserialize<'de> for DurationArg {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(|err| {
            serde::de::Error::custom(format!("{text:?} is not a duration like \"25s\": {err}"))
        })
    }
}

/// Settings of `classhub serve`, as flags, environment variables and TOML keys (same names with
/// `_` for `-`). Every field is optional so that the three sources can be layered.
#[derive(Debug, Clone, Default, clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeArgs {
    /// TOML file with any of these settings (flags and environment win over it).
    #[arg(long, env = "CLASSHUB_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8009].
    #[arg(long, env = "CLASSHUB_BIND")]
    pub bind: Option<SocketAddr>,
    /// Data directory [default: ./classhub-data].
    #[arg(long, env = "CLASSHUB_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// HS256 secret for people's tokens [default: generated into {data-dir}/jwt-secret].
    #[arg(long, env = "CLASSHUB_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Largest accepted frame in bytes [default: 65536].
    #[arg(long, env = "CLASSHUB_MAX_FRAME_BYTES")]
    pub max_frame_bytes: Option<usize>,
    /// Longest accepted room id in bytes [default: 128].
    #[arg(long, env = "CLASSHUB_MAX_ROOM_ID_LEN")]
    pub max_room_id_len: Option<usize>,
    /// Deepest accepted payload nesting [default: 16].
    #[arg(long, env = "CLASSHUB_MAX_PAYLOAD_DEPTH")]
    pub max_payload_depth: Option<usize>,
    /// Outbound frames queued per connection before it is closed as a slow consumer [default: 1024].
    #[arg(long, env = "CLASSHUB_CONN_QUEUE_LEN")]
    pub conn_queue_len: Option<usize>,
    /// Per-socket WebSocket read buffer in bytes; larger frames still arrive [default: 1024].
    #[arg(long, env = "CLASSHUB_WS_READ_BUFFER_BYTES")]
    pub ws_read_buffer_bytes: Option<usize>,
    /// Rooms one connection may be in at once [default: 64].
    #[arg(long, env = "CLASSHUB_MAX_ROOMS_PER_CONN")]
    pub max_rooms_per_conn: Option<usize>,
    /// Concurrent WebSocket connections [default: 100000].
    #[arg(long, env = "CLASSHUB_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Sustained publishes per second per connection [default: 20].
    #[arg(long, env = "CLASSHUB_PUBLISH_RATE")]
    pub publish_rate: Option<u32>,
    /// Publishes allowed in one burst per connection [default: 40].
    #[arg(long, env = "CLASSHUB_PUBLISH_BURST")]
    pub publish_burst: Option<u32>,
    /// Events kept per room for recovery [default: 256].
    #[arg(long, env = "CLASSHUB_HISTORY_LEN")]
    pub history_len: Option<usize>,
    /// Oldest event kept for recovery [default: 5m].
    #[arg(long, env = "CLASSHUB_HISTORY_TTL")]
    pub history_ttl: Option<DurationArg>,
    /// How long an empty room lives on [default: 60s].
    #[arg(long, env = "CLASSHUB_ROOM_GRACE")]
    pub room_grace: Option<DurationArg>,
    /// Server ping interval; silence for twice this closes a socket [default: 25s].
    #[arg(long, env = "CLASSHUB_HEARTBEAT")]
    pub heartbeat: Option<DurationArg>,
    /// Time allowed to send the auth frame [default: 10s].
    #[arg(long, env = "CLASSHUB_AUTH_TIMEOUT")]
    pub auth_timeout: Option<DurationArg>,
    /// Time shutdown waits for connections to close, and then for the last batch [default: 10s].
    #[arg(long, env = "CLASSHUB_SHUTDOWN_TIMEOUT")]
    pub shutdown_timeout: Option<DurationArg>,
    /// Longest accepted event id in bytes [default: 128].
    #[arg(long, env = "CLASSHUB_MAX_EVENT_ID_LEN")]
    pub max_event_id_len: Option<usize>,
    /// Database: postgres://user@host/db or sqlite:path [default: sqlite in {data-dir}/classhub.db].
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Most durable events per transaction [default: 1000].
    #[arg(long, env = "CLASSHUB_SINK_BATCH_ROWS")]
    pub sink_batch_rows: Option<usize>,
    /// Longest wait before writing a partial batch [default: 50ms].
    #[arg(long, env = "CLASSHUB_SINK_BATCH_INTERVAL")]
    pub sink_batch_interval: Option<DurationArg>,
    /// Durable events queued before new ones are refused (retryable) [default: 100000].
    #[arg(long, env = "CLASSHUB_SINK_QUEUE_LEN")]
    pub sink_queue_len: Option<usize>,
    /// Longest back-off between retries while the database is unreachable [default: 5s].
    #[arg(long, env = "CLASSHUB_SINK_RETRY_MAX")]
    pub sink_retry_max: Option<DurationArg>,
    /// Batches written concurrently, each in its own transaction [default: 2].
    #[arg(long, env = "CLASSHUB_SINK_WRITERS")]
    pub sink_writers: Option<usize>,
    /// Tenant whose Pusher app the three settings below fix [default: default].
    #[arg(long, env = "CLASSHUB_PUSHER_TENANT")]
    pub pusher_tenant: Option<String>,
    /// Fixed Pusher app id (with --pusher-key and --pusher-secret).
    #[arg(long, env = "CLASSHUB_PUSHER_APP_ID")]
    pub pusher_app_id: Option<String>,
    /// Fixed Pusher app key.
    #[arg(long, env = "CLASSHUB_PUSHER_KEY")]
    pub pusher_key: Option<String>,
    /// Fixed Pusher app secret.
    #[arg(long, env = "CLASSHUB_PUSHER_SECRET", hide_env_values = true)]
    pub pusher_secret: Option<String>,
    /// Activity timeout announced to Pusher clients [default: 120s].
    #[arg(long, env = "CLASSHUB_PUSHER_ACTIVITY_TIMEOUT")]
    pub pusher_activity_timeout: Option<DurationArg>,
    /// Client events per second per Pusher socket [default: 10].
    #[arg(long, env = "CLASSHUB_PUSHER_CLIENT_EVENT_RATE")]
    pub pusher_client_event_rate: Option<u32>,
    /// Pusher webhook URL of a tenant, as TENANT=URL (repeat, or comma-separate in the variable).
    #[arg(
        long = "pusher-webhook",
        env = "CLASSHUB_PUSHER_WEBHOOKS",
        value_delimiter = ','
    )]
    pub pusher_webhooks: Option<Vec<String>>,
    /// JWKS URL of the identity provider (e.g. https://YOUR-APP.clerk.accounts.dev/.well-known/jwks.json);
    /// when set, only tokens signed by its keys are accepted [default: HS256 development secret].
    #[arg(long, env = "CLASSHUB_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Required `iss` claim (with --jwks-url, e.g. https://YOUR-APP.clerk.accounts.dev).
    #[arg(long, env = "CLASSHUB_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Accepted `aud` values, comma-separated [default: not checked].
    #[arg(long, env = "CLASSHUB_JWT_AUDIENCE", value_delimiter = ',')]
    pub jwt_audience: Option<Vec<String>>,
    /// Dot path of the role claim, e.g. public_metadata.role [default: role].
    #[arg(long, env = "CLASSHUB_JWT_ROLE_CLAIM")]
    pub jwt_role_claim: Option<String>,
    /// Dot path of the tenant claim, e.g. org_id [default: tenant].
    #[arg(long, env = "CLASSHUB_JWT_TENANT_CLAIM")]
    pub jwt_tenant_claim: Option<String>,
    /// Clock-skew allowance on exp/nbf [default: 30s].
    #[arg(long, env = "CLASSHUB_JWT_LEEWAY")]
    pub jwt_leeway: Option<DurationArg>,
    /// Shortest time between two JWKS fetches (an unknown kid triggers one) [default: 30s].
    #[arg(long, env = "CLASSHUB_JWKS_REFRESH_INTERVAL")]
    pub jwks_refresh_interval: Option<DurationArg>,
    /// REST requests per second per token [default: 20].
    #[arg(long, env = "CLASSHUB_API_RATE_PER_TOKEN")]
    pub api_rate_per_token: Option<u32>,
    /// REST burst per token [default: 60].
    #[arg(long, env = "CLASSHUB_API_BURST_PER_TOKEN")]
    pub api_burst_per_token: Option<u32>,
    /// REST requests per second per client IP [default: 50].
    #[arg(long, env = "CLASSHUB_API_RATE_PER_IP")]
    pub api_rate_per_ip: Option<u32>,
    /// REST burst per client IP [default: 150].
    #[arg(long, env = "CLASSHUB_API_BURST_PER_IP")]
    pub api_burst_per_ip: Option<u32>,
    /// Long-poll hold the Roblox SDK is told to ask for [default: 20s].
    #[arg(long, env = "CLASSHUB_ROBLOX_POLL_WAIT")]
    pub roblox_poll_wait: Option<DurationArg>,
    /// Longest command long-poll hold granted [default: 25s].
    #[arg(long, env = "CLASSHUB_ROBLOX_POLL_MAX_WAIT")]
    pub roblox_poll_max_wait: Option<DurationArg>,
    /// Most events per Roblox ingest request [default: 100].
    #[arg(long, env = "CLASSHUB_ROBLOX_MAX_BATCH")]
    pub roblox_max_batch: Option<usize>,
    /// Largest request body on the Roblox routes, in bytes [default: 1048576].
    #[arg(long, env = "CLASSHUB_ROBLOX_MAX_BODY_BYTES")]
    pub roblox_max_body_bytes: Option<usize>,
    /// Delay before an unacknowledged command is delivered again [default: 10s].
    #[arg(long, env = "CLASSHUB_ROBLOX_REDELIVER_AFTER")]
    pub roblox_redeliver_after: Option<DurationArg>,
    /// Unacknowledged commands kept per game session [default: 256].
    #[arg(long, env = "CLASSHUB_ROBLOX_COMMAND_BACKLOG")]
    pub roblox_command_backlog: Option<usize>,
    /// A game session silent this long is closed [default: 120s].
    #[arg(long, env = "CLASSHUB_ROBLOX_SESSION_IDLE")]
    pub roblox_session_idle: Option<DurationArg>,
    /// Player-link attempts per minute per Roblox player; per key, twenty times this [default: 5].
    #[arg(long, env = "CLASSHUB_ROBLOX_LINK_PER_MINUTE")]
    pub roblox_link_per_minute: Option<u32>,
    /// Longest wait for an ingest batch's commit before answering 503 [default: 10s].
    #[arg(long, env = "CLASSHUB_ROBLOX_ACK_TIMEOUT")]
    pub roblox_ack_timeout: Option<DurationArg>,
    /// How long a game-server key look-up is trusted; a revoked key stops within it [default: 10s].
    #[arg(long, env = "CLASSHUB_GAME_KEY_CACHE")]
    pub game_key_cache: Option<DurationArg>,
    /// Roblox Open Cloud base URL [default: https://apis.roblox.com].
    #[arg(long, env = "CLASSHUB_OPEN_CLOUD_BASE_URL")]
    pub open_cloud_base_url: Option<String>,
    /// Open Cloud user look-ups (display-name refreshes) per minute [default: 30].
    #[arg(long, env = "CLASSHUB_OPEN_CLOUD_USERS_PER_MINUTE")]
    pub open_cloud_users_per_minute: Option<u32>,
    /// Stripe secret key (sk_…); without it the checkout, cancel and invoice routes answer 503.
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,
    /// Stripe API base URL [default: https://api.stripe.com].
    #[arg(long, env = "STRIPE_API_BASE")]
    pub stripe_api_base: Option<String>,
    /// Signing secret of the Stripe webhook endpoint (whsec_…); without it webhooks answer 503.
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<String>,
    /// Oldest accepted Stripe-Signature timestamp [default: 5m].
    #[arg(long, env = "CLASSHUB_STRIPE_WEBHOOK_TOLERANCE")]
    pub stripe_webhook_tolerance: Option<DurationArg>,
    /// Stripe price of each paid plan, as PLAN=price_… (repeat, or comma-separate in the variable).
    #[arg(
        long = "stripe-price",
        env = "CLASSHUB_STRIPE_PRICES",
        value_delimiter = ','
    )]
    pub stripe_prices: Option<Vec<String>>,
    /// Where Checkout sends the payer after paying [default: http://localhost:8009/?checkout=success].
    #[arg(long, env = "CLASSHUB_CHECKOUT_SUCCESS_URL")]
    pub checkout_success_url: Option<String>,
    /// Where Checkout sends the payer who backs out [default: http://localhost:8009/?checkout=cancel].
    #[arg(long, env = "CLASSHUB_CHECKOUT_CANCEL_URL")]
    pub checkout_cancel_url: Option<String>,
    /// Entitlements of each plan, as PLAN:SEATS:AI_TOKENS_PER_DAY (repeat, or comma-separate)
    /// [default: free:30:20000,classroom:40:200000,school:1000:2000000].
    #[arg(long = "plan", env = "CLASSHUB_PLANS", value_delimiter = ',')]
    pub plans: Option<Vec<String>>,
    /// API key of the OpenAI-compatible endpoint; without it the AI routes answer 503.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<String>,
    /// Base URL of the OpenAI-compatible endpoint [default: https://api.openai.com/v1].
    #[arg(long, env = "OPENAI_BASE_URL")]
    pub openai_base_url: Option<String>,
    /// Chat model for every AI task without its own [default: gpt-4o-mini].
    #[arg(long, env = "CLASSHUB_AI_MODEL")]
    pub ai_model: Option<String>,
    /// Model of one task, as TASK=MODEL (tasks: ask, explain, generate_content,
    /// create_assessment; repeat, or comma-separate).
    #[arg(
        long = "ai-task-model",
        env = "CLASSHUB_AI_TASK_MODELS",
        value_delimiter = ','
    )]
    pub ai_task_models: Option<Vec<String>>,
    /// Moderation model, or `off` to skip moderation (a keyword screen still runs)
    /// [default: omni-moderation-latest].
    #[arg(long, env = "CLASSHUB_AI_MODERATION_MODEL")]
    pub ai_moderation_model: Option<String>,
    /// Longest answer in tokens [default: 800].
    #[arg(long, env = "CLASSHUB_AI_MAX_TOKENS")]
    pub ai_max_tokens: Option<u32>,
}

impl ServeArgs {
    fn from_file(path: &Path) -> Result<ServeArgs, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::ReadFile {
            path: path.to_owned(),
            cause,
        })?;
        toml::from_str(&text).map_err(|cause| ConfigError::ParseFile {
            path: path.to_owned(),
            cause: Box::new(cause),
        })
    }

    /// Each setting from `self`, else from `lower`.
    fn or(self, lower: ServeArgs) -> ServeArgs {
        ServeArgs {
            config: self.config.or(lower.config),
            bind: self.bind.or(lower.bind),
            data_dir: self.data_dir.or(lower.data_dir),
            jwt_secret: self.jwt_secret.or(lower.jwt_secret),
            max_frame_bytes: self.max_frame_bytes.or(lower.max_frame_bytes),
            max_room_id_len: self.max_room_id_len.or(lower.max_room_id_len),
            max_payload_depth: self.max_payload_depth.or(lower.max_payload_depth),
            conn_queue_len: self.conn_queue_len.or(lower.conn_queue_len),
            ws_read_buffer_bytes: self.ws_read_buffer_bytes.or(lower.ws_read_buffer_bytes),
            max_rooms_per_conn: self.max_rooms_per_conn.or(lower.max_rooms_per_conn),
            max_connections: self.max_connections.or(lower.max_connections),
            publish_rate: self.publish_rate.or(lower.publish_rate),
            publish_burst: self.publish_burst.or(lower.publish_burst),
            history_len: self.history_len.or(lower.history_len),
            history_ttl: self.history_ttl.or(lower.history_ttl),
            room_grace: self.room_grace.or(lower.room_grace),
            heartbeat: self.heartbeat.or(lower.heartbeat),
            auth_timeout: self.auth_timeout.or(lower.auth_timeout),
            shutdown_timeout: self.shutdown_timeout.or(lower.shutdown_timeout),
            max_event_id_len: self.max_event_id_len.or(lower.max_event_id_len),
            database_url: self.database_url.or(lower.database_url),
            sink_batch_rows: self.sink_batch_rows.or(lower.sink_batch_rows),
            sink_batch_interval: self.sink_batch_interval.or(lower.sink_batch_interval),
            sink_queue_len: self.sink_queue_len.or(lower.sink_queue_len),
            sink_retry_max: self.sink_retry_max.or(lower.sink_retry_max),
            sink_writers: self.sink_writers.or(lower.sink_writers),
            pusher_tenant: self.pusher_tenant.or(lower.pusher_tenant),
            pusher_app_id: self.pusher_app_id.or(lower.pusher_app_id),
            pusher_key: self.pusher_key.or(lower.pusher_key),
            pusher_secret: self.pusher_secret.or(lower.pusher_secret),
            pusher_activity_timeout: self
                .pusher_activity_timeout
                .or(lower.pusher_activity_timeout),
            pusher_client_event_rate: self
                .pusher_client_event_rate
                .or(lower.pusher_client_event_rate),
            pusher_webhooks: self.pusher_webhooks.or(lower.pusher_webhooks),
            jwks_url: self.jwks_url.or(lower.jwks_url),
            jwt_issuer: self.jwt_issuer.or(lower.jwt_issuer),
            jwt_audience: self.jwt_audience.or(lower.jwt_audience),
            jwt_role_claim: self.jwt_role_claim.or(lower.jwt_role_claim),
            jwt_tenant_claim: self.jwt_tenant_claim.or(lower.jwt_tenant_claim),
            jwt_leeway: self.jwt_leeway.or(lower.jwt_leeway),
            jwks_refresh_interval: self.jwks_refresh_interval.or(lower.jwks_refresh_interval),
            api_rate_per_token: self.api_rate_per_token.or(lower.api_rate_per_token),
            api_burst_per_token: self.api_burst_per_token.or(lower.api_burst_per_token),
            api_rate_per_ip: self.api_rate_per_ip.or(lower.api_rate_per_ip),
            api_burst_per_ip: self.api_burst_per_ip.or(lower.api_burst_per_ip),
            roblox_poll_wait: self.roblox_poll_wait.or(lower.roblox_poll_wait),
            roblox_poll_max_wait: self.roblox_poll_max_wait.or(lower.roblox_poll_max_wait),
            roblox_max_batch: self.roblox_max_batch.or(lower.roblox_max_batch),
            roblox_max_body_bytes: self.roblox_max_body_bytes.or(lower.roblox_max_body_bytes),
            roblox_redeliver_after: self.roblox_redeliver_after.or(lower.roblox_redeliver_after),
            roblox_command_backlog: self.roblox_command_backlog.or(lower.roblox_command_backlog),
            roblox_session_idle: self.roblox_session_idle.or(lower.roblox_session_idle),
            roblox_link_per_minute: self.roblox_link_per_minute.or(lower.roblox_link_per_minute),
            roblox_ack_timeout: self.roblox_ack_timeout.or(lower.roblox_ack_timeout),
            game_key_cache: self.game_key_cache.or(lower.game_key_cache),
            open_cloud_base_url: self.open_cloud_base_url.or(lower.open_cloud_base_url),
            open_cloud_users_per_minute: self
                .open_cloud_users_per_minute
                .or(lower.open_cloud_users_per_minute),
            stripe_secret_key: self.stripe_secret_key.or(lower.stripe_secret_key),
            stripe_api_base: self.stripe_api_base.or(lower.stripe_api_base),
            stripe_webhook_secret: self.stripe_webhook_secret.or(lower.stripe_webhook_secret),
            stripe_webhook_tolerance: self
                .stripe_webhook_tolerance
                .or(lower.stripe_webhook_tolerance),
            stripe_prices: self.stripe_prices.or(lower.stripe_prices),
            checkout_success_url: self.checkout_success_url.or(lower.checkout_success_url),
            checkout_cancel_url: self.checkout_cancel_url.or(lower.checkout_cancel_url),
            plans: self.plans.or(lower.plans),
            openai_api_key: self.openai_api_key.or(lower.openai_api_key),
            openai_base_url: self.openai_base_url.or(lower.openai_base_url),
            ai_model: self.ai_model.or(lower.ai_model),
            ai_task_models: self.ai_task_models.or(lower.ai_task_models),
            ai_moderation_model: self.ai_moderation_model.or(lower.ai_moderation_model),
            ai_max_tokens: self.ai_max_tokens.or(lower.ai_max_tokens),
        }
    }

    /// The token settings, checked: URLs must be http(s), claim paths non-empty.
    fn auth_settings(&self, defaults: &AuthSettings) -> Result<AuthSettings, ConfigError> {
        let jwks_url = match &self.jwks_url {
            Some(url) if !(url.starts_with("https://") || url.starts_with("http://")) => {
                return Err(ConfigError::Invalid {
                    key: "jwks-url",
                    reason: format!("{url:?} must be an http(s) URL"),
                });
            }
            other => other.clone(),
        };
        let claim_path = |key: &'static str, value: &Option<String>, default: &str| match value {
            Some(path)
                if path.is_empty() || path.split('.').any(|segment| segment.trim().is_empty()) =>
            {
                Err(ConfigError::Invalid {
                    key,
                    reason: format!("{path:?} is not a dot path such as public_metadata.role"),
                })
            }
            Some(path) => Ok(path.clone()),
            None => Ok(default.to_owned()),
        };
        let refresh = self
            .jwks_refresh_interval
            .map_or(defaults.jwks_refresh_interval, |arg| arg.0);
        Ok(AuthSettings {
            jwks_url,
            issuer: self.jwt_issuer.clone().filter(|issuer| !issuer.is_empty()),
            audience: self
                .jwt_audience
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|audience| audience.trim().to_owned())
                .filter(|audience| !audience.is_empty())
                .collect(),
            role_claim: claim_path("jwt-role-claim", &self.jwt_role_claim, &defaults.role_claim)?,
            tenant_claim: claim_path(
                "jwt-tenant-claim",
                &self.jwt_tenant_claim,
                &defaults.tenant_claim,
            )?,
            leeway: self.jwt_leeway.map_or(defaults.leeway, |arg| arg.0),
            jwks_refresh_interval: refresh,
            jwks_max_age: defaults.jwks_max_age.max(refresh),
        })
    }

    fn roblox_settings(&self, defaults: &RobloxSettings) -> Result<RobloxSettings, ConfigError> {
        let positive = |key: &'static str, value: Option<DurationArg>, default: Duration| {
            let value = value.map_or(default, |arg| arg.0);
            if value.is_zero() {
                Err(ConfigError::Invalid {
                    key,
                    reason: "must be longer than zero".into(),
                })
            } else {
                Ok(value)
            }
        };
        let count = |key: &'static str, value: Option<usize>, default: usize| {
            let value = value.unwrap_or(default);
            if value == 0 {
                Err(ConfigError::Invalid {
                    key,
                    reason: "must be at least 1".into(),
                })
            } else {
                Ok(value)
            }
        };
        let poll_max_wait = positive(
            "roblox-poll-max-wait",
            self.roblox_poll_max_wait,
            defaults.poll_max_wait,
        )?;
        let poll_wait = positive(
            "roblox-poll-wait",
            self.roblox_poll_wait,
            defaults.poll_wait,
        )?;
        if poll_wait > poll_max_wait {
            return Err(ConfigError::Invalid {
                key: "roblox-poll-wait",
                reason: format!(
                    "{poll_wait:?} is longer than roblox-poll-max-wait ({poll_max_wait:?})"
                ),
            });
        }
        let open_cloud_base = match &self.open_cloud_base_url {
            None => defaults.open_cloud_base.clone(),
            Some(text) => {
                // `Url::join` keeps the last path segment only when it ends in '/'.
                let with_slash = if text.ends_with('/') {
                    text.clone()
                } else {
                    format!("{text}/")
                };
                match url::Url::parse(&with_slash) {
                    Ok(url) if matches!(url.scheme(), "http" | "https") => url,
                    _ => {
                        return Err(ConfigError::Invalid {
                            key: "open-cloud-base-url",
                            reason: format!("{text:?} is not an http(s) URL"),
                        });
                    }
                }
            }
        };
        Ok(RobloxSettings {
            poll_wait,
            poll_max_wait,
            max_batch: count(
                "roblox-max-batch",
                self.roblox_max_batch,
                defaults.max_batch,
            )?,
            max_body_bytes: count(
                "roblox-max-body-bytes",
                self.roblox_max_body_bytes,
                defaults.max_body_bytes,
            )?,
            redeliver_after: positive(
                "roblox-redeliver-after",
                self.roblox_redeliver_after,
                defaults.redeliver_after,
            )?,
            command_backlog: count(
                "roblox-command-backlog",
                self.roblox_command_backlog,
                defaults.command_backlog,
            )?,
            session_idle: positive(
                "roblox-session-idle",
                self.roblox_session_idle,
                defaults.session_idle,
            )?,
            link_per_minute: count(
                "roblox-link-per-minute",
                self.roblox_link_per_minute.map(|rate| rate as usize),
                defaults.link_per_minute as usize,
            )? as u32,
            ack_timeout: positive(
                "roblox-ack-timeout",
                self.roblox_ack_timeout,
                defaults.ack_timeout,
            )?,
            open_cloud_base,
            open_cloud_users_per_minute: count(
                "open-cloud-users-per-minute",
                self.open_cloud_users_per_minute.map(|rate| rate as usize),
                defaults.open_cloud_users_per_minute as usize,
            )? as u32,
            key_cache: self.game_key_cache.map_or(defaults.key_cache, |arg| arg.0),
        })
    }

    fn into_config(self) -> Result<Config, ConfigError> {
        let defaults = Config::default();
        let auth = self.auth_settings(&defaults.auth)?;
        let roblox = self.roblox_settings(&defaults.roblox)?;
        let billing = crate::billing::settings_from(&self)?;
        let ai = crate::ai::settings_from(&self)?;
        let at_least_one = |key: &'static str, value: usize| {
            if value == 0 {
                Err(ConfigError::Invalid {
                    key,
                    reason: "must be at least 1".into(),
                })
            } else {
                Ok(value)
            }
        };
        let nonzero_duration =
            |key: &'static str, value: Option<DurationArg>, default: Duration| {
                let value = value.map_or(default, |arg| arg.0);
                if value.is_zero() {
                    Err(ConfigError::Invalid {
                        key,
                        reason: "must be longer than zero".into(),
                    })
                } else {
                    Ok(value)
                }
            };
        let limits = Limits {
            max_frame_bytes: at_least_one(
                "max-frame-bytes",
                self.max_frame_bytes
                    .unwrap_or(defaults.limits.max_frame_bytes),
            )?,
            max_room_id_len: at_least_one(
                "max-room-id-len",
                self.max_room_id_len
                    .unwrap_or(defaults.limits.max_room_id_len),
            )?,
            max_payload_depth: self
                .max_payload_depth
                .unwrap_or(defaults.limits.max_payload_depth),
            max_event_id_len: at_least_one(
                "max-event-id-len",
                self.max_event_id_len
                    .unwrap_or(defaults.limits.max_event_id_len),
            )?,
        };
        let sink = SinkSettings {
            batch_rows: at_least_one(
                "sink-batch-rows",
                self.sink_batch_rows.unwrap_or(defaults.sink.batch_rows),
            )?,
            batch_interval: self
                .sink_batch_interval
                .map_or(defaults.sink.batch_interval, |arg| arg.0),
            queue_len: at_least_one(
                "sink-queue-len",
                self.sink_queue_len.unwrap_or(defaults.sink.queue_len),
            )?,
            retry_min: defaults.sink.retry_min,
            retry_max: nonzero_duration(
                "sink-retry-max",
                self.sink_retry_max,
                defaults.sink.retry_max,
            )?
            .max(defaults.sink.retry_min),
            writers: at_least_one(
                "sink-writers",
                self.sink_writers.unwrap_or(defaults.sink.writers),
            )?,
        };
        let pusher_app = match (self.pusher_app_id, self.pusher_key, self.pusher_secret) {
            (None, None, None) => None,
            (Some(app_id), Some(key), Some(secret)) => Some(PusherApp {
                tenant: self.pusher_tenant.unwrap_or_else(|| "default".to_owned()),
                app_id,
                key,
                secret,
            }),
            _ => {
                return Err(ConfigError::Invalid {
                    key: "pusher-app-id/pusher-key/pusher-secret",
                    reason: "give all three or none".into(),
                });
            }
        };
        let mut pusher_webhooks = HashMap::new();
        for entry in self.pusher_webhooks.unwrap_or_default() {
            let parsed = entry.split_once('=').filter(|(tenant, url)| {
                !tenant.is_empty() && (url.starts_with("http://") || url.starts_with("https://"))
            });
            let Some((tenant, url)) = parsed else {
                return Err(ConfigError::Invalid {
                    key: "pusher-webhook",
                    reason: format!("{entry:?} is not TENANT=http(s)://URL"),
                });
            };
            pusher_webhooks.insert(tenant.to_owned(), url.to_owned());
        }
        let database_url = match self.database_url {
            Some(url)
                if !(url.starts_with("postgres://")
                    || url.starts_with("postgresql://")
                    || url.starts_with("sqlite:")) =>
            {
                return Err(ConfigError::Invalid {
                    key: "database-url",
                    reason: "must start with postgres://, postgresql:// or sqlite:".into(),
                });
            }
            other => other,
        };
        let jwt_secret = match self.jwt_secret {
            Some(secret) if secret.trim().len() < 16 => {
                return Err(ConfigError::Invalid {
                    key: "jwt-secret",
                    reason: "must be at least 16 characters".into(),
                });
            }
            other => other,
        };
        let positive = |key: &'static str, value: Option<u32>, default: u32| {
            at_least_one(key, value.unwrap_or(default) as usize).map(|value| value as u32)
        };
        let api_limits = ApiLimits {
            per_token_rate: positive(
                "api-rate-per-token",
                self.api_rate_per_token,
                defaults.api_limits.per_token_rate,
            )?,
            per_token_burst: positive(
                "api-burst-per-token",
                self.api_burst_per_token,
                defaults.api_limits.per_token_burst,
            )?,
            per_ip_rate: positive(
                "api-rate-per-ip",
                self.api_rate_per_ip,
                defaults.api_limits.per_ip_rate,
            )?,
            per_ip_burst: positive(
                "api-burst-per-ip",
                self.api_burst_per_ip,
                defaults.api_limits.per_ip_burst,
            )?,
        };
        Ok(Config {
            auth,
            api_limits,
            roblox,
            billing,
            ai,
            bind: self.bind.unwrap_or(defaults.bind),
            data_dir: self.data_dir.unwrap_or(defaults.data_dir),
            jwt_secret,
            limits,
            conn_queue_len: at_least_one(
                "conn-queue-len",
                self.conn_queue_len.unwrap_or(defaults.conn_queue_len),
            )?,
            ws_read_buffer_bytes: at_least_one(
                "ws-read-buffer-bytes",
                self.ws_read_buffer_bytes
                    .unwrap_or(defaults.ws_read_buffer_bytes),
            )?,
            max_rooms_per_conn: at_least_one(
                "max-rooms-per-conn",
                self.max_rooms_per_conn
                    .unwrap_or(defaults.max_rooms_per_conn),
            )?,
            max_connections: at_least_one(
                "max-connections",
                self.max_connections.unwrap_or(defaults.max_connections),
            )?,
            publish_rate: at_least_one(
                "publish-rate",
                self.publish_rate.unwrap_or(defaults.publish_rate) as usize,
            )? as u32,
            publish_burst: at_least_one(
                "publish-burst",
                self.publish_burst.unwrap_or(defaults.publish_burst) as usize,
            )? as u32,
            history_len: self.history_len.unwrap_or(defaults.history_len),
            history_ttl: nonzero_duration("history-ttl", self.history_ttl, defaults.history_ttl)?,
            room_grace: self.room_grace.map_or(defaults.room_grace, |arg| arg.0),
            heartbeat: nonzero_duration("heartbeat", self.heartbeat, defaults.heartbeat)?,
            auth_timeout: nonzero_duration(
                "auth-timeout",
                self.auth_timeout,
                defaults.auth_timeout,
            )?,
            shutdown_timeout: nonzero_duration(
                "shutdown-timeout",
                self.shutdown_timeout,
                defaults.shutdown_timeout,
            )?,
            database_url,
            sink,
            pusher_app,
            pusher_activity_timeout: nonzero_duration(
                "pusher-activity-timeout",
                self.pusher_activity_timeout,
                defaults.pusher_activity_timeout,
            )?,
            pusher_client_event_rate: at_least_one(
                "pusher-client-event-rate",
                self.pusher_client_event_rate
                    .unwrap_or(defaults.pusher_client_event_rate) as usize,
            )? as u32,
            pusher_webhooks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let dir = std::env::temp_dir().join(format!("classhub-config-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("classhub.toml");
        std::fs::write(
            &path,
            "bind = \"127.0.0.1:9000\"\nheartbeat = \"5s\"\nconn_queue_len = 7\n",
        )
        .expect("write");
        let args = ServeArgs {
            config: Some(path),
            conn_queue_len: Some(9),
            ..ServeArgs::default()
        };
        let config = Config::resolve(args).expect("resolve");
        assert_eq!(config.bind, SocketAddr::from(([127, 0, 0, 1], 9000)));
        assert_eq!(config.heartbeat, Duration::from_secs(5));
        assert_eq!(config.conn_queue_len, 9);
        assert_eq!(config.history_len, 256);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn bad_settings_name_their_key() {
        let dir = std::env::temp_dir().join(format!("classhub-config-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("classhub.toml");
        std::fs::write(&path, "heartbeet = \"5s\"\n").expect("write");
        let error = Config::resolve(ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        })
        .expect_err("typo");
        assert!(error.to_string().contains("heartbeet"), "{error}");
        let error = Config::resolve(ServeArgs {
            conn_queue_len: Some(0),
            ..ServeArgs::default()
        })
        .expect_err("zero");
        assert!(error.to_string().contains("conn-queue-len"), "{error}");
        let error = Config::resolve(ServeArgs {
            ws_read_buffer_bytes: Some(0),
            ..ServeArgs::default()
        })
        .expect_err("zero");
        assert!(
            error.to_string().contains("ws-read-buffer-bytes"),
            "{error}"
        );
        let error = Config::resolve(ServeArgs {
            config: Some(dir.join("missing.toml")),
            ..ServeArgs::default()
        })
        .expect_err("missing file");
        assert!(error.to_string().contains("missing.toml"), "{error}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn the_readme_documents_every_setting() {
        use clap::Args;
        let readme = include_str!("../../README.md");
        let command = ServeArgs::augment_args(clap::Command::new("serve"));
        for arg in command.get_arguments() {
            let Some(flag) = arg.get_long() else { continue };
            if flag == "help" {
                continue;
            }
            assert!(
                readme.contains(&format!("| `--{flag}` |")),
                "README's configuration table lacks --{flag}"
            );
            if let Some(env) = arg.get_env() {
                let env = env.to_string_lossy();
                assert!(
                    readme.contains(&format!("| `{env}` |")),
                    "README's configuration table lacks {env}"
                );
            }
        }
    }

    #[test]
    fn ai_and_billing_settings_are_parsed_and_checked() {
        let config = Config::resolve(ServeArgs {
            openai_api_key: Some("sk-x".into()),
            openai_base_url: Some("http://127.0.0.1:9/v1/".into()),
            ai_task_models: Some(vec!["create_assessment=big".into()]),
            ai_moderation_model: Some("off".into()),
            stripe_prices: Some(vec!["school=price_1".into()]),
            plans: Some(vec!["free:5:100".into(), "school:50:1000".into()]),
            ..ServeArgs::default()
        })
        .expect("valid");
        assert_eq!(config.ai.base_url, "http://127.0.0.1:9/v1");
        assert_eq!(config.ai.model(crate::ai::Task::CreateAssessment), "big");
        assert_eq!(config.ai.model(crate::ai::Task::Ask), "gpt-4o-mini");
        assert_eq!(config.ai.moderation_model, None);
        assert_eq!(config.billing.default_plan().seats, 5);
        assert_eq!(config.billing.plan_of_price("price_1"), Some("school"));
        assert_eq!(config.billing.stripe_api_base, "https://api.stripe.com");
        // Named plans bind tenants without a subscription; a server without billing binds none.
        assert!(config.billing.enforces_default_seats());
        let bare = Config::resolve(ServeArgs::default()).expect("defaults");
        assert!(!bare.billing.enforces_default_seats());
        let refused = |args: ServeArgs, key: &str| {
            let error = Config::resolve(args).expect_err(key);
            assert!(error.to_string().contains(key), "{key}: {error}");
        };
        refused(
            ServeArgs {
                plans: Some(vec!["free:many:100".into()]),
                ..ServeArgs::default()
            },
            "plan",
        );
        refused(
            ServeArgs {
                stripe_prices: Some(vec!["platinum=price_1".into()]),
                ..ServeArgs::default()
            },
            "stripe-price",
        );
        refused(
            ServeArgs {
                ai_task_models: Some(vec!["chat=gpt".into()]),
                ..ServeArgs::default()
            },
            "ai-task-model",
        );
        refused(
            ServeArgs {
                stripe_api_base: Some("api.stripe.com".into()),
                ..ServeArgs::default()
            },
            "stripe-api-base",
        );
    }
}
