//! Bad input gets a clear error (or the documented close), never a crash, and other
//! connections are unaffected.

use protocol::{CloseCode, ErrorCode, ServerMessage};
use serde_json::json;
use server::auth::Role;
use tokio_tungstenite::tungstenite::protocol::Message;

use crate::support::{Auth, Client, event_parts, refused, start_with, token};

const ROOM: &str = "class:acme:c1";

#[tokio::test]
async fn malformed_unknown_oversized_and_misaddressed_frames_get_errors_and_the_room_goes_on() {
    let test = start_with(|config| config.limits.max_frame_bytes = 1024).await;
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

#[tokio::test]
async fn a_frame_far_over_the_limit_closes_only_its_own_socket() {
    let test = start_with(|config| config.limits.max_frame_bytes = 1024).await;
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
