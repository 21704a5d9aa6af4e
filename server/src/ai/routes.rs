//! AI tutor routes: students ask and get explanations within a lesson (streamed as Server-Sent
//! Events, and optionally as frames on their `user:` room; see [`super::relay`]), educators draft
//! lessons and assessments, and anyone may get next-lesson suggestions from progress.
//!
//! Every model call is an `agent_tasks` row ([`super::tasks`]). Before it: the role, the input,
//! the lesson, the configuration (503 naming what to set), the subscription and the tenant's
//! daily tokens ([`super::quotas`]: 402 when lapsed, 429 with the reset time), and the safety
//! screen (a refusal is answered kindly and recorded as a failed task).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use persistence::{AssessmentRecord, Page};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::quotas::reserve;
use super::relay::{lesson_text, tutor_answer};
use super::tasks::{TaskRow, refused};
use super::{Task, ai_failed, not_configured};
use crate::api::ids::new_id;
use crate::api::openapi::ErrorResponse;
use crate::api::rules::{Items, Range, Text, documented, optional_whole_number};
use crate::api::{ApiError, ApiJson, ApiQuery, Caller, ErrorKind};
use crate::app::AppState;
use crate::auth::Role;
use crate::platform::audit::{self, Target};
use crate::platform::content::{TITLE, Title};

/// The lesson a tutor or draft request is about.
pub(crate) const LESSON_ID: Text = Text::prose(1, 128);
/// A student's question, or what to explain.
pub(crate) const QUESTION: Text = Text::prose(1, 2000);
/// A grade level, e.g. `5` or `K`.
const GRADE_LEVEL: Text = Text::prose(1, 16);
/// One learning objective of a lesson draft.
const OBJECTIVE: Text = Text::prose(1, 500);
/// Objectives per lesson draft.
const OBJECTIVES: Items = Items::new(1, 20);
/// Questions per assessment draft.
const DRAFT_QUESTIONS: Range = Range::new(1, 20);
/// Suggestions per answer.
const SUGGESTIONS: Range = Range::new(1, 20);
/// A lesson whose best quiz score is below this percentage is suggested for review.
const REVIEW_BELOW_PERCENT: f64 = 60.0;

documented!(
    /// A lesson id ([`LESSON_ID`]).
    LessonId = LESSON_ID.schema()
);
documented!(
    /// A question ([`QUESTION`]).
    TutorQuestion = QUESTION.schema()
);
documented!(
    /// A conversation id ([`super::threads::THREAD_ID`]).
    ThreadId = super::threads::THREAD_ID.schema()
);
documented!(
    /// A grade level ([`GRADE_LEVEL`]).
    GradeLevel = GRADE_LEVEL.schema()
);
documented!(
    /// Objectives ([`OBJECTIVES`] of [`OBJECTIVE`]).
    Objectives = OBJECTIVES.schema(OBJECTIVE.schema())
);
documented!(
    /// Questions wanted ([`DRAFT_QUESTIONS`]).
    DraftQuestions = DRAFT_QUESTIONS.integer_schema()
);
documented!(
    /// Suggestions wanted ([`SUGGESTIONS`]).
    SuggestionLimit = SUGGESTIONS.integer_schema()
);

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ask))
        .routes(routes!(explain))
        .routes(routes!(generate_content))
        .routes(routes!(ai_create_assessment))
        .routes(routes!(suggestions))
        .merge(super::thread_routes::routes())
        .merge(super::task_routes::routes())
}

/// A student's question (or what to explain), within a lesson or not, in a conversation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TutorBody {
    /// The lesson the question is about: it grounds the answer. Optional for `ask` (a general
    /// question), required for `explain`.
    #[schema(value_type = Option<LessonId>)]
    pub(crate) lesson_id: Option<String>,
    /// The question, or the part of the lesson to explain.
    #[schema(value_type = TutorQuestion)]
    pub(crate) question: Option<String>,
    /// Your conversation to continue (its last turns and a summary of older ones go with the
    /// question); absent: a new conversation, whose id the answer gives.
    #[schema(value_type = Option<ThreadId>)]
    pub(crate) thread_id: Option<String>,
    /// `true` (default): Server-Sent Events (`task`, `token`…, then `done`, `refused` or
    /// `error`; each carries `task_id` and `thread_id`); `false`: one JSON answer.
    pub(crate) stream: Option<bool>,
    /// `true`: also send `ai_token`/`ai_done` frames to your `user:{tenant}:{you}` room.
    pub(crate) socket: Option<bool>,
}

