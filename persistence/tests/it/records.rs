//! The contract of the REST API's records, identical on both backends: users on first sight and
//! across tenants, keyset pages, rosters and what the hub loads, lesson order and positions,
//! JSON columns, notification pages newest first, and progress pages.

use persistence::test_support::TestDatabase;
use persistence::{CourseFields, LessonFields, NewNotification, Page, UserChanges};
use serde_json::json;

use crate::support::event;

fn first(limit: u32) -> Page<String> {
    Page { limit, after: None }
}

#[tokio::test]
async fn directory_classes_content_and_notifications_behave_alike() {
    for db in TestDatabase::all().await {
        let store = db.store().await;
        let backend = store.backend();

        // Users: created once, the first tenant keeps the id; pages by id.
        let created = store
            .ensure_user("acme", "s1", "student", Some("Ada"))
            .await
            .expect("ensure");
        assert_eq!(
            (created.tenant_id.as_str(), created.active),
            ("acme", true),
            "{backend:?}"
        );
        let again = store
            .ensure_user("beta", "s1", "admin", None)
            .await
            .expect("ensure again");
        assert_eq!(
            again.tenant_id, "acme",
            "a user id stays in its first tenant"
        );
        for user in ["s2", "s3", "t1"] {
            let role = if user.starts_with('t') {
                "educator"
            } else {
                "student"
            };
            store
                .ensure_user("acme", user, role, None)
                .await
                .expect("ensure");
        }
        let page = store
            .users("acme", Some("student"), &first(2))
            .await
            .expect("users");
        assert_eq!(
            page.items.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
            ["s1", "s2"]
        );
        assert!(page.has_more);
        let next = Page {
            limit: 2,
            after: Some("s2".to_owned()),
        };
        let page = store
            .users("acme", Some("student"), &next)
            .await
            .expect("users");
        assert_eq!((page.items.len(), page.has_more), (1, false));
        assert!(
            store.user("beta", "s1").await.expect("user").is_none(),
            "tenant in every query"
        );
        let changed = store
            .update_user(
                "acme",
                "s2",
                &UserChanges {
                    active: Some(false),
                    ..UserChanges::default()
                },
            )
            .await
            .expect("update")
            .expect("exists");
        assert!(!changed.active);
        assert!(
            store
                .update_user("beta", "s2", &UserChanges::default())
                .await
                .expect("update")
                .is_none()
        );

        // Classes and rosters, and what the hub loads at start-up.
        let class = store
            .create_class("acme", "c1", "Math", Some("t1"), "ABC123")
            .await
            .expect("class");
        assert_eq!(class.class_code, "ABC123");
        let taken = store
            .create_class("acme", "c2", "Art", None, "ABC123")
            .await
            .expect_err("code taken");
        assert!(taken.is_unique_violation(), "{backend:?}: {taken}");
        assert!(
            store
                .add_to_roster("acme", "c1", "s1", "CODE22")
                .await
                .expect("add")
        );
        assert!(
            !store
                .add_to_roster("acme", "c1", "s1", "CODE33")
                .await
                .expect("again")
        );
        let roster = store
            .roster("acme", "c1", &first(10))
            .await
            .expect("roster");
        assert_eq!(
            roster.items[0].link_code, "CODE22",
            "a second add keeps the code"
        );
        assert!(store.is_on_roster("acme", "c1", "s1").await.expect("on"));
        assert_eq!(store.all_roster_entries().await.expect("entries").len(), 1);
        let member_of = store
            .classes("acme", persistence::ClassScope::MemberOf("s1"), &first(10))
            .await
            .expect("classes");
        assert_eq!(member_of.items.len(), 1);
        assert!(store.archive_class("acme", "c1").await.expect("archive"));
        assert!(store.class("acme", "c1").await.expect("class").is_none());
        assert_eq!(
            store.tenants_with_classes().await.expect("tenants"),
            [persistence::TenantKey {
                tenant_id: "acme".to_owned()
            }],
            "a tenant whose classes are archived still counts as one that has made classes"
        );
        assert!(
            store
                .all_roster_entries()
                .await
                .expect("entries")
                .is_empty()
        );

        // Content: positions append and reorder; JSON round-trips; deletes cascade.
        let course = store
            .create_course(
                "acme",
                "k1",
                "t1",
                &CourseFields {
                    title: Some("Fractions".into()),
                    ..CourseFields::default()
                },
            )
            .await
            .expect("course");
        assert!(!course.published);
        for (id, title) in [("l1", "A"), ("l2", "B"), ("l3", "C")] {
            let lesson = store
                .create_lesson(
                    "acme",
                    "k1",
                    id,
                    &LessonFields {
                        title: Some(title.into()),
                        content: Some(json!({"scene": title})),
                        ..LessonFields::default()
                    },
                )
                .await
                .expect("lesson");
            assert_eq!(lesson.content, Some(json!({"scene": title})));
        }
        store
            .order_lessons("acme", "k1", &["l3".into(), "l1".into(), "l2".into()])
            .await
            .expect("order");
        let lessons = store
            .lessons(
                "acme",
                "k1",
                false,
                &Page {
                    limit: 2,
                    after: None,
                },
            )
            .await
            .expect("lessons");
        assert_eq!(
            lessons
                .items
                .iter()
                .map(|l| l.id.as_str())
                .collect::<Vec<_>>(),
            ["l3", "l1"]
        );
        let rest = store
            .lessons(
                "acme",
                "k1",
                false,
                &Page {
                    limit: 2,
                    after: Some((1, "l1".to_owned())),
                },
            )
            .await
            .expect("lessons");
        assert_eq!(
            rest.items.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
            ["l2"]
        );
        let questions = json!([{"id": "q1", "type": "free_text", "prompt": "?"}]);
        store
            .create_assessment("acme", "a1", Some("l1"), "Quiz", &questions)
            .await
            .expect("assessment");
        let result = store
            .insert_result(
                "acme",
                "r1",
                "a1",
                "s1",
                &json!({"submitted": {}}),
                1.0,
                2.0,
            )
            .await
            .expect("result");
        assert_eq!((result.score, result.max_score), (Some(1.0), Some(2.0)));
        assert!(store.delete_course("acme", "k1").await.expect("delete"));
        assert!(
            store
                .assessment("acme", "a1")
                .await
                .expect("assessment")
                .is_none()
        );

        // Notifications: newest first by id, unread filter, read marks.
        let note = NewNotification {
            sender_id: "t1".into(),
            kind: "message".into(),
            title: "Hi".into(),
            body: None,
            data: Some(json!({"n": 1})),
        };
        store
            .insert_notifications(
                "acme",
                &[
                    ("n1".into(), "s1".into()),
                    ("n2".into(), "s1".into()),
                    ("n3".into(), "s3".into()),
                ],
                &note,
            )
            .await
            .expect("notify");
        let mine = store
            .notifications("acme", "s1", false, &first(1))
            .await
            .expect("list");
        assert_eq!((mine.items[0].id.as_str(), mine.has_more), ("n2", true));
        assert_eq!(mine.items[0].data, Some(json!({"n": 1})));
        let older = store
            .notifications(
                "acme",
                "s1",
                false,
                &Page {
                    limit: 5,
                    after: Some("n2".into()),
                },
            )
            .await
            .expect("list");
        assert_eq!(
            older
                .items
                .iter()
                .map(|n| n.id.as_str())
                .collect::<Vec<_>>(),
            ["n1"]
        );
        let read = store
            .mark_notification_read("acme", "n1")
            .await
            .expect("read")
            .expect("exists");
        assert!(read.read_at.is_some());
        let unread = store
            .notifications("acme", "s1", true, &first(5))
            .await
            .expect("list");
        assert_eq!(unread.items.len(), 1);

        // Progress pages by (course, lesson).
        store
            .write_events(&[
                event(
                    "acme",
                    "p1",
                    "progress",
                    json!({"student": "s1", "course": "k9", "lesson": "x", "percent": 50}),
                ),
                event(
                    "acme",
                    "p2",
                    "progress",
                    json!({"student": "s1", "course": "k9", "lesson": "y", "percent": 100}),
                ),
            ])
            .await
            .expect("progress");
        let page = store
            .progress_of_student(
                "acme",
                "s1",
                None,
                &Page {
                    limit: 1,
                    after: None,
                },
            )
            .await
            .expect("progress");
        assert_eq!(
            (page.items[0].lesson_id.as_str(), page.has_more),
            ("x", true)
        );
        let page = store
            .progress_of_student(
                "acme",
                "s1",
                Some("k9"),
                &Page {
                    limit: 1,
                    after: Some(("k9".into(), "x".into())),
                },
            )
            .await
            .expect("progress");
        assert_eq!(page.items[0].lesson_id, "y");
        assert!(page.items[0].completed_at.is_some());

        store.close().await;
    }
}

