//! Retention: how long each school keeps raw game events, AI transcripts and chat
//! (`GET`/`PUT /api/v1/privacy/retention`, admins; the server's defaults are
//! `--retention-events-days`, `--retention-ai-days`, `--retention-chat-days`), and the purge
//! that deletes what is past it: every `--retention-interval`, per tenant and kind, batches of
//! `--erase-batch-rows` rows, each its own short statement with a pause between (no long
//! locks), counted in `classhub_retention_purged_rows_total{kind}`. Progress, results,
//! consent and audit entries are kept until the person is erased.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use persistence::{Expiring, RetentionPolicy, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::openapi::ErrorResponse;
use crate::api::{ApiError, ApiJson, Caller};
use crate::app::AppState;
use crate::platform::audit::{self, Target};

/// Longest retention a school may choose (100 years; 0 keeps until erasure).
const MAX_DAYS: u32 = 36_500;

/// The pause between two purge batches of one tenant.
const BATCH_PAUSE: Duration = Duration::from_millis(20);

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_retention, set_retention))
}

/// Days each kind of record is kept (0: until the person is erased).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct RetentionDays {
    /// Raw game events.
    pub events_days: u32,
    /// AI questions and answers.
    pub ai_days: u32,
    /// Chat messages.
    pub chat_days: u32,
}

/// The school's retention: what applies now, and the server's defaults it falls back to.
#[derive(Debug, Serialize, ToSchema)]
struct RetentionView {
    /// What applies to this school now.
    effective: RetentionDays,
    /// The server's defaults (used where the school chose nothing).
    defaults: RetentionDays,
}

/// A school's choice; a field left out or `null` follows the server's default.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RetentionChoice {
    /// Days raw game events are kept (0: until erasure).
    #[serde(default)]
    events_days: Option<u32>,
    /// Days AI questions and answers are kept (0: until erasure).
    #[serde(default)]
    ai_days: Option<u32>,
    /// Days chat messages are kept (0: until erasure).
    #[serde(default)]
    chat_days: Option<u32>,
}

fn defaults(app: &AppState) -> RetentionDays {
    let settings = &app.config().privacy;
    RetentionDays {
        events_days: settings.events_days,
        ai_days: settings.ai_days,
        chat_days: settings.chat_days,
    }
}

/// What applies to a tenant with `policy`.
fn effective(defaults: RetentionDays, policy: RetentionPolicy) -> RetentionDays {
    let or = |chosen: Option<i32>, default: u32| chosen.map_or(default, |days| days.max(0) as u32);
    RetentionDays {
        events_days: or(policy.events_days, defaults.events_days),
        ai_days: or(policy.ai_days, defaults.ai_days),
        chat_days: or(policy.chat_days, defaults.chat_days),
    }
}

/// The school's retention (admins).
#[utoipa::path(get, path = "/api/v1/privacy/retention", tag = "privacy",
    responses((status = 200, body = RetentionView), (status = 403, body = ErrorResponse)))]
async fn get_retention(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<RetentionView>, ApiError> {
    caller.require_admin("see the school's retention")?;
    let policy = app.store().retention(caller.tenant()).await?;
    Ok(Json(RetentionView {
        effective: effective(defaults(&app), policy),
        defaults: defaults(&app),
    }))
}

/// Set the school's retention (admins): days per kind, `null` for the server's default, 0 to
/// keep until erasure. The next purge applies it.
#[utoipa::path(put, path = "/api/v1/privacy/retention", tag = "privacy",
    request_body = RetentionChoice,
    responses((status = 200, body = RetentionView), (status = 403, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn set_retention(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(choice): ApiJson<RetentionChoice>,
) -> Result<Json<RetentionView>, ApiError> {
    caller.require_admin("set the school's retention")?;
    let checked = |field: &str, days: Option<u32>| match days {
        Some(days) if days > MAX_DAYS => Err(ApiError::invalid_field(
            field,
            format!("{days} days is more than {MAX_DAYS}; use 0 to keep until erasure"),
        )),
        other => Ok(other.map(|days| days as i32)),
    };
    let policy = RetentionPolicy {
        events_days: checked("events_days", choice.events_days)?,
        ai_days: checked("ai_days", choice.ai_days)?,
        chat_days: checked("chat_days", choice.chat_days)?,
    };
    app.store().set_retention(caller.tenant(), policy).await?;
    let target = Target {
        kind: "tenant",
        id: caller.tenant(),
        student: None,
    };
    let detail = serde_json::to_value(policy).ok();
    audit::record(&app, &caller, "retention.updated", target, detail).await;
    Ok(Json(RetentionView {
        effective: effective(defaults(&app), policy),
        defaults: defaults(&app),
    }))
}

/// Runs the purge every `--retention-interval` (the first run after a minute, or the interval
/// when shorter) until shutdown.
pub async fn run_purge(app: AppState) {
    let interval = app.config().privacy.retention_interval;
    let mut wait = interval.min(Duration::from_secs(60));
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = app.shutdown().cancelled() => return,
        }
        wait = interval;
        match purge_once(&app).await {
            Ok(purged) if purged.values().any(|rows| *rows > 0) => {
                tracing::info!(?purged, "retention purge");
            }
            Ok(_) => {}
            Err(failure) => tracing::warn!(%failure, "retention purge failed; next run retries"),
        }
    }
}

/// One purge over every tenant; returns rows deleted by kind.
pub async fn purge_once(app: &AppState) -> Result<BTreeMap<&'static str, u64>, StoreError> {
    let batch = app.config().privacy.erase_batch_rows;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64);
    let mut purged = BTreeMap::new();
    for tenant in app.store().tenants_with_records().await? {
        let days = effective(defaults(app), app.store().retention(&tenant).await?);
        for (what, kind, days) in [
            (Expiring::Chat, "chat", days.chat_days),
            (Expiring::Events, "events", days.events_days),
            (Expiring::Ai, "ai", days.ai_days),
            (Expiring::AiThreads, "ai_threads", days.ai_days),
        ] {
            if days == 0 {
                continue;
            }
            let before = now - i64::from(days) * 86_400;
            loop {
                if app.shutdown().is_cancelled() {
                    return Ok(purged);
                }
                let rows = app
                    .store()
                    .purge_expired(&tenant, what, before, batch)
                    .await?;
                *purged.entry(kind).or_default() += rows;
                metrics::counter!("classhub_retention_purged_rows_total", "kind" => kind)
                    .increment(rows);
                if rows < u64::from(batch) {
                    break;
                }
                tokio::time::sleep(BATCH_PAUSE).await;
            }
        }
    }
    Ok(purged)
}
