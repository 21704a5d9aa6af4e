//! Roblox game servers over real HTTP (reqwest) against a server on 127.0.0.1:0, with teachers
//! on real sockets: key authentication, sessions, players as presence, linking, batched durable
//! ingest, command long-poll/ack/redelivery, restarts and the Open Cloud wake-up.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use persistence::test_support::{self, ClassSeed, TestDatabase};
use persistence::{NewGameKey, Store};
use protocol::ServerMessage;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::auth::Role;

use crate::support::{Client, PATIENCE, start_server, start_with, temp_dir, token};

/// A game server's HTTP client, holding its key.
pub(crate) struct Game {
    http: reqwest::Client,
    base: String,
    key: String,
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
    retry_after: Option<String>,
}

impl Game {
    pub(crate) fn new(addr: SocketAddr, key: &str) -> Game {
        Game {
            http: reqwest::Client::new(),
            base: format!("http://{addr}"),
            key: key.to_owned(),
        }
    }

    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = tokio::time::timeout(PATIENCE * 4, request.send())
            .await
            .expect("an answer in time")
            .expect("request sent");
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = response.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            body,
            retry_after,
        }
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Answer {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(&body);
        self.send(request).await
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        let request = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        self.send(request).await
    }

    async fn delete(&self, path: &str) -> Answer {
        let request = self
            .http
            .delete(format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        self.send(request).await
    }

    /// Opens a session for `job` linked to class code MATH42; returns its id.
    pub(crate) async fn open(&self, job: &str) -> String {
        let opened = self
            .post(
                "/api/v1/roblox/sessions",
                json!({"universe_id": 42, "place_id": 7.0, "job_id": job, "class_code": "math-42"}),
            )
            .await;
        assert!(
            opened.status.is_success(),
            "{}: {}",
            opened.status,
            opened.body
        );
        opened.body["session_id"]
            .as_str()
            .expect("session id")
            .to_owned()
    }
}

/// Tenant `acme`: teacher t1, class c1 (code MATH42) with students s1 "Ada" and s2 "Bo", and a
/// game-server key for universe 42. Returns the key. Written straight to the store: classes and
/// rosters belong to the REST API, which these tests do not exercise.
pub(crate) async fn seed_acme(store: &Store) -> String {
    ClassSeed {
        tenant: "acme",
        id: "c1",
        name: "Math",
        code: "MATH42",
        teacher: ("t1", "Ms T"),
        students: &[("s1", "Ada"), ("s2", "Bo")],
    }
    .write(store)
    .await
    .expect("class");
    make_key(store, "acme", Some(42)).await
}

pub(crate) async fn make_key(store: &Store, tenant: &str, universe: Option<i64>) -> String {
    let made = roblox::keys::generate();
    store
        .create_game_key(&NewGameKey {
            id: format!("gk_{}", rand::random::<u32>()),
            tenant: tenant.into(),
            universe_id: universe,
            label: None,
            key_hash: made.hash,
            key_prefix: made.prefix,
        })
        .await
        .expect("key");
    made.key
}

/// A teacher socket joined to `rooms`.
pub(crate) async fn teacher(addr: SocketAddr, rooms: &[&str]) -> Client {
    let mut client = Client::connect(addr, &token("acme", Role::Educator, "t1")).await;
    for room in rooms {
        client.join(room).await;
    }
    client
}

/// The next `event` of `kind` the client receives (other frames skipped).
async fn next_event(client: &mut Client, kind: &str) -> protocol::EventBody {
    match client
        .recv_until(|message| matches!(message, ServerMessage::Event(body) if body.kind == kind))
        .await
    {
        ServerMessage::Event(body) => body,
        other => unreachable!("{other:?}"),
    }
}

async fn send_command(addr: SocketAddr, body: Value) -> Answer {
    let request = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/classes/c1/commands"))
        .bearer_auth(token("acme", Role::Educator, "t1"))
        .json(&body);
    Game::new(addr, "").send(request).await
}

