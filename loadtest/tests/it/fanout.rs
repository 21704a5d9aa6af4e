//! `fanout` against an in-process classhub, over both native codecs, QUIC and the Pusher
//! protocol.

use loadtest::WireProtocol;
use loadtest::report::Results;
use loadtest::scenarios::fanout;

use crate::support::{Hub, check_shape, common};

async fn smoke(protocol: WireProtocol) {
    let (hub, common) = Hub::start_quic().await;
    let mut config = fanout::Config::new(common);
    config.protocol = protocol;
    config.rooms = 3;
    config.members = 4;
    config.rate = 60.0;
    config.payload_bytes = 32;
    let report = fanout::run(config).await.expect("fanout runs");
    hub.stop().await;

    let json = check_shape(&report, "fanout");
    assert_eq!(report.protocol, protocol.as_str());
    // Pusher publishers are HTTP API calls, not sockets.
    let publisher_sockets = if protocol == WireProtocol::Pusher {
        0
    } else {
        3
    };
    assert_eq!(report.connections, 3 * 4 + publisher_sockets, "{report}");
    let Results::Fanout(results) = &report.results else {
        panic!("fanout results expected: {report}");
    };
    assert!(results.published > 0, "{report}");
    assert!(results.deliveries > 0, "{report}");
    assert_eq!(report.latency_us.count, results.deliveries, "{report}");
    assert_eq!(results.slow_consumer_closes, 0, "{report}");
    assert_eq!(report.errors.count, 0, "{report}");
    // The hub listens in this very process, so its pid is found from the port and its CPU read.
    assert_eq!(results.server_pid, Some(std::process::id()), "{report}");
    assert!(results.server_cpu_secs.is_some(), "{report}");
    assert!(results.harness_cpu_secs.is_some(), "{report}");
    assert!(results.machine_cpu_secs.is_some(), "{report}");
    for field in [
        "deliveries_per_sec",
        "slow_consumer_closes",
        "publish_errors",
        "server_cpu_secs",
    ] {
        assert!(json["results"].get(field).is_some(), "results lack {field}");
    }
}

#[tokio::test]
async fn fanout_over_json_delivers_and_reports() {
    smoke(WireProtocol::Json).await;
}

#[tokio::test]
async fn fanout_over_msgpack_delivers_and_reports() {
    smoke(WireProtocol::Msgpack).await;
}

#[tokio::test]
async fn fanout_over_quic_delivers_and_reports() {
    // Members over QUIC, publishers over /ws: the same report as over JSON.
    smoke(WireProtocol::Quic).await;
}

#[tokio::test]
async fn fanout_over_pusher_delivers_and_reports() {
    // The app is derived from the test secret for the minting tenant, as classhub derives it.
    smoke(WireProtocol::Pusher).await;
}

#[tokio::test]
async fn fanout_over_pusher_with_a_wrong_app_secret_counts_publish_errors() {
    let hub = Hub::start().await;
    let mut common = common(hub.addr);
    let mut app = common.pusher_app().expect("derived app");
    app.secret = "not-the-secret".into();
    common.pusher_app = Some(app);
    common.duration = std::time::Duration::from_millis(500);
    let config = fanout::Config {
        protocol: WireProtocol::Pusher,
        rooms: 1,
        members: 1,
        rate: 20.0,
        ..fanout::Config::new(common)
    };
    let report = fanout::run(config).await.expect("fanout runs");
    hub.stop().await;
    let Results::Fanout(results) = &report.results else {
        panic!("fanout results expected: {report}");
    };
    assert!(results.publish_errors > 0, "{report}");
    assert_eq!(results.deliveries, 0, "{report}");
    assert!(report.errors.by_kind.contains_key("http_401"), "{report}");
}

/// A free 127.0.0.1 port (UDP and TCP alike, for a relay to take at once).
fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|socket| socket.local_addr())
        .expect("a free port")
        .port()
}

#[tokio::test]
async fn through_impaired_relays_every_event_still_arrives() {
    let (hub, _) = Hub::start_quic().await;
    let quic_port = hub.server.quic().expect("the hub speaks QUIC").addr.port();
    let (tcp_relay, udp_relay) = (free_port(), free_port());
    let window = std::time::Duration::from_secs(8);
    let tcp = tokio::spawn(loadtest::relay::run_tcp(
        tcp_relay,
        hub.addr.port(),
        0.2,
        std::time::Duration::from_millis(20),
        window,
    ));
    let udp = tokio::spawn(loadtest::relay::run_udp(udp_relay, quic_port, 0.05, window));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    for (protocol, member_port) in [
        (WireProtocol::Json, Some(tcp_relay)),
        (WireProtocol::Quic, None),
    ] {
        let mut common = common(hub.addr);
        common.target = common.target.with_quic_port(udp_relay);
        let config = fanout::Config {
            protocol,
            rooms: 2,
            members: 3,
            rate: 40.0,
            member_port,
            ..fanout::Config::new(common)
        };
        let report = fanout::run(config).await.expect("fanout runs");
        let Results::Fanout(results) = &report.results else {
            panic!("fanout results expected: {report}");
        };
        assert!(results.deliveries > 0, "{report}");
        assert_eq!(report.errors.count, 0, "{report}");
        assert_eq!(
            results.slow_consumer_closes + results.other_closes,
            0,
            "{report}"
        );
    }
    let (tcp, udp) = (
        tcp.await.expect("tcp relay").expect("tcp relay ran"),
        udp.await.expect("udp relay").expect("udp relay ran"),
    );
    use std::sync::atomic::Ordering::Relaxed;
    assert!(
        tcp.impaired.load(Relaxed) > 0,
        "the TCP relay held chunks back"
    );
    assert!(
        udp.impaired.load(Relaxed) > 0,
        "the UDP relay dropped datagrams"
    );
    hub.stop().await;
}
