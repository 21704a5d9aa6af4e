//! The route × caller matrix: every operation `/openapi.json` lists is called as each caller who
//! should get nothing of tenant `north`'s class — no token, `south`'s admin, a student not on
//! the roster, a parent not linked to the student, an educator who does not teach the class —
//! with path ids of `north`'s own resources and a body made from the operation's schema (so
//! validation passes and the permission check is what answers). It fails on any 5xx other than
//! a 503 that says why, on any answer but 401 without a token where the document asks for one,
//! on any 2xx whose body holds data of the class (its name, code, a student's link code, a
//! notification to the student) or, for callers outside the tenant, anything of `north`, and
//! if `north`'s class, roster, content or users changed afterwards. A new route is covered the
//! moment it is in the document.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use server::auth::Role;

use crate::classes::School;
use crate::rest::Rest;
use crate::support::{TestServer, start_without_rest_limits, token};

/// What `north` made, and the words that must not reach the wrong callers.
struct North {
    school: School,
    class_id: String,
    class_code: String,
    link_code: String,
    course_id: String,
    lesson_id: String,
    assessment_id: String,
    notification_id: String,
    session_id: String,
}

const CLASS_NAME: &str = "Orchid-Marker-Class";
const NOTE_TITLE: &str = "Orchid-Marker-Note";
const COURSE_TITLE: &str = "Orchid-Marker-Course";
const LESSON_TITLE: &str = "Orchid-Marker-Lesson";
const QUIZ_TITLE: &str = "Orchid-Marker-Quiz";

impl North {
    async fn seed(test: &TestServer, rest: &Rest) -> North {
        let school = School::enroll(rest, "north").await;
        let class = rest
            .post(
                "/api/v1/classes",
                &school.teacher,
                json!({"name": CLASS_NAME}),
            )
            .await;
        let class = class.expect(201).clone();
        let class_id = class["id"].as_str().expect("id").to_owned();
        rest.post(
            &format!("/api/v1/classes/{class_id}/students"),
            &school.teacher,
            json!({"user_ids": [school.id("s1")]}),
        )
        .await
        .expect(200);
        let roster = rest
            .get(
                &format!("/api/v1/classes/{class_id}/students"),
                &school.teacher,
            )
            .await;
        let link_code = roster.expect(200)["items"][0]["link_code"]
            .as_str()
            .expect("link code")
            .to_owned();
        let course = rest
            .post(
                "/api/v1/courses",
                &school.teacher,
                json!({"title": COURSE_TITLE}),
            )
            .await;
        let course_id = course.expect(201)["id"].as_str().expect("id").to_owned();
        let lesson = rest
            .post(
                &format!("/api/v1/courses/{course_id}/lessons"),
                &school.teacher,
                json!({"title": LESSON_TITLE, "content": {}}),
            )
            .await;
        let lesson_id = lesson.expect(201)["id"].as_str().expect("id").to_owned();
        let quiz = rest
            .post(
                "/api/v1/assessments",
                &school.teacher,
                json!({"title": QUIZ_TITLE, "lesson_id": lesson_id, "questions": [
                    {"id": "q1", "type": "multiple_choice", "prompt": "?", "choices": ["a", "b"], "answer": 1}
                ]}),
            )
            .await;
        let assessment_id = quiz.expect(201)["id"].as_str().expect("id").to_owned();
        let sent = rest
            .post(
                "/api/v1/notifications",
                &school.teacher,
                json!({"user_id": school.id("s1"), "kind": "message", "title": NOTE_TITLE}),
            )
            .await;
        assert!(sent.status < 300, "{}", sent.body);
        let inbox = rest.get("/api/v1/notifications", &school.student).await;
        let notification_id = inbox.expect(200)["items"][0]["id"]
            .as_str()
            .expect("notification id")
            .to_owned();
        let key = crate::roblox::make_key(test.server.app().store(), "north", None).await;
        let opened = reqwest::Client::new()
            .post(format!("{}/api/v1/roblox/sessions", rest.base()))
            .bearer_auth(&key)
            .json(&json!({"universe_id": 1, "place_id": 1, "job_id": "job-matrix", "class_id": class_id}))
            .send()
            .await
            .expect("session opened");
        let opened: Value = opened.json().await.expect("json");
        let session_id = opened["session_id"].as_str().expect("session").to_owned();
        North {
            class_code: class["class_code"].as_str().expect("code").to_owned(),
            school,
            class_id,
            link_code,
            course_id,
            lesson_id,
            assessment_id,
            notification_id,
            session_id,
        }
    }