#[tokio::test]
async fn the_audit_trail_appends_and_lists_newest_first_filtered_by_tenant() {
    for db in TestDatabase::all().await {
        let store = db.store().await;
        let backend = store.backend();
        let entry = |id: &str, action: &str, student: Option<&str>| persistence::NewAuditEntry {
            id: id.to_owned(),
            actor_id: "t1".to_owned(),
            actor_role: "educator".to_owned(),
            action: action.to_owned(),
            target_type: "class".to_owned(),
            target_id: "c1".to_owned(),
            student_id: student.map(str::to_owned),
            source_ip: Some("192.0.2.7".to_owned()),
            detail: Some(json!({"kind": "freeze"})),
        };
        store
            .append_audit("acme", &entry("aud_1", "roster.added", Some("s1")))
            .await
            .expect("append");
        store
            .append_audit("acme", &entry("aud_2", "command.sent", None))
            .await
            .expect("append");
        store
            .append_audit("acme", &entry("aud_3", "progress.read", Some("s1")))
            .await
            .expect("append");
        store
            .append_audit("beta", &entry("aud_4", "roster.added", Some("s1")))
            .await
            .expect("append");

        let all = store
            .audit_entries("acme", &persistence::AuditFilter::default(), &first(2))
            .await
            .expect("list");
        let ids: Vec<&str> = all.items.iter().map(|entry| entry.id.as_str()).collect();
        assert_eq!(
            (ids, all.has_more),
            (vec!["aud_3", "aud_2"], true),
            "{backend:?}"
        );
        assert_eq!(all.items[0].detail, Some(json!({"kind": "freeze"})));
        assert_eq!(all.items[0].source_ip.as_deref(), Some("192.0.2.7"));
        assert!(!all.items[0].created_at.is_empty());
        let rest = store
            .audit_entries(
                "acme",
                &persistence::AuditFilter::default(),
                &Page {
                    limit: 2,
                    after: Some("aud_2".to_owned()),
                },
            )
            .await
            .expect("next page");
        assert_eq!(rest.items.len(), 1);
        assert_eq!(rest.items[0].id, "aud_1");
        let about_s1 = store
            .audit_entries(
                "acme",
                &persistence::AuditFilter {
                    student_id: Some("s1".to_owned()),
                    action: Some("roster.added".to_owned()),
                    ..persistence::AuditFilter::default()
                },
                &first(10),
            )
            .await
            .expect("filtered");
        let ids: Vec<&str> = about_s1
            .items
            .iter()
            .map(|entry| entry.id.as_str())
            .collect();
        assert_eq!(
            ids,
            ["aud_1"],
            "{backend:?}: another tenant's entries never show"
        );
    }
}