#[tokio::test]
async fn game_server_keys_are_required_checked_and_revocable() {
    let test = start_with(|config| config.roblox.key_cache = Duration::ZERO).await;
    let store = test.server.app().store().clone();
    let key = seed_acme(&store).await;
    let open = json!({"universe_id": 42, "place_id": 7, "job_id": "job-a"});

    let anonymous = Game::new(test.addr, "");
    let answer = anonymous
        .post("/api/v1/roblox/sessions", open.clone())
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.body["error"]["code"], "unauthorized");
    let forged = Game::new(test.addr, &roblox::keys::generate().key);
    let answer = forged.post("/api/v1/roblox/sessions", open.clone()).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);

    let game = Game::new(test.addr, &key);
    let first = game.post("/api/v1/roblox/sessions", open.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["room"], "game:acme:job-a");
    assert_eq!(first.body["topic"], "classhub");
    let again = game.post("/api/v1/roblox/sessions", open.clone()).await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "reopening the same job is idempotent"
    );
    assert_eq!(again.body["session_id"], first.body["session_id"]);

    // The key is limited to universe 42.
    let elsewhere = json!({"universe_id": 43, "place_id": 7, "job_id": "job-b"});
    let answer = game.post("/api/v1/roblox/sessions", elsewhere).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    // Bad input names its field.
    let answer = game
        .post(
            "/api/v1/roblox/sessions",
            json!({"universe_id": 42, "place_id": 7, "job_id": "a:b"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer.body["error"]["fields"]["job_id"].is_string(),
        "{}",
        answer.body
    );
    let answer = game
        .post(
            "/api/v1/roblox/sessions",
            json!({"universe_id": "x", "place_id": 7, "job_id": "j"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer.body["error"]["fields"]["universe_id"].is_string(),
        "{}",
        answer.body
    );

    // The key's use is recorded, off the request path.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let keys = loop {
        let keys = store.game_keys("acme").await.expect("keys");
        if keys[0].last_used_at.is_some() {
            break keys;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "last use never recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(store.revoke_game_key(&keys[0].id).await.expect("revoke"));
    let answer = game.post("/api/v1/roblox/sessions", open).await;
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "a revoked key stops working"
    );
    test.server.shutdown().await;
}

#[tokio::test]
async fn made_up_game_keys_spend_the_addresss_budget_and_get_429() {
    let test = start_with(|config| {
        config.api_limits.per_ip_rate = 1;
        config.api_limits.per_ip_burst = 3;
    })
    .await;
    let store = test.server.app().store().clone();
    let key = seed_acme(&store).await;
    let open = json!({"universe_id": 42, "place_id": 7, "job_id": "job-flood"});
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let forged = Game::new(test.addr, &roblox::keys::generate().key);
        let answer = forged.post("/api/v1/roblox/sessions", open.clone()).await;
        statuses.push(answer.status.as_u16());
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(answer.body["error"]["code"], "rate_limited");
        }
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    // A real key is not charged: game servers sharing the address keep working.
    let game = Game::new(test.addr, &key);
    let answer = game.post("/api/v1/roblox/sessions", open).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
}

#[tokio::test]
async fn events_reach_both_rooms_and_are_acknowledged_after_commit_once() {
    for db in TestDatabase::all().await {
        let test = start_with(|config| config.database_url = Some(db.url().to_owned())).await;
        let store = db.store().await;
        let key = seed_acme(&store).await;
        let game = Game::new(test.addr, &key);
        let session = game.open("job-1").await;
        store
            .link_roblox_player("acme", 1001, "s1", None)
            .await
            .expect("link");
        let mut watcher = teacher(test.addr, &["class:acme:c1", "game:acme:job-1"]).await;

        let players = game
            .post(
                &format!("/api/v1/roblox/sessions/{session}/players"),
                json!({"joins": [{"user_id": 1001, "name": "adabuilds", "display_name": "Ada"},
                                 {"user_id": 2002.0, "name": "guest"}],
                       "leaves": []}),
            )
            .await;
        assert_eq!(players.status, StatusCode::OK, "{}", players.body);
        assert_eq!(
            players.body["players"],
            json!([{"user_id": 1001, "student_id": "s1"}, {"user_id": 2002}])
        );
        // The linked student is present in the class room, as in game.
        let diff = watcher
            .recv_until(|message| {
                matches!(message, ServerMessage::PresenceDiff(diff)
                    if diff.room == "class:acme:c1" && diff.joins.iter().any(|member| member.user == "s1"))
            })
            .await;
        let ServerMessage::PresenceDiff(diff) = diff else {
            unreachable!()
        };
        let joined = diff
            .joins
            .iter()
            .find(|member| member.user == "s1")
            .expect("s1");
        assert_eq!(joined.state["in_game"], true);
        assert_eq!(joined.state["roblox_user_id"], 1001);

        let batch = json!({
            "session_id": session,
            "events": [
                {"id": "e1", "player": 1001, "kind": "progress", "data": {"lesson": "fractions", "percent": 40.0, "time_spent_secs": 30}, "client_time": 1.7e9},
                {"id": "e2", "player": 2002, "kind": "checkpoint", "data": []},
                {"id": "e3", "player": 1001, "kind": "progress", "data": {"percent": 50}},
                {"id": "e4", "kind": "reward"},
                {"kind": "checkpoint"}
            ]
        });
        let answer = game.post("/api/v1/roblox/events", batch.clone()).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.body["accepted"], json!(["e1", "e2"]));
        let rejected: Vec<&str> = answer.body["rejected"]
            .as_array()
            .expect("rejected")
            .iter()
            .map(|rejected| rejected["id"].as_str().expect("id"))
            .collect();
        assert_eq!(rejected, ["e4", "", "e3"]);
        // Acknowledged means committed: the rows are there now.
        assert_eq!(store.event_ids("acme").await.expect("ids"), ["e1", "e2"]);
        let progress = store
            .progress("acme", "s1", "", "fractions")
            .await
            .expect("progress")
            .expect("a row for the linked student");
        assert_eq!(progress.completion_percent, 40.0);
        assert_eq!(progress.time_spent_secs, 30);

        // Teachers saw them live in both rooms, from the student (or the unlinked player).
        let in_class = next_event(&mut watcher, "progress").await;
        assert_eq!(in_class.from, "s1");
        assert_eq!(in_class.data["roblox_user_id"], 1001);
        let checkpoint = next_event(&mut watcher, "checkpoint").await;
        assert_eq!(checkpoint.from, "roblox:2002");

        // The retried batch is accepted again and stored once.
        let retry = game.post("/api/v1/roblox/events", batch).await;
        assert_eq!(retry.body["accepted"], json!(["e1", "e2"]));
        assert_eq!(store.event_ids("acme").await.expect("ids"), ["e1", "e2"]);
        assert_eq!(
            store
                .progress("acme", "s1", "", "fractions")
                .await
                .expect("progress")
                .expect("row")
                .time_spent_secs,
            30,
            "a retried progress event adds its time once"
        );

        // Closing records the session and takes its players out of the rooms.
        let closed = game
            .delete(&format!("/api/v1/roblox/sessions/{session}"))
            .await;
        assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
        assert_eq!(
            closed.body["events_count"], 2,
            "stored events, retries once"
        );
        watcher
            .recv_until(|message| {
                matches!(message, ServerMessage::PresenceDiff(diff)
                    if diff.room == "class:acme:c1" && diff.leaves.iter().any(|left| left.user == "s1"))
            })
            .await;
        let gone = game
            .post(
                "/api/v1/roblox/events",
                json!({"session_id": session, "events": [{"id": "e9", "kind": "x"}]}),
            )
            .await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND);
        test.server.shutdown().await;
        store.close().await;
    }
}

