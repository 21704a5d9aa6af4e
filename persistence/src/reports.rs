//! Reads of `student_progress` for the progress and analytics routes: per student, per class
//! (its roster) and per course, paged by their natural keys; and the unpaged sets analytics
//! aggregate in the server.

use serde::Serialize;

use crate::sql::{Page, Paged, rows};
use crate::{Store, StoreError};

/// One row of `student_progress`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgressRecord {
    /// The student.
    pub user_id: String,
    /// The course (empty when the game did not say).
    pub course_id: String,
    /// The lesson.
    pub lesson_id: String,
    /// Highest completion seen, 0–100.
    pub completion_percent: f64,
    /// Time spent, summed.
    pub time_spent_secs: i64,
    /// When 100 % was first reached.
    pub completed_at: Option<String>,
    /// When it last changed.
    pub updated_at: String,
}

const COLUMNS: &str = "p.user_id, p.course_id, p.lesson_id, p.completion_percent, p.time_spent_secs, \
     TS(p.completed_at) AS completed_at, TS(p.updated_at) AS updated_at";

impl Store {
    /// A student's progress, by (course, lesson), optionally in one course.
    pub async fn progress_of_student(
        &self,
        tenant: &str,
        user: &str,
        course: Option<&str>,
        page: &Page<(String, String)>,
    ) -> Result<Paged<ProgressRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM student_progress p WHERE p.tenant_id = $1 AND p.user_id = $2 \
             AND ($3 = '' OR p.course_id = $3) AND (NOT $4 OR (p.course_id, p.lesson_id) > ($5, $6)) \
             ORDER BY p.course_id, p.lesson_id LIMIT $7"
        );
        let (after_course, after_lesson) = page.after.clone().unwrap_or_default();
        let items = rows!(
            self,
            ProgressRecord,
            &sql,
            tenant,
            user,
            course.unwrap_or(""),
            page.after.is_some(),
            after_course,
            after_lesson,
            i64::from(page.limit) + 1
        )?;
        Ok(Paged::cut(items, page.limit))
    }

    /// The progress of a class roster's students, by (student, course, lesson).
    pub async fn progress_of_class(
        &self,
        tenant: &str,
        class: &str,
        course: Option<&str>,
        page: &Page<(String, String, String)>,
    ) -> Result<Paged<ProgressRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM student_progress p JOIN class_members m ON m.tenant_id = p.tenant_id \
             AND m.user_id = p.user_id WHERE p.tenant_id = $1 AND m.class_id = $2 \
             AND ($3 = '' OR p.course_id = $3) \
             AND (NOT $4 OR (p.user_id, p.course_id, p.lesson_id) > ($5, $6, $7)) \
             ORDER BY p.user_id, p.course_id, p.lesson_id LIMIT $8"
        );
        let (after_user, after_course, after_lesson) = page.after.clone().unwrap_or_default();
        let items = rows!(
            self,
            ProgressRecord,
            &sql,
            tenant,
            class,
            course.unwrap_or(""),
            page.after.is_some(),
            after_user,
            after_course,
            after_lesson,
            i64::from(page.limit) + 1
        )?;
        Ok(Paged::cut(items, page.limit))
    }

    /// The progress of every student in a course, by (student, lesson).
    pub async fn progress_of_course(
        &self,
        tenant: &str,
        course: &str,
        page: &Page<(String, String)>,
    ) -> Result<Paged<ProgressRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM student_progress p WHERE p.tenant_id = $1 AND p.course_id = $2 \
             AND (NOT $3 OR (p.user_id, p.lesson_id) > ($4, $5)) ORDER BY p.user_id, p.lesson_id LIMIT $6"
        );
        let (after_user, after_lesson) = page.after.clone().unwrap_or_default();
        let items = rows!(
            self,
            ProgressRecord,
            &sql,
            tenant,
            course,
            page.after.is_some(),
            after_user,
            after_lesson,
            i64::from(page.limit) + 1
        )?;
        Ok(Paged::cut(items, page.limit))
    }

    /// Every progress row of a class roster's students (for analytics), optionally one course.
    pub async fn all_progress_of_class(
        &self,
        tenant: &str,
        class: &str,
        course: Option<&str>,
    ) -> Result<Vec<ProgressRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM student_progress p JOIN class_members m ON m.tenant_id = p.tenant_id \
             AND m.user_id = p.user_id WHERE p.tenant_id = $1 AND m.class_id = $2 \
             AND ($3 = '' OR p.course_id = $3) ORDER BY p.user_id, p.course_id, p.lesson_id"
        );
        Ok(rows!(
            self,
            ProgressRecord,
            &sql,
            tenant,
            class,
            course.unwrap_or("")
        )?)
    }

    /// Every progress row of a course (for analytics).
    pub async fn all_progress_of_course(
        &self,
        tenant: &str,
        course: &str,
    ) -> Result<Vec<ProgressRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM student_progress p WHERE p.tenant_id = $1 AND p.course_id = $2 \
             ORDER BY p.user_id, p.lesson_id"
        );
        Ok(rows!(self, ProgressRecord, &sql, tenant, course)?)
    }
}
