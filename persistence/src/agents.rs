//! AI agent tasks: one `agent_tasks` row per call to the AI tutor, moving pending → running →
//! completed or failed, with the tokens it used; and `ai_usage`, each tenant's tokens per UTC
//! day (settled and reserved), which the daily quota is enforced against: a call reserves before
//! the model is asked ([`Store::reserve_ai_tokens`], one conditional upsert) and settles to its
//! real usage after ([`Store::settle_ai_tokens`]).

use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;

use crate::sql::{exec, row, rows};
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
    /// Created (ISO-8601 UTC).
    pub created_at: String,
    /// Last change (ISO-8601 UTC).
    pub updated_at: String,
}

const COLUMNS: &str = "id, tenant_id, user_id, kind, status, input, output, tokens_used, error, \
     TS(created_at) AS created_at, TS(updated_at) AS updated_at";

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

    /// Marks a task `running`.
    pub async fn start_agent_task(&self, tenant: &str, id: &str) -> Result<(), StoreError> {
        exec!(
            self,
            "UPDATE agent_tasks SET status = 'running', updated_at = NOW() \
             WHERE tenant_id = $1 AND id = $2",
            tenant,
            id
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
             updated_at = NOW() WHERE tenant_id = $1 AND id = $2",
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
        let sql = format!("SELECT {COLUMNS} FROM agent_tasks WHERE tenant_id = $1 AND id = $2");
        Ok(row!(self, AgentTaskRecord, &sql, tenant, id)?)
    }

    /// A user's newest tasks, newest first.
    pub async fn agent_tasks_of(
        &self,
        tenant: &str,
        user: &str,
        limit: u32,
    ) -> Result<Vec<AgentTaskRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM agent_tasks WHERE tenant_id = $1 AND user_id = $2 \
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