/// A whole answer (`stream: false`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TutorAnswer {
    /// The `agent_tasks` row.
    pub(crate) task_id: String,
    /// The conversation (`null` when the first question of a new one was refused: none was
    /// started).
    pub(crate) thread_id: Option<String>,
    /// The answer (or the refusal).
    pub(crate) answer: String,
    /// Whether the request was refused by the safety screen.
    pub(crate) refused: bool,
    /// Tokens used.
    pub(crate) tokens_used: i64,
}

/// Objectives for a lesson draft.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ContentBody {
    /// What students should learn.
    #[schema(value_type = Objectives)]
    objectives: Option<Vec<String>>,
    /// Grade level, e.g. `5` or `K`.
    #[schema(value_type = GradeLevel)]
    grade_level: Option<String>,
}

/// A drafted lesson.
#[derive(Debug, Serialize, ToSchema)]
struct ContentDraft {
    /// The `agent_tasks` row.
    task_id: String,
    /// The title (the draft's first `# ` line).
    title: String,
    /// The lesson as Markdown; save it with `POST /api/v1/courses/{id}/lessons`.
    content: String,
    /// Tokens used.
    tokens_used: i64,
}

/// What an assessment draft is for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AssessmentDraftBody {
    /// The lesson.
    #[schema(value_type = LessonId)]
    lesson_id: Option<String>,
    /// Grade level.
    #[schema(value_type = GradeLevel)]
    grade_level: Option<String>,
    /// Questions wanted [default: 5].
    #[schema(value_type = Option<DraftQuestions>)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    count: Option<i64>,
    /// The assessment's title [default: "Quiz: {lesson title}"].
    #[schema(value_type = Option<Title>)]
    title: Option<String>,
}

/// A saved AI-drafted assessment.
#[derive(Debug, Serialize, ToSchema)]
struct AssessmentDraft {
    /// The `agent_tasks` row.
    task_id: String,
    /// The assessment, saved (questions validated against the assessment schema).
    assessment: AssessmentRecord,
    /// Tokens used.
    tokens_used: i64,
}

/// `GET /ai/suggestions` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SuggestionQuery {
    /// The student [default: you]. Parents: a child; educators and admins: anyone.
    student_id: Option<String>,
    /// Suggestions wanted [default: 5].
    #[param(inline, value_type = Option<SuggestionLimit>)]
    limit: Option<u32>,
}

/// One suggested lesson.
#[derive(Debug, Serialize, ToSchema)]
struct Suggestion {
    /// The lesson.
    lesson_id: String,
    /// Its course.
    course_id: String,
    /// Its title.
    title: String,
    /// `continue` (started, not finished), `review` (its quiz was scored below
    /// 60%), `next` (follows a finished lesson) or `start` (first lesson of a course not begun).
    reason: String,
    /// Completion so far, 0–100.
    completion_percent: f64,
    /// The student's best score on the lesson's quizzes, 0–100 (`null`: none taken).
    score_percent: Option<f64>,
}

/// Next lessons for a student.
#[derive(Debug, Serialize, ToSchema)]
struct Suggestions {
    /// The student.
    student_id: String,
    /// Best first.
    items: Vec<Suggestion>,
}

/// The text of a required field under `rule`, trimmed, or 422 naming the field.
pub(crate) fn required_text(
    field: &str,
    value: Option<&String>,
    rule: &Text,
) -> Result<String, ApiError> {
    let text = value
        .ok_or_else(|| ApiError::invalid_field(field, format!("is required; {}", rule.rule())))?;
    rule.check(field, text).map(str::to_owned)
}

