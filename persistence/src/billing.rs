//! Billing records: one `subscriptions` row per tenant, kept from Stripe's webhooks, and the
//! global `stripe_events` ledger that makes each webhook count once.
//!
//! Webhooks arrive in any order. [`Store::apply_subscription_change`] applies a change to the
//! state columns only when its event is at least as new as the last one applied
//! (`last_event_at`), and never reopens a subscription Stripe reported canceled, so every
//! delivery order ends in the same row.

use serde::Serialize;

use crate::sql::{exec, row, rows};
use crate::{Store, StoreError};

/// One row of `subscriptions`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubscriptionRecord {
    /// The tenant.
    pub tenant_id: String,
    /// Stripe's customer id (`cus_…`), once known.
    pub stripe_customer_id: Option<String>,
    /// Stripe's subscription id (`sub_…`), once known.
    pub stripe_subscription_id: Option<String>,
    /// The plan (`free`, `classroom`, `school`, …).
    pub plan: String,
    /// Stripe's subscription status (`active`, `trialing`, `past_due`, `canceled`, `unpaid`, …).
    pub status: String,
    /// Seats the plan grants (concurrent students online), when set by the server.
    pub seats: Option<i32>,
    /// AI tokens per day the plan grants, when set by the server.
    pub ai_tokens_per_day: Option<i64>,
    /// End of the paid period (ISO-8601 UTC).
    pub current_period_end: Option<String>,
    /// Creation time of the newest Stripe event applied (ISO-8601 UTC).
    pub last_event_at: Option<String>,
    /// Last change (ISO-8601 UTC).
    pub updated_at: String,
}

/// What one Stripe event says about a tenant's subscription. `None` fields leave the column as
/// it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubscriptionChange {
    /// The tenant.
    pub tenant: String,
    /// Stripe customer id.
    pub customer: Option<String>,
    /// Stripe subscription id.
    pub subscription: Option<String>,
    /// Plan.
    pub plan: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Seats.
    pub seats: Option<i32>,
    /// AI tokens per day.
    pub ai_tokens_per_day: Option<i64>,
    /// End of the paid period, Unix seconds.
    pub current_period_end: Option<i64>,
    /// The event's `created`, Unix seconds.
    pub event_at: i64,
}

const COLUMNS: &str = "tenant_id, stripe_customer_id, stripe_subscription_id, plan, status, \
     seats, ai_tokens_per_day, TS(current_period_end) AS current_period_end, \
     TS(last_event_at) AS last_event_at, TS(updated_at) AS updated_at";

impl Store {
    /// Records a Stripe event id; `false` when it was recorded before (a replay or a retry).
    pub async fn record_stripe_event(&self, id: &str, kind: &str) -> Result<bool, StoreError> {
        let inserted = exec!(
            self,
            "INSERT INTO stripe_events (id, type) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            id,
            kind
        )?;
        Ok(inserted == 1)
    }

    /// Forgets a Stripe event id whose handling failed, so that Stripe's retry is handled.
    pub async fn forget_stripe_event(&self, id: &str) -> Result<(), StoreError> {
        exec!(self, "DELETE FROM stripe_events WHERE id = $1", id)?;
        Ok(())
    }

    /// The tenant's subscription row, if it has one.
    pub async fn subscription(
        &self,
        tenant: &str,
    ) -> Result<Option<SubscriptionRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM subscriptions WHERE tenant_id = $1");
        Ok(row!(self, SubscriptionRecord, &sql, tenant)?)
    }

    /// Every subscription row (the hub's entitlements at start-up).
    pub async fn all_subscriptions(&self) -> Result<Vec<SubscriptionRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM subscriptions ORDER BY tenant_id");
        Ok(rows!(self, SubscriptionRecord, &sql)?)
    }

    /// The tenant a Stripe subscription or customer belongs to (webhooks carry no tenant of
    /// ours unless we put it there). The subscription id is tried first.
    pub async fn tenant_of_stripe(
        &self,
        subscription: Option<&str>,
        customer: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Tenant {
            tenant_id: String,
        }
        if let Some(subscription) = subscription {
            let found = row!(
                self,
                Tenant,
                "SELECT tenant_id FROM subscriptions WHERE stripe_subscription_id = $1",
                subscription
            )?;
            if let Some(found) = found {
                return Ok(Some(found.tenant_id));
            }
        }
        if let Some(customer) = customer {
            let found = row!(
                self,
                Tenant,
                "SELECT tenant_id FROM subscriptions WHERE stripe_customer_id = $1",
                customer
            )?;
            return Ok(found.map(|found| found.tenant_id));
        }
        Ok(None)
    }

    /// Applies what one Stripe event says (see the module comment for the ordering rule) and
    /// returns the row after it. Creates the tenant's row (and the tenant) on first sight.
    pub async fn apply_subscription_change(
        &self,
        change: &SubscriptionChange,
    ) -> Result<SubscriptionRecord, StoreError> {
        let tenant = change.tenant.as_str();
        self.ensure_tenant(tenant).await?;
        exec!(
            self,
            "INSERT INTO subscriptions (id, tenant_id, plan, status) VALUES ($1, $1, 'free', 'incomplete') \
             ON CONFLICT (tenant_id) DO NOTHING",
            tenant
        )?;
        // Ids are facts that do not go stale: fill them in whenever they are missing.
        exec!(
            self,
            "UPDATE subscriptions SET stripe_customer_id = COALESCE(stripe_customer_id, $2), \
             stripe_subscription_id = COALESCE(stripe_subscription_id, $3) WHERE tenant_id = $1",
            tenant,
            change.customer.as_deref(),
            change.subscription.as_deref()
        )?;
        // State only moves forward in Stripe's time, and a canceled subscription stays canceled.
        exec!(
            self,
            "UPDATE subscriptions SET \
               stripe_customer_id = COALESCE($2, stripe_customer_id), \
               stripe_subscription_id = COALESCE($3, stripe_subscription_id), \
               plan = COALESCE($4, plan), status = COALESCE($5, status), \
               seats = COALESCE($6, seats), ai_tokens_per_day = COALESCE($7, ai_tokens_per_day), \
               current_period_end = COALESCE(EPOCH($8), current_period_end), \
               last_event_at = EPOCH($9), updated_at = NOW() \
             WHERE tenant_id = $1 \
               AND (last_event_at IS NULL OR last_event_at <= EPOCH($9)) \
               AND NOT (status = 'canceled' AND stripe_subscription_id IS NOT NULL \
                        AND stripe_subscription_id = COALESCE($3, ''))",
            tenant,
            change.customer.as_deref(),
            change.subscription.as_deref(),
            change.plan.as_deref(),
            change.status.as_deref(),
            change.seats,
            change.ai_tokens_per_day,
            change.current_period_end,
            change.event_at
        )?;
        let sql = format!("SELECT {COLUMNS} FROM subscriptions WHERE tenant_id = $1");
        row!(self, SubscriptionRecord, &sql, tenant)?
            .ok_or(StoreError::Query(sqlx::Error::RowNotFound))
    }
}
