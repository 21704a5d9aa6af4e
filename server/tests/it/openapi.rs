//! The OpenAPI document: valid 3.1, every documented operation served by the router, every
//! `/api/v1` route in the code documented, `/docs` offline; every status a plain walk of the
//! operations draws documented, and stated limits enforced at their edges (the fuzzer in
//! `tests/schemathesis` goes further); and the cross-tenant matrix, which
//! walks every documented operation with tokens of another tenant and checks that nothing of the
//! first tenant leaks or changes and that no answer is a 5xx.

use std::collections::{BTreeSet, HashMap};

use persistence::test_support::TestDatabase;
use serde_json::{Value, json};
use server::auth::Role;

use crate::classes::School;
use crate::rest::Rest;
use crate::support::{
    Client, http_get, start_server, start_with, start_without_rest_limits, token,
};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Routes registered outside the OpenAPI routers that the document does not cover yet (the
/// Roblox game-server routes and teachers' class commands, documented by their owner). This
/// list may only shrink.
const NOT_YET_DOCUMENTED: &[&str] = &[];

async fn document(addr: std::net::SocketAddr) -> Value {
    let (status, body) = http_get(addr, "/openapi.json").await;
    assert_eq!(status, 200);
    serde_json::from_str(&body).expect("openapi.json is JSON")
}

/// (method, path) of every documented operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((method.to_owned(), path.clone(), operation.clone()));
            }
        }
    }
    found
}

