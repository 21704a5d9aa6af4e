//! Billing routes: Checkout for a plan, Stripe's webhook (signature, idempotency by event id,
//! the subscription events into `subscriptions` and the hub's seat limits), the tenant's
//! subscription and entitlements, cancelling at period end, and invoices. Also the middleware
//! that makes content read-only while a tenant's subscription has lapsed.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use persistence::SubscriptionRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::openapi::{Answer, ErrorResponse};
use crate::api::{ApiError, ApiJson, Caller, ErrorKind};
use crate::app::AppState;
use crate::auth::Role;
use crate::billing::stripe::{Checkout, StripeError, verify_signature};
use crate::billing::{BillingSettings, Entitlements, webhook};

/// The routes people call (behind the per-IP limit).
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(checkout))
        .routes(routes!(subscription))
        .routes(routes!(cancel))
        .routes(routes!(invoices))
}

/// Stripe's webhook (outside the per-IP limit: Stripe sends from few addresses).
pub(crate) fn webhook_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stripe_webhook))
}

/// A plan to buy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CheckoutBody {
    /// A paid plan with a Stripe price (see `CLASSHUB_STRIPE_PRICES`); required. The document
    /// lists the plans on sale ([`document_plans`]).
    plan: Option<String>,
}

/// A created Checkout Session.
#[derive(Debug, Serialize, ToSchema)]
struct CheckoutCreated {
    /// Stripe's session id (`cs_…`).
    id: String,
    /// Where to send the payer.
    url: Option<String>,
}

/// The tenant's subscription and what it grants now.
#[derive(Debug, Serialize, ToSchema)]
struct SubscriptionView {
    /// The subscription row; `null` on the default plan without one.
    subscription: Option<SubscriptionRecord>,
    /// What the tenant may use now.
    entitlements: Entitlements,
    /// Students online now (holding a seat) on this node.
    seats_in_use: usize,
}

/// A cancellation.
#[derive(Debug, Serialize, ToSchema)]
struct Cancelled {
    /// Stripe's subscription id.
    subscription_id: String,
    /// Always `true`: the subscription ends with the paid period.
    cancel_at_period_end: bool,
    /// When it ends (Unix seconds), as Stripe reports it.
    current_period_end: Option<i64>,
}

/// One invoice, as Stripe reports it.
#[derive(Debug, Serialize, ToSchema)]
struct Invoice {
    /// `in_…`.
    id: String,
    /// Its number, e.g. `ABCD-0001`.
    number: Option<String>,
    /// `draft`, `open`, `paid`, `uncollectible`, `void`.
    status: Option<String>,
    /// Amount due, in the currency's smallest unit.
    amount_due: i64,
    /// Amount paid, in the currency's smallest unit.
    amount_paid: i64,
    /// ISO currency code, lowercase.
    currency: Option<String>,
    /// Created (Unix seconds).
    created: i64,
    /// Stripe's page for it.
    hosted_invoice_url: Option<String>,
    /// Its PDF.
    invoice_pdf: Option<String>,
}

/// The tenant's invoices, newest first.
#[derive(Debug, Serialize, ToSchema)]
struct Invoices {
    /// Invoices.
    items: Vec<Invoice>,
}

/// What a webhook delivery did.
#[derive(Debug, Serialize, ToSchema)]
struct WebhookReceipt {
    /// Always `true` (Stripe only looks at the status).
    received: bool,
    /// `applied`, `duplicate` (seen before) or `ignored` (a type classhub does not act on, or
    /// no tenant found).
    outcome: String,
}

/// States in the document which plans `checkout` sells: `CheckoutBody.plan` is required and one
/// of `billing.prices` (configuration, so the served document is completed at start-up).
pub(crate) fn document_plans(document: &mut utoipa::openapi::OpenApi, billing: &BillingSettings) {
    let body = document
        .components
        .as_mut()
        .and_then(|components| components.schemas.get_mut("CheckoutBody"));
    if let Some(RefOr::T(Schema::Object(body))) = body {
        let plans: Vec<&str> = billing.prices.keys().map(String::as_str).collect();
        body.properties.insert(
            "plan".to_owned(),
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(plans))
                .description(Some(
                    "a paid plan on sale here (with a Stripe price in `CLASSHUB_STRIPE_PRICES`)",
                ))
                .into(),
        );
        if !body.required.iter().any(|field| field == "plan") {
            body.required.push("plan".to_owned());
        }
    }
}

