//! The tutor's conversation threads: one row per thread in `tutor_threads` (its owner, a title,
//! the running summary of older turns) and its recent turns in `tutor_turns`. A turn is numbered
//! by the thread's `turns_total` counter, taken in one statement ([`Store::append_turn`]), so
//! concurrent questions in one thread never share a number; folding the oldest turns into the
//! summary ([`Store::fold_thread`]) is one transaction that only applies when nobody folded in
//! between, and deletes exactly the turns the thread now says are folded.
//!
//! What a summary says and how many turns are kept is the server's choice (`server::ai::threads`);
//! this module stores what it is given.

use serde::Serialize;

use crate::sql::{Arg, Page, Paged, exec, exec_all, row, rows};
use crate::{Store, StoreError};

/// One row of `tutor_threads`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ThreadRecord {
    /// The thread id.
    pub id: String,
    /// Whose conversation it is.
    pub user_id: String,
    /// The first question, shortened.
    pub title: String,
    /// What the turns no longer kept said, oldest first (empty until a turn is folded).
    pub summary: String,
    /// Turns asked so far, kept or folded.
    pub turns_total: i64,
    /// The last turn folded into the summary (0: none).
    pub folded_through: i64,
    /// Created (ISO-8601 UTC).
    pub created_at: String,
    /// Last turn (ISO-8601 UTC).
    pub updated_at: String,
}

/// One row of `tutor_turns`: a question and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TurnRecord {
    /// The turn id.
    pub id: String,
    /// Its number in the thread, from 1.
    pub seq: i64,
    /// The lesson it was asked about, if any.
    pub lesson_id: Option<String>,
    /// The `agent_tasks` row of the answer.
    pub task_id: Option<String>,
    /// The question.
    pub question: String,
    /// The answer (as stored: at most `--ai-thread-answer-chars`).
    pub answer: String,
    /// Asked (ISO-8601 UTC).
    pub created_at: String,
}

/// A turn to add to a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTurn<'a> {
    /// The turn id.
    pub id: &'a str,
    /// The owner of the thread.
    pub user_id: &'a str,
    /// The lesson, if any.
    pub lesson_id: Option<&'a str>,
    /// The task that answered.
    pub task_id: &'a str,
    /// The question.
    pub question: &'a str,
    /// The answer.
    pub answer: &'a str,
}

const THREAD_COLUMNS: &str = "id, user_id, title, summary, turns_total, folded_through, \
                              TS(created_at) AS created_at, TS(updated_at) AS updated_at";

const TURN_COLUMNS: &str =
    "id, seq, lesson_id, task_id, question, answer, TS(created_at) AS created_at";

impl Store {
    /// Starts an empty thread for `user`.
    pub async fn create_thread(
        &self,
        tenant: &str,
        id: &str,
        user: &str,
        title: &str,
    ) -> Result<ThreadRecord, StoreError> {
        exec!(
            self,
            "INSERT INTO tutor_threads (tenant_id, id, user_id, title) VALUES ($1, $2, $3, $4)",
            tenant,
            id,
            user,
            title
        )?;
        self.thread(tenant, id)
            .await?
            .ok_or(StoreError::Query(sqlx::Error::RowNotFound))
    }

    /// The thread `id` of the tenant.
    pub async fn thread(&self, tenant: &str, id: &str) -> Result<Option<ThreadRecord>, StoreError> {
        let sql =
            format!("SELECT {THREAD_COLUMNS} FROM tutor_threads WHERE tenant_id = $1 AND id = $2");
        Ok(row!(self, ThreadRecord, &sql, tenant, id)?)
    }

