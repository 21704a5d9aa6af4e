//! The learning loop over real HTTP and sockets, on both backends: a teacher assigns a lesson,
//! the student lists it, the game reads it (without the answer key, revalidated by ETag), the
//! players' in-game answers are scored into results that the REST API and analytics read, and
//! the class's assignment list shows completion.

use std::net::SocketAddr;

use persistence::test_support::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::auth::Role;

use crate::roblox::{Game, rest_get, seed_acme, teacher};
use crate::support::{start_with, token};

/// A REST call as `token`: (status, body).
pub(crate) async fn rest(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let client = reqwest::Client::new();
    let url = format!("http://{addr}{path}");
    let request = match method {
        "POST" => client.post(url),
        "PATCH" => client.patch(url),
        "PUT" => client.put(url),
        "DELETE" => client.delete(url),
        _ => client.get(url),
    }
    .bearer_auth(token);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    let answer = Game::new(addr, "").send(request).await;
    (answer.status, answer.body)
}

/// Course → lesson (played in place 7) → assessment, all published, by teacher t1. Returns
/// (course, lesson, assessment) ids.
async fn publish_a_lesson(addr: SocketAddr, teacher: &str) -> (String, String, String) {
    let created = |(status, body): (StatusCode, Value)| {
        assert!(status.is_success(), "{status}: {body}");
        body["id"].as_str().expect("id").to_owned()
    };
    let course = created(
        rest(
            addr,
            "POST",
            "/api/v1/courses",
            teacher,
            Some(json!({"title": "Fractions", "published": true})),
        )
        .await,
    );
    let lesson = created(
        rest(
            addr,
            "POST",
            &format!("/api/v1/courses/{course}/lessons"),
            teacher,
            Some(json!({"title": "Halves", "published": true, "roblox_universe_id": 42, "roblox_place_id": 7,
                        "content": {"intro": "Cut the pizza"}})),
        )
        .await,
    );
    let assessment = created(
        rest(
            addr,
            "POST",
            "/api/v1/assessments",
            teacher,
            Some(json!({"lesson_id": lesson, "title": "Halves quiz", "questions": [
                {"id": "q1", "type": "multiple_choice", "prompt": "1/2 of 4?", "choices": ["1", "2"], "answer": 1},
                {"id": "q2", "type": "multiple_choice", "prompt": "1/2 of 6?", "choices": ["3", "4"], "answer": 0, "points": 2},
                {"id": "q3", "type": "free_text", "prompt": "Why?"}
            ]})),
        )
        .await,
    );
    (course, lesson, assessment)
}

/// The game's GET of a lesson, optionally revalidating: (status, ETag, body).
async fn game_lesson(
    addr: SocketAddr,
    key: &str,
    lesson: &str,
    etag: Option<&str>,
) -> (StatusCode, Option<String>, Value) {
    let mut request = reqwest::Client::new()
        .get(format!("http://{addr}/api/v1/roblox/lessons/{lesson}"))
        .bearer_auth(key);
    if let Some(etag) = etag {
        request = request.header("if-none-match", etag);
    }
    let response = request.send().await.expect("lesson request");
    let status = response.status();
    let etag = response
        .headers()
        .get("etag")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = response.json().await.unwrap_or(Value::Null);
    (status, etag, body)
}

