//! `abuse` against an in-process classhub with small caps, so that every flood meets the
//! server's refusals within a second: the normal class still receives every event, and each
//! flood's report shows what the server refused it with.

use std::time::Duration;

use loadtest::report::{FloodResults, Results};
use loadtest::scenarios::abuse::{self, floods::Flood, floods::FloodSizes};

use crate::support::{Hub, check_shape, common};

/// The refusals `flood` saw.
fn refusals<'a>(floods: &'a [FloodResults], flood: &str) -> &'a FloodResults {
    floods
        .iter()
        .find(|results| results.flood == flood)
        .unwrap_or_else(|| panic!("no results for flood {flood}: {floods:?}"))
}

#[tokio::test]
async fn the_class_keeps_receiving_while_every_flood_is_refused() {
    let hub = Hub::start_with(|config| {
        // Shipped-like per-connection rates; tiny caps for rooms, Pusher sockets per address
        // and unknown game keys per address.
        config.socket.publish_rate = 20;
        config.socket.publish_burst = 20;
        config.socket.max_pusher_connections_per_ip = 3;
        config.hub.max_rooms_per_conn = 3;
        config.hub.max_rooms_per_tenant = 12;
        config.api_limits.per_ip_rate = 2;
        config.api_limits.per_ip_burst = 5;
    })
    .await;
    let mut common = common(hub.addr);
    common.warmup = Duration::from_millis(200);
    common.duration = Duration::from_millis(1000);
    let mut config = abuse::Config::new(common);
    config.students = 4;
    config.rate = 10.0;
    config.student_rate = 8.0;
    config.sizes = FloodSizes {
        rejoin_sockets: 2,
        rejoin_rate: 100.0,
        rejoin_presence_bytes: 64,
        presence_sockets: 2,
        presence_rate: 60.0,
        rooms_sockets: 2,
        rooms_rate: 40.0,
        game_key_concurrency: 2,
        game_key_rate: 40.0,
        pusher_sockets: 6,
        pusher_socket_rate: 50.0,
        garbage_sockets: 1,
        garbage_rate: 40.0,
    };
    let report = abuse::run(config).await.expect("abuse runs");
    hub.stop().await;

    let json = check_shape(&report, "abuse");
    let Results::Abuse(results) = &report.results else {
        panic!("abuse results expected: {report}");
    };
    assert_eq!(results.students, 4, "{report}");
    for phase in [&results.quiet, &results.abused] {
        for flow in [&phase.down, &phase.up] {
            assert!(flow.published > 0, "{report}");
            assert_eq!(flow.delivered, flow.expected, "{report}");
        }
        assert!(phase.closed.is_empty(), "{report}");
    }
    assert_eq!(
        results.quiet.down.expected,
        results.quiet.down.published * 4
    );
    assert!(results.targets.all_delivered, "{report}");
    assert!(results.p99_ratio.is_some(), "{report}");
    // The hub listens in this very process, so its memory is read.
    assert_eq!(results.server_pid, Some(std::process::id()), "{report}");
    assert!(results.server_peak_rss_kib.is_some(), "{report}");
    assert_eq!(results.flood_results.len(), Flood::ALL.len(), "{report}");

    let refused = |flood: &str, kind: &str| {
        let results = refusals(&results.flood_results, flood);
        assert!(results.sent > 0, "{flood} sent nothing: {report}");
        assert!(
            results.refused.get(kind).copied().unwrap_or(0) > 0,
            "{flood} was never refused with {kind}: {report}"
        );
    };
    // Joins and presence share the per-connection rate limit.
    refused("rejoin", "error_3002");
    refused("presence", "error_3002");
    // New rooms past the tenant's cap (rooms left empty still count until reaped).
    refused("rooms", "subscription_error_rooms_per_tenant");
    // Unknown keys spend the address's budget, then get 429.
    refused("game-keys", "http_401");
    refused("game-keys", "http_429");
    // Past 3 sockets from one address: pusher:error 4100.
    refused("pusher-sockets", "pusher_error_4100");
    refused("garbage", "error_1001");
    refused("garbage", "error_1004");
    refused("garbage", "error_1007");
    for field in ["quiet", "abused", "p99_ratio", "targets", "flood_results"] {
        assert!(json["results"].get(field).is_some(), "results lack {field}");
    }
}

#[tokio::test]
async fn a_single_flood_runs_alone() {
    let hub = Hub::start().await;
    let mut common = common(hub.addr);
    common.warmup = Duration::from_millis(100);
    common.duration = Duration::from_millis(500);
    let mut config = abuse::Config::new(common);
    config.students = 2;
    config.floods = vec![Flood::GameKeys];
    config.sizes.game_key_rate = 20.0;
    let report = abuse::run(config).await.expect("abuse runs");
    hub.stop().await;
    let Results::Abuse(results) = &report.results else {
        panic!("abuse results expected: {report}");
    };
    assert_eq!(results.floods, vec!["game-keys".to_owned()], "{report}");
    assert_eq!(results.flood_results.len(), 1, "{report}");
    assert!(
        results.flood_results[0].refused.contains_key("http_401"),
        "{report}"
    );
}
