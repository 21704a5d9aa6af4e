//! Finding and describing content: the descriptive fields courses and lessons share (subject,
//! grade band, difficulty, tags, estimated minutes, learning objectives; [`check_metadata`], the
//! one rule every write route calls), the search and filters every content list takes
//! ([`FindQuery`]: words searched with the database's full-text index, subject, grade,
//! difficulty, tag, and a sort), `GET /api/v1/lessons` across a school's courses, and lesson
//! revisions (every change through `PATCH /lessons/{id}` keeps the version it replaced; staff
//! list and read them, and the course's author or an admin restores one).
//!
//! Students and parents find only published content (a lesson: of a published course too), as
//! everywhere in [`super::content`]; revisions are staff-only.

use axum::Json;
use axum::extract::State;
use persistence::{
    FindFilter, FindKey, FindSort, KeepRevision, LessonRecord, LessonRevision, Metadata,
    MetadataFields, Page,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::content::{editable_lesson, reader};
use crate::api::openapi::ErrorResponse;
use crate::api::page_of;
use crate::api::rules::{Items, Range, Text, documented};
use crate::api::{ApiError, ApiPath, ApiQuery, Caller, PageLimit, PageOf, PageQuery};
use crate::app::AppState;
use crate::config::{ConfigError, at_least_one, layered};

/// A subject, e.g. `math` or `earth science`.
const SUBJECT: Text = Text::prose(1, 64);
/// A grade: 0 (kindergarten) to 12.
const GRADE: Range = Range::new(0, 12);
/// The difficulties, easiest first.
const DIFFICULTIES: [&str; 3] = ["introductory", "intermediate", "advanced"];
/// One tag (stored lower-case).
const TAG: Text = Text::word(1, 32, "-");
/// Tags per course or lesson.
const TAGS: Items = Items::new(0, 20);
/// Estimated minutes.
const MINUTES: Range = Range::new(1, 1440);
/// One learning objective.
const OBJECTIVE: Text = Text::prose(1, 500);
/// Objectives per course or lesson.
const OBJECTIVES: Items = Items::new(0, 20);
/// A search's text.
const SEARCH: Text = Text::prose(1, 200);
/// Words a search may hold.
const SEARCH_WORDS: usize = 16;

documented!(
    /// A subject ([`SUBJECT`]).
    Subject = SUBJECT.schema()
);
documented!(
    /// A grade, 0 (kindergarten) to 12 ([`GRADE`]).
    Grade = GRADE.integer_schema()
);
documented!(
    /// A tag ([`TAG`]; any case).
    Tag = TAG.schema()
);
documented!(
    /// Tags ([`TAGS`] of [`TAG`]; stored lower-case).
    Tags = TAGS.schema(TAG.schema())
);
documented!(
    /// Estimated minutes ([`MINUTES`]).
    Minutes = MINUTES.integer_schema()
);
documented!(
    /// Learning objectives ([`OBJECTIVES`] of [`OBJECTIVE`]).
    Objectives = OBJECTIVES.schema(OBJECTIVE.schema())
);
documented!(
    /// Words to search for ([`SEARCH`]).
    SearchText = SEARCH.schema()
);

/// A difficulty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Difficulty {
    /// For a first meeting with the topic.
    Introductory,
    /// For students who know the basics.
    Intermediate,
    /// For students ready for a challenge.
    Advanced,
}

impl Difficulty {
    fn as_str(self) -> &'static str {
        DIFFICULTIES[self as usize]
    }
}

layered! {
    /// Content settings (see `crate::config` for how flags, environment and file combine).
    #[derive(Debug, Clone, Default, clap::Args, Deserialize)]
    pub struct ContentArgs {
        /// Earlier versions kept per lesson; older ones are dropped at the next edit
        /// [default: 50].
        #[arg(long, env = "CLASSHUB_LESSON_REVISIONS")]
        pub lesson_revisions: Option<u32>,
    }
}

