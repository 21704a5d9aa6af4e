//! Bad input gets a clear error (or the documented close), never a crash, and other
//! connections are unaffected.

use protocol::{CloseCode, Codec, ErrorCode, ServerMessage};
use serde_json::json;
use server::auth::Role;
use tokio_tungstenite::tungstenite::protocol::Message;

use crate::support::{Auth, Client, event_parts, refused, start_with, token};

const ROOM: &str = "class:acme:c1";

#[tokio::test]
async fn malformed_unknown_oversized_and_misaddressed_frames_get_errors_and_the_room_goes_on() {
    let test = start_with(|config| config.hub.limits.max_frame_bytes = 1024).await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    let mut bystander = Client::connect(test.addr, &token("acme", Role::Student, "s2")).await;
    bystander.join(ROOM).await;
    let mut sender = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;
    sender.join(ROOM).await;

    let expect_code = async |client: &mut Client, frame: Message, code: ErrorCode| {
        client.send_raw(frame).await;
        let ServerMessage::Error(error) = client
            .recv_until(|message| matches!(message, ServerMessage::Error(_)))
            .await
        else {
            unreachable!()
        };
        assert_eq!(error.code, code.code(), "{}", error.message);
        assert!(!error.message.is_empty());
        error
    };
    expect_code(
        &mut sender,
        Message::text("{not json"),
        ErrorCode::MalformedFrame,
    )
    .await;
    let unknown = expect_code(
        &mut sender,
        Message::text(r#"{"type":"dance","ref":41}"#),
        ErrorCode::UnknownType,
    )
    .await;
    assert_eq!(unknown.reference, Some(protocol::Ref::Int(41)));
    assert!(unknown.message.contains("dance"));
    let missing = expect_code(
        &mut sender,
        Message::text(r#"{"type":"publish","room":"class:acme:c1"}"#),
        ErrorCode::InvalidMessage,
    )
    .await;
    assert!(missing.message.contains("kind"), "{}", missing.message);
    let big = json!({"type": "publish", "room": ROOM, "kind": "chat", "data": {"text": "x".repeat(2000)}}).to_string();
    let oversized = expect_code(&mut sender, Message::text(big), ErrorCode::FrameTooLarge).await;
    assert!(oversized.message.contains("1024"), "{}", oversized.message);
    let bad_room = expect_code(
        &mut sender,
        Message::text(r#"{"type":"join","room":"lobby"}"#),
        ErrorCode::BadRoomId,
    )
    .await;
    assert!(bad_room.message.contains("lobby"));
    let deep = format!(
        r#"{{"type":"publish","room":"{ROOM}","kind":"chat","data":{}1{}}}"#,
        "[".repeat(40),
        "]".repeat(40)
    );
    expect_code(&mut sender, Message::text(deep), ErrorCode::PayloadTooDeep).await;
    expect_code(
        &mut sender,
        Message::binary(vec![1, 2, 3]),
        ErrorCode::WrongFrameKind,
    )
    .await;

    // The sender is still connected and served; the bystander saw none of it.
    sender.ping().await;
    teacher.publish(ROOM, "after", json!({})).await;
    let next = bystander
        .recv_until(|message| !matches!(message, ServerMessage::PresenceDiff(_)))
        .await;
    assert_eq!(
        event_parts(&next).map(|(_, kind, _)| kind.to_owned()),
        Some("after".to_owned())
    );
}

/// The text rule at the native door: a NUL (or, in JSON, an unpaired surrogate escape) anywhere
/// in a frame's text is refused with an error naming the field, in both codecs; nothing of it is
/// fanned out or stored, and the room goes on.
#[tokio::test]
async fn text_holding_a_nul_is_refused_naming_its_field_and_the_room_goes_on() {
    let database = persistence::test_support::TestDatabase::sqlite();
    let url = database.url().to_owned();
    let test = start_with(move |config| config.database_url = Some(url)).await;
    let store = database.store().await;
    let mut bystander = Client::connect(test.addr, &token("acme", Role::Educator, "t3")).await;
    bystander.join(ROOM).await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join(ROOM).await;
    let mut packer = Client::open(
        test.addr,
        Auth::Query(&token("acme", Role::Educator, "t2")),
        Some("classhub.v1.msgpack"),
    )
    .await
    .expect("msgpack client");
    packer.welcome().await;
    packer.join(ROOM).await;

    let refusals = [
        (
            Codec::Json,
            json!({"type": "publish", "room": ROOM, "kind": "quiz_answer", "id": "q-1", "data": {"answer": "4\u{0}"}}),
            "data.answer",
        ),
        (
            Codec::Json,
            json!({"type": "presence", "room": ROOM, "state": {"status": ["ok", "a\u{0}"]}}),
            "state.status[1]",
        ),
        (
            Codec::MsgPack,
            json!({"type": "publish", "room": ROOM, "kind": "quiz_answer", "id": "q-2", "data": {"answer": "4\u{0}"}}),
            "data.answer",
        ),
        (
            Codec::MsgPack,
            json!({"type": "publish", "room": ROOM, "kind": "chat\u{0}", "data": {}}),
            "kind",
        ),
    ];
    for (codec, message, field) in refusals {
        let client = match codec {
            Codec::Json => &mut teacher,
            Codec::MsgPack => &mut packer,
        };
        let error = client.expect_error(message).await;
        assert_eq!(
            error.code,
            ErrorCode::InvalidMessage.code(),
            "{}",
            error.message
        );
        assert!(error.message.contains(field), "{field}: {}", error.message);
        assert_eq!(error.retry_after_ms, None, "not retryable");
    }
    teacher
        .send_raw(Message::text(
            r#"{"type":"publish","ref":77,"room":"class:acme:c1","kind":"chat","data":{"text":"\ud800"}}"#,
        ))
        .await;
    let ServerMessage::Error(surrogate) = teacher
        .recv_until(|message| matches!(message, ServerMessage::Error(_)))
        .await
    else {
        unreachable!()
    };
    assert_eq!(surrogate.reference, Some(protocol::Ref::Int(77)));
    assert!(
        surrogate.message.contains("data.text"),
        "{}",
        surrogate.message
    );

    // Both senders are still served; the bystander saw none of the refused frames.
    packer.ping().await;
    let reference = teacher.next_ref();
    teacher
        .send(json!({"type": "publish", "ref": reference, "room": ROOM, "kind": "quiz_answer", "id": "q-3", "data": {"answer": "4"}}))
        .await;
    teacher
        .recv_until(|message| matches!(message, ServerMessage::Reply(_)))
        .await;
    let next = bystander
        .recv_until(|message| !matches!(message, ServerMessage::PresenceDiff(_)))
        .await;
    assert_eq!(
        event_parts(&next).map(|(_, kind, data)| (kind.to_owned(), data.clone())),
        Some(("quiz_answer".to_owned(), json!({"answer": "4"})))
    );
    assert_eq!(store.event_ids("acme").await.expect("ids"), ["q-3"]);
    store.close().await;
}

#[tokio::test]
async fn a_frame_far_over_the_limit_closes_only_its_own_socket() {
    let test = start_with(|config| config.hub.limits.max_frame_bytes = 1024).await;
    let mut bystander = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    let mut sender = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;
    sender
        .send_raw(Message::text("x".repeat(1024 * 1024)))
        .await;
    assert_eq!(
        sender.close_code().await,
        Some(CloseCode::FrameTooLarge.code())
    );
    bystander.ping().await;
}

#[tokio::test]
async fn an_unsupported_subprotocol_is_refused_with_a_sentence_naming_the_supported_ones() {
    let test = start_with(|_| {}).await;
    let error = Client::open(
        test.addr,
        Auth::Query(&token("acme", Role::Student, "s1")),
        Some("graphql-ws"),
    )
    .await
    .err()
    .expect("refused");
    let (status, body) = refused(error);
    assert_eq!(status, 400);
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("graphql-ws")
            && message.contains("classhub.v1.json")
            && message.contains("classhub.v1.msgpack"),
        "{message}"
    );

    // Offering a supported one among others picks it.
    let client = Client::open(
        test.addr,
        Auth::Query(&token("acme", Role::Student, "s1")),
        Some("graphql-ws, classhub.v1.msgpack"),
    )
    .await
    .expect("accepted");
    assert_eq!(client.codec, protocol::Codec::MsgPack);
}

#[tokio::test]
async fn every_http_door_answers_in_one_error_shape_and_a_database_outage_is_503_everywhere() {
    use crate::rest::Rest;
    use persistence::test_support::{Proxy, TestDatabase, with_address};

    // The Pusher HTTP API and the /ws upgrade speak the REST error vocabulary. A tenant with a
    // fixed Pusher app is not reachable by its derived id: that app is unknown.
    let plain = start_with(|config| {
        config.pusher.app = Some(server::transport::pusher_apps::PusherApp {
            tenant: "acme".into(),
            app_id: "fixed-1".into(),
            key: "fixed-key".into(),
            secret: "fixed-secret".into(),
        });
    })
    .await;
    let rest = Rest::new(plain.addr);
    let unknown_app = rest
        .call("POST", "/apps/acme/events", None, Some(json!({})))
        .await;
    assert_eq!((unknown_app.status, unknown_app.code()), (404, "not_found"));
    let (status, body) = refused(
        Client::open(plain.addr, Auth::Query("not-a-token"), None)
            .await
            .err()
            .expect("refused"),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );

    // A database outage: 503 + Retry-After on a platform route and a Roblox route alike.
    let Some(database) = TestDatabase::postgres().await else {
        eprintln!("TEST_DATABASE_URL is not set: the outage half of this test needs PostgreSQL");
        return;
    };
    let url = url::Url::parse(database.url()).expect("url");
    let upstream =
        tokio::net::lookup_host((url.host_str().expect("host"), url.port().unwrap_or(5432)))
            .await
            .expect("resolve")
            .next()
            .expect("an address");
    let proxy = Proxy::start(upstream).await;
    let relayed = with_address(database.url(), proxy.addr);
    let test = start_with(|config| config.database_url = Some(relayed)).await;
    let rest = Rest::new(test.addr);
    let teacher = token("acme", Role::Educator, "t1");
    rest.call("GET", "/api/v1/classes", Some(&teacher), None)
        .await
        .expect(200);
    let store = database.store().await;
    let made = roblox::keys::generate();
    store
        .create_game_key(&persistence::NewGameKey {
            id: "gk_outage".into(),
            tenant: "acme".into(),
            universe_id: None,
            label: None,
            key_hash: made.hash,
            key_prefix: made.prefix,
        })
        .await
        .expect("key");
    let open = json!({"job_id": "job-outage", "place_id": 1, "universe_id": 2});
    rest.call(
        "POST",
        "/api/v1/roblox/sessions",
        Some(&made.key),
        Some(open.clone()),
    )
    .await
    .expect(201);

    proxy.cut();
    for (path, key, body) in [
        ("/api/v1/classes", &teacher, None),
        // A new JobId: opening its session writes `game_sessions`.
        (
            "/api/v1/roblox/sessions",
            &made.key,
            Some(json!({"job_id": "job-outage-2", "place_id": 1, "universe_id": 2})),
        ),
    ] {
        let method = if body.is_some() { "POST" } else { "GET" };
        let answer = rest.call(method, path, Some(key), body).await;
        assert_eq!(
            (answer.status, answer.code()),
            (503, "unavailable"),
            "{path}: {:?}",
            answer.body
        );
        assert!(answer.retry_after.is_some(), "{path}: no Retry-After");
    }
    test.server.shutdown().await;
}

/// The text rule at the REST API's path and query: a NUL there is a 4xx naming the parameter on
/// both backends (PostgreSQL cannot store or even compare such text, so it used to be a 500).
#[tokio::test]
async fn a_nul_in_a_path_segment_or_query_parameter_is_refused_naming_it() {
    use crate::rest::Rest;
    use persistence::test_support::TestDatabase;

    for database in TestDatabase::all().await {
        let url = database.url().to_owned();
        let test = start_with(move |config| config.database_url = Some(url)).await;
        let rest = Rest::new(test.addr);
        let admin = token("acme", Role::Admin, "a1");
        rest.get("/api/v1/users/a1", &admin).await.expect(200);
        let in_path = rest.get("/api/v1/users/a%00b", &admin).await;
        assert_eq!(in_path.status, 400, "{}", in_path.body);
        assert!(
            in_path.body["error"]["fields"]["user_id"].is_string(),
            "{}",
            in_path.body
        );
        let in_query = rest.get("/api/v1/users?role=student%00", &admin).await;
        assert_eq!(in_query.status, 422, "{}", in_query.body);
        assert!(
            in_query.body["error"]["fields"]["role"].is_string(),
            "{}",
            in_query.body
        );
        test.server.shutdown().await;
    }
}