/// Ask the tutor, about a lesson or in general, in a new or continued conversation (students,
/// educators, admins).
#[utoipa::path(post, path = "/api/v1/ai/ask", tag = "ai", request_body = TutorBody,
    responses((status = 200, description = "Server-Sent Events (`stream` true) or one JSON answer",
               content((TutorAnswer = "application/json"), (String = "text/event-stream"))),
              (status = 402, body = ErrorResponse),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse), (status = 429, body = ErrorResponse),
              (status = 503, body = ErrorResponse)))]
async fn ask(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<TutorBody>,
) -> Result<Response, ApiError> {
    tutor_answer(app, caller, Task::Ask, body).await
}

/// Ask the tutor to explain part of a lesson (students, educators, admins).
#[utoipa::path(post, path = "/api/v1/ai/explain", tag = "ai", request_body = TutorBody,
    responses((status = 200, description = "Server-Sent Events (`stream` true) or one JSON answer",
               content((TutorAnswer = "application/json"), (String = "text/event-stream"))),
              (status = 402, body = ErrorResponse),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse), (status = 429, body = ErrorResponse),
              (status = 503, body = ErrorResponse)))]
async fn explain(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<TutorBody>,
) -> Result<Response, ApiError> {
    tutor_answer(app, caller, Task::Explain, body).await
}

/// Draft a lesson from objectives and a grade level (educators, admins).
#[utoipa::path(post, path = "/api/v1/ai/generate-content", tag = "ai", request_body = ContentBody,
    responses((status = 200, body = ContentDraft),
              (status = 402, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 422, body = ErrorResponse), (status = 429, body = ErrorResponse),
              (status = 503, body = ErrorResponse)))]
async fn generate_content(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ContentBody>,
) -> Result<Json<ContentDraft>, ApiError> {
    caller.require_staff("draft lessons with AI")?;
    let objectives = body.objectives.unwrap_or_default();
    if !OBJECTIVES.allows(objectives.len()) {
        return Err(ApiError::invalid_field(
            "objectives",
            format!(
                "is required: {}–{} objectives",
                OBJECTIVES.min, OBJECTIVES.max
            ),
        ));
    }
    let objectives = objectives
        .iter()
        .enumerate()
        .map(|(index, objective)| {
            OBJECTIVE
                .check(&format!("objectives[{index}]"), objective)
                .map(str::to_owned)
        })
        .collect::<Result<Vec<String>, ApiError>>()?;
    let grade_level = required_text("grade_level", body.grade_level.as_ref(), &GRADE_LEVEL)?;
    let tutor = app.tutor().cloned().ok_or_else(not_configured)?;
    let reservation = reserve(&app, &caller).await?;
    let task = Task::GenerateContent;
    let row = TaskRow::open(
        &app,
        &caller,
        task,
        &json!({"objectives": objectives, "grade_level": grade_level}),
        reservation,
    )
    .await?;
    let listed = objectives
        .iter()
        .map(|objective| format!("- {objective}"))
        .collect::<Vec<_>>()
        .join("\n");
    if refused(&tutor, &row, &listed).await? {
        return Err(ApiError::invalid_field(
            "objectives",
            "the safety screen refused these objectives; keep them suitable for K-12 students",
        ));
    }
    row.running().await;
    let system = task.system_prompt(&[("grade_level", &grade_level), ("objectives", &listed)]);
    let (text, tokens) = match tutor
        .complete(task, system, "Write the lesson.".to_owned())
        .await
    {
        Ok(done) => done,
        Err(error) => {
            row.finish(Err(&error.to_string()), 0).await;
            return Err(ai_failed(&error));
        }
    };
    let title = text
        .lines()
        .find_map(|line| line.strip_prefix("# "))
        .map_or_else(
            || "Untitled lesson".to_owned(),
            |title| title.trim().to_owned(),
        );
    let tokens = i64::from(tokens);
    row.finish(Ok(&json!({"title": title, "content": text})), tokens)
        .await;
    let target = Target {
        kind: "agent_task",
        id: &row.id,
        student: None,
    };
    let detail = json!({"task": "generate_content", "title": title});
    audit::record(&app, &caller, "ai.content_generated", target, Some(detail)).await;
    Ok(Json(ContentDraft {
        task_id: row.id.clone(),
        title,
        content: text,
        tokens_used: tokens,
    }))
}

