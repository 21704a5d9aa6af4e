//! Content: courses, ordered lessons (publish, reorder) and assessments with questions as JSON,
//! and `POST assessments/{id}/results`, which scores multiple-choice answers on the server.
//! Educators and admins read everything and create courses; a course, its lessons and their
//! assessments are changed, published, reordered or deleted only by the educator who created the
//! course or an admin ([`editable_course`], the one rule every write route calls; a standalone
//! assessment, outside any lesson, is shared by all staff). Students and parents read what is
//! published, and students never see the correct answers.
//!
//! Question format (`questions` is an array of 1–200):
//! `{"id": "q1", "type": "multiple_choice", "prompt": "2+2?", "choices": ["3", "4"], "answer": 1,
//! "points": 1}` (answer: the index of the right choice; points default 1) or
//! `{"id": "q2", "type": "free_text", "prompt": "Why?"}` (stored, not scored).

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use persistence::{
    AssessmentRecord, CourseFields, CourseRecord, LessonFields, LessonRecord, Page, ResultRecord,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::openapi::Schema;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::catalog::{
    Difficulty, FindQuery, Grade, MetadataBody, Minutes, Objectives, Subject, Tags, check_metadata,
    keep_revision,
};
use crate::api::ids::new_id;
use crate::api::openapi::ErrorResponse;
use crate::api::page_of;
use crate::api::rules::{Items, Range, Text, documented, optional_whole_number};
use crate::api::{
    ApiError, ApiJson, ApiPath, ApiQuery, Caller, ErrorKind, PageLimit, PageOf, PageQuery,
};
use crate::app::AppState;
use crate::auth::Role;

/// A course's, lesson's, assessment's or notification's title (stored trimmed).
pub(crate) const TITLE: Text = Text::prose(1, 200);
/// A lesson's position in its course.
const POSITION: Range = Range::new(0, 100_000);
/// Questions per assessment.
const QUESTIONS: Items = Items::new(1, 200);
/// Longest question id, in bytes of UTF-8.
const QUESTION_ID_BYTES: usize = 64;
/// Choices per multiple-choice question.
const CHOICES: Items = Items::new(2, 20);
/// Points a question is worth.
const POINTS: Range = Range::new(0, 1000);
/// A Roblox universe or place id (Luau numbers are doubles: exact up to 2^53 - 1).
pub(crate) const ROBLOX_ID: Range = Range::new(1, 9_007_199_254_740_991);

documented!(
    /// A title ([`TITLE`]).
    Title = TITLE.schema()
);
documented!(
    /// A lesson position ([`POSITION`]).
    LessonPosition = POSITION.integer_schema()
);
documented!(
    /// A Roblox universe or place id ([`ROBLOX_ID`]).
    RobloxId = ROBLOX_ID.integer_schema()
);
documented!(
    /// An assessment's questions ([`QUESTIONS`] of [`question_schema`]).
    Questions = QUESTIONS.schema(question_schema())
);

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_courses, create_course))
        .routes(routes!(get_course, update_course, delete_course))
        .routes(routes!(publish_course))
        .routes(routes!(list_lessons, create_lesson))
        .routes(routes!(order_lessons))
        .routes(routes!(get_lesson, update_lesson, delete_lesson))
        .routes(routes!(publish_lesson))
        .routes(routes!(list_assessments, create_assessment))
        .routes(routes!(
            get_assessment,
            update_assessment,
            delete_assessment
        ))
        .routes(routes!(list_results, submit_result))
}

/// A course to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewCourse {
    /// Title.
    #[schema(value_type = Title)]
    title: String,
    /// Description.
    description: Option<String>,
    /// Grade level, e.g. `7`.
    grade_level: Option<String>,
    /// Whether students see it.
    published: Option<bool>,
    /// Subject, e.g. `math`.
    #[schema(value_type = Option<Subject>)]
    subject: Option<String>,
    /// The lowest grade it suits (0 = kindergarten; given alone: that one grade).
    #[schema(value_type = Option<Grade>)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    grade_min: Option<i64>,
    /// The highest grade it suits (not below `grade_min`).
    #[schema(value_type = Option<Grade>)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    grade_max: Option<i64>,
    /// Difficulty.
    difficulty: Option<Difficulty>,
    /// Tags, replacing all (stored lower-case, duplicates dropped).
    #[schema(value_type = Option<Tags>)]
    tags: Option<Vec<String>>,
    /// Estimated minutes to complete.
    #[schema(value_type = Option<Minutes>)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    duration_minutes: Option<i64>,
    /// Learning objectives, replacing all.
    #[schema(value_type = Option<Objectives>)]
    objectives: Option<Vec<String>>,
}

