//! Lesson revisions (`lesson_revisions`, migration 0012): an edit through
//! [`Store::update_lesson`] with a [`KeepRevision`] first copies the lesson as it was, and
//! [`Store::restore_lesson`] puts a revision back the same way (so a restore can be undone).
//! Only the newest `keep` revisions of a lesson are kept; deleting the lesson deletes them.

use serde::Serialize;
use serde_json::Value;

use crate::catalog::{Metadata, metadata_columns};
use crate::sql::{Arg, Page, Paged, exec_all, row, rows};
use crate::{LessonRecord, Store, StoreError};

/// Keep the lesson as it is before changing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepRevision<'a> {
    /// Who is changing it.
    pub replaced_by: &'a str,
    /// Revisions to keep per lesson (older ones are dropped in the same transaction).
    pub keep: i64,
}

/// One earlier version of a lesson.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LessonRevision {
    /// The lesson.
    pub lesson_id: String,
    /// Its number (1 for the first version replaced; counts up).
    pub revision: i64,
    /// The title then.
    pub title: String,
    /// The content then.
    #[sqlx(json(nullable))]
    pub content: Option<Value>,
    /// The Roblox universe then.
    pub roblox_universe_id: Option<i64>,
    /// The Roblox place then.
    pub roblox_place_id: Option<i64>,
    /// The descriptive fields then.
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub meta: Metadata,
    /// When this version was saved.
    pub written_at: String,
    /// When it was replaced.
    pub replaced_at: String,
    /// Who replaced it.
    pub replaced_by: Option<String>,
}

const REVISION_COLUMNS: &str = concat!(
    "lesson_id, CAST(revision AS BIGINT) AS revision, title, content, roblox_universe_id, \
     roblox_place_id, ",
    metadata_columns!(),
    ", TS(written_at) AS written_at, TS(replaced_at) AS replaced_at, replaced_by"
);

/// The columns a revision copies from the lesson (and a restore puts back), named alike in both
/// tables.
const COPIED: &str = "title, content, roblox_universe_id, roblox_place_id, subject, grade_min, \
     grade_max, difficulty, tags, duration_minutes, objectives";

/// The statements that keep the lesson's current version as its next revision (replaced by
/// `keep.replaced_by`), run `change`, and drop the revisions past `keep.keep`: one transaction.
pub(crate) fn around_change<'a>(
    tenant: &str,
    lesson: &str,
    keep: KeepRevision<'_>,
    save: &'a str,
    change: (&'a str, Vec<Arg>),
) -> Vec<(&'a str, Vec<Arg>)> {
    let key = || -> Vec<Arg> { vec![tenant.into(), lesson.into()] };
    vec![
        (save, [key(), vec![keep.replaced_by.into()]].concat()),
        change,
        (
            "DELETE FROM lesson_revisions WHERE tenant_id = $1 AND lesson_id = $2 \
             AND revision <= (SELECT MAX(revision) FROM lesson_revisions \
             WHERE tenant_id = $1 AND lesson_id = $2) - $3",
            [key(), vec![Arg::Int(keep.keep)]].concat(),
        ),
    ]
}

/// The statement that copies the lesson ($1 tenant, $2 id) as its next revision, replaced by $3.
pub(crate) fn save_revision_sql() -> String {
    format!(
        "INSERT INTO lesson_revisions (tenant_id, lesson_id, revision, {COPIED}, written_at, \
         replaced_by) SELECT tenant_id, id, (SELECT COALESCE(MAX(revision), 0) + 1 \
         FROM lesson_revisions WHERE tenant_id = $1 AND lesson_id = $2), {COPIED}, updated_at, $3 \
         FROM lessons WHERE tenant_id = $1 AND id = $2"
    )
}

impl Store {
    /// A lesson's revisions, newest first (keyed by revision number).
    pub async fn lesson_revisions(
        &self,
        tenant: &str,
        lesson: &str,
        page: &Page<i64>,
    ) -> Result<Paged<LessonRevision>, StoreError> {
        let sql = format!(
            "SELECT {REVISION_COLUMNS} FROM lesson_revisions WHERE tenant_id = $1 AND lesson_id = $2 \
             AND revision < $3 ORDER BY revision DESC LIMIT $4"
        );
        let limit = i64::from(page.limit) + 1;
        let items = rows!(
            self,
            LessonRevision,
            &sql,
            tenant,
            lesson,
            page.after.unwrap_or(i64::MAX),
            limit
        )?;
        Ok(Paged::cut(items, page.limit))
    }

    /// One revision of a lesson.
    pub async fn lesson_revision(
        &self,
        tenant: &str,
        lesson: &str,
        revision: i64,
    ) -> Result<Option<LessonRevision>, StoreError> {
        let sql = format!(
            "SELECT {REVISION_COLUMNS} FROM lesson_revisions WHERE tenant_id = $1 AND lesson_id = $2 \
             AND revision = $3"
        );
        Ok(row!(self, LessonRevision, &sql, tenant, lesson, revision)?)
    }

    /// Puts revision `revision` of a lesson back as it was (the current version is kept as a
    /// revision first, so a restore can be undone). `Ok(None)` when the lesson or the revision
    /// does not exist.
    pub async fn restore_lesson(
        &self,
        tenant: &str,
        lesson: &str,
        revision: i64,
        keep: KeepRevision<'_>,
    ) -> Result<Option<LessonRecord>, StoreError> {
        if self
            .lesson_revision(tenant, lesson, revision)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let save = save_revision_sql();
        let restore = format!(
            "UPDATE lessons SET ({COPIED}) = (SELECT {COPIED} FROM lesson_revisions \
             WHERE tenant_id = $1 AND lesson_id = $2 AND revision = $3), updated_at = NOW() \
             WHERE tenant_id = $1 AND id = $2"
        );
        let change = (
            restore.as_str(),
            vec![tenant.into(), lesson.into(), Arg::Int(revision)],
        );
        exec_all!(self, around_change(tenant, lesson, keep, &save, change))?;
        self.lesson(tenant, lesson).await
    }
}