fn stripe_unconfigured() -> ApiError {
    ApiError::new(
        ErrorKind::Unavailable,
        "billing is not configured on this server; the operator must set STRIPE_SECRET_KEY (and STRIPE_API_BASE to use another Stripe endpoint)",
    )
}

fn stripe_failed(error: StripeError) -> ApiError {
    tracing::warn!(cause = %error, "stripe call failed");
    match error {
        StripeError::Refused { status, message } if status < 500 && status != 429 => ApiError::new(
            ErrorKind::Conflict,
            format!("Stripe refused the request: {message}"),
        ),
        _ => ApiError::new(
            ErrorKind::Unavailable,
            "Stripe could not be reached or failed; retry in a minute",
        )
        .with_retry_after(std::time::Duration::from_secs(30)),
    }
}

/// Start paying for a plan (admins): creates a Stripe Checkout Session.
#[utoipa::path(post, path = "/api/v1/payments/checkout", tag = "billing",
    request_body = CheckoutBody,
    responses((status = 201, body = CheckoutCreated),
              (status = 403, body = ErrorResponse), (status = 422, body = ErrorResponse),
              (status = 503, body = ErrorResponse)))]
async fn checkout(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CheckoutBody>,
) -> Result<(StatusCode, Json<CheckoutCreated>), ApiError> {
    caller.require_admin("buy a plan")?;
    let billing = &app.config().billing;
    let plan = body.plan.unwrap_or_default();
    let Some(price) = billing.prices.get(&plan) else {
        let paid: Vec<&str> = billing.prices.keys().map(String::as_str).collect();
        return Err(ApiError::invalid_field(
            "plan",
            format!(
                "no paid plan named {plan:?}; plans on sale: {}",
                if paid.is_empty() {
                    "none (the operator sets CLASSHUB_STRIPE_PRICES)".to_owned()
                } else {
                    paid.join(", ")
                }
            ),
        ));
    };
    let stripe = app.stripe().ok_or_else(stripe_unconfigured)?;
    let current = app.store().subscription(caller.tenant()).await?;
    let idempotency_key = crate::api::ids::new_id("chk");
    let session = stripe
        .create_checkout_session(&Checkout {
            tenant: caller.tenant(),
            plan: &plan,
            price,
            customer: current
                .as_ref()
                .and_then(|row| row.stripe_customer_id.as_deref()),
            success_url: &billing.success_url,
            cancel_url: &billing.cancel_url,
            idempotency_key: &idempotency_key,
        })
        .await
        .map_err(stripe_failed)?;
    Ok((
        StatusCode::CREATED,
        Json(CheckoutCreated {
            id: session.id,
            url: session.url,
        }),
    ))
}

/// The tenant's subscription and entitlements (admins, educators).
#[utoipa::path(get, path = "/api/v1/payments/subscription", tag = "billing",
    responses((status = 200, body = SubscriptionView),
              (status = 403, body = ErrorResponse)))]
async fn subscription(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<SubscriptionView>, ApiError> {
    caller.require_staff("see the subscription")?;
    let row = app.store().subscription(caller.tenant()).await?;
    let entitlements = app.config().billing.entitlements(row.as_ref());
    let (seats_in_use, _) = app.hub().seats().usage(caller.tenant());
    Ok(Json(SubscriptionView {
        subscription: row,
        entitlements,
        seats_in_use,
    }))
}

/// Cancel the subscription at the end of the paid period (admins).
#[utoipa::path(post, path = "/api/v1/payments/cancel", tag = "billing",
    responses((status = 200, body = Cancelled),
              (status = 403, body = ErrorResponse), (status = 409, body = ErrorResponse),
              (status = 503, body = ErrorResponse)))]
