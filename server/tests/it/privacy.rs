//! Students' data over REST, on both backends: everything about a student is exported (JSON and
//! a zip of CSV files, to the people allowed), then erased — after which no column of any table
//! of the schema (listed from the database's own catalogue) names them, their socket is closed,
//! their token refused, their classmates' data untouched, and the audit entries about them kept
//! under a pseudonym. Retention purges old events and chat while progress stays.

use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use persistence::test_support::{TestDatabase, rows};
use persistence::{DurableEvent, Store};
use serde_json::{Value, json};

use crate::classes::School;
use crate::rest::Rest;
use crate::support::{Auth, Client, start_with};

/// Publishes a durable event and waits for its commit (the `reply`).
async fn publish_durable(client: &mut Client, room: &str, kind: &str, data: Value, id: &str) {
    let reference = client.next_ref();
    client
        .send(json!({"type": "publish", "ref": reference, "room": room, "kind": kind, "data": data, "id": id}))
        .await;
    let reply = client
        .recv_until(|message| {
            matches!(
                message,
                protocol::ServerMessage::Reply(_) | protocol::ServerMessage::Error(_)
            )
        })
        .await;
    assert!(
        matches!(reply, protocol::ServerMessage::Reply(_)),
        "{reply:?}"
    );
}

async fn raw_get(rest: &Rest, path: &str, token: &str) -> (u16, Vec<u8>) {
    let answer = reqwest::Client::new()
        .get(format!("{}{path}", rest.base()))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = answer.status().as_u16();
    (status, answer.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn a_students_data_is_exported_then_erased_from_every_table() {
    for db in TestDatabase::all().await {
        let url = Some(db.url().to_owned());
        // Batches of 2 rows (export pages too): every table takes several.
        let test = start_with(move |config| {
            config.database_url = url;
            config.privacy.erase_batch_rows = 2;
            config.privacy.export_page_rows = 2;
        })
        .await;
        let store = db.store().await;
        exported_then_erased(test.addr, &store).await;
        test.server.shutdown().await;
    }
}

async fn exported_then_erased(addr: std::net::SocketAddr, store: &Store) {
    let rest = Rest::new(addr);
    let school = School::enroll(&rest, "prv").await;
    let (s1, s2, p1) = (school.id("s1"), school.id("s2"), school.id("p1"));
    let class_id = school.class_with_s1(&rest).await;
    rest.post(
        &format!("/api/v1/classes/{class_id}/students"),
        &school.teacher,
        json!({"user_ids": [s2]}),
    )
    .await
    .expect(200);
    rest.post(
        &format!("/api/v1/users/{p1}/children"),
        &school.admin,
        json!({"child_id": s1}),
    )
    .await;
    rest.call(
        "PUT",
        &format!("/api/v1/users/{s1}/consent"),
        Some(&school.parent),
        Some(json!({"state": "granted"})),
    )
    .await
    .expect(200);
    let assessment = rest
        .post(
            "/api/v1/assessments",
            &school.teacher,
            json!({"title": "Quiz", "questions": [{"id": "q1", "type": "multiple_choice", "prompt": "?", "choices": ["a", "b"], "answer": 1}]}),
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
        json!({"user_id": s1, "kind": "message", "title": "Well done"}),
    )
    .await;
    rest.post(
        &format!("/api/v1/classes/{class_id}/commands"),
        &school.teacher,
        json!({"kind": "reward", "data": {"points": 5}, "student_id": s1}),
    )
    .await
    .expect(202);

    // Live: both students and their teacher in the class room, durable events stored.
    let room = format!("class:prv:{class_id}");
    let mut student = Client::connect(addr, &school.student).await;
    student.join(&room).await;
    let mut classmate = Client::connect(addr, &school.other_student).await;
    classmate.join(&room).await;
    let mut teacher = Client::connect(addr, &school.teacher).await;
    let before = teacher.join(&room).await;
    publish_durable(
        &mut student,
        &room,
        "chat",
        json!({"text": "hi all"}),
        "e-chat-1",
    )
    .await;
    let progress = json!({"student": s1, "lesson": "maps-1", "percent": 40, "time_spent_secs": 30});
    publish_durable(&mut teacher, &room, "progress", progress, "e-prog-1").await;
    let reward = json!({"target": s1, "points": 3});
    publish_durable(&mut teacher, &room, "reward", reward, "e-reward-1").await;
    let checkpoint = json!({"student": s1, "name": "bridge"});
    publish_durable(&mut teacher, &room, "checkpoint", checkpoint, "e-check-1").await;
    publish_durable(
        &mut classmate,
        &room,
        "chat",
        json!({"text": "hello"}),
        "e-chat-2",
    )
    .await;

    // Export: the student, their parent and an admin may; a teacher and a classmate may not.
    let export = format!("/api/v1/users/{s1}/export");
    for who in [&school.teacher, &school.other_student] {
        rest.get(&export, who)
            .await
            .expect_error(403, "your own data");
    }
    for who in [&school.student, &school.parent] {
        rest.get(&export, who).await.expect(200);
    }
    let document = rest.get(&export, &school.admin).await.expect(200).clone();
    assert_eq!(document["format"], "classhub.export.v1");
    assert_eq!(document["user"]["id"], s1.as_str());
    assert_eq!(document["consent"]["state"], "granted");
    assert_eq!(document["parent_links"][0]["parent_id"], p1.as_str());
    assert_eq!(document["classes"][0]["class_id"], class_id.as_str());
    assert_eq!(document["progress"][0]["lesson_id"], "maps-1");
    assert_eq!(document["progress"][0]["completion_percent"], 40.0);
    assert_eq!(
        document["results"][0]["assessment_id"],
        assessment_id.as_str()
    );
    assert_eq!(document["notifications"][0]["title"], "Well done");
    let ids = |section: &str| -> Vec<String> {
        document[section]
            .as_array()
            .unwrap_or_else(|| panic!("{section} is a list: {document}"))
            .iter()
            .map(|event| event["event_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    // Their chat, not the classmate's (a chat message's id is made from its sender's).
    assert_eq!(ids("chat").len(), 1, "{document}");
    assert_eq!(document["chat"][0]["data"]["text"], "hi all");
    assert_eq!(ids("rewards"), ["e-reward-1"]);
    assert_eq!(ids("game_events"), ["e-prog-1", "e-check-1"]);
    let audited: Vec<&str> = document["audit"]
        .as_array()
        .expect("audit list")
        .iter()
        .filter_map(|entry| entry["action"].as_str())
        .collect();
    assert!(audited.contains(&"consent.granted"), "{audited:?}");
    assert!(audited.contains(&"command.sent"), "{audited:?}");

    // The CSV bundle: one file per section, the same rows.
    let (status, zipped) = raw_get(&rest, &format!("{export}.zip"), &school.admin).await;
    assert_eq!(status, 200);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zipped)).expect("a zip");
    let mut chat = String::new();
    archive
        .by_name("chat.csv")
        .expect("chat.csv")
        .read_to_string(&mut chat)
        .expect("utf-8");
    let lines: Vec<&str> = chat.lines().collect();
    assert_eq!(lines[0], "id,event_id,room,kind,sender,data,seq,sent_at");
    assert_eq!(lines.len(), 2, "{chat}");
    let chat_id = document["chat"][0]["event_id"].as_str().expect("an id");
    assert!(lines[1].contains(chat_id) && lines[1].contains("\"{\"\"text\"\":\"\"hi all\"\"}\""));
    let mut names: Vec<String> = archive
        .file_names()
        .map(|name| name.expect("a name").into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 16, "{names:?}");

    // Erase: admins only, not themselves.
    let erase = format!("/api/v1/users/{s1}");
    rest.delete(&erase, &school.teacher).await.expect(403);
    rest.delete(
        &format!("/api/v1/users/{}", school.id("admin")),
        &school.admin,
    )
    .await
    .expect_error(409, "yourself");
    rest.delete("/api/v1/users/nobody", &school.admin)
        .await
        .expect(404);
    let erased = rest.delete(&erase, &school.admin).await.expect(200).clone();
    assert_eq!(erased["already_erased"], false);
    for (table, at_least) in [
        ("game_events", 4),
        ("users", 1),
        ("class_members", 1),
        ("parent_links", 1),
        ("student_consent", 1),
        ("student_progress", 1),
        ("assessment_results", 1),
        ("notifications", 1),
    ] {
        let removed = erased["removed"][table].as_u64().unwrap_or(0);
        assert!(removed >= at_least, "{table}: {erased}");
    }
    assert!(
        erased["pseudonymised"]["audit_entries"]
            .as_u64()
            .unwrap_or(0)
            >= 2,
        "{erased}"
    );

    // No table names them any more; the classmate's rows are all there.
    let left = rows::columns_naming(store, &s1).await.expect("scan");
    assert!(
        left.is_empty(),
        "rows still naming the erased student: {left:?}"
    );
    let classmate_rows = rows::columns_naming(store, &s2).await.expect("scan");
    for kept in ["game_events.sender", "class_members.user_id", "users.id"] {
        assert!(
            classmate_rows.iter().any(|column| column.starts_with(kept)),
            "{kept} of the classmate: {classmate_rows:?}"
        );
    }

    // The live hub forgot them: socket closed, token refused, nothing in the room's replay.
    assert_eq!(student.close_code().await, Some(4001));
    rest.get("/api/v1/auth/me", &school.student)
        .await
        .expect_error(403, "erased");
    let refused = Client::open(addr, Auth::Query(&school.student), None).await;
    assert!(refused.is_err(), "an erased student's socket is refused");
    let mut late = Client::connect(addr, &school.teacher).await;
    let replay = late
        .join_with(json!({"room": room, "since": {"epoch": before.epoch, "seq": before.seq}}))
        .await;
    assert!(
        replay.recovered,
        "a replay across forgotten events is still complete"
    );
    let replayed: Vec<String> = replay
        .missed
        .iter()
        .filter_map(|message| crate::support::event_parts(message))
        .map(|(_, kind, data)| format!("{kind} {data}"))
        .collect();
    assert!(
        replayed.iter().any(|event| event.contains("hello")),
        "the classmate's chat stays: {replayed:?}"
    );
    assert!(
        !replayed
            .iter()
            .any(|event| event.contains(&s1) || event.contains("hi all")),
        "{replayed:?}"
    );

    // The audit trail keeps what staff did, under the pseudonym.
    let alias = erased["pseudonym"].as_str().expect("pseudonym").to_owned();
    assert!(alias.starts_with("erased:"));
    let trail = rest
        .get(&format!("/api/v1/audit?student_id={alias}"), &school.admin)
        .await;
    let actions: Vec<String> = trail.expect(200)["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|entry| entry["action"].as_str().map(str::to_owned))
        .collect();
    for action in ["consent.granted", "command.sent", "user.erased"] {
        assert!(
            actions.iter().any(|seen| seen == action),
            "{action}: {actions:?}"
        );
    }

    // Idempotent: again, zeros; the export of someone erased is 404.
    let again = rest.delete(&erase, &school.admin).await.expect(200).clone();
    assert_eq!(again["already_erased"], true);
    let total: u64 = again["removed"]
        .as_object()
        .expect("removed")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(total, 0, "{again}");
    rest.get(&export, &school.admin).await.expect(404);
}

#[tokio::test]
async fn old_events_and_chat_are_purged_while_progress_stays() {
    for db in TestDatabase::all().await {
        let url = Some(db.url().to_owned());
        let test = start_with(move |config| {
            config.database_url = url;
            config.privacy.retention_interval = Duration::from_millis(200);
            config.privacy.erase_batch_rows = 2;
        })
        .await;
        let store = db.store().await;
        let rest = Rest::new(test.addr);
        let school = School::enroll(&rest, "ret").await;
        let defaults = rest.get("/api/v1/privacy/retention", &school.admin).await;
        assert_eq!(defaults.expect(200)["effective"]["events_days"], 365);
        rest.call(
            "PUT",
            "/api/v1/privacy/retention",
            Some(&school.teacher),
            Some(json!({"chat_days": 7})),
        )
        .await
        .expect(403);
        rest.call(
            "PUT",
            "/api/v1/privacy/retention",
            Some(&school.admin),
            Some(json!({"chat_days": 99999})),
        )
        .await
        .expect_error(422, "keep until erasure");
        let set = rest
            .call(
                "PUT",
                "/api/v1/privacy/retention",
                Some(&school.admin),
                Some(json!({"chat_days": 7, "events_days": 30})),
            )
            .await;
        assert_eq!(set.expect(200)["effective"]["chat_days"], 7);

        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64;
        let day_ms = 86_400_000;
        let event = |id: &str, kind: &str, age_days: u64, data: Value| DurableEvent {
            tenant: "ret".into(),
            event_id: id.into(),
            room: "class:ret:c1".into(),
            kind: kind.into(),
            sender: school.id("s1"),
            data: data.into(),
            seq: 1,
            sent_at_ms: now_ms - age_days * day_ms,
            answer: None,
        };
        let lesson = json!({"lesson": "l1", "percent": 50});
        store
            .write_events(&[
                event("old-chat", "chat", 10, json!({"text": "old"})),
                event("new-chat", "chat", 1, json!({"text": "new"})),
                event("old-progress-1", "progress", 40, lesson.clone()),
                event("old-progress-2", "progress", 45, lesson.clone()),
                event("old-progress-3", "progress", 50, lesson.clone()),
                event("recent-progress", "progress", 20, lesson),
            ])
            .await
            .expect("write");
        let mut kept = Vec::new();
        for _ in 0..100 {
            kept = store.event_ids("ret").await.expect("ids");
            if kept.len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(kept, ["new-chat", "recent-progress"]);
        let progress = store
            .progress("ret", &school.id("s1"), "", "l1")
            .await
            .expect("progress");
        assert!(progress.is_some(), "progress is kept until erasure");
        let (_, metrics) = crate::support::http_get(test.addr, "/metrics").await;
        let purged: f64 = metrics
            .lines()
            .filter(|line| {
                line.starts_with("classhub_retention_purged_rows_total{")
                    && line.contains("kind=\"events\"")
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert!(purged >= 3.0, "events purged, as counted: {purged}");
        test.server.shutdown().await;
    }
}
