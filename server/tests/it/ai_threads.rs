//! The tutor that converses, against the OpenAI stand-in of `ai.rs`, on SQLite and PostgreSQL
//! through real HTTP: general questions, threads carrying their last turns and a bounded summary
//! into the next request (asserted on what the stand-in received), who may read a thread, staff
//! reading agent tasks, a drafted lesson saved as an unpublished lesson under the editable-course
//! rule, suggestions that send a student back to a quiz they scored low on, and threads in the
//! export, erasure and retention.

use persistence::Expiring;
use persistence::test_support::TestDatabase;
use serde_json::{Value, json};

use crate::ai::{Shared, TOKENS, USAGE, ai_server, ai_server_with, lesson, open_ai_stand_in, sse};
use crate::classes::School;
use crate::rest::Rest;

/// The last chat completion request the stand-in got.
fn last_chat(openai: &Shared) -> Value {
    openai
        .lock()
        .expect("state")
        .chats
        .last()
        .expect("a chat request")
        .1
        .clone()
}

/// The (role, content) of each message of a request.
fn messages(request: &Value) -> Vec<(String, String)> {
    request["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|message| {
            (
                message["role"].as_str().unwrap_or_default().to_owned(),
                message["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Asks `question` (whole JSON answer), in `thread` when given.
async fn ask(rest: &Rest, token: &str, thread: Option<&str>, question: &str) -> Value {
    let mut body = json!({"question": question, "stream": false});
    if let Some(thread) = thread {
        body["thread_id"] = json!(thread);
    }
    rest.post("/api/v1/ai/ask", token, body)
        .await
        .expect(200)
        .clone()
}

#[tokio::test]
async fn a_conversation_carries_its_last_turns_and_a_bounded_summary() {
    for db in TestDatabase::all().await {
        let (base, openai) = open_ai_stand_in().await;
        let test = ai_server_with(base, Some(db.url().to_owned()), 1_000_000, |config| {
            config.ai.thread_turns = 2;
            config.ai.thread_summary_chars = 120;
            config.ai.thread_answer_chars = 12;
        })
        .await;
        let rest = Rest::new(test.addr);
        let school = School::enroll(&rest, "convo").await;
        school.class_with_s1(&rest).await;
        let kept_answer = format!("{}…", TOKENS.concat().chars().take(11).collect::<String>());

        // A general question: no lesson, still screened, a new thread named first and last.
        let (status, _, events) = sse(
            &rest,
            "/api/v1/ai/ask",
            &school.student,
            json!({"question": "Why is the sky blue?"}),
        )
        .await;
        assert_eq!(status, 200);
        let names: Vec<&str> = events.iter().map(|(event, _)| event.as_str()).collect();
        assert_eq!(
            names,
            ["task", "token", "token", "token", "done"],
            "{events:?}"
        );
        let thread_id = events[0].1["thread_id"]
            .as_str()
            .expect("thread id")
            .to_owned();
        assert_eq!(events[4].1["thread_id"], thread_id);
        assert_eq!(
            events[4].1["answer"],
            TOKENS.concat(),
            "the student sees it whole"
        );
        let first = last_chat(&openai);
        let sent = messages(&first);
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert!(sent[0].1.starts_with(server::ai::SAFETY_TEMPLATE));
        assert!(sent[0].1.contains("general question"), "{}", sent[0].1);
        assert!(!sent[0].1.contains("Lesson:"), "{}", sent[0].1);
        assert_eq!(
            openai
                .lock()
                .expect("state")
                .moderations
                .last()
                .expect("screened")["input"],
            "Why is the sky blue?"
        );
        // `explain` still needs its lesson.
        rest.post(
            "/api/v1/ai/explain",
            &school.student,
            json!({"question": "halves", "stream": false}),
        )
        .await
        .expect_error(422, "lesson_id");

        // The next question in the thread takes the earlier turn along (its answer as stored).
        let second = ask(
            &rest,
            &school.student,
            Some(&thread_id),
            "What about sunsets?",
        )
        .await;
        assert_eq!(second["thread_id"], thread_id);
        let sent = messages(&last_chat(&openai));
        let roles: Vec<&str> = sent.iter().map(|(role, _)| role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert_eq!(sent[1].1, "Why is the sky blue?");
        assert_eq!(sent[2].1, kept_answer);
        assert_eq!(sent[3].1, "What about sunsets?");

        // The window is two turns: the third question carries both, the fourth folds the first
        // into the summary and carries the two after it.
        ask(&rest, &school.student, Some(&thread_id), "And the clouds?").await;
        assert_eq!(messages(&last_chat(&openai)).len(), 6);
        ask(&rest, &school.student, Some(&thread_id), "And the stars?").await;
        let sent = messages(&last_chat(&openai));
        assert_eq!(sent.len(), 6, "{sent:?}");
        assert_eq!(sent[1].1, "What about sunsets?");
        assert_eq!(sent[3].1, "And the clouds?");
        assert!(
            sent[0].1.contains("- Q: Why is the sky blue? A: "),
            "the summary follows the rules: {}",
            sent[0].1
        );
        let read = rest
            .get(&format!("/api/v1/ai/threads/{thread_id}"), &school.student)
            .await
            .expect(200)
            .clone();
        assert_eq!(read["thread"]["turns_total"], 4);
        assert_eq!(read["thread"]["folded_through"], 2);
        assert_eq!(read["thread"]["title"], "Why is the sky blue?");
        let seqs: Vec<i64> = read["turns"]
            .as_array()
            .expect("turns")
            .iter()
            .map(|turn| turn["seq"].as_i64().expect("seq"))
            .collect();
        assert_eq!(seqs, [3, 4], "only the window is kept");
        assert_eq!(read["turns"][0]["answer"], kept_answer.as_str());
        let summary = read["thread"]["summary"].as_str().expect("summary");
        assert_eq!(summary.lines().count(), 2, "{summary}");

        // A lesson, when given, grounds the answer inside the conversation; the summary passes
        // its limit and gives up its oldest lines.
        let lesson_id = lesson(&rest, &school).await;
        ask(&rest, &school.student, Some(&thread_id), "And the moon?").await;
        let grounded = rest
            .post(
                "/api/v1/ai/ask",
                &school.student,
                json!({"question": "Which part is the numerator?", "lesson_id": lesson_id,
                       "thread_id": thread_id, "stream": false}),
            )
            .await;
        assert_eq!(grounded.expect(200)["thread_id"], thread_id);
        let sent = messages(&last_chat(&openai));
        assert!(sent[0].1.contains("Lesson: Fractions"), "{}", sent[0].1);
        assert!(
            sent[0].1.contains("- Q: What about sunsets?"),
            "{}",
            sent[0].1
        );
        let read = rest
            .get(&format!("/api/v1/ai/threads/{thread_id}"), &school.student)
            .await
            .expect(200)
            .clone();
        assert_eq!(read["turns"].as_array().expect("turns").len(), 2);
        assert_eq!(read["turns"][1]["lesson_id"], lesson_id.as_str());
        let summary = read["thread"]["summary"].as_str().expect("summary");
        assert!(summary.chars().count() <= 120, "{summary}");
        assert!(summary.contains("And the stars?"), "{summary}");
        assert!(!summary.contains("sky blue"), "{summary}");

        // A refusal leaves the thread as it was; a refused first question starts none.
        let refused = rest
            .post(
                "/api/v1/ai/ask",
                &school.student,
                json!({"question": "where can I buy a gun", "thread_id": thread_id, "stream": false}),
            )
            .await
            .expect(200)
            .clone();
        assert_eq!(
            (refused["refused"].clone(), refused["thread_id"].clone()),
            (json!(true), json!(thread_id))
        );
        let refused_first = ask(&rest, &school.student, None, "where can I buy a gun").await;
        assert_eq!(refused_first["thread_id"], Value::Null);
        let threads = rest
            .get("/api/v1/ai/threads", &school.student)
            .await
            .expect(200)
            .clone();
        assert_eq!(threads["items"].as_array().expect("items").len(), 1);
        assert_eq!(threads["items"][0]["turns_total"], 6);

        // The student and their teacher read it; a classmate, another class's teacher and an
        // unlinked parent may not; only the student continues or deletes it.
        let path = format!("/api/v1/ai/threads/{thread_id}");
        for reader in [&school.teacher, &school.admin] {
            rest.get(&path, reader).await.expect(200);
        }
        for outsider in [&school.other_student, &school.other_teacher, &school.parent] {
            rest.get(&path, outsider).await.expect(403);
        }
        let of_s1 = format!("/api/v1/ai/threads?student_id={}", school.id("s1"));
        let listed = rest.get(&of_s1, &school.teacher).await.expect(200).clone();
        assert_eq!(listed["items"][0]["id"], thread_id);
        rest.get(&of_s1, &school.other_teacher).await.expect(403);
        rest.get(&of_s1, &school.other_student).await.expect(403);
        let own = rest
            .get("/api/v1/ai/threads", &school.other_student)
            .await
            .expect(200)
            .clone();
        assert_eq!(own["items"], json!([]));
        rest.post(
            "/api/v1/ai/ask",
            &school.other_student,
            json!({"question": "hi", "thread_id": thread_id, "stream": false}),
        )
        .await
        .expect_error(403, "your own conversations");
        rest.post(
            "/api/v1/ai/ask",
            &school.student,
            json!({"question": "hi", "thread_id": "thr_nope", "stream": false}),
        )
        .await
        .expect(404);
        let audit = rest
            .get("/api/v1/audit?action=ai.threads_read", &school.admin)
            .await
            .expect(200)
            .clone();
        assert!(
            audit["items"]
                .as_array()
                .expect("items")
                .iter()
                .any(|entry| entry["actor_id"] == school.id("t1")),
            "{audit}"
        );
        rest.delete(&path, &school.teacher).await.expect(403);
        assert_eq!(rest.delete(&path, &school.student).await.status, 204);
        rest.get(&path, &school.student).await.expect(404);
        test.server.shutdown().await;
    }
}

#[tokio::test]
async fn staff_read_agent_tasks_and_save_a_drafted_lesson_as_a_draft() {
    for db in TestDatabase::all().await {
        let (base, _openai) = open_ai_stand_in().await;
        let test = ai_server(base, Some(db.url().to_owned()), 1_000_000).await;
        let rest = Rest::new(test.addr);
        let school = School::enroll(&rest, "tasks").await;
        school.class_with_s1(&rest).await;
        let asked = ask(&rest, &school.student, None, "What is a prime number?").await;
        let ask_task = asked["task_id"].as_str().expect("task").to_owned();
        let drafted = rest
            .post(
                "/api/v1/ai/generate-content",
                &school.teacher,
                json!({"objectives": ["add fractions"], "grade_level": "5"}),
            )
            .await
            .expect(200)
            .clone();
        let draft_task = drafted["task_id"].as_str().expect("task").to_owned();

        // Listing: staff only; an educator their own by default, their students' by name.
        for denied in [&school.student, &school.parent] {
            rest.get("/api/v1/ai/tasks", denied).await.expect(403);
            rest.get(&format!("/api/v1/ai/tasks/{ask_task}"), denied)
                .await
                .expect(403);
        }
        let own = rest
            .get("/api/v1/ai/tasks", &school.teacher)
            .await
            .expect(200)
            .clone();
        let ids = |page: &Value| -> Vec<String> {
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|task| task["id"].as_str().unwrap_or_default().to_owned())
                .collect()
        };
        assert_eq!(ids(&own), [draft_task.as_str()]);
        let of_s1 = format!(
            "/api/v1/ai/tasks?user_id={}&kind=ask&status=completed",
            school.id("s1")
        );
        let students = rest.get(&of_s1, &school.teacher).await.expect(200).clone();
        assert_eq!(ids(&students), [ask_task.as_str()]);
        rest.get(&of_s1, &school.other_teacher).await.expect(403);
        let all = rest
            .get("/api/v1/ai/tasks", &school.admin)
            .await
            .expect(200)
            .clone();
        assert_eq!(
            ids(&all),
            [draft_task.clone(), ask_task.clone()],
            "newest first"
        );
        let paged = rest
            .get("/api/v1/ai/tasks?limit=1", &school.admin)
            .await
            .expect(200)
            .clone();
        let cursor = paged["next_cursor"].as_str().expect("a next page");
        let rest_of = rest
            .get(
                &format!("/api/v1/ai/tasks?limit=1&cursor={cursor}"),
                &school.admin,
            )
            .await
            .expect(200)
            .clone();
        assert_eq!(ids(&rest_of), [ask_task.as_str()]);
        let failed = rest
            .get("/api/v1/ai/tasks?status=failed", &school.admin)
            .await
            .expect(200)
            .clone();
        assert_eq!(failed["items"], json!([]));
        rest.get("/api/v1/ai/tasks?status=done", &school.admin)
            .await
            .expect_error(422, "status");
        rest.get("/api/v1/ai/tasks?kind=chat", &school.admin)
            .await
            .expect_error(422, "kind");

        // Reading one: status, tokens, model, timing, kind and who asked.
        let task = rest
            .get(&format!("/api/v1/ai/tasks/{ask_task}"), &school.teacher)
            .await
            .expect(200)
            .clone();
        assert_eq!(task["status"], "completed");
        assert_eq!(task["kind"], "ask");
        assert_eq!(task["user_id"], school.id("s1"));
        assert_eq!(task["model"], "gpt-test");
        assert_eq!(task["tokens_used"], USAGE);
        assert!(
            task["started_at"].is_string() && task["finished_at"].is_string(),
            "{task}"
        );
        assert!(
            task["duration_ms"].as_i64().expect("duration") >= 0,
            "{task}"
        );
        rest.get(
            &format!("/api/v1/ai/tasks/{ask_task}"),
            &school.other_teacher,
        )
        .await
        .expect(403);
        rest.get("/api/v1/ai/tasks/task_nope", &school.admin)
            .await
            .expect(404);

        // Saving the draft: an unpublished lesson in a course the caller may edit.
        let course = |token: String| {
            let rest = &rest;
            async move {
                rest.post(
                    "/api/v1/courses",
                    &token,
                    json!({"title": "Numbers", "published": true}),
                )
                .await
                .expect(201)["id"]
                    .as_str()
                    .expect("id")
                    .to_owned()
            }
        };
        let mine = course(school.teacher.clone()).await;
        let theirs = course(school.other_teacher.clone()).await;
        let save = format!("/api/v1/ai/tasks/{draft_task}/save-lesson");
        rest.post(&save, &school.teacher, json!({}))
            .await
            .expect(422);
        rest.post(&save, &school.teacher, json!({"course_id": theirs}))
            .await
            .expect(403);
        rest.post(&save, &school.other_teacher, json!({"course_id": theirs}))
            .await
            .expect_error(403, "drafted this lesson");
        rest.post(&save, &school.student, json!({"course_id": mine}))
            .await
            .expect(403);
        rest.post(&save, &school.teacher, json!({"course_id": "crs_nope"}))
            .await
            .expect(404);
        rest.post(
            &format!("/api/v1/ai/tasks/{ask_task}/save-lesson"),
            &school.admin,
            json!({"course_id": mine}),
        )
        .await
        .expect_error(409, "generate_content");
        let saved = rest
            .post(&save, &school.teacher, json!({"course_id": mine}))
            .await
            .expect(201)
            .clone();
        assert_eq!(saved["course_id"], mine.as_str());
        assert_eq!(saved["published"], false);
        assert_eq!(saved["title"], "Fractions in the Obby");
        assert!(
            saved["content"]["text"]
                .as_str()
                .unwrap_or_default()
                .contains("A fraction is part of a whole."),
            "{saved}"
        );
        let lesson_path = format!("/api/v1/lessons/{}", saved["id"].as_str().expect("id"));
        rest.get(&lesson_path, &school.teacher).await.expect(200);
        rest.get(&lesson_path, &school.student).await.expect(404);
        // An admin may save it into any course, with its own title.
        let titled = rest
            .post(
                &save,
                &school.admin,
                json!({"course_id": theirs, "title": "Adding fractions"}),
            )
            .await
            .expect(201)
            .clone();
        assert_eq!(titled["title"], "Adding fractions");
        let audit = rest
            .get("/api/v1/audit?action=ai.lesson_saved", &school.admin)
            .await
            .expect(200)
            .clone();
        assert_eq!(audit["items"].as_array().expect("items").len(), 2);
        test.server.shutdown().await;
    }
}

#[tokio::test]
async fn suggestions_send_a_student_back_to_a_lesson_they_scored_low_on() {
    for db in TestDatabase::all().await {
        let url = Some(db.url().to_owned());
        let test = crate::support::start_with(move |config| config.database_url = url).await;
        let rest = Rest::new(test.addr);
        let school = School::enroll(&rest, "review").await;
        let course = rest
            .post(
                "/api/v1/courses",
                &school.teacher,
                json!({"title": "Math", "published": true}),
            )
            .await
            .expect(201)["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let mut lessons = Vec::new();
        for title in ["Halves", "Quarters"] {
            let made = rest
                .post(
                    &format!("/api/v1/courses/{course}/lessons"),
                    &school.teacher,
                    json!({"title": title, "published": true}),
                )
                .await;
            lessons.push(made.expect(201)["id"].as_str().expect("id").to_owned());
        }
        let quiz = rest
            .post(
                "/api/v1/assessments",
                &school.teacher,
                json!({"title": "Halves quiz", "lesson_id": lessons[0], "questions": [
                    {"id": "q1", "type": "multiple_choice", "prompt": "Half of 4?", "choices": ["1", "2"], "answer": 1, "points": 1},
                    {"id": "q2", "type": "multiple_choice", "prompt": "Half of 6?", "choices": ["3", "4"], "answer": 0, "points": 1}
                ]}),
            )
            .await
            .expect(201)["id"]
            .as_str()
            .expect("id")
            .to_owned();
        rest.post(
            "/api/v1/progress",
            &school.student,
            json!({"lesson_id": lessons[0], "percent": 100}),
        )
        .await
        .expect(201);
        let reasons = |token: String| {
            let rest = &rest;
            async move {
                let answer = rest.get("/api/v1/ai/suggestions", &token).await;
                answer.expect(200)["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .map(|item| {
                        (
                            item["reason"].as_str().unwrap_or_default().to_owned(),
                            item["lesson_id"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect::<Vec<_>>()
            }
        };
        let next = ("next".to_owned(), lessons[1].clone());
        assert_eq!(
            reasons(school.student.clone()).await,
            std::slice::from_ref(&next)
        );
        // Half the points: below the review line, so the lesson comes back before moving on.
        rest.post(
            &format!("/api/v1/assessments/{quiz}/results"),
            &school.student,
            json!({"answers": {"q1": 1, "q2": 1}}),
        )
        .await
        .expect(201);
        let review = ("review".to_owned(), lessons[0].clone());
        assert_eq!(
            reasons(school.student.clone()).await,
            [review, next.clone()]
        );
        let items = rest
            .get("/api/v1/ai/suggestions", &school.student)
            .await
            .expect(200)
            .clone();
        assert_eq!(items["items"][0]["score_percent"], 50.0);
        // A better attempt counts: no review.
        rest.post(
            &format!("/api/v1/assessments/{quiz}/results"),
            &school.student,
            json!({"answers": {"q1": 1, "q2": 0}}),
        )
        .await
        .expect(201);
        assert_eq!(reasons(school.student.clone()).await, [next]);
        test.server.shutdown().await;
    }
}

#[tokio::test]
async fn threads_are_exported_erased_and_expire_with_ai_transcripts() {
    for db in TestDatabase::all().await {
        let (base, _openai) = open_ai_stand_in().await;
        let test = ai_server(base, Some(db.url().to_owned()), 1_000_000).await;
        let rest = Rest::new(test.addr);
        let school = School::enroll(&rest, "forget").await;
        let s1 = school.id("s1");
        let first = ask(&rest, &school.student, None, "What is a verb?").await;
        let thread_id = first["thread_id"].as_str().expect("thread").to_owned();
        ask(&rest, &school.student, Some(&thread_id), "And a noun?").await;
        let document = rest
            .get(&format!("/api/v1/users/{s1}/export"), &school.student)
            .await
            .expect(200)
            .clone();
        assert_eq!(document["ai_threads"][0]["id"], thread_id);
        assert_eq!(document["ai_threads"][0]["title"], "What is a verb?");
        let questions: Vec<&str> = document["ai_turns"]
            .as_array()
            .expect("turns")
            .iter()
            .filter_map(|turn| turn["question"].as_str())
            .collect();
        assert_eq!(questions, ["What is a verb?", "And a noun?"], "{document}");

        // Retention: a thread whose last turn is older than the AI transcripts' cut-off goes,
        // its turns with it.
        let store = db.store().await;
        let other = ask(&rest, &school.other_student, None, "What is an adverb?").await;
        let other_thread = other["thread_id"].as_str().expect("thread").to_owned();
        let future = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64
            + 60;
        assert!(
            store
                .purge_expired("forget", Expiring::AiThreads, future, 1000)
                .await
                .expect("purge")
                >= 2
        );
        assert_eq!(
            store.thread("forget", &other_thread).await.expect("read"),
            None
        );
        assert_eq!(
            store
                .thread_turns("forget", &other_thread)
                .await
                .expect("read"),
            []
        );

        // Erasure deletes a student's threads and turns.
        let again = ask(&rest, &school.student, None, "What is a noun?").await;
        let kept = again["thread_id"].as_str().expect("thread").to_owned();
        let erased = rest
            .delete(&format!("/api/v1/users/{s1}"), &school.admin)
            .await
            .expect(200)
            .clone();
        assert_eq!(erased["removed"]["tutor_threads"], 1, "{erased}");
        assert_eq!(erased["removed"]["tutor_turns"], 1, "{erased}");
        assert_eq!(store.thread("forget", &kept).await.expect("read"), None);
        assert_eq!(store.thread_turns("forget", &kept).await.expect("read"), []);
        drop(store);
        test.server.shutdown().await;
    }
}
