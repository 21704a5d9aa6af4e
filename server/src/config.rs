//! Server configuration: every setting of `classhub serve`, from command-line flags,
//! `CLASSHUB_*` environment variables and an optional TOML file, in that order of precedence,
//! over built-in defaults. A setting the user gave explicitly that cannot be used stops start-up
//! with a message naming it; nothing silently falls back to a default.
//!
//! **Declared once, by the feature that uses it.** Each feature declares its settings in one
//! `…Args` struct in its own folder: `hub::HubArgs`, `transport::settings::{SocketArgs,
//! PusherArgs, QuicArgs}`, `roblox::RobloxArgs`, `auth::AuthArgs`, `api::limits::ApiLimitsArgs`,
//! `ai::AiArgs`, `billing::BillingArgs`, `privacy::PrivacyArgs`, `chat::ChatArgs`, `platform::catalog::ContentArgs`, `media::MediaArgs`. The server's own basics ([`ServerArgs`]) and the
//! durable-event sink's ([`SinkArgs`]; `persistence` knows nothing of flags) are here.
//! [`ServeArgs`] flattens them all. One field declares one setting: its flag
//! (`--roblox-max-batch`), its environment variable (`CLASSHUB_ROBLOX_MAX_BATCH`, written in the
//! `#[arg]`; a test holds it to `CLASSHUB_` + the TOML key upper-cased, or to one of the standard
//! names in [`STANDARD_ENV`]), its TOML key (the field name, `roblox_max_batch`; repeatable flags
//! such as `--plan` take the plural, `plans`), its `--help` text, and its row in the README's
//! table ([`markdown_table`]). The struct's `resolve` checks the values, fills in the defaults
//! (each written once, there) and builds the settings the feature runs with (`RobloxSettings`,
//! …); its errors name the flag. A settings struct's `Default` is the resolution of nothing
//! given.
//!
//! **Layering.** Every field of an `…Args` struct is an `Option`, `None` where a source says
//! nothing. clap fills [`ServeArgs`] from the flags and the environment. The file is a flat TOML
//! table, read into the same structs: each feature deserializes the whole file and takes its own
//! keys (so a wrong value keeps toml's line-and-column message), and a key that no setting has is
//! refused by name. [`layered!`] wraps each struct's declaration and implements [`Layered::or`]
//! for it, field by field, so `flags.or(file)` needs no code per setting; `resolve` then fills
//! what is still `None` with defaults.
//!
//! **Adding a setting:** add one field to the feature's `…Args` struct: a doc comment (its help;
//! end it with `[default: X]` when the default is a value one could write), `#[arg(long, env =
//! "CLASSHUB_…")]` and an `Option<T>` type. Use it in that struct's `resolve`, and in the settings
//! struct `resolve` builds. Then regenerate the README's table with
//! `cargo run -p server --bin classhub -- config --markdown`: a test fails until README.md has it,
//! and another until the documented default is the one `resolve` applies.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::Args as _;
use persistence::SinkSettings;
use serde::Deserialize;

use crate::ai::{AiArgs, AiSettings};
use crate::api::limits::{ApiLimits, ApiLimitsArgs};
use crate::auth::{AuthArgs, AuthSettings};
use crate::billing::{BillingArgs, BillingSettings};
use crate::chat::{ChatArgs, ChatSettings};
use crate::hub::{HubArgs, HubSettings};
use crate::media::{MediaArgs, MediaSettings};
use crate::platform::catalog::{ContentArgs, ContentSettings};
use crate::privacy::{PrivacyArgs, PrivacySettings};
use crate::roblox::{RobloxArgs, RobloxSettings};
use crate::transport::settings::{
    PusherArgs, PusherSettings, QuicArgs, QuicSettings, SocketArgs, SocketSettings,
};

/// Environment variables that keep their standard names instead of `CLASSHUB_` + the TOML key.
pub const STANDARD_ENV: [&str; 6] = [
    "DATABASE_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_API_BASE",
    "STRIPE_WEBHOOK_SECRET",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
];

