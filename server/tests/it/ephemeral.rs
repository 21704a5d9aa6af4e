//! Ephemeral publishes over `/ws` (issue 20, part 2): an event marked `ephemeral` reaches the
//! room's other members at once with the room's last `seq`, never advances it, is never in
//! `missed`, gets a `reply` without a `seq`, and keeps every rule a publish keeps (membership,
//! kinds only the server makes); an `id` or a command kind with it is refused, naming why.

use protocol::{ErrorCode, ServerMessage};
use serde_json::{Value, json};
use server::auth::Role;

use crate::support::{Client, event_parts, start_server, token};

pub(crate) const ROOM: &str = "class:acme:c1";

fn ephemeral(room: &str, kind: &str, data: Value) -> Value {
    json!({"type": "publish", "room": room, "kind": kind, "data": data, "ephemeral": true})
}

/// Sends an ephemeral publish to [`ROOM`] with a ref and returns the `reply`'s `seq` (which it
/// must not have).
pub(crate) async fn publish_ephemeral(client: &mut Client, kind: &str, data: Value) -> Option<u64> {
    let reference = client.next_ref();
    let mut frame = ephemeral(ROOM, kind, data);
    frame["ref"] = json!(reference);
    client.send(frame).await;
    match client
        .recv_until(|message| matches!(message, ServerMessage::Reply(_) | ServerMessage::Error(_)))
        .await
    {
        ServerMessage::Reply(reply) => reply.seq,
        other => panic!("expected a reply, got {other:?}"),
    }
}

#[tokio::test]
async fn an_ephemeral_event_reaches_the_others_without_a_seq_of_its_own_or_a_place_in_history() {
    let test = start_server().await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join(ROOM).await;
    let student_token = token("acme", Role::Student, "s1");
    let mut student = Client::connect(test.addr, &student_token).await;
    let joined = student.join(ROOM).await;
    let stored = teacher.publish(ROOM, "note", json!({"percent": 10})).await;

    let seq = publish_ephemeral(&mut student, "cursor", json!({"x": 3, "y": 4})).await;
    assert_eq!(seq, None, "an ephemeral publish is answered without a seq");
    let event = teacher
        .recv_until(|message| event_parts(message).is_some_and(|(_, kind, _)| kind == "cursor"))
        .await;
    let ServerMessage::Event(body) = event else {
        panic!("expected an event, got {event:?}")
    };
    assert!(body.ephemeral, "the frame says it is ephemeral");
    assert_eq!(body.seq, stored, "it carries the room's last seq");
    assert_eq!(body.from, "s1");
    assert_eq!(*body.data, json!({"x": 3, "y": 4}));

    // The sender does not get its own position back; the next stored event follows on directly.
    let next = teacher.publish(ROOM, "note", json!({"percent": 20})).await;
    assert_eq!(next, stored + 1, "the ephemeral event took no seq");
    // (The student read past the first stored event while waiting for its reply.)
    let seen = student
        .recv_until(|message| event_parts(message).is_some())
        .await;
    assert_eq!(
        event_parts(&seen).map(|(seq, kind, _)| (seq, kind.to_owned())),
        Some((next, "note".to_owned())),
        "the sender saw no cursor of its own between the two stored events"
    );

    // A member recovering from before both stored events gets them, and not the cursor.
    let mut late = Client::connect(test.addr, &student_token).await;
    let recovered = late
        .join_with(json!({"room": ROOM, "since": {"epoch": joined.epoch, "seq": joined.seq}}))
        .await;
    assert!(recovered.recovered);
    let kinds: Vec<&str> = recovered
        .missed
        .iter()
        .filter_map(|message| event_parts(message).map(|(_, kind, _)| kind))
        .collect();
    assert_eq!(kinds, ["note", "note"], "history holds no ephemeral event");
}

#[tokio::test]
async fn an_ephemeral_publish_keeps_the_rules_and_is_refused_with_an_id_or_as_a_command() {
    let test = start_server().await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join(ROOM).await;
    let mut student = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;

    // Not joined: the same refusal as a stored publish.
    let error = student
        .expect_error(ephemeral(ROOM, "cursor", json!({})))
        .await;
    assert_eq!(error.code, ErrorCode::NotJoined.code(), "{}", error.message);

    student.join(ROOM).await;
    let mut with_id = ephemeral(ROOM, "cursor", json!({}));
    with_id["id"] = json!("e-1");
    let error = student.expect_error(with_id).await;
    assert_eq!(error.code, ErrorCode::InvalidMessage.code());
    assert!(
        error.message.contains("ephemeral") && error.message.contains("id"),
        "{}",
        error.message
    );

    let error = teacher
        .expect_error(ephemeral(ROOM, "freeze", json!({})))
        .await;
    assert!(
        error.message.contains("cannot be ephemeral"),
        "{}",
        error.message
    );
    let error = student
        .expect_error(ephemeral(ROOM, "chat_held", json!({})))
        .await;
    assert!(error.message.contains("class chat"), "{}", error.message);

    // Nothing refused reached the teacher; a valid one still does.
    publish_ephemeral(&mut student, "typing", json!({"on": true})).await;
    let event = teacher
        .recv_until(|message| event_parts(message).is_some())
        .await;
    assert_eq!(event_parts(&event).map(|(_, kind, _)| kind), Some("typing"));
}

#[tokio::test]
async fn a_member_whose_queue_is_busy_loses_ephemeral_events_but_is_not_closed() {
    let test = crate::support::start_with(|config| {
        config.hub.conn_queue_len = 8;
        config.socket.publish_rate = 100_000;
        config.socket.publish_burst = 100_000;
    })
    .await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join(ROOM).await;
    let mut stalled = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;
    stalled.join(ROOM).await;

    // The student reads nothing while 16 MiB of positions go out: far more than the loopback
    // socket buffers and its 8-frame queue hold. A stored event this size would close it (4100).
    let blob = "x".repeat(16 * 1024);
    let sent = 1000;
    for n in 0..sent {
        publish_ephemeral(&mut teacher, "position", json!({"n": n, "blob": blob})).await;
    }
    let room = protocol::RoomId::parse(ROOM, 128).expect("room id");
    assert!(
        test.server
            .app()
            .hub()
            .room_members(&room)
            .iter()
            .any(|member| member.user == "s1"),
        "the busy member is still in the room"
    );
    let after = teacher.publish(ROOM, "note", json!({"percent": 50})).await;

    let mut received = 0;
    loop {
        let message = stalled
            .recv_until(|message| event_parts(message).is_some())
            .await;
        match event_parts(&message) {
            Some((_, "position", _)) => received += 1,
            Some((seq, "note", _)) => {
                assert_eq!(seq, after);
                break;
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert!(
        received < sent,
        "some positions were dropped for the busy member ({received} of {sent} arrived)"
    );
}
