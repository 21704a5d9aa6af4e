//! Content: courses, their ordered lessons, assessments (questions as JSON) and assessment
//! results. Deleting a course deletes its lessons, their assessments and those results; the
//! schema's `NO ACTION` references are cleared in the same transaction, children first.

use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;

use crate::catalog::{Metadata, MetadataFields, metadata_columns};
use crate::revisions::{KeepRevision, around_change, save_revision_sql};
use crate::sql::{Arg, Page, Paged, exec, exec_all, row, rows};
use crate::{Store, StoreError};

/// One row of `courses`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CourseRecord {
    /// The course id.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// Its title.
    pub title: String,
    /// A description.
    pub description: Option<String>,
    /// A grade level such as `7`.
    pub grade_level: Option<String>,
    /// Whether students see it.
    pub published: bool,
    /// Subject, grade band, difficulty, tags, minutes and objectives.
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub meta: Metadata,
    /// Who created it.
    pub created_by: Option<String>,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

/// The fields of a course a create or update sets (`None`: unchanged, or the default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CourseFields {
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Grade level.
    pub grade_level: Option<String>,
    /// Published.
    pub published: Option<bool>,
    /// Subject, grade band, difficulty, tags, minutes and objectives.
    pub meta: MetadataFields,
}

/// One row of `lessons`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LessonRecord {
    /// The lesson id.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// Its course.
    pub course_id: String,
    /// Its title.
    pub title: String,
    /// Its content (any JSON the game and the dashboard agree on).
    #[sqlx(json(nullable))]
    pub content: Option<Value>,
    /// Its place in the course (ascending).
    pub position: i64,
    /// Whether students see it.
    pub published: bool,
    /// The Roblox experience (universe) that plays it, if any.
    pub roblox_universe_id: Option<i64>,
    /// The Roblox place that plays it, if any.
    pub roblox_place_id: Option<i64>,
    /// Subject, grade band, difficulty, tags, minutes and objectives.
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub meta: Metadata,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

/// The fields of a lesson a create or update sets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LessonFields {
    /// Title.
    pub title: Option<String>,
    /// Content.
    pub content: Option<Value>,
    /// Position.
    pub position: Option<i64>,
    /// Published.
    pub published: Option<bool>,
    /// The Roblox universe that plays it.
    pub roblox_universe_id: Option<i64>,
    /// The Roblox place that plays it.
    pub roblox_place_id: Option<i64>,
    /// Subject, grade band, difficulty, tags, minutes and objectives.
    pub meta: MetadataFields,
}

/// One row of `assessments`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssessmentRecord {
    /// The assessment id.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The lesson it belongs to, if any.
    pub lesson_id: Option<String>,
    /// Its title.
    pub title: String,
    /// Its questions (a JSON array; see the REST API's question schema).
    #[sqlx(json)]
    pub questions: Value,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

/// One row of `assessment_results`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResultRecord {
    /// The result id.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The assessment.
    pub assessment_id: String,
    /// The student.
    pub user_id: String,
    /// The submitted answers and their grading.
    #[sqlx(json(nullable))]
    pub answers: Option<Value>,
    /// Points scored.
    pub score: Option<f64>,
    /// Points possible.
    pub max_score: Option<f64>,
    /// When it was submitted (in game: its latest answer).
    pub submitted_at: String,
    /// `web` (submitted through the REST API) or `game` (answered in Roblox).
    pub source: String,
    /// In game: the attempt its answers were gathered under.
    pub attempt: Option<String>,
}

/// The columns of a [`CourseRecord`].
pub(crate) const COURSE_COLUMNS: &str = concat!(
    "id, tenant_id, title, description, grade_level, published, created_by, ",
    metadata_columns!(),
    ", TS(created_at) AS created_at, TS(updated_at) AS updated_at"
);
/// The columns of a [`LessonRecord`].
pub(crate) const LESSON_COLUMNS: &str = concat!(
    "id, tenant_id, course_id, title, content, CAST(position AS BIGINT) AS position, published, \
     roblox_universe_id, roblox_place_id, ",
    metadata_columns!(),
    ", TS(created_at) AS created_at, TS(updated_at) AS updated_at"
);
const ASSESSMENT_COLUMNS: &str = "a.id, a.tenant_id, a.lesson_id, a.title, a.questions, \
     TS(a.created_at) AS created_at, TS(a.updated_at) AS updated_at";
