//! `connections` against an in-process classhub: sockets open, are held, and memory is read,
//! over the native protocol (WebSocket and QUIC) and over Pusher.

use loadtest::WireProtocol;
use loadtest::report::Results;
use loadtest::scenarios::connections;

use crate::support::{Hub, check_shape, common};

#[tokio::test]
async fn connections_are_opened_held_and_measured() {
    let hub = Hub::start().await;
    let mut config = connections::Config::new(common(hub.addr));
    config.count = 40;
    config.concurrency = 8;
    config.source_addresses = 2;
    config.rooms = 4;
    let report = connections::run(config).await.expect("connections runs");
    hub.stop().await;

    let json = check_shape(&report, "connections");
    let Results::Connections(results) = &report.results else {
        panic!("connections results expected: {report}");
    };
    assert_eq!(results.opened, 40, "{report}");
    assert_eq!(results.failed, 0, "{report}");
    assert_eq!(results.held_at_end, 40, "{report}");
    assert_eq!(results.source_addresses, 2, "{report}");
    assert_eq!(report.latency_us.count, 40, "{report}");
    // The hub listens in this very process, so its pid is found from the port.
    assert_eq!(results.server_pid, Some(std::process::id()), "{report}");
    assert!(
        results.rss_before_kib.is_some() && results.rss_after_kib.is_some(),
        "{report}"
    );
    assert!(json["results"].get("rss_per_connection_bytes").is_some());
    assert!(json["results"].get("connects_per_sec").is_some());
    assert!(results.server_connect_cpu_secs.is_some(), "{report}");
}

#[tokio::test]
async fn quic_connections_are_opened_held_and_measured() {
    let (hub, common) = Hub::start_quic().await;
    let mut config = connections::Config::new(common);
    config.protocol = WireProtocol::Quic;
    config.count = 30;
    config.concurrency = 8;
    config.rooms = 3;
    let report = connections::run(config).await.expect("connections runs");
    hub.stop().await;

    check_shape(&report, "connections");
    assert_eq!(report.protocol, "quic");
    let Results::Connections(results) = &report.results else {
        panic!("connections results expected: {report}");
    };
    assert_eq!(results.opened, 30, "{report}");
    assert_eq!(results.held_at_end, 30, "{report}");
    assert_eq!(report.latency_us.count, 30, "{report}");
    assert_eq!(report.errors.count, 0, "{report}");
}

async fn pusher_smoke(rooms: u64) {
    let hub = Hub::start().await;
    let mut config = connections::Config::new(common(hub.addr));
    // The app is derived from the test secret for the minting tenant, as classhub derives it.
    config.protocol = WireProtocol::Pusher;
    config.count = 30;
    config.concurrency = 8;
    config.source_addresses = 2;
    config.rooms = rooms;
    let report = connections::run(config).await.expect("connections runs");
    hub.stop().await;

    let json = check_shape(&report, "connections");
    assert_eq!(report.protocol, "pusher");
    let Results::Connections(results) = &report.results else {
        panic!("connections results expected: {report}");
    };
    assert_eq!(results.opened, 30, "{report}");
    assert_eq!(results.failed, 0, "{report}");
    assert_eq!(results.held_at_end, 30, "{report}");
    assert_eq!(results.closed_by_server, 0, "{report}");
    assert_eq!(report.errors.count, 0, "{report}");
    assert_eq!(report.latency_us.count, 30, "{report}");
    assert_eq!(results.server_pid, Some(std::process::id()), "{report}");
    assert!(results.rss_after_kib.is_some(), "{report}");
    assert!(json["results"].get("rss_per_connection_bytes").is_some());
    let expected_latency_of = if rooms > 0 {
        "TCP connect to subscription_succeeded"
    } else {
        "TCP connect to connection_established"
    };
    assert_eq!(report.latency_of, expected_latency_of, "{report}");
}

#[tokio::test]
async fn connections_over_pusher_are_opened_and_held() {
    pusher_smoke(0).await;
}

#[tokio::test]
async fn connections_over_pusher_subscribe_to_public_channels() {
    pusher_smoke(3).await;
}

#[tokio::test]
async fn connections_over_pusher_with_an_unknown_key_open_nothing() {
    let hub = Hub::start().await;
    let mut common = common(hub.addr);
    let mut app = common.pusher_app().expect("derived app");
    app.key = "no-such-key".into();
    common.pusher_app = Some(app);
    let mut config = connections::Config::new(common);
    config.protocol = WireProtocol::Pusher;
    config.count = 3;
    config.concurrency = 3;
    let refusal = connections::run(config)
        .await
        .expect_err("no socket of an unknown app opens");
    hub.stop().await;
    assert!(
        refusal
            .to_string()
            .contains("no connection could be opened"),
        "{refusal:#}"
    );
}
