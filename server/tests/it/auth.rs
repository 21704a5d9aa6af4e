//! Authentication and permissions: tokens by query, header or `auth` frame; expired and forged
//! tokens refused; tenants never crossed; roles limit what may be joined and published; users
//! seen for the first time all at once are each admitted and recorded once.

use std::time::Duration;

use protocol::{CloseCode, ErrorCode, ServerMessage};
use serde_json::json;
use server::auth::{self, Role};

use crate::support::{
    Auth, Client, SECRET, identity, refused, start_server, start_with, token, token_for,
};

#[tokio::test]
async fn tokens_work_by_query_header_and_auth_frame() {
    let test = start_server().await;
    let teacher_token = token("acme", Role::Educator, "t1");

    let mut by_header = Client::open(test.addr, Auth::Header(&teacher_token), None)
        .await
        .expect("header");
    let welcome = by_header.welcome().await;
    assert_eq!(
        (
            welcome.user.as_str(),
            welcome.tenant.as_str(),
            welcome.role.as_str()
        ),
        ("t1", "acme", "educator")
    );

    let mut by_frame = Client::open(test.addr, Auth::None, None)
        .await
        .expect("no token yet");
    let refused_join = by_frame
        .expect_error(json!({"type": "join", "room": "class:acme:c1"}))
        .await;
    assert_eq!(refused_join.code, ErrorCode::Unauthenticated.code());
    by_frame.ping().await;
    by_frame
        .send(json!({"type": "auth", "ref": 77, "token": teacher_token}))
        .await;
    let welcome = by_frame.welcome().await;
    assert_eq!(welcome.reference, Some(protocol::Ref::Int(77)));
    by_frame.join("class:acme:c1").await;
    // A fresh token of the same user extends the connection; another user's is refused.
    by_frame
        .send(json!({"type": "auth", "ref": 78, "token": teacher_token}))
        .await;
    let extended = by_frame
        .recv_until(|message| matches!(message, ServerMessage::Reply(_) | ServerMessage::Error(_)))
        .await;
    assert!(
        matches!(&extended, ServerMessage::Reply(reply) if reply.reference == protocol::Ref::Int(78)),
        "{extended:?}"
    );
    let other = token("acme", Role::Educator, "t2");
    let again = by_frame
        .expect_error(json!({"type": "auth", "token": other}))
        .await;
    assert_eq!(again.code, ErrorCode::AlreadyAuthenticated.code());
}

#[tokio::test]
async fn expired_and_forged_tokens_are_refused() {
    let test = start_server().await;
    let mut claims = auth::claims_for(&identity("acme", Role::Student, "s1"), Duration::ZERO);
    claims.exp -= 3600;
    let expired = auth::mint(SECRET, &claims).expect("mint");
    let forged = auth::mint(
        "not-the-server-secret-at-all",
        &auth::claims_for(&identity("acme", Role::Admin, "x"), Duration::from_secs(60)),
    )
    .expect("mint");

    let (status, body) = refused(
        Client::open(test.addr, Auth::Query(&expired), None)
            .await
            .err()
            .expect("expired refused"),
    );
    // The one HTTP error vocabulary: the code says unauthorized, the sentence why.
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("expired"), "{message}");
    let (status, body) = refused(
        Client::open(test.addr, Auth::Header(&forged), None)
            .await
            .err()
            .expect("forged refused"),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.contains("expired"), "{message}");

    // By frame: an error, then the auth-failed close.
    let mut client = Client::open(test.addr, Auth::None, None)
        .await
        .expect("open");
    client
        .send(json!({"type": "auth", "ref": 1, "token": forged}))
        .await;
    let ServerMessage::Error(error) = client.recv().await else {
        panic!("error frame")
    };
    assert_eq!(error.code, ErrorCode::InvalidToken.code());
    assert_eq!(
        client.close_code().await,
        Some(CloseCode::AuthFailed.code())
    );
}

#[tokio::test]
async fn a_socket_that_never_authenticates_is_closed() {
    let test = start_with(|config| config.socket.auth_timeout = Duration::from_millis(200)).await;
    let mut client = Client::open(test.addr, Auth::None, None)
        .await
        .expect("open");
    assert_eq!(
        client.close_code().await,
        Some(CloseCode::AuthTimeout.code())
    );
}

