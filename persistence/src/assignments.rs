//! Assignments: a course or one lesson given to a class, with an optional due date; each
//! class's list carries its completion (students on the roster who completed every published
//! lesson it covers), and a student's list is every published lesson their classes were given.

use serde::Serialize;

use crate::sql::{exec, row, rows};
use crate::{Store, StoreError};

/// One assignment of a class, with its completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssignmentRecord {
    /// The assignment id.
    pub id: String,
    /// The class.
    pub class_id: String,
    /// The course given (or `null` when one lesson is).
    pub course_id: Option<String>,
    /// The lesson given (or `null` when a course is).
    pub lesson_id: Option<String>,
    /// The course's or lesson's title.
    pub title: String,
    /// When it is due (ISO-8601 UTC), if ever.
    pub due_at: Option<String>,
    /// Who assigned it.
    pub assigned_by: Option<String>,
    /// When it was assigned.
    pub created_at: String,
    /// Students on the class's roster.
    pub students: i64,
    /// Students who completed every published lesson it covers.
    pub completed: i64,
}

/// What a new assignment gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assigned<'a> {
    /// A whole course.
    Course(&'a str),
    /// One lesson.
    Lesson(&'a str),
}

/// One published lesson a student was given, with their progress in it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssignedLesson {
    /// The lesson.
    pub lesson_id: String,
    /// Its title.
    pub title: String,
    /// Its course.
    pub course_id: String,
    /// The course's title.
    pub course_title: String,
    /// The class that was given it.
    pub class_id: String,
    /// The class's name.
    pub class_name: String,
    /// The assignment.
    pub assignment_id: String,
    /// When it is due, if ever.
    pub due_at: Option<String>,
    /// The Roblox experience that plays it, if any.
    pub roblox_universe_id: Option<i64>,
    /// The Roblox place that plays it, if any.
    pub roblox_place_id: Option<i64>,
    /// The student's completion, 0–100.
    pub completion_percent: f64,
}

const ASSIGNMENT_COLUMNS: &str = "a.id, a.class_id, a.course_id, a.lesson_id, \
     COALESCE(l.title, c.title, '') AS title, TS(a.due_at) AS due_at, a.assigned_by, \
     TS(a.created_at) AS created_at, \
     (SELECT COUNT(*) FROM class_members m WHERE m.tenant_id = a.tenant_id \
        AND m.class_id = a.class_id AND m.role_in_class = 'student') AS students, \
     (SELECT COUNT(*) FROM class_members m WHERE m.tenant_id = a.tenant_id \
        AND m.class_id = a.class_id AND m.role_in_class = 'student' \
        AND NOT EXISTS (SELECT 1 FROM lessons x WHERE x.tenant_id = a.tenant_id \
          AND (x.id = a.lesson_id OR (x.course_id = a.course_id AND x.published)) \
          AND NOT EXISTS (SELECT 1 FROM student_progress p WHERE p.tenant_id = a.tenant_id \
            AND p.user_id = m.user_id AND p.lesson_id = x.id AND p.completed_at IS NOT NULL))) \
       AS completed";

const ASSIGNMENT_FROM: &str = "FROM assignments a \
     LEFT JOIN lessons l ON l.tenant_id = a.tenant_id AND l.id = a.lesson_id \
     LEFT JOIN courses c ON c.tenant_id = a.tenant_id AND c.id = a.course_id";

impl Store {
    /// Gives `class` a course or a lesson (`due_at`: Unix seconds). A second assignment of the
    /// same course or lesson to the class is a unique violation.
    pub async fn create_assignment(
        &self,
        tenant: &str,
        id: &str,
        class: &str,
        what: &Assigned<'_>,
        due_at: Option<i64>,
        by: &str,
    ) -> Result<AssignmentRecord, StoreError> {
        let (course, lesson) = match what {
            Assigned::Course(course) => (Some(*course), None),
            Assigned::Lesson(lesson) => (None, Some(*lesson)),
        };
        exec!(
            self,
            "INSERT INTO assignments (id, tenant_id, class_id, course_id, lesson_id, due_at, assigned_by) \
             VALUES ($1, $2, $3, $4, $5, EPOCH($6), $7)",
            id,
            tenant,
            class,
            course,
            lesson,
            due_at,
            by
        )?;
        self.assignment(tenant, class, id)
            .await?
            .ok_or(StoreError::Query(sqlx::Error::RowNotFound))
    }

