//! AI agent tasks: one `agent_tasks` row per call to the AI tutor, moving pending → running →
//! completed or failed, with the tokens it used; and `ai_usage`, each tenant's tokens per UTC
//! day (settled and reserved), which the daily quota is enforced against: a call reserves before
//! the model is asked ([`Store::reserve_ai_tokens`], one conditional upsert) and settles to its
//! real usage after ([`Store::settle_ai_tokens`]).
//!
//! Staff read the tasks back in pages ([`Store::agent_tasks_page`], newest first, filtered by
//! [`TaskFilter`]); the tutor's suggestions read a student's best quiz score per lesson
//! ([`Store::lesson_scores`]).

use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;

use crate::sql::{Page, Paged, exec, row, rows};
use crate::store::Backend;
use crate::{Store, StoreError};

/// One row of `agent_tasks`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentTaskRecord {
    /// The task id.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// Who asked.
    pub user_id: String,
    /// `ask`, `explain`, `generate_content`, `create_assessment`.
    pub kind: String,
    /// `pending`, `running`, `completed` or `failed`.
    pub status: String,
    /// What was asked (JSON).
    #[sqlx(json(nullable))]
    pub input: Option<Value>,
    /// What came back (JSON).
    #[sqlx(json(nullable))]
    pub output: Option<Value>,
    /// Tokens the model used (prompt and completion).
    pub tokens_used: i64,
    /// Why it failed or was refused.
    pub error: Option<String>,
    /// The chat model that answered (`null` when the task never reached the model, e.g. refused
    /// by the safety screen, or was recorded before models were).
    pub model: Option<String>,
    /// Created (ISO-8601 UTC).
    pub created_at: String,
    /// Last change (ISO-8601 UTC).
    pub updated_at: String,
    /// When the model was asked (ISO-8601 UTC).
    pub started_at: Option<String>,
    /// When it completed or failed (ISO-8601 UTC).
    pub finished_at: Option<String>,
    /// Milliseconds from creation to the end (`null` while under way).
    pub duration_ms: Option<i64>,
}

/// Which tasks a page holds (each `None`: any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Tasks asked by this user.
    pub user_id: Option<String>,
    /// `pending`, `running`, `completed` or `failed`.
    pub status: Option<String>,
    /// `ask`, `explain`, `generate_content`, `create_assessment`.
    pub kind: Option<String>,
}

/// A lesson's best quiz score of one student.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LessonScore {
    /// The lesson.
    pub lesson_id: String,
    /// The best result over the lesson's assessments, 0–100.
    pub best_percent: f64,
}

/// The columns of an [`AgentTaskRecord`] in the backend's spelling.
fn columns(backend: Backend) -> String {
    let duration = match backend {
        Backend::Postgres => {
            "CAST(EXTRACT(EPOCH FROM (finished_at - created_at)) * 1000 AS BIGINT)"
        }
        Backend::Sqlite => {
            "CAST(ROUND((julianday(finished_at) - julianday(created_at)) * 86400000) AS INTEGER)"
        }
    };
    format!(
        "id, tenant_id, user_id, kind, status, input, output, tokens_used, error, model, \
         TS(created_at) AS created_at, TS(updated_at) AS updated_at, \
         TS(started_at) AS started_at, TS(finished_at) AS finished_at, {duration} AS duration_ms"
    )
}

