//! The AI tutor against a local OpenAI-compatible stand-in (axum on 127.0.0.1:0, answering in
//! OpenAI's documented shapes: chat completions whole and streamed as `data:` chunks ending in
//! `[DONE]`, moderations, error bodies, 429): request shapes, streaming to HTTP and to a socket,
//! quota refusal and reservation (concurrent calls never spend past the quota; a failed call gives
//! its reservation back), failures and refusals recorded as `agent_tasks` rows, and class chat
//! held when the moderation endpoint flags it or cannot answer.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use persistence::test_support::TestDatabase;
use serde_json::{Value, json};
use server::auth::Role;
use server::billing::Plan;

use crate::classes::School;
use crate::rest::Rest;
use crate::support::{Client, TestServer, event_parts, start_with, token};

/// How the stand-in answers chat completions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    Answer,
    ServerError,
    RateLimited,
    BadQuiz,
}

#[derive(Debug)]
pub(crate) struct OpenAi {
    pub(crate) mode: Mode,
    /// Every chat completion request body, with its Authorization header.
    pub(crate) chats: Vec<(String, Value)>,
    /// Every moderation request body.
    pub(crate) moderations: Vec<Value>,
    /// How long a chat completion takes to start answering.
    delay: std::time::Duration,
}

pub(crate) type Shared = Arc<Mutex<OpenAi>>;

pub(crate) const TOKENS: [&str; 3] = ["Fractions ", "are ", "parts of a whole."];
pub(crate) const USAGE: u32 = 42;

fn chunk(delta: Value, finish: Value) -> String {
    let chunk = json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000u32,
        "model": "gpt-test", "system_fingerprint": "fp_1",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
    });
    format!("data: {chunk}\n\n")
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        axum::Json(
            json!({"error": {"message": message, "type": kind, "param": null, "code": null}}),
        ),
    )
        .into_response()
}

async fn chat(State(shared): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let request: Value = serde_json::from_str(&body).expect("chat request is JSON");
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (mode, delay) = {
        let mut state = shared.lock().expect("state");
        state.chats.push((authorization, request.clone()));
        (state.mode, state.delay)
    };
    tokio::time::sleep(delay).await;
    match mode {
        Mode::ServerError => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "The server had an error while processing your request.",
            );
        }
        Mode::RateLimited => {
            let mut answer = error(
                StatusCode::TOO_MANY_REQUESTS,
                "requests",
                "Rate limit reached for requests",
            );
            answer
                .headers_mut()
                .insert("retry-after", "0".parse().expect("header"));
            return answer;
        }
        Mode::Answer | Mode::BadQuiz => {}
    }
    if request["stream"] == true {
        let mut body = chunk(json!({"role": "assistant", "content": ""}), Value::Null);
        for token in TOKENS {
            body.push_str(&chunk(json!({"content": token}), Value::Null));
        }
        body.push_str(&chunk(json!({}), json!("stop")));
        let usage = json!({
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000u32,
            "model": "gpt-test", "choices": [],
            "usage": {"prompt_tokens": USAGE - 12, "completion_tokens": 12, "total_tokens": USAGE},
        });
        body.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
        return ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response();
    }
    let system = request["messages"][0]["content"]
        .as_str()
        .unwrap_or_default();
    let content = if system.contains("quiz questions") {
        if mode == Mode::BadQuiz {
            "Here are some questions: 1. What is half of 4?".to_owned()
        } else {
            json!([
                {"id": "q1", "type": "multiple_choice", "prompt": "What is 1/2 of 4?", "choices": ["1", "2", "3"], "answer": 1, "points": 1},
                {"id": "q2", "type": "free_text", "prompt": "Draw a quarter of a pizza.", "points": 1}
            ])
            .to_string()
        }
    } else {
        "# Fractions in the Obby\n\nA fraction is part of a whole.".to_owned()
    };
    axum::Json(json!({
        "id": "chatcmpl-2", "object": "chat.completion", "created": 1_700_000_000u32, "model": "gpt-test",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": null},
                     "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
    }))
    .into_response()
}