    /// One assignment of a class.
    pub async fn assignment(
        &self,
        tenant: &str,
        class: &str,
        id: &str,
    ) -> Result<Option<AssignmentRecord>, StoreError> {
        let sql = format!(
            "SELECT {ASSIGNMENT_COLUMNS} {ASSIGNMENT_FROM} \
             WHERE a.tenant_id = $1 AND a.class_id = $2 AND a.id = $3"
        );
        Ok(row!(self, AssignmentRecord, &sql, tenant, class, id)?)
    }

    /// A class's assignments, the soonest due first (undated last), then by when assigned.
    pub async fn assignments(
        &self,
        tenant: &str,
        class: &str,
    ) -> Result<Vec<AssignmentRecord>, StoreError> {
        let sql = format!(
            "SELECT {ASSIGNMENT_COLUMNS} {ASSIGNMENT_FROM} \
             WHERE a.tenant_id = $1 AND a.class_id = $2 \
             ORDER BY a.due_at IS NULL, a.due_at, a.created_at, a.id"
        );
        Ok(rows!(self, AssignmentRecord, &sql, tenant, class)?)
    }

    /// Removes an assignment; whether it existed.
    pub async fn delete_assignment(
        &self,
        tenant: &str,
        class: &str,
        id: &str,
    ) -> Result<bool, StoreError> {
        let deleted = exec!(
            self,
            "DELETE FROM assignments WHERE tenant_id = $1 AND class_id = $2 AND id = $3",
            tenant,
            class,
            id
        )?;
        Ok(deleted > 0)
    }

    /// The published lessons `student`'s live classes were given (at most `limit`), the soonest
    /// due first, then in course order.
    pub async fn assigned_lessons(
        &self,
        tenant: &str,
        student: &str,
        limit: u32,
    ) -> Result<Vec<AssignedLesson>, StoreError> {
        Ok(rows!(
            self,
            AssignedLesson,
            "SELECT x.id AS lesson_id, x.title, x.course_id, c.title AS course_title, \
                    a.class_id, cl.name AS class_name, a.id AS assignment_id, TS(a.due_at) AS due_at, \
                    x.roblox_universe_id, x.roblox_place_id, \
                    COALESCE((SELECT MAX(p.completion_percent) FROM student_progress p \
                      WHERE p.tenant_id = $1 AND p.user_id = $2 AND p.lesson_id = x.id), 0.0) \
                      AS completion_percent \
             FROM class_members m \
             JOIN classes cl ON cl.tenant_id = m.tenant_id AND cl.id = m.class_id AND cl.archived_at IS NULL \
             JOIN assignments a ON a.tenant_id = m.tenant_id AND a.class_id = m.class_id \
             JOIN lessons x ON x.tenant_id = a.tenant_id AND x.published \
               AND (x.id = a.lesson_id OR x.course_id = a.course_id) \
             JOIN courses c ON c.tenant_id = x.tenant_id AND c.id = x.course_id AND c.published \
             WHERE m.tenant_id = $1 AND m.user_id = $2 \
             ORDER BY a.due_at IS NULL, a.due_at, c.id, x.position, x.id, a.class_id \
             LIMIT $3",
            tenant,
            student,
            i64::from(limit)
        )?)
    }

    /// Whether a live class of `tenant` was given `lesson` (alone or with its course).
    pub async fn lesson_assigned(&self, tenant: &str, lesson: &str) -> Result<bool, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Found {
            #[allow(dead_code)]
            one: i64,
        }
        let found = row!(
            self,
            Found,
            "SELECT CAST(1 AS BIGINT) AS one FROM assignments a \
             JOIN classes cl ON cl.tenant_id = a.tenant_id AND cl.id = a.class_id AND cl.archived_at IS NULL \
             JOIN lessons x ON x.tenant_id = a.tenant_id AND x.id = $2 \
             WHERE a.tenant_id = $1 AND (a.lesson_id = x.id OR a.course_id = x.course_id) LIMIT 1",
            tenant,
            lesson
        )?;
        Ok(found.is_some())
    }
}
