//! The role matrix, data-driven: for every documented operation, which roles of the tenant may
//! call it. Every role not listed must get 403; listed roles get a success on reads (writes by
//! allowed roles are exercised by the scenario tests). The table must name every operation, so a
//! new route cannot ship without its role policy being written down here.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::classes::School;
use crate::rest::Rest;
use crate::support::start_without_rest_limits;

/// A: admin, T: the class's teacher, E: another educator, S: a student on the roster,
/// P: the student's linked parent. `!` marks a role that gets 404 instead of 403 (the object is
/// not theirs to see at all). `-` marks a route that is not for people (game-server key routes):
/// every person's token gets 401.
const POLICY: &[(&str, &str)] = &[
    ("get /api/v1/auth/me", "ATESP"),
    ("get /api/v1/users", "A"),
    ("post /api/v1/users", "A"),
    ("get /api/v1/users/{user_id}", "AS"),
    ("patch /api/v1/users/{user_id}", "A"),
    ("get /api/v1/users/{user_id}/children", "AP"),
    ("post /api/v1/users/{user_id}/children", "A"),
    ("delete /api/v1/users/{user_id}/children/{child_id}", "A"),
    ("get /api/v1/classes", "ATES"),
    ("post /api/v1/classes", "ATE"),
    ("get /api/v1/classes/{id}", "ATS"),
    ("patch /api/v1/classes/{id}", "AT"),
    ("delete /api/v1/classes/{id}", "AT"),
    ("get /api/v1/classes/{id}/students", "AT"),
    ("post /api/v1/classes/{id}/students", "AT"),
    ("delete /api/v1/classes/{id}/students/{user_id}", "AT"),
    (
        "post /api/v1/classes/{id}/students/{user_id}/link-code",
        "AT",
    ),
    ("post /api/v1/classes/{id}/code", "AT"),
    ("get /api/v1/classes/{id}/live", "AT"),
    ("get /api/v1/classes/{id}/assignments", "ATS"),
    ("post /api/v1/classes/{id}/assignments", "AT"),
    (
        "delete /api/v1/classes/{id}/assignments/{assignment_id}",
        "AT",
    ),
    ("get /api/v1/me/lessons", "S"),
    ("get /api/v1/users/{user_id}/rewards", "ATSP"),
    ("get /api/v1/classes/{id}/leaderboard", "ATS"),
    ("put /api/v1/classes/{id}/leaderboard", "AT"),
    ("post /api/v1/progress", "S"),
    ("get /api/v1/classes/{id}/chat", "ATS"),
    ("post /api/v1/classes/{id}/chat", "ATS"),
    ("get /api/v1/classes/{id}/chat/held", "AT"),
    (
        "post /api/v1/classes/{id}/chat/held/{message_id}/release",
        "AT",
    ),
    ("delete /api/v1/classes/{id}/chat/{message_id}", "AT"),
    ("get /api/v1/classes/{id}/chat/settings", "ATS"),
    ("put /api/v1/classes/{id}/chat/settings", "AT"),
    ("put /api/v1/classes/{id}/chat/mutes/{user_id}", "AT"),
    ("delete /api/v1/classes/{id}/chat/mutes/{user_id}", "AT"),
    ("get /api/v1/chat/blocklist", "A"),
    ("put /api/v1/chat/blocklist", "A"),
    ("get /api/v1/courses", "ATESP"),
    ("post /api/v1/courses", "ATE"),
    ("get /api/v1/courses/{id}", "ATESP"),
    ("patch /api/v1/courses/{id}", "ATE"),
    ("delete /api/v1/courses/{id}", "ATE"),
    ("post /api/v1/courses/{id}/publish", "ATE"),
    ("get /api/v1/courses/{id}/lessons", "ATESP"),
    ("post /api/v1/courses/{id}/lessons", "ATE"),
    ("put /api/v1/courses/{id}/lessons/order", "ATE"),
    ("get /api/v1/lessons/{id}", "ATESP"),
    ("patch /api/v1/lessons/{id}", "ATE"),
    ("delete /api/v1/lessons/{id}", "ATE"),
    ("post /api/v1/lessons/{id}/publish", "ATE"),
    ("get /api/v1/lessons", "ATESP"),
    ("get /api/v1/lessons/{id}/revisions", "ATE"),
    ("get /api/v1/lessons/{id}/revisions/{revision}", "ATE"),
    (
        "post /api/v1/lessons/{id}/revisions/{revision}/restore",
        "AT",
    ),
    ("get /api/v1/media", "ATESP"),
    ("post /api/v1/media", "ATE"),
    ("get /api/v1/media/{id}", "ATESP"),
    ("delete /api/v1/media/{id}", "ATE"),
    ("get /api/v1/media/{id}/thumbnail", "ATESP"),
    ("get /api/v1/assessments", "ATESP"),
    ("post /api/v1/assessments", "ATE"),
    ("get /api/v1/assessments/{id}", "ATESP"),
    ("patch /api/v1/assessments/{id}", "ATE"),
    ("delete /api/v1/assessments/{id}", "ATE"),
    ("get /api/v1/assessments/{id}/results", "ATES"),
    ("post /api/v1/assessments/{id}/results", "S"),
    ("get /api/v1/progress/students/{id}", "ATSP"),
    ("get /api/v1/progress/classes/{id}", "AT"),
    ("get /api/v1/progress/courses/{id}", "ATE"),
    ("get /api/v1/analytics/classes/{id}", "AT"),
    ("get /api/v1/analytics/classes/{id}/report.csv", "AT"),
    ("get /api/v1/analytics/courses/{id}", "ATE"),
    ("get /api/v1/admin/overview", "A"),
    ("get /api/v1/notifications", "ATESP"),
    ("post /api/v1/notifications", "AT"),
    ("get /api/v1/audit", "A"),
    ("get /api/v1/users/{user_id}/consent", "ASP"),
    ("put /api/v1/users/{user_id}/consent", "AP"),
    ("get /api/v1/users/{user_id}/export", "ASP"),
    ("get /api/v1/users/{user_id}/export.zip", "ASP"),
    ("delete /api/v1/users/{user_id}", "A"),
    ("get /api/v1/privacy/retention", "A"),
    ("put /api/v1/privacy/retention", "A"),
    ("get /api/v1/consent/policy", "A"),
    ("put /api/v1/consent/policy", "A"),
    ("get /api/v1/audit.csv", "A"),
    ("post /api/v1/classes/{id}/commands", "AT"),
    ("post /api/v1/roblox/sessions", "-"),
    ("delete /api/v1/roblox/sessions/{id}", "-"),
    ("post /api/v1/roblox/sessions/{id}/players", "-"),
    ("get /api/v1/roblox/sessions/{id}/commands", "-"),
    ("post /api/v1/roblox/sessions/{id}/commands/ack", "-"),
    ("post /api/v1/roblox/link", "-"),
    ("post /api/v1/roblox/events", "-"),
    ("get /api/v1/roblox/lessons/{id}", "-"),
    ("get /api/v1/roblox/players/{roblox_user_id}/stats", "-"),
    (
        "post /api/v1/notifications/{notification_id}/read",
        "S!ATEP",
    ),
    ("post /api/v1/ai/ask", "ATES"),
    ("post /api/v1/ai/explain", "ATES"),
    ("post /api/v1/ai/generate-content", "ATE"),
    ("post /api/v1/ai/create-assessment", "ATE"),
    ("get /api/v1/ai/suggestions", "ATESP"),
    ("get /api/v1/ai/threads", "ATESP"),
    ("get /api/v1/ai/threads/{id}", "ATSP"),
    ("delete /api/v1/ai/threads/{id}", "S"),
    ("get /api/v1/ai/tasks", "ATE"),
    ("get /api/v1/ai/tasks/{id}", "AT"),
    ("post /api/v1/ai/tasks/{id}/save-lesson", "ATE"),
    ("post /api/v1/payments/checkout", "A"),
    ("get /api/v1/payments/subscription", "ATE"),
    ("post /api/v1/payments/cancel", "A"),
    ("get /api/v1/payments/invoices", "A"),
    // Stripe's, signed rather than authenticated: every caller without a signature gets 400.
    ("post /api/v1/payments/webhook", "ATESP"),
];