/// Draft an assessment for a lesson; its questions are validated and it is saved (educators,
/// admins).
#[utoipa::path(post, path = "/api/v1/ai/create-assessment", tag = "ai",
    request_body = AssessmentDraftBody,
    responses((status = 201, body = AssessmentDraft),
              (status = 402, body = ErrorResponse), (status = 403, body = ErrorResponse),
              (status = 404, body = ErrorResponse), (status = 422, body = ErrorResponse),
              (status = 429, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
async fn ai_create_assessment(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<AssessmentDraftBody>,
) -> Result<(StatusCode, Json<AssessmentDraft>), ApiError> {
    caller.require_staff("draft assessments with AI")?;
    let lesson_id = required_text("lesson_id", body.lesson_id.as_ref(), &LESSON_ID)?;
    let grade_level = required_text("grade_level", body.grade_level.as_ref(), &GRADE_LEVEL)?;
    let count = DRAFT_QUESTIONS.check("count", body.count.unwrap_or(5))?;
    let lesson = crate::platform::content::visible_lesson(&app, &caller, &lesson_id).await?;
    let title = match &body.title {
        Some(title) => required_text("title", Some(title), &TITLE)?,
        None => format!("Quiz: {}", lesson.title)
            .chars()
            .take(TITLE.max_chars)
            .collect(),
    };
    let tutor = app.tutor().cloned().ok_or_else(not_configured)?;
    let reservation = reserve(&app, &caller).await?;
    let task = Task::CreateAssessment;
    let row = TaskRow::open(
        &app,
        &caller,
        task,
        &json!({"lesson_id": lesson.id, "grade_level": grade_level, "count": count}),
        reservation,
    )
    .await?;
    row.running().await;
    let system = task.system_prompt(&[
        ("grade_level", &grade_level),
        ("count", &count.to_string()),
        ("lesson_title", &lesson.title),
        ("lesson_content", &lesson_text(&lesson)),
    ]);
    let (text, tokens) = match tutor
        .complete(task, system, "Write the questions.".to_owned())
        .await
    {
        Ok(done) => done,
        Err(error) => {
            row.finish(Err(&error.to_string()), 0).await;
            return Err(ai_failed(&error));
        }
    };
    let tokens = i64::from(tokens);
    let questions = parse_questions(&text);
    if let Err(problem) = questions
        .as_ref()
        .map_err(|_| ApiError::invalid_field("questions", "the model did not answer with JSON"))
        .and_then(crate::platform::content::check_questions)
    {
        let reason = format!(
            "the draft failed the assessment schema: {}",
            problem.message()
        );
        row.finish(Err(&reason), tokens).await;
        return Err(ApiError::new(
            ErrorKind::Unavailable,
            format!("{reason}; try again"),
        ));
    }
    let questions = questions.unwrap_or(Value::Null);
    let assessment = app
        .store()
        .create_assessment(
            caller.tenant(),
            &new_id("asm"),
            Some(&lesson.id),
            &title,
            &questions,
        )
        .await?;
    row.finish(
        Ok(&json!({"assessment_id": assessment.id, "questions": questions})),
        tokens,
    )
    .await;
    let target = Target {
        kind: "assessment",
        id: &assessment.id,
        student: None,
    };
    let detail = json!({"task": "create_assessment", "lesson_id": lesson.id});
    audit::record(&app, &caller, "ai.content_generated", target, Some(detail)).await;
    Ok((
        StatusCode::CREATED,
        Json(AssessmentDraft {
            task_id: row.id.clone(),
            assessment,
            tokens_used: tokens,
        }),
    ))
}

/// The JSON array in a model's answer (tolerating a code fence around it).
fn parse_questions(text: &str) -> Result<Value, serde_json::Error> {
    let trimmed = text.trim();
    let inner = match (trimmed.find('['), trimmed.rfind(']')) {
        (Some(start), Some(end)) if start < end => &trimmed[start..=end],
        _ => trimmed,
    };
    serde_json::from_str(inner)
}

/// Next lessons for a student, from their progress, their quiz scores and the courses' lesson
/// order (everyone who may see the student's progress): lessons under way first, then lessons
/// whose quiz they scored below 60% on, then the lesson after each finished one, then the first
/// lessons of courses not begun. Needs no AI service.
#[utoipa::path(get, path = "/api/v1/ai/suggestions", tag = "ai", params(SuggestionQuery),
    responses((status = 200, body = Suggestions),
              (status = 403, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
async fn suggestions(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<SuggestionQuery>,
) -> Result<Json<Suggestions>, ApiError> {
    let student = query
        .student_id
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| caller.user().to_owned());
    let allowed = student == caller.user()
        || match caller.role() {
            Role::Admin | Role::Educator => true,
            Role::Parent => caller.0.children.contains(&student),
            Role::Student | Role::Guest => false,
        };
    if !allowed {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "you may get suggestions for yourself (parents: for their children)",
        ));
    }
    let limit = SUGGESTIONS.check("limit", i64::from(query.limit.unwrap_or(5)))?;
    let store = app.store();
    let tenant = caller.tenant();
    let progress = store
        .progress_of_student(
            tenant,
            &student,
            None,
            &Page {
                limit: 1000,
                after: None,
            },
        )
        .await?
        .items;
    let percent_of = |lesson: &str| {
        progress
            .iter()
            .filter(|row| row.lesson_id == lesson)
            .map(|row| row.completion_percent)
            .fold(None, |best: Option<f64>, percent| {
                Some(best.map_or(percent, |best| best.max(percent)))
            })
    };
    let scores = store.lesson_scores(tenant, &student).await?;
    let score_of = |lesson: &str| {
        scores
            .iter()
            .find(|score| score.lesson_id == lesson)
            .map(|score| score.best_percent)
    };
    let courses = store
        .courses(
            tenant,
            true,
            &Page {
                limit: 200,
                after: None,
            },
        )
        .await?
        .items;
    let (mut going, mut review, mut next, mut fresh) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for course in courses {
        let lessons = store
            .lessons(
                tenant,
                &course.id,
                true,
                &Page {
                    limit: 500,
                    after: None,
                },
            )
            .await?
            .items;
        let started = lessons
            .iter()
            .any(|lesson| percent_of(&lesson.id).is_some());
        let mut after_finished = !started;
        for lesson in lessons {
            let score = score_of(&lesson.id);
            let suggestion = |reason: &str, percent: f64| Suggestion {
                lesson_id: lesson.id.clone(),
                course_id: course.id.clone(),
                title: lesson.title.clone(),
                reason: reason.to_owned(),
                completion_percent: percent,
                score_percent: score,
            };
            let low_score = score.is_some_and(|score| score < REVIEW_BELOW_PERCENT);
            if low_score {
                review.push(suggestion("review", percent_of(&lesson.id).unwrap_or(0.0)));
            }
            match percent_of(&lesson.id) {
                Some(percent) if percent >= 100.0 => after_finished = true,
                Some(percent) => {
                    if !low_score {
                        going.push(suggestion("continue", percent));
                    }
                    after_finished = false;
                }
                None if after_finished && started => {
                    if !low_score {
                        next.push(suggestion("next", 0.0));
                    }
                    after_finished = false;
                }
                None if after_finished => {
                    if !low_score {
                        fresh.push(suggestion("start", 0.0));
                    }
                    after_finished = false;
                }
                None => {}
            }
        }
    }
    let items = going
        .into_iter()
        .chain(review)
        .chain(next)
        .chain(fresh)
        .take(limit as usize)
        .collect();
    Ok(Json(Suggestions {
        student_id: student,
        items,
    }))
}