fn collect_refs(value: &Value, refs: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "$ref" {
                    refs.insert(inner.as_str().expect("ref string").to_owned());
                } else {
                    collect_refs(inner, refs);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, refs)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_valid_and_covers_every_route() {
    let test = start_server().await;
    let doc = document(test.addr).await;
    assert!(
        doc["openapi"].as_str().expect("version").starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    // Structure: operations have tags and responses, ids are unique, path parameters declared,
    // every $ref resolves.
    let mut operation_ids = BTreeSet::new();
    let ops = operations(&doc);
    assert!(ops.len() >= 40, "only {} operations documented", ops.len());
    for (method, path, operation) in &ops {
        let at = format!("{method} {path}");
        assert!(path.starts_with("/api/v1/"), "{at}");
        assert!(
            operation["tags"]
                .as_array()
                .is_some_and(|tags| !tags.is_empty()),
            "{at} has no tag"
        );
        let responses = operation["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{at} has no success answer"
        );
        if let Some(id) = operation["operationId"].as_str() {
            assert!(
                operation_ids.insert(id.to_owned()),
                "operationId {id} repeated"
            );
        }
        let declared: BTreeSet<&str> = operation["parameters"]
            .as_array()
            .map(|params| {
                params
                    .iter()
                    .filter(|param| param["in"] == "path")
                    .filter_map(|param| param["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        let in_template: BTreeSet<&str> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        assert_eq!(declared, in_template, "{at}: path parameters");
    }
    let mut refs = BTreeSet::new();
    collect_refs(&doc, &mut refs);
    for reference in refs {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{reference} does not resolve"
        );
    }

    // Document → router: every documented operation is served (never the router's fallback).
    let rest = Rest::new(test.addr);
    let admin = token("cov", Role::Admin, "cov-admin");
    for (method, path, _) in &ops {
        let concrete = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "x"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let body = (method != "get" && method != "delete").then(|| json!({}));
        let answer = rest
            .call(&method.to_uppercase(), &concrete, Some(&admin), body)
            .await;
        assert_ne!(answer.status, 405, "{method} {path} is not routed");
        assert!(
            !answer.body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("no such route"),
            "{method} {path} is not routed"
        );
        assert!(answer.status < 500, "{method} {path}: {}", answer.body);
    }

    // Code → document: every /api/v1 route written in the sources is documented.
    let documented: BTreeSet<String> = ops
        .iter()
        .map(|(method, path, _)| format!("{method} {path}"))
        .collect();
    let mut in_code = BTreeSet::new();
    let sources = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    for file in source_files(std::path::Path::new(sources)) {
        let text = std::fs::read_to_string(&file).expect("read source");
        in_code.extend(routes_in(&text));
    }
    assert!(in_code.len() >= 40, "the route scan found only {in_code:?}");
    for route in &in_code {
        assert!(
            documented.contains(route) || NOT_YET_DOCUMENTED.contains(&route.as_str()),
            "{route} is served but missing from the OpenAPI document"
        );
    }
    for pending in NOT_YET_DOCUMENTED {
        assert!(
            !documented.contains(*pending),
            "{pending} is documented now: drop it from NOT_YET_DOCUMENTED"
        );
    }

    // The viewer works offline: one page, no external scripts or styles.
    let (status, page) = http_get(test.addr, "/docs").await;
    assert_eq!(status, 200);
    assert!(page.contains("/openapi.json"));
    for external in ["<script src", "<link", "cdn", "https://"] {
        assert!(
            !page.contains(external),
            "/docs loads something from outside: {external}"
        );
    }
}

/// The statuses an operation documents.
fn documented_statuses(operation: &Value) -> BTreeSet<u16> {
    operation["responses"]
        .as_object()
        .expect("responses")
        .keys()
        .map(|status| status.parse().expect("a numeric status"))
        .collect()
}

/// A component schema, following one `$ref`.
fn resolved<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            &doc["components"]["schemas"][reference.rsplit('/').next().unwrap_or_default()]
        }
        None => schema,
    }
}

/// The `properties` and `required` of an object schema, through `$ref` and `allOf` (a body whose
/// fields have a rule across them, such as sending a notification, is an `allOf`).
pub(crate) fn object_fields(
    doc: &Value,
    schema: &Value,
) -> (serde_json::Map<String, Value>, Vec<String>) {
    let schema = resolved(doc, schema);
    let mut properties = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut required: Vec<String> = schema["required"]
        .as_array()
        .map(|names| {
            names
                .iter()
                .filter_map(|name| name.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let (more, also_required) = object_fields(doc, part);
        properties.extend(more);
        required.extend(also_required);
    }
    (properties, required)
}

#[tokio::test]
async fn every_status_a_walk_draws_is_documented() {
    let test = start_without_rest_limits().await;
    let doc = document(test.addr).await;
    let store = test.server.app().store().clone();
    store.ensure_tenant("walk").await.expect("tenant");
    let game_key = crate::roblox::make_key(&store, "walk", None).await;
    let admin = token("walk", Role::Admin, "walk-admin");
    let student = token("walk", Role::Student, "walk-student");
    let http = reqwest::Client::new();

    let ops = operations(&doc);
    for (method, path, operation) in &ops {
        let at = format!("{method} {path}");
        let statuses = documented_statuses(operation);
        // The shared pieces' answers are on every operation they wrap.
        let public = operation["security"] == json!([{}]);
        let game = operation["security"] == json!([{"game_key": []}]);
        let json_body = operation["requestBody"]["content"]["application/json"].is_object();
        let mut shared: Vec<u16> = Vec::new();
        if !public {
            shared.extend([401, 503]);
        }
        if !public && !game {
            shared.extend([403, 429]);
        }
        if json_body {
            shared.extend([400, 413]);
        }
        if json_body && !public {
            shared.push(422);
        }
        if method != "get"
            && ["/api/v1/courses", "/api/v1/lessons", "/api/v1/assessments"]
                .iter()
                .any(|prefix| path.starts_with(prefix))
            && !path.ends_with("/results")
        {
            shared.push(402);
        }
        for status in shared {
            assert!(
                statuses.contains(&status),
                "{at} does not document {status}"
            );
        }

        // What a few plain requests draw is documented.
        let concrete = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "x"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let credential = if game { &game_key } else { &admin };
        let url = format!("http://{}{concrete}", test.addr);
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let mut requests = vec![
            ("no credential", http.request(method.clone(), &url)),
            (
                "an admin",
                http.request(method.clone(), &url).bearer_auth(credential),
            ),
            (
                "a student",
                http.request(method.clone(), &url).bearer_auth(&student),
            ),
        ];
        if json_body {
            let json = |body: &'static str| {
                http.request(method.clone(), &url)
                    .bearer_auth(credential)
                    .header("content-type", "application/json")
                    .body(body)
            };
            requests.push(("an empty object", json("{}")));
            requests.push(("a body that is not JSON", json("{\"")));
            requests.push(("an array body", json("[null, null]")));
            requests.push((
                "a form body",
                http.request(method.clone(), &url)
                    .bearer_auth(credential)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("a=b"),
            ));
        }
        for (what, request) in requests {
            let status = request.send().await.expect("answer").status().as_u16();
            assert!(
                statuses.contains(&status),
                "{at} with {what} answered {status}, which it does not document ({statuses:?})"
            );
        }
    }
    test.server.shutdown().await;
}

/// `(edge value, status)` pairs for one stated limit.
async fn check_edges(
    rest: &Rest,
    token: &str,
    method: &str,
    path: impl Fn(&str) -> (String, Option<Value>),
    cases: &[(String, u16)],
) {
    for (value, expected) in cases {
        let (url, body) = path(value);
        let answer = rest.call(method, &url, Some(token), body).await;
        assert_eq!(
            answer.status, *expected,
            "{method} {url} with {value:?}: {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn stated_limits_hold_at_their_edges() {
    let test = start_server().await;
    let doc = document(test.addr).await;
    let rest = Rest::new(test.addr);
    let admin = token("edges", Role::Admin, "edges-admin");

    // `limit` on a paged list: its bounds, and the server's answer just inside and outside them.
    let list = &doc["paths"]["/api/v1/classes"]["get"];
    let limit = list["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|parameter| parameter["name"] == "limit")
        .expect("a limit parameter");
    assert_eq!(limit["allowEmptyValue"], true, "{limit}");
    let (min, max) = (
        limit["schema"]["minimum"].as_i64().expect("minimum"),
        limit["schema"]["maximum"].as_i64().expect("maximum"),
    );
    assert_eq!((min, max), (1, 200));
    let cases: Vec<(String, u16)> = vec![
        (min.to_string(), 200),
        (max.to_string(), 200),
        ((min - 1).to_string(), 422),
        ((max + 1).to_string(), 422),
        (String::new(), 200),
        ("ten".to_owned(), 422),
    ];
    check_edges(
        &rest,
        &admin,
        "GET",
        |value| (format!("/api/v1/classes?limit={value}"), None),
        &cases,
    )
    .await;

    // A title: its length in characters, and not only spaces.
    let new_course = resolved(
        &doc,
        &doc["paths"]["/api/v1/courses"]["post"]["requestBody"]["content"]["application/json"]["schema"],
    );
    let title = resolved(&doc, &new_course["properties"]["title"]);
    let max_title = title["maxLength"].as_u64().expect("maxLength") as usize;
    assert_eq!((title["minLength"].as_u64(), max_title), (Some(1), 200));
    let cases: Vec<(String, u16)> = vec![
        ("é".repeat(max_title), 201),
        ("é".repeat(max_title + 1), 422),
        ("\u{3000} x\t".to_owned(), 201),
        (" \t\u{a0}".to_owned(), 422),
        (String::new(), 422),
    ];
    check_edges(
        &rest,
        &admin,
        "POST",
        |value| ("/api/v1/courses".to_owned(), Some(json!({"title": value}))),
        &cases,
    )
    .await;
    let course = rest
        .post("/api/v1/courses", &admin, json!({"title": " padded "}))
        .await;
    assert_eq!(course.expect(201)["title"], "padded");

    // A user id: its alphabet and length.
    let new_user = resolved(
        &doc,
        &doc["paths"]["/api/v1/users"]["post"]["requestBody"]["content"]["application/json"]["schema"],
    );
    let id = resolved(&doc, &new_user["properties"]["id"]);
    let max_id = id["maxLength"].as_u64().expect("maxLength") as usize;
    assert_eq!(max_id, 64);
    let cases: Vec<(String, u16)> = vec![
        ("a.b-c_D9".to_owned(), 201),
        ("x".repeat(max_id), 201),
        ("y".repeat(max_id + 1), 422),
        ("a b".to_owned(), 422),
        ("é".to_owned(), 422),
    ];
    check_edges(
        &rest,
        &admin,
        "POST",
        |value| {
            (
                "/api/v1/users".to_owned(),
                Some(json!({"id": value, "role": "student"})),
            )
        },
        &cases,
    )
    .await;
    test.server.shutdown().await;
}

fn source_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(source_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

/// `method path` of the `/api/v1` routes a source file registers: `#[utoipa::path(method, path =
/// "...")]` attributes and axum `.route("/api/v1/...", method(...))` calls.
fn routes_in(text: &str) -> Vec<String> {
    let mut routes = Vec::new();
    for (at, _) in text.match_indices("#[utoipa::path(") {
        let rest = &text[at + "#[utoipa::path(".len()..];
        let method = rest.split([',', ')']).next().unwrap_or_default().trim();
        if let Some(path) = rest
            .split("path = \"")
            .nth(1)
            .and_then(|p| p.split('"').next())
        {
            routes.push(format!("{method} {path}"));
        }
    }
    for (at, _) in text.match_indices(".route(") {
        // The call's own text, up to its balanced closing parenthesis.
        let mut depth = 0;
        let mut end = text.len();
        for (offset, c) in text[at + ".route".len()..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = at + ".route".len() + offset;
                        break;
                    }
                }
                _ => {}
            }
        }
        let call = &text[at..end];
        let Some(path) = call
            .split('"')
            .nth(1)
            .filter(|path| path.starts_with("/api/v1"))
        else {
            continue;
        };
        let after = &call[call.find(path).unwrap_or(0) + path.len()..];
        for method in METHODS {
            for (found, _) in after.match_indices(&format!("{method}(")) {
                let before = after[..found].chars().next_back();
                if before.is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_') {
                    routes.push(format!("{method} {path}"));
                }
            }
        }
    }
    routes
}

/// Markers and ids of tenant A's data; none may appear in an answer to tenant B.
struct TenantA {
    markers: Vec<String>,
    ids: HashMap<&'static str, String>,
}

async fn seed_tenant_a(test_addr: std::net::SocketAddr, rest: &Rest) -> (School, TenantA) {
    let school = School::enroll(rest, "alpha").await;
    let class_id = school.class_with_s1(rest).await;
    rest.patch(
        &format!("/api/v1/classes/{class_id}"),
        &school.teacher,
        json!({"name": "alpha-secret-class"}),
    )
    .await
    .expect(200);
    let class = rest
        .get(&format!("/api/v1/classes/{class_id}"), &school.teacher)
        .await;
    let code = class.expect(200)["class_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let course = rest
        .post(
            "/api/v1/courses",
            &school.teacher,
            json!({"title": "alpha-secret-course", "published": true}),
        )
        .await;
    let course_id = course.expect(201)["id"].as_str().expect("id").to_owned();
    let lesson = rest
        .post(
            &format!("/api/v1/courses/{course_id}/lessons"),
            &school.teacher,
            json!({"title": "alpha-secret-lesson", "published": true}),
        )
        .await;
    let lesson_id = lesson.expect(201)["id"].as_str().expect("id").to_owned();
    let assessment = rest
        .post(
            "/api/v1/assessments",
            &school.teacher,
            json!({"title": "alpha-secret-quiz", "lesson_id": lesson_id, "questions": [
                {"id": "q1", "type": "multiple_choice", "prompt": "alpha-secret-prompt", "choices": ["a", "b"], "answer": 0}
            ]}),
        )
        .await;
    let assessment_id = assessment.expect(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    rest.post(
        &format!("/api/v1/assessments/{assessment_id}/results"),
        &school.student,
        json!({"answers": {"q1": 1}}),
    )
    .await
    .expect(201);
    rest.post(
        "/api/v1/notifications",
        &school.teacher,
        json!({"user_id": school.id("s1"), "kind": "message", "title": "alpha-secret-note"}),
    )
    .await
    .expect(201);
    let notification = rest.get("/api/v1/notifications", &school.student).await;
    let notification_id = notification.expect(200)["items"][0]["id"]
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
    let mut teacher = Client::connect(test_addr, &school.teacher).await;
    teacher
        .publish(
            &format!("class:alpha:{class_id}"),
            "progress",
            json!({"student": school.id("s1"), "course": course_id, "lesson": lesson_id, "percent": 40}),
        )
        .await;
    let (status, media) = crate::media::upload(
        test_addr,
        &school.teacher,
        &format!("?lesson_id={lesson_id}"),
        "alpha-secret.png",
        &crate::media::png(8, 8, false),
    )
    .await;
    assert_eq!(status, 201, "{media}");
    let media_id = media["id"].as_str().expect("id").to_owned();
    let mut ids = HashMap::new();
    ids.insert("media", media_id.clone());
    ids.insert("class", class_id.clone());
    ids.insert("course", course_id.clone());
    ids.insert("lesson", lesson_id.clone());
    ids.insert("assessment", assessment_id.clone());
    ids.insert("student", school.id("s1"));
    ids.insert("teacher", school.id("t1"));
    ids.insert("parent", school.id("p1"));
    ids.insert("notification", notification_id.clone());
    let markers = vec![
        class_id,
        code,
        course_id,
        lesson_id,
        assessment_id,
        notification_id,
        media_id,
        "alpha-secret".to_owned(),
        school.id("s1"),
        school.id("t1"),
        school.id("p1"),
    ];
    (school, TenantA { markers, ids })
}

/// The id of tenant A to put in a path parameter, from the segment before it.
fn path_for(path: &str, a: &TenantA) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let mut out = Vec::new();
    for (index, segment) in segments.iter().enumerate() {
        if segment.starts_with('{') {
            let kind = match segments
                .get(index.wrapping_sub(1))
                .copied()
                .unwrap_or_default()
            {
                "classes" => "class",
                "courses" => "course",
                "lessons" => "lesson",
                "assessments" => "assessment",
                "notifications" => "notification",
                "media" => "media",
                "users" if path.contains("/children") => "parent",
                _ => "student",
            };
            out.push(a.ids[kind].clone());
        } else {
            out.push((*segment).to_owned());
        }
    }
    out.join("/")
}

/// A request body for an operation, built from its schema, pointing at tenant A's objects.
fn hostile_body(doc: &Value, operation: &Value, a: &TenantA) -> Option<Value> {
    let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
    if schema.is_null() {
        return None;
    }
    let (properties, _) = object_fields(doc, schema);
    let values = json!({
        "name": "beta class", "title": "beta title", "kind": "message",
        "user_ids": [a.ids["student"]], "user_id": a.ids["student"], "class_id": a.ids["class"],
        "child_id": a.ids["student"], "lesson_id": a.ids["lesson"], "lesson_ids": [a.ids["lesson"]],
        "teacher_id": a.ids["teacher"], "answers": {"q1": 0}, "id": "beta-made-user", "role": "student",
        "questions": [{"id": "q1", "type": "free_text", "prompt": "?"}],
    });
    let mut body = serde_json::Map::new();
    for name in properties.keys().cloned() {
        if let Some(value) = values.get(&name) {
            body.insert(name, value.clone());
        }
    }
    Some(Value::Object(body))
}

#[tokio::test]
async fn another_tenants_tokens_see_and_change_nothing_on_any_route() {
    for db in TestDatabase::all().await {
        let url = Some(db.url().to_owned());
        let test = start_with(move |config| {
            config.database_url = url;
            config.api_limits.per_token_rate = 10_000;
            config.api_limits.per_token_burst = 10_000;
            config.api_limits.per_ip_rate = 10_000;
            config.api_limits.per_ip_burst = 10_000;
        })
        .await;
        let rest = Rest::new(test.addr);
        let (alpha, a) = seed_tenant_a(test.addr, &rest).await;
        let beta = School::enroll(&rest, "beta").await;
        let doc = document(test.addr).await;

        let mut walked = 0;
        for (method, path, operation) in operations(&doc) {
            let concrete = path_for(&path, &a);
            for who in [&beta.admin, &beta.teacher, &beta.student, &beta.parent] {
                let body = hostile_body(&doc, &operation, &a);
                let answer = rest
                    .call(&method.to_uppercase(), &concrete, Some(who), body)
                    .await;
                walked += 1;
                assert!(
                    answer.status < 500,
                    "{method} {path}: {} {}",
                    answer.status,
                    answer.body
                );
                let text = answer.body.to_string();
                for marker in &a.markers {
                    assert!(
                        !text.contains(marker.as_str()),
                        "{method} {concrete} leaked {marker:?} to tenant beta: {text}"
                    );
                }
                if matches!(answer.status, 200..=299) && !matches!(method.as_str(), "get") {
                    // A write that succeeded must have touched tenant beta only: it named no
                    // object of alpha in the path (or it would have been a 404).
                    assert!(
                        !path.contains('{'),
                        "{method} {concrete} changed something for tenant beta: {text}"
                    );
                }
            }
        }
        assert!(walked >= 160, "walked only {walked} requests");

        // Alpha's data is intact.
        let class = rest
            .get(
                &format!("/api/v1/classes/{}", a.ids["class"]),
                &alpha.teacher,
            )
            .await;
        assert_eq!(class.expect(200)["name"], "alpha-secret-class");
        let roster = rest
            .get(
                &format!("/api/v1/classes/{}/students", a.ids["class"]),
                &alpha.teacher,
            )
            .await;
        assert_eq!(roster.expect(200)["items"][0]["id"], a.ids["student"]);
        rest.get(
            &format!("/api/v1/courses/{}", a.ids["course"]),
            &alpha.teacher,
        )
        .await
        .expect(200);
        rest.get(
            &format!("/api/v1/assessments/{}", a.ids["assessment"]),
            &alpha.teacher,
        )
        .await
        .expect(200);
        let notes = rest.get("/api/v1/notifications", &alpha.student).await;
        assert_eq!(
            notes.expect(200)["items"].as_array().expect("items").len(),
            1
        );
        let me = rest.get("/api/v1/auth/me", &alpha.student).await;
        assert_eq!(me.expect(200)["user"]["active"], true);
        test.server.shutdown().await;
    }
}
