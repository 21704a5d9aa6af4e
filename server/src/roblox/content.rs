//! What games read of the content and how their answers are scored.
//!
//! - `GET /api/v1/roblox/lessons/{id}` ([`lesson_for_game`]): a published lesson assigned to a
//!   live class of the key's tenant, with its assessments' questions **without the answer key**,
//!   encoded once into [`GameLesson`] with a strong `ETag`; the SDK revalidates with
//!   `If-None-Match` and gets `304`.
//! - In-game answers ([`score_answers`]): a `quiz_answer` event naming `data.assessment` and
//!   `data.question` is graded with the rule web submissions use (`platform::content::grade`),
//!   its data gets the server's `correct`, `points` and `max_score` (whatever the game put there
//!   is replaced), and it carries a [`ScoredAnswer`] the sink stores with it: the first answer
//!   to a question in an attempt counts, and the attempt's `assessment_results` row is
//!   recomputed in the event's transaction. The attempt is `data.attempt`, else the game session.
//!
//! - Progress without a course ([`fill_courses`]): a game's `progress` event naming a lesson of
//!   the tenant but no `data.course` gets the lesson's course, so it lands on the same
//!   `student_progress` row as the web's record of that lesson (`POST /api/v1/progress`).
//!
//! All read through the [`ContentCache`]: entries are trusted for `--game-content-cache` and
//! bounded by `--game-content-cache-bytes`; a content write on this node clears it at once.

use std::sync::Arc;

use bytes::Bytes;
use persistence::{Page, ScoredAnswer, Store};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::RobloxSettings;
use crate::api::ApiError;
use crate::hub::TrustedEvent;
use crate::platform::content::{grade, max_score};

/// Longest attempt name, in bytes.
const ATTEMPT_BYTES: usize = 64;
/// Most assessments a lesson sends to a game (`assessments_truncated` says when it has more).
const ASSESSMENTS_PER_LESSON: u32 = 50;

/// A lesson as games read it: the JSON body, encoded once, and its strong `ETag`.
#[derive(Debug)]
pub struct GameLesson {
    /// The JSON document.
    pub body: Bytes,
    /// `"…"`: the first 128 bits of the body's SHA-256, in hex.
    pub etag: String,
}

/// An assessment's questions with the answer key, and the points it is worth.
#[derive(Debug)]
struct AnswerKey {
    questions: Vec<Value>,
    max_score: f64,
}

#[derive(Debug, Clone)]
enum Cached {
    Lesson(Arc<GameLesson>),
    Key(Arc<AnswerKey>),
    /// A lesson id's course (`None`: no such lesson; games may name lessons of their own).
    Course(Option<Arc<str>>),
}

/// Lessons and answer keys games read, by (tenant, "lesson:" or "key:" + id).
#[derive(Debug)]
pub struct ContentCache {
    entries: moka::sync::Cache<(String, String), Cached>,
}

impl ContentCache {
    /// A cache trusting entries for `content_cache`, holding at most `content_cache_bytes`.
    pub fn new(settings: &RobloxSettings) -> ContentCache {
        let bytes = if settings.content_cache.is_zero() {
            0
        } else {
            settings.content_cache_bytes
        };
        let entries = moka::sync::Cache::builder()
            .max_capacity(bytes)
            .time_to_live(
                settings
                    .content_cache
                    .max(std::time::Duration::from_millis(1)),
            )
            .weigher(|(tenant, id): &(String, String), cached: &Cached| {
                let held = match cached {
                    Cached::Lesson(lesson) => lesson.body.len() + lesson.etag.len(),
                    Cached::Key(key) => key
                        .questions
                        .iter()
                        .map(|question| question.to_string().len())
                        .sum(),
                    Cached::Course(course) => course.as_ref().map_or(0, |course| course.len()),
                };
                u32::try_from(tenant.len() + id.len() + held + 96).unwrap_or(u32::MAX)
            })
            .build();
        ContentCache { entries }
    }

    /// Forgets everything (content changed on this node).
    pub fn clear(&self) {
        self.entries.invalidate_all();
    }
}

