//! Classes and rosters over REST, and rosters reaching the hub over real sockets: on-roster
//! joins accepted, off-roster refused, a removal takes the student out of the live room.

use persistence::test_support::TestDatabase;
use protocol::{ErrorCode, ServerMessage};
use serde_json::json;
use server::auth::Role;

use crate::rest::Rest;
use crate::support::{Client, TestServer, start_server, start_with, token};

/// A tenant with an admin, two educators, two students and a parent, all seen once.
pub struct School {
    pub tenant: String,
    pub admin: String,
    pub teacher: String,
    pub other_teacher: String,
    pub student: String,
    pub other_student: String,
    pub parent: String,
}

impl School {
    /// Makes the users (first sight of their tokens creates them).
    pub async fn enroll(rest: &Rest, tenant: &str) -> School {
        let school = School {
            tenant: tenant.to_owned(),
            admin: token(tenant, Role::Admin, &format!("{tenant}-admin")),
            teacher: token(tenant, Role::Educator, &format!("{tenant}-t1")),
            other_teacher: token(tenant, Role::Educator, &format!("{tenant}-t2")),
            student: token(tenant, Role::Student, &format!("{tenant}-s1")),
            other_student: token(tenant, Role::Student, &format!("{tenant}-s2")),
            parent: token(tenant, Role::Parent, &format!("{tenant}-p1")),
        };
        for person in [
            &school.admin,
            &school.teacher,
            &school.other_teacher,
            &school.student,
            &school.other_student,
            &school.parent,
        ] {
            rest.get("/api/v1/auth/me", person).await.expect(200);
        }
        school
    }

    pub fn id(&self, who: &str) -> String {
        format!("{}-{who}", self.tenant)
    }

    /// A class taught by `t1` with `s1` on its roster; returns its id.
    pub async fn class_with_s1(&self, rest: &Rest) -> String {
        let class = rest
            .post("/api/v1/classes", &self.teacher, json!({"name": "Math 7B"}))
            .await;
        let class_id = class.expect(201)["id"].as_str().expect("id").to_owned();
        rest.post(
            &format!("/api/v1/classes/{class_id}/students"),
            &self.teacher,
            json!({"user_ids": [self.id("s1")]}),
        )
        .await
        .expect(200);
        class_id
    }
}

#[tokio::test]
async fn classes_crud_roster_and_code_with_role_checks() {
    for db in TestDatabase::all().await {
        let url = Some(db.url().to_owned());
        let test = start_with(move |config| config.database_url = url).await;
        classes_crud_roster_and_code_with_role_checks_on(&test).await;
        test.server.shutdown().await;
    }
}

