//! Billing against a local Stripe stand-in (axum on 127.0.0.1:0, answering in Stripe's documented
//! shapes): Checkout's form-encoded request, cancel and invoices; webhooks valid, stale, forged
//! and replayed, in shuffled order; seats enforced at join over a real socket; a lapsed
//! subscription that keeps the class running but starts nothing new.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use persistence::test_support::TestDatabase;
use protocol::ErrorCode;
use protocol::pusher::sign::hmac_hex;
use serde_json::{Value, json};
use server::billing::Plan;

use crate::classes::School;
use crate::rest::{Answer, Rest};
use crate::support::{Client, TestServer, event_parts, start_with};

pub const WEBHOOK_SECRET: &str = "whsec_test_secret";
const STRIPE_KEY: &str = "sk_test_123";

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: &'static str,
    pub path: String,
    pub authorization: String,
    pub content_type: String,
    /// Form fields (POST) or query parameters (GET), in order.
    pub fields: Vec<(String, String)>,
}

impl Seen {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn seen(log: &Log, method: &'static str, path: String, headers: &HeaderMap, encoded: &str) -> Seen {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let entry = Seen {
        method,
        path,
        authorization: header("authorization"),
        content_type: header("content-type"),
        fields: serde_urlencoded::from_str(encoded).expect("form-encoded, as Stripe requires"),
    };
    log.lock().expect("log").push(entry.clone());
    entry
}

/// A Stripe stand-in; returns its base URL and the log of requests.
pub async fn stripe_stand_in() -> (String, Log) {
    let log: Log = Arc::default();
    let app = Router::new()
        .route(
            "/v1/checkout/sessions",
            post(
                |State(log): State<Log>, headers: HeaderMap, body: String| async move {
                    let request = seen(&log, "POST", "/v1/checkout/sessions".into(), &headers, &body);
                    if request.field("line_items[0][price]").is_none() {
                        return (
                            axum::http::StatusCode::BAD_REQUEST,
                            axum::Json(json!({"error": {"type": "invalid_request_error", "message": "Missing required param: line_items[0][price]."}})),
                        );
                    }
                    (
                        axum::http::StatusCode::OK,
                        axum::Json(json!({
                            "id": "cs_test_a1", "object": "checkout.session", "mode": "subscription",
                            "url": "https://checkout.stripe.com/c/pay/cs_test_a1",
                            "client_reference_id": request.field("client_reference_id"),
                        })),
                    )
                },
            ),
        )
        .route(
            "/v1/subscriptions/{id}",
            post(
                |State(log): State<Log>, Path(id): Path<String>, headers: HeaderMap, body: String| async move {
                    seen(&log, "POST", format!("/v1/subscriptions/{id}"), &headers, &body);
                    axum::Json(json!({
                        "id": id, "object": "subscription", "status": "active",
                        "cancel_at_period_end": true, "current_period_end": 1_900_000_000,
                    }))
                },
            ),
        )
        .route(
            "/v1/invoices",
            get(
                |State(log): State<Log>, RawQuery(query): RawQuery, headers: HeaderMap| async move {
                    seen(&log, "GET", "/v1/invoices".into(), &headers, &query.unwrap_or_default());
                    axum::Json(json!({
                        "object": "list", "has_more": false, "url": "/v1/invoices",
                        "data": [{
                            "id": "in_1", "object": "invoice", "number": "CH-0001", "status": "paid",
                            "amount_due": 4900, "amount_paid": 4900, "currency": "usd",
                            "created": 1_800_000_000, "hosted_invoice_url": "https://invoice.stripe.com/i/in_1",
                            "invoice_pdf": "https://pay.stripe.com/invoice/in_1/pdf"
                        }]
                    }))
                },
            ),
        )
        .with_state(log.clone());
    let addr = crate::support::serve_stand_in(app).await;
    (format!("http://{addr}"), log)
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Posts `event` to the webhook, signed at `signed_at` with `secret` (as Stripe does).
pub async fn deliver(rest: &Rest, event: &Value, signed_at: i64, secret: &str) -> Answer {
    let payload = event.to_string();
    let signature = hmac_hex(secret, &format!("{signed_at}.{payload}"));
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/payments/webhook", rest.base()))
        .header("content-type", "application/json")
        .header("stripe-signature", format!("t={signed_at},v1={signature}"))
        .body(payload)
        .send()
        .await
        .expect("webhook request");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        body,
        retry_after: None,
    }
}

