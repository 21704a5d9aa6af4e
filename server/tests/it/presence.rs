//! Presence and ordering: members see each other's joins, leaves and events in `seq` order;
//! presence is per user, not per socket; updates within the presence window are coalesced.

use protocol::ServerMessage;
use serde_json::json;
use server::auth::Role;

use crate::support::{Client, event_parts, eventually, start_server, start_with, token};

const ROOM: &str = "class:acme:c1";

#[tokio::test]
async fn two_members_see_each_others_presence_and_events_in_seq_order() {
    let test = start_server().await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    let mut student = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;

    let joined = teacher.join(ROOM).await;
    assert_eq!(joined.members.len(), 1);
    let joined = student.join(ROOM).await;
    let mut present: Vec<_> = joined
        .members
        .iter()
        .map(|member| member.user.as_str())
        .collect();
    present.sort();
    assert_eq!(present, ["s1", "t1"]);

    let ServerMessage::PresenceDiff(diff) = teacher.recv().await else {
        panic!("teacher sees the join")
    };
    assert_eq!(diff.joins.len(), 1);
    assert_eq!(diff.joins[0].user, "s1");
    assert_eq!(diff.joins[0].role, "student");
    assert_eq!(diff.joins[0].name.as_deref(), Some("name of s1"));

    // Both publish, interleaved; both see all six events, numbered 1..=6 without gaps.
    for round in 0..3 {
        teacher
            .send(
                json!({"type": "publish", "room": ROOM, "kind": "note", "data": {"round": round}}),
            )
            .await;
        student.send(json!({"type": "publish", "room": ROOM, "kind": "chat", "data": {"text": format!("hi {round}")}})).await;
    }
    for client in [&mut teacher, &mut student] {
        let mut seqs = Vec::new();
        let mut kinds = Vec::new();
        while seqs.len() < 6 {
            let message = client.recv().await;
            if let Some((seq, kind, _)) = event_parts(&message) {
                seqs.push(seq);
                kinds.push(kind.to_owned());
            }
        }
        assert_eq!(seqs, (1..=6).collect::<Vec<u64>>());
        assert_eq!(kinds.iter().filter(|kind| *kind == "chat").count(), 3);
    }

    // The student leaving is seen by the teacher with its reason.
    student.send(json!({"type": "leave", "room": ROOM})).await;
    let ServerMessage::PresenceDiff(diff) = teacher.recv().await else {
        panic!("teacher sees the leave")
    };
    assert_eq!(diff.leaves.len(), 1);
    assert_eq!(
        (diff.leaves[0].user.as_str(), diff.leaves[0].reason.as_str()),
        ("s1", "left")
    );
}

#[tokio::test]
async fn a_user_with_two_sockets_joins_once_and_leaves_once() {
    let test = start_server().await;
    let hub = test.server.app().hub().clone();
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join(ROOM).await;

    let student_token = token("acme", Role::Student, "s1");
    let mut first = Client::connect(test.addr, &student_token).await;
    first.join(ROOM).await;
    let ServerMessage::PresenceDiff(diff) = teacher.recv().await else {
        panic!("first join")
    };
    assert_eq!(diff.joins[0].user, "s1");

    let mut second = Client::connect(test.addr, &student_token).await;
    let joined = second.join(ROOM).await;
    assert_eq!(
        joined
            .members
            .iter()
            .filter(|member| member.user == "s1")
            .count(),
        1,
        "one entry per user"
    );

    // Closing one of the two sockets is not a leave.
    first.ws.close(None).await.expect("close first");
    eventually("the first socket to be gone", || {
        hub.connection_count() == 2
    })
    .await;
    // A marker event proves the teacher got nothing in between.
    teacher
        .send(json!({"type": "publish", "room": ROOM, "kind": "marker", "data": {}}))
        .await;
    let next = teacher.recv().await;
    assert!(
        matches!(next, ServerMessage::Event(ref body) if body.kind == "marker"),
        "no leave yet, got {next:?}"
    );

    // Closing the last socket is.
    second.ws.close(None).await.expect("close second");
    let ServerMessage::PresenceDiff(diff) = teacher
        .recv_until(|message| matches!(message, ServerMessage::PresenceDiff(_)))
        .await
    else {
        unreachable!()
    };
    assert!(diff.joins.is_empty());
    assert_eq!(diff.leaves.len(), 1);
    assert_eq!(
        (diff.leaves[0].user.as_str(), diff.leaves[0].reason.as_str()),
        ("s1", "disconnected")
    );
}