/// Content's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentSettings {
    /// Revisions kept per lesson.
    pub lesson_revisions: u32,
}

impl Default for ContentSettings {
    fn default() -> Self {
        ContentArgs::default()
            .resolve()
            .expect("the built-in defaults are valid")
    }
}

impl ContentArgs {
    /// The content settings, checked.
    pub fn resolve(self) -> Result<ContentSettings, ConfigError> {
        Ok(ContentSettings {
            lesson_revisions: at_least_one("lesson-revisions", self.lesson_revisions, 50)?,
        })
    }
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(find_lessons))
        .routes(routes!(list_revisions))
        .routes(routes!(get_revision))
        .routes(routes!(restore_revision))
}

/// The descriptive fields of a create or change body, before checking.
#[derive(Debug, Default)]
pub(crate) struct MetadataBody {
    pub(crate) subject: Option<String>,
    pub(crate) grade_min: Option<i64>,
    pub(crate) grade_max: Option<i64>,
    pub(crate) difficulty: Option<Difficulty>,
    pub(crate) tags: Option<Vec<String>>,
    pub(crate) duration_minutes: Option<i64>,
    pub(crate) objectives: Option<Vec<String>>,
}

/// The descriptive fields as stored, or 422 naming the field at fault. `current` is what the
/// course or lesson holds now (a change may set one end of the grade band: the band it leaves
/// must still run from low to high). A band given by one end only is that one grade.
pub(crate) fn check_metadata(
    body: MetadataBody,
    current: Option<&Metadata>,
) -> Result<MetadataFields, ApiError> {
    let subject = body
        .subject
        .as_deref()
        .map(|subject| SUBJECT.check("subject", subject).map(str::to_owned))
        .transpose()?;
    for (field, grade) in [("grade_min", body.grade_min), ("grade_max", body.grade_max)] {
        if let Some(grade) = grade {
            GRADE.check(field, grade)?;
        }
    }
    let (mut grade_min, mut grade_max) = (body.grade_min, body.grade_max);
    let (now_min, now_max) = current.map_or((None, None), |now| (now.grade_min, now.grade_max));
    match (grade_min, grade_max) {
        (Some(low), None) if now_max.is_none() => grade_max = Some(low),
        (None, Some(high)) if now_min.is_none() => grade_min = Some(high),
        _ => {}
    }
    if let (Some(low), Some(high)) = (grade_min.or(now_min), grade_max.or(now_max))
        && low > high
    {
        return Err(ApiError::invalid_field(
            "grade_min",
            format!("must not be above grade_max ({low} > {high}); 0 is kindergarten"),
        ));
    }
    if let Some(minutes) = body.duration_minutes {
        MINUTES.check("duration_minutes", minutes)?;
    }
    let tags = body
        .tags
        .map(|tags| {
            if !TAGS.allows(tags.len()) {
                return Err(ApiError::invalid_field(
                    "tags",
                    format!("must hold at most {} tags", TAGS.max),
                ));
            }
            let mut clean: Vec<String> = Vec::with_capacity(tags.len());
            for tag in tags {
                let tag = TAG.check("tags", &tag)?.to_ascii_lowercase();
                if !clean.contains(&tag) {
                    clean.push(tag);
                }
            }
            Ok(clean)
        })
        .transpose()?;
    let objectives = body
        .objectives
        .map(|objectives| {
            if !OBJECTIVES.allows(objectives.len()) {
                return Err(ApiError::invalid_field(
                    "objectives",
                    format!("must hold at most {} objectives", OBJECTIVES.max),
                ));
            }
            objectives
                .iter()
                .map(|objective| OBJECTIVE.check("objectives", objective).map(str::to_owned))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(MetadataFields {
        subject,
        grade_min,
        grade_max,
        difficulty: body.difficulty.map(|level| level.as_str().to_owned()),
        tags,
        duration_minutes: body.duration_minutes,
        objectives,
    })
}

/// The search, filters and sort every content list takes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FindQuery {
    /// Words that must all appear in the title or text (English stemming: `fractions` finds
    /// "fraction"); letters and digits count, other characters separate words; words after the
    /// 16th are ignored, and a `q` without letters or digits finds nothing.
    #[param(inline, value_type = Option<SearchText>)]
    q: Option<String>,
    /// Only this subject (any case).
    #[param(inline, value_type = Option<Subject>)]
    subject: Option<String>,
    /// Only content whose grade band includes this grade (0 = kindergarten).
    #[param(inline, value_type = Option<Grade>)]
    grade: Option<String>,
    /// Only this difficulty.
    #[param(inline)]
    difficulty: Option<Difficulty>,
    /// Only content with this tag (any case).
    #[param(inline, value_type = Option<Tag>)]
    tag: Option<String>,
    /// `relevance` (best match first; the default with `q`; without `q`, the natural order),
    /// `title`, `updated` (newest first), `duration` (shortest first) or `natural` (the default:
    /// courses by id, a course's lessons in their order).
    #[param(inline)]
    sort: Option<FindSort>,
    /// Rows per page (default 50).
    #[param(inline, value_type = Option<PageLimit>)]
    limit: Option<String>,
    /// The previous page's `next_cursor` (with the same search, filters and sort).
    cursor: Option<String>,
}

impl FindQuery {
    /// The store's filter (published content only for students and parents), sort and page;
    /// `None` when `q` holds no letter or digit, so nothing can match.
    pub(crate) fn resolve(
        &self,
        caller: &Caller,
        course: Option<&str>,
    ) -> Result<Option<(FindFilter, FindSort, Page<FindKey>)>, ApiError> {
        let words = match self.q.as_deref() {
            None | Some("") => Vec::new(),
            Some(text) => match search_words(text)? {
                Some(words) => words,
                None => return Ok(None),
            },
        };
        let grade = match self.grade.as_deref() {
            None | Some("") => None,
            Some(text) => Some(
                text.parse::<i64>()
                    .ok()
                    .filter(|grade| GRADE.contains(*grade as f64))
                    .ok_or_else(|| ApiError::invalid_field("grade", GRADE.rule()))?,
            ),
        };
        let tag = match self.tag.as_deref() {
            None | Some("") => None,
            Some(tag) => Some(TAG.check("tag", tag)?.to_ascii_lowercase()),
        };
        let subject = match self.subject.as_deref() {
            None | Some("") => None,
            Some(subject) => Some(SUBJECT.check("subject", subject)?.to_owned()),
        };
        let sort = match self.sort {
            Some(sort) => sort,
            None if words.is_empty() => FindSort::Natural,
            None => FindSort::Relevance,
        };
        let page = PageQuery {
            limit: self.limit.clone(),
            cursor: self.cursor.clone(),
        }
        .page()?;
        let filter = FindFilter {
            words,
            subject,
            grade,
            difficulty: self.difficulty.map(|level| level.as_str().to_owned()),
            tag,
            course: course.map(str::to_owned),
            published_only: reader(caller),
        };
        Ok(Some((filter, sort, page)))
    }
}

/// The words of a search (letters and digits; anything else separates them), lower-cased; at
/// most [`SEARCH_WORDS`], the rest ignored. None: a search that nothing can match.
fn search_words(text: &str) -> Result<Option<Vec<String>>, ApiError> {
    let text = SEARCH.check("q", text)?;
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .take(SEARCH_WORDS)
        .map(str::to_lowercase)
        .collect();
    Ok((!words.is_empty()).then_some(words))
}

/// `GET /api/v1/lessons`'s own filter (with [`FindQuery`]'s).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LessonCourse {
    /// Only lessons of this course.
    course_id: Option<String>,
}