const CATEGORIES: [&str; 13] = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
];

async fn moderate(
    State(shared): State<Shared>,
    axum::Json(request): axum::Json<Value>,
) -> Response {
    let flagged = request["input"]
        .as_str()
        .unwrap_or_default()
        .contains("how to hurt");
    shared.lock().expect("state").moderations.push(request);
    let categories: serde_json::Map<String, Value> = CATEGORIES
        .iter()
        .map(|name| ((*name).to_owned(), json!(flagged && *name == "violence")))
        .collect();
    let scores: serde_json::Map<String, Value> = CATEGORIES
        .iter()
        .map(|name| {
            (
                (*name).to_owned(),
                json!(if flagged && *name == "violence" {
                    0.93
                } else {
                    0.001
                }),
            )
        })
        .collect();
    let applied: serde_json::Map<String, Value> = CATEGORIES
        .iter()
        .map(|name| ((*name).to_owned(), json!(["text"])))
        .collect();
    axum::Json(json!({
        "id": "modr-1", "model": "omni-moderation-latest",
        "results": [{"flagged": flagged, "categories": categories, "category_scores": scores,
                     "category_applied_input_types": applied}],
    }))
    .into_response()
}

pub(crate) async fn open_ai_stand_in() -> (String, Shared) {
    let shared: Shared = Arc::new(Mutex::new(OpenAi {
        mode: Mode::Answer,
        chats: Vec::new(),
        moderations: Vec::new(),
        delay: std::time::Duration::ZERO,
    }));
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/moderations", post(moderate))
        .with_state(shared.clone());
    let addr = crate::support::serve_stand_in(app).await;
    (format!("http://{addr}/v1"), shared)
}

pub(crate) async fn ai_server(
    base: String,
    database_url: Option<String>,
    tokens_per_day: u64,
) -> TestServer {
    ai_server_reserving(base, database_url, tokens_per_day, 800).await
}

/// [`ai_server`] with `reserve_tokens` reserved per call.
async fn ai_server_reserving(
    base: String,
    database_url: Option<String>,
    tokens_per_day: u64,
    reserve_tokens: u32,
) -> TestServer {
    ai_server_with(base, database_url, tokens_per_day, move |config| {
        config.ai.reserve_tokens = reserve_tokens;
    })
    .await
}

/// [`ai_server`], then `tweak` applied to its configuration.
pub(crate) async fn ai_server_with(
    base: String,
    database_url: Option<String>,
    tokens_per_day: u64,
    tweak: impl FnOnce(&mut server::Config),
) -> TestServer {
    start_with(move |config| {
        config.database_url = database_url;
        config.ai.api_key = Some("sk-test-openai".to_owned());
        config.ai.base_url = base;
        config.ai.default_model = "gpt-test".to_owned();
        config
            .ai
            .task_models
            .insert("create_assessment".to_owned(), "gpt-test-big".to_owned());
        config.billing.plans[0] = Plan {
            name: "free".to_owned(),
            seats: 30,
            ai_tokens_per_day: tokens_per_day,
        };
        config.api_limits.per_token_rate = 10_000;
        config.api_limits.per_token_burst = 10_000;
        tweak(config);
    })
    .await
}

/// A published course with one published lesson; returns the lesson id.
pub(crate) async fn lesson(rest: &Rest, school: &School) -> String {
    let course = rest
        .post(
            "/api/v1/courses",
            &school.teacher,
            json!({"title": "Math", "published": true}),
        )
        .await;
    let course_id = course.expect(201)["id"].as_str().expect("id").to_owned();
    let lesson = rest
        .post(
            &format!("/api/v1/courses/{course_id}/lessons"),
            &school.teacher,
            json!({"title": "Fractions", "published": true, "content": {"text": "A fraction names part of a whole."}}),
        )
        .await;
    lesson.expect(201)["id"].as_str().expect("id").to_owned()
}