/// The resolved configuration `classhub serve` runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Where the server keeps its files: the generated JWT secret and the embedded SQLite database.
    pub data_dir: PathBuf,
    /// HS256 secret; `None` means "read or create `{data_dir}/jwt-secret`".
    pub jwt_secret: Option<String>,
    /// `postgres://…` or `sqlite:…`; `None` means the embedded `{data_dir}/classhub.db`.
    pub database_url: Option<String>,
    /// How long shutdown waits for connections to close, and then again for the last batch.
    pub shutdown_timeout: Duration,
    /// Rooms: frame limits, outbound queues, rooms per connection, history, empty-room grace.
    pub hub: HubSettings,
    /// Every socket: read buffer, connection limit, publish rate, heartbeat, auth deadline.
    pub socket: SocketSettings,
    /// The durable-event sink's batching, queue and retry settings.
    pub sink: SinkSettings,
    /// Pusher sockets: a fixed app, activity timeout, client-event rate, webhooks.
    pub pusher: PusherSettings,
    /// The native protocol over QUIC: its UDP address (off without one) and certificate.
    pub quic: QuicSettings,
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
    /// Students' data: erasure and export batches, retention defaults, the purge's interval.
    pub privacy: PrivacySettings,
    /// Class chat: the longest message, each student's rate, the blocklist's size.
    pub chat: ChatSettings,
    /// Content: lesson revisions kept.
    pub content: ContentSettings,
    /// Media: where uploads are stored, the largest upload, thumbnails, caching.
    pub media: MediaSettings,
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
        /// Why (shows the line).
        cause: Box<toml::de::Error>,
    },
    /// The config file has a key that is no setting.
    #[error(
        "config file {path} is invalid: unknown setting `{key}` (the settings are in `classhub serve --help` and README.md's configuration table)"
    )]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
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

/// Settings as one source gives them: every field an `Option` (or a struct of them), `None`
/// where the source says nothing. Implemented by [`layered!`].
pub trait Layered {
    /// Each setting from `self`, else from `lower`.
    fn or(self, lower: Self) -> Self;
}

