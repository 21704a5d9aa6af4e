//! The audit trail over REST: staff actions and staff reads of one student's records are
//! recorded with actor, role, target, student and client address; only admins read the trail
//! (JSON pages and CSV), only their tenant's, and no route changes it.

use persistence::test_support::TestDatabase;
use serde_json::{Value, json};

use crate::classes::School;
use crate::rest::Rest;
use crate::support::{Client, start_with};

fn actions(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|entry| entry["action"].as_str().expect("action").to_owned())
        .collect()
}

#[tokio::test]
async fn staff_actions_and_reads_of_a_student_are_audited_for_admins_only() {
    for db in TestDatabase::all().await {
        let url = Some(db.url().to_owned());
        let test = start_with(move |config| config.database_url = url).await;
        let rest = Rest::new(test.addr);
        let school = School::enroll(&rest, "aud").await;
        let class_id = school.class_with_s1(&rest).await;
        let s1 = school.id("s1");
        rest.post(
            &format!("/api/v1/classes/{class_id}/commands"),
            &school.teacher,
            json!({"kind": "freeze", "student_id": s1}),
        )
        .await
        .expect(202);
        rest.get(&format!("/api/v1/progress/students/{s1}"), &school.teacher)
            .await
            .expect(200);
        // The student reading their own progress is not a staff read.
        rest.get(&format!("/api/v1/progress/students/{s1}"), &school.student)
            .await
            .expect(200);
        rest.delete(
            &format!("/api/v1/classes/{class_id}/students/{s1}"),
            &school.teacher,
        )
        .await;
        rest.patch(
            &format!("/api/v1/users/{}", school.id("t2")),
            &school.admin,
            json!({"active": false}),
        )
        .await
        .expect(200);

        let trail = rest.get("/api/v1/audit", &school.admin).await;
        let trail = trail.expect(200).clone();
        assert_eq!(
            actions(&trail),
            [
                "user.updated",
                "roster.removed",
                "progress.read",
                "command.sent",
                "roster.added",
                "class.created"
            ],
            "newest first: {trail:#}"
        );
        let command = &trail["items"][3];
        assert_eq!(command["actor_id"], school.id("t1"));
        assert_eq!(command["actor_role"], "educator");
        assert_eq!(command["target_type"], "class");
        assert_eq!(command["target_id"], class_id.as_str());
        assert_eq!(command["student_id"], s1.as_str());
        assert_eq!(command["detail"]["kind"], "freeze");
        assert_eq!(command["source_ip"], "127.0.0.1");
        assert!(
            command["created_at"]
                .as_str()
                .is_some_and(|at| !at.is_empty())
        );

        // Filters and pages.
        let about_s1 = rest
            .get(
                &format!("/api/v1/audit?student_id={s1}&limit=2"),
                &school.admin,
            )
            .await;
        let about_s1 = about_s1.expect(200).clone();
        assert_eq!(actions(&about_s1), ["roster.removed", "progress.read"]);
        let cursor = about_s1["next_cursor"].as_str().expect("more").to_owned();
        let rest_of = rest
            .get(
                &format!("/api/v1/audit?student_id={s1}&limit=2&cursor={cursor}"),
                &school.admin,
            )
            .await;
        assert_eq!(
            actions(rest_of.expect(200)),
            ["command.sent", "roster.added"]
        );
        let reads = rest
            .get("/api/v1/audit?action=progress.read", &school.admin)
            .await;
        assert_eq!(actions(reads.expect(200)), ["progress.read"]);

        // CSV: a header and one line per entry, the next cursor in a header.
        let csv = reqwest::Client::new()
            .get(format!("{}/api/v1/audit.csv?limit=2", rest.base()))
            .bearer_auth(&school.admin)
            .send()
            .await
            .expect("csv");
        assert_eq!(csv.status(), 200);
        assert!(csv.headers().contains_key("x-next-cursor"));
        let text = csv.text().await.expect("text");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("id,created_at,actor_id,actor_role,action"));
        assert!(lines[1].contains(",user.updated,"), "{text}");

        // Only admins, only their tenant.
        for who in [&school.teacher, &school.student, &school.parent] {
            assert_eq!(rest.get("/api/v1/audit", who).await.status, 403);
            assert_eq!(rest.get("/api/v1/audit.csv", who).await.status, 403);
        }
        // A command sent over `/ws` is audited too (written beside the socket, so polled).
        let mut socket = Client::connect(test.addr, &school.admin).await;
        socket
            .publish(
                &format!("class:aud:{class_id}"),
                "announce",
                json!({"text": "Tidy up"}),
            )
            .await;
        let mut found = Value::Null;
        for _ in 0..50 {
            let sent = rest
                .get("/api/v1/audit?action=command.sent", &school.admin)
                .await;
            let sent = sent.expect(200).clone();
            if sent["items"].as_array().map(Vec::len) == Some(2) {
                found = sent["items"][0].clone();
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(found["detail"]["via"], "ws", "{found}");
        assert_eq!(found["detail"]["kind"], "announce");
        assert_eq!(found["actor_role"], "admin");
        assert_eq!(found["target_id"], class_id.as_str());

        let other = School::enroll(&rest, "aud2").await;
        let theirs = rest.get("/api/v1/audit", &other.admin).await;
        assert_eq!(theirs.expect(200)["items"], json!([]));
        test.server.shutdown().await;
    }
}