/// A `customer.subscription.*` event for `tenant`.
pub fn subscription_event(
    id: &str,
    kind: &str,
    created: i64,
    tenant: &str,
    status: &str,
    plan: &str,
) -> Value {
    json!({
        "id": id, "object": "event", "type": kind, "created": created, "livemode": false,
        "data": {"object": {
            "id": format!("sub_{tenant}"), "object": "subscription", "customer": format!("cus_{tenant}"),
            "status": status, "metadata": {"tenant": tenant, "plan": plan},
            "items": {"object": "list", "data": [{"id": "si_1", "price": {"id": "price_classroom"}, "quantity": 1, "current_period_end": created + 2_592_000}]}
        }}
    })
}

/// An admin token of `tenant`, after one request so the tenant exists.
async fn seen_admin(rest: &Rest, tenant: &str) -> String {
    let admin = crate::support::token(
        tenant,
        server::auth::Role::Admin,
        &format!("{tenant}-admin"),
    );
    rest.get("/api/v1/auth/me", &admin).await.expect(200);
    admin
}

/// A subscription's life in Stripe events, 10 s apart from `t0`: created (incomplete),
/// updated (active), a failed payment, deleted (canceled).
fn lifecycle_events(tenant: &str, t0: i64) -> [Value; 4] {
    [
        subscription_event(
            &format!("evt_{tenant}_1"),
            "customer.subscription.created",
            t0,
            tenant,
            "incomplete",
            "classroom",
        ),
        subscription_event(
            &format!("evt_{tenant}_2"),
            "customer.subscription.updated",
            t0 + 10,
            tenant,
            "active",
            "classroom",
        ),
        invoice_event(
            &format!("evt_{tenant}_3"),
            "invoice.payment_failed",
            t0 + 20,
            tenant,
        ),
        subscription_event(
            &format!("evt_{tenant}_4"),
            "customer.subscription.deleted",
            t0 + 30,
            tenant,
            "canceled",
            "classroom",
        ),
    ]
}

fn invoice_event(id: &str, kind: &str, created: i64, tenant: &str) -> Value {
    json!({
        "id": id, "object": "event", "type": kind, "created": created,
        "data": {"object": {
            "id": format!("in_{id}"), "object": "invoice", "customer": format!("cus_{tenant}"),
            "status": "paid",
            // Stripe API 2025-03-31 and later: the subscription and its metadata under `parent`.
            "parent": {"type": "subscription_details", "subscription_details": {
                "subscription": format!("sub_{tenant}"), "metadata": {"tenant": tenant, "plan": "classroom"}}},
            "lines": {"data": [{"period": {"start": created, "end": created + 2_592_000}}]}
        }}
    })
}

async fn billing_server(database_url: Option<String>, stripe_base: Option<String>) -> TestServer {
    start_with(move |config| {
        config.database_url = database_url;
        config.billing.webhook_secret = Some(WEBHOOK_SECRET.to_owned());
        if let Some(base) = stripe_base {
            config.billing.stripe_secret_key = Some(STRIPE_KEY.to_owned());
            config.billing.stripe_api_base = base;
        }
        config
            .billing
            .prices
            .insert("classroom".to_owned(), "price_classroom".to_owned());
        config.api_limits.per_token_rate = 10_000;
        config.api_limits.per_token_burst = 10_000;
    })
    .await
}

