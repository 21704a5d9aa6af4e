//! Durable events through the real server: a publish with an `id` is fanned out at once and
//! acknowledged only after the commit that holds it; retries are stored once; a full sink queue
//! refuses with a retryable error; acknowledged events survive `kill -9`; SIGTERM flushes the
//! tail. Runs against SQLite, and PostgreSQL when `TEST_DATABASE_URL` is set.

use std::time::Duration;

use persistence::test_support::{SqliteWriteLock, TestDatabase};
use protocol::{ErrorCode, ServerMessage};
use serde_json::json;
use server::auth::Role;

use crate::support::{Client, signal, spawn_classhub, start_with, temp_dir, token, wait_exit};

const ROOM: &str = "game:acme:job-1";

/// Publishes a durable event and returns the answer (a `reply` or an `error`).
async fn publish_durable(
    client: &mut Client,
    id: &str,
    kind: &str,
    data: serde_json::Value,
) -> ServerMessage {
    let reference = client.next_ref();
    client.send(json!({"type": "publish", "ref": reference, "room": ROOM, "kind": kind, "data": data, "id": id})).await;
    client
        .recv_until(|message| match message {
            ServerMessage::Reply(reply) => reply.reference == protocol::Ref::Int(reference),
            ServerMessage::Error(error) => error.reference == Some(protocol::Ref::Int(reference)),
            _ => false,
        })
        .await
}

#[tokio::test]
async fn a_durable_publish_is_acknowledged_after_its_commit_and_a_retry_is_stored_once() {
    for db in TestDatabase::all().await {
        // A long batch interval: an acknowledgement sent before the commit would be caught below.
        let test = start_with(|config| {
            config.database_url = Some(db.url().to_owned());
            config.sink.batch_interval = Duration::from_millis(300);
        })
        .await;
        let store = db.store().await;
        let mut watcher =
            Client::connect(test.addr, &token("acme", Role::Educator, "watcher")).await;
        watcher.join(ROOM).await;
        let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;

        let answer =
            publish_durable(&mut teacher, "evt-1", "checkpoint", json!({"stage": 3})).await;
        assert!(
            matches!(answer, ServerMessage::Reply(ref reply) if reply.seq == Some(1)),
            "{answer:?}"
        );
        assert_eq!(
            store.event_ids("acme").await.expect("ids"),
            ["evt-1"],
            "acknowledged means stored"
        );
        let ServerMessage::Event(event) = watcher.recv().await else {
            panic!("the room saw the event")
        };
        assert_eq!(event.id.as_deref(), Some("evt-1"));

        let retry = publish_durable(&mut teacher, "evt-1", "checkpoint", json!({"stage": 3})).await;
        assert!(
            matches!(retry, ServerMessage::Reply(ref reply) if reply.seq == Some(1)),
            "a retry is acknowledged with the original seq: {retry:?}"
        );
        assert_eq!(
            store.event_ids("acme").await.expect("ids"),
            ["evt-1"],
            "and stored once"
        );
        // ...and not shown to the room twice: the next thing the watcher sees is the next event.
        teacher.publish(ROOM, "marker", json!({})).await;
        let ServerMessage::Event(next) = watcher.recv().await else {
            panic!("an event")
        };
        assert_eq!((next.kind.as_str(), next.seq), ("marker", 2));

        // Progress events also update student_progress; malformed ones are refused up front.
        let progress = json!({"student": "s1", "course": "math", "lesson": "l1", "percent": 60, "time_spent_secs": 42});
        assert!(matches!(
            publish_durable(&mut teacher, "evt-2", "progress", progress).await,
            ServerMessage::Reply(_)
        ));
        let row = store
            .progress("acme", "s1", "math", "l1")
            .await
            .expect("read")
            .expect("progress row");
        assert_eq!((row.completion_percent, row.time_spent_secs), (60.0, 42));
        let ServerMessage::Error(error) =
            publish_durable(&mut teacher, "evt-3", "progress", json!({"percent": 10})).await
        else {
            panic!("malformed progress refused")
        };
        assert_eq!(error.code, ErrorCode::InvalidMessage.code());
        assert!(error.message.contains("lesson"), "{}", error.message);

        test.server.shutdown().await;
        store.close().await;
    }
}