/// What to change about a course.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CourseBody {
    /// A new title.
    #[schema(value_type = Option<Title>)]
    title: Option<String>,
    /// Description.
    description: Option<String>,
    /// Grade level, e.g. `7`.
    grade_level: Option<String>,
    /// Whether students see it.
    published: Option<bool>,
    /// Subject, e.g. `math`.
    #[schema(value_type = Option<Subject>)]
    subject: Option<String>,
    /// The lowest grade it suits (0 = kindergarten; given alone: that one grade).
    #[schema(value_type = Option<Grade>)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    grade_min: Option<i64>,
    /// The highest grade it suits (not below `grade_min`).
    #[schema(value_type = Option<Grade>)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    grade_max: Option<i64>,
    /// Difficulty.
    difficulty: Option<Difficulty>,
    /// Tags, replacing all (stored lower-case, duplicates dropped).
    #[schema(value_type = Option<Tags>)]
    tags: Option<Vec<String>>,
    /// Estimated minutes to complete.
    #[schema(value_type = Option<Minutes>)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    duration_minutes: Option<i64>,
    /// Learning objectives, replacing all.
    #[schema(value_type = Option<Objectives>)]
    objectives: Option<Vec<String>>,
}

/// A lesson to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewLesson {
    /// Title.
    #[schema(value_type = Title)]
    title: String,
    /// Content: any JSON object the game and the dashboard agree on.
    #[schema(value_type = Option<Object>)]
    content: Option<Value>,
    /// Position in the course (default: last).
    #[schema(value_type = Option<LessonPosition>)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    position: Option<i64>,
    /// Whether students see it (its course must be published too).
    published: Option<bool>,
    /// The Roblox experience (universe id) that plays it.
    #[schema(value_type = Option<RobloxId>)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    roblox_universe_id: Option<i64>,
    /// The Roblox place that plays it.
    #[schema(value_type = Option<RobloxId>)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    roblox_place_id: Option<i64>,
    /// Subject, e.g. `math`.
    #[schema(value_type = Option<Subject>)]
    subject: Option<String>,
    /// The lowest grade it suits (0 = kindergarten; given alone: that one grade).
    #[schema(value_type = Option<Grade>)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    grade_min: Option<i64>,
    /// The highest grade it suits (not below `grade_min`).
    #[schema(value_type = Option<Grade>)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    grade_max: Option<i64>,
    /// Difficulty.
    difficulty: Option<Difficulty>,
    /// Tags, replacing all (stored lower-case, duplicates dropped).
    #[schema(value_type = Option<Tags>)]
    tags: Option<Vec<String>>,
    /// Estimated minutes to complete.
    #[schema(value_type = Option<Minutes>)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    duration_minutes: Option<i64>,
    /// Learning objectives, replacing all.
    #[schema(value_type = Option<Objectives>)]
    objectives: Option<Vec<String>>,
}

/// What to change about a lesson.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LessonBody {
    /// A new title.
    #[schema(value_type = Option<Title>)]
    title: Option<String>,
    /// Content: any JSON object the game and the dashboard agree on.
    #[schema(value_type = Option<Object>)]
    content: Option<Value>,
    /// A new position in the course.
    #[schema(value_type = Option<LessonPosition>)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    position: Option<i64>,
    /// Whether students see it (its course must be published too).
    published: Option<bool>,
    /// The Roblox experience (universe id) that plays it.
    #[schema(value_type = Option<RobloxId>)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    roblox_universe_id: Option<i64>,
    /// The Roblox place that plays it.
    #[schema(value_type = Option<RobloxId>)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    roblox_place_id: Option<i64>,
    /// Subject, e.g. `math`.
    #[schema(value_type = Option<Subject>)]
    subject: Option<String>,
    /// The lowest grade it suits (0 = kindergarten; given alone: that one grade).
    #[schema(value_type = Option<Grade>)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    grade_min: Option<i64>,
    /// The highest grade it suits (not below `grade_min`).
    #[schema(value_type = Option<Grade>)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    grade_max: Option<i64>,
    /// Difficulty.
    difficulty: Option<Difficulty>,
    /// Tags, replacing all (stored lower-case, duplicates dropped).
    #[schema(value_type = Option<Tags>)]
    tags: Option<Vec<String>>,
    /// Estimated minutes to complete.
    #[schema(value_type = Option<Minutes>)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    duration_minutes: Option<i64>,
    /// Learning objectives, replacing all.
    #[schema(value_type = Option<Objectives>)]
    objectives: Option<Vec<String>>,
}

/// A new lesson order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LessonOrder {
    /// Every lesson id of the course, in the new order.
    lesson_ids: Vec<String>,
}

/// An assessment to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewAssessment {
    /// The lesson it belongs to (a lesson of your tenant).
    lesson_id: Option<String>,
    /// Title.
    #[schema(value_type = Title)]
    title: String,
    /// Questions; ids are unique within the assessment, and a multiple-choice `answer` is the
    /// index of one of its `choices`.
    #[schema(value_type = Questions)]
    questions: Value,
}

/// What to change about an assessment (its lesson cannot change).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AssessmentBody {
    /// Refused: an assessment stays with its lesson.
    #[schema(ignore)]
    lesson_id: Option<String>,
    /// A new title.
    #[schema(value_type = Option<Title>)]
    title: Option<String>,
    /// New questions, replacing all; ids are unique within the assessment, and a
    /// multiple-choice `answer` is the index of one of its `choices`.
    #[schema(value_type = Option<Questions>)]
    questions: Option<Value>,
}