/// Find lessons across the school's courses (students and parents: published lessons of
/// published courses).
#[utoipa::path(get, path = "/api/v1/lessons", tag = "content", params(LessonCourse, FindQuery),
    responses((status = 200, body = PageOf<LessonRecord>),
              (status = 422, body = ErrorResponse)))]
async fn find_lessons(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(course): ApiQuery<LessonCourse>,
    ApiQuery(find): ApiQuery<FindQuery>,
) -> Result<Json<PageOf<LessonRecord>>, ApiError> {
    let course = course.course_id.as_deref().filter(|id| !id.is_empty());
    let Some((filter, sort, page)) = find.resolve(&caller, course)? else {
        return Ok(Json(PageOf::empty()));
    };
    let found = app
        .store()
        .find_lessons(caller.tenant(), &filter, sort, &page)
        .await?;
    Ok(Json(page_of(found, |hit| hit.key.clone(), |hit| hit.item)))
}

/// The lesson `id` if the caller may read its revisions: staff of its school.
async fn staff_lesson(app: &AppState, caller: &Caller, id: &str) -> Result<(), ApiError> {
    caller.require_staff("read a lesson's earlier versions")?;
    app.store()
        .lesson(caller.tenant(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("lesson"))?;
    Ok(())
}

/// A lesson's earlier versions, newest first (staff).
#[utoipa::path(get, path = "/api/v1/lessons/{id}/revisions", tag = "content",
    params(("id" = String, Path, description = "lesson id"), PageQuery),
    responses((status = 200, body = PageOf<LessonRevision>),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 422, body = ErrorResponse)))]