impl Store {
    /// Stores a new task as `pending`.
    pub async fn insert_agent_task(
        &self,
        tenant: &str,
        id: &str,
        user: &str,
        kind: &str,
        input: &Value,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "INSERT INTO agent_tasks (id, tenant_id, user_id, kind, status, input) \
             VALUES ($1, $2, $3, $4, 'pending', $5::jsonb)",
            id,
            tenant,
            user,
            kind,
            Json(input)
        )?;
        Ok(())
    }

    /// Marks a task `running` on `model`.
    pub async fn start_agent_task(
        &self,
        tenant: &str,
        id: &str,
        model: &str,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "UPDATE agent_tasks SET status = 'running', model = $3, started_at = NOW(), \
             updated_at = NOW() WHERE tenant_id = $1 AND id = $2",
            tenant,
            id,
            model
        )?;
        Ok(())
    }

    /// Ends a task: `completed` with its output, or `failed` with the reason.
    pub async fn finish_agent_task(
        &self,
        tenant: &str,
        id: &str,
        outcome: Result<&Value, &str>,
        tokens_used: i64,
    ) -> Result<(), StoreError> {
        let (status, output, error) = match outcome {
            Ok(output) => ("completed", Some(Json(output)), None),
            Err(reason) => ("failed", None, Some(reason)),
        };
        exec!(
            self,
            "UPDATE agent_tasks SET status = $3, output = $4::jsonb, error = $5, tokens_used = $6, \
             updated_at = NOW(), finished_at = NOW() WHERE tenant_id = $1 AND id = $2",
            tenant,
            id,
            status,
            output,
            error,
            tokens_used.max(0)
        )?;
        Ok(())
    }

    /// One task of the tenant.
    pub async fn agent_task(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<AgentTaskRecord>, StoreError> {
        let columns = columns(self.backend());
        let sql = format!("SELECT {columns} FROM agent_tasks WHERE tenant_id = $1 AND id = $2");
        Ok(row!(self, AgentTaskRecord, &sql, tenant, id)?)
    }

    /// A user's newest tasks, newest first.
    pub async fn agent_tasks_of(
        &self,
        tenant: &str,
        user: &str,
        limit: u32,
    ) -> Result<Vec<AgentTaskRecord>, StoreError> {
        let columns = columns(self.backend());
        let sql = format!(
            "SELECT {columns} FROM agent_tasks WHERE tenant_id = $1 AND user_id = $2 \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        Ok(rows!(
            self,
            AgentTaskRecord,
            &sql,
            tenant,
            user,
            i64::from(limit)
        )?)
    }

    /// A page of the tenant's tasks matching `filter`, newest first (ids sort by creation); the
    /// page key is the id.
    pub async fn agent_tasks_page(
        &self,
        tenant: &str,
        filter: &TaskFilter,
        page: &Page<String>,
    ) -> Result<Paged<AgentTaskRecord>, StoreError> {
        let columns = columns(self.backend());
        let sql = format!(
            "SELECT {columns} FROM agent_tasks WHERE tenant_id = $1 AND ($2 = '' OR id < $2) \
             AND ($3 = '' OR user_id = $3) AND ($4 = '' OR status = $4) \
             AND ($5 = '' OR kind = $5) ORDER BY id DESC LIMIT $6"
        );
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        let items = rows!(
            self,
            AgentTaskRecord,
            &sql,
            tenant,
            text(&page.after),
            text(&filter.user_id),
            text(&filter.status),
            text(&filter.kind),
            i64::from(page.limit) + 1
        )?;
        Ok(Paged::cut(items, page.limit))
    }

    /// A student's best quiz score per lesson (results of assessments that belong to a lesson
    /// and have points to score).
    pub async fn lesson_scores(
        &self,
        tenant: &str,
        student: &str,
    ) -> Result<Vec<LessonScore>, StoreError> {
        Ok(rows!(
            self,
            LessonScore,
            "SELECT a.lesson_id AS lesson_id, \
             CAST(MAX(r.score * 100.0 / r.max_score) AS DOUBLE PRECISION) AS best_percent \
             FROM assessment_results r JOIN assessments a \
             ON a.tenant_id = r.tenant_id AND a.id = r.assessment_id \
             WHERE r.tenant_id = $1 AND r.user_id = $2 AND a.lesson_id IS NOT NULL \
             AND r.score IS NOT NULL AND r.max_score > 0 GROUP BY a.lesson_id ORDER BY a.lesson_id",
            tenant,
            student
        )?)
    }

    /// Tokens the tenant's tasks created since `since` (Unix seconds) used.
    pub async fn tokens_used_since(&self, tenant: &str, since: i64) -> Result<i64, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Total {
            total: i64,
        }
        let total = row!(
            self,
            Total,
            "SELECT CAST(COALESCE(SUM(tokens_used), 0) AS BIGINT) AS total FROM agent_tasks \
             WHERE tenant_id = $1 AND created_at >= EPOCH($2)",
            tenant,
            since
        )?;
        Ok(total.map_or(0, |total| total.total))
    }

    /// Reserves `amount` of the tenant's tokens for the UTC day starting at `day` (Unix
    /// seconds), unless the day's used + reserved tokens would then pass `quota`. One
    /// statement, so concurrent calls cannot both take the last tokens. `Ok(false)`: refused.
    pub async fn reserve_ai_tokens(
        &self,
        tenant: &str,
        day: i64,
        amount: i64,
        quota: i64,
    ) -> Result<bool, StoreError> {
        let reserved = exec!(
            self,
            "INSERT INTO ai_usage (tenant_id, day, used, reserved) \
             SELECT $1, $2, 0, $3 WHERE $3 <= $4 \
             ON CONFLICT (tenant_id, day) DO UPDATE SET reserved = ai_usage.reserved + excluded.reserved \
             WHERE ai_usage.used + ai_usage.reserved + excluded.reserved <= $4",
            tenant,
            day,
            amount.max(0),
            quota
        )?;
        Ok(reserved == 1)
    }

    /// Settles a reservation of `reserved` tokens made for `day`: the call used `used` tokens
    /// (0 gives the whole reservation back).
    pub async fn settle_ai_tokens(
        &self,
        tenant: &str,
        day: i64,
        reserved: i64,
        used: i64,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "UPDATE ai_usage SET used = used + $4, \
             reserved = CASE WHEN reserved > $3 THEN reserved - $3 ELSE 0 END \
             WHERE tenant_id = $1 AND day = $2",
            tenant,
            day,
            reserved.max(0),
            used.max(0)
        )?;
        Ok(())
    }

    /// The tenant's `(used, reserved)` tokens of the UTC day starting at `day`.
    pub async fn ai_usage(&self, tenant: &str, day: i64) -> Result<(i64, i64), StoreError> {
        #[derive(sqlx::FromRow)]
        struct Usage {
            used: i64,
            reserved: i64,
        }
        let usage = row!(
            self,
            Usage,
            "SELECT used, reserved FROM ai_usage WHERE tenant_id = $1 AND day = $2",
            tenant,
            day
        )?;
        Ok(usage.map_or((0, 0), |usage| (usage.used, usage.reserved)))
    }
}
