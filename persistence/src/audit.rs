//! The audit trail: an append-only record of staff and admin actions (who, in which tenant, on
//! what, about which student, when, from where). [`Store::append_audit`] is the only write; no
//! method updates or deletes an entry. Ids are made by the caller and sort by creation time, so a
//! page is `id < cursor ORDER BY id DESC`, newest first.

use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;

use crate::sql::{Page, Paged, exec, rows};
use crate::{Store, StoreError};

/// One row of `audit_entries`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditRecord {
    /// The entry id (time-ordered).
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// Who acted (a user id, or a game-server key id).
    pub actor_id: String,
    /// Their role when they acted (`educator`, `admin`, …, `game_server`).
    pub actor_role: String,
    /// What they did, `noun.verb` (`roster.added`, `command.sent`, `progress.read`, …).
    pub action: String,
    /// The kind of object acted on (`class`, `user`, `student`, `course`, …).
    pub target_type: String,
    /// Its id.
    pub target_id: String,
    /// The student the action concerns, if one.
    pub student_id: Option<String>,
    /// The client address the request came from, if known.
    pub source_ip: Option<String>,
    /// Anything else worth keeping (JSON): a command's kind, the fields a change set.
    #[sqlx(json(nullable))]
    pub detail: Option<Value>,
    /// When.
    pub created_at: String,
}

/// An entry to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    /// Entry id (time-ordered).
    pub id: String,
    /// Who acted.
    pub actor_id: String,
    /// Their role.
    pub actor_role: String,
    /// What they did.
    pub action: String,
    /// The kind of object.
    pub target_type: String,
    /// Its id.
    pub target_id: String,
    /// The student concerned.
    pub student_id: Option<String>,
    /// The client address.
    pub source_ip: Option<String>,
    /// Anything else.
    pub detail: Option<Value>,
}

/// Which entries to list (every field optional; all given must match).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Entries by this actor.
    pub actor_id: Option<String>,
    /// Entries of this action.
    pub action: Option<String>,
    /// Entries about this student.
    pub student_id: Option<String>,
    /// Entries on this target id.
    pub target_id: Option<String>,
}

const COLUMNS: &str = "id, tenant_id, actor_id, actor_role, action, target_type, target_id, \
     student_id, source_ip, detail, TS(created_at) AS created_at";

impl Store {
    /// Appends one entry.
    pub async fn append_audit(
        &self,
        tenant: &str,
        entry: &NewAuditEntry,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "INSERT INTO audit_entries (id, tenant_id, actor_id, actor_role, action, target_type, \
             target_id, student_id, source_ip, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)",
            entry.id.as_str(),
            tenant,
            entry.actor_id.as_str(),
            entry.actor_role.as_str(),
            entry.action.as_str(),
            entry.target_type.as_str(),
            entry.target_id.as_str(),
            entry.student_id.as_deref(),
            entry.source_ip.as_deref(),
            entry.detail.as_ref().map(Json)
        )?;
        Ok(())
    }

    /// A tenant's entries matching `filter`, newest first.
    pub async fn audit_entries(
        &self,
        tenant: &str,
        filter: &AuditFilter,
        page: &Page<String>,
    ) -> Result<Paged<AuditRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_entries WHERE tenant_id = $1 AND ($2 = '' OR id < $2) \
             AND ($3 = '' OR actor_id = $3) AND ($4 = '' OR action = $4) \
             AND ($5 = '' OR student_id = $5) AND ($6 = '' OR target_id = $6) \
             ORDER BY id DESC LIMIT $7"
        );
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        let limit = i64::from(page.limit) + 1;
        let items = rows!(
            self,
            AuditRecord,
            &sql,
            tenant,
            text(&page.after),
            text(&filter.actor_id),
            text(&filter.action),
            text(&filter.student_id),
            text(&filter.target_id),
            limit
        )?;
        Ok(Paged::cut(items, page.limit))
    }
}