async fn cancel(State(app): State<AppState>, caller: Caller) -> Result<Json<Cancelled>, ApiError> {
    caller.require_admin("cancel the subscription")?;
    let row = app.store().subscription(caller.tenant()).await?;
    let Some(subscription_id) = row
        .filter(|row| !crate::billing::is_lapsed(&row.status))
        .and_then(|row| row.stripe_subscription_id)
    else {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            "your tenant has no active subscription to cancel",
        ));
    };
    let stripe = app.stripe().ok_or_else(stripe_unconfigured)?;
    let answer = stripe
        .cancel_at_period_end(&subscription_id)
        .await
        .map_err(stripe_failed)?;
    Ok(Json(Cancelled {
        subscription_id,
        cancel_at_period_end: true,
        current_period_end: answer["current_period_end"]
            .as_i64()
            .or_else(|| answer["items"]["data"][0]["current_period_end"].as_i64()),
    }))
}

/// The tenant's invoices, newest first (admins).
#[utoipa::path(get, path = "/api/v1/payments/invoices", tag = "billing",
    responses((status = 200, body = Invoices),
              (status = 403, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
async fn invoices(State(app): State<AppState>, caller: Caller) -> Result<Json<Invoices>, ApiError> {
    caller.require(&[Role::Admin], "see invoices")?;
    let row = app.store().subscription(caller.tenant()).await?;
    // Without a Stripe customer there is nothing to bill, so nothing to ask Stripe.
    let Some(customer) = row.and_then(|row| row.stripe_customer_id) else {
        return Ok(Json(Invoices { items: Vec::new() }));
    };
    let stripe = app.stripe().ok_or_else(stripe_unconfigured)?;
    let listed = stripe
        .invoices(&customer, 24)
        .await
        .map_err(stripe_failed)?;
    let text = |value: &Value| value.as_str().map(str::to_owned);
    let items = listed
        .iter()
        .map(|invoice| Invoice {
            id: text(&invoice["id"]).unwrap_or_default(),
            number: text(&invoice["number"]),
            status: text(&invoice["status"]),
            amount_due: invoice["amount_due"].as_i64().unwrap_or(0),
            amount_paid: invoice["amount_paid"].as_i64().unwrap_or(0),
            currency: text(&invoice["currency"]),
            created: invoice["created"].as_i64().unwrap_or(0),
            hosted_invoice_url: text(&invoice["hosted_invoice_url"]),
            invoice_pdf: text(&invoice["invoice_pdf"]),
        })
        .collect();
    Ok(Json(Invoices { items }))
}

/// Stripe's webhook: verifies `Stripe-Signature`, handles each event id once.
#[utoipa::path(post, path = "/api/v1/payments/webhook", tag = "billing", security(()),
    params(("Stripe-Signature" = String, Header,
            description = "Stripe's signature of the body (`t=…,v1=…`), made with the endpoint's secret")),
    request_body(content = Object, content_type = "application/json",
                 description = "a Stripe event, exactly as Stripe sent it"),
    responses((status = 200, body = WebhookReceipt),
              (status = 400, description = "no or a bad `Stripe-Signature`, or not a Stripe event", body = ErrorResponse),
              (status = 413, description = "the body is larger than the server accepts", body = ErrorResponse),
              (status = 503, description = "webhooks are not configured, or the database is unavailable", body = ErrorResponse)))]
