//! Moderated class chat over real sockets and HTTP, on both backends: the school's blocklist
//! holds a message for the teacher (only the teacher and the sender see it), the teacher
//! releases or deletes messages (a deletion leaves every screen, the room's replay and the
//! stored pages), mutes a student and turns on slow mode, the per-student rate refuses a
//! flood, and the rules survive a restart. The moderation endpoint's part is in `ai.rs`.

use protocol::ServerMessage;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::auth::Role;

use crate::learning::rest;
use crate::roblox::seed_acme;
use crate::support::{Client, start_with, token};
use persistence::test_support::TestDatabase;

const ROOM: &str = "class:acme:c1";

/// The next event of `kind` (other frames skipped).
pub(crate) async fn next_kind(client: &mut Client, kind: &str) -> protocol::EventBody {
    match client
        .recv_until(|message| matches!(message, ServerMessage::Event(body) if body.kind == kind))
        .await
    {
        ServerMessage::Event(body) => body,
        other => unreachable!("{other:?}"),
    }
}

/// Sends a chat message over `/ws` with `id`; the reply (after the commit) or the error.
async fn chat(client: &mut Client, id: &str, text: &str) -> ServerMessage {
    chat_seeing(client, id, text).await.0
}

/// [`chat`], with the kinds of the events the sender got before the answer.
async fn chat_seeing(client: &mut Client, id: &str, text: &str) -> (ServerMessage, Vec<String>) {
    let reference = client.next_ref();
    client
        .send(
            json!({"type": "publish", "ref": reference, "room": ROOM, "kind": "chat",
                     "id": id, "data": {"text": text}}),
        )
        .await;
    let mut seen = Vec::new();
    let answer = client
        .recv_until(|message| {
            if let ServerMessage::Event(body) = message {
                seen.push(body.kind.clone());
            }
            matches!(message, ServerMessage::Reply(_) | ServerMessage::Error(_))
        })
        .await;
    (answer, seen)
}

fn texts(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["text"].as_str().expect("text").to_owned())
        .collect()
}

