//! `search` against an in-process classhub: a few dozen lessons seeded over REST, then every
//! kind of search of the mix answered with the rows the seeded corpus says it must hold.

use loadtest::report::Results;
use loadtest::scenarios::search;

use crate::support::{Hub, check_shape, common};

#[tokio::test]
async fn seeded_lessons_are_found_by_every_kind_of_search() {
    let hub = Hub::start_with(|config| {
        config.api_limits.per_token_rate = 100_000;
        config.api_limits.per_token_burst = 100_000;
        config.api_limits.per_ip_rate = 100_000;
        config.api_limits.per_ip_burst = 100_000;
    })
    .await;
    let mut config = search::Config::new(common(hub.addr));
    config.courses = 2;
    config.lessons = 60;
    config.common.duration = std::time::Duration::from_secs(1);
    let report = search::run(config).await.expect("search runs");
    hub.stop().await;

    let json = check_shape(&report, "search");
    let Results::Search(results) = &report.results else {
        panic!("search results expected: {report}");
    };
    // No error also means no wrong answer: each answer's rows, and the rare word's every page,
    // are checked against the corpus by the scenario.
    assert_eq!(report.errors.count, 0, "{report}");
    assert_eq!(results.lessons_in_database, 60, "{report}");
    assert_eq!(results.lessons_seeded, 60, "{report}");
    assert!(results.answers_checked, "{report}");
    assert!(results.queries > 0, "{report}");
    assert_eq!(report.latency_us.count, results.queries, "{report}");
    let kinds: Vec<&str> = results
        .kinds
        .iter()
        .map(|kind| kind.kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "common_word",
            "rare_word",
            "two_words",
            "word_in_subject",
            "filters_by_title",
            "next_page"
        ],
        "{report}"
    );
    for kind in &results.kinds {
        assert!(kind.queries > 0, "{}: {report}", kind.kind);
        assert!(
            kind.rows_returned > 0,
            "{} found nothing: {report}",
            kind.kind
        );
        assert_eq!(kind.wrong_answers, 0, "{report}");
    }
    let rare = &results.kinds[1];
    assert!(rare.matches.is_some_and(|matches| matches > 0), "{report}");
    assert_eq!(rare.found_over_all_pages, rare.matches, "{report}");
    for field in ["seed_lessons_per_sec", "queries_per_sec", "kinds"] {
        assert!(json["results"].get(field).is_some(), "results lack {field}");
    }
}

#[tokio::test]
async fn a_second_run_without_seeding_searches_what_the_first_left() {
    let hub = Hub::start_with(|config| {
        config.api_limits.per_token_rate = 100_000;
        config.api_limits.per_token_burst = 100_000;
        config.api_limits.per_ip_rate = 100_000;
        config.api_limits.per_ip_burst = 100_000;
    })
    .await;
    let mut config = search::Config::new(common(hub.addr));
    config.courses = 3;
    config.lessons = 40;
    config.common.duration = std::time::Duration::from_millis(300);
    search::run(config.clone()).await.expect("the seeding run");
    config.seed = false;
    let report = search::run(config).await.expect("the run without seeding");
    hub.stop().await;
    let Results::Search(results) = &report.results else {
        panic!("search results expected: {report}");
    };
    assert_eq!(results.lessons_seeded, 0, "{report}");
    assert_eq!(results.lessons_in_database, 40, "{report}");
    assert!(results.answers_checked, "{report}");
    assert_eq!(report.errors.count, 0, "{report}");
}