const RESULT_COLUMNS: &str = "id, tenant_id, assessment_id, user_id, answers, score, max_score, \
     TS(submitted_at) AS submitted_at, source, attempt";

impl Store {
    /// Creates a course (`fields.title` is required by the caller).
    pub async fn create_course(
        &self,
        tenant: &str,
        id: &str,
        created_by: &str,
        fields: &CourseFields,
    ) -> Result<CourseRecord, StoreError> {
        exec!(
            self,
            "INSERT INTO courses (id, tenant_id, title, description, grade_level, published, created_by, \
             subject, grade_min, grade_max, difficulty, tags, duration_minutes, objectives) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, COALESCE($12::jsonb, '[]'), $13, \
             COALESCE($14::jsonb, '[]'))",
            id,
            tenant,
            fields.title.as_deref().unwrap_or_default(),
            fields.description.as_deref(),
            fields.grade_level.as_deref(),
            fields.published.unwrap_or(false),
            created_by,
            fields.meta.subject.as_deref(),
            fields.meta.grade_min,
            fields.meta.grade_max,
            fields.meta.difficulty.as_deref(),
            fields.meta.tags_json(),
            fields.meta.duration_minutes,
            fields.meta.objectives_json()
        )?;
        self.course(tenant, id)
            .await?
            .ok_or(StoreError::Query(sqlx::Error::RowNotFound))
    }

    /// A course of `tenant`.
    pub async fn course(&self, tenant: &str, id: &str) -> Result<Option<CourseRecord>, StoreError> {
        let sql = format!("SELECT {COURSE_COLUMNS} FROM courses WHERE tenant_id = $1 AND id = $2");
        Ok(row!(self, CourseRecord, &sql, tenant, id)?)
    }

    /// Courses of `tenant` by id (only published ones when `published_only`).
    pub async fn courses(
        &self,
        tenant: &str,
        published_only: bool,
        page: &Page<String>,
    ) -> Result<Paged<CourseRecord>, StoreError> {
        let sql = format!(
            "SELECT {COURSE_COLUMNS} FROM courses WHERE tenant_id = $1 AND id > $2 \
             AND (published OR NOT $4) ORDER BY id LIMIT $3"
        );
        let after = page.after.clone().unwrap_or_default();
        let limit = i64::from(page.limit) + 1;
        let items = rows!(
            self,
            CourseRecord,
            &sql,
            tenant,
            after,
            limit,
            published_only
        )?;
        Ok(Paged::cut(items, page.limit))
    }

    /// Updates a course; `Ok(None)` when there is no such course.
    pub async fn update_course(
        &self,
        tenant: &str,
        id: &str,
        fields: &CourseFields,
    ) -> Result<Option<CourseRecord>, StoreError> {
        exec!(
            self,
            "UPDATE courses SET title = COALESCE($3, title), description = COALESCE($4, description), \
             grade_level = COALESCE($5, grade_level), published = COALESCE($6, published), \
             subject = COALESCE($7, subject), grade_min = COALESCE($8, grade_min), \
             grade_max = COALESCE($9, grade_max), difficulty = COALESCE($10, difficulty), \
             tags = COALESCE($11::jsonb, tags), duration_minutes = COALESCE($12, duration_minutes), \
             objectives = COALESCE($13::jsonb, objectives), \
             updated_at = NOW() WHERE tenant_id = $1 AND id = $2",
            tenant,
            id,
            fields.title.as_deref(),
            fields.description.as_deref(),
            fields.grade_level.as_deref(),
            fields.published,
            fields.meta.subject.as_deref(),
            fields.meta.grade_min,
            fields.meta.grade_max,
            fields.meta.difficulty.as_deref(),
            fields.meta.tags_json(),
            fields.meta.duration_minutes,
            fields.meta.objectives_json()
        )?;
        self.course(tenant, id).await
    }

