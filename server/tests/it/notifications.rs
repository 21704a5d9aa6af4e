//! Notifications arrive live on a student's socket as `notification` frames and are listed
//! afterwards; parents see their children's; users and parent links over REST; rate limits.

use persistence::test_support::TestDatabase;
use protocol::ServerMessage;
use serde_json::json;

use crate::classes::School;
use crate::rest::Rest;
use crate::support::{Client, TestServer, start_server, start_with, token};
use server::auth::Role;

#[tokio::test]
async fn notifications_arrive_live_and_are_listed_and_parents_see_their_childrens() {
    for db in TestDatabase::all().await {
        let url = Some(db.url().to_owned());
        let test = start_with(move |config| config.database_url = url).await;
        notifications_arrive_live_and_are_listed_and_parents_see_their_childrens_on(&test).await;
        test.server.shutdown().await;
    }
}

async fn notifications_arrive_live_and_are_listed_and_parents_see_their_childrens_on(
    test: &TestServer,
) {
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "ntf").await;
    let class_id = school.class_with_s1(&rest).await;
    let s1 = school.id("s1");

    let mut student = Client::connect(test.addr, &school.student).await;
    student.join(&format!("user:ntf:{s1}")).await;

    // To one student: a `reward` kind still arrives as a notification frame.
    let sent = rest
        .post(
            "/api/v1/notifications",
            &school.teacher,
            json!({"user_id": s1, "kind": "reward", "title": "Great work", "data": {"points": 5}}),
        )
        .await;
    assert_eq!(sent.expect(201)["delivered_live"], 1);
    let frame = student
        .recv_until(|message| matches!(message, ServerMessage::Notification(_)))
        .await;
    let ServerMessage::Notification(body) = frame else {
        unreachable!()
    };
    assert_eq!(body.kind, "reward");
    assert_eq!(body.data["title"], "Great work");
    assert_eq!(body.data["data"]["points"], 5);
    let live_id = body.data["id"].as_str().expect("id").to_owned();

    // To the class (the roster); to everyone (admins only).
    let to_class = rest
        .post(
            "/api/v1/notifications",
            &school.teacher,
            json!({"class_id": class_id, "kind": "message", "title": "Quiz tomorrow"}),
        )
        .await;
    assert_eq!(to_class.expect(201)["recipients"], 1);
    let everyone = rest
        .post(
            "/api/v1/notifications",
            &school.teacher,
            json!({"everyone": true, "kind": "message", "title": "x"}),
        )
        .await;
    assert_eq!(everyone.status, 403);
    let by_admin = rest
        .post(
            "/api/v1/notifications",
            &school.admin,
            json!({"everyone": true, "kind": "message", "title": "School closed"}),
        )
        .await;
    assert_eq!(by_admin.expect(201)["recipients"], 6);

    // Denials: students may not send; educators only to students they teach; bad input is 422.
    let by_student = rest
        .post(
            "/api/v1/notifications",
            &school.student,
            json!({"user_id": s1, "kind": "message", "title": "x"}),
        )
        .await;
    assert_eq!(by_student.status, 403);
    let not_taught = rest
        .post(
            "/api/v1/notifications",
            &school.teacher,
            json!({"user_id": school.id("s2"), "kind": "message", "title": "x"}),
        )
        .await;
    assert_eq!(not_taught.status, 403);
    let both = rest
        .post(
            "/api/v1/notifications",
            &school.teacher,
            json!({"user_id": s1, "class_id": class_id, "kind": "message", "title": "x"}),
        )
        .await;
    assert_eq!(both.status, 422);
    let bad_kind = rest
        .post(
            "/api/v1/notifications",
            &school.teacher,
            json!({"user_id": s1, "kind": "no spaces", "title": "x"}),
        )
        .await;
    assert_eq!(bad_kind.status, 422);

    // Listed afterwards, newest first, unread; marked read.
    let listed = rest.get("/api/v1/notifications", &school.student).await;
    let items = listed.expect(200)["items"]
        .as_array()
        .expect("items")
        .clone();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["title"], "School closed");
    assert_eq!(items[2]["id"], live_id);
    assert!(items.iter().all(|item| item["read_at"].is_null()));
    let read = rest
        .post(
            &format!("/api/v1/notifications/{live_id}/read"),
            &school.student,
            json!({}),
        )
        .await;
    assert!(read.expect(200)["read_at"].is_string());
    let unread = rest
        .get("/api/v1/notifications?unread=true", &school.student)
        .await;
    assert_eq!(
        unread.expect(200)["items"].as_array().expect("items").len(),
        2
    );
    let not_mine = rest
        .post(
            &format!("/api/v1/notifications/{live_id}/read"),
            &school.other_student,
            json!({}),
        )
        .await;
    assert_eq!(not_mine.status, 404);
    let others = rest
        .get(
            &format!("/api/v1/notifications?user_id={s1}"),
            &school.other_student,
        )
        .await;
    assert_eq!(others.status, 403);

    // Parents: not before the link, yes after; the link also opens the child's user room.
    let before = rest
        .get(
            &format!("/api/v1/notifications?user_id={s1}"),
            &school.parent,
        )
        .await;
    assert_eq!(before.status, 403);
    let mut parent_socket = Client::connect(test.addr, &school.parent).await;
    let refused = parent_socket
        .expect_error(json!({"type": "join", "room": format!("user:ntf:{s1}")}))
        .await;
    assert_eq!(refused.code, protocol::ErrorCode::Forbidden.code());
    let link_by_teacher = rest
        .post(
            &format!("/api/v1/users/{}/children", school.id("p1")),
            &school.teacher,
            json!({"child_id": s1}),
        )
        .await;
    assert_eq!(link_by_teacher.status, 403);
    rest.post(
        &format!("/api/v1/users/{}/children", school.id("p1")),
        &school.admin,
        json!({"child_id": s1}),
    )
    .await
    .expect(204);
    parent_socket.join(&format!("user:ntf:{s1}")).await;
    let seen = rest
        .get(
            &format!("/api/v1/notifications?user_id={s1}"),
            &school.parent,
        )
        .await;
    assert_eq!(
        seen.expect(200)["items"].as_array().expect("items").len(),
        3
    );
    let children = rest
        .get(
            &format!("/api/v1/users/{}/children", school.id("p1")),
            &school.parent,
        )
        .await;
    assert_eq!(children.expect(200)["items"][0]["id"], s1);
}