/// The raw text of a streamed answer, parsed into (event, data) pairs.
pub(crate) async fn sse(
    rest: &Rest,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, String, Vec<(String, Value)>) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", rest.base()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = tokio::time::timeout(crate::support::PATIENCE, response.text())
        .await
        .expect("stream ends")
        .expect("body");
    let events = text
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut event = String::new();
            let mut data = Value::Null;
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    event = name.to_owned();
                } else if let Some(json) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(json).unwrap_or(Value::String(json.to_owned()));
                }
            }
            (event, data)
        })
        .collect();
    (status, content_type, events)
}

#[tokio::test]
async fn without_a_key_the_ai_routes_say_what_to_set() {
    let test = start_with(|_| {}).await;
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "noai").await;
    let lesson_id = lesson(&rest, &school).await;
    let answer = rest
        .post(
            "/api/v1/ai/ask",
            &school.student,
            json!({"lesson_id": lesson_id, "question": "What is a fraction?"}),
        )
        .await;
    answer.expect_error(503, "OPENAI_API_KEY");
    rest.post(
        "/api/v1/ai/ask",
        &school.parent,
        json!({"lesson_id": lesson_id, "question": "?"}),
    )
    .await
    .expect(403);
    // Suggestions need no model: the first lesson of a course not begun.
    let suggestions = rest.get("/api/v1/ai/suggestions", &school.student).await;
    let suggestions = suggestions.expect(200);
    assert_eq!(suggestions["items"][0]["lesson_id"], lesson_id);
    assert_eq!(suggestions["items"][0]["reason"], "start");
    test.server.shutdown().await;
}

