//! What the operator may set about sockets: [`SocketArgs`] for every socket (read buffer,
//! connection limit, publish rate, heartbeat, auth deadline), [`PusherArgs`] for Pusher ones
//! (a fixed app, activity timeout, client-event rate, webhooks) and [`QuicArgs`] for the native
//! protocol over QUIC (its UDP address, its certificate), and how each is checked into
//! [`SocketSettings`], [`PusherSettings`] and [`QuicSettings`], defaults included.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::pusher_apps::PusherApp;
use crate::config::{ConfigError, DurationArg, at_least_one, layered, longer_than_zero};

layered! {
    /// Settings of every socket, native and Pusher (see `crate::config` for how flags,
    /// environment and file combine).
    #[derive(Debug, Clone, Default, clap::Args, Deserialize)]
    pub struct SocketArgs {
        /// Bytes a socket reads at a time: its read buffer, resident for every socket (about
        /// 7 KiB per idle socket in all at 1024); larger frames still arrive, in more reads
        /// [default: 1024].
        #[arg(long, env = "CLASSHUB_WS_READ_BUFFER_BYTES")]
        pub ws_read_buffer_bytes: Option<usize>,
        /// Concurrent sockets; more get HTTP 503 [default: 100000].
        #[arg(long, env = "CLASSHUB_MAX_CONNECTIONS")]
        pub max_connections: Option<usize>,
        /// Concurrent sockets of one tenant (native ones once authenticated, Pusher ones by
        /// their app key); more are closed with 4102 (Pusher: 4100, reconnect later)
        /// [default: 20000].
        #[arg(long, env = "CLASSHUB_MAX_CONNECTIONS_PER_TENANT")]
        pub max_connections_per_tenant: Option<usize>,
        /// Concurrent Pusher sockets from one client IP (Pusher sockets need only the public
        /// app key); more are closed with Pusher 4100 (reconnect later) [default: 1000].
        #[arg(long, env = "CLASSHUB_MAX_PUSHER_CONNECTIONS_PER_IP")]
        pub max_pusher_connections_per_ip: Option<usize>,
        /// Sustained `publish`/`presence`/`join`/`leave` frames (and Pusher subscriptions) per
        /// second per connection [default: 20].
        #[arg(long, env = "CLASSHUB_PUBLISH_RATE")]
        pub publish_rate: Option<u32>,
        /// Burst allowance of `publish`/`presence`/`join`/`leave` frames (and Pusher
        /// subscriptions) per connection [default: 40].
        #[arg(long, env = "CLASSHUB_PUBLISH_BURST")]
        pub publish_burst: Option<u32>,
        /// Refused frames (over the rate limit, undecodable, over the size limit, Pusher client
        /// events over theirs) one connection may send within 10 s; the next closes it with
        /// 4103 (Pusher: 4101), so a flood costs the server a bounded amount [default: 100].
        #[arg(long, env = "CLASSHUB_MAX_REFUSED_FRAMES")]
        pub max_refused_frames: Option<u32>,
        /// Server ping interval; silence for twice this closes a socket (4101) [default: 25s].
        #[arg(long, env = "CLASSHUB_HEARTBEAT")]
        pub heartbeat: Option<DurationArg>,
        /// Time allowed for the `auth` frame (4002) [default: 10s].
        #[arg(long, env = "CLASSHUB_AUTH_TIMEOUT")]
        pub auth_timeout: Option<DurationArg>,
    }
}

