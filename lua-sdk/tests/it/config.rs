//! `ClassHub.new` fails at once, with a sentence that says what to fix, on a config a game
//! developer can get wrong; `Track` and `SetProgress` never throw and never yield.

use lua_sdk::{Harness, Options};

fn new_error(harness: &Harness, config: &str) -> String {
    let result: Result<mlua::Value, _> = harness.eval(&format!("ClassHub.new({config})"));
    match result {
        Ok(_) => panic!("ClassHub.new({config}) should fail"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn unusable_configs_are_refused_with_a_reason() {
    let harness = Harness::new(Options::new("http://127.0.0.1:9").secret("classhub_key", "chgk_x"))
        .expect("harness");
    let cases = [
        ("nil", "pass a config table"),
        (r#"{ secretName = "classhub_key" }"#, "config.baseUrl"),
        (
            r#"{ baseUrl = "classhub.example.org", secretName = "classhub_key" }"#,
            "config.baseUrl",
        ),
        (r#"{ baseUrl = BASE_URL }"#, "config.secretName"),
        (
            r#"{ baseUrl = BASE_URL, secretName = "missing_key" }"#,
            "missing_key",
        ),
        (
            r#"{ baseUrl = BASE_URL, apiKey = "k", batchSize = 0 }"#,
            "config.batchSize",
        ),
        (
            r#"{ baseUrl = BASE_URL, apiKey = "k", requestsPerMinute = 0/0 }"#,
            "config.requestsPerMinute",
        ),
    ];
    for (config, expected) in cases {
        let message = new_error(&harness, config);
        assert!(
            message.contains(expected),
            "ClassHub.new({config}) said {message:?}, expected it to mention {expected:?}"
        );
    }
    let ok: bool = harness
        .eval(r#"ClassHub.new({ baseUrl = BASE_URL, secretName = "classhub_key" }) ~= nil"#)
        .expect("a secret from the store is enough");
    assert!(ok);
}

#[tokio::test]
async fn tracking_never_throws_or_yields_and_merges_progress() {
    let mut harness = Harness::new(Options::new("http://127.0.0.1:9")).expect("harness");
    // Not started: everything is queued, nothing is sent, nothing yields (a yield would fail
    // the synchronous eval below).
    let (queued, dropped): (u32, u32) = harness
        .eval(
            r#"(function()
                hub = ClassHub.new({ baseUrl = BASE_URL, apiKey = "chgk_test" })
                local player = { UserId = 7, Name = "ada", DisplayName = "Ada" }
                assert(hub:Track(player, "checkpoint", { stage = 1, speed = 0/0 }))
                assert(hub:Track(nil, "round_started"))
                assert(hub:Track(7, "quiz_answer", { correct = true, time = math.huge }))
                assert(not hub:Track(player, "", {}), "an empty kind is refused")
                assert(not hub:Track(player, string.rep("k", 65), {}), "a long kind is refused")
                assert(hub:SetProgress(player, "fractions-1", 10))
                assert(hub:SetProgress(player, "fractions-1", 40))
                assert(hub:SetProgress(player, "fractions-1", 250))
                assert(not hub:SetProgress(player, "fractions-1", 0/0), "NaN progress is refused")
                assert(hub:SetProgress(player, "fractions-2", 5))
                local stats = hub:GetStats()
                return stats.queued, stats.dropped
            end)()"#,
        )
        .expect("Track and SetProgress do not throw");
    assert_eq!(
        queued, 5,
        "three events and two lessons' progress (merged per lesson)"
    );
    assert_eq!(dropped, 0);
    let warned = harness.warnings();
    assert!(
        warned.iter().any(|warning| warning.contains("kind")),
        "a bad kind is explained: {warned:?}"
    );
    // Stopping a hub that never started says what was lost instead of hanging.
    harness
        .run_script("stop", "stopped_clean = hub:StopAsync()", 5.0)
        .await
        .expect("StopAsync returns");
    let clean: bool = harness.eval("stopped_clean").expect("result");
    assert!(!clean, "five events were never sent");
}