#[tokio::test]
async fn every_operation_refuses_the_roles_it_does_not_name() {
    let test = start_without_rest_limits().await;
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "rol").await;
    let class_id = school.class_with_s1(&rest).await;
    let course = rest
        .post(
            "/api/v1/courses",
            &school.teacher,
            json!({"title": "C", "published": true}),
        )
        .await;
    let course_id = course.expect(201)["id"].as_str().expect("id").to_owned();
    let lesson = rest
        .post(
            &format!("/api/v1/courses/{course_id}/lessons"),
            &school.teacher,
            json!({"title": "L", "published": true}),
        )
        .await;
    let lesson_id = lesson.expect(201)["id"].as_str().expect("id").to_owned();
    // Revision 1 of the lesson.
    rest.patch(
        &format!("/api/v1/lessons/{lesson_id}"),
        &school.teacher,
        json!({"title": "L2"}),
    )
    .await
    .expect(200);
    let (status, media) = crate::media::upload(
        test.addr,
        &school.teacher,
        &format!("?lesson_id={lesson_id}"),
        "a.png",
        &crate::media::png(8, 8, false),
    )
    .await;
    assert_eq!(status, 201, "{media}");
    let media_id = media["id"].as_str().expect("id").to_owned();
    let assessment = rest
        .post(
            "/api/v1/assessments",
            &school.teacher,
            json!({"title": "Q", "lesson_id": lesson_id, "questions": [{"id": "q1", "type": "free_text", "prompt": "?"}]}),
        )
        .await;
    let assessment_id = assessment.expect(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    rest.post(
        "/api/v1/notifications",
        &school.teacher,
        json!({"user_id": school.id("s1"), "kind": "message", "title": "hi"}),
    )
    .await
    .expect(201);
    let notes = rest.get("/api/v1/notifications", &school.student).await;
    let notification_id = notes.expect(200)["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    rest.post(
        &format!("/api/v1/users/{}/children", school.id("p1")),
        &school.admin,
        json!({"child_id": school.id("s1")}),
    )
    .await
    .expect(204);

    // A conversation and an AI task of the student (no model here: written through the store).
    let store = persistence::Store::open_sqlite_file(&test.data_dir.join("classhub.db"))
        .await
        .expect("open the server's database");
    store
        .create_thread("rol", "thr_rol", &school.id("s1"), "Why?")
        .await
        .expect("thread");
    store
        .insert_agent_task(
            "rol",
            "task_rol",
            &school.id("s1"),
            "ask",
            &json!({"question": "Why?"}),
        )
        .await
        .expect("task");
    drop(store);

    let roles: BTreeMap<char, &str> = [
        ('A', school.admin.as_str()),
        ('T', school.teacher.as_str()),
        ('E', school.other_teacher.as_str()),
        ('S', school.student.as_str()),
        ('P', school.parent.as_str()),
    ]
    .into_iter()
    .collect();
    let (status, doc) = crate::support::http_get(test.addr, "/openapi.json").await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&doc).expect("json");
    let policy: BTreeMap<&str, &str> = POLICY.iter().copied().collect();
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                documented.push((method.to_owned(), path.clone(), item[method].clone()));
            }
        }
    }
    for (method, path, _) in &documented {
        let key = format!("{method} {path}");
        assert!(
            policy.contains_key(key.as_str()),
            "no role policy for {key}: add it to POLICY"
        );
    }

    let values = json!({
        "name": "n", "title": "t", "kind": "message", "user_ids": [school.id("s2")],
        "class_id": class_id, "child_id": school.id("s2"), "lesson_ids": [lesson_id],
        "answers": {}, "id": "rol-new", "role": "student", "required": false, "state": "granted",
        "questions": [{"id": "q1", "type": "free_text", "prompt": "?"}],
        "lesson_id": lesson_id, "percent": 10, "enabled": true, "text": "hi",
        "slow_mode_seconds": 0, "minutes": 1, "words": [], "course_id": course_id,
    });
    for (method, path, operation) in documented {
        let allowed = policy[format!("{method} {path}").as_str()];
        let not_for_people = allowed == "-";
        let (allowed, hidden) = allowed.split_once('!').unwrap_or((allowed, ""));
        let concrete = path
            .replace(
                "/users/{user_id}/children/{child_id}",
                &format!("/users/{}/children/{}", school.id("p1"), school.id("s1")),
            )
            .replace(
                "/users/{user_id}/children",
                &format!("/users/{}/children", school.id("p1")),
            )
            .replace("{user_id}", &school.id("s1"))
            .replace("{notification_id}", &notification_id)
            .replace("/ai/threads/{id}", "/ai/threads/thr_rol")
            .replace("/ai/tasks/{id}", "/ai/tasks/task_rol")
            .replace("{revision}", "1")
            .replace("/classes/{id}", &format!("/classes/{class_id}"))
            .replace("/courses/{id}", &format!("/courses/{course_id}"))
            .replace("/lessons/{id}", &format!("/lessons/{lesson_id}"))
            .replace("/media/{id}", &format!("/media/{media_id}"))
            .replace(
                "/assessments/{id}",
                &format!("/assessments/{assessment_id}"),
            )
            .replace(
                "/progress/students/{id}",
                &format!("/progress/students/{}", school.id("s1")),
            );
        let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
        let body = (!schema.is_null())
            .then(|| crate::openapi::object_fields(&doc, schema))
            .map(|(properties, required_names)| {
                let mut body = serde_json::Map::new();
                for name in properties.keys().cloned() {
                    let required = required_names.contains(&name);
                    if let Some(value) =
                        values.get(&name).filter(|_| required || name == "class_id")
                    {
                        body.insert(name, value.clone());
                    }
                }
                Value::Object(body)
            });
        for (role, token) in &roles {
            let expected_denial = if not_for_people {
                Some(401)
            } else if hidden.contains(*role) {
                Some(404)
            } else if !allowed.contains(*role) {
                Some(403)
            } else {
                None
            };
            match expected_denial {
                Some(status) => {
                    let answer = rest
                        .call(&method.to_uppercase(), &concrete, Some(token), body.clone())
                        .await;
                    assert_eq!(
                        answer.status, status,
                        "{role} {method} {concrete}: {}",
                        answer.body
                    );
                }
                None if method == "get" => {
                    let answer = rest.call("GET", &concrete, Some(token), None).await;
                    assert!(
                        (200..300).contains(&answer.status),
                        "{role} {method} {concrete}: {} {}",
                        answer.status,
                        answer.body
                    );
                }
                None => {}
            }
        }
    }
}
