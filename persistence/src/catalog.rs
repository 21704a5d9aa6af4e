//! Finding content: the descriptive fields courses and lessons share ([`Metadata`]: subject,
//! grade band, difficulty, tags, minutes, objectives) and one search over each table
//! ([`Store::find_courses`], [`Store::find_lessons`]): filters on those fields, words searched
//! with the database's own full-text index (PostgreSQL's stored `tsvector`, SQLite's FTS5 table,
//! both with English stemming; see migration 0012), a few sort orders, tenant-scoped and paged by
//! keyset ([`FindKey`]: the sort value and the id of the last row, so pages never skip or repeat
//! while rows are added). A lesson without its own subject, grade band or difficulty is filtered
//! by its course's.

use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::content::{COURSE_COLUMNS, LESSON_COLUMNS};
use crate::sql::{Page, Paged, rows};
use crate::store::Backend;
use crate::{CourseRecord, LessonRecord, Store, StoreError};

/// The descriptive fields of a course or a lesson, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Metadata {
    /// The subject, e.g. `math`.
    pub subject: Option<String>,
    /// The lowest grade it suits (0 = kindergarten).
    pub grade_min: Option<i64>,
    /// The highest grade it suits.
    pub grade_max: Option<i64>,
    /// `introductory`, `intermediate` or `advanced`.
    pub difficulty: Option<String>,
    /// Lower-case tags.
    #[sqlx(json)]
    pub tags: Vec<String>,
    /// Estimated minutes to complete.
    pub duration_minutes: Option<i64>,
    /// Learning objectives.
    #[sqlx(json)]
    pub objectives: Vec<String>,
}

/// The descriptive fields a create or update sets (`None`: unchanged, or empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataFields {
    /// Subject.
    pub subject: Option<String>,
    /// Lowest grade.
    pub grade_min: Option<i64>,
    /// Highest grade.
    pub grade_max: Option<i64>,
    /// Difficulty.
    pub difficulty: Option<String>,
    /// Tags (replacing all).
    pub tags: Option<Vec<String>>,
    /// Estimated minutes.
    pub duration_minutes: Option<i64>,
    /// Objectives (replacing all).
    pub objectives: Option<Vec<String>>,
}

impl MetadataFields {
    /// The tags as a JSON parameter.
    pub(crate) fn tags_json(&self) -> Option<Json<&Vec<String>>> {
        self.tags.as_ref().map(Json)
    }

    /// The objectives as a JSON parameter.
    pub(crate) fn objectives_json(&self) -> Option<Json<&Vec<String>>> {
        self.objectives.as_ref().map(Json)
    }
}

/// The metadata columns, as read (integers widened for both backends); a macro so that the
/// record's column lists can `concat!` it.
macro_rules! metadata_columns {
    () => {
        "subject, CAST(grade_min AS BIGINT) AS grade_min, CAST(grade_max AS BIGINT) AS grade_max, \
         difficulty, tags, CAST(duration_minutes AS BIGINT) AS duration_minutes, objectives"
    };
}
pub(crate) use metadata_columns;

/// What to look for; every field narrows the list (all empty: everything the caller may see).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindFilter {
    /// Words that must all appear (stemmed) in the title or text.
    pub words: Vec<String>,
    /// Only this subject (any case).
    pub subject: Option<String>,
    /// Only content whose grade band includes this grade.
    pub grade: Option<i64>,
    /// Only this difficulty.
    pub difficulty: Option<String>,
    /// Only content with this tag.
    pub tag: Option<String>,
    /// Lessons only: of this course.
    pub course: Option<String>,
    /// Only published content (lessons: of a published course too).
    pub published_only: bool,
}

/// The order of a search's results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FindSort {
    /// The list's natural order: courses by id, lessons by course position.
    #[default]
    Natural,
    /// Best match first (needs words).
    Relevance,
    /// By title, A to Z.
    Title,
    /// Most recently changed first.
    Updated,
    /// Shortest estimated duration first (none last).
    Duration,
}

/// The sort key of a result: its number, its text and its id (which of the first two the
/// order uses depends on the [`FindSort`]).
pub type FindKey = (i64, String, String);

/// One result and its sort key.
#[derive(Debug, Clone, PartialEq)]
pub struct Found<T> {
    /// The row.
    pub item: T,
    /// Its key, for the next page's cursor.
    pub key: FindKey,
}