    /// A value for a path parameter, by the route it is in.
    fn path_value(&self, path: &str, name: &str) -> String {
        let before = path
            .split(&format!("{{{name}}}"))
            .next()
            .unwrap_or_default();
        let resource = before
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("");
        match (resource, name) {
            (_, "user_id" | "child_id") | ("students", _) => self.school.id("s1"),
            ("classes", _) => self.class_id.clone(),
            ("courses", _) => self.course_id.clone(),
            ("lessons", _) => self.lesson_id.clone(),
            ("assessments", _) => self.assessment_id.clone(),
            ("sessions", _) => self.session_id.clone(),
            (_, "notification_id") => self.notification_id.clone(),
            _ => "unknown-id".to_owned(),
        }
    }

    /// A value for a body field, by its name.
    fn field_value(&self, name: &str) -> Option<Value> {
        let value = match name {
            "class_id" => self.class_id.clone(),
            "user_id" | "student_id" | "child_id" => self.school.id("s1"),
            "user_ids" | "student_ids" => return Some(json!([self.school.id("s1")])),
            "course_id" => self.course_id.clone(),
            "lesson_id" => self.lesson_id.clone(),
            "assessment_id" => self.assessment_id.clone(),
            "session_id" => self.session_id.clone(),
            "class_code" => self.class_code.clone(),
            _ => return None,
        };
        Some(Value::String(value))
    }

    /// What `north` holds that a caller inside the tenant but outside the class must not get.
    fn class_secrets(&self) -> Vec<String> {
        vec![
            CLASS_NAME.to_owned(),
            NOTE_TITLE.to_owned(),
            self.class_code.clone(),
            self.link_code.clone(),
        ]
    }

    /// What a caller outside `north` must not get: anything of it.
    fn tenant_secrets(&self) -> Vec<String> {
        let mut secrets = self.class_secrets();
        secrets.extend(
            [COURSE_TITLE, LESSON_TITLE, QUIZ_TITLE, "north-"]
                .iter()
                .map(|word| (*word).to_owned()),
        );
        secrets
    }
}

/// A value that satisfies `schema` (required fields only), ids taken from `north`.
fn example(doc: &Value, schema: &Value, north: &North, depth: usize) -> Value {
    if depth > 12 {
        return Value::Null;
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/components/schemas/");
        return example(doc, &doc["components"]["schemas"][name], north, depth + 1);
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        for part in parts {
            if let Value::Object(fields) = example(doc, part, north, depth + 1) {
                for (key, value) in fields {
                    if !value.is_null() || !merged.contains_key(&key) {
                        merged.insert(key, value);
                    }
                }
            }
        }
        return Value::Object(merged);
    }
    if let Some(first) = ["oneOf", "anyOf"]
        .iter()
        .find_map(|key| schema.get(*key).and_then(Value::as_array))
        .and_then(|choices| choices.first())
    {
        return example(doc, first, north, depth + 1);
    }
    if let Some(first) = schema.get("enum").and_then(|values| values.get(0)) {
        return first.clone();
    }
    let kind = match &schema["type"] {
        Value::String(kind) => kind.as_str(),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|kind| *kind != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "null",
    };
    match kind {
        "object" => {
            let mut fields = Map::new();
            let required = schema["required"].as_array().cloned().unwrap_or_default();
            for name in required.iter().filter_map(Value::as_str) {
                let value = north
                    .field_value(name)
                    .unwrap_or_else(|| example(doc, &schema["properties"][name], north, depth + 1));
                fields.insert(name.to_owned(), value);
            }
            Value::Object(fields)
        }
        "array" => {
            let count = schema["minItems"].as_u64().unwrap_or(0).max(1);
            (0..count)
                .map(|_| example(doc, &schema["items"], north, depth + 1))
                .collect()
        }
        "string" => {
            let text = match schema["format"].as_str() {
                Some("date-time") => "2026-01-01T00:00:00Z".to_owned(),
                Some("date") => "2026-01-01".to_owned(),
                Some("email") => "someone@example.org".to_owned(),
                Some("uri") => "https://example.org/".to_owned(),
                _ => "x".repeat(schema["minLength"].as_u64().unwrap_or(1).max(1) as usize),
            };
            Value::String(text)
        }
        "integer" | "number" => json!(schema["minimum"].as_i64().unwrap_or(1).max(1)),
        "boolean" => Value::Bool(false),
        _ => Value::Null,
    }
}

/// One caller of the matrix: their token and what they must not get.
struct Caller {
    name: &'static str,
    token: Option<String>,
    secrets: Vec<String>,
}