#[tokio::test]
async fn an_assigned_lesson_is_read_by_its_game_and_in_game_answers_become_results() {
    for db in TestDatabase::all().await {
        // Seeded before the start, so the hub's rosters hold the class (its rules apply).
        let key = seed_acme(&db.store().await).await;
        let test = start_with(|config| config.database_url = Some(db.url().to_owned())).await;
        let addr = test.addr;
        let store = test.server.app().store().clone();
        let t1 = token("acme", Role::Educator, "t1");
        let (course, lesson, assessment) = publish_a_lesson(addr, &t1).await;

        // Not assigned yet: the game may not read it.
        let (status, _, body) = game_lesson(addr, &key, &lesson, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("assign"),
            "{body}"
        );

        // The teacher assigns it; twice is a conflict, both or neither of course and lesson is refused.
        let assignments = "/api/v1/classes/c1/assignments";
        let (status, assigned) = rest(
            addr,
            "POST",
            assignments,
            &t1,
            Some(json!({"lesson_id": lesson, "due_at": "2030-01-15T15:00:00Z"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{assigned}");
        assert_eq!(assigned["due_at"], "2030-01-15T15:00:00.000Z");
        assert_eq!(
            (
                assigned["students"].as_i64(),
                assigned["completed"].as_i64()
            ),
            (Some(2), Some(0))
        );
        let (status, again) = rest(
            addr,
            "POST",
            assignments,
            &t1,
            Some(json!({"lesson_id": lesson})),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{again}");
        for bad in [
            json!({}),
            json!({"lesson_id": lesson, "course_id": "x"}),
            json!({"lesson_id": "nope"}),
            json!({"lesson_id": lesson, "due_at": "next tuesday"}),
        ] {
            let (status, body) = rest(addr, "POST", assignments, &t1, Some(bad.clone())).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        }
        // A student may not assign; another class's teacher may not either.
        let (status, _) = rest(
            addr,
            "POST",
            assignments,
            &token("acme", Role::Student, "s1"),
            Some(json!({"lesson_id": lesson})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, body) = rest(
            addr,
            "POST",
            assignments,
            &token("acme", Role::Educator, "t9"),
            Some(json!({"lesson_id": lesson})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

        // The student sees it, with where it is played.
        let mine = rest_get(
            addr,
            "/api/v1/me/lessons",
            &token("acme", Role::Student, "s1"),
        )
        .await;
        assert_eq!(mine["lessons"].as_array().map(Vec::len), Some(1), "{mine}");
        assert_eq!(mine["lessons"][0]["lesson_id"], lesson.as_str());
        assert_eq!(mine["lessons"][0]["roblox_place_id"], 7);
        assert_eq!(mine["lessons"][0]["class_id"], "c1");

        // The game reads it without the answer key; the ETag answers 304 until it changes.
        let (status, etag, body) = game_lesson(addr, &key, &lesson, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["lesson"]["title"], "Halves");
        assert_eq!(body["lesson"]["content"]["intro"], "Cut the pizza");
        let quiz = &body["assessments"][0];
        assert_eq!(quiz["id"], assessment.as_str());
        assert_eq!(quiz["max_score"], 3.0);
        assert_eq!(body["assessments_truncated"], false);
        assert_eq!(quiz["questions"].as_array().map(Vec::len), Some(3));
        assert!(
            !body.to_string().contains("\"answer\""),
            "no answer key: {body}"
        );
        let etag = etag.expect("an ETag");
        let (status, _, _) = game_lesson(addr, &key, &lesson, Some(&etag)).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        let (status, _) = rest(
            addr,
            "PATCH",
            &format!("/api/v1/lessons/{lesson}"),
            &t1,
            Some(json!({"title": "Halves!"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (status, new_etag, body) = game_lesson(addr, &key, &lesson, Some(&etag)).await;
        assert_eq!(status, StatusCode::OK, "an edit is read at once");
        assert_eq!(body["lesson"]["title"], "Halves!");
        assert_ne!(new_etag.as_deref(), Some(etag.as_str()));

        // In game: s1 plays as 1001 (linked), 2002 is not linked.
        let game = Game::new(addr, &key);
        let session = game.open("job-quiz").await;
        store
            .link_roblox_player("acme", 1001, "s1", None)
            .await
            .expect("link");
        let mut watcher = teacher(addr, &["class:acme:c1"]).await;
        let answer = |id: &str, player: i64, question: &str, given: Value| {
            json!({"id": id, "player": player, "kind": "quiz_answer",
                   "data": {"assessment": assessment, "question": question, "answer": given, "correct": true, "points": 99}})
        };
        let batch = json!({"session_id": session, "events": [
            answer("a1", 1001, "q1", json!(1.0)),
            answer("a2", 1001, "q2", json!(1)),
            answer("a3", 1001, "q3", json!("because halves")),
            answer("a4", 2002, "q1", json!(1)),
            answer("a5", 1001, "q9", json!(0)),
            answer("a6", 1001, "q1", json!(5)),
        ]});
        let posted = game.post("/api/v1/roblox/events", batch.clone()).await;
        assert_eq!(posted.status, StatusCode::OK, "{}", posted.body);
        assert_eq!(
            posted.body["accepted"],
            json!(["a1", "a2", "a3"]),
            "{}",
            posted.body
        );
        let rejected: Vec<(String, String)> = posted.body["rejected"]
            .as_array()
            .expect("rejected")
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap_or_default().to_owned(),
                    r["message"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        assert_eq!(rejected.len(), 3, "{rejected:?}");
        assert!(
            rejected[0].0 == "a4" && rejected[0].1.contains("linked"),
            "{rejected:?}"
        );
        assert!(
            rejected[1].0 == "a5" && rejected[1].1.contains("no question"),
            "{rejected:?}"
        );
        assert!(
            rejected[2].0 == "a6" && rejected[2].1.contains("data.answer"),
            "{rejected:?}"
        );
        // The teacher sees the server's grading, not the game's claim.
        let seen = watcher
            .recv_until(|message| {
                crate::support::event_parts(message).is_some_and(|(_, kind, data)| {
                    kind == "quiz_answer" && data["question"] == "q2"
                })
            })
            .await;
        let (_, _, data) = crate::support::event_parts(&seen).expect("event");
        assert_eq!(
            (
                data["correct"].clone(),
                data["points"].clone(),
                data["student"].clone()
            ),
            (json!(false), json!(0.0), json!("s1"))
        );

        // The batch again (a retry) and a second answer to q1 in the same attempt change nothing.
        let again = game.post("/api/v1/roblox/events", batch).await;
        assert_eq!(
            again.body["accepted"],
            json!(["a1", "a2", "a3"]),
            "{}",
            again.body
        );
        let second = game
            .post(
                "/api/v1/roblox/events",
                json!({"session_id": session, "events": [answer("a7", 1001, "q1", json!(0))]}),
            )
            .await;
        assert_eq!(second.body["accepted"], json!(["a7"]), "{}", second.body);
        // A new attempt is its own result.
        let retake = game.post("/api/v1/roblox/events", json!({"session_id": session, "events": [
            {"id": "b1", "player": 1001, "kind": "quiz_answer", "data": {"assessment": assessment, "question": "q2", "answer": 0, "attempt": "retake-1"}}
        ]})).await;
        assert_eq!(retake.body["accepted"], json!(["b1"]), "{}", retake.body);

        let results = rest_get(
            addr,
            &format!("/api/v1/assessments/{assessment}/results"),
            &t1,
        )
        .await;
        let mut items: Vec<Value> = results["items"].as_array().expect("items").clone();
        items.sort_by_key(|item| item["score"].as_f64().map(|score| score as i64));
        assert_eq!(items.len(), 2, "{results}");
        let first = &items[0];
        assert_eq!(
            (first["user_id"].clone(), first["source"].clone()),
            (json!("s1"), json!("game"))
        );
        assert_eq!(
            (first["score"].as_f64(), first["max_score"].as_f64()),
            (Some(1.0), Some(3.0)),
            "{first}"
        );
        assert_eq!(
            first["answers"]["submitted"],
            json!({"q1": 1.0, "q2": 1, "q3": "because halves"}),
            "{first}"
        );
        let retaken = &items[1];
        assert_eq!(
            (retaken["score"].as_f64(), retaken["attempt"].clone()),
            (Some(2.0), json!("retake-1"))
        );
        // An educator who does not teach s1 reads none of them.
        let other = rest_get(
            addr,
            &format!("/api/v1/assessments/{assessment}/results"),
            &token("acme", Role::Educator, "t9"),
        )
        .await;
        assert_eq!(other["items"].as_array().map(Vec::len), Some(0), "{other}");
        // The student reads their own; analytics averages both attempts like web results.
        let own = rest_get(
            addr,
            &format!("/api/v1/assessments/{assessment}/results"),
            &token("acme", Role::Student, "s1"),
        )
        .await;
        assert_eq!(own["items"].as_array().map(Vec::len), Some(2));
        let analytics = rest_get(addr, "/api/v1/analytics/classes/c1", &t1).await;
        let average = analytics["quiz_averages"]
            .as_array()
            .expect("averages")
            .iter()
            .find(|line| line["assessment_id"] == assessment.as_str())
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(average["attempts"].as_u64(), Some(2), "{analytics}");

        // No socket may claim a graded answer (students may not publish answers to the class at
        // all; its teacher may publish any kind, but not this): the one scoring rule is the
        // server's.
        let mut socket = crate::support::Client::connect(addr, &t1).await;
        socket.join("class:acme:c1").await;
        let refused = socket
            .expect_error(json!({"type": "publish", "room": "class:acme:c1", "kind": "quiz_answer",
                                 "data": {"assessment": assessment, "question": "q1", "answer": 1, "correct": true}}))
            .await;
        assert!(
            refused.message.contains("scored by the server"),
            "{refused:?}"
        );

        // Completing the lesson in game shows in the class's assignment list.
        let done = game.post("/api/v1/roblox/events", json!({"session_id": session, "events": [
            {"id": "p1", "player": 1001, "kind": "progress", "data": {"lesson": lesson, "percent": 100}}
        ]})).await;
        assert_eq!(done.body["accepted"], json!(["p1"]), "{}", done.body);
        let listed = rest_get(addr, assignments, &t1).await;
        assert_eq!(listed["assignments"][0]["completed"], 1, "{listed}");
        let mine = rest_get(
            addr,
            "/api/v1/me/lessons",
            &token("acme", Role::Student, "s1"),
        )
        .await;
        assert_eq!(mine["lessons"][0]["completion_percent"], 100.0, "{mine}");
        // The game named no course: the lesson's course was filled in, so a web record of the
        // same lesson lands on the same row (the highest completion stays).
        let (status, web) = rest(
            addr,
            "POST",
            "/api/v1/progress",
            &token("acme", Role::Student, "s1"),
            Some(json!({"lesson_id": lesson, "percent": 30})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{web}");
        assert_eq!(
            (web["course_id"].clone(), web["completion_percent"].clone()),
            (json!(course), json!(100.0)),
            "{web}"
        );

        // Removed, the lesson is the game's no more.
        let id = assigned["id"].as_str().expect("id");
        let (status, _) = rest(addr, "DELETE", &format!("{assignments}/{id}"), &t1, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _, _) = game_lesson(addr, &key, &lesson, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn a_lesson_done_on_the_web_records_progress_once_per_id_and_the_teacher_sees_it() {
    for db in TestDatabase::all().await {
        let _key = seed_acme(&db.store().await).await;
        let test = start_with(|config| {
            config.database_url = Some(db.url().to_owned());
            config.api_limits.progress_per_minute = 6;
        })
        .await;
        let addr = test.addr;
        let t1 = token("acme", Role::Educator, "t1");
        let s1 = token("acme", Role::Student, "s1");
        let (course, lesson, _) = publish_a_lesson(addr, &t1).await;
        let mut watcher = teacher(addr, &["class:acme:c1"]).await;

        let record = |body: Value| rest(addr, "POST", "/api/v1/progress", &s1, Some(body));
        let (status, first) =
            record(json!({"lesson_id": lesson, "percent": 40, "time_spent_secs": 30, "id": "r1"}))
                .await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        assert_eq!(
            (
                first["completion_percent"].as_f64(),
                first["time_spent_secs"].as_i64()
            ),
            (Some(40.0), Some(30))
        );
        assert_eq!(first["course_id"], course.as_str());
        // The teacher's live class sees it as it would a game's progress.
        let seen = watcher
            .recv_until(|message| {
                crate::support::event_parts(message).is_some_and(|(_, kind, _)| kind == "progress")
            })
            .await;
        let (_, _, data) = crate::support::event_parts(&seen).expect("event");
        assert_eq!(
            (data["lesson"].clone(), data["percent"].clone()),
            (json!(lesson), json!(40.0))
        );
        // The same id again counts once; a lower percent keeps the highest; time adds up.
        let (_, again) =
            record(json!({"lesson_id": lesson, "percent": 40, "time_spent_secs": 30, "id": "r1"}))
                .await;
        assert_eq!(again["time_spent_secs"], 30, "{again}");
        let (_, lower) =
            record(json!({"lesson_id": lesson, "percent": 20, "time_spent_secs": 10})).await;
        assert_eq!(
            (
                lower["completion_percent"].as_f64(),
                lower["time_spent_secs"].as_i64()
            ),
            (Some(40.0), Some(40))
        );

        // Refusals name what is wrong.
        let (status, body) = record(json!({"lesson_id": lesson, "percent": 101})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["error"]["fields"]["percent"].is_string(), "{body}");
        let (status, body) =
            record(json!({"lesson_id": lesson, "percent": 50, "time_spent_secs": -1})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["error"]["fields"]["time_spent_secs"].is_string(),
            "{body}"
        );
        let (status, _) = record(json!({"lesson_id": "les_nope", "percent": 50})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = rest(
            addr,
            "POST",
            "/api/v1/progress",
            &t1,
            Some(json!({"lesson_id": lesson, "percent": 5})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // Six a minute (all records count, refused ones too): the seventh is 429.
        let (status, body) = record(json!({"lesson_id": lesson, "percent": 60})).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");

        // Analytics and the student's progress read the same row.
        let mine = rest_get(addr, "/api/v1/progress/students/s1", &s1).await;
        let row = mine["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|row| row["lesson_id"] == lesson.as_str())
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(row["completion_percent"], 40.0, "{mine}");
    }
}

#[tokio::test]
async fn rewards_are_recorded_notified_totalled_and_ranked_by_first_name() {
    for db in TestDatabase::all().await {
        let key = seed_acme(&db.store().await).await;
        let test = start_with(|config| config.database_url = Some(db.url().to_owned())).await;
        let addr = test.addr;
        let store = test.server.app().store().clone();
        let t1 = token("acme", Role::Educator, "t1");
        let s1 = token("acme", Role::Student, "s1");
        let commands = "/api/v1/classes/c1/commands";
        // To Ada alone, then to the whole class with a badge, over REST; then to Bo over /ws.
        let (status, body) = rest(addr, "POST", commands, &t1,
            Some(json!({"kind": "reward", "data": {"points": 10, "reason": "Great fractions"}, "student_id": "s1"}))).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let (status, body) = rest(
            addr,
            "POST",
            commands,
            &t1,
            Some(json!({"kind": "reward", "data": {"points": 5, "badge_id": 123}})),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let mut socket = crate::support::Client::connect(addr, &t1).await;
        socket.join("class:acme:c1").await;
        socket
            .publish(
                "class:acme:c1",
                "reward",
                json!({"points": 2, "target": "s2"}),
            )
            .await;
        // The /ws door records it after the publish: wait for it (bounded).
        let bo = tokio::time::timeout(crate::support::PATIENCE, async {
            loop {
                let bo = rest_get(addr, "/api/v1/users/s2/rewards", &t1).await;
                if bo["points"] == 7 && bo["recent"].as_array().map(Vec::len) == Some(2) {
                    break bo;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the reward sent over /ws is in the ledger");
        assert_eq!(bo["recent"].as_array().map(Vec::len), Some(2), "{bo}");

        let ada = rest_get(addr, "/api/v1/users/s1/rewards", &s1).await;
        assert_eq!(
            (ada["points"].as_i64(), ada["streak_days"].as_u64()),
            (Some(15), Some(1)),
            "{ada}"
        );
        assert_eq!(ada["badges"], json!(["123"]));
        let newest = &ada["recent"][1];
        assert_eq!(
            (
                newest["reason"].clone(),
                newest["given_by"].clone(),
                newest["source"].clone()
            ),
            (json!("Great fractions"), json!("t1"), json!("teacher")),
            "{ada}"
        );
        // Bo may not read Ada's.
        let (status, _) = rest(
            addr,
            "GET",
            "/api/v1/users/s1/rewards",
            &token("acme", Role::Student, "s2"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // Ada was notified on her private channel.
        let notes = rest_get(addr, "/api/v1/notifications", &s1).await;
        let titles: Vec<&str> = notes["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|note| note["kind"] == "reward")
            .filter_map(|note| note["title"].as_str())
            .collect();
        assert!(
            titles.contains(&"You earned 10 points") && titles.contains(&"You earned 5 points"),
            "{notes}"
        );

        // The leaderboard: off for students until the teacher turns it on; first names only.
        let board = rest_get(addr, "/api/v1/classes/c1/leaderboard", &s1).await;
        assert_eq!(
            (board["enabled"].clone(), board["entries"].clone()),
            (json!(false), json!([]))
        );
        let (status, _) = rest(
            addr,
            "PUT",
            "/api/v1/classes/c1/leaderboard",
            &s1,
            Some(json!({"enabled": true})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = rest(
            addr,
            "PUT",
            "/api/v1/classes/c1/leaderboard",
            &t1,
            Some(json!({"enabled": true})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let board = rest_get(addr, "/api/v1/classes/c1/leaderboard", &s1).await;
        assert_eq!(
            board["entries"],
            json!([{"rank": 1, "first_name": "Ada", "points": 15}, {"rank": 2, "first_name": "Bo", "points": 7}]),
            "{board}"
        );
        assert!(!board.to_string().contains("s1"), "no ids: {board}");
        assert_eq!(board["truncated"], false);

        // A game reads a linked player's stats.
        store
            .link_roblox_player("acme", 1001, "s1", None)
            .await
            .expect("link");
        let game = Game::new(addr, &key);
        // A game awards points: recorded for the linked player before the batch is answered;
        // an unlinked player's award, or points out of range, are rejected.
        let session = game.open("job-awards").await;
        let awarded = game
            .post("/api/v1/roblox/events", json!({"session_id": session, "events": [
                {"id": "w1", "player": 1001, "kind": "award", "data": {"points": 3, "reason": "boss beaten"}},
                {"id": "w2", "player": 2002, "kind": "award", "data": {"points": 3}},
                {"id": "w3", "player": 1001, "kind": "award", "data": {"points": 5000}},
            ]}))
            .await;
        assert_eq!(awarded.body["accepted"], json!(["w1"]), "{}", awarded.body);
        assert_eq!(
            awarded.body["rejected"].as_array().map(Vec::len),
            Some(2),
            "{}",
            awarded.body
        );
        let stats = game.get("/api/v1/roblox/players/1001/stats").await;
        assert_eq!(stats.body["points"], 18, "{}", stats.body);
        assert_eq!(stats.body["recent"][0]["source"], "game", "{}", stats.body);
        let unknown = game.get("/api/v1/roblox/players/2002/stats").await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    }
}