layered! {
    /// Settings of Pusher sockets and webhooks (see `crate::config` for how flags, environment
    /// and file combine).
    #[derive(Debug, Clone, Default, clap::Args, Deserialize)]
    pub struct PusherArgs {
        /// Tenant whose Pusher app the next three settings fix [default: default].
        #[arg(long, env = "CLASSHUB_PUSHER_TENANT")]
        pub pusher_tenant: Option<String>,
        /// Fixed Pusher app id (all three or none; without them every tenant's app is derived
        /// from the server's secret).
        #[arg(long, env = "CLASSHUB_PUSHER_APP_ID")]
        pub pusher_app_id: Option<String>,
        /// Fixed Pusher app key.
        #[arg(long, env = "CLASSHUB_PUSHER_KEY")]
        pub pusher_key: Option<String>,
        /// Fixed Pusher app secret.
        #[arg(long, env = "CLASSHUB_PUSHER_SECRET", hide_env_values = true)]
        pub pusher_secret: Option<String>,
        /// Activity timeout announced to Pusher clients; silence for twice this closes with 4201
        /// [default: 120s].
        #[arg(long, env = "CLASSHUB_PUSHER_ACTIVITY_TIMEOUT")]
        pub pusher_activity_timeout: Option<DurationArg>,
        /// Client events per second per Pusher socket (over it: error 4301) [default: 10].
        #[arg(long, env = "CLASSHUB_PUSHER_CLIENT_EVENT_RATE")]
        pub pusher_client_event_rate: Option<u32>,
        /// `TENANT=URL` of a tenant's Pusher webhooks; repeat the flag, or comma-separate in the
        /// variable.
        #[arg(
            long = "pusher-webhook",
            env = "CLASSHUB_PUSHER_WEBHOOKS",
            value_delimiter = ','
        )]
        pub pusher_webhooks: Option<Vec<String>>,
        /// Bytes of undelivered webhook events one tenant's queue holds; past it that tenant's
        /// newest events are dropped (counted in `classhub_webhooks_dropped_total`)
        /// [default: 1048576].
        #[arg(long, env = "CLASSHUB_PUSHER_WEBHOOK_QUEUE_BYTES")]
        pub pusher_webhook_queue_bytes: Option<usize>,
    }
}

layered! {
    /// Settings of the native protocol over QUIC (see `crate::config` for how flags,
    /// environment and file combine).
    #[derive(Debug, Clone, Default, clap::Args, Deserialize)]
    pub struct QuicArgs {
        /// UDP address of the native protocol over QUIC (ALPN `classhub.v1.json` or
        /// `classhub.v1.msgpack`); without it QUIC is off.
        #[arg(long, env = "CLASSHUB_QUIC_BIND")]
        pub quic_bind: Option<SocketAddr>,
        /// PEM certificate chain of the QUIC listener (with --tls-key); without both a
        /// self-signed development certificate is made at start and its SHA-256 logged.
        #[arg(long, env = "CLASSHUB_TLS_CERT")]
        pub tls_cert: Option<PathBuf>,
        /// PEM private key (PKCS#8, PKCS#1 or SEC1) of --tls-cert.
        #[arg(long, env = "CLASSHUB_TLS_KEY")]
        pub tls_key: Option<PathBuf>,
        /// Bytes of ephemeral events one QUIC connection may hold as datagrams not yet sent;
        /// past it the oldest are dropped (a congested path loses stale positions, not fresh
        /// ones) [default: 65536].
        #[arg(long, env = "CLASSHUB_QUIC_DATAGRAM_BUFFER")]
        pub quic_datagram_buffer: Option<usize>,
    }
}

/// Settings of the native protocol over QUIC.
#[derive(Debug, Clone)]
pub struct QuicSettings {
    /// The UDP address to listen on; `None`: QUIC is off.
    pub bind: Option<SocketAddr>,
    /// The certificate chain and key files; `None`: a self-signed development certificate.
    pub tls: Option<TlsFiles>,
    /// Unsent datagram bytes per connection before the oldest are dropped.
    pub datagram_buffer: usize,
}

/// A PEM certificate chain and its private key, as files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain (leaf first).
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// Settings of every socket.
#[derive(Debug, Clone)]
pub struct SocketSettings {
    /// Bytes each WebSocket reads at a time: the per-socket read buffer, resident for every
    /// socket (tungstenite zero-fills it); larger frames still arrive (the buffer grows).
    pub ws_read_buffer_bytes: usize,
    /// Concurrent WebSocket connections; more are refused with HTTP 503.
    pub max_connections: usize,
    /// Concurrent WebSocket connections of one tenant.
    pub max_connections_per_tenant: usize,
    /// Concurrent Pusher connections from one client IP.
    pub max_pusher_connections_per_ip: usize,
    /// Sustained publishes per second per connection.
    pub publish_rate: u32,
    /// Publish burst per connection.
    pub publish_burst: u32,
    /// Refused frames a connection may send within 10 s before it is closed.
    pub max_refused_frames: u32,
    /// Server ping interval; a connection silent for twice this is closed.
    pub heartbeat: Duration,
    /// How long a connection without a token may take to send `auth`.
    pub auth_timeout: Duration,
}

