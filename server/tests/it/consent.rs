//! Consent (COPPA) over REST: off until a tenant's admin requires it; then a student without
//! granted consent gets no AI tutor and cannot have a Roblox account linked, a linked parent (or
//! an admin for the school) grants and revokes it, and every decision is audited.

use persistence::test_support::TestDatabase;
use serde_json::json;

use crate::classes::School;
use crate::rest::Rest;
use crate::support::start_with;

#[tokio::test]
async fn a_student_waits_for_a_parents_consent_once_the_school_requires_it() {
    for db in TestDatabase::all().await {
        let url = Some(db.url().to_owned());
        let test = start_with(move |config| config.database_url = url).await;
        let rest = Rest::new(test.addr);
        let school = School::enroll(&rest, "cns").await;
        let s1 = school.id("s1");
        rest.post(
            &format!("/api/v1/users/{}/children", school.id("p1")),
            &school.admin,
            json!({"child_id": s1}),
        )
        .await;
        // A published lesson the student may ask about (no AI endpoint is configured here, so
        // a question that passes every check is answered 503).
        let course = rest
            .post(
                "/api/v1/courses",
                &school.teacher,
                json!({"title": "Maps", "published": true}),
            )
            .await;
        let course_id = course.expect(201)["id"].as_str().expect("id").to_owned();
        let lesson = rest
            .post(
                &format!("/api/v1/courses/{course_id}/lessons"),
                &school.teacher,
                json!({"title": "Scale", "published": true}),
            )
            .await;
        let lesson_id = lesson.expect(201)["id"].as_str().expect("id").to_owned();
        let ask = || {
            rest.post(
                "/api/v1/ai/ask",
                &school.student,
                json!({"lesson_id": lesson_id, "question": "What is a scale?", "stream": false}),
            )
        };
        let consent = format!("/api/v1/users/{s1}/consent");
        // Consent is a student's: a teacher has none to decide.
        let teachers = format!("/api/v1/users/{}/consent", school.id("t1"));
        let none = rest.get(&teachers, &school.admin).await;
        assert_eq!(none.expect(200)["state"], "not_applicable");
        rest.call(
            "PUT",
            &teachers,
            Some(&school.admin),
            Some(json!({"state": "granted"})),
        )
        .await
        .expect_error(409, "not a student");

        // Off by default: the question passes the consent rule.
        assert_eq!(ask().await.status, 503);
        let policy = rest.get("/api/v1/consent/policy", &school.admin).await;
        assert_eq!(policy.expect(200)["required"], false);

        // Required: pending consent stops the AI tutor, with a sentence saying who grants it.
        rest.call(
            "PUT",
            "/api/v1/consent/policy",
            Some(&school.admin),
            Some(json!({"required": true})),
        )
        .await
        .expect(200);
        ask()
            .await
            .expect_error(403, "until a parent grants consent");
        let seen = rest.get(&consent, &school.student).await;
        assert_eq!(seen.expect(200)["state"], "pending");
        assert_eq!(seen.expect(200)["required"], true);

        // Only the linked parent or an admin decides; a bad state names the field.
        for who in [&school.teacher, &school.student, &school.other_teacher] {
            let refused = rest
                .call(
                    "PUT",
                    &consent,
                    Some(who),
                    Some(json!({"state": "granted"})),
                )
                .await;
            assert_eq!(refused.status, 403, "{}", refused.body);
        }
        rest.call(
            "PUT",
            &consent,
            Some(&school.parent),
            Some(json!({"state": "maybe"})),
        )
        .await
        .expect_error(422, "granted or revoked");
        let granted = rest
            .call(
                "PUT",
                &consent,
                Some(&school.parent),
                Some(json!({"state": "granted"})),
            )
            .await;
        let granted = granted.expect(200).clone();
        assert_eq!(granted["state"], "granted");
        assert_eq!(granted["decided_by"], school.id("p1"));
        assert_eq!(granted["decided_role"], "parent");
        assert_eq!(ask().await.status, 503, "granted: past the consent rule");

        // Revoked: refused again at once.
        rest.call(
            "PUT",
            &consent,
            Some(&school.parent),
            Some(json!({"state": "revoked"})),
        )
        .await
        .expect(200);
        ask().await.expect_error(403, "it is revoked");

        let trail = rest.get("/api/v1/audit", &school.admin).await;
        let actions: Vec<String> = trail.expect(200)["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|entry| entry["action"].as_str().unwrap_or_default().to_owned())
            .filter(|action| action.starts_with("consent."))
            .collect();
        assert_eq!(
            actions,
            [
                "consent.revoked",
                "consent.granted",
                "consent.policy_changed"
            ]
        );
        test.server.shutdown().await;
    }
}
