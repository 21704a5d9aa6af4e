//! The Roblox part of the Store contract: keys, sessions, players, links, rosters, Open Cloud
//! keys — identical on both backends.

use persistence::test_support::{self, ClassSeed, TestDatabase};
use persistence::{NewGameKey, NewGameSession, Store, UserChanges};
use serde_json::json;

use crate::support::event;

/// Tenant `acme`: teacher t1 (on the roster as its teacher), class c1 (code MATH42), students
/// s1 "Ada" and s2 "Bo", and s3 "Cy", deactivated.
async fn seed_class(store: &Store) {
    store.ensure_tenant("acme").await.expect("tenant");
    store
        .ensure_tenant("acme")
        .await
        .expect("tenant twice is fine");
    ClassSeed {
        tenant: "acme",
        id: "c1",
        name: "Math",
        code: "MATH42",
        teacher: ("t1", "Ms T"),
        students: &[("s1", "Ada"), ("s2", "Bo"), ("s3", "Cy")],
    }
    .write(store)
    .await
    .expect("class");
    let deactivate = UserChanges {
        active: Some(false),
        ..UserChanges::default()
    };
    store
        .update_user("acme", "s3", &deactivate)
        .await
        .expect("deactivate")
        .expect("s3 exists");
    test_support::rows::add_teacher_to_roster(store, "acme", "c1", "t1")
        .await
        .expect("teacher on the roster");
}

#[tokio::test]
async fn game_keys_are_found_by_hash_until_revoked() {
    for db in TestDatabase::all().await {
        let store = db.store().await;
        store.ensure_tenant("acme").await.expect("tenant");
        let key = NewGameKey {
            id: "gk_1".into(),
            tenant: "acme".into(),
            universe_id: Some(42),
            label: Some("main place".into()),
            key_hash: "a".repeat(64),
            key_prefix: "chgk_abcdefgh".into(),
        };
        store.create_game_key(&key).await.expect("create");
        assert_eq!(
            store.game_key_by_hash(&"a".repeat(64)).await.expect("find"),
            Some(("gk_1".into(), "acme".into(), Some(42)))
        );
        store.touch_game_key("gk_1").await.expect("touch");
        let listed = store.game_keys("acme").await.expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].key_prefix, "chgk_abcdefgh");
        assert!(listed[0].last_used_at.is_some());
        assert!(store.game_keys("globex").await.expect("list").is_empty());

        assert!(store.revoke_game_key("gk_1").await.expect("revoke"));
        assert!(!store.revoke_game_key("gk_1").await.expect("revoke again"));
        assert_eq!(
            store.game_key_by_hash(&"a".repeat(64)).await.expect("find"),
            None
        );
        assert!(
            store.game_keys("acme").await.expect("list")[0]
                .revoked_at
                .is_some()
        );

        // The schema refuses a raw key where the hash belongs.
        let raw = NewGameKey {
            id: "gk_2".into(),
            key_hash: "chgk_raw_key_not_a_hash".into(),
            ..key
        };
        assert!(
            store.create_game_key(&raw).await.is_err(),
            "{:?}",
            store.backend()
        );
        store.close().await;
    }
}

#[tokio::test]
async fn classes_are_found_by_code_and_rosters_list_active_students() {
    for db in TestDatabase::all().await {
        let store = db.store().await;
        seed_class(&store).await;
        let class = store
            .class_by_code("acme", "MATH42")
            .await
            .expect("by code");
        assert_eq!(class.as_ref().map(|class| class.id.as_str()), Some("c1"));
        assert_eq!(
            store
                .class_by_code("globex", "MATH42")
                .await
                .expect("other tenant"),
            None
        );
        assert_eq!(store.class_by_id("acme", "c1").await.expect("by id"), class);
        assert_eq!(
            store
                .class_by_id("globex", "c1")
                .await
                .expect("other tenant"),
            None
        );
        let roster: Vec<_> = store
            .roster_students("acme", "c1")
            .await
            .expect("roster")
            .into_iter()
            .map(|student| (student.user_id, student.display_name))
            .collect();
        assert_eq!(
            roster,
            [
                ("s1".to_owned(), Some("Ada".to_owned())),
                ("s2".to_owned(), Some("Bo".to_owned()))
            ]
        );

        // Personal link codes: one student per code and class; deactivated students, teachers,
        // other classes and other tenants are never found by one.
        let codes: Vec<(String, String)> = store
            .roster(
                "acme",
                "c1",
                &persistence::Page {
                    limit: 10,
                    after: None,
                },
            )
            .await
            .expect("roster")
            .items
            .into_iter()
            .map(|member| (member.user.id, member.link_code))
            .collect();
        assert_eq!(codes.len(), 4, "three students and the teacher: {codes:?}");
        let code_of = |user: &str| {
            codes
                .iter()
                .find(|(id, _)| id == user)
                .map(|(_, code)| code.clone())
                .expect("on the roster")
        };
        let found = |code: String| {
            let store = store.clone();
            async move {
                store
                    .roster_student_by_link_code("acme", "c1", &code)
                    .await
                    .expect("by link code")
                    .map(|student| student.user_id)
            }
        };
        assert_eq!(found(code_of("s1")).await, Some("s1".to_owned()));
        assert_eq!(found(code_of("s3")).await, None, "deactivated");
        assert_eq!(found("TEACHR".to_owned()).await, None, "a teacher");
        assert_eq!(found("ZZZZZZ".to_owned()).await, None);
        assert_eq!(
            store
                .roster_student_by_link_code("globex", "c1", &code_of("s1"))
                .await
                .expect("other tenant"),
            None
        );
        let taken = store
            .set_link_code("acme", "c1", "s2", &code_of("s1"))
            .await
            .expect_err("a code is unique within its class");
        assert!(taken.is_unique_violation(), "{taken}");
        let rotated = store
            .set_link_code("acme", "c1", "s1", "NEWC2D")
            .await
            .expect("rotate")
            .expect("on the roster");
        assert_eq!(
            (rotated.user.id.as_str(), rotated.link_code.as_str()),
            ("s1", "NEWC2D")
        );
        assert_eq!(found(code_of("s1")).await, None, "the old code stops");
        assert_eq!(found("NEWC2D".to_owned()).await, Some("s1".to_owned()));
        assert_eq!(
            store
                .set_link_code("acme", "c1", "nobody", "ABCDE2")
                .await
                .expect("rotate"),
            None
        );
        let mine = store
            .link_codes_of("acme", "s1")
            .await
            .expect("codes of s1");
        assert_eq!(mine.len(), 1);
        assert_eq!(
            (
                mine[0].class_id.as_str(),
                mine[0].class_code.as_str(),
                mine[0].link_code.as_str()
            ),
            ("c1", "MATH42", "NEWC2D")
        );
        assert!(store.archive_class("acme", "c1").await.expect("archive"));
        assert!(
            store
                .link_codes_of("acme", "s1")
                .await
                .expect("codes")
                .is_empty()
        );
        store.close().await;
    }
}