#[tokio::test]
async fn tenants_and_roles_bound_what_may_be_joined_and_published() {
    let test = start_server().await;
    let mut student = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    let mut outsider = Client::connect(test.addr, &token("globex", Role::Admin, "a9")).await;

    let forbidden = ErrorCode::Forbidden.code();
    let cross_tenant = outsider
        .expect_error(json!({"type": "join", "room": "class:acme:c1"}))
        .await;
    assert_eq!(cross_tenant.code, forbidden);
    assert!(cross_tenant.message.contains("another tenant"));
    let cross_publish = outsider
        .expect_error(
            json!({"type": "publish", "room": "class:acme:c1", "kind": "announce", "data": {}}),
        )
        .await;
    assert_eq!(cross_publish.code, forbidden);

    student.join("class:acme:c1").await;
    student.join("user:acme:s1").await;
    let other_user_room = student
        .expect_error(json!({"type": "join", "room": "user:acme:s2"}))
        .await;
    assert_eq!(other_user_room.code, forbidden);
    let non_chat = student
        .expect_error(
            json!({"type": "publish", "room": "class:acme:c1", "kind": "reward", "data": {}}),
        )
        .await;
    assert_eq!(non_chat.code, forbidden);
    assert!(non_chat.message.contains("reward"));
    let not_joined = student
        .expect_error(
            json!({"type": "publish", "room": "class:acme:c2", "kind": "chat", "data": {}}),
        )
        .await;
    assert_eq!(not_joined.code, ErrorCode::NotJoined.code());
    student
        .publish("class:acme:c1", "chat", json!({"text": "hello"}))
        .await;

    // Educators publish commands without joining; members receive them as `command` frames, and
    // a publish into a user room arrives as a `notification`.
    teacher.publish("class:acme:c1", "freeze", json!({})).await;
    let command = student
        .recv_until(|message| matches!(message, ServerMessage::Command(_)))
        .await;
    let ServerMessage::Command(body) = command else {
        unreachable!()
    };
    assert_eq!((body.kind.as_str(), body.from.as_str()), ("freeze", "t1"));
    teacher
        .publish("user:acme:s1", "message", json!({"text": "well done"}))
        .await;
    let notification = student
        .recv_until(|message| matches!(message, ServerMessage::Notification(_)))
        .await;
    let ServerMessage::Notification(body) = notification else {
        unreachable!()
    };
    assert_eq!(body.room, "user:acme:s1");

    // Parents join their children's user rooms only.
    let parent = server::auth::Identity {
        children: vec!["s1".into()],
        expires_at: None,
        ..identity("acme", Role::Parent, "p1")
    };
    let mut parent = Client::connect(test.addr, &token_for(&parent)).await;
    parent.join("user:acme:s1").await;
    assert_eq!(
        parent
            .expect_error(json!({"type": "join", "room": "user:acme:s2"}))
            .await
            .code,
        forbidden
    );
    assert_eq!(
        parent
            .expect_error(json!({"type": "join", "room": "class:acme:c1"}))
            .await
            .code,
        forbidden
    );
}

#[tokio::test]
async fn many_users_signing_in_at_once_are_each_recorded_once_in_small_batches() {
    let db = persistence::test_support::TestDatabase::sqlite();
    let url = db.url().to_owned();
    // Batches of 4: 60 first sightings at once take several rounds of the writer.
    let test = start_with(|config| {
        config.database_url = Some(url);
        config.auth.first_sight_batch = 4;
    })
    .await;
    let addr = test.addr;
    let sockets = futures_util::future::join_all((0..60).map(|index| async move {
        let user = format!("first-{index}");
        let mut client = Client::connect(addr, &token("crowd", Role::Student, &user)).await;
        client.ping().await;
        client
    }))
    .await;
    assert_eq!(sockets.len(), 60);
    let store = test.server.app().store().clone();
    let users = store
        .users(
            "crowd",
            None,
            &persistence::Page {
                limit: 100,
                after: None,
            },
        )
        .await
        .expect("users");
    assert_eq!(users.items.len(), 60, "every new user is recorded once");
    // The same ids in another tenant are still refused: the rows say where they live.
    let elsewhere = token("elsewhere", Role::Student, "first-7");
    let (status, body) = refused(
        Client::open(addr, Auth::Header(&elsewhere), None)
            .await
            .err()
            .expect("another tenant's id is refused"),
    );
    assert_eq!(status, 401, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("another tenant"), "{message}");
}
