//! Stripe events → [`SubscriptionChange`]s. Handled: `checkout.session.completed`,
//! `customer.subscription.created/updated/deleted`, `invoice.paid`, `invoice.payment_failed`;
//! other types are acknowledged and ignored. Each change carries the event's `created`, which
//! the store uses to let only newer events move the state, so deliveries in any order converge.

use persistence::SubscriptionChange;
use serde_json::Value;

use super::BillingSettings;

/// The Stripe event types classhub acts on.
pub const HANDLED: [&str; 6] = [
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
];

/// What an event says, before its tenant is known: the change without a tenant, and the ids
/// that can find the tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct EventChange {
    /// The tenant named in the event's metadata or `client_reference_id`, if any.
    pub tenant: Option<String>,
    /// The change (its `tenant` is filled in once resolved).
    pub change: SubscriptionChange,
}

/// The change a handled event makes, `None` for types classhub ignores.
pub fn change_of(event: &Value, settings: &BillingSettings) -> Option<EventChange> {
    let kind = event["type"].as_str()?;
    let object = &event["data"]["object"];
    let event_at = event["created"].as_i64().unwrap_or(0);
    let text = |value: &Value| value.as_str().map(str::to_owned);
    let mut change = SubscriptionChange {
        event_at,
        customer: id_of(&object["customer"]),
        ..SubscriptionChange::default()
    };
    let tenant;
    match kind {
        "checkout.session.completed" => {
            tenant = text(&object["client_reference_id"])
                .or_else(|| text(&object["metadata"]["tenant"]));
            change.subscription = id_of(&object["subscription"]);
            change.plan = text(&object["metadata"]["plan"]);
            let paid = matches!(
                object["payment_status"].as_str(),
                Some("paid" | "no_payment_required")
            );
            change.status = paid.then(|| "active".to_owned());
        }
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted" => {
            tenant = text(&object["metadata"]["tenant"]);
            change.subscription = text(&object["id"]);
            change.status = if kind == "customer.subscription.deleted" {
                Some("canceled".to_owned())
            } else {
                text(&object["status"])
            };
            let item = &object["items"]["data"][0];
            change.plan = text(&object["metadata"]["plan"]).or_else(|| {
                item["price"]["id"]
                    .as_str()
                    .and_then(|price| settings.plan_of_price(price))
                    .map(str::to_owned)
            });
            // Newer API versions keep the period on the item, older ones on the subscription.
            change.current_period_end = object["current_period_end"]
                .as_i64()
                .or_else(|| item["current_period_end"].as_i64());
        }
        "invoice.paid" | "invoice.payment_failed" => {
            // The subscription's metadata: at the top before API 2025-03-31, under `parent` since.
            let metadata = if object["parent"]["subscription_details"].is_object() {
                &object["parent"]["subscription_details"]["metadata"]
            } else {
                &object["subscription_details"]["metadata"]
            };
            tenant = text(&metadata["tenant"]);
            change.plan = text(&metadata["plan"]);
            change.subscription = id_of(&object["subscription"])
                .or_else(|| id_of(&object["parent"]["subscription_details"]["subscription"]));
            change.status = Some(if kind == "invoice.paid" {
                "active".to_owned()
            } else {
                "past_due".to_owned()
            });
            change.current_period_end = object["lines"]["data"][0]["period"]["end"].as_i64();
        }
        _ => return None,
    }
    if let Some(plan) = change.plan.as_deref().and_then(|plan| settings.plan(plan)) {
        change.seats = Some(i32::try_from(plan.seats).unwrap_or(i32::MAX));
        change.ai_tokens_per_day = Some(i64::try_from(plan.ai_tokens_per_day).unwrap_or(i64::MAX));
    }
    Some(EventChange { tenant, change })
}

/// An id that Stripe sends either as a string or as an expanded object with an `id`.
fn id_of(value: &Value) -> Option<String> {
    match value {
        Value::String(id) => Some(id.clone()),
        Value::Object(object) => object.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}