/// Declares a settings struct (write it inside as usual, derives and attributes included; every
/// field an `Option` or a [`Layered`] struct) and implements [`Layered`] for it.
macro_rules! layered {
    (
        $(#[$struct_attr:meta])*
        $struct_vis:vis struct $name:ident {
            $(
                $(#[$field_attr:meta])*
                $field_vis:vis $field:ident : $field_type:ty
            ),* $(,)?
        }
    ) => {
        $(#[$struct_attr])*
        $struct_vis struct $name {
            $(
                $(#[$field_attr])*
                $field_vis $field: $field_type,
            )*
        }

        impl $crate::config::Layered for $name {
            fn or(self, lower: Self) -> Self {
                $name {
                    $($field: $crate::config::Layered::or(self.$field, lower.$field),)*
                }
            }
        }
    };
}
pub(crate) use layered;

layered! {
    /// Settings of `classhub serve`: the file to read, then each feature's settings (flags,
    /// environment variables and TOML keys, all from the same declarations).
    #[derive(Debug, Clone, Default, clap::Args)]
    pub struct ServeArgs {
        /// TOML file with any of the settings below (flags and environment win over it).
        #[arg(long, env = "CLASSHUB_CONFIG")]
        pub config: Option<PathBuf>,
        #[command(flatten)]
        pub server: ServerArgs,
        #[command(flatten)]
        pub hub: HubArgs,
        #[command(flatten)]
        pub socket: SocketArgs,
        #[command(flatten)]
        pub sink: SinkArgs,
        #[command(flatten)]
        pub pusher: PusherArgs,
        #[command(flatten)]
        pub quic: QuicArgs,
        #[command(flatten)]
        pub roblox: RobloxArgs,
        #[command(flatten)]
        pub auth: AuthArgs,
        #[command(flatten)]
        pub api_limits: ApiLimitsArgs,
        #[command(flatten)]
        pub ai: AiArgs,
        #[command(flatten)]
        pub billing: BillingArgs,
        #[command(flatten)]
        pub privacy: PrivacyArgs,
        #[command(flatten)]
        pub chat: ChatArgs,
        #[command(flatten)]
        pub content: ContentArgs,
        #[command(flatten)]
        pub media: MediaArgs,
    }
}

layered! {
    /// The server's own settings: where it listens, keeps its files and database, its secret,
    /// and how long it waits at shutdown.
    #[derive(Debug, Clone, Default, clap::Args, Deserialize)]
    pub struct ServerArgs {
        /// Listen address [default: 127.0.0.1:8009].
        #[arg(long, env = "CLASSHUB_BIND")]
        pub bind: Option<SocketAddr>,
        /// Server files: the generated JWT secret, the embedded database [default: ./classhub-data].
        #[arg(long, env = "CLASSHUB_DATA_DIR")]
        pub data_dir: Option<PathBuf>,
        /// HS256 secret of people's tokens and the derived Pusher apps, at least 16 characters;
        /// without it one is generated into `{data-dir}/jwt-secret`.
        #[arg(long, env = "CLASSHUB_JWT_SECRET", hide_env_values = true)]
        pub jwt_secret: Option<String>,
        /// Database: `postgres://user@host/db` or `sqlite:path`
        /// [default: sqlite:{data-dir}/classhub.db].
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        pub database_url: Option<String>,
        /// How long shutdown waits for sockets to close, and then for the last batch
        /// [default: 10s].
        #[arg(long, env = "CLASSHUB_SHUTDOWN_TIMEOUT")]
        pub shutdown_timeout: Option<DurationArg>,
    }
}

layered! {
    /// The durable-event sink's settings (its `SinkSettings` and their defaults are in
    /// `persistence`, which knows nothing of flags).
    #[derive(Debug, Clone, Default, clap::Args, Deserialize)]
    pub struct SinkArgs {
        /// Most durable events per transaction [default: 1000].
        #[arg(long, env = "CLASSHUB_SINK_BATCH_ROWS")]
        pub sink_batch_rows: Option<usize>,
        /// Longest wait before writing a partial batch [default: 50ms].
        #[arg(long, env = "CLASSHUB_SINK_BATCH_INTERVAL")]
        pub sink_batch_interval: Option<DurationArg>,
        /// Durable events queued before new ones are refused, retryable (5001) [default: 100000].
        #[arg(long, env = "CLASSHUB_SINK_QUEUE_LEN")]
        pub sink_queue_len: Option<usize>,
        /// Longest back-off between retries while the database is unreachable [default: 5s].
        #[arg(long, env = "CLASSHUB_SINK_RETRY_MAX")]
        pub sink_retry_max: Option<DurationArg>,
        /// Batches written concurrently, each in its own transaction [default: 8 on PostgreSQL, 2 on SQLite].
        #[arg(long, env = "CLASSHUB_SINK_WRITERS")]
        pub sink_writers: Option<usize>,
    }
}

impl Config {
    /// Resolves flags and environment (already parsed into `args`) over the TOML file they name,
    /// over defaults.
    pub fn resolve(args: ServeArgs) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => ServeArgs::from_file(path)?,
            None => ServeArgs::default(),
        };
        args.or(file).resolve()
    }
}

impl Default for Config {
    fn default() -> Self {
        ServeArgs::default()
            .resolve()
            .expect("the built-in defaults are valid")
    }
}

impl ServeArgs {
    /// The settings a TOML file gives. The file is one flat table; each feature reads the keys
    /// it declares, and a key no feature declares is refused.
    fn from_file(path: &Path) -> Result<ServeArgs, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::ReadFile {
            path: path.to_owned(),
            cause,
        })?;
        let invalid = |cause| ConfigError::ParseFile {
            path: path.to_owned(),
            cause: Box::new(cause),
        };
        let table: toml::Table = toml::from_str(&text).map_err(invalid)?;
        let keys = ServeArgs::file_keys();
        if let Some(key) = table.keys().find(|key| !keys.contains(key)) {
            return Err(ConfigError::UnknownKey {
                path: path.to_owned(),
                key: key.clone(),
            });
        }
        Ok(ServeArgs {
            config: None,
            server: toml::from_str(&text).map_err(invalid)?,
            hub: toml::from_str(&text).map_err(invalid)?,
            socket: toml::from_str(&text).map_err(invalid)?,
            sink: toml::from_str(&text).map_err(invalid)?,
            pusher: toml::from_str(&text).map_err(invalid)?,
            quic: toml::from_str(&text).map_err(invalid)?,
            roblox: toml::from_str(&text).map_err(invalid)?,
            auth: toml::from_str(&text).map_err(invalid)?,
            api_limits: toml::from_str(&text).map_err(invalid)?,
            ai: toml::from_str(&text).map_err(invalid)?,
            billing: toml::from_str(&text).map_err(invalid)?,
            privacy: toml::from_str(&text).map_err(invalid)?,
            chat: toml::from_str(&text).map_err(invalid)?,
            content: toml::from_str(&text).map_err(invalid)?,
            media: toml::from_str(&text).map_err(invalid)?,
        })
    }

    /// The TOML keys: every setting's field name (its clap id), except `config`.
    fn file_keys() -> Vec<String> {
        ServeArgs::augment_args(clap::Command::new("serve"))
            .get_arguments()
            .map(|arg| arg.get_id().to_string())
            .filter(|id| id != "config")
            .collect()
    }

    /// Checks every setting and fills in the defaults.
    fn resolve(self) -> Result<Config, ConfigError> {
        let ServerArgs {
            bind,
            data_dir,
            jwt_secret,
            database_url,
            shutdown_timeout,
        } = self.server;
        let jwt_secret = match jwt_secret {
            Some(secret) if secret.trim().len() < 16 => {
                return Err(ConfigError::Invalid {
                    key: "jwt-secret",
                    reason: "must be at least 16 characters".into(),
                });
            }
            other => other,
        };
        let database_url = match database_url {
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
        let data_dir = data_dir.unwrap_or_else(|| PathBuf::from("./classhub-data"));
        Ok(Config {
            bind: bind.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8009))),
            media: self.media.resolve(&data_dir)?,
            data_dir,
            jwt_secret,
            database_url,
            shutdown_timeout: longer_than_zero(
                "shutdown-timeout",
                shutdown_timeout,
                Duration::from_secs(10),
            )?,
            hub: self.hub.resolve()?,
            socket: self.socket.resolve()?,
            sink: self.sink.resolve()?,
            pusher: self.pusher.resolve()?,
            quic: self.quic.resolve()?,
            auth: self.auth.resolve()?,
            api_limits: self.api_limits.resolve()?,
            roblox: self.roblox.resolve()?,
            billing: self.billing.resolve()?,
            ai: self.ai.resolve()?,
            privacy: self.privacy.resolve()?,
            chat: self.chat.resolve()?,
            content: self.content.resolve()?,
        })
    }
}

