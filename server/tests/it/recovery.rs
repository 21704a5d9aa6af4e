//! Recovery: rejoining with `since {epoch, seq}` replays exactly what was missed while the
//! history covers it, and says `recovered: false` with a fresh snapshot when it does not.

use protocol::ServerMessage;
use serde_json::json;
use server::auth::Role;

use crate::support::{Client, event_parts, start_server, start_with, token};

const ROOM: &str = "class:acme:c1";

#[tokio::test]
async fn rejoining_with_since_yields_exactly_the_missed_events() {
    let test = start_server().await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join(ROOM).await;
    teacher.publish(ROOM, "before", json!({"n": 0})).await;

    let student_token = token("acme", Role::Student, "s1");
    let mut student = Client::connect(test.addr, &student_token).await;
    let first = student.join(ROOM).await;
    assert_eq!(first.seq, 1);
    student.ws.close(None).await.expect("close");

    for n in 1..=3 {
        teacher.publish(ROOM, "missed", json!({"n": n})).await;
    }

    let mut student = Client::connect(test.addr, &student_token).await;
    let rejoined = student
        .join_with(json!({"room": ROOM, "since": {"epoch": first.epoch, "seq": first.seq}}))
        .await;
    assert!(rejoined.recovered);
    assert_eq!(rejoined.epoch, first.epoch);
    assert_eq!(rejoined.seq, 4);
    let missed: Vec<_> = rejoined
        .missed
        .iter()
        .map(|message| event_parts(message).expect("an event"))
        .collect();
    assert_eq!(missed.len(), 3);
    for (index, (seq, kind, data)) in missed.into_iter().enumerate() {
        assert_eq!(seq, first.seq + 1 + index as u64);
        assert_eq!(kind, "missed");
        assert_eq!(data, &json!({"n": index + 1}));
    }

    // And the stream continues live after the recovered part.
    teacher.publish(ROOM, "live", json!({})).await;
    let live = student
        .recv_until(|message| matches!(message, ServerMessage::Event(_)))
        .await;
    assert_eq!(
        event_parts(&live).map(|(seq, kind, _)| (seq, kind.to_owned())),
        Some((5, "live".to_owned()))
    );
}

#[tokio::test]
async fn since_older_than_history_or_from_another_epoch_is_not_recovered() {
    let test = start_with(|config| config.hub.history_len = 2).await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join(ROOM).await;
    let mut student = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;
    let first = student.join(ROOM).await;
    student.ws.close(None).await.expect("close");
    for n in 0..5 {
        teacher.publish(ROOM, "note", json!({"n": n})).await;
    }

    let mut student = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;
    let too_old = student
        .join_with(json!({"room": ROOM, "since": {"epoch": first.epoch, "seq": first.seq}}))
        .await;
    assert!(
        !too_old.recovered,
        "5 missed events do not fit a history of 2"
    );
    assert!(too_old.missed.is_empty());
    assert_eq!(too_old.seq, 5, "the snapshot is current");
    assert_eq!(too_old.members.len(), 2);

    // Each check on a socket of its own: a socket already in the room is never replayed to.
    let mut student = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;
    let other_epoch = student
        .join_with(json!({"room": ROOM, "since": {"epoch": first.epoch + 1, "seq": 5}}))
        .await;
    assert!(
        !other_epoch.recovered,
        "a seq from another epoch means nothing here"
    );
    assert!(other_epoch.missed.is_empty());

    let mut student = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;
    let from_the_future = student
        .join_with(json!({"room": ROOM, "since": {"epoch": first.epoch, "seq": 99}}))
        .await;
    assert!(!from_the_future.recovered);

    let mut student = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;
    let within = student
        .join_with(json!({"room": ROOM, "since": {"epoch": first.epoch, "seq": 4}}))
        .await;
    assert!(within.recovered);
    assert_eq!(within.missed.len(), 1);
}

#[tokio::test]
async fn a_rejoin_of_a_socket_already_in_the_room_updates_presence_and_replays_nothing() {
    let test = start_server().await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join(ROOM).await;
    let mut student = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;
    let first = student.join(ROOM).await;
    for n in 1..=3 {
        teacher.publish(ROOM, "seen", json!({"n": n})).await;
    }
    for _ in 1..=3 {
        student
            .recv_until(|message| matches!(message, ServerMessage::Event(_)))
            .await;
    }
    // Asking again from the first join's position: the socket got every event live already.
    let rejoined = student
        .join_with(json!({
            "room": ROOM,
            "since": {"epoch": first.epoch, "seq": first.seq},
            "presence": {"status": "busy"},
        }))
        .await;
    assert!(rejoined.missed.is_empty(), "{:?}", rejoined.missed);
    assert!(rejoined.recovered);
    assert_eq!(rejoined.seq, first.seq + 3);
    let ServerMessage::PresenceDiff(diff) = teacher
        .recv_until(|message| match message {
            ServerMessage::PresenceDiff(diff) => !diff.updates.is_empty(),
            _ => false,
        })
        .await
    else {
        unreachable!()
    };
    assert_eq!(diff.updates[0].user, "s1");
    assert_eq!(diff.updates[0].state, json!({"status": "busy"}));
    assert!(diff.joins.is_empty(), "a re-join is not a second join");
}