#[tokio::test]
async fn admins_manage_users_and_deactivated_users_are_refused() {
    for db in TestDatabase::all().await {
        let url = Some(db.url().to_owned());
        let test = start_with(move |config| config.database_url = url).await;
        admins_manage_users_and_deactivated_users_are_refused_on(&test).await;
        test.server.shutdown().await;
    }
}

async fn admins_manage_users_and_deactivated_users_are_refused_on(test: &TestServer) {
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "usr").await;

    let listed = rest.get("/api/v1/users?limit=3", &school.admin).await;
    let listed = listed.expect(200).clone();
    assert_eq!(listed["items"].as_array().expect("items").len(), 3);
    assert!(listed["next_cursor"].is_string());
    let students = rest
        .get("/api/v1/users?role=student", &school.teacher)
        .await;
    assert_eq!(
        students.expect(200)["items"]
            .as_array()
            .expect("items")
            .len(),
        2
    );
    for denied in [
        rest.get("/api/v1/users", &school.teacher).await,
        rest.get("/api/v1/users", &school.student).await,
        rest.get(
            &format!("/api/v1/users/{}", school.id("s2")),
            &school.student,
        )
        .await,
        rest.patch(
            &format!("/api/v1/users/{}", school.id("s1")),
            &school.teacher,
            json!({"role": "admin"}),
        )
        .await,
    ] {
        assert_eq!(denied.status, 403, "{}", denied.body);
    }
    rest.get(
        &format!("/api/v1/users/{}", school.id("s1")),
        &school.student,
    )
    .await
    .expect(200);
    let bad_role = rest
        .patch(
            &format!("/api/v1/users/{}", school.id("s1")),
            &school.admin,
            json!({"role": "wizard"}),
        )
        .await;
    assert_eq!(bad_role.status, 422);
    assert!(bad_role.body["error"]["fields"]["role"].is_string());
    let created = rest
        .post(
            "/api/v1/users",
            &school.admin,
            json!({"id": "usr-new", "role": "student", "display_name": "New"}),
        )
        .await;
    assert_eq!(created.expect(201)["role"], "student");
    let taken = rest
        .post(
            "/api/v1/users",
            &school.admin,
            json!({"id": "usr-new", "role": "student"}),
        )
        .await;
    assert_eq!(taken.status, 409);

    // Promote t2 to admin: their next request acts as admin.
    rest.patch(
        &format!("/api/v1/users/{}", school.id("t2")),
        &school.admin,
        json!({"role": "admin"}),
    )
    .await
    .expect(200);
    rest.get("/api/v1/users", &school.other_teacher)
        .await
        .expect(200);

    // Deactivate s2: their open socket is closed (4001), REST refuses (403), so does a new socket.
    let mut open_socket = Client::connect(test.addr, &school.other_student).await;
    open_socket
        .join(&format!("user:usr:{}", school.id("s2")))
        .await;
    rest.patch(
        &format!("/api/v1/users/{}", school.id("s2")),
        &school.admin,
        json!({"active": false}),
    )
    .await
    .expect(200);
    assert_eq!(open_socket.close_code().await, Some(4001));
    let refused = rest.get("/api/v1/auth/me", &school.other_student).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let socket = Client::open(
        test.addr,
        crate::support::Auth::Query(&school.other_student),
        None,
    )
    .await;
    assert!(socket.is_err(), "a deactivated user's socket is refused");
    let myself = rest
        .patch(
            &format!("/api/v1/users/{}", school.id("admin")),
            &school.admin,
            json!({"active": false}),
        )
        .await;
    assert_eq!(myself.status, 409);
}