impl SinkArgs {
    /// The sink's settings, checked; defaults are `SinkSettings::default()`'s.
    pub fn resolve(self) -> Result<SinkSettings, ConfigError> {
        let defaults = SinkSettings::default();
        Ok(SinkSettings {
            batch_rows: at_least_one("sink-batch-rows", self.sink_batch_rows, defaults.batch_rows)?,
            batch_interval: duration_or(self.sink_batch_interval, defaults.batch_interval),
            queue_len: at_least_one("sink-queue-len", self.sink_queue_len, defaults.queue_len)?,
            retry_min: defaults.retry_min,
            retry_max: longer_than_zero("sink-retry-max", self.sink_retry_max, defaults.retry_max)?
                .max(defaults.retry_min),
            writers: match self.sink_writers {
                Some(writers) => Some(at_least_one("sink-writers", Some(writers), writers)?),
                None => defaults.writers,
            },
        })
    }
}

impl<T> Layered for Option<T> {
    fn or(self, lower: Self) -> Self {
        Option::or(self, lower)
    }
}

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

/// The given duration, else `default`.
pub(crate) fn duration_or(value: Option<DurationArg>, default: Duration) -> Duration {
    value.map_or(default, |arg| arg.0)
}

/// The given count (else `default`), refused when zero.
pub(crate) fn at_least_one<N: Copy + PartialEq + From<u8>>(
    key: &'static str,
    value: Option<N>,
    default: N,
) -> Result<N, ConfigError> {
    let value = value.unwrap_or(default);
    if value == N::from(0) {
        return Err(ConfigError::Invalid {
            key,
            reason: "must be at least 1".into(),
        });
    }
    Ok(value)
}

/// The given duration (else `default`), refused when zero.
pub(crate) fn longer_than_zero(
    key: &'static str,
    value: Option<DurationArg>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let value = duration_or(value, default);
    if value.is_zero() {
        return Err(ConfigError::Invalid {
            key,
            reason: "must be longer than zero".into(),
        });
    }
    Ok(value)
}

/// The given http(s) URL without its trailing `/` (else `default`).
pub(crate) fn http_url(
    key: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<String, ConfigError> {
    match value {
        None => Ok(default.to_owned()),
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            Ok(url.trim_end_matches('/').to_owned())
        }
        Some(url) => Err(ConfigError::Invalid {
            key,
            reason: format!("{url:?} is not an http(s) URL"),
        }),
    }
}

