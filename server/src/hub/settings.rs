//! What the operator may set about rooms ([`HubArgs`]: frame limits, outbound queues, rooms per
//! connection, history, the empty-room grace) and how it is checked into [`HubSettings`]. The
//! frame limits' defaults are `protocol::Limits::default()`'s; the others are written here.

use std::time::Duration;

use protocol::Limits;
use serde::Deserialize;

use super::HubSettings;
use crate::config::{
    ConfigError, DurationArg, at_least_one, duration_or, layered, longer_than_zero,
};

layered! {
    /// The hub's settings (see `crate::config` for how flags, environment and file combine).
    #[derive(Debug, Clone, Default, clap::Args, Deserialize)]
    pub struct HubArgs {
        /// Largest accepted client frame, in bytes [default: 65536].
        #[arg(long, env = "CLASSHUB_MAX_FRAME_BYTES")]
        pub max_frame_bytes: Option<usize>,
        /// Longest accepted room id, in bytes [default: 128].
        #[arg(long, env = "CLASSHUB_MAX_ROOM_ID_LEN")]
        pub max_room_id_len: Option<usize>,
        /// Deepest accepted payload nesting [default: 16].
        #[arg(long, env = "CLASSHUB_MAX_PAYLOAD_DEPTH")]
        pub max_payload_depth: Option<usize>,
        /// Longest accepted `publish.id`, in bytes [default: 128].
        #[arg(long, env = "CLASSHUB_MAX_EVENT_ID_LEN")]
        pub max_event_id_len: Option<usize>,
        /// Frames queued per connection before it is closed as a slow consumer (4100)
        /// [default: 1024].
        #[arg(long, env = "CLASSHUB_CONN_QUEUE_LEN")]
        pub conn_queue_len: Option<usize>,
        /// Bytes of frames queued per connection before it is closed as a slow consumer (4100);
        /// an empty queue takes any one frame [default: 1048576].
        #[arg(long, env = "CLASSHUB_CONN_QUEUE_BYTES")]
        pub conn_queue_bytes: Option<usize>,
        /// Rooms one connection may be in at once [default: 64].
        #[arg(long, env = "CLASSHUB_MAX_ROOMS_PER_CONN")]
        pub max_rooms_per_conn: Option<usize>,
        /// Live rooms one tenant's joins may bring into being; a join that would open one more
        /// is refused (`too_many_rooms`) [default: 50000].
        #[arg(long, env = "CLASSHUB_MAX_ROOMS_PER_TENANT")]
        pub max_rooms_per_tenant: Option<usize>,
        /// Events kept per room for recovery [default: 256].
        #[arg(long, env = "CLASSHUB_HISTORY_LEN")]
        pub history_len: Option<usize>,
        /// Oldest event kept for recovery [default: 5m].
        #[arg(long, env = "CLASSHUB_HISTORY_TTL")]
        pub history_ttl: Option<DurationArg>,
        /// How long an empty room lives on [default: 60s].
        #[arg(long, env = "CLASSHUB_ROOM_GRACE")]
        pub room_grace: Option<DurationArg>,
        /// Presence updates of one room within this window go out as one `presence_diff` with
        /// each user's latest state (the first at once); `0s` sends each at once [default: 50ms].
        #[arg(long, env = "CLASSHUB_PRESENCE_WINDOW")]
        pub presence_window: Option<DurationArg>,
    }
}

impl HubArgs {
    /// The hub's settings, checked: sizes and queues at least 1, the history's age above zero.
    pub fn resolve(self) -> Result<HubSettings, ConfigError> {
        let limits = Limits::default();
        Ok(HubSettings {
            limits: Limits {
                max_frame_bytes: at_least_one(
                    "max-frame-bytes",
                    self.max_frame_bytes,
                    limits.max_frame_bytes,
                )?,
                max_room_id_len: at_least_one(
                    "max-room-id-len",
                    self.max_room_id_len,
                    limits.max_room_id_len,
                )?,
                max_payload_depth: self.max_payload_depth.unwrap_or(limits.max_payload_depth),
                max_event_id_len: at_least_one(
                    "max-event-id-len",
                    self.max_event_id_len,
                    limits.max_event_id_len,
                )?,
            },
            history_len: self.history_len.unwrap_or(256),
            history_ttl: longer_than_zero(
                "history-ttl",
                self.history_ttl,
                Duration::from_secs(300),
            )?,
            room_grace: duration_or(self.room_grace, Duration::from_secs(60)),
            presence_window: duration_or(self.presence_window, Duration::from_millis(50)),
            conn_queue_len: at_least_one("conn-queue-len", self.conn_queue_len, 1024)?,
            conn_queue_bytes: at_least_one(
                "conn-queue-bytes",
                self.conn_queue_bytes,
                super::DEFAULT_CONN_QUEUE_BYTES,
            )?,
            max_rooms_per_conn: at_least_one("max-rooms-per-conn", self.max_rooms_per_conn, 64)?,
            max_rooms_per_tenant: at_least_one(
                "max-rooms-per-tenant",
                self.max_rooms_per_tenant,
                50_000,
            )?,
        })
    }
}

impl Default for HubSettings {
    fn default() -> Self {
        HubArgs::default()
            .resolve()
            .expect("the built-in defaults are valid")
    }
}