/// Middleware on the platform routes: a successful write to content or assignments, or a class
/// archived, clears this node's [`ContentCache`], so games read the change at once.
pub async fn forget_on_change(
    axum::extract::State(app): axum::extract::State<crate::app::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    // What a game reads depends on content, on assignments and on whether a class is live.
    let path = request.uri().path();
    let method = request.method().clone();
    let writes = !matches!(
        method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    ) && (["/api/v1/courses", "/api/v1/lessons", "/api/v1/assessments"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
        || path.contains("/assignments")
        || (method == axum::http::Method::DELETE
            && path.starts_with("/api/v1/classes/")
            && path.matches('/').count() == 4));
    let response = next.run(request).await;
    if writes && response.status().is_success() {
        app.roblox().content().clear();
    }
    response
}

/// The lesson `id` of `tenant` as a game reads it; 404 when it does not exist or is not
/// published (with its course), 403 when no live class was given it.
pub async fn lesson_for_game(
    store: &Store,
    cache: &ContentCache,
    tenant: &str,
    id: &str,
) -> Result<Arc<GameLesson>, ApiError> {
    let cache_key = (tenant.to_owned(), format!("lesson:{id}"));
    if let Some(Cached::Lesson(lesson)) = cache.entries.get(&cache_key) {
        return Ok(lesson);
    }
    let not_found = || ApiError::not_found("published lesson");
    let lesson = store
        .lesson(tenant, id)
        .await?
        .filter(|lesson| lesson.published)
        .ok_or_else(not_found)?;
    let course = store
        .course(tenant, &lesson.course_id)
        .await?
        .filter(|course| course.published)
        .ok_or_else(not_found)?;
    if !store.lesson_assigned(tenant, id).await? {
        return Err(ApiError::new(
            crate::api::ErrorKind::Forbidden,
            format!(
                "lesson {id:?} is not assigned to any class; a teacher assigns it (POST /api/v1/classes/{{id}}/assignments) before games may read it"
            ),
        ));
    }
    let page = Page {
        limit: ASSESSMENTS_PER_LESSON,
        after: None,
    };
    let assessments = store.assessments(tenant, Some(id), true, &page).await?;
    // More than a game can use is said, not dropped silently.
    let truncated = assessments.has_more;
    let assessments: Vec<Value> = assessments
        .items
        .into_iter()
        .map(|assessment| {
            let max = max_score(&assessment.questions);
            let mut questions = assessment.questions;
            for question in questions.as_array_mut().into_iter().flatten() {
                if let Some(fields) = question.as_object_mut() {
                    fields.remove("answer");
                }
            }
            json!({
                "id": assessment.id,
                "title": assessment.title,
                "questions": questions,
                "max_score": max,
                "updated_at": assessment.updated_at,
            })
        })
        .collect();
    let body = json!({
        "lesson": {
            "id": lesson.id,
            "course_id": lesson.course_id,
            "title": lesson.title,
            "content": lesson.content,
            "position": lesson.position,
            "roblox_universe_id": lesson.roblox_universe_id,
            "roblox_place_id": lesson.roblox_place_id,
            "updated_at": lesson.updated_at,
        },
        "course": {"id": course.id, "title": course.title},
        "assessments": assessments,
        "assessments_truncated": truncated,
    });
    let body = Bytes::from(serde_json::to_vec(&body).map_err(ApiError::internal)?);
    let digest = Sha256::digest(&body);
    let etag = format!("\"{}\"", hex::encode(&digest[..16]));
    let lesson = Arc::new(GameLesson { body, etag });
    cache
        .entries
        .insert(cache_key, Cached::Lesson(Arc::clone(&lesson)));
    Ok(lesson)
}

async fn answer_key(
    store: &Store,
    cache: &ContentCache,
    tenant: &str,
    id: &str,
) -> Result<Option<Arc<AnswerKey>>, ApiError> {
    let cache_key = (tenant.to_owned(), format!("key:{id}"));
    if let Some(Cached::Key(key)) = cache.entries.get(&cache_key) {
        return Ok(Some(key));
    }
    let Some(assessment) = store.assessment(tenant, id).await? else {
        return Ok(None);
    };
    if let Some(lesson) = &assessment.lesson_id {
        let published = match store.lesson(tenant, lesson).await? {
            Some(lesson) if lesson.published => store
                .course(tenant, &lesson.course_id)
                .await?
                .is_some_and(|course| course.published),
            _ => false,
        };
        if !published {
            return Ok(None);
        }
    }
    let key = Arc::new(AnswerKey {
        max_score: max_score(&assessment.questions),
        questions: match assessment.questions {
            Value::Array(questions) => questions,
            _ => Vec::new(),
        },
    });
    cache
        .entries
        .insert(cache_key, Cached::Key(Arc::clone(&key)));
    Ok(Some(key))
}

/// Gives `progress` events that name a lesson of `tenant` but no course the lesson's course
/// (see the module header). Lesson ids the tenant does not have are left as they are.
pub async fn fill_courses(
    store: &Store,
    cache: &ContentCache,
    tenant: &str,
    events: &mut [TrustedEvent],
) -> Result<(), ApiError> {
    for event in events.iter_mut().filter(|event| event.kind == "progress") {
        let Some(fields) = event.data.as_object() else {
            continue;
        };
        if fields.get("course").is_some_and(|course| !course.is_null()) {
            continue;
        }
        let Some(lesson) = fields
            .get("lesson")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            continue;
        };
        let cache_key = (tenant.to_owned(), format!("course:{lesson}"));
        let course = match cache.entries.get(&cache_key) {
            Some(Cached::Course(course)) => course,
            _ => {
                let course = store
                    .lesson(tenant, &lesson)
                    .await?
                    .map(|lesson| Arc::<str>::from(lesson.course_id));
                cache
                    .entries
                    .insert(cache_key, Cached::Course(course.clone()));
                course
            }
        };
        if let (Some(course), Some(fields)) = (course, event.data.as_object_mut()) {
            fields.insert("course".into(), Value::String(course.to_string()));
        }
    }
    Ok(())
}