async fn stripe_webhook(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WebhookReceipt>, ApiError> {
    let body = body.map_err(crate::api::json::unreadable_body)?;
    let Some(signature) = headers
        .get("stripe-signature")
        .and_then(|value| value.to_str().ok())
    else {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            "missing Stripe-Signature header; only Stripe may call this endpoint",
        ));
    };
    let billing = &app.config().billing;
    let Some(secret) = &billing.webhook_secret else {
        return Err(ApiError::new(
            ErrorKind::Unavailable,
            "Stripe webhooks are not configured on this server; the operator must set STRIPE_WEBHOOK_SECRET",
        ));
    };
    let payload = std::str::from_utf8(&body)
        .map_err(|_| ApiError::new(ErrorKind::BadRequest, "the payload is not UTF-8 JSON"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64);
    verify_signature(signature, payload, secret, now, billing.webhook_tolerance).map_err(
        |refusal| {
            metrics::counter!("classhub_stripe_webhooks_total", "outcome" => "refused")
                .increment(1);
            ApiError::new(ErrorKind::BadRequest, refusal.to_string())
        },
    )?;
    let event: Value = serde_json::from_str(payload)
        .map_err(|cause| ApiError::new(ErrorKind::BadRequest, format!("not JSON: {cause}")))?;
    let (Some(event_id), Some(kind)) = (event["id"].as_str(), event["type"].as_str()) else {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            "the event has no id or type",
        ));
    };
    let outcome = handle_event(&app, event_id, kind, &event).await?;
    metrics::counter!("classhub_stripe_webhooks_total", "outcome" => outcome).increment(1);
    Ok(Json(WebhookReceipt {
        received: true,
        outcome: outcome.to_owned(),
    }))
}

async fn handle_event(
    app: &AppState,
    event_id: &str,
    kind: &str,
    event: &Value,
) -> Result<&'static str, ApiError> {
    let store = app.store();
    if !store.record_stripe_event(event_id, kind).await? {
        return Ok("duplicate");
    }
    let applied = apply_event(app, event).await;
    if applied.is_err() {
        // Let Stripe's retry of this event be handled rather than skipped as a duplicate.
        if let Err(cause) = store.forget_stripe_event(event_id).await {
            tracing::error!(%cause, event = event_id, "cannot forget a failed stripe event");
        }
    }
    applied
}

async fn apply_event(app: &AppState, event: &Value) -> Result<&'static str, ApiError> {
    let billing = &app.config().billing;
    let Some(webhook::EventChange { tenant, mut change }) = webhook::change_of(event, billing)
    else {
        return Ok("ignored");
    };
    let tenant = match tenant {
        Some(tenant) => Some(tenant),
        None => {
            app.store()
                .tenant_of_stripe(change.subscription.as_deref(), change.customer.as_deref())
                .await?
        }
    };
    let Some(tenant) = tenant else {
        tracing::warn!(event = ?event["id"], "stripe event for no known tenant; ignored");
        return Ok("ignored");
    };
    change.tenant = tenant.clone();
    let row = app.store().apply_subscription_change(&change).await?;
    billing.apply_to_hub(app.hub(), &tenant, Some(&row));
    tracing::info!(tenant = %tenant, status = %row.status, plan = %row.plan, "subscription updated");
    Ok("applied")
}

/// What [`read_only_when_lapsed`] answers on the content writes it guards.
pub const LAPSED_ANSWERS: &[Answer] = &[Answer {
    status: 402,
    when: "the school's subscription has lapsed, so content is read-only; an admin can renew it",
}];

/// Whether a request is a content write, refused while the subscription has lapsed: writes to
/// courses, lessons, assessments and media, except answering an assessment. `path` may be a concrete
/// path or the document's template of one.
pub fn writes_content(method: &Method, path: &str) -> bool {
    !matches!(*method, Method::GET | Method::HEAD)
        && [
            "/api/v1/courses",
            "/api/v1/lessons",
            "/api/v1/assessments",
            "/api/v1/media",
        ]
        .iter()
        .any(|prefix| path.starts_with(prefix))
        && !path.ends_with("/results")
}

/// Middleware: while a tenant's subscription has lapsed, its content is read-only (writes to
/// courses, lessons and assessments answer 402; answering assessments still works).
pub async fn read_only_when_lapsed(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if writes_content(request.method(), request.uri().path())
        && let Some(token) = crate::auth::bearer_token(request.headers())
        && let Ok(identity) = app.verifier().verify(token).await
        && app.hub().seats().is_lapsed(&identity.tenant)
    {
        return ApiError::new(
            ErrorKind::PaymentRequired,
            "your school's subscription has lapsed, so content is read-only; an admin can renew it under billing",
        )
        .into_response();
    }
    next.run(request).await
}