#[tokio::test]
async fn batches_over_the_limits_are_refused_whole() {
    let test = start_with(|config| {
        config.roblox.max_batch = 3;
        config.sink.queue_len = 2;
        config.sink.batch_interval = Duration::from_secs(30);
        config.sink.batch_rows = 1000;
    })
    .await;
    let store = test.server.app().store().clone();
    let key = seed_acme(&store).await;
    let game = Game::new(test.addr, &key);
    let session = game.open("job-limits").await;
    let events = |ids: &[&str]| json!({"session_id": session, "events": ids.iter().map(|id| json!({"id": id, "kind": "x"})).collect::<Vec<_>>()});
    let answer = game
        .post("/api/v1/roblox/events", events(&["a", "b", "c", "d"]))
        .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.body["error"]["code"], "payload_too_large");
    // The sink queue holds two events: three at once are refused whole, with Retry-After.
    let answer = game
        .post("/api/v1/roblox/events", events(&["a", "b", "c"]))
        .await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.body
    );
    assert_eq!(answer.body["error"]["code"], "unavailable");
    assert!(answer.retry_after.is_some());
    // Not JSON at all.
    let request = reqwest::Client::new()
        .post(format!("http://{}/api/v1/roblox/events", test.addr))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{not json");
    let answer = game.send(request).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["error"]["code"], "bad_request");
    test.server.shutdown().await;
}

