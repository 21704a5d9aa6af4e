//! The Store contract, identical for both backends.

use persistence::Store;
use persistence::test_support::TestDatabase;
use serde_json::json;

use crate::support::event;

#[tokio::test]
async fn migrations_run_on_an_empty_database_and_again_on_restart() {
    for db in TestDatabase::all().await {
        let store = db.store().await;
        store.migrate().await.expect("second migrate is a no-op");
        store.close().await;
        let restarted = Store::connect(db.url()).await.expect("reconnect");
        restarted.migrate().await.expect("migrate after restart");
        restarted
            .write_events(&[event("acme", "e1", "chat", json!({}))])
            .await
            .expect("schema usable");
        restarted.close().await;
    }
}

#[tokio::test]
async fn events_are_stored_once_per_id_and_tenant() {
    for db in TestDatabase::all().await {
        let store = db.store().await;
        let first = [
            event("acme", "e1", "checkpoint", json!({"n": 1})),
            event("acme", "e2", "checkpoint", json!({"n": 2})),
            event("acme", "e2", "checkpoint", json!({"n": 2})),
        ];
        let outcome = store.write_events(&first).await.expect("write");
        assert_eq!(
            (outcome.inserted, outcome.duplicates),
            (2, 1),
            "{:?}",
            store.backend()
        );
        let retry = [
            event("acme", "e1", "checkpoint", json!({"n": 1})),
            event("acme", "e3", "quiz_answer", json!([])),
        ];
        let outcome = store.write_events(&retry).await.expect("retry");
        assert_eq!((outcome.inserted, outcome.duplicates), (1, 1));
        // The same id in another tenant is another event.
        store
            .write_events(&[event("globex", "e1", "checkpoint", json!({}))])
            .await
            .expect("other tenant");
        assert_eq!(
            store.event_ids("acme").await.expect("ids"),
            ["e1", "e2", "e3"]
        );
        assert_eq!(store.event_ids("globex").await.expect("ids"), ["e1"]);
        store.close().await;
    }
}

#[tokio::test]
async fn progress_keeps_the_highest_completion_and_adds_time_once_per_event() {
    for db in TestDatabase::all().await {
        let store = db.store().await;
        let progress = |id: &str, percent: f64, seconds: u64| {
            event(
                "acme",
                id,
                "progress",
                json!({"student": "s1", "course": "math", "lesson": "l1", "percent": percent, "time_spent_secs": seconds}),
            )
        };
        // Two in one batch (merged into one upsert), then a lower one and a retry later.
        store
            .write_events(&[progress("p1", 40.0, 30), progress("p2", 25.0, 20)])
            .await
            .expect("batch");
        store
            .write_events(&[progress("p3", 10.0, 5), progress("p1", 40.0, 30)])
            .await
            .expect("retry");
        let row = store
            .progress("acme", "s1", "math", "l1")
            .await
            .expect("read")
            .expect("row");
        assert_eq!(
            (row.completion_percent, row.time_spent_secs, row.completed),
            (40.0, 55, false),
            "{:?}",
            store.backend()
        );
        store
            .write_events(&[progress("p4", 100.0, 1)])
            .await
            .expect("complete");
        let row = store
            .progress("acme", "s1", "math", "l1")
            .await
            .expect("read")
            .expect("row");
        assert_eq!(
            (row.completion_percent, row.time_spent_secs, row.completed),
            (100.0, 56, true)
        );
        store
            .write_events(&[progress("p5", 50.0, 1)])
            .await
            .expect("after completion");
        let row = store
            .progress("acme", "s1", "math", "l1")
            .await
            .expect("read")
            .expect("row");
        assert_eq!(
            (row.completion_percent, row.completed),
            (100.0, true),
            "completion never goes down"
        );
        assert_eq!(
            store
                .progress("acme", "s2", "math", "l1")
                .await
                .expect("read"),
            None
        );
        store.close().await;
    }
}

#[tokio::test]
async fn an_unsupported_url_names_the_accepted_forms() {
    let error = Store::connect("mysql://localhost/db")
        .await
        .expect_err("refused");
    assert!(
        error.to_string().contains("postgres://") && error.to_string().contains("sqlite:"),
        "{error}"
    );
}

/// `sslmode` in a PostgreSQL URL, against the local server (TLS on, with a self-signed
/// certificate) and a stand-in that refuses TLS: `disable` connects in the clear, `prefer` and
/// `require` encrypt, the verifying modes refuse the untrusted certificate, and `require`
/// against a server without TLS fails; each failure names the mode and what to do.
#[tokio::test]
async fn sslmode_is_honoured_and_tls_failures_say_what_to_do() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let with_mode = |url: &str, mode: &str| {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}sslmode={mode}")
    };
    for (mode, encrypted) in [("disable", false), ("prefer", true), ("require", true)] {
        let store = Store::connect(&with_mode(db.url(), mode))
            .await
            .unwrap_or_else(|error| panic!("sslmode={mode}: {error}"));
        assert_eq!(
            persistence::test_support::rows::connection_uses_tls(&store)
                .await
                .expect("pg_stat_ssl"),
            encrypted,
            "sslmode={mode}"
        );
        store.close().await;
    }
    for mode in ["verify-ca", "verify-full"] {
        let error = Store::connect(&with_mode(db.url(), mode))
            .await
            .expect_err("the certificate is self-signed");
        let message = error.to_string();
        assert!(
            matches!(error, persistence::StoreError::Tls { .. }),
            "{mode}: {message}"
        );
        assert!(
            message.contains(&format!("over TLS (sslmode={mode}"))
                && message.contains("sslrootcert="),
            "{mode}: {message}"
        );
        assert!(!error.is_transient());
    }

    // A server that answers PostgreSQL's SSLRequest with `N` (no TLS).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0u8; 8];
            if socket.read_exact(&mut request).await.is_ok() {
                let _ = socket.write_all(b"N").await;
            }
        }
    });
    let plain = persistence::test_support::with_address(db.url(), addr);
    let error = Store::connect(&with_mode(&plain, "require"))
        .await
        .expect_err("no TLS");
    let message = error.to_string();
    assert!(
        matches!(error, persistence::StoreError::Tls { .. })
            && message.contains("over TLS (sslmode=require")
            && message.contains("does not support TLS")
            && message.contains("turn on `ssl`"),
        "{message}"
    );
    drop(db);
}