#[derive(sqlx::FromRow)]
struct CourseHit {
    #[sqlx(flatten)]
    item: CourseRecord,
    sort_int: i64,
    sort_text: String,
}

#[derive(sqlx::FromRow)]
struct LessonHit {
    #[sqlx(flatten)]
    item: LessonRecord,
    sort_int: i64,
    sort_text: String,
}

/// The table searched.
#[derive(Clone, Copy)]
enum Table {
    Courses,
    Lessons,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Courses => "courses",
            Table::Lessons => "lessons",
        }
    }
}

/// The full-text query for `words`: FTS5 phrases (`"w1" "w2"`, all required) or the plain text
/// PostgreSQL's `plainto_tsquery` ANDs. Words are letters and digits only (the caller splits).
fn text_query(backend: Backend, words: &[String]) -> String {
    match backend {
        Backend::Sqlite => words
            .iter()
            .map(|word| format!("\"{word}\""))
            .collect::<Vec<_>>()
            .join(" "),
        Backend::Postgres => words.join(" "),
    }
}

/// The statement of one search. Parameters: $1 tenant, $2 published only, $3 course, $4
/// subject, $5 grade (-1: any), $6 difficulty, $7 tag, $8 the text query, $9 first page,
/// $10–$12 the previous page's key, $13 rows.
fn find_sql(backend: Backend, table: Table, searching: bool, sort: FindSort) -> String {
    let name = table.name();
    let columns = match table {
        Table::Courses => COURSE_COLUMNS,
        Table::Lessons => LESSON_COLUMNS,
    };
    // SQLite: the full-text matches first (CROSS JOIN keeps that order), so a search never scans
    // the tenant's rows and runs the match once per row; PostgreSQL plans the GIN index itself.
    let (from, matches, score) = match (searching, backend) {
        (false, _) => (name.to_owned(), "$8 = ''".to_owned(), "0".to_owned()),
        (true, Backend::Postgres) => (
            name.to_owned(),
            "search @@ plainto_tsquery('english', $8)".to_owned(),
            "ts_rank(search, plainto_tsquery('english', $8)) * 1000000".to_owned(),
        ),
        (true, Backend::Sqlite) => (
            format!(
                "(SELECT rowid AS fts_rowid, id AS fts_id, bm25({name}_fts, 0.0, 10.0, 1.0) \
                 AS fts_rank FROM {name}_fts WHERE {name}_fts MATCH $8) f CROSS JOIN {name}"
            ),
            format!("f.fts_rowid = {name}.rowid AND f.fts_id = {name}.id"),
            "-f.fts_rank * 1000000".to_owned(),
        ),
    };
    let published = match table {
        Table::Courses => "(published OR NOT $2)",
        Table::Lessons => {
            "(NOT $2 OR (published AND EXISTS (SELECT 1 FROM courses c WHERE c.tenant_id = \
             lessons.tenant_id AND c.id = lessons.course_id AND c.published)))"
        }
    };
    let course = match table {
        Table::Courses => "$3 = ''",
        Table::Lessons => "($3 = '' OR course_id = $3)",
    };
    // A lesson without its own subject, grade band or difficulty is found by its course's.
    let inherited = |column: &str| match table {
        Table::Courses => column.to_owned(),
        Table::Lessons => format!(
            "COALESCE({column}, (SELECT c.{column} FROM courses c WHERE c.tenant_id = \
             lessons.tenant_id AND c.id = lessons.course_id))"
        ),
    };
    let (subject, difficulty) = (inherited("subject"), inherited("difficulty"));
    let (grade_min, grade_max) = (inherited("grade_min"), inherited("grade_max"));
    let natural = match table {
        Table::Courses => "0",
        Table::Lessons => "CAST(position AS BIGINT)",
    };
    // (number, text) of each row for the order, the order, and how the next page continues
    // after a key.
    let (sort_int, sort_text, order, after) = match sort {
        FindSort::Natural => (
            natural.to_owned(),
            "''".to_owned(),
            "sort_int, found_id",
            "(sort_int > $10 OR (sort_int = $10 AND found_id > $12))",
        ),
        FindSort::Relevance => (
            score,
            "''".to_owned(),
            "sort_int DESC, found_id",
            "(sort_int < $10 OR (sort_int = $10 AND found_id > $12))",
        ),
        FindSort::Title => (
            "0".to_owned(),
            "title".to_owned(),
            "sort_text, found_id",
            "(sort_text > $11 OR (sort_text = $11 AND found_id > $12))",
        ),
        FindSort::Updated => (
            "0".to_owned(),
            "TS(updated_at)".to_owned(),
            "sort_text DESC, found_id",
            "(sort_text < $11 OR (sort_text = $11 AND found_id > $12))",
        ),
        FindSort::Duration => (
            "COALESCE(duration_minutes, 2147483647)".to_owned(),
            "''".to_owned(),
            "sort_int, found_id",
            "(sort_int > $10 OR (sort_int = $10 AND found_id > $12))",
        ),
    };
    // Only ids and sort keys are ranked; the page's rows are read whole afterwards.
    let outer_order = order
        .replace("sort_int", "page.sort_int")
        .replace("sort_text", "page.sort_text")
        .replace("found_id", "page.found_id");
    format!(
        "SELECT {columns}, page.sort_int, page.sort_text FROM (SELECT found_id, sort_int, sort_text \
         FROM (SELECT {name}.id AS found_id, CAST({sort_int} AS BIGINT) AS sort_int, \
         {sort_text} AS sort_text FROM {from} WHERE {name}.tenant_id = $1 AND {published} \
         AND {course} AND ($4 = '' OR lower({subject}) = lower($4)) \
         AND ($5 < 0 OR ({grade_min} <= $5 AND COALESCE({grade_max}, {grade_min}) >= $5)) \
         AND ($6 = '' OR {difficulty} = $6) AND ($7 = '' OR JSON_HAS(tags, $7)) AND {matches}) found \
         WHERE ($9 OR {after}) ORDER BY {order} LIMIT $13) page \
         JOIN {name} ON {name}.tenant_id = $1 AND {name}.id = page.found_id ORDER BY {outer_order}"
    )
}

