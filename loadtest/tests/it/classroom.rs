//! `classroom` against an in-process classhub: a simulated game server posts batches on the
//! Roblox HTTP path and the teacher sockets receive the events.

use loadtest::report::Results;
use loadtest::scenarios::classroom;
use persistence::NewGameKey;

use crate::support::{Hub, check_shape, common};

/// A game-server key of the harness's default tenant, straight into the store.
async fn game_key(store: &persistence::Store) -> String {
    store
        .ensure_tenant(loadtest::credentials::DEFAULT_TENANT)
        .await
        .expect("tenant");
    let made = roblox::keys::generate();
    store
        .create_game_key(&NewGameKey {
            id: format!("gk_{}", rand::random::<u32>()),
            tenant: loadtest::credentials::DEFAULT_TENANT.into(),
            universe_id: None,
            label: None,
            key_hash: made.hash,
            key_prefix: made.prefix,
        })
        .await
        .expect("game key");
    made.key
}

#[tokio::test]
async fn game_events_reach_teachers_and_are_accepted_after_commit() {
    let hub = Hub::start().await;
    let key = game_key(hub.server.app().store()).await;
    let mut config = classroom::Config::new(common(hub.addr), key);
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

#[tokio::test]
async fn quiz_answers_of_linked_players_are_scored_and_reach_teachers() {
    let hub = Hub::start_with(|config| {
        config.roblox.link_per_minute = 1_000;
        config.api_limits.per_token_rate = 1_000;
        config.api_limits.per_token_burst = 1_000;
    })
    .await;
    let key = game_key(hub.server.app().store()).await;
    let mut config = classroom::Config::new(common(hub.addr), key);
    config.classes = 2;
    config.students = 0;
    config.rate = 100.0;
    config.batch = 5;
    config.answers = true;
    let hub_addr = hub.addr;
    let report = classroom::run(config)
        .await
        .expect("classroom --answers runs");
    let Results::Classroom(results) = &report.results else {
        panic!("classroom results expected: {report}");
    };
    // A rejected answer (unlinked player, unknown question) would be an error of the report.
    assert_eq!(report.errors.count, 0, "{report}");
    assert!(results.events_accepted > 0, "{report}");
    assert!(results.deliveries > 0, "{report}");
    // Every class's analytics averages the players' attempts, read as the teacher's school
    // admin would.
    let admin = common(hub_addr)
        .credentials
        .token_for(loadtest::credentials::Role::Admin, "checker")
        .expect("token");
    let http = reqwest::Client::new();
    let get = |path: String| {
        let request = http
            .get(format!("http://{hub_addr}{path}"))
            .bearer_auth(&admin);
        async move {
            let response = request.send().await.expect("answer");
            assert!(response.status().is_success(), "{}", response.status());
            response.json::<serde_json::Value>().await.expect("json")
        }
    };
    let classes = get("/api/v1/classes".into()).await;
    let classes = classes["items"].as_array().expect("classes").clone();
    assert_eq!(classes.len(), 2, "{classes:?}");
    for class in classes {
        let id = class["id"].as_str().expect("id");
        let analytics = get(format!("/api/v1/analytics/classes/{id}")).await;
        let attempts = analytics["quiz_averages"][0]["attempts"]
            .as_u64()
            .unwrap_or(0);
        assert!(
            attempts >= 5,
            "each of the 5 players has a scored attempt: {analytics}"
        );
    }
    hub.stop().await;
}