#[tokio::test]
async fn no_route_gives_a_wrong_caller_anothers_data_and_none_answers_5xx() {
    let test = start_without_rest_limits().await;
    let rest = Rest::new(test.addr);
    let north = North::seed(&test, &rest).await;
    let south = School::enroll(&rest, "south").await;
    let callers = [
        Caller {
            name: "no token",
            token: None,
            secrets: north.tenant_secrets(),
        },
        Caller {
            name: "another tenant's admin",
            token: Some(south.admin.clone()),
            secrets: north.tenant_secrets(),
        },
        Caller {
            name: "a student not on the roster",
            token: Some(north.school.other_student.clone()),
            secrets: north.class_secrets(),
        },
        Caller {
            name: "a parent not linked to the student",
            token: Some(north.school.parent.clone()),
            secrets: north.class_secrets(),
        },
        Caller {
            name: "an educator who does not teach the class",
            token: Some(north.school.other_teacher.clone()),
            secrets: north.class_secrets(),
        },
    ];
    let doc = rest.call("GET", "/openapi.json", None, None).await;
    let doc = doc.expect(200).clone();
    let before = snapshot(&rest, &north).await;

    let mut operations = BTreeMap::new();
    for (path, methods) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in methods.as_object().expect("methods") {
            if method == "parameters" {
                continue;
            }
            operations.insert((path.clone(), method.to_uppercase()), operation.clone());
        }
    }
    assert!(operations.len() > 50, "{} operations", operations.len());
    let mut failures = Vec::new();
    let mut calls = 0;
    for ((template, method), operation) in &operations {
        let mut path = template.clone();
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            if parameter["in"] == "path" {
                let name = parameter["name"].as_str().expect("name");
                path = path.replace(&format!("{{{name}}}"), &north.path_value(template, name));
            }
        }
        let body = operation
            .pointer("/requestBody/content/application~1json/schema")
            .map(|schema| example(&doc, schema, &north, 0));
        // An empty `security` entry means the route is public (or checks a signature itself).
        let needs_credentials = operation
            .get("security")
            .and_then(Value::as_array)
            .is_none_or(|schemes| {
                schemes
                    .iter()
                    .all(|scheme| scheme.as_object().is_some_and(|scheme| !scheme.is_empty()))
            });
        for caller in &callers {
            let answer = rest
                .call(
                    &method.clone(),
                    &path,
                    caller.token.as_deref(),
                    body.clone(),
                )
                .await;
            calls += 1;
            let what = format!("{method} {path} as {}", caller.name);
            let status = answer.status;
            let text = answer.body.to_string();
            if status >= 500 && !(status == 503 && answer.body["error"]["message"].is_string()) {
                failures.push(format!("{what}: {status} {text}"));
            }
            if caller.token.is_none() && needs_credentials && status != 401 {
                failures.push(format!("{what}: {status} without credentials: {text}"));
            }
            if (200..300).contains(&status) {
                for secret in &caller.secrets {
                    if text.contains(secret.as_str()) {
                        failures.push(format!("{what}: {status} holds {secret:?}: {text}"));
                    }
                }
            }
        }
    }
    let after = snapshot(&rest, &north).await;
    if before != after {
        failures.push(format!(
            "north changed under the wrong callers:\nbefore {before:#}\nafter  {after:#}"
        ));
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    test.server.shutdown().await;
}

/// `north` as its teacher and admin see it: the class, its roster with codes, the content and
/// the student's account.
async fn snapshot(rest: &Rest, north: &North) -> Value {
    let teacher = &north.school.teacher;
    let admin = &north.school.admin;
    let mut seen = Map::new();
    for (key, path, who) in [
        (
            "class",
            format!("/api/v1/classes/{}", north.class_id),
            teacher,
        ),
        (
            "roster",
            format!("/api/v1/classes/{}/students", north.class_id),
            teacher,
        ),
        (
            "course",
            format!("/api/v1/courses/{}", north.course_id),
            teacher,
        ),
        (
            "lesson",
            format!("/api/v1/lessons/{}", north.lesson_id),
            teacher,
        ),
        (
            "assessment",
            format!("/api/v1/assessments/{}", north.assessment_id),
            teacher,
        ),
        (
            "student",
            format!("/api/v1/users/{}", north.school.id("s1")),
            admin,
        ),
        (
            "teacher",
            format!("/api/v1/users/{}", north.school.id("t1")),
            admin,
        ),
    ] {
        let answer = rest.get(&path, who).await;
        let mut body = answer.body;
        // Times a read may move (last seen) are not what the wrong callers could change.
        if let Value::Object(fields) = &mut body {
            fields.remove("last_seen_at");
            fields.remove("updated_at");
        }
        seen.insert(
            key.to_owned(),
            json!({"status": answer.status, "body": body}),
        );
    }
    let me = rest
        .get(
            "/api/v1/auth/me",
            &token("north", Role::Student, "north-s1"),
        )
        .await;
    seen.insert("student_me".to_owned(), json!(me.status));
    Value::Object(seen)
}