/// A submission.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Submission {
    /// Answers by question id: a choice index for multiple choice, text for free text.
    #[schema(value_type = Object)]
    answers: Value,
}

/// `GET /assessments` filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AssessmentFilter {
    /// Only assessments of this lesson.
    lesson_id: Option<String>,
    /// Rows per page (default 50).
    #[param(inline, value_type = Option<PageLimit>)]
    limit: Option<String>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

impl From<NewCourse> for CourseBody {
    fn from(course: NewCourse) -> CourseBody {
        CourseBody {
            title: Some(course.title),
            description: course.description,
            grade_level: course.grade_level,
            published: course.published,
            subject: course.subject,
            grade_min: course.grade_min,
            grade_max: course.grade_max,
            difficulty: course.difficulty,
            tags: course.tags,
            duration_minutes: course.duration_minutes,
            objectives: course.objectives,
        }
    }
}

impl From<NewLesson> for LessonBody {
    fn from(lesson: NewLesson) -> LessonBody {
        LessonBody {
            title: Some(lesson.title),
            content: lesson.content,
            position: lesson.position,
            published: lesson.published,
            roblox_universe_id: lesson.roblox_universe_id,
            roblox_place_id: lesson.roblox_place_id,
            subject: lesson.subject,
            grade_min: lesson.grade_min,
            grade_max: lesson.grade_max,
            difficulty: lesson.difficulty,
            tags: lesson.tags,
            duration_minutes: lesson.duration_minutes,
            objectives: lesson.objectives,
        }
    }
}

/// The descriptive fields of a course or lesson body.
macro_rules! metadata_of {
    ($body:expr) => {
        MetadataBody {
            subject: $body.subject,
            grade_min: $body.grade_min,
            grade_max: $body.grade_max,
            difficulty: $body.difficulty,
            tags: $body.tags,
            duration_minutes: $body.duration_minutes,
            objectives: $body.objectives,
        }
    };
}

fn check_title(title: Option<&str>, required: bool) -> Result<Option<String>, ApiError> {
    match title {
        None if required => Err(ApiError::invalid_field("title", "is required")),
        None => Ok(None),
        Some(title) => TITLE
            .check("title", title)
            .map(|title| Some(title.to_owned())),
    }
}

/// Whether the caller reads only published content.
pub(crate) fn reader(caller: &Caller) -> bool {
    !caller.is_staff()
}

