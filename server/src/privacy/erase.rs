//! `DELETE /api/v1/users/{id}` (admins): erase a person. In order: a tombstone and the sink's
//! filter (nothing naming them is written from here on), the directory refuses their tokens, the
//! rosters and Roblox sessions forget them (the rules clock closes their sockets with 4001 and
//! their presence leaves), the history rings drop their events; then every table is cleared in
//! batches of `--erase-batch-rows` (`Store::erase_user`) and the audit entries about them are
//! pseudonymised. Idempotent: erasing again answers the same shape with zeros.

use axum::Json;
use axum::extract::State;
use persistence::{Erasure, pseudonym};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::openapi::ErrorResponse;
use crate::api::{ApiError, ApiPath, Caller, ErrorKind};
use crate::app::AppState;
use crate::platform::audit::{self, Target};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(erase_user))
}

/// What an erasure did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureReport {
    /// The erased user.
    pub user_id: String,
    /// What the audit trail calls them from now on.
    pub pseudonym: String,
    /// Whether they had been erased before (then every count is zero).
    pub already_erased: bool,
    /// Rows deleted, by table.
    pub removed: std::collections::BTreeMap<String, u64>,
    /// Rows kept with the id replaced by the pseudonym (or cleared), by table.
    pub pseudonymised: std::collections::BTreeMap<String, u64>,
    /// Events dropped from the live rooms' history.
    pub live_events_forgotten: usize,
}

/// Erase a user and every record of them (admins; not yourself). Their tokens are refused from
/// then on, their sockets closed, their Roblox links removed; audit entries about them are kept
/// under a pseudonym. Calling it again answers zeros.
#[utoipa::path(delete, path = "/api/v1/users/{user_id}", tag = "privacy",
    params(("user_id" = String, Path, description = "user id")),
    responses((status = 200, body = ErasureReport),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 409, description = "you may not erase yourself", body = ErrorResponse)))]
async fn erase_user(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<ErasureReport>, ApiError> {
    caller.require_admin("erase users")?;
    if user_id == caller.user() {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            "you may not erase yourself; ask another admin",
        ));
    }
    let tenant = caller.tenant();
    let exists = app.store().user(tenant, &user_id).await?.is_some();
    let erased_here = app.store().erased_from(&user_id).await?.as_deref() == Some(tenant);
    if !exists && !erased_here {
        return Err(ApiError::not_found("user"));
    }
    let (erasure, live) = erase(&app, tenant, &user_id).await?;
    let alias = pseudonym(&user_id);
    let target = Target {
        kind: "user",
        id: &alias,
        student: Some(&alias),
    };
    let removed: u64 = erasure.removed.values().sum();
    let detail = serde_json::json!({"rows_removed": removed, "already_erased": !exists});
    audit::record(&app, &caller, "user.erased", target, Some(detail)).await;
    metrics::counter!("classhub_erasures_total").increment(1);
    tracing::info!(tenant, user = %alias, rows = removed, "user erased");
    Ok(Json(ErasureReport {
        user_id,
        pseudonym: alias,
        already_erased: !exists,
        removed: erasure.removed,
        pseudonymised: erasure.pseudonymised,
        live_events_forgotten: live,
    }))
}

/// Erases `user` of `tenant` everywhere: the store, the directory, the rosters, the Roblox
/// sessions and the rooms' history. Returns what the store did and the live events dropped.
pub(crate) async fn erase(
    app: &AppState,
    tenant: &str,
    user: &str,
) -> Result<(Erasure, usize), ApiError> {
    // From here on nothing naming them is written, and their tokens are refused.
    app.store().mark_erased(tenant, user).await?;
    app.directory().forget(tenant, user);
    for session in app.roblox().sessions_of_tenant(tenant) {
        session.forget_student(app.hub(), user);
    }
    // Ticks the rules clock: their open sockets re-check and are closed.
    app.hub().rosters().forget_user(tenant, user);
    let mut live = app.hub().forget_user(tenant, user);
    let subject = super::subject(app, tenant, user);
    let erasure = app
        .store()
        .erase_user(&subject, app.config().privacy.erase_batch_rows)
        .await?;
    // An event fanned out while the rows went (not stored: the sink refuses it) leaves too.
    live += app.hub().forget_user(tenant, user);
    Ok((erasure, live))
}
