//! Live authority over the native protocol: one class rule for REST and `/ws` (educators act on
//! the classes they teach), role changes, deactivation, parent unlinks, class archives and token
//! expiry reaching open sockets,
//! personal events kept from classmates live and in replay, and the per-tenant caps on rooms and
//! connections. (Pusher's side is in `pusher.rs`.)

use std::time::Duration;

use protocol::{ErrorCode, ServerMessage};
use serde_json::json;
use server::auth::{self, Role};

use crate::classes::School;
use crate::rest::Rest;
use crate::support::{
    Auth, Client, SECRET, event_parts, identity, start_server, start_with, token,
};

#[tokio::test]
async fn an_educator_acts_only_on_the_classes_they_teach_over_rest_and_ws() {
    let test = start_server().await;
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "acme").await;
    let class_id = school.class_with_s1(&rest).await;
    let room = format!("class:acme:{class_id}");

    let mut stranger = Client::connect(test.addr, &school.other_teacher).await;
    let join = stranger
        .expect_error(json!({"type": "join", "room": room}))
        .await;
    assert_eq!(join.code, ErrorCode::Forbidden.code());
    assert!(
        join.message.contains("only the teacher"),
        "{}",
        join.message
    );
    let command = stranger
        .expect_error(json!({"type": "publish", "room": room, "kind": "freeze", "data": {}}))
        .await;
    assert_eq!(command.code, ErrorCode::Forbidden.code());
    rest.post(
        &format!("/api/v1/classes/{class_id}/commands"),
        &school.other_teacher,
        json!({"kind": "freeze"}),
    )
    .await
    .expect_error(403, "only the teacher");

    let mut teacher = Client::connect(test.addr, &school.teacher).await;
    teacher.join(&room).await;
    teacher.publish(&room, "freeze", json!({})).await;
    let mut admin = Client::connect(test.addr, &school.admin).await;
    admin.join(&room).await;
}

#[tokio::test]
async fn a_role_change_and_a_deactivation_reach_open_sockets() {
    let test = start_server().await;
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "acme").await;
    let class_id = school.class_with_s1(&rest).await;
    let room = format!("class:acme:{class_id}");
    let mut teacher = Client::connect(test.addr, &school.teacher).await;
    teacher.join(&room).await;
    let mut student = Client::connect(test.addr, &school.student).await;
    student.join(&room).await;

    // Demoted to student (not on the roster): the socket leaves the room and may not command.
    rest.patch(
        &format!("/api/v1/users/{}", school.id("t1")),
        &school.admin,
        json!({"role": "student"}),
    )
    .await
    .expect(200);
    let notice = teacher
        .recv_until(|message| matches!(message, ServerMessage::Error(_)))
        .await;
    let ServerMessage::Error(notice) = notice else {
        unreachable!()
    };
    assert!(
        notice.message.contains("you may no longer be in"),
        "{}",
        notice.message
    );
    let command = teacher
        .expect_error(json!({"type": "publish", "room": room, "kind": "freeze", "data": {}}))
        .await;
    assert_eq!(command.code, ErrorCode::Forbidden.code());
    let left = student
        .recv_until(|message| matches!(message, ServerMessage::PresenceDiff(diff) if !diff.leaves.is_empty()))
        .await;
    let ServerMessage::PresenceDiff(left) = left else {
        unreachable!()
    };
    assert_eq!(
        (left.leaves[0].user.as_str(), left.leaves[0].reason.as_str()),
        (school.id("t1").as_str(), "revoked")
    );

    // Deactivated: the socket is closed with 4001.
    rest.patch(
        &format!("/api/v1/users/{}", school.id("s1")),
        &school.admin,
        json!({"active": false}),
    )
    .await
    .expect(200);
    assert_eq!(student.close_code().await, Some(4001));
}

/// The notice a socket gets when it has been taken out of `room` by a rules change.
async fn expect_revoked(client: &mut Client, room: &str) {
    let notice = client
        .recv_until(|message| matches!(message, ServerMessage::Error(_)))
        .await;
    let ServerMessage::Error(notice) = notice else {
        unreachable!()
    };
    assert!(
        notice
            .message
            .contains(&format!("you may no longer be in {room}")),
        "{}",
        notice.message
    );
}

#[tokio::test]
async fn a_parent_unlink_and_a_class_archive_reach_open_sockets() {
    let test = start_server().await;
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "acme").await;
    let class_id = school.class_with_s1(&rest).await;
    let class_room = format!("class:acme:{class_id}");
    let child_room = format!("user:acme:{}", school.id("s1"));
    let children = format!("/api/v1/users/{}/children", school.id("p1"));
    let linked = rest
        .post(
            &children,
            &school.admin,
            json!({"child_id": school.id("s1")}),
        )
        .await;
    assert!(linked.status < 300, "{}", linked.body);
    let mut parent = Client::connect(test.addr, &school.parent).await;
    parent.join(&child_room).await;
    let mut student = Client::connect(test.addr, &school.student).await;
    student.join(&class_room).await;

    // Unlinked: the parent's socket leaves the child's room and may not join it again.
    let unlinked = rest
        .delete(&format!("{children}/{}", school.id("s1")), &school.admin)
        .await;
    assert_eq!(unlinked.status, 204, "{}", unlinked.body);
    expect_revoked(&mut parent, &child_room).await;
    let again = parent
        .expect_error(json!({"type": "join", "room": child_room}))
        .await;
    assert_eq!(again.code, ErrorCode::Forbidden.code());

    // Archived: the student's socket leaves the class room and may not publish into it.
    rest.delete(&format!("/api/v1/classes/{class_id}"), &school.teacher)
        .await
        .expect(204);
    expect_revoked(&mut student, &class_room).await;
    let publish = student
        .expect_error(
            json!({"type": "publish", "room": class_room, "kind": "chat", "data": {"text": "hi"}}),
        )
        .await;
    assert_eq!(publish.code, ErrorCode::Forbidden.code());
}