#[tokio::test]
async fn webhooks_are_verified_once_each_and_converge_in_any_order() {
    for db in TestDatabase::all().await {
        let test = billing_server(Some(db.url().to_owned()), None).await;
        let rest = Rest::new(test.addr);
        let school = School::enroll(&rest, "wh").await;
        let completed = json!({
            "id": "evt_checkout_1", "object": "event", "type": "checkout.session.completed",
            "created": now() - 100,
            "data": {"object": {"id": "cs_1", "object": "checkout.session", "client_reference_id": "wh",
                     "customer": "cus_wh", "subscription": "sub_wh", "payment_status": "paid",
                     "metadata": {"tenant": "wh", "plan": "classroom"}}}
        });

        // Stale, forged, unsigned: refused, and nothing changes.
        let stale = deliver(&rest, &completed, now() - 301, WEBHOOK_SECRET).await;
        stale.expect_error(400, "timestamp");
        let forged = deliver(&rest, &completed, now(), "whsec_someone_else").await;
        assert_eq!(forged.status, 400, "{}", forged.body);
        let unsigned = rest
            .call(
                "POST",
                "/api/v1/payments/webhook",
                None,
                Some(completed.clone()),
            )
            .await;
        assert_eq!(unsigned.status, 400);
        let view = rest
            .get("/api/v1/payments/subscription", &school.admin)
            .await;
        assert_eq!(view.expect(200)["subscription"], Value::Null);
        assert_eq!(view.body["entitlements"]["plan"], "free");

        // Valid: applied once; the replay is recognised and changes nothing.
        let first = deliver(&rest, &completed, now(), WEBHOOK_SECRET).await;
        assert_eq!(first.expect(200)["outcome"], "applied");
        let replay = deliver(&rest, &completed, now(), WEBHOOK_SECRET).await;
        assert_eq!(replay.expect(200)["outcome"], "duplicate");
        let view = rest
            .get("/api/v1/payments/subscription", &school.teacher)
            .await;
        let view = view.expect(200);
        assert_eq!(view["subscription"]["status"], "active");
        assert_eq!(view["subscription"]["stripe_customer_id"], "cus_wh");
        assert_eq!(view["entitlements"]["plan"], "classroom");
        assert_eq!(view["entitlements"]["seats"], 40);
        rest.get("/api/v1/payments/subscription", &school.student)
            .await
            .expect(403);

        // Other event types are acknowledged and ignored.
        let other = json!({"id": "evt_other", "type": "customer.created", "created": now(), "data": {"object": {}}});
        assert_eq!(
            deliver(&rest, &other, now(), WEBHOOK_SECRET)
                .await
                .expect(200)["outcome"],
            "ignored"
        );

        // The same four events in several orders end in the same row.
        let t0 = now() - 1000;
        let orders: [[usize; 4]; 4] = [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]];
        for (index, order) in orders.iter().enumerate() {
            let tenant = format!("shuf{index}");
            let admin = seen_admin(&rest, &tenant).await;
            let events = lifecycle_events(&tenant, t0);
            for position in order {
                deliver(&rest, &events[*position], now(), WEBHOOK_SECRET)
                    .await
                    .expect(200);
            }
            let view = rest.get("/api/v1/payments/subscription", &admin).await;
            let view = view.expect(200);
            assert_eq!(
                view["subscription"]["status"], "canceled",
                "order {order:?}: {view}"
            );
            assert_eq!(
                view["subscription"]["stripe_subscription_id"],
                format!("sub_{tenant}")
            );
            assert_eq!(view["entitlements"]["lapsed"], true, "order {order:?}");
        }
        // Without the cancellation, the newest event (the failed payment) wins in any order.
        for (index, order) in [[0usize, 1, 2], [2, 1, 0], [1, 2, 0]].iter().enumerate() {
            let tenant = format!("due{index}");
            let admin = seen_admin(&rest, &tenant).await;
            let events = &lifecycle_events(&tenant, t0)[..3];
            for position in order {
                deliver(&rest, &events[*position], now(), WEBHOOK_SECRET)
                    .await
                    .expect(200);
            }
            let view = rest.get("/api/v1/payments/subscription", &admin).await;
            assert_eq!(
                view.expect(200)["subscription"]["status"],
                "past_due",
                "order {order:?}"
            );
            assert_eq!(view.body["entitlements"]["lapsed"], false);
            assert_eq!(view.body["entitlements"]["plan"], "classroom");
        }
        test.server.shutdown().await;
    }
}