    /// Deletes a course with its lessons, their assessments and results; returns whether it existed.
    pub async fn delete_course(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let args = || -> Vec<Arg> { vec![tenant.into(), id.into()] };
        let affected = exec_all!(
            self,
            vec![
                (
                    "DELETE FROM assessment_results WHERE tenant_id = $1 AND assessment_id IN \
                     (SELECT a.id FROM assessments a JOIN lessons l ON l.tenant_id = a.tenant_id AND l.id = a.lesson_id \
                      WHERE a.tenant_id = $1 AND l.course_id = $2)",
                    args()
                ),
                (
                    "DELETE FROM assessments WHERE tenant_id = $1 AND lesson_id IN \
                     (SELECT id FROM lessons WHERE tenant_id = $1 AND course_id = $2)",
                    args()
                ),
                (
                    "DELETE FROM courses WHERE tenant_id = $1 AND id = $2",
                    args()
                ),
            ]
        )?;
        Ok(affected.last().copied().unwrap_or(0) > 0)
    }

    /// Creates a lesson at the end of its course unless `fields.position` says where.
    pub async fn create_lesson(
        &self,
        tenant: &str,
        course: &str,
        id: &str,
        fields: &LessonFields,
    ) -> Result<LessonRecord, StoreError> {
        exec!(
            self,
            "INSERT INTO lessons (id, tenant_id, course_id, title, content, position, published, \
             roblox_universe_id, roblox_place_id, subject, grade_min, grade_max, difficulty, tags, \
             duration_minutes, objectives) \
             VALUES ($1, $2, $3, $4, $5::jsonb, COALESCE($6, (SELECT COALESCE(MAX(position), -1) + 1 \
             FROM lessons WHERE tenant_id = $2 AND course_id = $3)), $7, $8, $9, $10, $11, $12, $13, \
             COALESCE($14::jsonb, '[]'), $15, COALESCE($16::jsonb, '[]'))",
            id,
            tenant,
            course,
            fields.title.as_deref().unwrap_or_default(),
            fields.content.as_ref().map(Json),
            fields.position,
            fields.published.unwrap_or(false),
            fields.roblox_universe_id,
            fields.roblox_place_id,
            fields.meta.subject.as_deref(),
            fields.meta.grade_min,
            fields.meta.grade_max,
            fields.meta.difficulty.as_deref(),
            fields.meta.tags_json(),
            fields.meta.duration_minutes,
            fields.meta.objectives_json()
        )?;
        self.lesson(tenant, id)
            .await?
            .ok_or(StoreError::Query(sqlx::Error::RowNotFound))
    }

    /// A lesson of `tenant`.
    pub async fn lesson(&self, tenant: &str, id: &str) -> Result<Option<LessonRecord>, StoreError> {
        let sql = format!("SELECT {LESSON_COLUMNS} FROM lessons WHERE tenant_id = $1 AND id = $2");
        Ok(row!(self, LessonRecord, &sql, tenant, id)?)
    }

    /// A course's lessons in order (position, then id).
    pub async fn lessons(
        &self,
        tenant: &str,
        course: &str,
        published_only: bool,
        page: &Page<(i64, String)>,
    ) -> Result<Paged<LessonRecord>, StoreError> {
        let sql = format!(
            "SELECT {LESSON_COLUMNS} FROM lessons WHERE tenant_id = $1 AND course_id = $2 \
             AND (position > $3 OR (position = $3 AND id > $4)) AND (published OR NOT $6) \
             ORDER BY position, id LIMIT $5"
        );
        let (after_position, after_id) = page.after.clone().unwrap_or((i64::MIN, String::new()));
        let limit = i64::from(page.limit) + 1;
        let items = rows!(
            self,
            LessonRecord,
            &sql,
            tenant,
            course,
            after_position,
            after_id,
            limit,
            published_only
        )?;
        Ok(Paged::cut(items, page.limit))
    }

