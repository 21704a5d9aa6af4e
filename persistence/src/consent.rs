//! Consent (COPPA): each student's consent state with who decided it and when, and each
//! tenant's policy on whether consent is required. A student without a row is `pending`; a
//! tenant without a policy row follows the server's default.

use serde::Serialize;

use crate::sql::{exec, row};
use crate::{Store, StoreError};

/// A student's consent, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentRecord {
    /// The student.
    pub student_id: String,
    /// `pending`, `granted` or `revoked`.
    pub state: String,
    /// Who decided it: the parent, or the admin acting for the parent.
    pub decided_by: String,
    /// Their role: `parent` or `admin`.
    pub decided_role: String,
    /// When.
    pub decided_at: String,
}

#[derive(sqlx::FromRow)]
struct PolicyRow {
    consent_required: Option<bool>,
}

impl Store {
    /// A student's consent, if anyone decided it.
    pub async fn consent(
        &self,
        tenant: &str,
        student: &str,
    ) -> Result<Option<ConsentRecord>, StoreError> {
        Ok(row!(
            self,
            ConsentRecord,
            "SELECT student_id, state, decided_by, decided_role, TS(decided_at) AS decided_at \
             FROM student_consent WHERE tenant_id = $1 AND student_id = $2",
            tenant,
            student
        )?)
    }

    /// Records a decision on a student's consent (replacing the previous one).
    pub async fn set_consent(
        &self,
        tenant: &str,
        student: &str,
        state: &str,
        decided_by: &str,
        decided_role: &str,
    ) -> Result<ConsentRecord, StoreError> {
        exec!(
            self,
            "INSERT INTO student_consent (tenant_id, student_id, state, decided_by, decided_role) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, student_id) DO UPDATE SET \
             state = excluded.state, decided_by = excluded.decided_by, \
             decided_role = excluded.decided_role, decided_at = NOW()",
            tenant,
            student,
            state,
            decided_by,
            decided_role
        )?;
        self.consent(tenant, student)
            .await?
            .ok_or_else(|| StoreError::Query(sqlx::Error::RowNotFound))
    }

    /// Whether the tenant requires consent, if it chose.
    pub async fn consent_required(&self, tenant: &str) -> Result<Option<bool>, StoreError> {
        let found = row!(
            self,
            PolicyRow,
            "SELECT consent_required FROM tenant_policies WHERE tenant_id = $1",
            tenant
        )?;
        Ok(found.and_then(|policy| policy.consent_required))
    }

    /// Sets whether the tenant requires consent.
    pub async fn set_consent_required(
        &self,
        tenant: &str,
        required: bool,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "INSERT INTO tenant_policies (tenant_id, consent_required) VALUES ($1, $2) \
             ON CONFLICT (tenant_id) DO UPDATE SET consent_required = excluded.consent_required",
            tenant,
            required
        )?;
        Ok(())
    }
}
