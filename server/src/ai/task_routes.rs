//! The `agent_tasks` rows read back by staff (`GET /api/v1/ai/tasks`, `/ai/tasks/{id}`: status,
//! tokens, model, timing, kind, who asked), and a drafted lesson saved into a course
//! (`POST /api/v1/ai/tasks/{id}/save-lesson`).
//!
//! Who sees which task: an admin, every task of the tenant; an educator, their own tasks and
//! those of students they teach (the roster rule of `platform::progress::may_read_student`), not
//! other educators': a task holds what someone asked, which is theirs. Students and parents see
//! none here (a student's own questions are in their conversations and their export). Reading
//! someone else's tasks is audited (`ai.tasks_read`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use persistence::{AgentTaskRecord, LessonFields, LessonRecord, TaskFilter};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Task;
use crate::api::ids::new_id;
use crate::api::openapi::ErrorResponse;
use crate::api::rules::{Text, documented};
use crate::api::{
    ApiError, ApiJson, ApiPath, ApiQuery, Caller, ErrorKind, PageLimit, PageOf, PageQuery, page_of,
};
use crate::app::AppState;
use crate::platform::audit::{self, Target};
use crate::platform::content::{TITLE, Title, editable_course};
use crate::platform::progress::may_read_student;

/// The statuses a task moves through.
const STATUSES: [&str; 4] = ["pending", "running", "completed", "failed"];

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tasks))
        .routes(routes!(get_task))
        .routes(routes!(save_lesson))
}

/// `GET /ai/tasks` filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct TaskQuery {
    /// Tasks asked by this user [default: admins, everyone; educators, you]. Educators may name
    /// a student they teach.
    user_id: Option<String>,
    /// `pending`, `running`, `completed` or `failed`.
    #[param(inline, value_type = Option<TaskStatus>)]
    status: Option<String>,
    /// `ask`, `explain`, `generate_content` or `create_assessment`.
    #[param(inline, value_type = Option<TaskKind>)]
    kind: Option<String>,
    /// Rows per page (default 50).
    #[param(inline, value_type = Option<PageLimit>)]
    limit: Option<String>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// A course id as a client gives it.
const COURSE_ID: Text = Text::prose(1, 128);

documented!(
    /// A task's status ([`STATUSES`]).
    TaskStatus = utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(STATUSES))
        .build()
);
documented!(
    /// A task's kind ([`Task::ALL`]).
    TaskKind = utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(Task::ALL.map(Task::as_str)))
        .build()
);
documented!(
    /// A course id ([`COURSE_ID`]).
    CourseId = COURSE_ID.schema()
);

/// Where to save a drafted lesson.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SaveLessonBody {
    /// The course (one you may edit: you created it, or you are an admin).
    #[schema(value_type = CourseId)]
    course_id: String,
    /// The lesson's title [default: the draft's].
    #[schema(value_type = Option<Title>)]
    title: Option<String>,
}

/// Whether the caller may read `owner`'s tasks: admins anyone's, educators their own and their
/// students'.
fn may_read_tasks(app: &AppState, caller: &Caller, owner: &str) -> Result<(), ApiError> {
    caller.require_staff("read AI tasks")?;
    if caller.is_admin() || owner == caller.user() {
        return Ok(());
    }
    may_read_student(app, caller, owner, "AI tasks")
}