#[tokio::test]
async fn the_tokens_role_wins_until_an_admin_sets_one() {
    let test = start_server().await;
    let rest = Rest::new(test.addr);
    let admin = token("roles", Role::Admin, "a1");
    let as_student = token("roles", Role::Student, "u1");
    let me = rest.get("/api/v1/auth/me", &as_student).await;
    assert_eq!(me.expect(200)["role"], "student");
    // The identity provider promotes u1: the new token's role counts.
    let as_educator = token("roles", Role::Educator, "u1");
    let me = rest.get("/api/v1/auth/me", &as_educator).await;
    assert_eq!(me.expect(200)["role"], "educator");
    // An admin sets the role: from now on it wins over whatever the token says.
    rest.patch("/api/v1/users/u1", &admin, json!({"role": "parent"}))
        .await
        .expect(200);
    let me = rest.get("/api/v1/auth/me", &as_educator).await;
    assert_eq!(me.expect(200)["role"], "parent");
    test.server.shutdown().await;
}

#[tokio::test]
async fn rest_requests_are_rate_limited_per_token_with_retry_after() {
    let test = start_with(|config| {
        config.api_limits.per_token_rate = 1;
        config.api_limits.per_token_burst = 3;
    })
    .await;
    let rest = Rest::new(test.addr);
    let token = crate::support::token("rl", server::auth::Role::Student, "rl-s1");
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..6 {
        let answer = rest.get("/api/v1/auth/me", &token).await;
        if answer.status == 429 {
            assert_eq!(answer.code(), "rate_limited");
            retry_after = answer.retry_after.clone();
        }
        statuses.push(answer.status);
    }
    assert_eq!(&statuses[..3], &[200, 200, 200], "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    let seconds: u64 = retry_after
        .expect("Retry-After")
        .parse()
        .expect("whole seconds");
    assert!(seconds >= 1);
    // Another user from the same address still gets through (per-token, not global).
    let other = crate::support::token("rl", server::auth::Role::Student, "rl-s2");
    rest.get("/api/v1/auth/me", &other).await.expect(200);
}

#[tokio::test]
async fn rest_requests_are_rate_limited_per_ip() {
    let test = start_with(|config| {
        config.api_limits.per_ip_rate = 1;
        config.api_limits.per_ip_burst = 4;
    })
    .await;
    let rest = Rest::new(test.addr);
    let mut limited = None;
    for n in 0..8 {
        let token = crate::support::token("ip", server::auth::Role::Student, &format!("ip-s{n}"));
        let answer = rest.get("/api/v1/auth/me", &token).await;
        if answer.status == 429 {
            limited = Some(answer);
            break;
        }
    }
    let limited = limited.expect("the address ran out of budget");
    assert!(limited.retry_after.is_some());
    // Unauthenticated requests count too, and still get the one error shape.
    let anonymous = rest.call("GET", "/api/v1/classes", None, None).await;
    assert_eq!(anonymous.status, 429);
}