#[tokio::test]
async fn players_are_seen_then_linked_and_sessions_close_once() {
    for db in TestDatabase::all().await {
        let store = db.store().await;
        seed_class(&store).await;
        let linked = store
            .see_roblox_players("acme", &[(1001, Some("Builder".into())), (1002, None)])
            .await
            .expect("see");
        assert!(linked.is_empty());
        store
            .link_roblox_player("acme", 1001, "s1", None)
            .await
            .expect("link");
        store
            .link_roblox_player("acme", 1001, "s1", None)
            .await
            .expect("link is idempotent");
        assert_eq!(
            store.linked_student("acme", 1001).await.expect("linked"),
            Some("s1".into())
        );
        assert_eq!(
            store.linked_student("acme", 1002).await.expect("unlinked"),
            None
        );
        assert_eq!(
            store
                .linked_student("globex", 1001)
                .await
                .expect("other tenant"),
            None
        );
        let linked = store
            .see_roblox_players("acme", &[(1001, None), (1002, Some("Two".into()))])
            .await
            .expect("see again");
        assert_eq!(linked.get(&1001).map(String::as_str), Some("s1"));
        assert_eq!(linked.len(), 1);

        let session = NewGameSession {
            id: "gs_1".into(),
            tenant: "acme".into(),
            universe_id: 42,
            place_id: 7,
            job_id: "job-1".into(),
            class_id: Some("c1".into()),
        };
        store.open_game_session(&session).await.expect("open");
        assert_eq!(
            store
                .open_session_for_job("acme", "job-1")
                .await
                .expect("by job"),
            Some(("gs_1".into(), Some("c1".into()), 0))
        );
        assert_eq!(
            store
                .open_session_for_job("globex", "job-1")
                .await
                .expect("other tenant"),
            None
        );
        assert!(
            store
                .close_game_session("globex", "gs_1")
                .await
                .expect("other tenant")
                .is_none()
        );
        // Its room's stored events are counted, a retried id once, another room's not at all.
        let mut elsewhere = event("acme", "x1", "checkpoint", json!({}));
        elsewhere.room = "game:acme:job-2".into();
        store
            .write_events(&[
                event("acme", "e1", "checkpoint", json!({})),
                event("acme", "e2", "checkpoint", json!({})),
                event("acme", "e2", "checkpoint", json!({})),
                elsewhere,
            ])
            .await
            .expect("events");
        let (duration, events) = store
            .close_game_session("acme", "gs_1")
            .await
            .expect("close")
            .expect("it was open");
        assert_eq!(events, 2);
        assert!(duration >= 0);
        assert!(
            store
                .close_game_session("acme", "gs_1")
                .await
                .expect("closed once")
                .is_none()
        );
        assert_eq!(
            store
                .open_session_for_job("acme", "job-1")
                .await
                .expect("ended"),
            None
        );
        // A session cannot point at another tenant's class.
        store.ensure_tenant("globex").await.expect("tenant");
        let foreign = NewGameSession {
            id: "gs_2".into(),
            tenant: "globex".into(),
            ..session
        };
        assert!(store.open_game_session(&foreign).await.is_err());
        store.close().await;
    }
}

#[tokio::test]
async fn open_cloud_keys_are_per_universe_and_replaceable() {
    for db in TestDatabase::all().await {
        let store = db.store().await;
        store.ensure_tenant("acme").await.expect("tenant");
        assert_eq!(store.open_cloud_key("acme", 42).await.expect("none"), None);
        store
            .set_open_cloud_key("acme", 42, "key-1")
            .await
            .expect("set");
        store
            .set_open_cloud_key("acme", 42, "key-2")
            .await
            .expect("replace");
        assert_eq!(
            store.open_cloud_key("acme", 42).await.expect("get"),
            Some("key-2".into())
        );
        assert_eq!(
            store
                .open_cloud_key("acme", 43)
                .await
                .expect("other universe"),
            None
        );
        assert_eq!(
            store
                .open_cloud_key("globex", 42)
                .await
                .expect("other tenant"),
            None
        );
        store.close().await;
    }
}