#[tokio::test]
async fn answers_stream_over_sse_and_to_the_students_socket_and_are_recorded() {
    for db in TestDatabase::all().await {
        let (base, openai) = open_ai_stand_in().await;
        let test = ai_server(base, Some(db.url().to_owned()), 100_000).await;
        let rest = Rest::new(test.addr);
        let school = School::enroll(&rest, "tutor").await;
        let lesson_id = lesson(&rest, &school).await;

        let (status, content_type, events) = sse(
            &rest,
            "/api/v1/ai/ask",
            &school.student,
            json!({"lesson_id": lesson_id, "question": "What is a fraction?"}),
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        let names: Vec<&str> = events.iter().map(|(event, _)| event.as_str()).collect();
        assert_eq!(
            names,
            ["task", "token", "token", "token", "done"],
            "{events:?}"
        );
        let text: String = events
            .iter()
            .filter(|(event, _)| event == "token")
            .map(|(_, data)| data["text"].as_str().expect("text"))
            .collect();
        assert_eq!(text, TOKENS.concat());
        let done = &events[4].1;
        assert_eq!(done["tokens_used"], USAGE);
        let task_id = done["task_id"].as_str().expect("task id").to_owned();

        // The request the endpoint got: model, safety rules and lesson first, the question, streaming with usage.
        {
            let state = openai.lock().expect("state");
            let (authorization, request) = state.chats.last().expect("a chat request");
            assert_eq!(authorization, "Bearer sk-test-openai");
            assert_eq!(request["model"], "gpt-test");
            assert_eq!(request["stream"], true);
            assert_eq!(request["stream_options"]["include_usage"], true);
            assert_eq!(request["messages"][0]["role"], "system");
            let system = request["messages"][0]["content"]
                .as_str()
                .expect("system prompt");
            assert!(system.starts_with(server::ai::SAFETY_TEMPLATE), "{system}");
            assert!(system.contains("Lesson: Fractions") && system.contains("part of a whole"));
            assert_eq!(request["messages"][1]["role"], "user");
            assert_eq!(request["messages"][1]["content"], "What is a fraction?");
            assert_eq!(
                state.moderations.last().expect("moderated")["input"],
                "What is a fraction?"
            );
        }
        let store = db.store().await;
        let row = store
            .agent_task("tutor", &task_id)
            .await
            .expect("read")
            .expect("row");
        assert_eq!(row.status, "completed");
        assert_eq!(row.kind, "ask");
        assert_eq!(row.tokens_used, i64::from(USAGE));
        assert_eq!(row.output.expect("output")["answer"], TOKENS.concat());

        // To the student's user room, on request.
        let mut socket = Client::connect(test.addr, &school.student).await;
        socket
            .join(&format!("user:tutor:{}", school.id("s1")))
            .await;
        let whole = rest
            .post(
                "/api/v1/ai/explain",
                &school.student,
                json!({"lesson_id": lesson_id, "question": "Explain halves", "stream": false, "socket": true}),
            )
            .await;
        let whole = whole.expect(200);
        assert_eq!(whole["answer"], TOKENS.concat());
        let mut streamed = String::new();
        loop {
            let message = socket
                .recv_until(|message| event_parts(message).is_some())
                .await;
            let (_, kind, data) = event_parts(&message).expect("event");
            match kind {
                "ai_token" => streamed.push_str(data["text"].as_str().expect("text")),
                "ai_done" => {
                    assert_eq!(data["task_id"], whole["task_id"]);
                    break;
                }
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!(streamed, TOKENS.concat());
        drop(store);
        test.server.shutdown().await;
    }
}

#[tokio::test]
async fn unsafe_input_is_refused_before_the_model_and_recorded() {
    let (base, openai) = open_ai_stand_in().await;
    let test = ai_server(base, None, 100_000).await;
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "safe").await;
    let lesson_id = lesson(&rest, &school).await;
    for question in ["how to hurt someone at school", "where can I buy a gun"] {
        let (status, _, events) = sse(
            &rest,
            "/api/v1/ai/ask",
            &school.student,
            json!({"lesson_id": lesson_id, "question": question}),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(events.last().expect("event").0, "refused", "{events:?}");
        assert!(
            events.last().expect("event").1["message"]
                .as_str()
                .unwrap_or_default()
                .contains("trusted adult")
        );
    }
    assert!(
        openai.lock().expect("state").chats.is_empty(),
        "the model saw refused input"
    );
    let store = persistence::Store::open_sqlite_file(&test.data_dir.join("classhub.db"))
        .await
        .expect("open");
    let rows = store
        .agent_tasks_of("safe", &school.id("s1"), 10)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(row.status, "failed");
        let error = row.error.expect("reason");
        assert!(error.starts_with("refused: "), "{error}");
    }
    test.server.shutdown().await;
}

#[tokio::test]
async fn a_tenant_over_its_daily_tokens_gets_429_with_the_reset_time() {
    let (base, _openai) = open_ai_stand_in().await;
    let test = ai_server(base, None, u64::from(USAGE) - 1).await;
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "quota").await;
    let lesson_id = lesson(&rest, &school).await;
    let body = json!({"lesson_id": lesson_id, "question": "What is a fraction?", "stream": false});
    rest.post("/api/v1/ai/ask", &school.student, body.clone())
        .await
        .expect(200);
    // Another user of the same tenant: the quota is the tenant's.
    let over = rest
        .post("/api/v1/ai/ask", &school.other_student, body)
        .await;
    assert_eq!(over.status, 429, "{}", over.body);
    assert_eq!(over.code(), "rate_limited");
    assert!(
        over.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("resets at 00:00 UTC")
    );
    let after: u64 = over
        .retry_after
        .as_deref()
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=86_400).contains(&after), "{after}");
    // Another tenant is unaffected.
    let other = token("quota2", Role::Educator, "quota2-t");
    let drafted = rest
        .post(
            "/api/v1/ai/generate-content",
            &other,
            json!({"objectives": ["add fractions"], "grade_level": "5"}),
        )
        .await;
    assert_eq!(drafted.expect(200)["title"], "Fractions in the Obby");
    test.server.shutdown().await;
}

#[tokio::test]
async fn endpoint_failures_are_503_and_recorded_as_failed_tasks() {
    let (base, openai) = open_ai_stand_in().await;
    let test = ai_server(base, None, 100_000).await;
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "fail").await;
    let lesson_id = lesson(&rest, &school).await;
    for mode in [Mode::ServerError, Mode::RateLimited] {
        openai.lock().expect("state").mode = mode;
        let answer = rest
            .post(
                "/api/v1/ai/ask",
                &school.student,
                json!({"lesson_id": lesson_id, "question": "What is a fraction?"}),
            )
            .await;
        assert_eq!(answer.status, 503, "{mode:?}: {}", answer.body);
        assert!(answer.retry_after.is_some());
    }
    let store = persistence::Store::open_sqlite_file(&test.data_dir.join("classhub.db"))
        .await
        .expect("open");
    let rows = store
        .agent_tasks_of("fail", &school.id("s1"), 10)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|row| row.status == "failed" && row.error.is_some()),
        "{rows:?}"
    );
    test.server.shutdown().await;
}