async fn classes_crud_roster_and_code_with_role_checks_on(test: &TestServer) {
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "acme").await;

    // Create: educators teach what they create; students and parents may not create.
    let created = rest
        .post(
            "/api/v1/classes",
            &school.teacher,
            json!({"name": "Math 7B"}),
        )
        .await;
    let class = created.expect(201).clone();
    let class_id = class["id"].as_str().expect("id");
    assert_eq!(class["teacher_id"], school.id("t1"));
    assert_eq!(class["class_code"].as_str().expect("code").len(), 6);
    for denied in [&school.student, &school.parent] {
        let answer = rest
            .post("/api/v1/classes", denied, json!({"name": "x"}))
            .await;
        assert_eq!((answer.status, answer.code()), (403, "forbidden"));
    }
    let invalid = rest
        .post("/api/v1/classes", &school.teacher, json!({"name": ""}))
        .await;
    assert_eq!(invalid.status, 422);
    assert!(
        invalid.body["error"]["fields"]["name"].is_string(),
        "{}",
        invalid.body
    );
    let unknown_field = rest
        .post(
            "/api/v1/classes",
            &school.teacher,
            json!({"name": "x", "colour": 1}),
        )
        .await;
    assert_eq!(unknown_field.status, 422);
    let no_token = rest.call("GET", "/api/v1/classes", None, None).await;
    assert_eq!((no_token.status, no_token.code()), (401, "unauthorized"));

    // Roster: only students of the tenant; 422 names the offending entries.
    let bad_roster = rest
        .post(
            &format!("/api/v1/classes/{class_id}/students"),
            &school.teacher,
            json!({"user_ids": [school.id("s1"), school.id("t2"), "nobody"]}),
        )
        .await;
    assert_eq!(bad_roster.status, 422, "{}", bad_roster.body);
    assert!(bad_roster.body["error"]["fields"]["user_ids[1]"].is_string());
    assert!(bad_roster.body["error"]["fields"]["user_ids[2]"].is_string());
    let added = rest
        .post(
            &format!("/api/v1/classes/{class_id}/students"),
            &school.teacher,
            json!({"user_ids": [school.id("s1")]}),
        )
        .await;
    assert_eq!(added.expect(200)["added"], json!([school.id("s1")]));
    let roster = rest
        .get(
            &format!("/api/v1/classes/{class_id}/students"),
            &school.teacher,
        )
        .await;
    assert_eq!(roster.expect(200)["items"][0]["id"], school.id("s1"));

    // Another educator of the tenant: 403 on someone else's class; the admin may.
    let other = rest
        .get(
            &format!("/api/v1/classes/{class_id}/students"),
            &school.other_teacher,
        )
        .await;
    assert_eq!(other.status, 403);
    rest.get(
        &format!("/api/v1/classes/{class_id}/students"),
        &school.admin,
    )
    .await
    .expect(200);

    // Lists: the teacher sees it, the rostered student sees it, the other student does not.
    let listed = rest.get("/api/v1/classes", &school.teacher).await;
    assert_eq!(
        listed.expect(200)["items"].as_array().expect("items").len(),
        1
    );
    let mine = rest.get("/api/v1/classes", &school.student).await;
    assert_eq!(mine.expect(200)["items"][0]["id"], class["id"]);
    let none = rest.get("/api/v1/classes", &school.other_student).await;
    assert_eq!(none.expect(200)["items"], json!([]));
    rest.get(&format!("/api/v1/classes/{class_id}"), &school.student)
        .await
        .expect(200);
    let outsider = rest
        .get(
            &format!("/api/v1/classes/{class_id}"),
            &school.other_student,
        )
        .await;
    assert_eq!(outsider.status, 403);
    let missing = rest.get("/api/v1/classes/cls_nope", &school.admin).await;
    assert_eq!((missing.status, missing.code()), (404, "not_found"));

    // Code regeneration changes the code; rename; a student may not.
    let regenerated = rest
        .post(
            &format!("/api/v1/classes/{class_id}/code"),
            &school.teacher,
            json!({}),
        )
        .await;
    assert_ne!(regenerated.expect(200)["class_code"], class["class_code"]);
    let denied = rest
        .post(
            &format!("/api/v1/classes/{class_id}/code"),
            &school.student,
            json!({}),
        )
        .await;
    assert_eq!(denied.status, 403);
    let renamed = rest
        .patch(
            &format!("/api/v1/classes/{class_id}"),
            &school.teacher,
            json!({"name": "Math 7C"}),
        )
        .await;
    assert_eq!(renamed.expect(200)["name"], "Math 7C");
    let teacher_change = rest
        .patch(
            &format!("/api/v1/classes/{class_id}"),
            &school.teacher,
            json!({"teacher_id": school.id("t2")}),
        )
        .await;
    assert_eq!(teacher_change.status, 403, "only admins reassign a class");

    // Pagination: a cursor walks pages without repeats.
    for n in 0..3 {
        rest.post(
            "/api/v1/classes",
            &school.teacher,
            json!({"name": format!("c{n}")}),
        )
        .await
        .expect(201);
    }
    let first = rest.get("/api/v1/classes?limit=2", &school.teacher).await;
    let first = first.expect(200).clone();
    let cursor = first["next_cursor"].as_str().expect("more pages");
    let second = rest
        .get(
            &format!("/api/v1/classes?limit=2&cursor={cursor}"),
            &school.teacher,
        )
        .await;
    let second = second.expect(200).clone();
    assert_eq!(second["items"].as_array().expect("items").len(), 2);
    assert!(second["next_cursor"].is_null());
    assert_ne!(first["items"][1]["id"], second["items"][0]["id"]);
    let bad_cursor = rest
        .get("/api/v1/classes?cursor=%%%", &school.teacher)
        .await;
    assert_eq!(bad_cursor.status, 422);
    let bad_limit = rest.get("/api/v1/classes?limit=0", &school.teacher).await;
    assert_eq!(bad_limit.status, 422);

    // Archive: gone from the API.
    rest.delete(&format!("/api/v1/classes/{class_id}"), &school.teacher)
        .await
        .expect(204);
    let gone = rest
        .get(&format!("/api/v1/classes/{class_id}"), &school.teacher)
        .await;
    assert_eq!(gone.status, 404);
}