    /// A page of `user`'s threads, newest first (ids sort by creation); the page key is the id.
    pub async fn threads_of(
        &self,
        tenant: &str,
        user: &str,
        page: &Page<String>,
    ) -> Result<Paged<ThreadRecord>, StoreError> {
        let sql = format!(
            "SELECT {THREAD_COLUMNS} FROM tutor_threads WHERE tenant_id = $1 AND user_id = $2 \
             AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4"
        );
        let after = page.after.clone().unwrap_or_default();
        let limit = i64::from(page.limit) + 1;
        let items = rows!(self, ThreadRecord, &sql, tenant, user, after, limit)?;
        Ok(Paged::cut(items, page.limit))
    }

    /// The turns a thread keeps, oldest first.
    pub async fn thread_turns(
        &self,
        tenant: &str,
        thread: &str,
    ) -> Result<Vec<TurnRecord>, StoreError> {
        let sql = format!(
            "SELECT {TURN_COLUMNS} FROM tutor_turns WHERE tenant_id = $1 AND thread_id = $2 \
             ORDER BY seq"
        );
        Ok(rows!(self, TurnRecord, &sql, tenant, thread)?)
    }

    /// Adds a turn at the end of a thread; returns its number, or `None` when the thread is gone
    /// (deleted while the answer was written).
    pub async fn append_turn(
        &self,
        tenant: &str,
        thread: &str,
        turn: &NewTurn<'_>,
    ) -> Result<Option<i64>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Counted {
            turns_total: i64,
        }
        let counted = row!(
            self,
            Counted,
            "UPDATE tutor_threads SET turns_total = turns_total + 1, updated_at = NOW() \
             WHERE tenant_id = $1 AND id = $2 RETURNING turns_total",
            tenant,
            thread
        )?;
        let Some(Counted { turns_total: seq }) = counted else {
            return Ok(None);
        };
        let inserted = exec!(
            self,
            "INSERT INTO tutor_turns (tenant_id, id, thread_id, user_id, seq, lesson_id, task_id, \
             question, answer) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
             WHERE EXISTS (SELECT 1 FROM tutor_threads WHERE tenant_id = $1 AND id = $3)",
            tenant,
            turn.id,
            thread,
            turn.user_id,
            seq,
            turn.lesson_id,
            turn.task_id,
            turn.question,
            turn.answer
        )?;
        Ok((inserted == 1).then_some(seq))
    }

    /// Replaces a thread's summary with `summary`, which covers every turn up to `through`, and
    /// deletes those turns; applies only if the thread still has `expected_through` folded
    /// (`false`: another request folded first, or the thread is gone).
    pub async fn fold_thread(
        &self,
        tenant: &str,
        thread: &str,
        expected_through: i64,
        through: i64,
        summary: &str,
    ) -> Result<bool, StoreError> {
        let key = || -> Vec<Arg> { vec![tenant.into(), thread.into()] };
        let mut update = key();
        update.extend([summary.into(), through.into(), expected_through.into()]);
        let affected = exec_all!(
            self,
            vec![
                (
                    "UPDATE tutor_threads SET summary = $3, folded_through = $4 \
                     WHERE tenant_id = $1 AND id = $2 AND folded_through = $5",
                    update
                ),
                (
                    "DELETE FROM tutor_turns WHERE tenant_id = $1 AND thread_id = $2 AND seq <= \
                     (SELECT folded_through FROM tutor_threads WHERE tenant_id = $1 AND id = $2)",
                    key()
                ),
            ]
        )?;
        Ok(affected.first() == Some(&1))
    }

    /// Deletes a thread and its turns; returns whether it existed.
    pub async fn delete_thread(&self, tenant: &str, thread: &str) -> Result<bool, StoreError> {
        let key = || -> Vec<Arg> { vec![tenant.into(), thread.into()] };
        let affected = exec_all!(
            self,
            vec![
                (
                    "DELETE FROM tutor_turns WHERE tenant_id = $1 AND thread_id = $2",
                    key()
                ),
                (
                    "DELETE FROM tutor_threads WHERE tenant_id = $1 AND id = $2",
                    key()
                ),
            ]
        )?;
        Ok(affected.last() == Some(&1))
    }
}