    /// Updates a lesson; `Ok(None)` when there is no such lesson. With `revision`, the lesson as
    /// it was is first kept as its next revision, in the same transaction (see
    /// [`Store::lesson_revisions`]).
    pub async fn update_lesson(
        &self,
        tenant: &str,
        id: &str,
        fields: &LessonFields,
        revision: Option<KeepRevision<'_>>,
    ) -> Result<Option<LessonRecord>, StoreError> {
        let key = || -> Vec<Arg> { vec![tenant.into(), id.into()] };
        let meta = &fields.meta;
        let update = (
            "UPDATE lessons SET title = COALESCE($3, title), content = COALESCE($4::jsonb, content), \
             position = COALESCE($5, position), published = COALESCE($6, published), \
             roblox_universe_id = COALESCE($7, roblox_universe_id), \
             roblox_place_id = COALESCE($8, roblox_place_id), subject = COALESCE($9, subject), \
             grade_min = COALESCE($10, grade_min), grade_max = COALESCE($11, grade_max), \
             difficulty = COALESCE($12, difficulty), tags = COALESCE($13::jsonb, tags), \
             duration_minutes = COALESCE($14, duration_minutes), \
             objectives = COALESCE($15::jsonb, objectives), updated_at = NOW() \
             WHERE tenant_id = $1 AND id = $2",
            [
                key(),
                vec![
                    Arg::Text(fields.title.clone()),
                    Arg::Json(fields.content.clone()),
                    Arg::OptInt(fields.position),
                    Arg::Bool(fields.published),
                    Arg::OptInt(fields.roblox_universe_id),
                    Arg::OptInt(fields.roblox_place_id),
                    Arg::Text(meta.subject.clone()),
                    Arg::OptInt(meta.grade_min),
                    Arg::OptInt(meta.grade_max),
                    Arg::Text(meta.difficulty.clone()),
                    Arg::Json(meta.tags.as_ref().map(|tags| Value::from(tags.clone()))),
                    Arg::OptInt(meta.duration_minutes),
                    Arg::Json(
                        meta.objectives
                            .as_ref()
                            .map(|list| Value::from(list.clone())),
                    ),
                ],
            ]
            .concat(),
        );
        let save = save_revision_sql();
        let statements = match revision {
            None => vec![update],
            Some(keep) => around_change(tenant, id, keep, &save, update),
        };
        exec_all!(self, statements)?;
        self.lesson(tenant, id).await
    }

    /// Deletes a lesson with its assessments and their results; returns whether it existed.
    pub async fn delete_lesson(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let args = || -> Vec<Arg> { vec![tenant.into(), id.into()] };
        let affected = exec_all!(
            self,
            vec![
                (
                    "DELETE FROM assessment_results WHERE tenant_id = $1 AND assessment_id IN \
                     (SELECT id FROM assessments WHERE tenant_id = $1 AND lesson_id = $2)",
                    args()
                ),
                (
                    "DELETE FROM assessments WHERE tenant_id = $1 AND lesson_id = $2",
                    args()
                ),
                (
                    "DELETE FROM lessons WHERE tenant_id = $1 AND id = $2",
                    args()
                ),
            ]
        )?;
        Ok(affected.last().copied().unwrap_or(0) > 0)
    }

    /// Sets the positions of a course's lessons to their order in `lesson_ids` (0, 1, …), in one
    /// transaction. The caller checks that the ids are exactly the course's lessons.
    pub async fn order_lessons(
        &self,
        tenant: &str,
        course: &str,
        lesson_ids: &[String],
    ) -> Result<(), StoreError> {
        let statements = lesson_ids
            .iter()
            .enumerate()
            .map(|(position, lesson)| {
                (
                    "UPDATE lessons SET position = $4, updated_at = NOW() \
                     WHERE tenant_id = $1 AND course_id = $2 AND id = $3",
                    vec![
                        Arg::from(tenant),
                        Arg::from(course),
                        Arg::from(lesson.as_str()),
                        Arg::from(position as i64),
                    ],
                )
            })
            .collect();
        exec_all!(self, statements)?;
        Ok(())
    }