#[tokio::test]
async fn drafted_assessments_are_validated_before_they_are_saved() {
    let (base, openai) = open_ai_stand_in().await;
    let test = ai_server(base, None, 100_000).await;
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "quiz").await;
    let lesson_id = lesson(&rest, &school).await;
    rest.post(
        "/api/v1/ai/create-assessment",
        &school.student,
        json!({"lesson_id": lesson_id, "grade_level": "5"}),
    )
    .await
    .expect(403);
    let created = rest
        .post(
            "/api/v1/ai/create-assessment",
            &school.teacher,
            json!({"lesson_id": lesson_id, "grade_level": "5", "count": 2}),
        )
        .await;
    let created = created.expect(201);
    assert_eq!(created["tokens_used"], 150);
    let assessment_id = created["assessment"]["id"].as_str().expect("id");
    let saved = rest
        .get(
            &format!("/api/v1/assessments/{assessment_id}"),
            &school.teacher,
        )
        .await;
    assert_eq!(saved.expect(200)["questions"][0]["answer"], 1);
    assert_eq!(
        openai.lock().expect("state").chats.last().expect("chat").1["model"],
        "gpt-test-big"
    );

    openai.lock().expect("state").mode = Mode::BadQuiz;
    let bad = rest
        .post(
            "/api/v1/ai/create-assessment",
            &school.teacher,
            json!({"lesson_id": lesson_id, "grade_level": "5"}),
        )
        .await;
    bad.expect_error(503, "assessment schema");
    let store = persistence::Store::open_sqlite_file(&test.data_dir.join("classhub.db"))
        .await
        .expect("open");
    let rows = store
        .agent_tasks_of("quiz", &school.id("t1"), 10)
        .await
        .expect("rows");
    assert_eq!(
        rows.iter().filter(|row| row.status == "completed").count(),
        1
    );
    assert_eq!(rows.iter().filter(|row| row.status == "failed").count(), 1);
    test.server.shutdown().await;
}

/// Today's first Unix second (the quota's day).
fn today() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    now - now % 86_400
}

#[tokio::test]
async fn concurrent_calls_never_spend_past_the_daily_quota() {
    for db in TestDatabase::all().await {
        let (base, openai) = open_ai_stand_in().await;
        openai.lock().expect("state").delay = std::time::Duration::from_millis(100);
        // Room for ten calls of USAGE tokens; each reserves USAGE before asking the model.
        let quota = 10 * u64::from(USAGE);
        let test = ai_server_reserving(base, Some(db.url().to_owned()), quota, USAGE).await;
        let rest = Rest::new(test.addr);
        let school = School::enroll(&rest, "rush").await;
        let lesson_id = lesson(&rest, &school).await;
        let body =
            json!({"lesson_id": lesson_id, "question": "What is a fraction?", "stream": false});
        let calls = (0..24).map(|index| {
            let student = if index % 2 == 0 {
                &school.student
            } else {
                &school.other_student
            };
            rest.post("/api/v1/ai/ask", student, body.clone())
        });
        let answers = futures_util::future::join_all(calls).await;
        let answered = answers.iter().filter(|answer| answer.status == 200).count();
        for answer in &answers {
            assert!(
                answer.status == 200 || answer.status == 429,
                "{}: {}",
                answer.status,
                answer.body
            );
        }
        assert!(answered >= 1, "no call got through");
        let store = db.store().await;
        let mut spent = 0;
        for student in ["s1", "s2"] {
            for row in store
                .agent_tasks_of("rush", &school.id(student), 100)
                .await
                .expect("rows")
            {
                spent += row.tokens_used;
            }
        }
        assert!(
            spent <= quota as i64,
            "{answered} calls spent {spent} tokens of a {quota}-token quota"
        );
        assert_eq!(
            store.ai_usage("rush", today()).await.expect("usage"),
            (spent, 0),
            "every reservation settled"
        );
        drop(store);
        test.server.shutdown().await;
    }
}

