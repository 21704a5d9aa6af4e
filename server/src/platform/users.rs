//! Users (admins): list, get, create, change role or deactivate; link a parent to a child.
//! Every query names the caller's tenant, so another tenant's user is a plain 404.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use persistence::{UserChanges, UserRecord};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::openapi::ErrorResponse;
use crate::api::page_of;
use crate::api::rules::{Text, documented};
use crate::api::{
    ApiError, ApiJson, ApiPath, ApiQuery, Caller, ErrorKind, PageLimit, PageOf, PageQuery,
};
use crate::app::AppState;
use crate::auth::Role;
use crate::platform::audit::{self, Target};

/// A user id the server is given to create: it becomes part of room ids.
pub(crate) const USER_ID: Text = Text::word(1, 64, "-_.");
/// The roles a user of the directory may have (`guest` is only a Pusher socket's).
const ROLES: [Role; 4] = [Role::Student, Role::Educator, Role::Parent, Role::Admin];

documented!(
    /// A new user's id ([`USER_ID`]).
    UserId = USER_ID.schema()
);
documented!(
    /// A directory role ([`ROLES`]).
    UserRole = utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(ROLES.map(Role::as_str)))
);

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
        .routes(routes!(list_children, link_child))
        .routes(routes!(unlink_child))
}

/// `GET /users` filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UserFilter {
    /// Only users of this role.
    #[param(inline, value_type = Option<UserRole>)]
    role: Option<String>,
    /// Rows per page (default 50).
    #[param(inline, value_type = Option<PageLimit>)]
    limit: Option<String>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// A user to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUser {
    /// The id their tokens will carry as `sub`.
    #[schema(value_type = UserId)]
    id: String,
    /// Their role.
    #[schema(value_type = UserRole)]
    role: String,
    /// A display name or nickname.
    display_name: Option<String>,
}

/// What to change about a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    /// A new role.
    #[schema(value_type = Option<UserRole>)]
    role: Option<String>,
    /// `false` deactivates (their tokens are refused), `true` reactivates.
    active: Option<bool>,
    /// A new display name.
    display_name: Option<String>,
}

/// A child to link to a parent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChildLink {
    /// The child's user id (a student of the tenant).
    child_id: String,
}

fn parse_role(field: &str, text: &str) -> Result<Role, ApiError> {
    ROLES
        .into_iter()
        .find(|role| role.as_str() == text)
        .ok_or_else(|| ApiError::invalid_field(field, "must be student, educator, parent or admin"))
}

/// A user id must be usable as a room-id segment.
pub(crate) fn check_id(field: &str, id: &str) -> Result<(), ApiError> {
    USER_ID.check(field, id).map(drop)
}

