//! What the operator may set about Roblox game servers ([`RobloxArgs`]: long-poll, ingest
//! batches, command redelivery, sessions, linking, Open Cloud, the key and content caches) and how it is
//! checked into [`RobloxSettings`], defaults included.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::RobloxSettings;
use crate::config::{
    ConfigError, DurationArg, at_least_one, duration_or, layered, longer_than_zero,
};

layered! {
    /// The Roblox settings (see `crate::config` for how flags, environment and file combine).
    #[derive(Debug, Clone, Default, clap::Args, Deserialize)]
    pub struct RobloxArgs {
        /// Long-poll hold the SDK is told to ask for [default: 20s].
        #[arg(long, env = "CLASSHUB_ROBLOX_POLL_WAIT")]
        pub roblox_poll_wait: Option<DurationArg>,
        /// Longest command long-poll granted [default: 25s].
        #[arg(long, env = "CLASSHUB_ROBLOX_POLL_MAX_WAIT")]
        pub roblox_poll_max_wait: Option<DurationArg>,
        /// Most events per ingest request (more: 413) [default: 100].
        #[arg(long, env = "CLASSHUB_ROBLOX_MAX_BATCH")]
        pub roblox_max_batch: Option<usize>,
        /// Largest request body on the Roblox routes, in bytes (more: 413) [default: 1048576].
        #[arg(long, env = "CLASSHUB_ROBLOX_MAX_BODY_BYTES")]
        pub roblox_max_body_bytes: Option<usize>,
        /// An unacknowledged command is delivered again after this [default: 10s].
        #[arg(long, env = "CLASSHUB_ROBLOX_REDELIVER_AFTER")]
        pub roblox_redeliver_after: Option<DurationArg>,
        /// Unacknowledged commands kept per game session (past it the oldest is dropped and
        /// reported `expired`) [default: 256].
        #[arg(long, env = "CLASSHUB_ROBLOX_COMMAND_BACKLOG")]
        pub roblox_command_backlog: Option<usize>,
        /// A game session silent this long is closed [default: 120s].
        #[arg(long, env = "CLASSHUB_ROBLOX_SESSION_IDLE")]
        pub roblox_session_idle: Option<DurationArg>,
        /// Link attempts per minute per Roblox player (per key: 20×); over it 429 [default: 5].
        #[arg(long, env = "CLASSHUB_ROBLOX_LINK_PER_MINUTE")]
        pub roblox_link_per_minute: Option<u32>,
        /// Longest wait for an ingest batch's commit before answering 503 [default: 10s].
        #[arg(long, env = "CLASSHUB_ROBLOX_ACK_TIMEOUT")]
        pub roblox_ack_timeout: Option<DurationArg>,
        /// How long a game-server key look-up is trusted (a revoked key stops within it)
        /// [default: 10s].
        #[arg(long, env = "CLASSHUB_GAME_KEY_CACHE")]
        pub game_key_cache: Option<DurationArg>,
        /// Bytes the game-server key cache holds at most, unknown keys included (the least
        /// used go first) [default: 4194304].
        #[arg(long, env = "CLASSHUB_GAME_KEY_CACHE_BYTES")]
        pub game_key_cache_bytes: Option<u64>,
        /// How long a game's copy of a lesson or answer key is trusted before the database is
        /// asked again (edits on this node apply at once) [default: 30s].
        #[arg(long, env = "CLASSHUB_GAME_CONTENT_CACHE")]
        pub game_content_cache: Option<DurationArg>,
        /// Bytes the game content cache (lessons and answer keys games read) holds at most
        /// [default: 16777216].
        #[arg(long, env = "CLASSHUB_GAME_CONTENT_CACHE_BYTES")]
        pub game_content_cache_bytes: Option<u64>,
        /// Roblox Open Cloud (MessagingService wake-ups, user look-ups)
        /// [default: https://apis.roblox.com].
        #[arg(long, env = "CLASSHUB_OPEN_CLOUD_BASE_URL")]
        pub open_cloud_base_url: Option<String>,
        /// Open Cloud user look-ups (display names) per minute [default: 30].
        #[arg(long, env = "CLASSHUB_OPEN_CLOUD_USERS_PER_MINUTE")]
        pub open_cloud_users_per_minute: Option<u32>,
    }
}

impl RobloxArgs {
    /// The Roblox settings, checked: counts at least 1, intervals above zero, the SDK's poll no
    /// longer than the longest granted, Open Cloud an http(s) URL.
    pub fn resolve(self) -> Result<RobloxSettings, ConfigError> {
        let poll_max_wait = longer_than_zero(
            "roblox-poll-max-wait",
            self.roblox_poll_max_wait,
            Duration::from_secs(25),
        )?;
        let poll_wait = longer_than_zero(
            "roblox-poll-wait",
            self.roblox_poll_wait,
            Duration::from_secs(20),
        )?;
        if poll_wait > poll_max_wait {
            return Err(ConfigError::Invalid {
                key: "roblox-poll-wait",
                reason: format!(
                    "{poll_wait:?} is longer than roblox-poll-max-wait ({poll_max_wait:?})"
                ),
            });
        }
        let open_cloud_base_url = self
            .open_cloud_base_url
            .unwrap_or_else(|| "https://apis.roblox.com".to_owned());
        // `Url::join` keeps the last path segment only when it ends in '/'.
        let with_slash = if open_cloud_base_url.ends_with('/') {
            open_cloud_base_url.clone()
        } else {
            format!("{open_cloud_base_url}/")
        };
        let open_cloud_base = match Url::parse(&with_slash) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            _ => {
                return Err(ConfigError::Invalid {
                    key: "open-cloud-base-url",
                    reason: format!("{open_cloud_base_url:?} is not an http(s) URL"),
                });
            }
        };
        Ok(RobloxSettings {
            poll_wait,
            poll_max_wait,
            max_batch: at_least_one("roblox-max-batch", self.roblox_max_batch, 100)?,
            max_body_bytes: at_least_one(
                "roblox-max-body-bytes",
                self.roblox_max_body_bytes,
                1 << 20,
            )?,
            redeliver_after: longer_than_zero(
                "roblox-redeliver-after",
                self.roblox_redeliver_after,
                Duration::from_secs(10),
            )?,
            command_backlog: at_least_one(
                "roblox-command-backlog",
                self.roblox_command_backlog,
                256,
            )?,
            session_idle: longer_than_zero(
                "roblox-session-idle",
                self.roblox_session_idle,
                Duration::from_secs(120),
            )?,
            link_per_minute: at_least_one(
                "roblox-link-per-minute",
                self.roblox_link_per_minute,
                5,
            )?,
            ack_timeout: longer_than_zero(
                "roblox-ack-timeout",
                self.roblox_ack_timeout,
                Duration::from_secs(10),
            )?,
            open_cloud_base,
            open_cloud_users_per_minute: at_least_one(
                "open-cloud-users-per-minute",
                self.open_cloud_users_per_minute,
                30,
            )?,
            key_cache: duration_or(self.game_key_cache, Duration::from_secs(10)),
            key_cache_bytes: self.game_key_cache_bytes.unwrap_or(4 << 20),
            content_cache: duration_or(self.game_content_cache, Duration::from_secs(30)),
            content_cache_bytes: self.game_content_cache_bytes.unwrap_or(16 << 20),
        })
    }
}

impl Default for RobloxSettings {
    fn default() -> Self {
        RobloxArgs::default()
            .resolve()
            .expect("the built-in defaults are valid")
    }
}
