//! Assignments: a teacher gives their class a course or one lesson, with an optional due date
//! (`/api/v1/classes/{id}/assignments`), and sees per assignment how many students on the roster
//! completed every published lesson it covers. A student lists what their classes were given
//! (`GET /api/v1/me/lessons`, with their own completion and the Roblox place that plays each
//! lesson). Games read only assigned lessons (`roblox/content.rs`).
//!
//! Access is the class rule (`hub::permissions::check_class`): the class's teacher and admins
//! assign and remove; everyone who may view the class lists its assignments.

use std::time::UNIX_EPOCH;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use persistence::{Assigned, AssignedLesson, AssignmentRecord};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::ids::new_id;
use crate::api::openapi::ErrorResponse;
use crate::api::{ApiError, ApiJson, ApiPath, Caller, ErrorKind};
use crate::app::AppState;
use crate::auth::Role;
use crate::platform::audit::{self, Target};
use crate::platform::classes::{Access, load_class};

/// Most lessons `GET /api/v1/me/lessons` answers (`truncated` says when there were more).
const MY_LESSONS_MAX: u32 = 500;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_assignments, create_assignment))
        .routes(routes!(delete_assignment))
        .routes(routes!(my_lessons))
}

/// What to assign: exactly one of `course_id` and `lesson_id`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewAssignment {
    /// A course of your tenant (all its published lessons).
    course_id: Option<String>,
    /// One lesson of your tenant.
    lesson_id: Option<String>,
    /// When it is due: an ISO-8601 UTC time such as `2026-12-20T15:00:00Z`.
    due_at: Option<String>,
}

/// A class's assignments.
#[derive(Debug, Serialize, ToSchema)]
struct AssignmentList {
    /// The soonest due first (undated last).
    assignments: Vec<AssignmentRecord>,
}

/// The lessons a student was given.
#[derive(Debug, Serialize, ToSchema)]
struct MyLessons {
    /// The soonest due first, then in course order.
    lessons: Vec<AssignedLesson>,
    /// Whether more than the answer's limit exist.
    truncated: bool,
}

fn due_at(text: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(text) = text else {
        return Ok(None);
    };
    let refused = || {
        ApiError::invalid_field(
            "due_at",
            "must be an ISO-8601 UTC time such as 2026-12-20T15:00:00Z",
        )
    };
    let at = humantime::parse_rfc3339_weak(text.trim_end_matches('Z')).map_err(|_| refused())?;
    let seconds = at.duration_since(UNIX_EPOCH).map_err(|_| refused())?;
    i64::try_from(seconds.as_secs())
        .map(Some)
        .map_err(|_| refused())
}

/// A class's assignments with their completion (whoever may view the class).
#[utoipa::path(get, path = "/api/v1/classes/{id}/assignments", tag = "classes",
    params(("id" = String, Path, description = "class id")),
    responses((status = 200, body = AssignmentList),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn list_assignments(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(class_id): ApiPath<String>,
) -> Result<Json<AssignmentList>, ApiError> {
    load_class(&app, &caller, &class_id, Access::View).await?;
    let assignments = app.store().assignments(caller.tenant(), &class_id).await?;
    Ok(Json(AssignmentList { assignments }))
}

/// Assign a course or a lesson to a class (its teacher, admins).
#[utoipa::path(post, path = "/api/v1/classes/{id}/assignments", tag = "classes",
    request_body = NewAssignment,
    params(("id" = String, Path, description = "class id")),
    responses((status = 201, body = AssignmentRecord),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 409, description = "already assigned to this class", body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn create_assignment(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(class_id): ApiPath<String>,
    ApiJson(body): ApiJson<NewAssignment>,
) -> Result<(StatusCode, Json<AssignmentRecord>), ApiError> {
    load_class(&app, &caller, &class_id, Access::Manage).await?;
    let due = due_at(body.due_at.as_deref())?;
    let store = app.store();
    let what = match (body.course_id.as_deref(), body.lesson_id.as_deref()) {
        (Some(course), None) => {
            store
                .course(caller.tenant(), course)
                .await?
                .ok_or_else(|| {
                    ApiError::invalid_field("course_id", "no such course in your tenant")
                })?;
            Assigned::Course(course)
        }
        (None, Some(lesson)) => {
            store
                .lesson(caller.tenant(), lesson)
                .await?
                .ok_or_else(|| {
                    ApiError::invalid_field("lesson_id", "no such lesson in your tenant")
                })?;
            Assigned::Lesson(lesson)
        }
        _ => {
            return Err(ApiError::invalid_field(
                "course_id",
                "give exactly one of course_id (a whole course) and lesson_id (one lesson)",
            ));
        }
    };
    let id = new_id("asg");
    let assignment = store
        .create_assignment(caller.tenant(), &id, &class_id, &what, due, caller.user())
        .await
        .map_err(|error| {
            if error.is_unique_violation() {
                ApiError::new(
                    ErrorKind::Conflict,
                    "this class was already given it; change or remove that assignment instead",
                )
            } else {
                ApiError::from(error)
            }
        })?;
    let detail = json!({
        "assignment": id,
        "course_id": assignment.course_id,
        "lesson_id": assignment.lesson_id,
        "due_at": assignment.due_at,
    });
    audit::record(
        &app,
        &caller,
        "assignment.created",
        Target::class(&class_id),
        Some(detail),
    )
    .await;
    Ok((StatusCode::CREATED, Json(assignment)))
}

/// Remove an assignment (the class's teacher, admins); results and progress stay.
#[utoipa::path(delete, path = "/api/v1/classes/{id}/assignments/{assignment_id}", tag = "classes",
    params(("id" = String, Path, description = "class id"),
           ("assignment_id" = String, Path, description = "assignment id")),
    responses((status = 204, description = "removed"),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn delete_assignment(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((class_id, assignment_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    load_class(&app, &caller, &class_id, Access::Manage).await?;
    if !app
        .store()
        .delete_assignment(caller.tenant(), &class_id, &assignment_id)
        .await?
    {
        return Err(ApiError::not_found("assignment"));
    }
    let detail = json!({"assignment": assignment_id});
    audit::record(
        &app,
        &caller,
        "assignment.removed",
        Target::class(&class_id),
        Some(detail),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The published lessons the caller's classes were given (students).
#[utoipa::path(get, path = "/api/v1/me/lessons", tag = "auth",
    responses((status = 200, body = MyLessons), (status = 403, body = ErrorResponse)))]
async fn my_lessons(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<MyLessons>, ApiError> {
    caller.require(&[Role::Student], "list assigned lessons")?;
    let mut lessons = app
        .store()
        .assigned_lessons(caller.tenant(), caller.user(), MY_LESSONS_MAX + 1)
        .await?;
    let truncated = lessons.len() > MY_LESSONS_MAX as usize;
    lessons.truncate(MY_LESSONS_MAX as usize);
    Ok(Json(MyLessons { lessons, truncated }))
}