async fn list_revisions(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<LessonRevision>>, ApiError> {
    staff_lesson(&app, &caller, &id).await?;
    let paged = app
        .store()
        .lesson_revisions(caller.tenant(), &id, &query.page()?)
        .await?;
    Ok(Json(page_of(
        paged,
        |revision| revision.revision,
        |revision| revision,
    )))
}

/// One earlier version of a lesson (staff).
#[utoipa::path(get, path = "/api/v1/lessons/{id}/revisions/{revision}", tag = "content",
    params(("id" = String, Path, description = "lesson id"),
           ("revision" = String, Path, description = "revision number")),
    responses((status = 200, body = LessonRevision),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn get_revision(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((id, revision)): ApiPath<(String, String)>,
) -> Result<Json<LessonRevision>, ApiError> {
    staff_lesson(&app, &caller, &id).await?;
    let revision = revision_number(&revision)?;
    app.store()
        .lesson_revision(caller.tenant(), &id, revision)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("revision"))
}

/// Put an earlier version of a lesson back (the course's author or an admin). The version it
/// replaces becomes a revision too, so a restore can be undone; the lesson's position and
/// whether it is published do not change.
#[utoipa::path(post, path = "/api/v1/lessons/{id}/revisions/{revision}/restore", tag = "content",
    params(("id" = String, Path, description = "lesson id"),
           ("revision" = String, Path, description = "revision number")),
    responses((status = 200, body = LessonRecord),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn restore_revision(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((id, revision)): ApiPath<(String, String)>,
) -> Result<Json<LessonRecord>, ApiError> {
    editable_lesson(&app, &caller, &id, "restore this lesson").await?;
    let revision = revision_number(&revision)?;
    app.store()
        .restore_lesson(caller.tenant(), &id, revision, keep_revision(&app, &caller))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("revision"))
}

/// A revision number from the path; anything else names no revision (404).
fn revision_number(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|number| *number > 0)
        .ok_or_else(|| ApiError::not_found("revision"))
}

/// What an edit by `caller` keeps of the version it replaces.
pub(crate) fn keep_revision<'a>(app: &AppState, caller: &'a Caller) -> KeepRevision<'a> {
    KeepRevision {
        replaced_by: caller.user(),
        keep: i64::from(app.config().content.lesson_revisions),
    }
}
