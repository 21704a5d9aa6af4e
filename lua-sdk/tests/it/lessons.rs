//! A game reads its assigned lesson and its players answer the quiz: `GetLessonAsync` costs one
//! request for a server full of players asking at once, later calls are free while the copy is
//! fresh and then revalidate by ETag (304); `SubmitAnswer` answers are scored by classhub into
//! the student's result, which the teacher reads over REST.

use serde_json::{Value, json};
use server::auth::Role;

use crate::support::{TENANT, TestServer, started_game, stat, stop_hub, token};

/// `method path` as `token` with `body`; the JSON answer (panics on a non-2xx).
async fn rest(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Value {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", server.base_url()))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

#[tokio::test]
async fn a_server_full_of_players_reads_its_lesson_once_and_their_answers_become_results() {
    let server = TestServer::start().await;
    server
        .seed_class(TENANT, "c-math", "MATH42", &[("s-ada", "Ada")])
        .await;
    let teacher = token(TENANT, Role::Educator, "c-math-teacher");
    let post = reqwest::Method::POST;
    let course = rest(
        &server,
        post.clone(),
        "/api/v1/courses",
        &teacher,
        Some(json!({"title": "Fractions", "published": true})),
    )
    .await;
    let course = course["id"].as_str().expect("course id").to_owned();
    let lesson = rest(
        &server,
        post.clone(),
        &format!("/api/v1/courses/{course}/lessons"),
        &teacher,
        Some(json!({"title": "Halves", "published": true})),
    )
    .await;
    let lesson = lesson["id"].as_str().expect("lesson id").to_owned();
    let quiz = rest(&server, post.clone(), "/api/v1/assessments", &teacher, Some(json!({
        "lesson_id": lesson, "title": "Halves quiz", "questions": [
            {"id": "q1", "type": "multiple_choice", "prompt": "1/2 of 4?", "choices": ["1", "2"], "answer": 1},
            {"id": "q2", "type": "multiple_choice", "prompt": "1/2 of 6?", "choices": ["3", "4"], "answer": 0, "points": 2}
        ]}))).await;
    let quiz = quiz["id"].as_str().expect("assessment id").to_owned();
    rest(
        &server,
        post,
        "/api/v1/classes/c-math/assignments",
        &teacher,
        Some(json!({"lesson_id": lesson})),
    )
    .await;
    let store = server.store().await;
    store
        .link_roblox_player(TENANT, 1001, "s-ada", None)
        .await
        .expect("link");
    store.close().await;

    let mut game = started_game(&server, "lessonCacheSeconds = 5").await;
    for player in 0..30 {
        game.add_player(1001 + player, &format!("p{player}"), "P")
            .expect("player joins");
    }
    let script = r#"
        read = {}
        for i = 1, 30 do
            task.spawn(function()
                local lesson, problem = hub:GetLessonAsync("LESSON")
                read[i] = if lesson then lesson.assessments[1].questions[2].prompt else problem
            end)
        end
    "#
    .replace("LESSON", &lesson);
    game.spawn("thirty players read the lesson", &script)
        .expect("spawn");
    game.run_until("every player has the lesson", 60.0, |game| {
        Ok(game.eval::<usize>("#read")? == 30)
    })
    .await
    .expect("lesson read");
    let prompts: Vec<String> = game.eval("read").expect("read");
    assert!(
        prompts.iter().all(|prompt| prompt == "1/2 of 6?"),
        "{prompts:?}"
    );
    let lesson_requests = |game: &lua_sdk::Harness| {
        game.requests()
            .into_iter()
            .filter(|request| request.path.contains("/lessons/"))
            .map(|request| request.status)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        lesson_requests(&game),
        vec![Some(200)],
        "one request for thirty players"
    );
    // No answer key reached the game.
    let keyless: bool = game
        .eval(&format!(
            "hub:GetLessonAsync('{lesson}').assessments[1].questions[1].answer == nil"
        ))
        .expect("eval");
    assert!(keyless);

    // Past lessonCacheSeconds, the copy is revalidated: unchanged, 304 and the same lesson.
    game.run_script(
        "later",
        &format!("task.wait(6) again = hub:GetLessonAsync('{lesson}')"),
        30.0,
    )
    .await
    .expect("read again");
    assert_eq!(lesson_requests(&game), vec![Some(200), Some(304)]);
    let title: String = game.eval("again.lesson.title").expect("title");
    assert_eq!(title, "Halves");

    // Ada answers q1 right and q2 wrong; an unlinked player's answer is refused by classhub.
    let answers = format!(
        r#"
        local Players = game:GetService("Players")
        local ada = Players:GetPlayerByUserId(1001)
        queued = hub:SubmitAnswer(ada, "{quiz}", "q1", 1)
            and hub:SubmitAnswer(ada, "{quiz}", "q2", 1)
            and hub:SubmitAnswer(Players:GetPlayerByUserId(1002), "{quiz}", "q1", 1)
        refused = hub:SubmitAnswer(ada, "{quiz}", "q1", {{}})
        "#
    );
    game.run_script("answers", &answers, 10.0)
        .await
        .expect("answers");
    let (queued, refused): (bool, bool) = game.eval("queued, refused").expect("queued");
    assert!(queued && !refused);
    game.run_until("the answers are committed or refused", 60.0, |game| {
        Ok(stat(game, "sent") == 2 && stat(game, "rejected") == 1)
    })
    .await
    .expect("answers delivered");
    let results = rest(
        &server,
        reqwest::Method::GET,
        &format!("/api/v1/assessments/{quiz}/results"),
        &teacher,
        None,
    )
    .await;
    assert_eq!(
        results["items"].as_array().map(Vec::len),
        Some(1),
        "{results}"
    );
    let result = &results["items"][0];
    assert_eq!(
        (result["user_id"].clone(), result["source"].clone()),
        (json!("s-ada"), json!("game"))
    );
    assert_eq!(
        (result["score"].as_f64(), result["max_score"].as_f64()),
        (Some(1.0), Some(3.0)),
        "{result}"
    );
    // The game reads a linked player's stats; an unlinked one's are not found.
    game.run_script(
        "stats",
        r#"
        local Players = game:GetService("Players")
        local ada = Players:GetPlayerByUserId(1001)
        hub:AwardPoints(ada, 25, "found the secret room")
        hub:RecordBadge(ada, 2124567890)
        while hub:GetStats().sent < 4 do task.wait(0.5) end
        ada_stats = hub:GetPlayerStatsAsync(ada)
        zed_stats, zed_problem = hub:GetPlayerStatsAsync(1002)
        "#,
        60.0,
    )
    .await
    .expect("stats");
    let (student, points): (String, i64) = game
        .eval("ada_stats.student_id, ada_stats.points")
        .expect("ada's stats");
    assert_eq!((student.as_str(), points), ("s-ada", 25));
    let badge: String = game.eval("ada_stats.badges[1]").expect("badge");
    assert_eq!(badge, "2124567890");
    let (missing, problem): (bool, String) = game
        .eval("zed_stats == nil, zed_problem")
        .expect("zed's stats");
    assert!(missing);
    assert_eq!(problem, "not_found");
    assert!(stop_hub(&mut game).await);
}
