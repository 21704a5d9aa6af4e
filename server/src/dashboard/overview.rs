//! `GET /api/v1/admin/overview` (admins): what the operator view shows — this node (there is one
//! until the Redis broker lands), its connections and rooms, the caller's tenant's rooms and
//! live game sessions, the durable-event sink's queue depth and commit latency, and the recent
//! warnings and errors of the process.
//!
//! Node-wide figures (connections, room and session counts, the sink) are counts, not tenant
//! data; room ids, game sessions and log entries are limited to the caller's tenant (an entry
//! concerning no tenant, or another, is not shown: it may name another school's data).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::openapi::ErrorResponse;
use crate::api::{ApiError, Caller};
use crate::app::AppState;
use crate::dashboard::recent_errors::{self, LoggedError};

/// Most rooms listed (the busiest first).
const MAX_ROOMS: usize = 200;
/// Most log entries listed.
const MAX_ERRORS: usize = 50;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(overview))
}

/// The operator view's data.
#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    /// Server time, milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// The nodes serving this cluster (one: multi-node needs the Redis broker, not built yet).
    pub nodes: Vec<NodeView>,
    /// The caller's tenant.
    pub tenant: String,
    /// The caller's tenant's live rooms, the most populated first (at most 200).
    pub rooms: Vec<RoomView>,
    /// The caller's tenant's live Roblox game sessions.
    pub game_sessions: Vec<GameSessionView>,
    /// The durable-event sink.
    pub sink: SinkView,
    /// Recent warnings and errors (newest first, at most 50).
    pub errors: Vec<ErrorView>,
}

/// One node.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeView {
    /// Node id (the first half of Pusher socket ids).
    pub id: String,
    /// The address it listens on.
    pub bind: String,
    /// The classhub version.
    pub version: String,
    /// `ok` or `shutting_down`.
    pub status: String,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Open WebSocket connections (native and Pusher), all tenants.
    pub connections: usize,
    /// Live rooms, all tenants.
    pub rooms: usize,
    /// Live Roblox game sessions, all tenants.
    pub game_sessions: usize,
    /// The database backend (`sqlite` or `postgres`).
    pub database: String,
}

/// One room of the tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomView {
    /// `class:{tenant}:{id}`, `game:…`, `user:…`.
    pub id: String,
    /// `class`, `game` or `user`.
    pub kind: String,
    /// Users present (one per user, however many sockets).
    pub members: usize,
    /// Hub members: sockets, game servers and their players' presence.
    pub connections: usize,
}

/// One live game session of the tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct GameSessionView {
    /// Session id.
    pub id: String,
    /// Roblox JobId.
    pub job_id: String,
    /// Roblox place.
    pub place_id: i64,
    /// The linked class.
    pub class_id: Option<String>,
    /// Players in the server.
    pub players: usize,
    /// Commands not yet acknowledged by the game server.
    pub pending_commands: usize,
    /// Seconds since the game server last called.
    pub last_seen_secs: u64,
}

/// The durable-event sink.
#[derive(Debug, Serialize, ToSchema)]
pub struct SinkView {
    /// Events queued (or reserved) and not yet in a batch.
    pub queue_depth: usize,
    /// The queue's length; at it, durable publishes are refused (retryable).
    pub queue_capacity: usize,
    /// Commit latency, median over the recent window, in milliseconds.
    pub commit_p50_ms: Option<f64>,
    /// Commit latency, 99th percentile over the recent window, in milliseconds.
    pub commit_p99_ms: Option<f64>,
    /// Batches committed since start.
    pub commits: u64,
    /// Rows written since start.
    pub rows_written: u64,
    /// Failed writes retried since start.
    pub retries: u64,
    /// Durable events refused because the queue was full.
    pub refused: u64,
}

/// A logged warning or error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorView {
    /// Milliseconds since the Unix epoch.
    pub ts: u64,
    /// `warn` or `error`.
    pub level: String,
    /// The module that logged it.
    pub target: String,
    /// The message.
    pub message: String,
    /// Its other fields, `name=value` separated by spaces.
    pub fields: String,
}

/// The operator view: nodes, rooms, connections, game sessions, the sink, recent errors.
#[utoipa::path(get, path = "/api/v1/admin/overview", tag = "admin",
    responses((status = 200, body = Overview),
              (status = 403, body = ErrorResponse)))]