#[tokio::test]
async fn commands_arrive_by_long_poll_and_their_acks_reach_the_teacher() {
    let test = start_with(|config| {
        config.roblox.redeliver_after = Duration::from_millis(300);
    })
    .await;
    let store = test.server.app().store().clone();
    let key = seed_acme(&store).await;
    store
        .link_roblox_player("acme", 1001, "s1", None)
        .await
        .expect("link");
    let game = Game::new(test.addr, &key);
    let session = game.open("job-cmd").await;
    game.post(
        &format!("/api/v1/roblox/sessions/{session}/players"),
        json!({"joins": [{"user_id": 1001, "name": "adabuilds"}]}),
    )
    .await;
    let mut watcher = teacher(test.addr, &["class:acme:c1"]).await;
    let poll = |after: u64, wait: f64| {
        let game = &game;
        let session = &session;
        async move {
            game.get(&format!(
                "/api/v1/roblox/sessions/{session}/commands?after={after}&wait={wait}"
            ))
            .await
        }
    };

    // Nothing waiting: the poll holds for its wait, then answers an empty list.
    let empty = poll(0, 0.2).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body, json!({"commands": [], "cursor": 0}));

    // A poll waiting when the command is sent answers with it.
    let waiting = tokio::spawn({
        let game = Game::new(test.addr, &key);
        let session = session.clone();
        async move {
            game.get(&format!(
                "/api/v1/roblox/sessions/{session}/commands?after=0&wait=20"
            ))
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent = send_command(
        test.addr,
        json!({"kind": "reward", "data": {"badge_id": 2124.0, "points": 5}, "student_id": "s1"}),
    )
    .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    assert_eq!(sent.body["game_sessions"], 1);
    let command_id = sent.body["command_id"].as_str().expect("id").to_owned();
    let polled = waiting.await.expect("poll task");
    assert_eq!(polled.status, StatusCode::OK, "{}", polled.body);
    let command = &polled.body["commands"][0];
    assert_eq!(command["id"], command_id);
    assert_eq!(command["kind"], "reward");
    assert_eq!(command["target"], "s1");
    assert_eq!(command["roblox_user_id"], 1001);
    assert_eq!(command["attempt"], 1);
    assert_eq!(command["data"]["badge_id"], 2124.0);
    let cursor = polled.body["cursor"].as_u64().expect("cursor");

    // The teacher sees the command, then its delivery.
    watcher
        .recv_until(|message| matches!(message, ServerMessage::Command(body) if body.id.as_deref() == Some(command_id.as_str())))
        .await;
    let delivered = next_event(&mut watcher, "command_status").await;
    assert_eq!(delivered.data["command_id"], command_id);
    assert_eq!(delivered.data["status"], "delivered");

    // Not acknowledged: delivered again after the redelivery delay, even past the cursor.
    let again = poll(cursor, 5.0).await;
    assert_eq!(again.body["commands"][0]["id"], command_id);
    assert_eq!(again.body["commands"][0]["attempt"], 2);

    let acked = game
        .post(
            &format!("/api/v1/roblox/sessions/{session}/commands/ack"),
            json!({"ids": [command_id, "cmd_unknown"]}),
        )
        .await;
    assert_eq!(
        acked.body,
        json!({"acked": [command_id], "unknown": ["cmd_unknown"]})
    );
    let status = next_event(&mut watcher, "command_status").await;
    assert_eq!(status.data["status"], "acked");
    assert_eq!(status.data["session_id"], session);
    assert_eq!(
        poll(cursor, 0.5).await.body["commands"],
        json!([]),
        "acked is done"
    );

    // A command for a student not in this server does not reach it; one for the class does,
    // also when a teacher publishes it over the native protocol.
    send_command(test.addr, json!({"kind": "freeze", "student_id": "s2"})).await;
    watcher
        .publish("class:acme:c1", "announce", json!({"text": "Lunch!"}))
        .await;
    let next = poll(cursor, 5.0).await;
    let kinds: Vec<&str> = next.body["commands"]
        .as_array()
        .expect("commands")
        .iter()
        .map(|command| command["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["announce"]);

    // Invalid commands are refused with the field at fault.
    let bad = send_command(test.addr, json!({"kind": "reward", "data": {}})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body["error"]["fields"]["data"].is_string());
    let bad = send_command(test.addr, json!({"kind": "explode"})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let student = reqwest::Client::new()
        .post(format!("http://{}/api/v1/classes/c1/commands", test.addr))
        .bearer_auth(token("acme", Role::Student, "s1"))
        .json(&json!({"kind": "freeze"}));
    assert_eq!(game.send(student).await.status, StatusCode::FORBIDDEN);
    let other_tenant = reqwest::Client::new()
        .post(format!("http://{}/api/v1/classes/c1/commands", test.addr))
        .bearer_auth(token("globex", Role::Educator, "t9"))
        .json(&json!({"kind": "freeze"}));
    assert_eq!(game.send(other_tenant).await.status, StatusCode::NOT_FOUND);
    test.server.shutdown().await;
}

/// A REST GET as `token`, answered as JSON.
pub(crate) async fn rest_get(addr: SocketAddr, path: &str, token: &str) -> Value {
    let request = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .bearer_auth(token);
    let answer = Game::new(addr, "").send(request).await;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
    answer.body
}

/// The personal link code of `student` on class `class`, as its teacher `teacher` reads it on
/// the roster.
async fn roster_code(addr: SocketAddr, class: &str, teacher: &str, student: &str) -> String {
    let roster = rest_get(
        addr,
        &format!("/api/v1/classes/{class}/students"),
        &token("acme", Role::Educator, teacher),
    )
    .await;
    roster["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|member| member["id"] == student)
        .and_then(|member| member["link_code"].as_str())
        .unwrap_or_else(|| panic!("{student} with a code in {roster}"))
        .to_owned()
}

#[tokio::test]
async fn players_link_only_with_the_class_code_and_the_students_personal_code() {
    for db in TestDatabase::all().await {
        let test = start_with(|config| {
            config.database_url = Some(db.url().to_owned());
            config.roblox.link_per_minute = 3;
        })
        .await;
        let store = test.server.app().store().clone();
        let key = seed_acme(&store).await;
        ClassSeed {
            tenant: "acme",
            id: "c2",
            name: "Art",
            code: "ART777",
            teacher: ("t2", "Mr U"),
            students: &[("s3", "Cy")],
        }
        .write(&store)
        .await
        .expect("second class");
        let game = Game::new(test.addr, &key);
        let session = game.open("job-link").await;
        game.post(
            &format!("/api/v1/roblox/sessions/{session}/players"),
            json!({"joins": [{"user_id": 3003, "name": "bobuilds", "display_name": "Bo"}]}),
        )
        .await;
        let mut watcher = teacher(test.addr, &["class:acme:c1"]).await;
        // Bo's code as the teacher sees it on the roster; Ada's as Ada sees it herself.
        let bo_code = roster_code(test.addr, "c1", "t1", "s2").await;
        let me = rest_get(
            test.addr,
            "/api/v1/auth/me",
            &token("acme", Role::Student, "s1"),
        )
        .await;
        assert_eq!(me["link_codes"].as_array().map(Vec::len), Some(1), "{me}");
        assert_eq!(me["link_codes"][0]["class_id"], "c1");
        assert_eq!(me["link_codes"][0]["class_code"], "MATH42");
        let ada_code = me["link_codes"][0]["link_code"]
            .as_str()
            .expect("Ada's code")
            .to_owned();
        assert_ne!(ada_code, bo_code);
        let cy_code = roster_code(test.addr, "c2", "t2", "s3").await;

        // The class code alone, a made-up code, a classmate's name, another class's code: each
        // refused, naming `student_code`, and nobody is linked. (Each player has 3 tries a
        // minute; these spend those of 4004 and 7007.)
        let refusals = [
            (
                4004,
                json!({"class_code": "MATH42", "user_id": 4004, "name": "Bo", "display_name": "Bo"}),
                "is missing",
            ),
            (
                4004,
                json!({"class_code": "MATH42", "student_code": "", "user_id": 4004}),
                "is missing",
            ),
            (
                4004,
                json!({"class_code": "MATH42", "student_code": "abc", "user_id": 4004}),
                "is not a personal link code",
            ),
            (
                7007,
                json!({"class_code": "MATH42", "student_code": "ZZZZZZ", "user_id": 7007}),
                "not the personal link code of any student of this class",
            ),
            (
                7007,
                json!({"class_code": "MATH42", "student_code": cy_code, "user_id": 7007}),
                "not the personal link code of any student of this class",
            ),
            (
                7007,
                json!({"class_code": "MATH42", "student_code": "K7PQ2M", "user_id": 7007}),
                "not the personal link code of any student of this class",
            ),
            (
                8008,
                json!({"class_code": "ART777", "student_code": bo_code, "user_id": 8008, "student_id": "s2"}),
                "not the personal link code of any student of this class",
            ),
        ];
        for (user_id, body, why) in refusals {
            let refused = game.post("/api/v1/roblox/link", body.clone()).await;
            assert_eq!(
                refused.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{body}: {}",
                refused.body
            );
            assert_eq!(refused.body["error"]["code"], "invalid_input");
            assert!(
                refused.body["error"]["fields"]["student_code"].is_string(),
                "{}",
                refused.body
            );
            let message = refused.body["error"]["message"]
                .as_str()
                .unwrap_or_default();
            assert!(message.contains(why), "{body}: {message}");
            assert_eq!(
                store.linked_student("acme", user_id).await.expect("link"),
                None
            );
        }

        // The class code with Bo's own code links, typed loosely, and the player appears in the
        // class room as Bo.
        let loosely = format!(" {}-{} ", &bo_code[..3], bo_code[3..].to_lowercase());
        let linked = game
            .post(
                "/api/v1/roblox/link",
                json!({"class_code": " math-42 ", "student_code": loosely, "user_id": 3003.0, "name": "bobuilds", "display_name": "bo", "session_id": session}),
            )
            .await;
        assert_eq!(linked.status, StatusCode::OK, "{}", linked.body);
        assert_eq!(
            linked.body,
            json!({"linked": true, "student_id": "s2", "display_name": "Bo", "class_id": "c1"})
        );
        assert_eq!(
            store.linked_student("acme", 3003).await.expect("link"),
            Some("s2".into())
        );
        // The link is in the audit trail, by the game server's key.
        let trail = rest_get(
            test.addr,
            "/api/v1/audit?action=roblox.linked",
            &token("acme", Role::Admin, "a1"),
        )
        .await;
        assert_eq!(trail["items"].as_array().map(Vec::len), Some(1), "{trail}");
        assert_eq!(trail["items"][0]["actor_role"], "game_server");
        assert_eq!(trail["items"][0]["student_id"], "s2");
        assert_eq!(trail["items"][0]["detail"]["roblox_user_id"], 3003);
        watcher
            .recv_until(|message| {
                matches!(message, ServerMessage::PresenceDiff(diff)
                    if diff.joins.iter().any(|member| member.user == "s2" && member.state["in_game"] == true))
            })
            .await;

        // A player linked before its join was reported is added to the session as the student,
        // so a command for the student reaches this server at once.
        let early = game
            .post(
                "/api/v1/roblox/link",
                json!({"class_code": "MATH42", "student_code": ada_code, "user_id": 6006, "session_id": session}),
            )
            .await;
        assert_eq!(early.body["linked"], true, "{}", early.body);
        assert_eq!(early.body["student_id"], "s1", "{}", early.body);
        send_command(test.addr, json!({"kind": "freeze", "student_id": "s1"})).await;
        let polled = game
            .get(&format!(
                "/api/v1/roblox/sessions/{session}/commands?after=0&wait=5"
            ))
            .await;
        assert_eq!(
            polled.body["commands"][0]["roblox_user_id"], 6006,
            "{}",
            polled.body
        );

        // A rotated code stops linking; the new one links.
        let rotated = Game::new(test.addr, "")
            .send(
                reqwest::Client::new()
                    .post(format!(
                        "http://{}/api/v1/classes/c1/students/s2/link-code",
                        test.addr
                    ))
                    .bearer_auth(token("acme", Role::Educator, "t1")),
            )
            .await;
        assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
        let new_code = rotated.body["link_code"]
            .as_str()
            .expect("new code")
            .to_owned();
        assert_ne!(new_code, bo_code);
        assert_eq!(roster_code(test.addr, "c1", "t1", "s2").await, new_code);
        let stale = game
            .post(
                "/api/v1/roblox/link",
                json!({"class_code": "MATH42", "student_code": bo_code, "user_id": 9009}),
            )
            .await;
        assert_eq!(
            stale.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            stale.body
        );
        let fresh = game
            .post(
                "/api/v1/roblox/link",
                json!({"class_code": "MATH42", "student_code": new_code, "user_id": 9009}),
            )
            .await;
        assert_eq!(fresh.body["student_id"], "s2", "{}", fresh.body);

        // Wrong codes spend the player's tries: a player guessing is stopped with 429 +
        // Retry-After, even when its next guess would be right; unknown class codes too.
        let guessing = game
            .post(
                "/api/v1/roblox/link",
                json!({"class_code": "MATH42", "student_code": "ZZZZZZ", "user_id": 7007}),
            )
            .await;
        assert_eq!(
            guessing.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            guessing.body
        );
        assert_eq!(guessing.body["error"]["code"], "rate_limited");
        assert!(guessing.retry_after.is_some());
        let right_too_late = game
            .post(
                "/api/v1/roblox/link",
                json!({"class_code": "MATH42", "student_code": new_code, "user_id": 7007}),
            )
            .await;
        assert_eq!(right_too_late.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            store.linked_student("acme", 7007).await.expect("link"),
            None
        );
        let unknown = game
            .post(
                "/api/v1/roblox/link",
                json!({"class_code": "NOPE", "student_code": new_code, "user_id": 5005}),
            )
            .await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        let mut last = unknown;
        for _ in 0..3 {
            last = game
                .post(
                    "/api/v1/roblox/link",
                    json!({"class_code": "NOPE", "student_code": new_code, "user_id": 5005}),
                )
                .await;
        }
        assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(last.body["error"]["code"], "rate_limited");
        assert!(last.retry_after.is_some());
        test.server.shutdown().await;
    }
}

#[tokio::test]
async fn a_session_survives_a_server_restart_and_retried_events_are_stored_once() {
    let data_dir = temp_dir("roblox-restart");
    let config_dir = data_dir.clone();
    let first = start_with(move |config| config.data_dir = config_dir).await;
    let key = seed_acme(first.server.app().store()).await;
    let game = Game::new(first.addr, &key);
    let session = game.open("job-restart").await;
    let batch = json!({"session_id": session, "events": [{"id": "r1", "kind": "checkpoint"}, {"id": "r2", "kind": "checkpoint"}]});
    let answer = game.post("/api/v1/roblox/events", batch.clone()).await;
    assert_eq!(answer.body["accepted"], json!(["r1", "r2"]));
    first.server.shutdown().await;

    let config_dir = data_dir.clone();
    let second = start_with(move |config| config.data_dir = config_dir).await;
    let game = Game::new(second.addr, &key);
    // The new process does not hold the session: 404 tells the SDK to open it again.
    let answer = game.post("/api/v1/roblox/events", batch.clone()).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let reopened = game
        .post(
            "/api/v1/roblox/sessions",
            json!({"universe_id": 42, "place_id": 7, "job_id": "job-restart"}),
        )
        .await;
    assert_eq!(reopened.status, StatusCode::OK, "{}", reopened.body);
    assert_eq!(
        reopened.body["session_id"], session,
        "same session after the restart"
    );
    assert_eq!(reopened.body["class_id"], "c1", "its class is kept");
    let answer = game.post("/api/v1/roblox/events", batch).await;
    assert_eq!(answer.body["accepted"], json!(["r1", "r2"]));
    let store = second.server.app().store();
    assert_eq!(store.event_ids("acme").await.expect("ids"), ["r1", "r2"]);
    let closed = game
        .delete(&format!("/api/v1/roblox/sessions/{session}"))
        .await;
    assert_eq!(
        closed.body["events_count"], 2,
        "stored events, counted across the restart"
    );
    second.server.shutdown().await;
}

#[tokio::test]
async fn silent_sessions_are_closed() {
    let test = start_with(|config| config.roblox.session_idle = Duration::from_millis(300)).await;
    let key = seed_acme(test.server.app().store()).await;
    let game = Game::new(test.addr, &key);
    let session = game.open("job-idle").await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if test
            .server
            .app()
            .roblox()
            .session("acme", &session)
            .is_none()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "session never reaped"
        );
    }
    let answer = game
        .get(&format!(
            "/api/v1/roblox/sessions/{session}/commands?wait=0"
        ))
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    test.server.shutdown().await;
}

/// A stand-in for Roblox Open Cloud following its documented shapes: `POST
/// /cloud/v2/universes/{id}:publishMessage` with `x-api-key` and `{topic, message}`; it answers
/// the first call 429 with `retry-after: 1` and later ones `{}`.
async fn open_cloud_stand_in() -> (String, Arc<Mutex<Vec<(String, String, Value)>>>) {
    use axum::extract::{Path, State};
    use axum::http::HeaderMap;
    use axum::response::IntoResponse;
    type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;
    async fn publish(
        State(seen): State<Seen>,
        Path(target): Path<String>,
        headers: HeaderMap,
        axum::Json(body): axum::Json<Value>,
    ) -> axum::response::Response {
        let key = headers
            .get("x-api-key")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut seen = seen.lock().expect("lock");
        seen.push((target, key, body));
        if seen.len() == 1 {
            (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "").into_response()
        } else {
            axum::Json(json!({})).into_response()
        }
    }
    async fn user(headers: HeaderMap, Path(id): Path<i64>) -> axum::response::Response {
        if headers.get("x-api-key").is_none() {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        axum::Json(json!({"path": format!("users/{id}"), "id": id.to_string(),
                          "name": "builderman", "displayName": "Builder"}))
        .into_response()
    }
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route("/cloud/v2/universes/{target}", axum::routing::post(publish))
        .route("/cloud/v2/users/{id}", axum::routing::get(user))
        .with_state(seen.clone());
    let addr = crate::support::serve_stand_in(app).await;
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn new_commands_wake_game_servers_through_open_cloud_without_delaying_delivery() {
    let (base, seen) = open_cloud_stand_in().await;
    let test = start_with(move |config| {
        config.roblox.open_cloud_base = url::Url::parse(&format!("{base}/")).expect("url");
    })
    .await;
    let store = test.server.app().store().clone();
    let key = seed_acme(&store).await;
    store
        .set_open_cloud_key("acme", 42, "oc-key")
        .await
        .expect("open cloud key");
    let game = Game::new(test.addr, &key);
    let session = game.open("job-wake").await;

    // Open Cloud answers the first wake-up with 429: the long-poll still gets the command.
    send_command(
        test.addr,
        json!({"kind": "announce", "data": {"text": "one"}}),
    )
    .await;
    let polled = game
        .get(&format!(
            "/api/v1/roblox/sessions/{session}/commands?after=0&wait=5"
        ))
        .await;
    assert_eq!(polled.body["commands"][0]["data"]["text"], "one");
    send_command(
        test.addr,
        json!({"kind": "announce", "data": {"text": "two"}}),
    )
    .await;

    // After retry-after, the waiting wake-up goes out.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while seen.lock().expect("lock").len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no second publishMessage"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A player reported without names gets them from the Open Cloud users API.
    game.post(
        &format!("/api/v1/roblox/sessions/{session}/players"),
        json!({"joins": [{"user_id": 156}]}),
    )
    .await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let name = test_support::rows::roblox_player_name(&store, "acme", 156)
            .await
            .expect("query");
        if name.as_deref() == Some("Builder") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "display name never refreshed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let seen = seen.lock().expect("lock").clone();
    for (target, api_key, body) in &seen {
        assert_eq!(target, "42:publishMessage");
        assert_eq!(api_key, "oc-key");
        assert_eq!(body["topic"], "classhub");
        let message: Value =
            serde_json::from_str(body["message"].as_str().expect("string")).expect("json");
        assert_eq!(message, json!({"type": "poll", "session_id": session}));
        assert!(body["message"].as_str().expect("string").len() <= 1024);
    }
    test.server.shutdown().await;
}

#[tokio::test]
async fn the_luau_sdk_is_served_as_one_file() {
    let test = start_with(|_| {}).await;
    let response = reqwest::get(format!("http://{}/sdk/ClassHub.luau", test.addr))
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.expect("body");
    assert_eq!(body, include_str!("../../../lua-sdk/src/ClassHub.luau"));
    assert!(
        body.starts_with("--!strict"),
        "the SDK file starts with --!strict"
    );
    let missing = reqwest::get(format!("http://{}/sdk/Other.luau", test.addr))
        .await
        .expect("get");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: Value = missing.json().await.expect("json");
    assert_eq!(body["error"]["code"], "not_found");
    test.server.shutdown().await;
}

#[tokio::test]
async fn rostered_students_may_join_the_game_rooms_of_their_class_while_the_session_lives() {
    use crate::classes::School;
    use crate::rest::Rest;
    let test = start_with(|_| {}).await;
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "arcade").await;
    let class_id = school.class_with_s1(&rest).await;
    let key = make_key(test.server.app().store(), "arcade", None).await;
    let game = Game::new(test.addr, &key);
    let room = "game:arcade:job-gate";
    let join = json!({"type": "join", "room": room});

    let mut student = Client::connect(test.addr, &school.student).await;
    let refused = student.expect_error(join.clone()).await;
    assert_eq!(
        refused.code,
        protocol::ErrorCode::Forbidden.code(),
        "no session, no game room"
    );

    let opened = game
        .post(
            "/api/v1/roblox/sessions",
            json!({"universe_id": 1, "place_id": 1, "job_id": "job-gate", "class_id": class_id}),
        )
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    assert_eq!(
        student.join(room).await.room,
        room,
        "on the linked class's roster"
    );
    let mut outsider = Client::connect(test.addr, &school.other_student).await;
    let refused = outsider.expect_error(join.clone()).await;
    assert_eq!(
        refused.code,
        protocol::ErrorCode::Forbidden.code(),
        "not on the roster"
    );

    let session = opened.body["session_id"].as_str().expect("id");
    game.delete(&format!("/api/v1/roblox/sessions/{session}"))
        .await;
    let mut later = Client::connect(test.addr, &school.student).await;
    let refused = later.expect_error(join).await;
    assert_eq!(
        refused.code,
        protocol::ErrorCode::Forbidden.code(),
        "the session ended"
    );
    test.server.shutdown().await;
}

/// A linked player's presence follows the class rule live, like a socket: taken off the
/// roster, the player leaves the class room (reason `revoked`) within the rules clock's tick
/// while the game goes on; added back, they are in it again without the game server doing
/// anything.
#[tokio::test]
async fn a_linked_player_taken_off_the_roster_leaves_the_class_room_and_returns_when_added_back() {
    use crate::classes::School;
    use crate::rest::Rest;
    let test = start_with(|_| {}).await;
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "arcade").await;
    let class_id = school.class_with_s1(&rest).await;
    let student = school.id("s1");
    let key = make_key(test.server.app().store(), "arcade", None).await;
    let game = Game::new(test.addr, &key);
    let opened = game
        .post(
            "/api/v1/roblox/sessions",
            json!({"universe_id": 1, "place_id": 1, "job_id": "job-live", "class_id": class_id}),
        )
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    let session = opened.body["session_id"].as_str().expect("id").to_owned();
    let me = rest_get(test.addr, "/api/v1/auth/me", &school.student).await;
    let linked = game
        .post(
            "/api/v1/roblox/link",
            json!({"class_code": me["link_codes"][0]["class_code"],
                   "student_code": me["link_codes"][0]["link_code"], "user_id": 5005}),
        )
        .await;
    assert_eq!(linked.body["linked"], true, "{}", linked.body);
    let class_room = format!("class:arcade:{class_id}");
    let mut watcher = Client::connect(test.addr, &school.teacher).await;
    watcher.join(&class_room).await;
    game.post(
        &format!("/api/v1/roblox/sessions/{session}/players"),
        json!({"joins": [{"user_id": 5005, "name": "adabuilds"}]}),
    )
    .await;
    let in_class = |message: &ServerMessage| {
        matches!(message, ServerMessage::PresenceDiff(diff)
            if diff.room == class_room
                && diff.joins.iter().any(|member| member.user == student && member.state["in_game"] == true))
    };
    watcher.recv_until(in_class).await;

    rest.delete(
        &format!("/api/v1/classes/{class_id}/students/{student}"),
        &school.teacher,
    )
    .await
    .expect(204);
    let left = watcher
        .recv_until(|message| {
            matches!(message, ServerMessage::PresenceDiff(diff)
                if diff.leaves.iter().any(|member| member.user == student))
        })
        .await;
    let ServerMessage::PresenceDiff(left) = left else {
        unreachable!()
    };
    assert_eq!(left.leaves[0].reason, "revoked", "{left:?}");
    // Still in the game: present in the game room.
    let mut game_room = Client::connect(test.addr, &school.teacher).await;
    let joined = game_room.join("game:arcade:job-live").await;
    assert!(
        joined.members.iter().any(|member| member.user == student),
        "{:?}",
        joined.members
    );

    rest.post(
        &format!("/api/v1/classes/{class_id}/students"),
        &school.teacher,
        json!({"user_ids": [student]}),
    )
    .await
    .expect(200);
    watcher.recv_until(in_class).await;
    test.server.shutdown().await;
}

/// The text rule and content refusals at the Roblox door: an event holding a NUL is rejected by
/// id naming the field, an event the database refuses for its content is rejected (not 503,
/// which the SDK would resend forever), and the other events of the batch are accepted; other
/// bodies holding a NUL are refused whole with 422 naming the field.
#[tokio::test]
async fn events_holding_a_nul_or_refused_by_the_database_are_rejected_alone() {
    for db in TestDatabase::all().await {
        let test = start_with(|config| config.database_url = Some(db.url().to_owned())).await;
        let store = db.store().await;
        let key = seed_acme(&store).await;
        // A refusal for content that both backends can be made to give (the decoders keep a
        // NUL from ever reaching the database, so it cannot serve here).
        test_support::rows::refuse_game_events_of_kind(&store, "poison")
            .await
            .expect("refuse poison");
        let game = Game::new(test.addr, &key);
        let session = game.open("job-nul").await;

        let batch = json!({
            "session_id": session,
            "events": [
                {"id": "e1", "kind": "checkpoint", "data": {"stage": 1}},
                {"id": "e2", "kind": "quiz_answer", "data": {"answer": "4\u{0}"}},
                {"id": "e3", "kind": "quiz_answer", "data": {"answer": "4"}},
                {"id": "e4", "kind": "poison", "data": {}},
                {"id": "e5\u{0}", "kind": "checkpoint"}
            ]
        });
        for attempt in ["first", "retry"] {
            let answer = game.post("/api/v1/roblox/events", batch.clone()).await;
            assert_eq!(answer.status, StatusCode::OK, "{attempt}: {}", answer.body);
            assert_eq!(answer.body["accepted"], json!(["e1", "e3"]), "{attempt}");
            let rejected: Vec<(&str, &str, &str)> = answer.body["rejected"]
                .as_array()
                .expect("rejected")
                .iter()
                .map(|rejected| {
                    (
                        rejected["id"].as_str().expect("id"),
                        rejected["code"].as_str().expect("code"),
                        rejected["message"].as_str().expect("message"),
                    )
                })
                .collect();
            assert_eq!(rejected.len(), 3, "{attempt}: {rejected:?}");
            let by_id = |id: &str| {
                rejected
                    .iter()
                    .find(|(rejected_id, _, _)| *rejected_id == id)
                    .unwrap_or_else(|| panic!("{id} rejected: {rejected:?}"))
            };
            for (id, words) in [
                ("e2", "data.answer holds a NUL"),
                ("e5\u{0}", "id holds a NUL"),
                ("e4", "the database refused this event"),
            ] {
                let (_, code, message) = by_id(id);
                assert_eq!(*code, "invalid_input", "{attempt} {id}: {message}");
                assert!(message.contains(words), "{attempt} {id}: {message}");
            }
        }
        assert_eq!(store.event_ids("acme").await.expect("ids"), ["e1", "e3"]);

        let players = game
            .post(
                &format!("/api/v1/roblox/sessions/{session}/players"),
                json!({"joins": [{"user_id": 5, "name": "Ada\u{0}"}]}),
            )
            .await;
        assert_eq!(players.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            players.body["error"]["fields"]["joins[0].name"].is_string(),
            "{}",
            players.body
        );
        let nul_session = game
            .post(
                "/api/v1/roblox/events",
                json!({"session_id": "s\u{0}", "events": [{"id": "e6", "kind": "x"}]}),
            )
            .await;
        assert_eq!(nul_session.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            nul_session.body["error"]["fields"]["session_id"].is_string(),
            "{}",
            nul_session.body
        );

        test.server.shutdown().await;
        store.close().await;
    }
}

/// With the school's consent policy on, a student's Roblox account is linked only once a parent
/// (or an admin for the school) granted consent; the same code links afterwards.
#[tokio::test]
async fn linking_waits_for_consent_when_the_school_requires_it() {
    let test = start_server().await;
    let store = test.server.app().store().clone();
    let key = seed_acme(&store).await;
    let game = Game::new(test.addr, &key);
    let admin = token("acme", Role::Admin, "a1");
    let put = |path: &str, body: Value| {
        reqwest::Client::new()
            .put(format!("http://{}{path}", test.addr))
            .bearer_auth(&admin)
            .json(&body)
    };
    let policy = Game::new(test.addr, "")
        .send(put("/api/v1/consent/policy", json!({"required": true})))
        .await;
    assert_eq!(policy.status, StatusCode::OK, "{}", policy.body);
    let ada_code = roster_code(test.addr, "c1", "t1", "s1").await;
    let link = json!({"class_code": "MATH42", "student_code": ada_code, "user_id": 5005});
    let refused = game.post("/api/v1/roblox/link", link.clone()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let message = refused.body["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("until a parent grants consent"),
        "{message}"
    );
    assert_eq!(
        store.linked_student("acme", 5005).await.expect("link"),
        None
    );

    let granted = Game::new(test.addr, "")
        .send(put("/api/v1/users/s1/consent", json!({"state": "granted"})))
        .await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);
    assert_eq!(granted.body["decided_role"], "admin");
    let linked = game.post("/api/v1/roblox/link", link).await;
    assert_eq!(linked.status, StatusCode::OK, "{}", linked.body);
    assert_eq!(
        store.linked_student("acme", 5005).await.expect("link"),
        Some("s1".into())
    );
    test.server.shutdown().await;
}

/// Erasing a linked student (issue 17): their player leaves the class room, the link is gone,
/// and a late batch from that Roblox account is an unlinked player's: stored, accepted, and
/// never naming the student, so nothing of theirs comes back.
#[tokio::test]
async fn an_erased_students_roblox_account_is_forgotten_and_late_events_never_name_them() {
    use crate::classes::School;
    use crate::rest::Rest;
    let test = start_with(|_| {}).await;
    let store = test.server.app().store().clone();
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "forget").await;
    let class_id = school.class_with_s1(&rest).await;
    let student = school.id("s1");
    let key = make_key(&store, "forget", None).await;
    let game = Game::new(test.addr, &key);
    let opened = game
        .post(
            "/api/v1/roblox/sessions",
            json!({"universe_id": 1, "place_id": 1, "job_id": "job-forget", "class_id": class_id}),
        )
        .await;
    let session = opened.body["session_id"].as_str().expect("id").to_owned();
    let me = rest_get(test.addr, "/api/v1/auth/me", &school.student).await;
    let linked = game
        .post(
            "/api/v1/roblox/link",
            json!({"class_code": me["link_codes"][0]["class_code"],
                   "student_code": me["link_codes"][0]["link_code"], "user_id": 6006}),
        )
        .await;
    assert_eq!(linked.body["linked"], true, "{}", linked.body);
    let class_room = format!("class:forget:{class_id}");
    let mut watcher = Client::connect(test.addr, &school.teacher).await;
    watcher.join(&class_room).await;
    game.post(
        &format!("/api/v1/roblox/sessions/{session}/players"),
        json!({"joins": [{"user_id": 6006, "name": "adabuilds"}]}),
    )
    .await;
    watcher
        .recv_until(|message| {
            matches!(message, ServerMessage::PresenceDiff(diff)
                if diff.joins.iter().any(|member| member.user == student))
        })
        .await;
    let batch = |id: &str| {
        json!({"session_id": session, "events": [
            {"id": id, "player": 6006, "kind": "progress", "data": {"lesson": "maps", "percent": 30}}
        ]})
    };
    let before = game.post("/api/v1/roblox/events", batch("r1")).await;
    assert_eq!(before.body["accepted"], json!(["r1"]), "{}", before.body);

    rest.delete(&format!("/api/v1/users/{student}"), &school.admin)
        .await
        .expect(200);
    watcher
        .recv_until(|message| {
            matches!(message, ServerMessage::PresenceDiff(diff)
                if diff.room == class_room && diff.leaves.iter().any(|member| member.user == student))
        })
        .await;
    // The same account plays on: its events are an unlinked player's.
    let late = game.post("/api/v1/roblox/events", batch("r2")).await;
    assert_eq!(late.body["accepted"], json!(["r2"]), "{}", late.body);
    let left = test_support::rows::columns_naming(&store, &student)
        .await
        .expect("scan");
    assert!(left.is_empty(), "rows naming the erased student: {left:?}");
    assert_eq!(store.event_ids("forget").await.expect("ids"), ["r2"]);
    // Still in the game, as an unlinked player.
    let mut game_room = Client::connect(test.addr, &school.teacher).await;
    let joined = game_room.join("game:forget:job-forget").await;
    let members: Vec<&str> = joined
        .members
        .iter()
        .map(|member| member.user.as_str())
        .collect();
    assert!(members.contains(&"roblox:6006"), "{members:?}");
    assert!(!members.contains(&student.as_str()), "{members:?}");
    test.server.shutdown().await;
}