/// The README's configuration table (`classhub config --markdown`): one row per setting, in
/// declaration order, from clap's metadata: flag, environment variable, the default the help
/// text ends with (`[default: X]`; `none` without), and the help text.
pub fn markdown_table() -> String {
    let mut table =
        String::from("| flag | environment | default | meaning |\n| --- | --- | --- | --- |\n");
    let command = ServeArgs::augment_args(clap::Command::new("serve"));
    for arg in command.get_arguments() {
        let Some(flag) = arg.get_long() else { continue };
        let env = arg
            .get_env()
            .map(|env| format!("`{}`", env.to_string_lossy()))
            .unwrap_or_default();
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        let (meaning, default) = split_default(&help);
        let default = default.map_or_else(|| "none".to_owned(), |value| format!("`{value}`"));
        let meaning = meaning.replace('|', "\\|");
        // Writing to a String cannot fail.
        let _infallible = writeln!(table, "| `--{flag}` | {env} | {default} | {meaning} |");
    }
    // Read by the log subscriber in `main.rs`, not a setting of `ServeArgs`.
    table.push_str("| | `RUST_LOG` | `info` | Log filter (`tracing` syntax), to stderr |\n");
    table
}

/// A help text without its closing `[default: X]`, and `X`.
fn split_default(help: &str) -> (&str, Option<&str>) {
    help.strip_suffix(']')
        .and_then(|rest| rest.rsplit_once(" [default: "))
        .map_or((help, None), |(meaning, default)| (meaning, Some(default)))
}

#[cfg(test)]
mod tests {
    use clap::FromArgMatches as _;

    use super::*;