/// The tenant's AI tasks, newest first (admins: all; educators: their own, or a student's they
/// teach with `user_id`).
#[utoipa::path(get, path = "/api/v1/ai/tasks", tag = "ai", params(TaskQuery),
    responses((status = 200, body = PageOf<AgentTaskRecord>),
              (status = 403, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
async fn list_tasks(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<TaskQuery>,
) -> Result<Json<PageOf<AgentTaskRecord>>, ApiError> {
    caller.require_staff("read AI tasks")?;
    let given = |value: Option<String>| value.filter(|value| !value.is_empty());
    let status = given(query.status);
    if let Some(status) = &status
        && !STATUSES.contains(&status.as_str())
    {
        return Err(ApiError::invalid_field(
            "status",
            "must be pending, running, completed or failed",
        ));
    }
    let kind = given(query.kind);
    if let Some(kind) = &kind
        && !Task::ALL.iter().any(|task| task.as_str() == kind)
    {
        return Err(ApiError::invalid_field(
            "kind",
            "must be ask, explain, generate_content or create_assessment",
        ));
    }
    let user_id = match given(query.user_id) {
        Some(user) => Some(user),
        None if caller.is_admin() => None,
        None => Some(caller.user().to_owned()),
    };
    if let Some(user) = &user_id {
        may_read_tasks(&app, &caller, user)?;
    }
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    let filter = TaskFilter {
        user_id,
        status,
        kind,
    };
    let paged = app
        .store()
        .agent_tasks_page(caller.tenant(), &filter, &page)
        .await?;
    if let Some(user) = filter
        .user_id
        .as_deref()
        .filter(|user| *user != caller.user())
    {
        audit::record(&app, &caller, "ai.tasks_read", Target::student(user), None).await;
    }
    Ok(Json(page_of(paged, |task| task.id.clone(), |task| task)))
}

/// The task `id` if the caller may read it (404 when the tenant has none).
async fn readable_task(
    app: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<AgentTaskRecord, ApiError> {
    caller.require_staff("read AI tasks")?;
    let task = app
        .store()
        .agent_task(caller.tenant(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("AI task"))?;
    may_read_tasks(app, caller, &task.user_id)?;
    Ok(task)
}

/// One AI task: what was asked, what came back, status, tokens, model and timing (admins; the
/// educator who asked, or who teaches the student who did).
#[utoipa::path(get, path = "/api/v1/ai/tasks/{id}", tag = "ai",
    params(("id" = String, Path, description = "task id")),
    responses((status = 200, body = AgentTaskRecord),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn get_task(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AgentTaskRecord>, ApiError> {
    let task = readable_task(&app, &caller, &id).await?;
    if task.user_id != caller.user() {
        let target = Target {
            kind: "agent_task",
            id: &task.id,
            student: Some(&task.user_id),
        };
        audit::record(&app, &caller, "ai.tasks_read", target, None).await;
    }
    Ok(Json(task))
}

/// Save a completed `generate_content` task's draft as an unpublished lesson at the end of a
/// course (the educator who drafted it, or an admin; the course's author or an admin).
#[utoipa::path(post, path = "/api/v1/ai/tasks/{id}/save-lesson", tag = "ai",
    request_body = SaveLessonBody, params(("id" = String, Path, description = "task id")),
    responses((status = 201, body = LessonRecord),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 409, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
async fn save_lesson(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<SaveLessonBody>,
) -> Result<(StatusCode, Json<LessonRecord>), ApiError> {
    caller.require_staff("save drafted lessons")?;
    let course_id = COURSE_ID.check("course_id", &body.course_id)?.to_owned();
    let title = body
        .title
        .as_deref()
        .map(|title| TITLE.check("title", title).map(str::to_owned))
        .transpose()?;
    let task = app
        .store()
        .agent_task(caller.tenant(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("AI task"))?;
    if !caller.is_admin() && task.user_id != caller.user() {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "only the educator who drafted this lesson or an admin may save it",
        ));
    }
    let draft = match (task.kind.as_str(), task.status.as_str(), &task.output) {
        (kind, _, _) if kind != Task::GenerateContent.as_str() => {
            return Err(ApiError::new(
                ErrorKind::Conflict,
                format!(
                    "task {} drafted no lesson (it is a {kind} task); save a generate_content task",
                    task.id
                ),
            ));
        }
        ("generate_content", "completed", Some(output)) => output,
        _ => {
            return Err(ApiError::new(
                ErrorKind::Conflict,
                format!(
                    "task {} has no finished draft (it is {}); draft the lesson again",
                    task.id, task.status
                ),
            ));
        }
    };
    let content = draft["content"].as_str().unwrap_or_default().to_owned();
    let title = title.unwrap_or_else(|| {
        let drafted = draft["title"].as_str().unwrap_or("Untitled lesson");
        drafted.chars().take(TITLE.max_chars).collect()
    });
    editable_course(
        &app,
        &caller,
        &course_id,
        "save a drafted lesson to this course",
    )
    .await?;
    let fields = LessonFields {
        title: Some(title),
        content: Some(json!({"text": content, "format": "markdown"})),
        published: Some(false),
        ..LessonFields::default()
    };
    let lesson = app
        .store()
        .create_lesson(caller.tenant(), &course_id, &new_id("lsn"), &fields)
        .await?;
    let target = Target {
        kind: "lesson",
        id: &lesson.id,
        student: None,
    };
    let detail: Value = json!({"task_id": task.id, "course_id": course_id});
    audit::record(&app, &caller, "ai.lesson_saved", target, Some(detail)).await;
    Ok((StatusCode::CREATED, Json(lesson)))
}