#[tokio::test]
async fn class_chat_is_moderated_stored_paged_and_deleted_everywhere() {
    for db in TestDatabase::all().await {
        // Seeded before the start, so the hub's rosters hold the class.
        seed_acme(&db.store().await).await;
        let url = db.url().to_owned();
        let test = start_with(|config| config.database_url = Some(url.clone())).await;
        let addr = test.addr;
        let admin = token("acme", Role::Admin, "a1");
        let t1 = token("acme", Role::Educator, "t1");
        let s1_token = token("acme", Role::Student, "s1");
        let s2_token = token("acme", Role::Student, "s2");

        let (status, list) = rest(
            addr,
            "PUT",
            "/api/v1/chat/blocklist",
            &admin,
            Some(json!({"words": ["Darn", "darn", " bad word "]})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(
            list["words"],
            json!(["darn", "bad word"]),
            "trimmed, lower-case, once"
        );
        let (status, _) = rest(
            addr,
            "PUT",
            "/api/v1/chat/blocklist",
            &t1,
            Some(json!({"words": []})),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "only admins keep the blocklist"
        );

        let mut teacher = Client::connect(addr, &t1).await;
        let epoch = teacher.join(ROOM).await.epoch;
        let mut s1 = Client::connect(addr, &s1_token).await;
        s1.join(ROOM).await;
        let mut s2 = Client::connect(addr, &s2_token).await;
        s2.join(ROOM).await;

        // Shown: a classmate gets it with the message id; the reply comes once it is stored.
        let reply = chat(&mut s1, "m1", "hello class").await;
        assert!(matches!(reply, ServerMessage::Reply(_)), "{reply:?}");
        let shown = next_kind(&mut s2, "chat").await;
        assert_eq!(*shown.data, json!({"text": "hello class"}));
        let m1 = shown.id.clone().expect("a chat event names its message");
        assert!(m1.starts_with("chat_") && !m1.contains("s1"), "{m1}");

        // Held by the blocklist: the teacher and the sender see `chat_held`, the classmate not.
        let (reply, seen) = chat_seeing(&mut s1, "m2", "oh DARN it").await;
        assert!(matches!(reply, ServerMessage::Reply(_)), "{reply:?}");
        assert_eq!(seen, ["chat_held"], "the sender sees their message is held");
        let held = next_kind(&mut teacher, "chat_held").await;
        assert_eq!(held.data["reasons"], json!(["blocklist:darn"]));
        assert_eq!(held.data["student"], "s1");
        let (reply, seen) = chat_seeing(&mut s2, "n1", "fine words").await;
        assert!(matches!(reply, ServerMessage::Reply(_)), "{reply:?}");
        assert_eq!(
            seen,
            ["chat"],
            "the held message never reached the classmate, only their own"
        );

        // Pages: members read the shown messages, newest first; only staff read held ones.
        let (status, page) = rest(addr, "GET", "/api/v1/classes/c1/chat", &s2_token, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(texts(&page), ["fine words", "hello class"]);
        let (status, page) = rest(
            addr,
            "GET",
            "/api/v1/classes/c1/chat?limit=1",
            &s2_token,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(texts(&page), ["fine words"]);
        let cursor = page["next_cursor"]
            .as_str()
            .expect("a next page")
            .to_owned();
        let (_, page) = rest(
            addr,
            "GET",
            &format!("/api/v1/classes/c1/chat?limit=1&cursor={cursor}"),
            &s2_token,
            None,
        )
        .await;
        assert_eq!(texts(&page), ["hello class"]);
        let (status, _) = rest(addr, "GET", "/api/v1/classes/c1/chat/held", &s2_token, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, held_page) =
            rest(addr, "GET", "/api/v1/classes/c1/chat/held", &t1, None).await;
        assert_eq!(status, StatusCode::OK, "{held_page}");
        assert_eq!(texts(&held_page), ["oh DARN it"]);
        assert_eq!(held_page["items"][0]["reasons"], json!(["blocklist:darn"]));
        let m2 = held_page["items"][0]["id"].as_str().expect("id").to_owned();
        assert_eq!(held.id.as_deref(), Some(format!("held:{m2}").as_str()));

        // Released: the class sees it as its sender wrote it, and it is no longer held.
        let (status, released) = rest(
            addr,
            "POST",
            &format!("/api/v1/classes/c1/chat/held/{m2}/release"),
            &t1,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{released}");
        let shown = next_kind(&mut s2, "chat").await;
        assert_eq!(
            (shown.from.as_str(), shown.data["text"].as_str()),
            ("s1", Some("oh DARN it"))
        );
        let (_, held_page) = rest(addr, "GET", "/api/v1/classes/c1/chat/held", &t1, None).await;
        let (_, page) = rest(addr, "GET", "/api/v1/classes/c1/chat", &t1, None).await;
        assert_eq!(texts(&page), ["oh DARN it", "fine words", "hello class"]);
        assert!(texts(&held_page).is_empty(), "{held_page}");

        // Deleted: every screen is told, storage and the room's replay forget it.
        let delete_m1 = format!("/api/v1/classes/c1/chat/{m1}");
        let (status, body) = rest(addr, "DELETE", &delete_m1, &s2_token, None).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "students do not delete: {body}"
        );
        let (status, body) = rest(addr, "DELETE", &delete_m1, &t1, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let tombstone = next_kind(&mut s2, "chat_deleted").await;
        assert_eq!(*tombstone.data, json!({"id": m1}));
        let (_, page) = rest(addr, "GET", "/api/v1/classes/c1/chat", &s2_token, None).await;
        assert_eq!(
            texts(&page),
            ["oh DARN it", "fine words"],
            "deleted when answered"
        );
        let (status, _) = rest(addr, "DELETE", &delete_m1, &t1, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let mut replayer = Client::connect(addr, &token("acme", Role::Student, "s2")).await;
        let joined = replayer
            .join_with(json!({"room": ROOM, "since": {"epoch": epoch, "seq": 0}}))
            .await;
        let replayed: Vec<String> = joined
            .missed
            .iter()
            .filter_map(|message| match message {
                ServerMessage::Event(body) if body.kind == "chat" => {
                    body.data["text"].as_str().map(str::to_owned)
                }
                _ => None,
            })
            .collect();
        assert!(joined.recovered, "the replay is complete");
        assert_eq!(
            replayed,
            ["fine words", "oh DARN it"],
            "the deleted message is not replayed"
        );

        // Muted: refused with how long; the student reads their own mute; lifted, they chat.
        let (status, muted) = rest(
            addr,
            "PUT",
            "/api/v1/classes/c1/chat/mutes/s1",
            &t1,
            Some(json!({"minutes": 5})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{muted}");
        let refused = chat(&mut s1, "m3", "can I talk?").await;
        let ServerMessage::Error(error) = refused else {
            panic!("a muted student is refused: {refused:?}");
        };
        assert_eq!(error.code, protocol::ErrorCode::Forbidden.code());
        assert!(error.message.contains("muted"), "{}", error.message);
        let (status, body) = rest(
            addr,
            "POST",
            "/api/v1/classes/c1/chat",
            &s1_token,
            Some(json!({"text": "over REST then"})),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "the same rule on every door: {body}"
        );
        let (_, settings) = rest(
            addr,
            "GET",
            "/api/v1/classes/c1/chat/settings",
            &s2_token,
            None,
        )
        .await;
        assert_eq!(
            settings["mutes"],
            json!([]),
            "a classmate does not see who is muted"
        );
        let (_, settings) = rest(addr, "GET", "/api/v1/classes/c1/chat/settings", &t1, None).await;
        assert_eq!(settings["mutes"][0]["user_id"], "s1");
        for bad in [json!({"minutes": 0}), json!({"minutes": 20000}), json!({})] {
            let (status, body) = rest(
                addr,
                "PUT",
                "/api/v1/classes/c1/chat/mutes/s1",
                &t1,
                Some(bad.clone()),
            )
            .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        }
        let (status, _) = rest(
            addr,
            "DELETE",
            "/api/v1/classes/c1/chat/mutes/s1",
            &t1,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let reply = chat(&mut s1, "m4", "thanks").await;
        assert!(matches!(reply, ServerMessage::Reply(_)), "{reply:?}");

        // Slow mode: the room is told; a second message within it is refused with when to
        // retry; teachers are not slowed.
        let (status, body) = rest(
            addr,
            "PUT",
            "/api/v1/classes/c1/chat/settings",
            &t1,
            Some(json!({"slow_mode_seconds": 60})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let told = next_kind(&mut s2, "chat_settings").await;
        assert_eq!(*told.data, json!({"slow_mode_seconds": 60}));
        let reply = chat(&mut s2, "n2", "one").await;
        assert!(matches!(reply, ServerMessage::Reply(_)), "{reply:?}");
        let refused = chat(&mut s2, "n3", "two").await;
        let ServerMessage::Error(error) = refused else {
            panic!("slow mode refuses: {refused:?}");
        };
        assert_eq!(error.code, protocol::ErrorCode::RateLimited.code());
        assert!(
            error.retry_after_ms.is_some_and(|ms| ms > 50_000),
            "{error:?}"
        );
        for text in ["a", "b"] {
            let (status, body) = rest(
                addr,
                "POST",
                "/api/v1/classes/c1/chat",
                &t1,
                Some(json!({"text": text})),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            assert_eq!(body["state"], "shown");
        }

        // Bad input gets a clear error; chat is class chat; the server's own kinds are its own.
        for (data, want) in [(json!({}), "text"), (json!({"text": "  "}), "empty")] {
            let error = teacher
                .expect_error(
                    json!({"type": "publish", "room": ROOM, "kind": "chat", "data": data}),
                )
                .await;
            assert!(error.message.contains(want), "{}", error.message);
        }
        let error = teacher
            .expect_error(
                json!({"type": "publish", "room": "game:acme:g1", "kind": "chat",
                                 "data": {"text": "hi"}}),
            )
            .await;
        assert!(error.message.contains("class room"), "{}", error.message);
        let error = teacher
            .expect_error(
                json!({"type": "publish", "room": ROOM, "kind": "chat_deleted",
                                 "data": {"id": m1}}),
            )
            .await;
        assert!(
            error.message.contains("made by class chat"),
            "{}",
            error.message
        );
        let (status, _) = rest(
            addr,
            "POST",
            "/api/v1/classes/c1/chat",
            &token("acme", Role::Student, "s9"),
            Some(json!({"text": "let me in"})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "not on the roster");

        // The rules outlive the server: a mute set now holds after a restart.
        let (status, _) = rest(
            addr,
            "PUT",
            "/api/v1/classes/c1/chat/mutes/s1",
            &t1,
            Some(json!({"minutes": 5})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        drop((teacher, s1, s2, replayer));
        test.server.shutdown().await;
        let again = start_with(|config| config.database_url = Some(url.clone())).await;
        let (status, body) = rest(
            again.addr,
            "POST",
            "/api/v1/classes/c1/chat",
            &s1_token,
            Some(json!({"text": "am I still muted?"})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (_, settings) = rest(
            again.addr,
            "GET",
            "/api/v1/classes/c1/chat/settings",
            &t1,
            None,
        )
        .await;
        assert_eq!(settings["slow_mode_seconds"], 60);
        let (_, list) = rest(again.addr, "GET", "/api/v1/chat/blocklist", &admin, None).await;
        assert_eq!(list["words"], json!(["darn", "bad word"]));
    }
}

#[tokio::test]
async fn a_students_chat_rate_is_limited_with_when_to_retry() {
    let db = TestDatabase::sqlite();
    seed_acme(&db.store().await).await;
    let url = db.url().to_owned();
    let test = start_with(|config| {
        config.database_url = Some(url);
        config.chat.per_minute = 2;
    })
    .await;
    let mut s1 = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;
    s1.join(ROOM).await;
    for id in ["a", "b"] {
        let reply = chat(&mut s1, id, "hi").await;
        assert!(matches!(reply, ServerMessage::Reply(_)), "{reply:?}");
    }
    let refused = chat(&mut s1, "c", "hi").await;
    let ServerMessage::Error(error) = refused else {
        panic!("the third message of the minute is refused: {refused:?}");
    };
    assert_eq!(error.code, protocol::ErrorCode::RateLimited.code());
    assert!(error.retry_after_ms.is_some_and(|ms| ms > 0), "{error:?}");
    assert!(
        error.message.contains("at most 2 a minute"),
        "{}",
        error.message
    );
    // The same budget on the REST door.
    let (status, _) = rest(
        test.addr,
        "POST",
        "/api/v1/classes/c1/chat",
        &token("acme", Role::Student, "s1"),
        Some(json!({"text": "and here?"})),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}