    /// Creates an assessment.
    pub async fn create_assessment(
        &self,
        tenant: &str,
        id: &str,
        lesson: Option<&str>,
        title: &str,
        questions: &Value,
    ) -> Result<AssessmentRecord, StoreError> {
        exec!(
            self,
            "INSERT INTO assessments (id, tenant_id, lesson_id, title, questions) VALUES ($1, $2, $3, $4, $5::jsonb)",
            id,
            tenant,
            lesson,
            title,
            Json(questions)
        )?;
        self.assessment(tenant, id)
            .await?
            .ok_or(StoreError::Query(sqlx::Error::RowNotFound))
    }

    /// An assessment of `tenant`.
    pub async fn assessment(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<AssessmentRecord>, StoreError> {
        let sql = format!(
            "SELECT {ASSESSMENT_COLUMNS} FROM assessments a WHERE a.tenant_id = $1 AND a.id = $2"
        );
        Ok(row!(self, AssessmentRecord, &sql, tenant, id)?)
    }

    /// Assessments of `tenant` by id, optionally of one lesson; with `published_only`, only those
    /// without a lesson or whose lesson and course are published.
    pub async fn assessments(
        &self,
        tenant: &str,
        lesson: Option<&str>,
        published_only: bool,
        page: &Page<String>,
    ) -> Result<Paged<AssessmentRecord>, StoreError> {
        let sql = format!(
            "SELECT {ASSESSMENT_COLUMNS} FROM assessments a \
             LEFT JOIN lessons l ON l.tenant_id = a.tenant_id AND l.id = a.lesson_id \
             LEFT JOIN courses c ON c.tenant_id = l.tenant_id AND c.id = l.course_id \
             WHERE a.tenant_id = $1 AND a.id > $2 AND ($4 = '' OR a.lesson_id = $4) \
             AND (NOT $5 OR a.lesson_id IS NULL OR (l.published AND c.published)) \
             ORDER BY a.id LIMIT $3"
        );
        let after = page.after.clone().unwrap_or_default();
        let limit = i64::from(page.limit) + 1;
        let items = rows!(
            self,
            AssessmentRecord,
            &sql,
            tenant,
            after,
            limit,
            lesson.unwrap_or(""),
            published_only
        )?;
        Ok(Paged::cut(items, page.limit))
    }

    /// Assessments of the lessons of a course (for course analytics).
    pub async fn assessments_of_course(
        &self,
        tenant: &str,
        course: &str,
    ) -> Result<Vec<AssessmentRecord>, StoreError> {
        let sql = format!(
            "SELECT {ASSESSMENT_COLUMNS} FROM assessments a JOIN lessons l ON l.tenant_id = a.tenant_id \
             AND l.id = a.lesson_id WHERE a.tenant_id = $1 AND l.course_id = $2 ORDER BY a.id"
        );
        Ok(rows!(self, AssessmentRecord, &sql, tenant, course)?)
    }

    /// Updates an assessment; `Ok(None)` when there is no such assessment.
    pub async fn update_assessment(
        &self,
        tenant: &str,
        id: &str,
        title: Option<&str>,
        questions: Option<&Value>,
    ) -> Result<Option<AssessmentRecord>, StoreError> {
        exec!(
            self,
            "UPDATE assessments SET title = COALESCE($3, title), questions = COALESCE($4::jsonb, questions), \
             updated_at = NOW() WHERE tenant_id = $1 AND id = $2",
            tenant,
            id,
            title,
            questions.map(Json)
        )?;
        self.assessment(tenant, id).await
    }

    /// Deletes an assessment and its results; returns whether it existed.
    pub async fn delete_assessment(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let args = || -> Vec<Arg> { vec![tenant.into(), id.into()] };
        let affected = exec_all!(
            self,
            vec![
                (
                    "DELETE FROM assessment_results WHERE tenant_id = $1 AND assessment_id = $2",
                    args()
                ),
                (
                    "DELETE FROM assessments WHERE tenant_id = $1 AND id = $2",
                    args()
                ),
            ]
        )?;
        Ok(affected.last().copied().unwrap_or(0) > 0)
    }

    /// Stores one submission.
    #[expect(clippy::too_many_arguments, reason = "one column each")]
    pub async fn insert_result(
        &self,
        tenant: &str,
        id: &str,
        assessment: &str,
        user: &str,
        answers: &Value,
        score: f64,
        max_score: f64,
    ) -> Result<ResultRecord, StoreError> {
        exec!(
            self,
            "INSERT INTO assessment_results (id, tenant_id, assessment_id, user_id, answers, score, max_score) \
             VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)",
            id,
            tenant,
            assessment,
            user,
            Json(answers),
            score,
            max_score
        )?;
        let sql = format!(
            "SELECT {RESULT_COLUMNS} FROM assessment_results WHERE tenant_id = $1 AND id = $2"
        );
        row!(self, ResultRecord, &sql, tenant, id)?
            .ok_or(StoreError::Query(sqlx::Error::RowNotFound))
    }

    /// An assessment's results by id: all, one student's (`user`), or those of the students on
    /// the live classes `taught_by` teaches.
    pub async fn results(
        &self,
        tenant: &str,
        assessment: &str,
        user: Option<&str>,
        taught_by: Option<&str>,
        page: &Page<String>,
    ) -> Result<Paged<ResultRecord>, StoreError> {
        let sql = format!(
            "SELECT {RESULT_COLUMNS} FROM assessment_results WHERE tenant_id = $1 AND assessment_id = $2 \
             AND id > $3 AND ($5 = '' OR user_id = $5) AND ($6 = '' OR user_id IN \
               (SELECT m.user_id FROM class_members m JOIN classes c ON c.tenant_id = m.tenant_id \
                AND c.id = m.class_id WHERE m.tenant_id = $1 AND c.teacher_id = $6 AND c.archived_at IS NULL)) \
             ORDER BY id LIMIT $4"
        );
        let after = page.after.clone().unwrap_or_default();
        let limit = i64::from(page.limit) + 1;
        let items = rows!(
            self,
            ResultRecord,
            &sql,
            tenant,
            assessment,
            after,
            limit,
            user.unwrap_or(""),
            taught_by.unwrap_or("")
        )?;
        Ok(Paged::cut(items, page.limit))
    }

    /// Every result of the students on a class roster (for class analytics).
    pub async fn results_of_class(
        &self,
        tenant: &str,
        class: &str,
    ) -> Result<Vec<ResultRecord>, StoreError> {
        let sql = format!(
            "SELECT {} FROM assessment_results r JOIN class_members m ON m.tenant_id = r.tenant_id \
             AND m.user_id = r.user_id WHERE r.tenant_id = $1 AND m.class_id = $2 ORDER BY r.id",
            prefixed(RESULT_COLUMNS, "r")
        );
        Ok(rows!(self, ResultRecord, &sql, tenant, class)?)
    }

    /// Every result of the assessments of a course's lessons (for course analytics).
    pub async fn results_of_course(
        &self,
        tenant: &str,
        course: &str,
    ) -> Result<Vec<ResultRecord>, StoreError> {
        let sql = format!(
            "SELECT {} FROM assessment_results r JOIN assessments a ON a.tenant_id = r.tenant_id \
             AND a.id = r.assessment_id JOIN lessons l ON l.tenant_id = a.tenant_id AND l.id = a.lesson_id \
             WHERE r.tenant_id = $1 AND l.course_id = $2 ORDER BY r.id",
            prefixed(RESULT_COLUMNS, "r")
        );
        Ok(rows!(self, ResultRecord, &sql, tenant, course)?)
    }
}

/// `RESULT_COLUMNS` with each column qualified by `alias`.
fn prefixed(columns: &str, alias: &str) -> String {
    columns
        .split(", ")
        .map(|column| {
            let column = column.trim();
            match column.strip_prefix("TS(") {
                Some(rest) => format!("TS({alias}.{rest}"),
                None => format!("{alias}.{column}"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