/// The course `id` if the caller may change it and what it holds (lessons, their assessments):
/// its author or an admin. 404 when it does not exist in the caller's tenant, 403 naming `action`
/// otherwise.
pub(crate) async fn editable_course(
    app: &AppState,
    caller: &Caller,
    id: &str,
    action: &str,
) -> Result<CourseRecord, ApiError> {
    caller.require_staff(action)?;
    let course = app
        .store()
        .course(caller.tenant(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("course"))?;
    if caller.is_admin() || course.created_by.as_deref() == Some(caller.user()) {
        Ok(course)
    } else {
        Err(ApiError::new(
            ErrorKind::Forbidden,
            format!(
                "only the educator who created course {} or an admin may {action}; ask them or an admin",
                course.id
            ),
        ))
    }
}

/// The lesson `id` if the caller may change it ([`editable_course`] of its course).
pub(crate) async fn editable_lesson(
    app: &AppState,
    caller: &Caller,
    id: &str,
    action: &str,
) -> Result<LessonRecord, ApiError> {
    caller.require_staff(action)?;
    let lesson = app
        .store()
        .lesson(caller.tenant(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("lesson"))?;
    editable_course(app, caller, &lesson.course_id, action).await?;
    Ok(lesson)
}

/// Checks the caller may change assessment `id` ([`editable_lesson`] of its lesson; a standalone
/// assessment: any staff).
async fn editable_assessment(
    app: &AppState,
    caller: &Caller,
    id: &str,
    action: &str,
) -> Result<(), ApiError> {
    caller.require_staff(action)?;
    let assessment = app
        .store()
        .assessment(caller.tenant(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("assessment"))?;
    if let Some(lesson) = &assessment.lesson_id {
        editable_lesson(app, caller, lesson, action).await?;
    }
    Ok(())
}

/// A course body's fields, checked; `current` is the course a change is made to.
fn course_fields(
    body: CourseBody,
    current: Option<&CourseRecord>,
) -> Result<CourseFields, ApiError> {
    Ok(CourseFields {
        title: check_title(body.title.as_deref(), current.is_none())?,
        description: body.description,
        grade_level: body.grade_level,
        published: body.published,
        meta: check_metadata(metadata_of!(body), current.map(|course| &course.meta))?,
    })
}

async fn visible_course(
    app: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<CourseRecord, ApiError> {
    app.store()
        .course(caller.tenant(), id)
        .await?
        .filter(|course| course.published || !reader(caller))
        .ok_or_else(|| ApiError::not_found("course"))
}

pub(crate) async fn visible_lesson(
    app: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<LessonRecord, ApiError> {
    let lesson = app
        .store()
        .lesson(caller.tenant(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("lesson"))?;
    if reader(caller) {
        let course = visible_course(app, caller, &lesson.course_id).await;
        if !lesson.published || course.is_err() {
            return Err(ApiError::not_found("lesson"));
        }
    }
    Ok(lesson)
}

/// List courses (students and parents: published ones).
#[utoipa::path(get, path = "/api/v1/courses", tag = "content", params(FindQuery),
    responses((status = 200, body = PageOf<CourseRecord>),
              (status = 422, body = ErrorResponse)))]
async fn list_courses(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<FindQuery>,
) -> Result<Json<PageOf<CourseRecord>>, ApiError> {
    let Some((filter, sort, page)) = query.resolve(&caller, None)? else {
        return Ok(Json(PageOf::empty()));
    };
    let found = app
        .store()
        .find_courses(caller.tenant(), &filter, sort, &page)
        .await?;
    Ok(Json(page_of(found, |hit| hit.key.clone(), |hit| hit.item)))
}

/// Create a course (staff).
#[utoipa::path(post, path = "/api/v1/courses", tag = "content", request_body = NewCourse,
    responses((status = 201, body = CourseRecord),
              (status = 403, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
async fn create_course(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewCourse>,
) -> Result<(StatusCode, Json<CourseRecord>), ApiError> {
    caller.require_staff("create courses")?;
    let fields = course_fields(body.into(), None)?;
    let course = app
        .store()
        .create_course(caller.tenant(), &new_id("crs"), caller.user(), &fields)
        .await?;
    Ok((StatusCode::CREATED, Json(course)))
}

/// Get a course.
#[utoipa::path(get, path = "/api/v1/courses/{id}", tag = "content",
    params(("id" = String, Path, description = "course id")),
    responses((status = 200, body = CourseRecord),
              (status = 404, body = ErrorResponse)))]
async fn get_course(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CourseRecord>, ApiError> {
    visible_course(&app, &caller, &id).await.map(Json)
}

/// Change a course (the course's author or an admin).
#[utoipa::path(patch, path = "/api/v1/courses/{id}", tag = "content", request_body = CourseBody,
    params(("id" = String, Path, description = "course id")),
    responses((status = 200, body = CourseRecord),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn update_course(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CourseBody>,
) -> Result<Json<CourseRecord>, ApiError> {
    let course = editable_course(&app, &caller, &id, "change this course").await?;
    let fields = course_fields(body, Some(&course))?;
    app.store()
        .update_course(caller.tenant(), &id, &fields)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("course"))
}

/// Delete a course with its lessons, their assessments and results (the course's author or an admin).
#[utoipa::path(delete, path = "/api/v1/courses/{id}", tag = "content",
    params(("id" = String, Path, description = "course id")),
    responses((status = 204, description = "deleted"),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn delete_course(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    editable_course(&app, &caller, &id, "delete this course").await?;
    if app.store().delete_course(caller.tenant(), &id).await? {
        crate::media::forget_owner(&app, caller.tenant(), "course", &id).await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("course"))
    }
}

/// Publish a course (the course's author or an admin).
#[utoipa::path(post, path = "/api/v1/courses/{id}/publish", tag = "content",
    params(("id" = String, Path, description = "course id")),
    responses((status = 200, body = CourseRecord),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn publish_course(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CourseRecord>, ApiError> {
    editable_course(&app, &caller, &id, "publish this course").await?;
    let fields = CourseFields {
        published: Some(true),
        ..CourseFields::default()
    };
    app.store()
        .update_course(caller.tenant(), &id, &fields)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("course"))
}

/// A course's lessons in order (students and parents: published ones of a published course).
#[utoipa::path(get, path = "/api/v1/courses/{id}/lessons", tag = "content",
    params(("id" = String, Path, description = "course id"), FindQuery),
    responses((status = 200, body = PageOf<LessonRecord>),
              (status = 404, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
async fn list_lessons(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<FindQuery>,
) -> Result<Json<PageOf<LessonRecord>>, ApiError> {
    visible_course(&app, &caller, &id).await?;
    let Some((filter, sort, page)) = query.resolve(&caller, Some(&id))? else {
        return Ok(Json(PageOf::empty()));
    };
    let found = app
        .store()
        .find_lessons(caller.tenant(), &filter, sort, &page)
        .await?;
    Ok(Json(page_of(found, |hit| hit.key.clone(), |hit| hit.item)))
}

/// A lesson body's fields, checked; `current` is the lesson a change is made to.
fn lesson_fields(
    body: LessonBody,
    current: Option<&LessonRecord>,
) -> Result<LessonFields, ApiError> {
    if let Some(content) = &body.content
        && !content.is_object()
    {
        return Err(ApiError::invalid_field("content", "must be a JSON object"));
    }
    if let Some(position) = body.position {
        POSITION.check("position", position)?;
    }
    if let Some(universe) = body.roblox_universe_id {
        ROBLOX_ID.check("roblox_universe_id", universe)?;
    }
    if let Some(place) = body.roblox_place_id {
        ROBLOX_ID.check("roblox_place_id", place)?;
    }
    Ok(LessonFields {
        meta: check_metadata(metadata_of!(body), current.map(|lesson| &lesson.meta))?,
        title: check_title(body.title.as_deref(), current.is_none())?,
        content: body.content,
        position: body.position,
        published: body.published,
        roblox_universe_id: body.roblox_universe_id,
        roblox_place_id: body.roblox_place_id,
    })
}

/// Add a lesson to a course (the course's author or an admin).
#[utoipa::path(post, path = "/api/v1/courses/{id}/lessons", tag = "content", request_body = NewLesson,
    params(("id" = String, Path, description = "course id")),
    responses((status = 201, body = LessonRecord),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn create_lesson(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<NewLesson>,
) -> Result<(StatusCode, Json<LessonRecord>), ApiError> {
    let fields = lesson_fields(body.into(), None)?;
    editable_course(&app, &caller, &id, "add lessons to this course").await?;
    let lesson = app
        .store()
        .create_lesson(caller.tenant(), &id, &new_id("lsn"), &fields)
        .await?;
    Ok((StatusCode::CREATED, Json(lesson)))
}

/// Reorder a course's lessons (the course's author or an admin): give every lesson id once, in the new order.
#[utoipa::path(put, path = "/api/v1/courses/{id}/lessons/order", tag = "content",
    request_body = LessonOrder, params(("id" = String, Path, description = "course id")),
    responses((status = 200, body = PageOf<LessonRecord>),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn order_lessons(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<LessonOrder>,
) -> Result<Json<PageOf<LessonRecord>>, ApiError> {
    editable_course(&app, &caller, &id, "reorder this course's lessons").await?;
    let store = app.store();
    let all = Page {
        limit: 10_000,
        after: None,
    };
    let current = store.lessons(caller.tenant(), &id, false, &all).await?;
    let current_ids: HashSet<&str> = current
        .items
        .iter()
        .map(|lesson| lesson.id.as_str())
        .collect();
    let given: HashSet<&str> = body.lesson_ids.iter().map(String::as_str).collect();
    if given.len() != body.lesson_ids.len() || given != current_ids {
        return Err(ApiError::invalid_field(
            "lesson_ids",
            "must list every lesson of the course exactly once",
        ));
    }
    store
        .order_lessons(caller.tenant(), &id, &body.lesson_ids)
        .await?;
    let reordered = store.lessons(caller.tenant(), &id, false, &all).await?;
    Ok(Json(page_of(
        reordered,
        |lesson| (lesson.position, lesson.id.clone()),
        |lesson| lesson,
    )))
}

/// Get a lesson.
#[utoipa::path(get, path = "/api/v1/lessons/{id}", tag = "content",
    params(("id" = String, Path, description = "lesson id")),
    responses((status = 200, body = LessonRecord),
              (status = 404, body = ErrorResponse)))]
async fn get_lesson(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<LessonRecord>, ApiError> {
    visible_lesson(&app, &caller, &id).await.map(Json)
}

/// Change a lesson (the course's author or an admin).
#[utoipa::path(patch, path = "/api/v1/lessons/{id}", tag = "content", request_body = LessonBody,
    params(("id" = String, Path, description = "lesson id")),
    responses((status = 200, body = LessonRecord),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn update_lesson(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<LessonBody>,
) -> Result<Json<LessonRecord>, ApiError> {
    let lesson = editable_lesson(&app, &caller, &id, "change this lesson").await?;
    let fields = lesson_fields(body, Some(&lesson))?;
    app.store()
        .update_lesson(
            caller.tenant(),
            &id,
            &fields,
            Some(keep_revision(&app, &caller)),
        )
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("lesson"))
}

/// Delete a lesson with its assessments and their results (the course's author or an admin).
#[utoipa::path(delete, path = "/api/v1/lessons/{id}", tag = "content",
    params(("id" = String, Path, description = "lesson id")),
    responses((status = 204, description = "deleted"),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn delete_lesson(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    editable_lesson(&app, &caller, &id, "delete this lesson").await?;
    if app.store().delete_lesson(caller.tenant(), &id).await? {
        crate::media::forget_owner(&app, caller.tenant(), "lesson", &id).await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("lesson"))
    }
}

/// Publish a lesson (the course's author or an admin).
#[utoipa::path(post, path = "/api/v1/lessons/{id}/publish", tag = "content",
    params(("id" = String, Path, description = "lesson id")),
    responses((status = 200, body = LessonRecord),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn publish_lesson(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<LessonRecord>, ApiError> {
    editable_lesson(&app, &caller, &id, "publish this lesson").await?;
    let fields = LessonFields {
        published: Some(true),
        ..LessonFields::default()
    };
    app.store()
        .update_lesson(caller.tenant(), &id, &fields, None)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("lesson"))
}

/// The JSON Schema of one question, from the limits [`check_questions`] applies (what it cannot
/// state, unique ids and `answer` below the number of choices, is in the field's description).
fn question_schema() -> Schema {
    let text = || ObjectBuilder::new().schema_type(Type::String);
    let id = text()
        .min_length(Some(1))
        .max_length(Some(QUESTION_ID_BYTES))
        .description(Some(format!(
            "unique within the assessment; at most {QUESTION_ID_BYTES} bytes of UTF-8"
        )))
        .build();
    let prompt = text().min_length(Some(1)).build();
    let points = POINTS.number_schema();
    let question = |kind: &str| {
        ObjectBuilder::new()
            .property("id", id.clone())
            .required("id")
            .property("type", text().enum_values(Some([kind])))
            .required("type")
            .property("prompt", prompt.clone())
            .required("prompt")
            .property("points", points.clone())
    };
    let last_choice = i64::try_from(CHOICES.max).unwrap_or(i64::MAX) - 1;
    let multiple_choice = question("multiple_choice")
        .property("choices", CHOICES.schema(text()))
        .required("choices")
        .property(
            "answer",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .maximum(Some(last_choice))
                .description(Some("the index of the right choice")),
        )
        .required("answer");
    OneOfBuilder::new()
        .item(multiple_choice)
        .item(question("free_text"))
        .build()
        .into()
}

/// Checks a question list; the error names the first offending field.
pub(crate) fn check_questions(questions: &Value) -> Result<(), ApiError> {
    let list = questions
        .as_array()
        .filter(|list| QUESTIONS.allows(list.len()))
        .ok_or_else(|| {
            ApiError::invalid_field(
                "questions",
                format!(
                    "must be an array of {}–{} questions",
                    QUESTIONS.min, QUESTIONS.max
                ),
            )
        })?;
    let mut ids = HashSet::new();
    for (index, question) in list.iter().enumerate() {
        let at = |field: &str| format!("questions[{index}].{field}");
        let id = question["id"]
            .as_str()
            .filter(|id| !id.is_empty() && id.len() <= QUESTION_ID_BYTES)
            .ok_or_else(|| {
                ApiError::invalid_field(
                    at("id"),
                    format!("must be a string of 1–{QUESTION_ID_BYTES} bytes"),
                )
            })?;
        if !ids.insert(id) {
            return Err(ApiError::invalid_field(at("id"), "is used twice"));
        }
        if question["prompt"].as_str().is_none_or(str::is_empty) {
            return Err(ApiError::invalid_field(
                at("prompt"),
                "must be a non-empty string",
            ));
        }
        if let Some(points) = question.get("points")
            && points
                .as_f64()
                .is_none_or(|points| !POINTS.contains(points))
        {
            return Err(ApiError::invalid_field(at("points"), POINTS.rule()));
        }
        match question["type"].as_str() {
            Some("multiple_choice") => {
                let choices = question["choices"]
                    .as_array()
                    .filter(|choices| {
                        CHOICES.allows(choices.len()) && choices.iter().all(Value::is_string)
                    })
                    .ok_or_else(|| {
                        ApiError::invalid_field(
                            at("choices"),
                            format!("must be {}–{} strings", CHOICES.min, CHOICES.max),
                        )
                    })?;
                let answer = question["answer"].as_u64();
                if answer.is_none_or(|answer| answer as usize >= choices.len()) {
                    return Err(ApiError::invalid_field(
                        at("answer"),
                        "must be the index of the right choice",
                    ));
                }
            }
            Some("free_text") => {}
            _ => {
                return Err(ApiError::invalid_field(
                    at("type"),
                    "must be multiple_choice or free_text",
                ));
            }
        }
    }
    Ok(())
}

/// An assessment as the caller may see it: students and parents get no correct answers.
fn shown(mut assessment: AssessmentRecord, caller: &Caller) -> AssessmentRecord {
    if reader(caller)
        && let Some(questions) = assessment.questions.as_array_mut()
    {
        for question in questions {
            if let Some(fields) = question.as_object_mut() {
                fields.remove("answer");
            }
        }
    }
    assessment
}

async fn visible_assessment(
    app: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<AssessmentRecord, ApiError> {
    let assessment = app
        .store()
        .assessment(caller.tenant(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("assessment"))?;
    if reader(caller)
        && let Some(lesson) = &assessment.lesson_id
    {
        visible_lesson(app, caller, lesson)
            .await
            .map_err(|_| ApiError::not_found("assessment"))?;
    }
    Ok(assessment)
}

/// List assessments, optionally of one lesson (students and parents: published ones, without
/// answers).
#[utoipa::path(get, path = "/api/v1/assessments", tag = "content", params(AssessmentFilter),
    responses((status = 200, body = PageOf<AssessmentRecord>),
              (status = 422, body = ErrorResponse)))]
async fn list_assessments(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(filter): ApiQuery<AssessmentFilter>,
) -> Result<Json<PageOf<AssessmentRecord>>, ApiError> {
    let page = PageQuery {
        limit: filter.limit,
        cursor: filter.cursor,
    }
    .page()?;
    let lesson = filter
        .lesson_id
        .as_deref()
        .filter(|lesson| !lesson.is_empty());
    let paged = app
        .store()
        .assessments(caller.tenant(), lesson, reader(&caller), &page)
        .await?;
    Ok(Json(page_of(
        paged,
        |assessment| assessment.id.clone(),
        |assessment| shown(assessment, &caller),
    )))
}

/// Create an assessment (staff; in a lesson: its course's author or an admin).
#[utoipa::path(post, path = "/api/v1/assessments", tag = "content", request_body = NewAssessment,
    responses((status = 201, body = AssessmentRecord),
              (status = 403, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
async fn create_assessment(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewAssessment>,
) -> Result<(StatusCode, Json<AssessmentRecord>), ApiError> {
    caller.require_staff("create assessments")?;
    let title = check_title(Some(&body.title), true)?.unwrap_or_default();
    let questions = body.questions;
    check_questions(&questions)?;
    if let Some(lesson) = &body.lesson_id {
        editable_lesson(&app, &caller, lesson, "add assessments to this lesson")
            .await
            .map_err(|refused| match refused.kind() {
                ErrorKind::NotFound => {
                    ApiError::invalid_field("lesson_id", "no such lesson in your tenant")
                }
                _ => refused,
            })?;
    }
    let assessment = app
        .store()
        .create_assessment(
            caller.tenant(),
            &new_id("asm"),
            body.lesson_id.as_deref(),
            &title,
            &questions,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(assessment)))
}

/// Get an assessment (students and parents: without answers).
#[utoipa::path(get, path = "/api/v1/assessments/{id}", tag = "content",
    params(("id" = String, Path, description = "assessment id")),
    responses((status = 200, body = AssessmentRecord),
              (status = 404, body = ErrorResponse)))]
async fn get_assessment(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AssessmentRecord>, ApiError> {
    let assessment = visible_assessment(&app, &caller, &id).await?;
    Ok(Json(shown(assessment, &caller)))
}

/// Change an assessment's title or questions (staff; in a lesson: its course's author or an admin).
#[utoipa::path(patch, path = "/api/v1/assessments/{id}", tag = "content", request_body = AssessmentBody,
    params(("id" = String, Path, description = "assessment id")),
    responses((status = 200, body = AssessmentRecord),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn update_assessment(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AssessmentBody>,
) -> Result<Json<AssessmentRecord>, ApiError> {
    editable_assessment(&app, &caller, &id, "change this assessment").await?;
    if body.lesson_id.is_some() {
        return Err(ApiError::invalid_field("lesson_id", "cannot be changed"));
    }
    let title = check_title(body.title.as_deref(), false)?;
    if let Some(questions) = &body.questions {
        check_questions(questions)?;
    }
    app.store()
        .update_assessment(
            caller.tenant(),
            &id,
            title.as_deref(),
            body.questions.as_ref(),
        )
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("assessment"))
}

/// Delete an assessment and its results (staff; in a lesson: its course's author or an admin).
#[utoipa::path(delete, path = "/api/v1/assessments/{id}", tag = "content",
    params(("id" = String, Path, description = "assessment id")),
    responses((status = 204, description = "deleted"),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn delete_assessment(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    editable_assessment(&app, &caller, &id, "delete this assessment").await?;
    if app.store().delete_assessment(caller.tenant(), &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("assessment"))
    }
}

/// One question's grading: whether the answer is right (`None`: free text, graded by a
/// teacher), the points it scored and the points it was worth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Graded {
    pub(crate) correct: Option<bool>,
    pub(crate) points: f64,
    pub(crate) worth: f64,
}

/// Grades one answer (`None` or JSON null: unanswered) to one question: the one rule web
/// submissions ([`score`]) and in-game answers (`platform/answers.rs`) share. The error says
/// what the answer must be, for the caller to put after the field's name.
pub(crate) fn grade(question: &Value, given: Option<&Value>) -> Result<Graded, String> {
    let points = question
        .get("points")
        .and_then(Value::as_f64)
        .unwrap_or(1.0);
    let given = given.filter(|value| !value.is_null());
    match question["type"].as_str() {
        Some("multiple_choice") => {
            let choices = question["choices"].as_array().map_or(0, Vec::len);
            let choice = match given {
                None => None,
                Some(value) => Some(
                    value
                        .as_f64()
                        .filter(|choice| choice.fract() == 0.0 && *choice >= 0.0)
                        .map(|choice| choice as u64)
                        .filter(|choice| (*choice as usize) < choices)
                        .ok_or_else(|| {
                            format!(
                                "must be a choice index from 0 to {}",
                                choices.saturating_sub(1)
                            )
                        })?,
                ),
            };
            let correct = choice.is_some() && choice == question["answer"].as_u64();
            Ok(Graded {
                correct: Some(correct),
                points: if correct { points } else { 0.0 },
                worth: points,
            })
        }
        _ => {
            if given.is_some_and(|value| !value.is_string()) {
                return Err("must be text".into());
            }
            Ok(Graded {
                correct: None,
                points: 0.0,
                worth: 0.0,
            })
        }
    }
}

/// Points an assessment is worth: the multiple-choice questions' points.
pub(crate) fn max_score(questions: &Value) -> f64 {
    questions.as_array().map_or(0.0, |list| {
        list.iter()
            .filter_map(|question| grade(question, None).ok())
            .map(|graded| graded.worth)
            .sum()
    })
}

/// Scores a submission against the questions: (graded answers, score, max score).
pub(crate) fn score(
    questions: &Value,
    answers: &Map<String, Value>,
) -> Result<(Value, f64, f64), ApiError> {
    let list = questions.as_array().cloned().unwrap_or_default();
    let known: HashSet<&str> = list.iter().filter_map(|q| q["id"].as_str()).collect();
    if let Some(unknown) = answers.keys().find(|id| !known.contains(id.as_str())) {
        return Err(ApiError::invalid_field(
            format!("answers.{unknown}"),
            "no such question",
        ));
    }
    let mut graded = Vec::new();
    let (mut total, mut max) = (0.0, 0.0);
    for question in &list {
        let id = question["id"].as_str().unwrap_or_default();
        let grading = grade(question, answers.get(id))
            .map_err(|problem| ApiError::invalid_field(format!("answers.{id}"), problem))?;
        total += grading.points;
        max += grading.worth;
        graded.push(json!({"question": id, "correct": grading.correct, "points": grading.points}));
    }
    Ok((json!({"submitted": answers, "graded": graded}), total, max))
}

/// Submit answers (students); multiple-choice answers are scored on the server.
#[utoipa::path(post, path = "/api/v1/assessments/{id}/results", tag = "content", request_body = Submission,
    params(("id" = String, Path, description = "assessment id")),
    responses((status = 201, body = ResultRecord),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn submit_result(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Submission>,
) -> Result<(StatusCode, Json<ResultRecord>), ApiError> {
    caller.require(&[Role::Student], "submit assessment answers")?;
    let assessment = visible_assessment(&app, &caller, &id).await?;
    let answers = body.answers.as_object().ok_or_else(|| {
        ApiError::invalid_field("answers", "must be an object of question id → answer")
    })?;
    let (graded, total, max) = score(&assessment.questions, answers)?;
    let result = app
        .store()
        .insert_result(
            caller.tenant(),
            &new_id("res"),
            &id,
            caller.user(),
            &graded,
            total,
            max,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(result)))
}

/// Results of an assessment (admins: everyone's; educators: those of the students they teach;
/// students: their own).
#[utoipa::path(get, path = "/api/v1/assessments/{id}/results", tag = "content",
    params(("id" = String, Path, description = "assessment id"), PageQuery),
    responses((status = 200, body = PageOf<ResultRecord>),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn list_results(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<ResultRecord>>, ApiError> {
    // Educators read the results of the students they teach (FERPA's legitimate interest, as
    // for progress); admins all; students their own.
    let (only, taught_by) = match caller.role() {
        Role::Admin => (None, None),
        Role::Educator if !app.hub().rosters().manages(caller.tenant()) => (None, None),
        Role::Educator => (None, Some(caller.user())),
        Role::Student => (Some(caller.user()), None),
        role @ (Role::Parent | Role::Guest) => {
            return Err(crate::api::forbidden(role, "list assessment results"));
        }
    };
    visible_assessment(&app, &caller, &id).await?;
    let paged = app
        .store()
        .results(caller.tenant(), &id, only, taught_by, &query.page()?)
        .await?;
    if only.is_none() {
        let target = crate::platform::audit::Target {
            kind: "assessment",
            id: &id,
            student: None,
        };
        crate::platform::audit::record(&app, &caller, "results.read", target, None).await;
    }
    Ok(Json(page_of(
        paged,
        |result| result.id.clone(),
        |result| result,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ErrorKind;

    fn questions() -> Value {
        json!([
            {"id": "q1", "type": "multiple_choice", "prompt": "2+2?", "choices": ["3", "4"], "answer": 1},
            {"id": "q2", "type": "multiple_choice", "prompt": "3+3?", "choices": ["6", "7", "8"], "answer": 0, "points": 2},
            {"id": "q3", "type": "free_text", "prompt": "Why?"}
        ])
    }

    #[test]
    fn multiple_choice_is_scored_and_bad_answers_name_their_field() {
        assert!(check_questions(&questions()).is_ok());
        let answers = json!({"q1": 1, "q2": 2, "q3": "because"});
        let (graded, total, max) =
            score(&questions(), answers.as_object().expect("object")).expect("score");
        assert_eq!((total, max), (1.0, 3.0));
        assert_eq!(graded["graded"][1]["correct"], false);
        assert!(graded["graded"][2]["correct"].is_null());
        let out_of_range = json!({"q2": 3});
        let error =
            score(&questions(), out_of_range.as_object().expect("object")).expect_err("range");
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        assert!(error.message().contains("answers.q2"));
        let unknown = json!({"q9": 0});
        assert!(score(&questions(), unknown.as_object().expect("object")).is_err());
        let mut bad = questions();
        bad[0]["answer"] = json!(5);
        assert!(
            check_questions(&bad)
                .expect_err("bad")
                .message()
                .contains("questions[0].answer")
        );
    }
}
