//! Progress (from `student_progress`, which the event sink keeps): per student (the student,
//! their linked parents, staff), per class (its teacher, admins) and per course (staff), each a
//! cursor-paged list of per-lesson rows.
//!
//! `POST /api/v1/progress` records a lesson done on the web: a student's own progress in a
//! lesson they may see, checked by the rule game events follow (`ProgressUpdate::from_event`),
//! limited per student (`--progress-per-minute`), and sent through the hub like a game's event
//! (to the student's room and their classes' rooms, so teachers see it live) into the sink's
//! same upsert; the answer waits for the commit. A client-made `id` makes a retry count once.

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
        .routes(routes!(record))
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

/// Whether the caller may read a student's learning records (progress, rewards): the student,
/// their linked parents, educators who teach a class with them on its roster, admins.
pub(crate) fn may_read_student(
    app: &AppState,
    caller: &Caller,
    student: &str,
    what: &str,
) -> Result<(), ApiError> {
    let allowed = match caller.role() {
        Role::Admin => true,
        Role::Educator => {
            app.hub()
                .rosters()
                .teaches_student(caller.tenant(), caller.user(), student)
        }
        Role::Student => student == caller.user(),
        Role::Parent => caller.0.children.iter().any(|child| child == student),
        Role::Guest => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::Forbidden,
            format!(
                "you may see your own {what} (parents: their children's; educators: students on \
                 the rosters of classes they teach)"
            ),
        ))
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
    may_read_student(&app, &caller, &id, "progress")?;
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

/// Progress in a lesson done on the web.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewProgress {
    /// A lesson you may see (published, in a published course).
    lesson_id: String,
    /// Completion, 0–100 (the highest recorded counts).
    percent: f64,
    /// Seconds spent since the last record, 0–86400 (they add up).
    time_spent_secs: Option<f64>,
    /// Your own id for this record (1–128 bytes): sent again, it counts once.
    id: Option<String>,
}

/// A student's progress in a lesson after a record.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct RecordedProgress {
    /// The record's id.
    id: String,
    /// The lesson.
    lesson_id: String,
    /// The lesson's course.
    course_id: String,
    /// The highest completion recorded, 0–100.
    completion_percent: f64,
    /// Seconds spent, all records together.
    time_spent_secs: i64,
    /// Whether 100 % was reached.
    completed: bool,
}

/// Record your progress in a lesson done on the web (students); answered after it is stored.
#[utoipa::path(post, path = "/api/v1/progress", tag = "progress", request_body = NewProgress,
    responses((status = 201, body = RecordedProgress),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse), (status = 429, body = ErrorResponse),
              (status = 503, description = "not stored in time: send the same record (same id) again", body = ErrorResponse)))]
async fn record(
    axum::extract::State(app): axum::extract::State<AppState>,
    caller: Caller,
    crate::api::ApiJson(body): crate::api::ApiJson<NewProgress>,
) -> Result<(axum::http::StatusCode, axum::Json<RecordedProgress>), ApiError> {
    use crate::hub::{HubError, IngestOutcome, TrustedEvent};
    use protocol::{RoomId, RoomKind};
    caller.require(&[Role::Student], "record lesson progress")?;
    app.api_limiters()
        .check_progress(caller.tenant(), caller.user())?;
    let id = match body.id {
        Some(id) => {
            protocol::check_text("id", &id)
                .map_err(|refused| ApiError::invalid_field("id", refused.problem()))?;
            if id.is_empty() || id.len() > 128 {
                return Err(ApiError::invalid_field("id", "must be 1–128 bytes"));
            }
            id
        }
        None => crate::api::ids::new_id("web"),
    };
    let lesson = crate::platform::content::visible_lesson(&app, &caller, &body.lesson_id).await?;
    let mut data = serde_json::json!({
        "lesson": lesson.id,
        "course": lesson.course_id,
        "percent": body.percent,
        "source": "web",
    });
    if let Some(seconds) = body.time_spent_secs {
        data["time_spent_secs"] = serde_json::json!(seconds);
    }
    persistence::ProgressUpdate::from_event("progress", caller.user(), &data).map_err(
        |problem| {
            let field = if problem.contains("time_spent_secs") {
                "time_spent_secs"
            } else {
                "percent"
            };
            ApiError::invalid_field(field, problem.replace("progress data.", ""))
        },
    )?;
    let max_len = usize::MAX;
    let mut rooms = vec![
        RoomId::new(RoomKind::User, caller.tenant(), caller.user(), max_len)
            .map_err(ApiError::internal)?,
    ];
    for class in app
        .hub()
        .rosters()
        .classes_of_student(caller.tenant(), caller.user())
    {
        if let Ok(room) = RoomId::new(RoomKind::Class, caller.tenant(), &class, max_len) {
            rooms.push(room);
        }
    }
    // Scoped to the student, so no one's id can stand for another's event.
    let event = TrustedEvent {
        id: format!("web:{}:{id}", caller.user()),
        sender: caller.user().to_owned(),
        kind: "progress".into(),
        data,
        answer: None,
    };
    let unavailable = |message: String| {
        ApiError::new(ErrorKind::Unavailable, message)
            .with_retry_after(std::time::Duration::from_secs(1))
    };
    let outcome = match app.hub().ingest(caller.tenant(), &rooms, vec![event]) {
        Ok(mut outcomes) => outcomes.pop(),
        Err(HubError::SinkFull(refused)) => {
            return Err(unavailable(format!(
                "{refused}; send the same record again"
            )));
        }
        Err(other) => return Err(ApiError::internal(other)),
    };
    let ack = match outcome {
        Some(IngestOutcome::Published { published, .. }) => published.ack,
        Some(IngestOutcome::Rejected { error, .. }) => {
            return Err(ApiError::invalid_field("percent", error.to_string()));
        }
        None => None,
    };
    let timeout = app.roblox().settings().ack_timeout;
    match ack {
        Some(ack) => match tokio::time::timeout(timeout, ack).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(refused))) if matches!(refused, persistence::SinkError::Rejected(_)) => {
                return Err(ApiError::invalid_field("percent", refused.to_string()));
            }
            _ => {
                return Err(unavailable(
                    "the record is not stored yet (the database is slow or down); send it again with the same id".into(),
                ));
            }
        },
        None => {
            return Err(ApiError::internal(
                "the progress record had no acknowledgement",
            ));
        }
    }
    let stored = app
        .store()
        .progress(
            caller.tenant(),
            caller.user(),
            &lesson.course_id,
            &lesson.id,
        )
        .await?
        .ok_or_else(|| ApiError::internal("the stored progress row is missing"))?;
    Ok((
        axum::http::StatusCode::CREATED,
        axum::Json(RecordedProgress {
            id,
            lesson_id: lesson.id,
            course_id: lesson.course_id,
            completion_percent: stored.completion_percent,
            time_spent_secs: stored.time_spent_secs,
            completed: stored.completed,
        }),
    ))
}
