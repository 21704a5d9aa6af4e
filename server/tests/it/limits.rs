//! Every limit is configurable and enforced: publish rate, rooms per connection, connections,
//! heartbeat silence, and the empty-room grace period. Also `/health` and `/metrics`.

use std::time::Duration;

use futures_util::StreamExt;
use protocol::{CloseCode, ErrorCode};
use serde_json::{Value, json};
use server::auth::Role;

use protocol::ServerMessage;

use crate::support::{
    Auth, Client, Frame, eventually, http_get, refused, start_server, start_with, token,
};

#[tokio::test]
async fn publishing_faster_than_the_rate_limit_is_answered_with_a_retryable_error() {
    let test = start_with(|config| {
        config.socket.publish_rate = 1;
        config.socket.publish_burst = 2;
    })
    .await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.publish("class:acme:c1", "note", json!({})).await;
    teacher.publish("class:acme:c1", "note", json!({})).await;
    let error = teacher
        .expect_error(
            json!({"type": "publish", "room": "class:acme:c1", "kind": "note", "data": {}}),
        )
        .await;
    assert_eq!(error.code, ErrorCode::RateLimited.code());
    assert!(
        error
            .retry_after_ms
            .is_some_and(|wait| wait > 0 && wait <= 1000),
        "{error:?}"
    );
    teacher.ping().await;
}

#[tokio::test]
async fn joins_and_leaves_share_the_rate_limit_with_publishes() {
    let test = start_with(|config| {
        config.socket.publish_rate = 1;
        config.socket.publish_burst = 2;
    })
    .await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join("class:acme:c1").await;
    teacher.join("class:acme:c1").await;
    for room in ["class:acme:c1", "class:acme:c2"] {
        let error = teacher
            .expect_error(json!({"type": "join", "room": room}))
            .await;
        assert_eq!(
            error.code,
            ErrorCode::RateLimited.code(),
            "{}",
            error.message
        );
        assert!(
            error.retry_after_ms.is_some_and(|wait| wait > 0),
            "{error:?}"
        );
    }
    let error = teacher
        .expect_error(json!({"type": "leave", "room": "class:acme:c1"}))
        .await;
    assert_eq!(
        error.code,
        ErrorCode::RateLimited.code(),
        "{}",
        error.message
    );
}

