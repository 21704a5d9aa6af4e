//! Progress (from `student_progress`, which the event sink keeps): per student (the student,
//! their linked parents, staff), per class (its teacher, admins) and per course (staff), each a
//! cursor-paged list of per-lesson rows.

use axum::Json;
use axum::extract::State;
use persistence::ProgressRecord;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::classes::{Access, load_class};
use crate::api::openapi::ErrorResponse;
use crate::api::page_of;
use crate::api::{ApiError, ApiPath, ApiQuery, Caller, ErrorKind, PageLimit, PageOf, PageQuery};
use crate::app::AppState;
use crate::auth::Role;
use crate::platform::audit::{self, Target};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(of_student))
        .routes(routes!(of_class))
        .routes(routes!(of_course))
}

/// Progress filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ProgressFilter {
    /// Only this course.
    pub course_id: Option<String>,
    /// Rows per page (default 50).
    #[param(inline, value_type = Option<PageLimit>)]
    pub limit: Option<String>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl ProgressFilter {
    fn page_query(&self) -> PageQuery {
        PageQuery {
            limit: self.limit.clone(),
            cursor: self.cursor.clone(),
        }
    }

    fn course(&self) -> Option<&str> {
        self.course_id
            .as_deref()
            .filter(|course| !course.is_empty())
    }
}

/// A student's progress (the student, their parents, educators who teach them, admins).
#[utoipa::path(get, path = "/api/v1/progress/students/{id}", tag = "progress",
    params(("id" = String, Path, description = "student id"), ProgressFilter),
    responses((status = 200, body = PageOf<ProgressRecord>),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn of_student(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(filter): ApiQuery<ProgressFilter>,
) -> Result<Json<PageOf<ProgressRecord>>, ApiError> {
    let allowed = match caller.role() {
        Role::Admin => true,
        Role::Educator => app
            .hub()
            .rosters()
            .teaches_student(caller.tenant(), caller.user(), &id),
        Role::Student => id == caller.user(),
        Role::Parent => caller.0.children.contains(&id),
        Role::Guest => false,
    };
    if !allowed {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "you may see your own progress (parents: their children's; educators: students on \
             the rosters of classes they teach)",
        ));
    }
    app.store()
        .user(caller.tenant(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("student"))?;
    let page = filter.page_query().page()?;
    let paged = app
        .store()
        .progress_of_student(caller.tenant(), &id, filter.course(), &page)
        .await?;
    if caller.is_staff() {
        audit::record(&app, &caller, "progress.read", Target::student(&id), None).await;
    }
    Ok(Json(page_of(
        paged,
        |row| (row.course_id.clone(), row.lesson_id.clone()),
        |row| row,
    )))
}

/// The progress of a class's students (its teacher, admins).
#[utoipa::path(get, path = "/api/v1/progress/classes/{id}", tag = "progress",
    params(("id" = String, Path, description = "class id"), ProgressFilter),
    responses((status = 200, body = PageOf<ProgressRecord>),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn of_class(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(filter): ApiQuery<ProgressFilter>,
) -> Result<Json<PageOf<ProgressRecord>>, ApiError> {
    load_class(&app, &caller, &id, Access::Manage).await?;
    let page = filter.page_query().page()?;
    let paged = app
        .store()
        .progress_of_class(caller.tenant(), &id, filter.course(), &page)
        .await?;
    Ok(Json(page_of(
        paged,
        |row| {
            (
                row.user_id.clone(),
                row.course_id.clone(),
                row.lesson_id.clone(),
            )
        },
        |row| row,
    )))
}

/// The progress of every student in a course (educators, admins).
#[utoipa::path(get, path = "/api/v1/progress/courses/{id}", tag = "progress",
    params(("id" = String, Path, description = "course id"), PageQuery),
    responses((status = 200, body = PageOf<ProgressRecord>),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn of_course(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<ProgressRecord>>, ApiError> {
    caller.require_staff("see a course's progress")?;
    app.store()
        .course(caller.tenant(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("course"))?;
    let paged = app
        .store()
        .progress_of_course(caller.tenant(), &id, &query.page()?)
        .await?;
    Ok(Json(page_of(
        paged,
        |row| (row.user_id.clone(), row.lesson_id.clone()),
        |row| row,
    )))
}