#[tokio::test]
async fn checkout_cancel_and_invoices_speak_stripes_api() {
    let (base, log) = stripe_stand_in().await;
    let test = billing_server(None, Some(base)).await;
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "pay").await;

    rest.post(
        "/api/v1/payments/checkout",
        &school.teacher,
        json!({"plan": "classroom"}),
    )
    .await
    .expect(403);
    let unknown = rest
        .post(
            "/api/v1/payments/checkout",
            &school.admin,
            json!({"plan": "platinum"}),
        )
        .await;
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    let created = rest
        .post(
            "/api/v1/payments/checkout",
            &school.admin,
            json!({"plan": "classroom"}),
        )
        .await;
    let created = created.expect(201);
    assert_eq!(created["id"], "cs_test_a1");
    assert!(
        created["url"]
            .as_str()
            .expect("url")
            .starts_with("https://checkout.stripe.com/")
    );
    let request = log.lock().expect("log")[0].clone();
    assert_eq!(request.path, "/v1/checkout/sessions");
    assert_eq!(request.authorization, format!("Bearer {STRIPE_KEY}"));
    assert!(
        request
            .content_type
            .starts_with("application/x-www-form-urlencoded"),
        "{}",
        request.content_type
    );
    for (field, value) in [
        ("mode", "subscription"),
        ("line_items[0][price]", "price_classroom"),
        ("line_items[0][quantity]", "1"),
        ("client_reference_id", "pay"),
        ("metadata[tenant]", "pay"),
        ("metadata[plan]", "classroom"),
        ("subscription_data[metadata][tenant]", "pay"),
    ] {
        assert_eq!(
            request.field(field),
            Some(value),
            "{field} in {:?}",
            request.fields
        );
    }
    assert!(
        request
            .field("success_url")
            .is_some_and(|url| url.starts_with("http"))
    );

    // Nothing to cancel or bill before a subscription exists.
    rest.post("/api/v1/payments/cancel", &school.admin, json!({}))
        .await
        .expect(409);
    let none = rest.get("/api/v1/payments/invoices", &school.admin).await;
    assert_eq!(none.expect(200)["items"], json!([]));

    let active = subscription_event(
        "evt_pay_1",
        "customer.subscription.created",
        now(),
        "pay",
        "active",
        "classroom",
    );
    deliver(&rest, &active, now(), WEBHOOK_SECRET)
        .await
        .expect(200);
    let cancelled = rest
        .post("/api/v1/payments/cancel", &school.admin, json!({}))
        .await;
    assert_eq!(cancelled.expect(200)["cancel_at_period_end"], true);
    let request = log
        .lock()
        .expect("log")
        .last()
        .cloned()
        .expect("cancel request");
    assert_eq!(request.path, "/v1/subscriptions/sub_pay");
    assert_eq!(request.field("cancel_at_period_end"), Some("true"));

    let invoices = rest.get("/api/v1/payments/invoices", &school.admin).await;
    let invoices = invoices.expect(200);
    assert_eq!(invoices["items"][0]["id"], "in_1");
    assert_eq!(invoices["items"][0]["amount_paid"], 4900);
    let request = log
        .lock()
        .expect("log")
        .last()
        .cloned()
        .expect("invoice request");
    assert_eq!(request.method, "GET");
    assert_eq!(request.field("customer"), Some("cus_pay"));
    test.server.shutdown().await;

    // Without Stripe's key: 503 naming the setting.
    let bare = start_with(|_| {}).await;
    let rest = Rest::new(bare.addr);
    let admin = crate::support::token("bare", server::auth::Role::Admin, "bare-admin");
    let answer = rest
        .post("/api/v1/payments/checkout", &admin, json!({"plan": "free"}))
        .await;
    assert_eq!(answer.status, 422, "{}", answer.body);
    let hook = deliver(&rest, &active, now(), WEBHOOK_SECRET).await;
    hook.expect_error(503, "STRIPE_WEBHOOK_SECRET");
    bare.server.shutdown().await;
}

#[tokio::test]
async fn checkout_without_a_stripe_key_names_the_setting() {
    let test = start_with(|config| {
        config
            .billing
            .prices
            .insert("classroom".to_owned(), "price_classroom".to_owned());
    })
    .await;
    let rest = Rest::new(test.addr);
    let admin = crate::support::token("nokey", server::auth::Role::Admin, "nokey-admin");
    let answer = rest
        .post(
            "/api/v1/payments/checkout",
            &admin,
            json!({"plan": "classroom"}),
        )
        .await;
    answer.expect_error(503, "STRIPE_SECRET_KEY");
    test.server.shutdown().await;
}

/// A server whose default plan has `seats` seats.
async fn seated_server(seats: u32) -> TestServer {
    start_with(move |config| {
        config.billing.webhook_secret = Some(WEBHOOK_SECRET.to_owned());
        config.billing.plans[0] = Plan {
            name: "free".to_owned(),
            seats,
            ai_tokens_per_day: 1000,
        };
    })
    .await
}

async fn roster_both(rest: &Rest, school: &School) -> String {
    let class_id = school.class_with_s1(rest).await;
    rest.post(
        &format!("/api/v1/classes/{class_id}/students"),
        &school.teacher,
        json!({"user_ids": [school.id("s2")]}),
    )
    .await
    .expect(200);
    class_id
}