    /// `classhub serve` with these flags and no environment.
    fn parsed(flags: &[&str]) -> ServeArgs {
        let command = ServeArgs::augment_args(clap::Command::new("serve"))
            .mut_args(|arg| arg.env(None::<&'static str>));
        let matches = command
            .try_get_matches_from(std::iter::once("serve").chain(flags.iter().copied()))
            .unwrap_or_else(|error| panic!("{flags:?}: {error}"));
        ServeArgs::from_arg_matches(&matches).expect("matches")
    }

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
        let path_text = path.to_str().expect("utf-8 path");
        let args = parsed(&["--config", path_text, "--conn-queue-len", "9"]);
        let config = Config::resolve(args).expect("resolve");
        assert_eq!(config.bind, SocketAddr::from(([127, 0, 0, 1], 9000)));
        assert_eq!(config.socket.heartbeat, Duration::from_secs(5));
        assert_eq!(config.hub.conn_queue_len, 9);
        assert_eq!(config.hub.history_len, 256);
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
        let error = Config::resolve(parsed(&["--conn-queue-len", "0"])).expect_err("zero");
        assert!(error.to_string().contains("conn-queue-len"), "{error}");
        let error = Config::resolve(parsed(&["--ws-read-buffer-bytes", "0"])).expect_err("zero");
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
    fn a_wrong_value_in_the_file_shows_its_line() {
        let dir = std::env::temp_dir().join(format!("classhub-config-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("classhub.toml");
        std::fs::write(
            &path,
            "bind = \"127.0.0.1:9000\"\nroblox_max_batch = \"many\"\n",
        )
        .expect("write");
        let error = Config::resolve(ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        })
        .expect_err("a string for a count");
        assert!(
            error.to_string().contains("roblox_max_batch = \"many\""),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn every_setting_is_read_from_the_file() {
        let dir = std::env::temp_dir().join(format!("classhub-config-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("classhub.toml");
        std::fs::write(
            &path,
            "data_dir = \"/srv/classhub\"\nmax_frame_bytes = 1000\nmax_connections = 3\n\
             sink_writers = 4\npusher_webhooks = [\"acme=https://acme.example/hooks\"]\n\
             roblox_max_batch = 50\njwt_role_claim = \"org_role\"\napi_burst_per_ip = 9\n\
             ai_max_tokens = 100\nplans = [\"free:1:2\"]\n",
        )
        .expect("write");
        let config = Config::resolve(ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        })
        .expect("valid file");
        assert_eq!(config.data_dir, PathBuf::from("/srv/classhub"));
        assert_eq!(config.hub.limits.max_frame_bytes, 1000);
        assert_eq!(config.socket.max_connections, 3);
        assert_eq!(config.sink.writers, Some(4));
        assert_eq!(
            config.pusher.webhooks.get("acme").map(String::as_str),
            Some("https://acme.example/hooks")
        );
        assert_eq!(config.roblox.max_batch, 50);
        assert_eq!(config.auth.role_claim, "org_role");
        assert_eq!(config.api_limits.per_ip_burst, 9);
        assert_eq!(config.ai.max_tokens, 100);
        assert_eq!(config.billing.default_plan().seats, 1);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn names_follow_one_rule() {
        // TOML key = field name; flag = the key with `-` for `_` (repeatable flags: singular);
        // environment = `CLASSHUB_` + the key upper-cased, or a standard name.
        let command = ServeArgs::augment_args(clap::Command::new("serve"));
        for arg in command.get_arguments() {
            let key = arg.get_id().as_str();
            let flag = arg.get_long().expect("every setting has a flag");
            let repeatable = matches!(arg.get_action(), clap::ArgAction::Append);
            assert!(
                flag.replace('-', "_") == key
                    || (repeatable && format!("{}s", flag.replace('-', "_")) == key),
                "--{flag} is not named after its key {key}"
            );
            let env = arg
                .get_env()
                .expect("every setting has an environment variable");
            let env = env.to_str().expect("ascii");
            assert!(
                env == format!("CLASSHUB_{}", key.to_uppercase()) || STANDARD_ENV.contains(&env),
                "{env} is not CLASSHUB_ + {key} upper-cased"
            );
        }
    }

    #[test]
    fn the_readme_table_is_generated_from_the_declarations() {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("| flag | environment | default | meaning |")
            .expect("README.md has the configuration table");
        let documented: String = readme[start..]
            .lines()
            .take_while(|line| line.starts_with('|'))
            .map(|line| format!("{line}\n"))
            .collect();
        let generated = markdown_table();
        let first_difference = documented
            .lines()
            .zip(generated.lines())
            .find(|(documented, generated)| documented != generated);
        assert!(
            documented == generated,
            "README.md's configuration table is not the one the declarations make; replace it \
             with the output of `cargo run -p server --bin classhub -- config --markdown` \
             (first difference: {first_difference:?})"
        );
    }

    #[test]
    fn documented_defaults_are_the_defaults() {
        // Values that stand for a default without being it.
        let described = [
            // The path depends on --data-dir.
            "database-url",
            // Naming the plans, even the default ones, also binds tenants to the first plan's seats.
            "plan",
            // Follows --ai-max-tokens.
            "ai-reserve-tokens",
            // Depends on the database's backend.
            "sink-writers",
        ];
        let defaults = format!("{:?}", Config::default());
        let command = ServeArgs::augment_args(clap::Command::new("serve"));
        for arg in command.get_arguments() {
            let flag = arg.get_long().expect("a flag");
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            let (_, Some(default)) = split_default(&help) else {
                continue;
            };
            if described.contains(&flag) {
                continue;
            }
            let flag = format!("--{flag}");
            let config = Config::resolve(parsed(&[&flag, default]))
                .unwrap_or_else(|error| panic!("{flag} {default}: {error}"));
            assert_eq!(
                format!("{config:?}"),
                defaults,
                "{flag} {default} is not the default"
            );
        }
    }

    #[test]
    fn ai_and_billing_settings_are_parsed_and_checked() {
        let config = Config::resolve(parsed(&[
            "--openai-api-key",
            "sk-x",
            "--openai-base-url",
            "http://127.0.0.1:9/v1/",
            "--ai-task-model",
            "create_assessment=big",
            "--ai-moderation-model",
            "off",
            "--stripe-price",
            "school=price_1",
            "--plan",
            "free:5:100",
            "--plan",
            "school:50:1000",
        ]))
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
        let refused = |flags: &[&str], key: &str| {
            let error = Config::resolve(parsed(flags)).expect_err(key);
            assert!(error.to_string().contains(key), "{key}: {error}");
        };
        refused(&["--plan", "free:many:100"], "plan");
        refused(&["--stripe-price", "platinum=price_1"], "stripe-price");
        refused(&["--ai-task-model", "chat=gpt"], "ai-task-model");
        refused(&["--stripe-api-base", "api.stripe.com"], "stripe-api-base");
        refused(&["--first-sight-batch", "0"], "first-sight-batch");
        refused(&["--chat-per-minute", "0"], "chat-per-minute");
        refused(&["--chat-max-chars", "0"], "chat-max-chars");
        refused(&["--media-max-bytes", "0"], "media-max-bytes");
        refused(&["--media-thumbnail-edge", "8"], "media-thumbnail-edge");
        refused(
            &["--media-thumbnail-concurrency", "0"],
            "media-thumbnail-concurrency",
        );
        refused(&["--media-url", "ftp://x"], "media-url");
        refused(&["--lesson-revisions", "0"], "lesson-revisions");
        refused(&["--tls-cert", "cert.pem"], "tls-cert/tls-key");
        refused(
            &["--tls-cert", "cert.pem", "--tls-key", "key.pem"],
            "quic-bind",
        );
    }
}