#[tokio::test]
async fn rosters_gate_class_rooms_and_a_removal_takes_the_student_out() {
    let test = start_server().await;
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "gate").await;
    let class_id = school.class_with_s1(&rest).await;
    let room = format!("class:gate:{class_id}");

    let mut teacher = Client::connect(test.addr, &school.teacher).await;
    teacher.join(&room).await;
    let mut student = Client::connect(test.addr, &school.student).await;
    let joined = student.join(&room).await;
    assert_eq!(joined.room, room);

    // Off the roster: refused with a sentence that says why.
    let mut outsider = Client::connect(test.addr, &school.other_student).await;
    let refused = outsider
        .expect_error(json!({"type": "join", "room": room}))
        .await;
    assert_eq!(refused.code, ErrorCode::Forbidden.code());
    assert!(refused.message.contains("roster"), "{}", refused.message);
    // A class room that is not a class of the tenant is refused too, once classes exist.
    let unknown = outsider
        .expect_error(json!({"type": "join", "room": "class:gate:not-a-class"}))
        .await;
    assert_eq!(unknown.code, ErrorCode::Forbidden.code());

    // Live view: both present, the student online with progress fields.
    let live = rest
        .get(&format!("/api/v1/classes/{class_id}/live"), &school.teacher)
        .await;
    let live = live.expect(200).clone();
    let online: Vec<&str> = live["online"]
        .as_array()
        .expect("online")
        .iter()
        .filter_map(|member| member["user"].as_str())
        .collect();
    assert!(online.contains(&school.id("s1").as_str()), "{live}");
    assert_eq!(live["students"][0]["online"], true);
    let denied = rest
        .get(&format!("/api/v1/classes/{class_id}/live"), &school.student)
        .await;
    assert_eq!(denied.status, 403);

    // Removal: the student's socket leaves the room with a clear reason, the teacher sees it.
    rest.delete(
        &format!("/api/v1/classes/{class_id}/students/{}", school.id("s1")),
        &school.teacher,
    )
    .await
    .expect(204);
    let notice = student
        .recv_until(|message| matches!(message, ServerMessage::Error(_)))
        .await;
    match notice {
        ServerMessage::Error(error) => assert!(
            error.message.contains("you may no longer be in")
                && error.message.contains("not on the roster"),
            "{}",
            error.message
        ),
        other => panic!("expected an error frame, got {other:?}"),
    }
    let leave = teacher
        .recv_until(|message| matches!(message, ServerMessage::PresenceDiff(diff) if !diff.leaves.is_empty()))
        .await;
    match leave {
        ServerMessage::PresenceDiff(diff) => {
            assert_eq!(diff.leaves[0].user, school.id("s1"));
            assert_eq!(diff.leaves[0].reason, "revoked");
        }
        other => panic!("expected a leave, got {other:?}"),
    }
    // Still connected, but no longer in the room: publishing is refused, rejoining too.
    let publish = student
        .expect_error(json!({"type": "publish", "room": room, "kind": "chat", "data": {}}))
        .await;
    assert_eq!(publish.code, ErrorCode::Forbidden.code());
    let rejoin = student
        .expect_error(json!({"type": "join", "room": room}))
        .await;
    assert_eq!(rejoin.code, ErrorCode::Forbidden.code());

    // Added back: the join works again without reconnecting.
    rest.post(
        &format!("/api/v1/classes/{class_id}/students"),
        &school.teacher,
        json!({"user_ids": [school.id("s1")]}),
    )
    .await
    .expect(200);
    student.join(&room).await;
}