#[tokio::test]
async fn a_student_over_the_seat_limit_is_refused_at_join_and_the_teacher_is_told() {
    let test = seated_server(1).await;
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "seat").await;
    let class_id = roster_both(&rest, &school).await;
    let room = format!("class:seat:{class_id}");

    let mut teacher = Client::connect(test.addr, &school.teacher).await;
    teacher.join(&room).await;
    let mut first = Client::connect(test.addr, &school.student).await;
    first.join(&room).await;
    // A second socket of the same student uses the same seat.
    let mut first_again = Client::connect(test.addr, &school.student).await;
    first_again.join(&room).await;

    let mut second = Client::connect(test.addr, &school.other_student).await;
    let refused = second
        .expect_error(json!({"type": "join", "room": room}))
        .await;
    assert_eq!(refused.code, ErrorCode::Forbidden.code());
    assert!(
        refused.message.contains("ask your teacher"),
        "{}",
        refused.message
    );
    assert!(refused.message.contains("1 seats"), "{}", refused.message);

    let told = teacher
        .recv_until(|message| {
            event_parts(message).is_some_and(|(_, kind, _)| kind == "seat_refused")
        })
        .await;
    let (_, _, data) = event_parts(&told).expect("event");
    assert_eq!(data["student"], school.id("s2"));
    assert_eq!(data["reason"], "seat_limit");
    assert_eq!(data["seats"], 1);
    assert!(
        data["message"]
            .as_str()
            .unwrap_or_default()
            .contains("upgrade")
    );

    // The seat frees when the first student's last socket closes.
    drop(first);
    drop(first_again);
    let deadline = std::time::Instant::now() + crate::support::PATIENCE;
    loop {
        let reference = second.next_ref();
        second
            .send(json!({"type": "join", "room": room, "ref": reference}))
            .await;
        let answer = second
            .recv_until(|message| {
                matches!(
                    message,
                    protocol::ServerMessage::Joined(_) | protocol::ServerMessage::Error(_)
                )
            })
            .await;
        if matches!(answer, protocol::ServerMessage::Joined(_)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the seat was never freed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let view = rest
        .get("/api/v1/payments/subscription", &school.teacher)
        .await;
    assert_eq!(view.expect(200)["seats_in_use"], 1);
    test.server.shutdown().await;
}

#[tokio::test]
async fn a_lapsed_subscription_keeps_the_lesson_going_but_starts_nothing_new() {
    let test = seated_server(30).await;
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "lapse").await;
    let class_id = roster_both(&rest, &school).await;
    let room = format!("class:lapse:{class_id}");
    let mut teacher = Client::connect(test.addr, &school.teacher).await;
    teacher.join(&room).await;
    let mut seated = Client::connect(test.addr, &school.student).await;
    seated.join(&room).await;
    let course = rest
        .post(
            "/api/v1/courses",
            &school.teacher,
            json!({"title": "Before"}),
        )
        .await;
    let course_id = course.expect(201)["id"].as_str().expect("id").to_owned();

    let t0 = now() - 60;
    for event in [
        subscription_event(
            "evt_l1",
            "customer.subscription.created",
            t0,
            "lapse",
            "active",
            "classroom",
        ),
        subscription_event(
            "evt_l2",
            "customer.subscription.deleted",
            t0 + 1,
            "lapse",
            "canceled",
            "classroom",
        ),
    ] {
        deliver(&rest, &event, now(), WEBHOOK_SECRET)
            .await
            .expect(200);
    }

    // Mid-lesson: the seated student keeps publishing and the teacher keeps seeing it.
    seated
        .publish(&room, "chat", json!({"text": "done with q1"}))
        .await;
    teacher
        .recv_until(|message| event_parts(message).is_some_and(|(_, kind, _)| kind == "chat"))
        .await;
    // Nobody new starts.
    let mut late = Client::connect(test.addr, &school.other_student).await;
    let refused = late
        .expect_error(json!({"type": "join", "room": room}))
        .await;
    assert!(refused.message.contains("lapsed"), "{}", refused.message);
    // Content is read-only; reading works.
    let write = rest
        .post(
            "/api/v1/courses",
            &school.teacher,
            json!({"title": "After"}),
        )
        .await;
    assert_eq!(write.status, 402, "{}", write.body);
    assert_eq!(write.code(), "payment_required");
    rest.patch(
        &format!("/api/v1/courses/{course_id}"),
        &school.admin,
        json!({"title": "x"}),
    )
    .await
    .expect(402);
    rest.get(&format!("/api/v1/courses/{course_id}"), &school.teacher)
        .await
        .expect(200);
    test.server.shutdown().await;
}
