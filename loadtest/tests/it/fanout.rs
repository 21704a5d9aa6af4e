//! `fanout` against an in-process classhub, over both native codecs.

use loadtest::WireProtocol;
use loadtest::report::Results;
use loadtest::scenarios::fanout;

use crate::support::{Hub, check_shape, common};

async fn smoke(protocol: WireProtocol) {
    let hub = Hub::start().await;
    let mut config = fanout::Config::new(common(hub.addr));
    config.protocol = protocol;
    config.rooms = 3;
    config.members = 4;
    config.rate = 60.0;
    config.payload_bytes = 32;
    let report = fanout::run(config).await.expect("fanout runs");
    hub.stop().await;

    let json = check_shape(&report, "fanout");
    assert_eq!(report.protocol, protocol.as_str());
    assert_eq!(report.connections, 3 * 4 + 3, "{report}");
    let Results::Fanout(results) = &report.results else {
        panic!("fanout results expected: {report}");
    };
    assert!(results.published > 0, "{report}");
    assert!(results.deliveries > 0, "{report}");
    assert_eq!(report.latency_us.count, results.deliveries, "{report}");
    assert_eq!(results.slow_consumer_closes, 0, "{report}");
    assert_eq!(report.errors.count, 0, "{report}");
    for field in [
        "deliveries_per_sec",
        "slow_consumer_closes",
        "publish_errors",
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
async fn fanout_over_pusher_is_refused_until_issue_7() {
    let config = fanout::Config {
        protocol: WireProtocol::Pusher,
        ..fanout::Config::new(common(std::net::SocketAddr::from(([127, 0, 0, 1], 9))))
    };
    let refusal = fanout::run(config)
        .await
        .expect_err("pusher is not spoken yet");
    assert!(
        refusal.to_string().contains("not supported yet"),
        "{refusal}"
    );
    assert!(refusal.to_string().contains("issue 7"), "{refusal}");
}
