//! AI agent tasks: one `agent_tasks` row per call to the AI tutor, moving pending → running →
//! completed or failed, with the tokens it used. The per-day token total of a tenant (its quota)
//! is summed from these rows.

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
}