/// A client that honours `retry_after_ms` keeps working; one that keeps sending past the limit
/// (or sends frames the server cannot read) is closed with 4103 once it has spent
/// `--max-refused-frames`, instead of costing an error frame per frame forever.
#[tokio::test]
async fn a_client_that_keeps_sending_refused_frames_is_closed_with_4103() {
    let test = start_with(|config| {
        config.socket.publish_rate = 20;
        config.socket.publish_burst = 1;
        config.socket.max_refused_frames = 5;
    })
    .await;
    let teacher = token("acme", Role::Educator, "t1");
    let publish = json!({"type": "publish", "room": "class:acme:c1", "kind": "note", "data": {}});

    let mut polite = Client::connect(test.addr, &teacher).await;
    let mut refusals = 0;
    for _ in 0..12 {
        let mut frame = publish.clone();
        frame["ref"] = json!(polite.next_ref());
        polite.send(frame).await;
        match polite.recv().await {
            ServerMessage::Reply(_) => {}
            ServerMessage::Error(error) => {
                assert_eq!(error.code, ErrorCode::RateLimited.code(), "{error:?}");
                refusals += 1;
                let wait = error.retry_after_ms.expect("a retry hint");
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            other => panic!("unexpected {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refusals < 5, "{refusals} refusals for a polite client");
    polite.ping().await;

    let mut flood = Client::connect(test.addr, &teacher).await;
    for _ in 0..40 {
        if !flood.try_send(publish.clone()).await {
            break;
        }
    }
    let mut errors = 0;
    let code = loop {
        match flood.next_frame().await {
            Frame::Message(ServerMessage::Error(error)) => {
                assert_eq!(error.code, ErrorCode::RateLimited.code(), "{error:?}");
                errors += 1;
            }
            Frame::Message(_) => {}
            Frame::Closed(code) => break code,
        }
    };
    assert_eq!(code, Some(CloseCode::RateLimited.code()));
    assert!(errors <= 5, "{errors} error frames before the close");

    let mut garbage = Client::connect(test.addr, &teacher).await;
    for _ in 0..40 {
        if !garbage.try_send(json!({"type": "no-such-frame"})).await {
            break;
        }
    }
    assert_eq!(
        garbage.close_code().await,
        Some(CloseCode::RateLimited.code()),
        "undecodable frames spend the same budget"
    );
    polite.ping().await;
}

#[tokio::test]
async fn a_connection_may_join_only_so_many_rooms() {
    let test = start_with(|config| config.hub.max_rooms_per_conn = 2).await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join("class:acme:c1").await;
    teacher.join("class:acme:c2").await;
    teacher.join("class:acme:c2").await; // rejoining is not another room
    let error = teacher
        .expect_error(json!({"type": "join", "room": "class:acme:c3"}))
        .await;
    assert_eq!(error.code, ErrorCode::TooManyRooms.code());
    teacher
        .send(json!({"type": "leave", "room": "class:acme:c1"}))
        .await;
    teacher.join("class:acme:c3").await;
}

#[tokio::test]
async fn frames_larger_than_the_read_buffer_arrive_whole() {
    let test = start_with(|config| config.socket.ws_read_buffer_bytes = 64).await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    let mut student = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;
    student.join("class:acme:c1").await;
    // 20 000 bytes of payload: over 300 reads of the 64-byte buffer, one frame on each side.
    let text: String = (0..20_000)
        .map(|n| char::from(b'a' + (n % 26) as u8))
        .collect();
    teacher
        .publish("class:acme:c1", "note", json!({"text": text}))
        .await;
    let message = student
        .recv_until(|message| crate::support::event_parts(message).is_some())
        .await;
    let (_, kind, data) = crate::support::event_parts(&message).expect("event");
    assert_eq!(kind, "note");
    assert_eq!(data["text"].as_str(), Some(text.as_str()));
}

#[tokio::test]
async fn connections_over_the_limit_are_refused_with_503() {
    let test = start_with(|config| config.socket.max_connections = 1).await;
    let _first = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;
    let error = Client::open(
        test.addr,
        Auth::Query(&token("acme", Role::Student, "s2")),
        None,
    )
    .await
    .err()
    .expect("refused");
    let (status, body) = refused(error);
    assert_eq!(status, 503);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("connection limit"))
    );
}

#[tokio::test]
async fn a_silent_peer_is_closed_by_the_heartbeat() {
    let test = start_with(|config| config.socket.heartbeat = Duration::from_millis(100)).await;
    let mut alive = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;
    let mut silent = Client::open(
        test.addr,
        Auth::Query(&token("acme", Role::Student, "s2")),
        None,
    )
    .await
    .expect("open");
    // The live client keeps reading (tungstenite answers the server's pings as it reads); the
    // silent one reads nothing, so answers no pings, for well over two intervals.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let reading = tokio::spawn(async move {
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                _ = &mut stopped => return alive,
                frame = alive.ws.next() => assert!(matches!(frame, Some(Ok(_))), "live client closed: {frame:?}"),
            }
        }
    });
    let hub = test.server.app().hub().clone();
    eventually("the silent socket to be dropped", || {
        hub.connection_count() == 1
    })
    .await;
    assert_eq!(
        silent.close_code().await,
        Some(CloseCode::HeartbeatTimeout.code())
    );
    stop.send(()).expect("reader running");
    let mut alive = reading.await.expect("reader task");
    alive.ping().await;
}

#[tokio::test]
async fn empty_rooms_are_dropped_after_the_grace_period() {
    let test = start_with(|config| config.hub.room_grace = Duration::from_millis(100)).await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    let joined = teacher.join("class:acme:c1").await;
    teacher.publish("class:acme:c1", "note", json!({})).await;
    let hub = test.server.app().hub().clone();
    assert_eq!(hub.room_count(), 1);
    teacher
        .send(json!({"type": "leave", "room": "class:acme:c1"}))
        .await;
    eventually("the empty room to be dropped", || hub.room_count() == 0).await;
    // A new life of the room has a new epoch, so old positions are not recovered.
    let rejoined = teacher
        .join_with(json!({"room": "class:acme:c1", "since": {"epoch": joined.epoch, "seq": 1}}))
        .await;
    assert_ne!(rejoined.epoch, joined.epoch);
    assert!(!rejoined.recovered);
    assert_eq!(rejoined.seq, 0);
}