/// Settings of Pusher sockets and webhooks.
#[derive(Debug, Clone)]
pub struct PusherSettings {
    /// Fixed Pusher credentials for one tenant (other tenants' apps are derived).
    pub app: Option<PusherApp>,
    /// Heartbeat interval announced to and applied on Pusher sockets (`activity_timeout`).
    pub activity_timeout: Duration,
    /// Client events per second a Pusher socket may send (Pusher's rule is 10).
    pub client_event_rate: u32,
    /// Pusher webhook URL per tenant.
    pub webhooks: HashMap<String, String>,
    /// Bytes of undelivered webhook events one tenant's queue holds.
    pub webhook_queue_bytes: usize,
}

impl SocketArgs {
    /// The sockets' settings, checked: counts at least 1, intervals above zero.
    pub fn resolve(self) -> Result<SocketSettings, ConfigError> {
        Ok(SocketSettings {
            ws_read_buffer_bytes: at_least_one(
                "ws-read-buffer-bytes",
                self.ws_read_buffer_bytes,
                1024,
            )?,
            max_connections: at_least_one("max-connections", self.max_connections, 100_000)?,
            max_connections_per_tenant: at_least_one(
                "max-connections-per-tenant",
                self.max_connections_per_tenant,
                20_000,
            )?,
            max_pusher_connections_per_ip: at_least_one(
                "max-pusher-connections-per-ip",
                self.max_pusher_connections_per_ip,
                1_000,
            )?,
            publish_rate: at_least_one("publish-rate", self.publish_rate, 20)?,
            publish_burst: at_least_one("publish-burst", self.publish_burst, 40)?,
            max_refused_frames: at_least_one("max-refused-frames", self.max_refused_frames, 100)?,
            heartbeat: longer_than_zero("heartbeat", self.heartbeat, Duration::from_secs(25))?,
            auth_timeout: longer_than_zero(
                "auth-timeout",
                self.auth_timeout,
                Duration::from_secs(10),
            )?,
        })
    }
}

impl PusherArgs {
    /// The Pusher settings, checked: the fixed app's three parts together or not at all,
    /// webhooks as `TENANT=http(s)://…`.
    pub fn resolve(self) -> Result<PusherSettings, ConfigError> {
        let app = match (self.pusher_app_id, self.pusher_key, self.pusher_secret) {
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
        let mut webhooks = HashMap::new();
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
            webhooks.insert(tenant.to_owned(), url.to_owned());
        }
        Ok(PusherSettings {
            app,
            activity_timeout: longer_than_zero(
                "pusher-activity-timeout",
                self.pusher_activity_timeout,
                Duration::from_secs(120),
            )?,
            client_event_rate: at_least_one(
                "pusher-client-event-rate",
                self.pusher_client_event_rate,
                10,
            )?,
            webhooks,
            webhook_queue_bytes: at_least_one(
                "pusher-webhook-queue-bytes",
                self.pusher_webhook_queue_bytes,
                1 << 20,
            )?,
        })
    }
}

impl QuicArgs {
    /// The QUIC settings, checked: the certificate and key together or not at all, and only
    /// with `--quic-bind` (nothing else serves TLS).
    pub fn resolve(self) -> Result<QuicSettings, ConfigError> {
        let tls = match (self.tls_cert, self.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (Some(_), None) | (None, Some(_)) => {
                return Err(ConfigError::Invalid {
                    key: "tls-cert/tls-key",
                    reason: "give both or neither".into(),
                });
            }
        };
        if tls.is_some() && self.quic_bind.is_none() {
            return Err(ConfigError::Invalid {
                key: "tls-cert",
                reason: "the certificate is used only by the QUIC listener; set --quic-bind too"
                    .into(),
            });
        }
        Ok(QuicSettings {
            bind: self.quic_bind,
            tls,
            datagram_buffer: at_least_one(
                "quic-datagram-buffer",
                self.quic_datagram_buffer,
                64 * 1024,
            )?,
        })
    }
}

impl Default for QuicSettings {
    fn default() -> Self {
        QuicArgs::default()
            .resolve()
            .expect("the built-in defaults are valid")
    }
}

impl Default for SocketSettings {
    fn default() -> Self {
        SocketArgs::default()
            .resolve()
            .expect("the built-in defaults are valid")
    }
}

impl Default for PusherSettings {
    fn default() -> Self {
        PusherArgs::default()
            .resolve()
            .expect("the built-in defaults are valid")
    }
}