#[tokio::test]
async fn first_sightings_in_one_batch_create_each_new_user_once() {
    use persistence::{Sighted, Sighting};
    let seen = |tenant: &str, user: &str, name: Option<&str>| Sighting {
        tenant: tenant.to_owned(),
        user: user.to_owned(),
        role: "student".to_owned(),
        display_name: name.map(str::to_owned),
    };
    for db in TestDatabase::all().await {
        let store = db.store().await;
        let backend = store.backend();
        store
            .ensure_user("acme", "known", "educator", Some("Kim"))
            .await
            .expect("a user seen before");
        store
            .ensure_user("acme", "gone", "student", None)
            .await
            .expect("a user to erase");
        assert!(!store.mark_erased("acme", "gone").await.expect("erased"));
        let batch = [
            seen("acme", "new1", Some("Ada")),
            seen("fresh-school", "new2", None),
            seen("acme", "new1", Some("Ada")),
            seen("acme", "known", None),
            seen("acme", "gone", None),
            seen("beta", "known", None),
        ];
        let answers = store.ensure_users(&batch).await.expect("one round");
        assert_eq!(answers.len(), batch.len(), "{backend:?}");
        let user = |index: usize| match &answers[index] {
            Sighted::User(record) => record.clone(),
            Sighted::Erased => panic!("{backend:?}: sighting {index} is erased"),
        };
        let ada = user(0);
        assert_eq!(
            (
                ada.tenant_id.as_str(),
                ada.display_name.as_deref(),
                ada.role.as_str()
            ),
            ("acme", Some("Ada"), "student"),
            "{backend:?}"
        );
        assert_eq!(user(2), ada, "the same user twice in a batch is one row");
        assert_eq!(user(1).tenant_id, "fresh-school", "a new tenant is made");
        assert_eq!(
            user(3).role,
            "educator",
            "a known row is read, not rewritten"
        );
        assert_eq!(answers[4], Sighted::Erased, "{backend:?}");
        assert_eq!(
            user(5).tenant_id,
            "acme",
            "an id of another tenant answers its own row (the caller refuses it)"
        );
        // Seen again: the same rows, nothing new.
        let again = store.ensure_users(&batch[..2]).await.expect("again");
        assert_eq!(again[0], Sighted::User(ada), "{backend:?}");
        assert!(store.ensure_users(&[]).await.expect("nothing").is_empty());
    }
}