async fn overview(State(app): State<AppState>, caller: Caller) -> Result<Json<Overview>, ApiError> {
    caller.require_admin("see the operator overview")?;
    let tenant = caller.tenant().to_owned();
    let hub = app.hub();
    let node = NodeView {
        id: app.node_id().to_string(),
        bind: app.local_addr().to_string(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        status: if app.shutdown().is_cancelled() {
            "shutting_down"
        } else {
            "ok"
        }
        .to_owned(),
        uptime_secs: app.uptime().as_secs(),
        connections: hub.connection_count(),
        rooms: hub.room_count(),
        game_sessions: app.roblox().session_count(),
        database: format!("{:?}", app.store().backend()).to_lowercase(),
    };
    let mut rooms: Vec<RoomView> = hub
        .rooms_of(&tenant)
        .into_iter()
        .filter_map(|room_id| {
            let (users, connections) = hub.room_presence(&room_id)?;
            Some(RoomView {
                kind: room_id.kind().as_str().to_owned(),
                id: room_id.to_string(),
                members: users.len(),
                connections,
            })
        })
        .collect();
    rooms.sort_by(|a, b| b.members.cmp(&a.members).then_with(|| a.id.cmp(&b.id)));
    rooms.truncate(MAX_ROOMS);
    let mut game_sessions: Vec<GameSessionView> = app
        .roblox()
        .sessions_of_tenant(&tenant)
        .into_iter()
        .map(|session| GameSessionView {
            id: session.id.clone(),
            job_id: session.job_id.clone(),
            place_id: session.place_id,
            class_id: session.class_id.clone(),
            players: session.player_count(),
            pending_commands: session.mailbox.pending(),
            last_seen_secs: session.last_seen().elapsed().as_secs(),
        })
        .collect();
    game_sessions.sort_by(|a, b| a.job_id.cmp(&b.job_id));
    let errors = recent_errors::recent(MAX_ERRORS, |entry: &LoggedError| {
        entry.tenant.as_deref() == Some(tenant.as_str())
    })
    .into_iter()
    .map(|entry| ErrorView {
        ts: entry.ts,
        level: entry.level.to_owned(),
        target: entry.target,
        message: entry.message,
        fields: entry.fields,
    })
    .collect();
    Ok(Json(Overview {
        now_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64),
        nodes: vec![node],
        tenant,
        rooms,
        game_sessions,
        sink: sink_view(&app),
        errors,
    }))
}

/// The sink's queue from the hub, its history from the Prometheus series `persistence` records.
fn sink_view(app: &AppState) -> SinkView {
    let (queue_depth, queue_capacity) = app.hub().sink_depth().unwrap_or_default();
    let series = PrometheusText(app.prometheus().render());
    let millis = |value: f64| (value * 1000.0 * 100.0).round() / 100.0;
    SinkView {
        queue_depth,
        queue_capacity,
        commit_p50_ms: series
            .value("classhub_sink_commit_seconds{quantile=\"0.5\"}")
            .map(millis),
        commit_p99_ms: series
            .value("classhub_sink_commit_seconds{quantile=\"0.99\"}")
            .map(millis),
        commits: series.count("classhub_sink_commit_seconds_count"),
        rows_written: series.count("classhub_sink_rows_written_total"),
        retries: series.count("classhub_sink_retries_total"),
        refused: series.count("classhub_sink_refused_total"),
    }
}

/// Rendered Prometheus text, read by exact series name (labels included).
struct PrometheusText(String);

impl PrometheusText {
    fn value(&self, series: &str) -> Option<f64> {
        self.0.lines().find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok()).flatten()
        })
    }

    fn count(&self, series: &str) -> u64 {
        self.value(series)
            .filter(|value| value.is_finite() && *value >= 0.0)
            .map_or(0, |value| value as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::PrometheusText;

    #[test]
    fn series_are_read_by_exact_name_and_labels() {
        let text = PrometheusText(
            "# TYPE classhub_sink_commit_seconds summary\n\
             classhub_sink_commit_seconds{quantile=\"0.5\"} 0.0025\n\
             classhub_sink_commit_seconds{quantile=\"0.99\"} 0.01\n\
             classhub_sink_commit_seconds_count 12\n\
             classhub_sink_rows_written_total 340\n"
                .to_owned(),
        );
        assert_eq!(
            text.value("classhub_sink_commit_seconds{quantile=\"0.5\"}"),
            Some(0.0025)
        );
        assert_eq!(text.count("classhub_sink_commit_seconds_count"), 12);
        assert_eq!(text.count("classhub_sink_rows_written_total"), 340);
        assert_eq!(text.count("classhub_sink_retries_total"), 0);
        assert_eq!(text.value("classhub_sink_commit_seconds"), None);
    }
}