#[tokio::test]
async fn a_failed_call_gives_its_reservation_back() {
    for db in TestDatabase::all().await {
        let (base, openai) = open_ai_stand_in().await;
        // Room for exactly one reservation.
        let test =
            ai_server_reserving(base, Some(db.url().to_owned()), u64::from(USAGE), USAGE).await;
        let rest = Rest::new(test.addr);
        let school = School::enroll(&rest, "giveback").await;
        let lesson_id = lesson(&rest, &school).await;
        let body =
            json!({"lesson_id": lesson_id, "question": "What is a fraction?", "stream": false});
        openai.lock().expect("state").mode = Mode::ServerError;
        for streamed in [true, false] {
            let mut failing = body.clone();
            failing["stream"] = json!(streamed);
            rest.post("/api/v1/ai/ask", &school.student, failing)
                .await
                .expect_error(503, "try again");
        }
        let store = db.store().await;
        assert_eq!(
            store.ai_usage("giveback", today()).await.expect("usage"),
            (0, 0)
        );
        openai.lock().expect("state").mode = Mode::Answer;
        let answer = rest
            .post("/api/v1/ai/ask", &school.student, body.clone())
            .await;
        assert_eq!(answer.expect(200)["tokens_used"], USAGE);
        // Now the day's tokens are spent.
        rest.post("/api/v1/ai/ask", &school.student, body)
            .await
            .expect(429);
        drop(store);
        test.server.shutdown().await;
    }
}

#[tokio::test]
async fn class_chat_flagged_by_the_moderation_endpoint_is_held_for_the_teacher() {
    let (base, openai) = open_ai_stand_in().await;
    let test = ai_server(base, None, 100_000).await;
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "talk").await;
    let class_id = school.class_with_s1(&rest).await;
    let path = format!("/api/v1/classes/{class_id}/chat");
    let send = |text: &'static str| {
        let (rest, path, student) = (&rest, path.clone(), school.student.clone());
        async move {
            rest.post(&path, &student, json!({"text": text}))
                .await
                .expect(201)
                .clone()
        }
    };
    let shown = send("what is a numerator?").await;
    assert_eq!(shown["state"], "shown", "{shown}");
    let held = send("how to hurt the new kid").await;
    assert_eq!(held["state"], "held", "{held}");
    assert_eq!(held["reasons"], json!(["moderation:violence"]));
    let inputs: Vec<Value> = openai
        .lock()
        .expect("state")
        .moderations
        .iter()
        .map(|request| request["input"].clone())
        .collect();
    assert_eq!(
        inputs,
        [
            json!("what is a numerator?"),
            json!("how to hurt the new kid")
        ],
        "each student message was screened once"
    );
    // A teacher's message is not screened.
    rest.post(
        &path,
        &school.teacher,
        json!({"text": "how to hurt nobody: be kind"}),
    )
    .await
    .expect(201);
    assert_eq!(openai.lock().expect("state").moderations.len(), 2);
    let page = rest
        .get(&format!("{path}/held"), &school.teacher)
        .await
        .expect(200)
        .clone();
    assert_eq!(page["items"][0]["text"], "how to hurt the new kid");
    test.server.shutdown().await;

    // An endpoint that cannot answer holds the message: nothing unscreened reaches the class.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}/v1", closed.local_addr().expect("addr"));
    drop(closed);
    let test = ai_server(dead, None, 100_000).await;
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "quiet").await;
    let class_id = school.class_with_s1(&rest).await;
    let held = rest
        .post(
            &format!("/api/v1/classes/{class_id}/chat"),
            &school.student,
            json!({"text": "hello?"}),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(held["state"], "held", "{held}");
    assert_eq!(held["reasons"], json!(["moderation_unavailable"]));
    test.server.shutdown().await;
}
