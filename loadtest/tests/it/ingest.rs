//! `ingest` against an in-process classhub with its embedded SQLite: durable publishes are
//! acknowledged after commit.

use loadtest::report::Results;
use loadtest::scenarios::ingest;

use crate::support::{Hub, check_shape, common};

#[tokio::test]
async fn durable_publishes_are_acked() {
    let hub = Hub::start().await;
    let mut config = ingest::Config::new(common(hub.addr));
    config.publishers = 2;
    config.in_flight = 8;
    let report = ingest::run(config).await.expect("ingest runs");
    hub.stop().await;

    let json = check_shape(&report, "ingest");
    let Results::Ingest(results) = &report.results else {
        panic!("ingest results expected: {report}");
    };
    assert!(results.acked > 0, "{report}");
    assert_eq!(report.latency_us.count, results.acked, "{report}");
    assert_eq!(results.failed, 0, "{report}");
    assert!(results.unacked_at_end <= 2 * 8, "{report}");
    for field in ["acks_per_sec", "refused_5001", "retries"] {
        assert!(json["results"].get(field).is_some(), "results lack {field}");
    }
}

#[tokio::test]
async fn a_throttled_ingest_still_acks() {
    let hub = Hub::start().await;
    let mut config = ingest::Config::new(common(hub.addr));
    config.publishers = 2;
    config.in_flight = 4;
    config.rate = 50.0;
    config.protocol = loadtest::WireProtocol::Msgpack;
    let report = ingest::run(config).await.expect("ingest runs");
    hub.stop().await;

    check_shape(&report, "ingest");
    let Results::Ingest(results) = &report.results else {
        panic!("ingest results expected: {report}");
    };
    assert!(results.acked > 0, "{report}");
}