#[tokio::test]
async fn a_full_sink_queue_refuses_durable_publishes_with_a_retryable_error() {
    let db = TestDatabase::sqlite();
    let test = start_with(|config| {
        config.database_url = Some(db.url().to_owned());
        config.sink.queue_len = 2;
        config.sink.batch_rows = 1;
        config.sink.retry_max = Duration::from_millis(100);
    })
    .await;
    let store = db.store().await;
    // Another connection holds SQLite's write lock: the sink cannot commit.
    let blocker = SqliteWriteLock::take(db.url()).await;

    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    let mut accepted = Vec::new();
    let mut refusal = None;
    for n in 0..20 {
        let reference = teacher.next_ref();
        let id = format!("q{n}");
        teacher.send(json!({"type": "publish", "ref": reference, "room": ROOM, "kind": "checkpoint", "data": {}, "id": id})).await;
        // Refusals come back at once; accepted events stay unanswered while the lock is held.
        match tokio::time::timeout(Duration::from_millis(200), teacher.recv()).await {
            Ok(ServerMessage::Error(error)) => {
                refusal = Some(error);
                break;
            }
            Ok(other) => {
                panic!("nothing can be acknowledged while the database is locked: {other:?}")
            }
            Err(_) => accepted.push(id),
        }
    }
    let refusal = refusal.expect("the queue filled up");
    assert_eq!(refusal.code, ErrorCode::Unavailable.code());
    assert!(refusal.retry_after_ms.is_some(), "{refusal:?}");
    assert!(
        refusal.message.contains("queue is full"),
        "{}",
        refusal.message
    );

    blocker.release().await;
    let mut acknowledged = 0;
    while acknowledged < accepted.len() {
        if let ServerMessage::Reply(_) = teacher.recv().await {
            acknowledged += 1;
        }
    }
    let mut stored = store.event_ids("acme").await.expect("ids");
    stored.sort();
    accepted.sort();
    assert_eq!(stored, accepted, "exactly the accepted events were stored");
}

#[tokio::test]
async fn acknowledged_events_survive_kill_9() {
    for db in TestDatabase::all().await {
        let data_dir = temp_dir("kill9");
        let url = Some(db.url().to_owned());
        let (mut child, addr) =
            spawn_classhub(&data_dir, url.as_deref(), &["--sink-batch-interval", "5ms"]).await;
        let mut teacher = Client::connect(addr, &token("acme", Role::Educator, "t1")).await;
        let mut ids = Vec::new();
        for n in 0..200 {
            let id = format!("k{n}");
            let reference = teacher.next_ref();
            teacher.send(json!({"type": "publish", "ref": reference, "room": ROOM, "kind": "checkpoint", "data": {"n": n}, "id": id})).await;
            ids.push(id);
        }
        let mut acknowledged = 0;
        while acknowledged < ids.len() {
            match teacher.recv().await {
                ServerMessage::Reply(_) => acknowledged += 1,
                ServerMessage::Error(error) => panic!("refused: {error:?}"),
                _ => {}
            }
        }
        signal(&child, "KILL");
        wait_exit(&mut child).await;

        // On restart (migrations run again) every acknowledged event is there.
        let (mut restarted, _) = spawn_classhub(&data_dir, url.as_deref(), &[]).await;
        let store = db.store().await;
        let mut stored = store.event_ids("acme").await.expect("ids");
        stored.sort();
        ids.sort();
        assert_eq!(stored, ids);
        store.close().await;
        signal(&restarted, "TERM");
        assert!(wait_exit(&mut restarted).await.success());
        let _ = std::fs::remove_dir_all(&data_dir);
    }
}

#[tokio::test]
async fn sigterm_flushes_the_tail_of_accepted_events() {
    for db in TestDatabase::all().await {
        let data_dir = temp_dir("tail");
        let url = Some(db.url().to_owned());
        // Nothing is written by time while the test runs: only shutdown flushes.
        let (mut child, addr) =
            spawn_classhub(&data_dir, url.as_deref(), &["--sink-batch-interval", "1h"]).await;
        let mut watcher = Client::connect(addr, &token("acme", Role::Educator, "watcher")).await;
        watcher.join(ROOM).await;
        let mut teacher = Client::connect(addr, &token("acme", Role::Educator, "t1")).await;
        for n in 0..150 {
            teacher.send(json!({"type": "publish", "room": ROOM, "kind": "checkpoint", "data": {"n": n}, "id": format!("t{n}")})).await;
        }
        // Once the watcher saw an event, the sink had accepted it (places are reserved first).
        let mut seen = 0;
        while seen < 150 {
            if let ServerMessage::Event(_) = watcher.recv().await {
                seen += 1;
            }
        }
        signal(&child, "TERM");
        assert!(wait_exit(&mut child).await.success());
        let store = db.store().await;
        assert_eq!(store.event_ids("acme").await.expect("ids").len(), 150);
        store.close().await;
        let _ = std::fs::remove_dir_all(&data_dir);
    }
}
