//! The tutor's conversations read back: `GET /api/v1/ai/threads` (a user's threads, newest
//! first), `GET /api/v1/ai/threads/{id}` (its kept turns and the summary of older ones) and
//! `DELETE /api/v1/ai/threads/{id}` (its owner forgets it).
//!
//! A thread is its owner's learning record, read under the same rule as their progress
//! (`platform::progress::may_read_student`): the student, their linked parents, educators who
//! teach a class with them on its roster, admins; anyone else gets 403. Staff reading someone
//! else's conversations is audited (`ai.threads_read`). Only the owner deletes one (an admin
//! removes a student's data by erasure).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use persistence::{ThreadRecord, TurnRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::openapi::ErrorResponse;
use crate::api::{
    ApiError, ApiPath, ApiQuery, Caller, ErrorKind, PageLimit, PageOf, PageQuery, page_of,
};
use crate::app::AppState;
use crate::platform::audit::{self, Target};
use crate::platform::progress::may_read_student;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_threads))
        .routes(routes!(get_thread, delete_thread))
}

/// `GET /ai/threads` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ThreadQuery {
    /// Whose conversations [default: yours]. Parents: a child; educators: a student they teach;
    /// admins: anyone.
    student_id: Option<String>,
    /// Rows per page (default 50).
    #[param(inline, value_type = Option<PageLimit>)]
    limit: Option<String>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// A conversation with what it remembers.
#[derive(Debug, Serialize, ToSchema)]
struct ThreadDetail {
    /// The thread, with the summary of turns no longer kept.
    thread: ThreadRecord,
    /// The turns kept word for word, oldest first (at most `--ai-thread-turns`).
    turns: Vec<TurnRecord>,
}

/// Whether the caller may read `owner`'s conversations: their own (staff ask the tutor too),
/// else the rule of a student's learning records.
fn may_read_conversations(app: &AppState, caller: &Caller, owner: &str) -> Result<(), ApiError> {
    if owner == caller.user() {
        return Ok(());
    }
    may_read_student(app, caller, owner, "tutor conversations")
}

/// Audits staff reading someone else's conversations.
async fn audit_read(app: &AppState, caller: &Caller, owner: &str, thread: Option<&str>) {
    if !caller.is_staff() || owner == caller.user() {
        return;
    }
    let target = match thread {
        Some(id) => Target {
            kind: "tutor_thread",
            id,
            student: Some(owner),
        },
        None => Target::student(owner),
    };
    audit::record(app, caller, "ai.threads_read", target, None).await;
}

/// A user's conversations with the tutor, newest first (the student, their parents, educators
/// who teach them, admins).
#[utoipa::path(get, path = "/api/v1/ai/threads", tag = "ai", params(ThreadQuery),
    responses((status = 200, body = PageOf<ThreadRecord>),
              (status = 403, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
async fn list_threads(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ThreadQuery>,
) -> Result<Json<PageOf<ThreadRecord>>, ApiError> {
    let owner = query
        .student_id
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| caller.user().to_owned());
    may_read_conversations(&app, &caller, &owner)?;
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    let paged = app
        .store()
        .threads_of(caller.tenant(), &owner, &page)
        .await?;
    audit_read(&app, &caller, &owner, None).await;
    Ok(Json(page_of(
        paged,
        |thread| thread.id.clone(),
        |thread| thread,
    )))
}

/// A conversation: its kept turns and the summary of older ones (the student, their parents,
/// educators who teach them, admins).
#[utoipa::path(get, path = "/api/v1/ai/threads/{id}", tag = "ai",
    params(("id" = String, Path, description = "thread id")),
    responses((status = 200, body = ThreadDetail),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn get_thread(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ThreadDetail>, ApiError> {
    let thread = app
        .store()
        .thread(caller.tenant(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("thread"))?;
    may_read_conversations(&app, &caller, &thread.user_id)?;
    let turns = app
        .store()
        .thread_turns(caller.tenant(), &thread.id)
        .await?;
    audit_read(&app, &caller, &thread.user_id, Some(&thread.id)).await;
    Ok(Json(ThreadDetail { thread, turns }))
}

/// Forget a conversation and its turns (its owner).
#[utoipa::path(delete, path = "/api/v1/ai/threads/{id}", tag = "ai",
    params(("id" = String, Path, description = "thread id")),
    responses((status = 204, description = "Deleted"),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn delete_thread(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let thread = app
        .store()
        .thread(caller.tenant(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("thread"))?;
    if thread.user_id != caller.user() {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "only the student whose conversation this is may delete it (admins: erase the student)",
        ));
    }
    app.store()
        .delete_thread(caller.tenant(), &thread.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