/// The id of an attempt's `assessment_results` row: the same for every answer of the attempt,
/// and for every node.
fn result_id(tenant: &str, student: &str, assessment: &str, attempt: &str) -> String {
    let mut hash = Sha256::new();
    for part in [tenant, student, assessment, attempt] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    format!("res_g{}", hex::encode(&hash.finalize()[..12]))
}

/// Scores the in-game answers among `events` (see the module header). Returns the events to
/// ingest and the refused ones as (id, what is wrong and what to do).
pub async fn score_answers(
    store: &Store,
    cache: &ContentCache,
    tenant: &str,
    session_id: &str,
    events: Vec<TrustedEvent>,
) -> Result<(Vec<TrustedEvent>, Vec<(String, String)>), ApiError> {
    let mut kept = Vec::with_capacity(events.len());
    let mut refused = Vec::new();
    for mut event in events {
        if event.kind != "quiz_answer" || event.data.get("assessment").is_none() {
            kept.push(event);
            continue;
        }
        match score_one(store, cache, tenant, session_id, &mut event).await? {
            Ok(scored) => {
                event.answer = Some(Box::new(scored));
                kept.push(event);
            }
            Err(problem) => refused.push((event.id, problem)),
        }
    }
    Ok((kept, refused))
}

async fn score_one(
    store: &Store,
    cache: &ContentCache,
    tenant: &str,
    session_id: &str,
    event: &mut TrustedEvent,
) -> Result<Result<ScoredAnswer, String>, ApiError> {
    let text = |field: &str, limit: usize| -> Result<Option<String>, String> {
        match event.data.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if !text.is_empty() && text.len() <= limit => {
                Ok(Some(text.clone()))
            }
            Some(_) => Err(format!(
                "quiz_answer data.{field} must be a non-empty string of at most {limit} bytes"
            )),
        }
    };
    let fields = (|| {
        let assessment = text("assessment", 128)?.ok_or("quiz_answer data.assessment is empty")?;
        let question = text("question", 128)?
            .ok_or("quiz_answer data.question names the question answered; it is missing")?;
        let attempt = text("attempt", ATTEMPT_BYTES)?.unwrap_or_else(|| session_id.to_owned());
        Ok::<_, String>((assessment, question, attempt))
    })();
    let (assessment, question, attempt) = match fields {
        Ok(fields) => fields,
        Err(problem) => return Ok(Err(problem)),
    };
    if !super::ingest::is_linked_student(&event.sender) {
        return Ok(Err(
            "an answer counts only for a player linked to a student; link the player first (LinkPlayerAsync)"
                .into(),
        ));
    }
    let Some(key) = answer_key(store, cache, tenant, &assessment).await? else {
        return Ok(Err(format!(
            "no published assessment {assessment:?} in this tenant"
        )));
    };
    let Some(asked) = key
        .questions
        .iter()
        .find(|asked| asked["id"].as_str() == Some(question.as_str()))
    else {
        return Ok(Err(format!(
            "assessment {assessment:?} has no question {question:?}"
        )));
    };
    let answer = event.data.get("answer").cloned().unwrap_or(Value::Null);
    let graded = match grade(asked, Some(&answer)) {
        Ok(graded) => graded,
        Err(problem) => return Ok(Err(format!("quiz_answer data.answer {problem}"))),
    };
    if let Some(fields) = event.data.as_object_mut() {
        fields.insert("correct".into(), json!(graded.correct));
        fields.insert("points".into(), json!(graded.points));
        fields.insert("max_score".into(), json!(key.max_score));
        fields.insert("attempt".into(), json!(attempt));
        fields.insert("student".into(), json!(event.sender));
    }
    Ok(Ok(ScoredAnswer {
        result_id: result_id(tenant, &event.sender, &assessment, &attempt),
        user: event.sender.clone(),
        assessment,
        attempt,
        question,
        answer,
        correct: graded.correct,
        points: graded.points,
        max_score: key.max_score,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempts_result_id_is_stable_and_tells_attempts_apart() {
        let first = result_id("acme", "s1", "asm_1", "job-1");
        assert_eq!(first, result_id("acme", "s1", "asm_1", "job-1"));
        assert!(first.starts_with("res_g") && first.len() == 5 + 24);
        for other in [
            result_id("acme", "s1", "asm_1", "job-2"),
            result_id("acme", "s2", "asm_1", "job-1"),
            result_id("beta", "s1", "asm_1", "job-1"),
            result_id("acme", "s1a", "sm_1", "job-1"),
        ] {
            assert_ne!(first, other);
        }
    }
}
