//! Billing: Stripe subscriptions and the entitlements they grant. [`BillingSettings`] holds the
//! Stripe keys, prices and each plan's entitlements (seats = concurrent students online in the
//! tenant, AI tokens per day); [`Entitlements`] is what a tenant's subscription row grants now;
//! [`stripe`] talks to Stripe's API and verifies webhook signatures; [`webhook`] turns Stripe
//! events into subscription changes; [`routes`] are the REST routes (checkout, portal, the
//! subscription, Stripe's webhook) and the rule that a lapsed tenant's content is read-only.
//! What the operator may set ([`BillingArgs`]) is declared and checked in `settings.rs`.
//!
//! A tenant without a subscription row is on the first plan (`free`). A subscription whose
//! status is `canceled`, `unpaid` or `incomplete_expired` has lapsed: content becomes read-only
//! and no new student sessions start, but students already online stay (see `hub::Seats`).
//! This module knows nothing of HTTP routing or SQL.

pub(crate) mod routes;
mod settings;
pub mod stripe;
pub mod webhook;

pub use settings::BillingArgs;

use std::collections::BTreeMap;
use std::time::Duration;

use persistence::SubscriptionRecord;
use serde::Serialize;
use utoipa::ToSchema;

use crate::hub::Hub;

/// One plan and what it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Its name (`free`, `classroom`, `school`, …).
    pub name: String,
    /// Students online at once in the tenant.
    pub seats: u32,
    /// AI tokens per day (UTC) for the whole tenant.
    pub ai_tokens_per_day: u64,
}

/// Stripe and plan settings (declared and checked in `settings.rs`).
#[derive(Debug, Clone)]
pub struct BillingSettings {
    /// `sk_…`; `None`: checkout, cancel and invoices answer 503.
    pub stripe_secret_key: Option<String>,
    /// Stripe's API base, e.g. `https://api.stripe.com` (no trailing slash).
    pub stripe_api_base: String,
    /// `whsec_…`; `None`: the webhook answers 503.
    pub webhook_secret: Option<String>,
    /// Oldest accepted signature timestamp.
    pub webhook_tolerance: Duration,
    /// Stripe price id of each paid plan.
    pub prices: BTreeMap<String, String>,
    /// Checkout's success redirect.
    pub success_url: String,
    /// Checkout's cancel redirect.
    pub cancel_url: String,
    /// Every plan; the first is the one of tenants without a subscription.
    pub plans: Vec<Plan>,
    /// The plans were named explicitly (`--plan`), so the first plan's seats bind tenants
    /// without a subscription even when Stripe is not configured.
    pub plans_configured: bool,
}

/// What a tenant may use now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Entitlements {
    /// The plan.
    pub plan: String,
    /// Stripe's status (`none` without a subscription).
    pub status: String,
    /// Students online at once.
    pub seats: u32,
    /// AI tokens per day (UTC).
    pub ai_tokens_per_day: u64,
    /// The subscription lapsed: content is read-only and no new sessions start.
    pub lapsed: bool,
}

impl BillingSettings {
    /// The plan named `name`.
    pub fn plan(&self, name: &str) -> Option<&Plan> {
        self.plans.iter().find(|plan| plan.name == name)
    }

    /// Whether tenants without a subscription are held to the default plan's seats: when billing
    /// is set up (Stripe's key or webhook secret) or the plans were named. A server without
    /// billing (development, load tests, a school hosting its own) limits no seats.
    pub fn enforces_default_seats(&self) -> bool {
        self.plans_configured || self.stripe_secret_key.is_some() || self.webhook_secret.is_some()
    }

    /// The plan of tenants without a subscription.
    pub fn default_plan(&self) -> &Plan {
        &self.plans[0]
    }

    /// The plan a Stripe price belongs to.
    pub fn plan_of_price(&self, price: &str) -> Option<&str> {
        self.prices
            .iter()
            .find(|(_, id)| id.as_str() == price)
            .map(|(plan, _)| plan.as_str())
    }

    /// What a subscription row (or none) grants.
    pub fn entitlements(&self, row: Option<&SubscriptionRecord>) -> Entitlements {
        let Some(row) = row else {
            let plan = self.default_plan();
            return Entitlements {
                plan: plan.name.clone(),
                status: "none".to_owned(),
                seats: plan.seats,
                ai_tokens_per_day: plan.ai_tokens_per_day,
                lapsed: false,
            };
        };
        let lapsed = is_lapsed(&row.status);
        // A checkout not yet paid grants the default plan until Stripe says it is active.
        let granted = if matches!(row.status.as_str(), "incomplete") {
            self.default_plan()
        } else {
            self.plan(&row.plan).unwrap_or_else(|| self.default_plan())
        };
        Entitlements {
            plan: granted.name.clone(),
            status: row.status.clone(),
            seats: row
                .seats
                .filter(|_| granted.name == row.plan)
                .map_or(granted.seats, |seats| seats.max(0) as u32),
            ai_tokens_per_day: row
                .ai_tokens_per_day
                .filter(|_| granted.name == row.plan)
                .map_or(granted.ai_tokens_per_day, |tokens| tokens.max(0) as u64),
            lapsed,
        }
    }

    /// Tells the hub what `tenant` may use now.
    pub fn apply_to_hub(&self, hub: &Hub, tenant: &str, row: Option<&SubscriptionRecord>) {
        let granted = self.entitlements(row);
        hub.seats()
            .set_entitlement(tenant, granted.seats as usize, granted.lapsed);
    }
}

/// Whether a Stripe subscription status means the subscription has lapsed.
pub fn is_lapsed(status: &str) -> bool {
    matches!(status, "canceled" | "unpaid" | "incomplete_expired")
}