#[tokio::test]
async fn an_expired_token_ends_a_native_socket_unless_a_fresh_one_came_first() {
    let test = start_server().await;
    let short = |user: &str| {
        auth::mint(
            SECRET,
            &auth::claims_for(
                &identity("acme", Role::Student, user),
                Duration::from_secs(2),
            ),
        )
        .expect("mint")
    };
    let mut lapsing = Client::connect(test.addr, &short("s1")).await;
    lapsing.join("class:acme:c1").await;
    let mut renewing = Client::connect(test.addr, &short("s2")).await;
    renewing.join("class:acme:c1").await;
    renewing
        .send(json!({"type": "auth", "ref": 9, "token": token("acme", Role::Student, "s2")}))
        .await;
    let renewed = renewing
        .recv_until(|message| matches!(message, ServerMessage::Reply(_) | ServerMessage::Error(_)))
        .await;
    assert!(matches!(renewed, ServerMessage::Reply(_)), "{renewed:?}");

    assert_eq!(lapsing.close_code().await, Some(4001));
    tokio::time::sleep(Duration::from_millis(500)).await;
    renewing.ping().await;
    renewing
        .publish("class:acme:c1", "chat", json!({"text": "still here"}))
        .await;
}

#[tokio::test]
async fn classmates_do_not_see_one_students_work_live_or_in_replay() {
    const ROOM: &str = "class:acme:c1";
    let test = start_server().await;
    let mut s1 = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;
    let joined = s1.join(ROOM).await;
    let mut s2 = Client::connect(test.addr, &token("acme", Role::Student, "s2")).await;
    s2.join(ROOM).await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join(ROOM).await;

    let work = json!({"student": "s1", "lesson": "fractions-1", "percent": 40});
    teacher.publish(ROOM, "quiz_answer", work.clone()).await;
    // A command to one student (as the commands route writes it: data.target) is theirs too.
    teacher
        .publish(ROOM, "reward", json!({"target": "s1", "points": 5}))
        .await;
    teacher
        .publish(ROOM, "announce", json!({"text": "well done"}))
        .await;
    let kinds_seen = async |client: &mut Client, count: usize| {
        let mut kinds = Vec::new();
        while kinds.len() < count {
            let message = client.recv().await;
            if let Some((_, kind, _)) = event_parts(&message) {
                kinds.push(kind.to_owned());
            }
        }
        kinds
    };
    assert_eq!(
        kinds_seen(&mut s1, 3).await,
        ["quiz_answer", "reward", "announce"]
    );
    assert_eq!(
        kinds_seen(&mut s2, 1).await,
        ["announce"],
        "a classmate never gets another student's work"
    );

    // Replay: the same rule for what a (re)joining socket missed.
    let since = json!({"epoch": joined.epoch, "seq": joined.seq});
    for (user, expected) in [
        ("s1", vec!["quiz_answer", "reward", "announce"]),
        ("s2", vec!["announce"]),
    ] {
        let mut again = Client::connect(test.addr, &token("acme", Role::Student, user)).await;
        let replay = again.join_with(json!({"room": ROOM, "since": since})).await;
        assert!(replay.recovered);
        let kinds: Vec<&str> = replay
            .missed
            .iter()
            .filter_map(|message| event_parts(message).map(|(_, kind, _)| kind))
            .collect();
        assert_eq!(kinds, expected, "{user}'s replay");
    }
}

#[tokio::test]
async fn tenants_are_capped_in_rooms_and_connections() {
    let test = start_with(|config| {
        config.hub.max_rooms_per_tenant = 2;
        config.socket.max_connections_per_tenant = 2;
    })
    .await;
    let mut first = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    first.join("class:acme:a").await;
    first.join("class:acme:b").await;
    let refused = first
        .expect_error(json!({"type": "join", "room": "class:acme:c"}))
        .await;
    assert_eq!(refused.code, ErrorCode::TooManyRooms.code());
    assert!(
        refused.message.contains("organization"),
        "{}",
        refused.message
    );
    let mut other_tenant =
        Client::connect(test.addr, &token("beta", Role::Educator, "beta-t1")).await;
    other_tenant.join("class:beta:c").await;

    let _second = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;
    let mut third = Client::open(
        test.addr,
        Auth::Query(&token("acme", Role::Student, "s2")),
        None,
    )
    .await
    .expect("upgrade");
    assert_eq!(third.close_code().await, Some(4102));
    first.ping().await;
}