#[tokio::test]
async fn presence_state_changes_reach_the_room() {
    let test = start_server().await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    let mut student = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;
    teacher.join(ROOM).await;
    // Roblox writes an empty table as [] — accepted as {}.
    student
        .join_with(json!({"room": ROOM, "presence": []}))
        .await;
    teacher.recv().await; // the join
    student
        .send(json!({"type": "presence", "room": ROOM, "state": {"status": "in_game"}}))
        .await;
    let ServerMessage::PresenceDiff(diff) = teacher.recv().await else {
        panic!("update")
    };
    assert_eq!(diff.updates.len(), 1);
    assert_eq!(diff.updates[0].state, json!({"status": "in_game"}));
}

/// Presence updates within the window reach the room as one diff holding each user's latest
/// state, and never after a frame the room sent later.
#[tokio::test]
async fn presence_updates_within_the_window_are_coalesced_into_one_diff() {
    let test = start_with(|config| {
        config.hub.presence_window = std::time::Duration::from_secs(2);
    })
    .await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join(ROOM).await;
    let mut students = Vec::new();
    for user in ["s1", "s2"] {
        let mut student = Client::connect(test.addr, &token("acme", Role::Student, user)).await;
        student.join(ROOM).await;
        teacher.recv().await; // the join
        students.push(student);
    }
    // The first update goes out at once; the rest wait for the window's end.
    for (student, status) in [(0, "a"), (0, "b"), (1, "c"), (0, "d"), (1, "e")] {
        students[student]
            .send(json!({"type": "presence", "room": ROOM, "state": {"status": status}}))
            .await;
    }
    let ServerMessage::PresenceDiff(first) = teacher.recv().await else {
        panic!("the first update")
    };
    assert_eq!(first.updates.len(), 1);
    assert_eq!(first.updates[0].state, json!({"status": "a"}));
    // A publish makes the room send what is pending first, so frames keep their order.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    teacher
        .send(json!({"type": "publish", "room": ROOM, "kind": "chat", "data": {"text": "look"}}))
        .await;
    let coalesced = loop {
        match teacher.recv().await {
            ServerMessage::PresenceDiff(diff) => break diff,
            ServerMessage::Reply(_) => continue,
            other => panic!("the coalesced updates come before the event: {other:?}"),
        }
    };
    let mut latest: Vec<(String, String)> = coalesced
        .updates
        .iter()
        .map(|member| {
            (
                member.user.clone(),
                member.state["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    latest.sort();
    assert_eq!(
        latest,
        [
            ("s1".to_owned(), "d".to_owned()),
            ("s2".to_owned(), "e".to_owned())
        ]
    );
    let event = teacher
        .recv_until(|message| !matches!(message, ServerMessage::Reply(_)))
        .await;
    assert!(event_parts(&event).is_some(), "{event:?}");
    // Without another frame, the window's end sends what is pending.
    students[1]
        .send(json!({"type": "presence", "room": ROOM, "state": {"status": "f"}}))
        .await;
    let ServerMessage::PresenceDiff(late) = teacher.recv().await else {
        panic!("the update at the window's end")
    };
    assert_eq!(late.updates.len(), 1);
    assert_eq!(late.updates[0].state, json!({"status": "f"}));
}
