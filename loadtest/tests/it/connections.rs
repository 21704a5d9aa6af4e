//! `connections` against an in-process classhub: sockets open, are held, and memory is read.

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
}
