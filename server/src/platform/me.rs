//! `GET /api/v1/auth/me`: who the token is, as the directory knows them, and — for a student —
//! their personal link codes, one per class whose roster lists them, which they type in game
//! (after the class code) to link their Roblox account.

use axum::Json;
use axum::extract::State;
use persistence::{StudentLinkCode, UserRecord};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::openapi::ErrorResponse;
use crate::api::{ApiError, Caller};
use crate::app::AppState;

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The user's row (created on first sight of their token).
    pub user: UserRecord,
    /// The tenant the token is scoped to.
    pub tenant: String,
    /// The effective role: the token's, or the directory's once an admin set it.
    pub role: String,
    /// For parents: the children they may see.
    pub children: Vec<String>,
    /// The caller's personal link codes, one per live class whose roster lists them (empty for
    /// anyone on no roster).
    pub link_codes: Vec<StudentLinkCode>,
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

/// Who am I.
#[utoipa::path(
    get,
    path = "/api/v1/auth/me",
    tag = "auth",
    responses(
        (status = 200, description = "the caller", body = Me),
        (status = 403, description = "deactivated", body = ErrorResponse),
    )
)]
async fn me(State(app): State<AppState>, caller: Caller) -> Result<Json<Me>, ApiError> {
    let user = app
        .store()
        .user(caller.tenant(), caller.user())
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let link_codes = app
        .store()
        .link_codes_of(caller.tenant(), caller.user())
        .await?;
    Ok(Json(Me {
        user,
        tenant: caller.tenant().to_owned(),
        role: caller.role().as_str().to_owned(),
        children: caller.0.children.clone(),
        link_codes,
    }))
}
