//! `classroom` against an in-process classhub: a simulated game server posts batches on the
//! Roblox HTTP path and the teacher sockets receive the events.

use loadtest::report::Results;
use loadtest::scenarios::classroom;
use persistence::NewGameKey;

use crate::support::{Hub, check_shape, common};

#[tokio::test]
async fn game_events_reach_teachers_and_are_accepted_after_commit() {
    let hub = Hub::start().await;
    let store = hub.server.app().store();
    store
        .ensure_tenant(loadtest::credentials::DEFAULT_TENANT)
        .await
        .expect("tenant");
    let made = roblox::keys::generate();
    store
        .create_game_key(&NewGameKey {
            id: "gk_loadtest".into(),
            tenant: loadtest::credentials::DEFAULT_TENANT.into(),
            universe_id: None,
            label: None,
            key_hash: made.hash,
            key_prefix: made.prefix,
        })
        .await
        .expect("game key");
    let mut config = classroom::Config::new(common(hub.addr), made.key);
    config.classes = 2;
    config.students = 2;
    config.rate = 200.0;
    config.batch = 10;
    let report = classroom::run(config).await.expect("classroom runs");
    hub.stop().await;

    let json = check_shape(&report, "classroom");
    let Results::Classroom(results) = &report.results else {
        panic!("classroom results expected: {report}");
    };
    assert!(results.events_accepted > 0, "{report}");
    assert!(results.deliveries > 0, "{report}");
    assert_eq!(report.latency_us.count, results.deliveries, "{report}");
    assert_eq!(results.failed_batches, 0, "{report}");
    assert_eq!(report.errors.count, 0, "{report}");
    for field in [
        "accepted_per_sec",
        "deliveries_per_sec",
        "batch_ack_latency_us",
        "refused_503",
    ] {
        assert!(json["results"].get(field).is_some(), "results lack {field}");
    }
}

#[tokio::test]
async fn a_wrong_game_key_stops_the_run_with_a_clear_error() {
    let hub = Hub::start().await;
    let config = classroom::Config::new(common(hub.addr), roblox::keys::generate().key);
    let error = classroom::run(config).await.expect_err("unknown key");
    hub.stop().await;
    assert!(error.to_string().contains("401"), "{error:#}");
}
