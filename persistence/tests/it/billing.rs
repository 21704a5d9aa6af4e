//! The billing and AI records on both backends: Stripe event ids counted once, subscription
//! changes applied in Stripe's time order whatever order they arrive in (a canceled subscription
//! stays canceled), agent tasks with the per-day token total, and the daily AI token reservations
//! (never past the quota, however many reserve at once).

use persistence::SubscriptionChange;
use persistence::test_support::TestDatabase;
use serde_json::json;

fn change(tenant: &str, status: &str, event_at: i64) -> SubscriptionChange {
    SubscriptionChange {
        tenant: tenant.to_owned(),
        customer: Some(format!("cus_{tenant}")),
        subscription: Some(format!("sub_{tenant}")),
        plan: Some("classroom".to_owned()),
        status: Some(status.to_owned()),
        seats: Some(40),
        ai_tokens_per_day: Some(200_000),
        current_period_end: Some(event_at + 2_592_000),
        event_at,
    }
}

#[tokio::test]
async fn subscriptions_converge_and_events_count_once() {
    for db in TestDatabase::all().await {
        let store = db.store().await;
        let backend = store.backend();
        assert!(
            store
                .record_stripe_event("evt_1", "invoice.paid")
                .await
                .expect("record")
        );
        assert!(
            !store
                .record_stripe_event("evt_1", "invoice.paid")
                .await
                .expect("again")
        );
        store.forget_stripe_event("evt_1").await.expect("forget");
        assert!(
            store
                .record_stripe_event("evt_1", "invoice.paid")
                .await
                .expect("after forget")
        );

        let t0 = 1_800_000_000;
        let changes = [
            change("t", "incomplete", t0),
            change("t", "active", t0 + 10),
            change("t", "past_due", t0 + 20),
        ];
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
            let tenant = format!("t{}{}{}", order[0], order[1], order[2]);
            for index in order {
                let mut change = changes[index].clone();
                change.tenant = tenant.clone();
                change.subscription = Some(format!("sub_{tenant}"));
                store
                    .apply_subscription_change(&change)
                    .await
                    .expect("apply");
            }
            let row = store
                .subscription(&tenant)
                .await
                .expect("read")
                .expect("row");
            assert_eq!(row.status, "past_due", "{backend:?} {order:?}");
            assert_eq!(row.seats, Some(40));
            assert_eq!(row.plan, "classroom");
            assert!(
                row.last_event_at
                    .is_some_and(|at| at.starts_with("2027-01-15T08:")),
                "{backend:?}"
            );
            assert_eq!(
                store
                    .tenant_of_stripe(Some(&format!("sub_{tenant}")), None)
                    .await
                    .expect("by subscription"),
                Some(tenant.clone())
            );
        }
        // Canceled is final for that subscription, even against a later event.
        store
            .apply_subscription_change(&change("c", "canceled", t0))
            .await
            .expect("cancel");
        let late = store
            .apply_subscription_change(&change("c", "active", t0 + 5))
            .await
            .expect("late");
        assert_eq!(late.status, "canceled", "{backend:?}");
        assert_eq!(
            store
                .tenant_of_stripe(None, Some("cus_c"))
                .await
                .expect("by customer"),
            Some("c".to_owned())
        );
        assert_eq!(store.all_subscriptions().await.expect("all").len(), 4);

        // Agent tasks: pending → running → completed/failed, tokens summed per tenant and day.
        store
            .ensure_user("t", "s1", "student", None)
            .await
            .expect("user");
        store
            .insert_agent_task("t", "task_1", "s1", "ask", &json!({"question": "?"}))
            .await
            .expect("insert");
        assert_eq!(
            store
                .agent_task("t", "task_1")
                .await
                .expect("read")
                .expect("row")
                .status,
            "pending"
        );
        store
            .start_agent_task("t", "task_1", "gpt-test")
            .await
            .expect("start");
        assert_eq!(
            store
                .agent_task("t", "task_1")
                .await
                .expect("read")
                .expect("row")
                .status,
            "running"
        );
        store
            .finish_agent_task("t", "task_1", Ok(&json!({"answer": "!"})), 42)
            .await
            .expect("finish");
        store
            .insert_agent_task("t", "task_2", "s1", "ask", &json!({}))
            .await
            .expect("insert");
        store
            .finish_agent_task("t", "task_2", Err("refused: keyword:gun"), 0)
            .await
            .expect("fail");
        let rows = store.agent_tasks_of("t", "s1", 10).await.expect("rows");
        assert_eq!(rows.len(), 2);
        let done = rows.iter().find(|row| row.id == "task_1").expect("task_1");
        assert_eq!((done.status.as_str(), done.tokens_used), ("completed", 42));
        assert_eq!(done.output.as_ref().expect("output")["answer"], "!");
        let failed = rows.iter().find(|row| row.id == "task_2").expect("task_2");
        assert_eq!(failed.error.as_deref(), Some("refused: keyword:gun"));
        let since_yesterday = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64
            - 86_400;
        assert_eq!(
            store
                .tokens_used_since("t", since_yesterday)
                .await
                .expect("sum"),
            42,
            "{backend:?}"
        );
        assert_eq!(
            store
                .tokens_used_since("other", since_yesterday)
                .await
                .expect("sum"),
            0
        );
        drop(store);
    }
}

#[tokio::test]
async fn ai_token_reservations_never_pass_the_quota_and_settle_to_real_usage() {
    for db in TestDatabase::all().await {
        let store = db.store().await;
        let backend = store.backend();
        let day = 1_800_000_000 / 86_400 * 86_400;
        // 20 calls reserve 100 tokens each at once against a quota of 1 000: exactly 10 win.
        let attempts = (0..20).map(|_| store.reserve_ai_tokens("t", day, 100, 1_000));
        let won = futures_util::future::join_all(attempts)
            .await
            .into_iter()
            .map(|reserved| reserved.expect("reserve"))
            .filter(|won| *won)
            .count();
        assert_eq!(won, 10, "{backend:?}");
        assert_eq!(store.ai_usage("t", day).await.expect("usage"), (0, 1_000));
        // One call used 60 of its 100, one failed (gives all back): 140 free again.
        store
            .settle_ai_tokens("t", day, 100, 60)
            .await
            .expect("settle");
        store
            .settle_ai_tokens("t", day, 100, 0)
            .await
            .expect("release");
        assert_eq!(store.ai_usage("t", day).await.expect("usage"), (60, 800));
        assert!(
            store
                .reserve_ai_tokens("t", day, 140, 1_000)
                .await
                .expect("fits")
        );
        assert!(
            !store
                .reserve_ai_tokens("t", day, 1, 1_000)
                .await
                .expect("full")
        );
        // A reservation larger than the quota on a fresh day is refused too; other tenants and
        // days are untouched.
        assert!(
            !store
                .reserve_ai_tokens("t", day + 86_400, 2_000, 1_000)
                .await
                .expect("big")
        );
        assert_eq!(
            store.ai_usage("t", day + 86_400).await.expect("usage"),
            (0, 0)
        );
        assert!(
            store
                .reserve_ai_tokens("other", day, 1_000, 1_000)
                .await
                .expect("other")
        );
        drop(store);
    }
}