macro_rules! find {
    ($store:expr, $hit:ty, $table:expr, $tenant:expr, $filter:expr, $sort:expr, $page:expr) => {{
        let store: &Store = $store;
        let filter: &FindFilter = $filter;
        let page: &Page<FindKey> = $page;
        let searching = !filter.words.is_empty();
        let sort = match $sort {
            FindSort::Relevance if !searching => FindSort::Natural,
            sort => sort,
        };
        let sql = find_sql(store.backend(), $table, searching, sort);
        let (after_int, after_text, after_id) = page.after.clone().unwrap_or_default();
        let hits = rows!(
            store,
            $hit,
            &sql,
            $tenant,
            filter.published_only,
            filter.course.as_deref().unwrap_or(""),
            filter.subject.as_deref().unwrap_or(""),
            filter.grade.unwrap_or(-1),
            filter.difficulty.as_deref().unwrap_or(""),
            filter.tag.as_deref().unwrap_or(""),
            text_query(store.backend(), &filter.words),
            page.after.is_none(),
            after_int,
            after_text,
            after_id,
            i64::from(page.limit) + 1
        )?;
        let found = hits
            .into_iter()
            .map(|hit| Found {
                key: (hit.sort_int, hit.sort_text, hit.item.id.clone()),
                item: hit.item,
            })
            .collect();
        Ok(Paged::cut(found, page.limit))
    }};
}

impl Store {
    /// Courses of `tenant` matching `filter`, in `sort` order (relevance needs words; without
    /// them it is the natural order).
    pub async fn find_courses(
        &self,
        tenant: &str,
        filter: &FindFilter,
        sort: FindSort,
        page: &Page<FindKey>,
    ) -> Result<Paged<Found<CourseRecord>>, StoreError> {
        find!(self, CourseHit, Table::Courses, tenant, filter, sort, page)
    }

    /// Lessons of `tenant` (of one course when `filter.course` names it) matching `filter`, in
    /// `sort` order.
    pub async fn find_lessons(
        &self,
        tenant: &str,
        filter: &FindFilter,
        sort: FindSort,
        page: &Page<FindKey>,
    ) -> Result<Paged<Found<LessonRecord>>, StoreError> {
        find!(self, LessonHit, Table::Lessons, tenant, filter, sort, page)
    }
}