#[tokio::test]
async fn health_and_metrics_report_live_counts() {
    let test = start_server().await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join("class:acme:c1").await;
    let (status, body) = http_get(test.addr, "/health").await;
    assert_eq!(status, 200);
    let health: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["connections"], 1);
    assert_eq!(health["rooms"], 1);
    assert!(health["version"].is_string() && health["uptime_secs"].is_u64());

    let (status, metrics) = http_get(test.addr, "/metrics").await;
    assert_eq!(status, 200);
    for series in [
        "classhub_connections",
        "classhub_rooms",
        "classhub_frames_in_total{type=\"join\"}",
        "classhub_frames_out_total{type=\"joined\"}",
    ] {
        assert!(metrics.contains(series), "{series} missing from /metrics");
    }
    let (status, _) = http_get(test.addr, "/nope").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_fresh_server_lists_every_series_at_zero() {
    // A process of its own: the recorder is process-wide, so an in-process server would see
    // what other tests recorded.
    let data_dir = crate::support::temp_dir("metrics");
    let (_child, addr) = crate::support::spawn_classhub(&data_dir, None, &[]).await;
    let (status, body) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    for series in [
        "classhub_connections 0",
        "classhub_rooms 0",
        "classhub_sink_queue_depth 0",
        "classhub_deliveries_total 0",
        "classhub_slow_consumer_closes_total 0",
        "classhub_api_rate_limited_total 0",
        "classhub_sink_rows_written_total 0",
        "classhub_sink_rows_rejected_total 0",
        "classhub_webhooks_failed_total 0",
        "classhub_ai_tokens_total 0",
    ] {
        assert!(body.contains(series), "{series} missing from:\n{body}");
    }
}

#[tokio::test]
async fn metrics_list_labelled_series_from_the_start_and_http_requests_by_route_template() {
    // A process of its own, as above.
    let data_dir = crate::support::temp_dir("metrics-http");
    let (_child, addr) = crate::support::spawn_classhub(&data_dir, None, &[]).await;
    let (_, fresh) = http_get(addr, "/metrics").await;
    for (name, label, values) in server::metrics::LABELLED {
        for value in *values {
            let series = format!("{name}{{{label}=\"{value}\"}} 0");
            assert!(fresh.contains(&series), "{series} missing from:\n{fresh}");
        }
    }
    assert!(
        !fresh.contains("classhub_http_requests_total{"),
        "no request yet besides this scrape's own, counted after it answers:\n{fresh}"
    );

    for path in [
        "/api/v1/courses/c1",
        "/api/v1/courses/c2",
        "/health",
        "/no/such/page",
    ] {
        http_get(addr, path).await;
    }
    let (_, body) = http_get(addr, "/metrics").await;
    let line = |needles: &[&str]| {
        body.lines()
            .find(|line| needles.iter().all(|needle| line.contains(needle)))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no series with {needles:?} in:\n{body}"))
    };
    let course = line(&[
        "classhub_http_requests_total{",
        "method=\"GET\"",
        "route=\"/api/v1/courses/{id}\"",
        "status=\"401\"",
    ]);
    assert!(course.ends_with(" 2"), "{course}");
    line(&[
        "classhub_http_requests_total{",
        "route=\"/health\"",
        "status=\"200\"",
    ]);
    line(&[
        "classhub_http_requests_total{",
        "route=\"unmatched\"",
        "status=\"404\"",
    ]);
    line(&["classhub_http_requests_total{", "route=\"/metrics\""]);
    let count = line(&[
        "classhub_http_request_duration_seconds_count{",
        "route=\"/api/v1/courses/{id}\"",
    ]);
    assert!(count.ends_with(" 2"), "{count}");
    line(&[
        "classhub_http_request_duration_seconds_bucket{",
        "route=\"/health\"",
        "le=\"+Inf\"",
    ]);
    assert!(
        !body.contains("/api/v1/courses/c1"),
        "a raw path became a label:\n{body}"
    );
}