/// List the tenant's users (admins; educators may list students).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserFilter),
    responses((status = 200, body = PageOf<UserRecord>),
              (status = 403, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
async fn list_users(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(filter): ApiQuery<UserFilter>,
) -> Result<Json<PageOf<UserRecord>>, ApiError> {
    let role = match filter.role.as_deref() {
        None | Some("") => None,
        Some(text) => Some(parse_role("role", text)?),
    };
    match (caller.role(), role) {
        (Role::Admin, _) | (Role::Educator, Some(Role::Student)) => {}
        (caller_role, _) => {
            return Err(crate::api::forbidden(
                caller_role,
                "list users (educators may list role=student)",
            ));
        }
    }
    let page = PageQuery {
        limit: filter.limit,
        cursor: filter.cursor,
    }
    .page()?;
    let paged = app
        .store()
        .users(caller.tenant(), role.map(Role::as_str), &page)
        .await?;
    Ok(Json(page_of(paged, |user| user.id.clone(), |user| user)))
}

/// Create a user (admins), e.g. to roster a student before their first sign-in.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = UserRecord),
              (status = 403, body = ErrorResponse), (status = 409, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn create_user(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<UserRecord>), ApiError> {
    caller.require_admin("create users")?;
    check_id("id", &body.id)?;
    let role = parse_role("role", &body.role)?;
    let created = app
        .store()
        .create_user(
            caller.tenant(),
            &body.id,
            role.as_str(),
            body.display_name.as_deref(),
        )
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::Conflict,
                "a user with this id exists; choose another id",
            )
        })?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Get a user (admins; anyone may get themselves).
#[utoipa::path(get, path = "/api/v1/users/{user_id}", tag = "users",
    params(("user_id" = String, Path, description = "user id")),
    responses((status = 200, body = UserRecord),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn get_user(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<UserRecord>, ApiError> {
    if user_id != caller.user() {
        caller.require_admin("see other users")?;
    }
    app.store()
        .user(caller.tenant(), &user_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("user"))
}

/// Change a user's role, name, or deactivate them (admins): a deactivated user's tokens are
/// refused from then on and their open sockets are closed with 4001.
#[utoipa::path(patch, path = "/api/v1/users/{user_id}", tag = "users", request_body = UserPatch,
    params(("user_id" = String, Path, description = "user id")),
    responses((status = 200, body = UserRecord),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 409, description = "you may not deactivate or demote yourself", body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn update_user(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(body): ApiJson<UserPatch>,
) -> Result<Json<UserRecord>, ApiError> {
    caller.require_admin("change users")?;
    let role = body
        .role
        .as_deref()
        .map(|text| parse_role("role", text))
        .transpose()?;
    if user_id == caller.user()
        && (body.active == Some(false) || role.is_some_and(|r| r != Role::Admin))
    {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            "you may not deactivate or demote yourself; ask another admin",
        ));
    }
    let changes = UserChanges {
        role: role.map(|role| role.as_str().to_owned()),
        active: body.active,
        display_name: body.display_name,
    };
    let updated = app
        .store()
        .update_user(caller.tenant(), &user_id, &changes)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    // Open connections re-check against the new role or standing (a deactivated user's close).
    app.directory().remember(&updated);
    app.hub().rosters().changed(caller.tenant());
    if !updated.active {
        tracing::info!(tenant = caller.tenant(), user = %updated.id, "user deactivated");
    }
    let target = Target {
        kind: "user",
        id: &updated.id,
        student: (updated.role == Role::Student.as_str()).then_some(updated.id.as_str()),
    };
    let detail = serde_json::json!({"role": changes.role, "active": changes.active});
    audit::record(&app, &caller, "user.updated", target, Some(detail)).await;
    Ok(Json(updated))
}

/// A parent's linked children (admins, or the parent).
#[utoipa::path(get, path = "/api/v1/users/{user_id}/children", tag = "users",
    params(("user_id" = String, Path, description = "the parent's id"), PageQuery),
    responses((status = 200, body = PageOf<UserRecord>),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn list_children(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(user_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<UserRecord>>, ApiError> {
    if user_id != caller.user() {
        caller.require_admin("see another parent's children")?;
    }
    let page = query.page()?;
    let paged = app
        .store()
        .children_of(caller.tenant(), &user_id, &page)
        .await?;
    Ok(Json(page_of(paged, |user| user.id.clone(), |user| user)))
}

/// Link a parent to a child (admins). Takes effect at once for the parent's sockets.
#[utoipa::path(post, path = "/api/v1/users/{user_id}/children", tag = "users", request_body = ChildLink,
    params(("user_id" = String, Path, description = "the parent's id")),
    responses((status = 204, description = "linked"),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn link_child(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(body): ApiJson<ChildLink>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin("link parents and children")?;
    let store = app.store();
    let parent = store
        .user(caller.tenant(), &user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    if parent.role != Role::Parent.as_str() {
        return Err(ApiError::invalid_field("user_id", "is not a parent"));
    }
    let child = store
        .user(caller.tenant(), &body.child_id)
        .await?
        .ok_or_else(|| ApiError::invalid_field("child_id", "no such user in your tenant"))?;
    if child.role != Role::Student.as_str() {
        return Err(ApiError::invalid_field("child_id", "is not a student"));
    }
    store
        .link_parent(caller.tenant(), &parent.id, &child.id)
        .await?;
    app.hub()
        .rosters()
        .set_child(caller.tenant(), &parent.id, &child.id, true);
    let target = Target {
        kind: "user",
        id: &parent.id,
        student: Some(&child.id),
    };
    audit::record(&app, &caller, "parent.linked", target, None).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Unlink a parent from a child (admins): the parent's sockets leave the child's user room.
#[utoipa::path(delete, path = "/api/v1/users/{user_id}/children/{child_id}", tag = "users",
    params(("user_id" = String, Path, description = "the parent's id"),
           ("child_id" = String, Path, description = "the child's id")),
    responses((status = 204, description = "unlinked"),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn unlink_child(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((user_id, child_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin("unlink parents and children")?;
    let removed = app
        .store()
        .unlink_parent(caller.tenant(), &user_id, &child_id)
        .await?;
    if !removed {
        return Err(ApiError::not_found("parent link"));
    }
    // The parent's open connections leave the child's room when they re-check.
    app.hub()
        .rosters()
        .set_child(caller.tenant(), &user_id, &child_id, false);
    let target = Target {
        kind: "user",
        id: &user_id,
        student: Some(&child_id),
    };
    audit::record(&app, &caller, "parent.unlinked", target, None).await;
    Ok(StatusCode::NO_CONTENT)
}
